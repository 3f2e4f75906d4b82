# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest Proxy Agent (Metadata Security Protocol) diagnostics beyond the key, from a VM's instance view
(private: may change without notice).

Pure: no I/O, no ARM client; it imports only ``status`` (the agent's status) and ``stuck`` (the key health, a reset
that does not reach the guest included), so the lookup and the inventory plugin diagnose the agent the same way from
the JSON they already hold.

Where the formats come from (Azure/GuestProxyAgent, checked at commit 729e2a8; azure-facts.md section 1; the
substatuses themselves are described in ``status``):

- The two summaries: a JSON list of ``ProxyConnectionSummary`` ``{userName, ip, port, processCmdLine,
  responseStatus, count, userGroups?, processFullPath?}`` (the 100 / 50 most frequent), or the plain text
  ``proxy connection summary is empty`` / ``proxy failed auth summary is empty``, or, when both are too large, the
  text ``Substatus of proxy agent connection message ... dropping connection summary``.
  The connection summary holds every proxied call with its HTTP status (a caller blocked under Enforce:
  ``403 Forbidden``); the failed-authentication summary holds every call the rules did not authorize, in Audit
  (the call then goes on) and in Enforce (it is blocked) alike (``proxy_agent/src/proxy/proxy_server.rs``).
- Endpoint of a summary entry, from its destination: ``168.63.129.16:80`` WireServer, ``168.63.129.16:32526``
  HostGAPlugin (HostGA, which follows the WireServer setting), ``169.254.169.254:80`` IMDS (the agent's
  constants; the mapping itself is this module's reading, not a field the agent writes).
- Inferred, not from the agent source: the default mode ``Audit`` of an endpoint whose model names neither a mode
  nor a rules profile (see ``model_modes``).

Public names (kept stable):

- ``parse_summary(text)``, ``endpoint_of(ip, port)``, ``model_modes(settings)``, ``scrub_cmdline(cmdline)``,
  ``denied_callers(instance_view, modes=None)``, ``action_for(caller)``, ``diagnose(model, instance_view, power,
  os_type, record=None, now=None, stale_after=STALE_AFTER, observed=None, hold=PENDING_HOLD)`` -> dict,
  ``compact(diagnosis)`` -> the inventory's ``proxy_agent_health``; ``ENDPOINTS``, ``ENDPOINT_NAMES``, ``MODES``
  (``STALE_AFTER`` is ``stuck``'s).
"""

from __future__ import annotations

import datetime
import json
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import (
    CONNECTION_SUBSTATUS,
    FAILED_AUTH_SUBSTATUS,
    PENDING_HOLD,
    find_extension,
    find_substatus,
    int_or_none,
    model_settings,
    parse_agent_status,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.stuck import STALE_AFTER, key_health

ENDPOINTS = ('wireserver', 'imds', 'hostga')
ENDPOINT_NAMES = {'wireserver': 'WireServer', 'imds': 'IMDS', 'hostga': 'HostGA'}
MODES = ('Enforce', 'Audit', 'Disabled')


def parse_summary(text):
    """A connection / failed-authentication summary substatus message -> (entries list, note).

    ``entries``: the JSON list (entries that are not objects dropped), or [] for the agent's "... is empty" text,
    or None when the message is neither (stale, dropped for size, unreadable); ``note`` is then the text.
    """
    if text is None:
        return None, None
    stripped = str(text).strip()
    if stripped.startswith('['):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return None, stripped[:200]
        if isinstance(parsed, list):
            return [e for e in parsed if isinstance(e, dict)], None
        return None, stripped[:200]
    if stripped.lower().endswith('summary is empty'):
        return [], None
    return None, stripped[:200]


def endpoint_of(ip, port):
    """'wireserver' / 'hostga' / 'imds' from a summary entry's destination, or None."""
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = None
    if ip == '168.63.129.16':
        return 'hostga' if port == 32526 else 'wireserver'
    if ip == '169.254.169.254':
        return 'imds'
    return None


def _mode_word(value):
    if not value:
        return None
    word = str(value).capitalize()
    return word if word in MODES else str(value)


def model_modes(settings):
    """The endpoint modes the model asks for: {'wireserver', 'imds', 'hostga'} (None: set by a rules profile).

    ``wireServer.mode`` / ``imds.mode`` (2024-11-01), else the deprecated top-level ``mode``, else (no rules
    profile either) ``Audit``, the platform default (inferred: the simulator and the docs' examples). HostGA follows
    WireServer. All ``Disabled`` when MSP is not enabled.
    """
    settings = settings or {}
    if not settings.get('enabled'):
        return dict(wireserver='Disabled', imds='Disabled', hostga='Disabled')
    out = {}
    for key, field in (('wireserver', 'wireServer'), ('imds', 'imds')):
        endpoint = settings.get(field) or {}
        mode = endpoint.get('mode') if isinstance(endpoint, dict) else None
        if not mode and not (isinstance(endpoint, dict) and endpoint.get('inVMAccessControlProfileReferenceId')):
            mode = settings.get('mode') or 'Audit'
        out[key] = _mode_word(mode)
    out['hostga'] = out['wireserver']
    return out


# A command line can carry a secret (a token in a header, a password option, a SAS signature): the value after
# such a name is masked before a command line is returned or shown.
_SECRET_ARG_RE = re.compile(
    r'((?:--?|\b)(?:password|passwd|pwd|secret|client[-_]?secret|token|access[-_]?token|api[-_]?key|key|sig|'
    r'authorization)\b["\']?(?:\s*[=:]\s*|\s+)(?:bearer\s+|basic\s+)?)'
    r"(\"[^\"]*\"|'[^']*'|\S+)",
    re.I,
)
_BEARER_RE = re.compile(r'\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}', re.I)


def scrub_cmdline(cmdline):
    """``cmdline`` with the values of secret-looking arguments masked (``--password x`` -> ``--password ***``)."""
    if not cmdline:
        return cmdline
    text = _SECRET_ARG_RE.sub(lambda m: m.group(1) + '***', str(cmdline))
    return _BEARER_RE.sub(lambda m: m.group(1) + ' ***', text)


def _caller_key(entry):
    return (
        entry.get('userName'),
        entry.get('processFullPath'),
        entry.get('processCmdLine'),
        entry.get('ip'),
        int_or_none(entry.get('port')),
    )


def action_for(caller):
    """One line an operator can act on for a denied caller (see ``denied_callers``)."""
    endpoint = ENDPOINT_NAMES.get(caller['endpoint'], caller['endpoint'] or 'the endpoint')
    setting = 'imds' if caller['endpoint'] == 'imds' else 'wireServer'
    who = '%s (user %s)' % (caller['process'] or caller['cmdline'] or 'the process', caller['user'] or '?')
    if caller['blocked']:
        return (
            '%s is blocked from %s: allow it with a rule in the inVMAccessControlProfile that %s.'
            'inVMAccessControlProfileReferenceId points at (a new profile version), or switch %s to Audit while '
            'you do (vmrescue.azure.proxy_agent_settings %s_mode: Audit)'
            % (who, endpoint, setting, setting, 'imds' if setting == 'imds' else 'wire_server')
        )
    return (
        '%s is not authorized for %s but allowed while %s audits: add a rule for it to the '
        'inVMAccessControlProfile before switching %s to Enforce' % (who, endpoint, endpoint, setting)
    )


def denied_callers(instance_view, modes=None):
    """The callers the agent did not authorize, merged from both summaries, most frequent first.

    Each: ``endpoint`` ('wireserver' / 'imds' / 'hostga' / None), ``ip``, ``port``, ``user``, ``user_groups``,
    ``process`` (processFullPath), ``cmdline`` (secret-looking argument values masked: ``scrub_cmdline``),
    ``count``, ``response_status``, ``blocked`` (True: the agent blocks
    it, a 403 in the connection summary or its endpoint enforces; False: audited, the call went on), ``mode`` (of
    its endpoint, from ``modes``), ``action`` (one line: what to do). ``modes``: the endpoint modes in effect
    (``parse_secure_channel_state`` or ``model_modes``).
    """
    ext = find_extension(instance_view)
    if ext is None:
        return []
    merged = {}
    conn, _note = parse_summary((find_substatus(ext, CONNECTION_SUBSTATUS) or {}).get('message'))
    failed, _note = parse_summary((find_substatus(ext, FAILED_AUTH_SUBSTATUS) or {}).get('message'))
    for source, entries in (('failed_authentication_summary', failed or []), ('connection_summary', conn or [])):
        for e in entries:
            forbidden = str(e.get('responseStatus') or '').startswith('403')
            if source == 'connection_summary' and not forbidden:
                continue
            key = _caller_key(e)
            item = merged.get(key)
            if item is None:
                endpoint = endpoint_of(e.get('ip'), e.get('port'))
                item = merged[key] = dict(
                    endpoint=endpoint,
                    ip=e.get('ip'),
                    port=int_or_none(e.get('port')),
                    user=e.get('userName'),
                    user_groups=list(e.get('userGroups') or []),
                    process=e.get('processFullPath'),
                    cmdline=scrub_cmdline(e.get('processCmdLine')),
                    count=0,
                    response_status=e.get('responseStatus'),
                    blocked=False,
                    mode=(modes or {}).get(endpoint) if endpoint else None,
                    sources=[],
                )
            item['count'] = max(item['count'], int_or_none(e.get('count')) or 0)
            item['sources'].append(source)
            if source == 'connection_summary':
                item['blocked'] = True
                item['response_status'] = e.get('responseStatus')
    out = sorted(merged.values(), key=lambda c: (-c['count'], str(c['user']), str(c['process'])))
    for caller in out:
        if caller['mode'] == 'Enforce':
            caller['blocked'] = True
        caller['action'] = action_for(caller)
    return out


def _parse_time(value):
    if not value:
        return None
    text = str(value).strip().replace('Z', '+00:00')
    m = re.match(r'^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?([+-]\d{2}:\d{2})?$', text)
    if not m:
        return None
    when = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S')
    if m.group(3) and m.group(3) not in ('+00:00', '-00:00'):
        sign = 1 if m.group(3)[0] == '+' else -1
        hours, minutes = int(m.group(3)[1:3]), int(m.group(3)[4:6])
        when -= sign * datetime.timedelta(hours=hours, minutes=minutes)
    return when.replace(tzinfo=datetime.UTC)


def _component_problem(name, detail):
    if detail is None:
        return None
    status = str(detail.get('status') or '').upper()
    if status == 'RUNNING':
        return None
    return '%s %s: %s' % (name, status or 'not reported', str(detail.get('message') or '')[:200])


def _base(settings, agent, key, power, os_type):
    """diagnose's answer for an agent with nothing found yet: every key present, the modes the model asks for."""
    wanted = model_modes(settings)
    return dict(
        enabled=bool(settings.get('enabled')),
        os_type=os_type,
        power_state=power,
        present=agent['present'],
        missing=False,
        extension_name=agent['extension_name'],
        agent_version=agent['agent_version'],
        agent_status=agent['agent_status'],
        components=agent['components'],
        unhealthy=False,
        modes=wanted,
        modes_source='model',
        model_modes=wanted,
        denials=[],
        summaries_note=None,
        stale=False,
        stale_reasons=[],
        key=key,
        key_latch_status=agent['key_latch_status'],
        problems=[],
    )


def _missing_problem(os_type):
    """The problem line of an enabled, running VM / instance whose agent reports no status."""
    agent_name = 'ProxyAgentWindows' if os_type == 'Windows' else 'ProxyAgentLinux'
    return 'MSP is enabled but no %s extension reports a status: the guest has no working proxy agent%s' % (
        agent_name,
        ' (install it: addProxyAgentExtension, or az vm update --add-proxy-agent-extension; '
        'kernel 5.15+ and cgroup v2 needed)'
        if os_type != 'Windows'
        else '',
    )


def _stale_reasons(agent, key, now, stale_after):
    """Why the agent's status is stale: marked transitioning, older than ``stale_after``, or a model long ahead."""
    reasons = []
    if agent['stale']:
        reasons.append(
            'transitioning: %s' % str(agent['raw_message'] or 'the agent marks its status transitioning')[:200]
        )
    when = _parse_time(agent['time'])
    if when is not None and (now - when).total_seconds() > stale_after:
        reasons.append('status from %s, %d s old' % (agent['time'], int((now - when).total_seconds())))
    latched, model_id = key['latched_key_incarnation_id'], key['model_key_incarnation_id']
    if latched is not None and latched < model_id and key['verdict'] != 'pending':
        reasons.append(
            "the model keyIncarnationId %d is ahead of the guest's %d long after the reset" % (model_id, latched)
        )
    return reasons


def _add_components(out, agent, key):
    """The modes the guest reports, and the eBPF program / proxy listener / agent status problems, into ``out``."""
    scs = key['secure_channel']
    if scs.get('wireserver'):
        out['modes'] = dict(wireserver=scs['wireserver'], imds=scs['imds'], hostga=scs['hostga'] or scs['wireserver'])
        out['modes_source'] = 'guest'
    for name, label in (('ebpf', 'eBPF program'), ('listener', 'proxy listener')):
        problem = _component_problem(label, agent['components'].get(name))
        if problem:
            out['unhealthy'] = True
            out['problems'].append(problem)
    if str(agent['agent_status'] or '').upper() == 'ERROR' and not out['unhealthy']:
        out['problems'].append('the agent reports status ERROR')


def _add_denials(out, instance_view):
    """The denied callers (in the modes ``out`` holds) and the connection summary's note, into ``out``."""
    out['denials'] = denied_callers(instance_view, out['modes'])
    ext = find_extension(instance_view)
    _entries, note = parse_summary((find_substatus(ext, CONNECTION_SUBSTATUS) or {}).get('message'))
    out['summaries_note'] = note
    for caller in out['denials']:
        out['problems'].append(
            '%s %s %s x%d'
            % (
                'blocked' if caller['blocked'] else 'audited',
                ENDPOINT_NAMES.get(caller['endpoint'], '?'),
                caller['process'] or caller['cmdline'],
                caller['count'],
            )
        )


def diagnose(
    model, instance_view, power, os_type=None, record=None, now=None, stale_after=STALE_AFTER, observed=None, hold=None
):
    """Everything the instance view says about the agent beyond the key, for one VM / instance.

    ``model``: the VM / instance JSON (for proxyAgentSettings); ``instance_view``; ``power``: its power state;
    ``os_type``: 'Linux' / 'Windows' (``_vm.os_type``); ``record``: the recorded key reset, ``observed``: the first
    observation of an unrecorded one, ``hold``: seconds until a reset that does not reach the guest is stuck
    (``stuck.key_health``); ``now``: aware UTC datetime. Returns a dict: enabled, os_type, present, missing (bool), extension_name,
    agent_version, agent_status, components ({ebpf, listener, monitor, telemetry}), unhealthy (bool),
    modes ({wireserver, imds, hostga}), modes_source ('guest' / 'model'), model_modes, denials (denied_callers),
    summaries_note (the connection summary's text when it is not a list), stale (bool), stale_reasons, key
    (classify_health), key_latch_status (parse_agent_status'), problems (one line each).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    settings = model_settings(model)
    agent = parse_agent_status(instance_view)
    key = key_health(settings, agent, power, record=record, observed=observed, now=now, hold=hold or PENDING_HOLD)
    out = _base(settings, agent, key, power, os_type)
    if key['verdict'] == 'stuck':
        out['problems'].append('key reset stuck: %s; next: %s' % (key['reason'], key['stuck']['next_step']))
    if not out['enabled']:
        return out
    running = not power or power == 'running'
    if running and not agent['present']:
        out['missing'] = True
        out['problems'].append(_missing_problem(os_type))
        return out
    if not running or not agent['present']:
        return out
    out['stale_reasons'].extend(_stale_reasons(agent, key, now, stale_after))
    out['stale'] = bool(out['stale_reasons'])
    if out['stale']:
        out['problems'].append('agent status stale: %s' % '; '.join(out['stale_reasons']))
    if not agent['json']:
        return out
    _add_components(out, agent, key)
    _add_denials(out, instance_view)
    return out


def compact(diagnosis):
    """The inventory's ``proxy_agent_health`` host var: the diagnosis without the key detail and the full callers."""
    d = diagnosis
    return dict(
        enabled=d['enabled'],
        present=d['present'],
        missing=d['missing'],
        agent_version=d['agent_version'],
        agent_status=d['agent_status'],
        ebpf=(d['components'].get('ebpf') or {}).get('status'),
        listener=(d['components'].get('listener') or {}).get('status'),
        unhealthy=d['unhealthy'],
        modes=d['modes'],
        modes_source=d['modes_source'],
        denials=len(d['denials']),
        blocked=sum(1 for c in d['denials'] if c['blocked']),
        denied_callers=[
            '%s %s (%s) x%d'
            % (ENDPOINT_NAMES.get(c['endpoint'], '?'), c['process'] or c['cmdline'], c['user'], c['count'])
            for c in d['denials'][:5]
        ],
        stale=d['stale'],
        stale_reasons=d['stale_reasons'],
        problems=d['problems'],
    )
