"""Start and drive a simulator process from Python (tests, benchmarks, the demo).

with Simulator.start(fleet="tests/armsim/fleets/test.yaml", config={"lro_seconds": 0.2}) as sim:
    sim.control.fault(method="PATCH", path_regex="virtualMachines/vm1", kind="status", status=503, count=1)
    env = sim.env()
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

import requests

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLEETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fleets')


class SimulatorError(RuntimeError):
    pass


class Control:
    """Client of the control API (``/_sim/``)."""

    def __init__(self, base_url, ca_file):
        self.base = base_url + '/_sim'
        self.ca_file = ca_file
        self.session = requests.Session()

    def _call(self, method, path, body=None):
        # verify= per request: a REQUESTS_CA_BUNDLE in the environment would win over Session.verify.
        resp = self.session.request(method, self.base + path, json=body, timeout=30, verify=self.ca_file)
        if resp.status_code >= 400:
            raise SimulatorError(f'{method} /_sim{path}: {resp.status_code} {resp.text}')
        return resp.json() if resp.content else None

    def reset(self, fleet=None):
        """Reload ``fleet`` (path or dict; None: the current fleet) and clear all runtime state."""
        if isinstance(fleet, (str, os.PathLike)):
            fleet = os.path.abspath(fleet)
        return self._call('POST', '/reset', {'fleet': fleet} if fleet is not None else {})

    def config(self, **kv):
        return self._call('POST', '/config', kv) if kv else self._call('GET', '/config')

    def counters(self):
        return self._call('GET', '/counters')

    def reset_counters(self):
        return self._call('POST', '/counters/reset')

    def fault(
        self, method='*', path_regex='.*', kind='status', status=None, code=None, count=None, delay=None, message=None
    ):
        spec = {
            'method': method,
            'path_regex': path_regex,
            'kind': kind,
            'status': status,
            'code': code,
            'count': count,
            'delay': delay,
            'message': message,
        }
        return self._call('POST', '/faults', {k: v for k, v in spec.items() if v is not None})

    def clear_faults(self):
        return self._call('DELETE', '/faults')

    def rotate_token_key(self):
        """Refuse every token issued so far (see control.Control.rotate_tokens)."""
        return self._call('POST', '/tokens/rotate')

    def vms(self):
        return self._call('GET', '/vms')

    def blobs(self):
        """The run commands' output / error blobs: {URI without SAS: text}."""
        return self._call('GET', '/blobs')

    def blob_sas(self, container, blob, permissions='racw', expires_in=3600):
        """A blob URI of the simulator's storage account with a signed SAS (armsim.storage)."""
        body = {'container': container, 'blob': blob, 'permissions': permissions, 'expires_in': expires_in}
        return self._call('POST', '/blobs/sas', body)['uri']

    def vm(self, vm_id):
        return self._call('GET', '/vms/' + quote(vm_id, safe=''))

    def guest(self, vm_id):
        return self.vm(vm_id)['guest']

    def set_power(self, vm_id, state):
        return self._call('POST', f'/vms/{quote(vm_id, safe="")}/power', {'state': state})

    def set_agent_fault(self, vm_id, fault, guest_key_incarnation_id=None):
        body = {'fault': fault}
        if guest_key_incarnation_id is not None:
            body['guest_key_incarnation_id'] = guest_key_incarnation_id
        return self._call('POST', f'/vms/{quote(vm_id, safe="")}/agent', body)

    def set_agent(self, vm_id, **body):
        """Change the agent of a VM: any of fault, guest_key_incarnation_id, denied_callers, status_age."""
        return self._call('POST', f'/vms/{quote(vm_id, safe="")}/agent', body)

    def requests(self, since=0):
        return self._call('GET', f'/requests?since={since}')

    # -- refused writes (armsim.governance) ---------------------------------------------------------
    def locks(self):
        return self._call('GET', '/locks')

    def add_lock(self, scope, name, level='ReadOnly', notes=None):
        """A management lock at ``scope`` (a subscription, resource group or resource id)."""
        return self._call('POST', '/locks', {'scope': scope, 'name': name, 'level': level, 'notes': notes})

    def remove_lock(self, name=None, scope=None):
        """Remove the locks matching ``name`` / ``scope`` (neither: all)."""
        return self._call('DELETE', '/locks', {k: v for k, v in (('name', name), ('scope', scope)) if v})

    def policies(self):
        return self._call('GET', '/policies')

    def add_policy(self, scope, name, effect='deny', extension=None, field=None, **more):
        """A policy assignment at ``scope``: ``extension={'publisher':..., 'type':...}`` or
        ``field={'path': 'securityProfile....', 'in': [values]}``; more: display_name, definition."""
        body = dict(more, scope=scope, name=name, effect=effect)
        body.update({k: v for k, v in (('extension', extension), ('field', field)) if v is not None})
        return self._call('POST', '/policies', body)

    def remove_policy(self, name=None, scope=None):
        return self._call('DELETE', '/policies', {k: v for k, v in (('name', name), ('scope', scope)) if v})

    def set_health(self, vm_id, state, **more):
        """Resource Health of a VM / instance: Available | Unavailable | Degraded | Unknown (more: summary,
        reason_type, title, detailed_status, context, category)."""
        return self._call('POST', f'/vms/{quote(vm_id, safe="")}/health', dict(more, state=state))

    def set_vm_agent(self, vm_id, ready, fault=None, frozen=None):
        """The VM agent Ready (True) or Not Ready (False), with its cause (remedies.AGENT_FAULTS: not_ready, hung,
        goal_state, host); frozen=True: its status stops being reported (the last time stays), False: reported."""
        body = {'ready': bool(ready), **({'fault': fault} if fault else {})}
        if frozen is not None:
            body['frozen'] = bool(frozen)
        return self._call('POST', f'/vms/{quote(vm_id, safe="")}/vm_agent', body)

    def set_principal(self, client_id, **body):
        """Change a principal's rights: denied_actions=[globs], roles=[{actions, not_actions, scope?}] | None."""
        return self._call('POST', f'/principals/{quote(client_id, safe="")}', body)

    # -- disks and boot (issue 23; tests/armsim/control_disks.py) ----------------------------------------------
    def disks(self):
        return self._call('GET', '/disks')

    def disk(self, disk_id):
        return self._call('GET', '/disks/' + quote(disk_id, safe=''))

    def set_disk_fault(self, disk_id, fault, driver=None):
        return self._call('POST', '/disks/' + quote(disk_id, safe='') + '/fault', {'fault': fault, 'driver': driver})

    def set_ade(self, vm_id, secret_url, vault_id, version='1.1', kek_url=None, passphrase=None):
        """Azure Disk Encryption on the VM's OS disk (control_disks.py, ade.py); ``passphrase``: the secret's value."""
        body = {
            'secret_url': secret_url,
            'vault_id': vault_id,
            'version': version,
            'kek_url': kek_url,
            'passphrase': passphrase,
        }
        return self._call('POST', '/vms/' + quote(vm_id, safe='') + '/ade', body)

    def set_boot_fault(self, vm_id, fault, driver=None):
        return self._call('POST', '/vms/' + quote(vm_id, safe='') + '/boot_fault', {'fault': fault, 'driver': driver})

    def serial_log(self, vm_id):
        return self._call('GET', '/vms/' + quote(vm_id, safe='') + '/serial_log')['text']

    def nics(self):
        return self._call('GET', '/nics')

    def public_ips(self):
        return self._call('GET', '/public_ips')

    def vnets(self):
        return self._call('GET', '/vnets')

    def clear_requests(self):
        return self._call('DELETE', '/requests')


class Simulator:
    """A running ``python -m armsim`` subprocess."""

    def __init__(self, proc, state_dir, ready, owns_state_dir):
        self.proc = proc
        self.state_dir = state_dir
        self._owns_state_dir = owns_state_dir
        self.ready = ready
        for key in (
            'base_url',
            'port',
            'ca_file',
            'tenant_id',
            'client_id',
            'client_secret',
            'subscription_id',
            'metadata_url',
        ):
            setattr(self, key, ready[key])
        self.control = Control(self.base_url, self.ca_file)

    @classmethod
    def start(cls, fleet=None, config=None, state_dir=None, host='127.0.0.1', port=0, timeout=30, python=None):
        """Start a simulator with ``fleet`` (a path or a dict) and ``config`` overrides; wait until it is ready."""
        owns = state_dir is None
        state_dir = state_dir or tempfile.mkdtemp(prefix='armsim-')
        os.makedirs(state_dir, exist_ok=True)
        if isinstance(fleet, dict):
            path = os.path.join(state_dir, 'fleet.json')
            with open(path, 'w', encoding='utf-8') as fh:
                json.dump(fleet, fh)
            fleet = path
        ready_file = os.path.join(state_dir, 'ready.json')
        if os.path.exists(ready_file):
            os.unlink(ready_file)
        cmd = [
            python or sys.executable,
            '-m',
            'armsim',
            '--host',
            host,
            '--port',
            str(port),
            '--state-dir',
            state_dir,
            '--ready-file',
            ready_file,
        ]
        if fleet is not None:
            cmd += ['--fleet', os.path.abspath(fleet)]
        for key, value in (config or {}).items():
            cmd += ['--set', f'{key}={json.dumps(value)}']
        env = dict(os.environ)
        env['PYTHONPATH'] = TESTS_DIR + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
        log = open(os.path.join(state_dir, 'armsim.log'), 'wb')
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=TESTS_DIR)
        log.close()
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready_file):
            if proc.poll() is not None:
                with open(os.path.join(state_dir, 'armsim.log'), encoding='utf-8', errors='replace') as fh:
                    raise SimulatorError(f'armsim exited with {proc.returncode}:\n{fh.read()}')
            if time.monotonic() > deadline:
                proc.kill()
                raise SimulatorError('armsim did not become ready in time')
            time.sleep(0.05)
        with open(ready_file, encoding='utf-8') as fh:
            ready = json.load(fh)
        return cls(proc, state_dir, ready, owns)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.control.session.close()
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def env(self):
        """Environment variables for clients (Ansible, the Azure SDK, the Azure CLI)."""
        return {
            'AZURE_CLIENT_ID': self.client_id,
            'AZURE_SECRET': self.client_secret,
            'AZURE_CLIENT_SECRET': self.client_secret,
            'AZURE_TENANT': self.tenant_id,
            'AZURE_TENANT_ID': self.tenant_id,
            'AZURE_SUBSCRIPTION_ID': self.subscription_id,
            'AZURE_CLOUD_ENVIRONMENT': self.metadata_url,
            'REQUESTS_CA_BUNDLE': self.ca_file,
            'SSL_CERT_FILE': self.ca_file,
        }

    def as_principal(self, client_id, client_secret):
        """An ARM client signed in as another principal of the fleet (``ArmAs``), e.g. a Tag Contributor."""
        return ArmAs(self.base_url, self.ca_file, self.tenant_id, client_id, client_secret)

    def vm_id(self, rg, name, subscription_id=None):
        sub = subscription_id or self.subscription_id
        return f'/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}'

    def instance_id(self, rg, vmss, n, subscription_id=None):
        sub = subscription_id or self.subscription_id
        return (
            f'/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/'
            f'virtualMachineScaleSets/{vmss}/virtualMachines/{n}'
        )

    def fleet_path(self, name):
        return os.path.join(FLEETS_DIR, name if name.endswith(('.yaml', '.json')) else name + '.yaml')


class ArmAs:
    """A minimal ARM client signed in (client credentials) as one principal: what a user with only that principal's
    roles does by hand. ``tags(scope)``, ``put_tags(scope, tags)``, ``patch_tags(scope, operation, tags)`` (the Tags
    API, 2021-04-01), ``request(method, path, body=None, api_version=...)`` -> requests.Response."""

    TAGS = '/providers/Microsoft.Resources/tags/default'

    def __init__(self, base_url, ca_file, tenant_id, client_id, client_secret):
        self.base_url, self.ca_file = base_url, ca_file
        resp = requests.post(
            f'{base_url}/{tenant_id}/oauth2/v2.0/token',
            data={
                'grant_type': 'client_credentials',
                'client_id': client_id,
                'client_secret': client_secret,
                'scope': 'https://management.azure.com/.default',
            },
            timeout=30,
            verify=ca_file,
        )
        if resp.status_code != 200:
            raise SimulatorError(f'sign-in of {client_id}: {resp.status_code} {resp.text}')
        self.token = resp.json()['access_token']

    def request(self, method, path, body=None, api_version='2021-04-01'):
        return requests.request(
            method,
            f'{self.base_url}{path}',
            params={'api-version': api_version},
            json=body,
            headers={'Authorization': f'Bearer {self.token}'},
            timeout=30,
            verify=self.ca_file,
        )

    def _ok(self, resp):
        if resp.status_code >= 400:
            raise SimulatorError(f'{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}')
        return resp.json() if resp.content else None

    def tags(self, scope):
        return self._ok(self.request('GET', scope + self.TAGS))['properties']['tags']

    def put_tags(self, scope, tags):
        return self._ok(self.request('PUT', scope + self.TAGS, {'properties': {'tags': tags}}))

    def patch_tags(self, scope, operation, tags):
        return self._ok(
            self.request('PATCH', scope + self.TAGS, {'operation': operation, 'properties': {'tags': tags}})
        )
