"""The control API under /_sim/ plus what it exposes: counters, injected faults and the request log."""

import collections
import copy
import datetime
import json
import re
import threading
import time
from urllib.parse import unquote

from . import proxyagent, remedies, storage
from .authorization import Lock, RoleAssignment
from .config import ConfigError, coerce
from .errors import ArmError
from .health import HealthState
from .policy import PolicyAssignment
from .routing import Response

# 'action': a POST that changes nothing (checkPolicyRestrictions); Resource Manager's write bucket still takes it
# (throttle.py): only this bookkeeping tells it from a write.
COUNTER_KINDS = ('token', 'read', 'write', 'poll', 'action', 'throttled')
FAULT_KINDS = ('status', 'drop', 'slow', 'conflict', 'operation_fails', 'deallocate')
REDACTED = '<redacted>'
SECRET_KEYS = {
    'protectedsettings',
    'client_secret',
    'client_assertion',
    'adminpassword',
    'protectedparameters',  # a run command's (runcommand.py): [{name, value}], the names stay
    'runaspassword',
}
# A run command's blob URIs carry a SAS token: the log keeps the URI without its query.
SAS_KEYS = {'outputbloburi', 'errorbloburi', 'scripturi'}
_SIG = re.compile(r'(?i)[?&]sig=')


def _no_sas(raw_path):
    """A request path for the log: a SAS query (a blob read's) replaced by a marker, as the run command bodies'."""
    path, sep, _query = raw_path.partition('?')
    return path + '?<SAS redacted>' if sep and _SIG.search(raw_path) else raw_path


class Counters:
    def __init__(self):
        self.reset()

    def reset(self):
        self.totals = dict.fromkeys(COUNTER_KINDS, 0)
        self.by_principal = {}
        self.by_route = {}

    def count(self, kind, principal, route):
        if kind not in self.totals:
            return
        self.totals[kind] += 1
        if principal:
            bucket = self.by_principal.setdefault(principal, dict.fromkeys(COUNTER_KINDS, 0))
            bucket[kind] += 1
        if route and kind != 'throttled':
            self.by_route[route] = self.by_route.get(route, 0) + 1

    def to_json(self):
        return dict(self.totals, by_principal=copy.deepcopy(self.by_principal), by_route=dict(self.by_route))


class Fault:
    def __init__(self, spec):
        self.method = (spec.get('method') or '*').upper()
        self.path_regex = spec.get('path_regex') or '.*'
        self.regex = re.compile(self.path_regex, re.IGNORECASE)
        self.kind = spec.get('kind') or 'status'
        if self.kind not in FAULT_KINDS:
            raise ValueError(f'fault kind must be one of {", ".join(FAULT_KINDS)}')
        self.status = int(spec.get('status') or (409 if self.kind == 'conflict' else 500))
        self.code = spec.get('code')
        self.message = spec.get('message')
        self.count = spec.get('count')  # None: forever
        self.delay = float(spec.get('delay') or 0)
        self.hits = 0

    def matches(self, method, raw_path):
        """``path_regex`` is searched in the path, and in the path with its query string."""
        if self.method not in ('*', method) or (self.count is not None and self.count <= 0):
            return False
        return bool(self.regex.search(raw_path.partition('?')[0]) or self.regex.search(raw_path))

    def error(self):
        if self.kind == 'conflict':
            return ArmError(
                self.status,
                self.code or 'OperationNotAllowed',
                self.message or "Operation 'Update' is not allowed since another operation is in progress.",
            )
        codes = {
            500: 'InternalServerError',
            502: 'BadGateway',
            503: 'ServiceUnavailable',
            504: 'GatewayTimeout',
            429: 'TooManyRequests',
            409: 'Conflict',
        }
        return ArmError(
            self.status,
            self.code or codes.get(self.status, 'InjectedFault'),
            self.message or 'The server encountered an internal error (injected by armsim).',
            headers={'Retry-After': '1'} if self.status in (429, 503) else None,
        )

    def to_json(self):
        return {
            'method': self.method,
            'path_regex': self.path_regex,
            'kind': self.kind,
            'status': self.status,
            'code': self.code,
            'count': self.count,
            'delay': self.delay,
            'hits': self.hits,
        }


class Faults:
    def __init__(self):
        self.items = []

    def clear(self):
        self.items = []

    def add(self, spec):
        fault = Fault(spec)
        self.items.append(fault)
        return fault

    def take(self, method, path):
        """The first matching fault (its count is consumed), or None."""
        for fault in self.items:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                return fault
        return None


def redact(value):
    if isinstance(value, dict):
        return {k: _redact_item(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_item(key, value):
    if key.lower() in SECRET_KEYS:
        return _redact_secret(value)
    if key.lower() in SAS_KEYS and isinstance(value, str) and '?' in value:
        return value.split('?', 1)[0] + '?' + REDACTED
    return redact(value)


def _redact_secret(value):
    """A secret value: gone. A secret object (protectedSettings): its keys stay, so tests can check which
    settings a client sent, but every value is replaced; a list of {name, value} (protectedParameters) keeps its
    names."""
    if isinstance(value, dict):
        return {k: REDACTED for k in value}
    if isinstance(value, list):
        return [{'name': v.get('name'), 'value': REDACTED} if isinstance(v, dict) else REDACTED for v in value]
    return REDACTED


class RequestLog:
    def __init__(self, maxlen=60000):
        self.entries = collections.deque(maxlen=maxlen)
        self.seq = 0
        self.lock = threading.Lock()

    def clear(self):
        with self.lock:
            self.entries.clear()

    def add(self, req, status, principal, duration, headers=None):
        body = None
        # the IDs the response gave (bookkeeping: a test finds the client's record of each write by them)
        ids = dict((str(k).lower(), v) for k, v in (headers or {}).items() if str(k).lower().startswith('x-ms-'))
        if req.body:
            try:
                body = redact(json.loads(req.body))
            except ValueError:
                body = redact(req.form()) if 'form' in (req.header('Content-Type') or '') else '<non-json body>'
        with self.lock:
            self.seq += 1
            self.entries.append(
                {
                    'seq': self.seq,
                    'method': req.method,
                    'path': _no_sas(req.raw_path),
                    'status': status,
                    'route': req.route_kind,
                    'principal': principal,
                    'body': body,
                    'duration_ms': round(duration * 1000, 1),
                    'at': round(time.time(), 3),  # when it was answered (bench/run.py: when the reads ran)
                    'if_match': req.header('If-Match'),
                    'request_id': ids.get('x-ms-request-id'),
                    'correlation_id': ids.get('x-ms-correlation-request-id'),
                }
            )

    def to_json(self, since=0):
        with self.lock:
            return [e for e in self.entries if e['seq'] > since]


class Control:
    """``/_sim/...`` routes. No token needed; JSON in and out."""

    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        add('POST', r'/_sim/reset', self.reset, 'control')
        add('GET', r'/_sim/config', self.get_config, 'control')
        add('POST', r'/_sim/config', self.set_config, 'control')
        add('GET', r'/_sim/counters', self.counters, 'control')
        add('POST', r'/_sim/counters/reset', self.reset_counters, 'control')
        add('GET', r'/_sim/faults', self.list_faults, 'control')
        add('POST', r'/_sim/faults', self.add_fault, 'control')
        add('DELETE', r'/_sim/faults', self.clear_faults, 'control')
        add('GET', r'/_sim/requests', self.requests, 'control')
        add('DELETE', r'/_sim/requests', self.clear_requests, 'control')
        add('POST', r'/_sim/tokens/rotate', self.rotate_tokens, 'control')
        add('GET', r'/_sim/vms', self.list_vms, 'control')
        add('GET', r'/_sim/vms/(?P<rid>.+?)(?P<action>/power|/agent|/guest)?', self.vm, 'control')
        add('POST', r'/_sim/vms/(?P<rid>.+?)(?P<action>/power|/agent)', self.vm_action, 'control')
        add('POST', r'/_sim/vms/(?P<rid>.+?)(?P<action>/health|/vm_agent)', self.vm_refusal, 'control')
        for kind in ('locks', 'policies'):
            add('GET', rf'/_sim/{kind}', self.list_declared, 'control')
            add('POST', rf'/_sim/{kind}', self.add_declared, 'control')
            add('DELETE', rf'/_sim/{kind}', self.remove_declared, 'control')
        add('POST', r'/_sim/principals/(?P<client_id>[^/]+)', self.set_principal, 'control')
        add('GET', r'/_sim/blobs', self.blobs, 'control')
        add('POST', r'/_sim/blobs/sas', self.blob_sas, 'control')

    def blobs(self, req):
        """The run commands' output / error blobs: {URI without SAS: text}."""
        return Response(200, dict(self.world.blobs))

    def blob_sas(self, req):
        """``{container, blob, permissions?: 'racw', expires_in?: 3600}`` -> ``{uri}``: a blob URI of the simulator's
        storage account with a service SAS signed by its key (storage.py); a negative expires_in is expired."""
        body = req.json()
        container, blob = str(body.get('container') or ''), str(body.get('blob') or '')
        if not re.match(r'^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$', container) or not blob:
            raise ArmError(400, 'InvalidInput', 'container (3-63 lower-case letters, digits, -) and blob are required')
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=float(body.get('expires_in', 3600)))
        uri = storage.sign(self.world, container, blob, str(body.get('permissions') or 'racw'), expiry)
        return Response(200, {'uri': uri})

    def reset(self, req):
        body = req.json()
        self.world.reset(body.get('fleet'), keep_source=body.get('fleet') is None)
        return Response(200, {'ok': True, 'vms': len(self.world.fleet.machines)})

    def get_config(self, req):
        return Response(200, dict(self.world.config))

    def set_config(self, req):
        try:
            updates = {k: coerce(k, v) for k, v in req.json().items()}
        except ConfigError as exc:
            raise ArmError(400, 'InvalidConfig', str(exc)) from None
        self.world.config.update(updates)
        return Response(200, dict(self.world.config))

    def counters(self, req):
        return Response(200, self.world.counters.to_json())

    def reset_counters(self, req):
        self.world.counters.reset()
        return Response(200, self.world.counters.to_json())

    def list_faults(self, req):
        return Response(200, [f.to_json() for f in self.world.faults.items])

    def add_fault(self, req):
        try:
            fault = self.world.faults.add(req.json())
        except (ValueError, re.error) as exc:
            raise ArmError(400, 'InvalidFault', str(exc)) from None
        return Response(200, fault.to_json())

    def clear_faults(self, req):
        self.world.faults.clear()
        return Response(200, [])

    def requests(self, req):
        return Response(200, self.world.log.to_json(int(req.query.get('since') or 0)))

    def clear_requests(self, req):
        self.world.log.clear()
        return Response(200, [])

    def rotate_tokens(self, req):
        """A new token signing key: every token issued so far is refused (401 InvalidAuthenticationToken), as after
        Entra ID rolled its key or revoked the tokens; a cached token must then be replaced by a fresh one."""
        self.world.entra.issuer.rotate()
        return Response(200, {'ok': True})

    def list_vms(self, req):
        return Response(200, sorted(m.id for m in self.world.fleet.machines.values()))

    def _machine(self, rid):
        machine = self.world.fleet.machines.get(unquote(rid).rstrip('/').lower())
        if machine is None:
            raise ArmError(404, 'NotFound', f'no VM or instance {unquote(rid)!r} in the fleet')
        return machine

    def vm(self, req, rid, action=None):
        state = self.world.machine_state(self._machine(rid))
        return Response(200, state['guest'] if action == '/guest' else state)

    def vm_action(self, req, rid, action):
        machine = self._machine(rid)
        body = req.json()
        try:
            if action == '/power':
                self.world.compute.set_power(machine, body.get('state'), self.world.now())
            else:
                if machine.agent is None:
                    raise ValueError('this VM has no proxy agent')
                if 'denied_callers' in body:
                    machine.agent.denied_callers = [proxyagent.check_caller(c) for c in body['denied_callers'] or ()]
                if 'status_age' in body:
                    machine.agent.status_age = int(body['status_age'] or 0)
                if 'fault' in body or not ({'denied_callers', 'status_age'} & set(body)):
                    machine.agent.set_fault(body.get('fault'), body.get('guest_key_incarnation_id'))
        except ValueError as exc:
            raise ArmError(400, 'InvalidRequest', str(exc)) from None
        return Response(200, self.world.machine_state(machine))

    # -- refused writes (armsim.governance) ------------------------------------------------------------
    def _declared(self, req):
        kind = req.path.rstrip('/').rsplit('/', 1)[-1]
        return kind, (self.world.fleet.locks if kind == 'locks' else self.world.fleet.policies)

    def list_declared(self, req):
        _kind, items = self._declared(req)
        return Response(200, [item.to_json() for item in items])

    def add_declared(self, req):
        """POST /_sim/locks {scope, name, level, notes?}; POST /_sim/policies {scope, name, effect, extension | field,
        ...} (the fleet keys of armsim.governance, with the scope as a full resource id)."""
        kind, items = self._declared(req)
        body = req.json()
        try:
            item = Lock.from_spec(body) if kind == 'locks' else PolicyAssignment(body)
        except (ValueError, TypeError) as exc:
            raise ArmError(400, 'InvalidRequest', str(exc)) from None
        items[:] = [i for i in items if not (i.name == item.name and i.scope.lower() == item.scope.lower())]
        items.append(item)
        return Response(200, item.to_json())

    def remove_declared(self, req):
        """DELETE /_sim/locks (or /policies) {name?, scope?}: those matching; no body: all."""
        _kind, items = self._declared(req)
        body = req.json()
        name, scope = body.get('name'), body.get('scope')

        def matches(item):
            return (name is None or item.name == name) and (scope is None or item.scope.lower() == scope.lower())

        items[:] = [i for i in items if not matches(i)]
        return Response(200, [i.to_json() for i in items])

    def vm_refusal(self, req, rid, action):
        """POST /_sim/vms/{id}/health {state, summary?, reason_type?, ...}; POST /_sim/vms/{id}/vm_agent {ready, fault?,
        frozen?} (remedies.AGENT_FAULTS; frozen: the agent's status stops being reported, remedies.set_agent_status)."""
        machine = self._machine(rid)
        body = req.json()
        try:
            if action == '/health':
                machine.health = HealthState(body)
            else:
                ready = bool(body.get('ready', True))
                remedies.set_agent(machine, 'ready' if ready else (body.get('fault') or 'not_ready'))
                if 'frozen' in body:
                    remedies.set_agent_status(machine, 'frozen' if body['frozen'] else 'reporting')
        except ValueError as exc:
            raise ArmError(400, 'InvalidRequest', str(exc)) from None
        state = self.world.machine_state(machine)
        return Response(200, state)

    def set_principal(self, req, client_id):
        """POST /_sim/principals/{client_id} {denied_actions?, roles?: [{name?, scope?, actions, not_actions}]
        (null: every action)}: change what a principal may do from now on (tokens already issued keep working)."""
        principal = self.world.fleet.principal(client_id)
        if principal is None:
            raise ArmError(404, 'NotFound', f'no principal {client_id!r} in the fleet')
        body = req.json()
        try:
            if 'denied_actions' in body:
                principal.denied_display = [str(a) for a in body['denied_actions'] or ()]
                principal.denied_actions = [a.lower() for a in principal.denied_display]
            if 'roles' in body:
                roles = body['roles']
                principal.roles = None if roles is None else [RoleAssignment(r) for r in roles]
        except (ValueError, TypeError, OSError) as exc:
            raise ArmError(400, 'InvalidRequest', str(exc)) from None
        return Response(
            200,
            {
                'client_id': principal.client_id,
                'denied_actions': principal.denied_display,
                'roles': None
                if principal.roles is None
                else [
                    {'name': r.name, 'scope': r.scope, 'actions': r.actions, 'not_actions': r.not_actions}
                    for r in principal.roles
                ],
            },
        )
