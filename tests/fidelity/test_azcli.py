"""Fidelity: the unmodified Azure CLI (azure-cli 2.91.0) against the ARM simulator.

Nobody here wrote this client, so if it works against the simulator, the simulator's Entra ID and ARM behaviour
is close enough for it. The simulator is registered as a custom cloud, the CLI logs in once with the service
principal, and then every command runs as its own ``az`` process. What each command sends and reads is listed in
tests/fidelity/azcli_notes.md.

The CLI and how it runs (its cached virtualenv, ``VMRESCUE_AZ``, the private config dir, the login) are in
tests/azcli.py. Secrets reach az only through files (``--password=@FILE``) and are replaced by ``***`` in every
failure message.
"""

import base64
import json
import os
import shutil
import struct
import tempfile
import time

import pytest

from armsim.harness import Simulator
from azcli import CLOUD, AzCli, az_usable

pytestmark = pytest.mark.skipif(
    not az_usable(),
    reason='Azure CLI fidelity tier: no executable az at VMRESCUE_AZ or in the make azcli cache '
    '(`make azcli` builds it; `make test` exports VMRESCUE_AZ)',
)

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'test.yaml')
# Short simulated delays keep this tier fast. lro_retry_after matters most: az waits as long as Retry-After says.
FAST = {'lro_seconds': 0.3, 'lro_retry_after': 1, 'extension_seconds': 0.3, 'relatch_seconds': 2.0}
RG = 'rg-linux'

VM_PASSWORD = 'Fidelity-Passw0rd!7'  # only ever written to a 0600 file and replaced by *** in messages


def _openssh(key_type, body):
    blob = struct.pack('>I', len(key_type)) + key_type.encode() + struct.pack('>I', len(body)) + body
    return '%s %s' % (key_type, base64.b64encode(blob).decode())


ED25519_KEY = _openssh('ssh-ed25519', bytes(range(32))) + ' fidelity@azcli'


def _fail(msg):
    pytest.fail(msg, pytrace=False)


class Ctx:
    def __init__(self, sim, cli):
        self.sim = sim
        self.cli = cli
        self.sub = ['--subscription', sim.subscription_id]

    def vm_id(self, name):
        return self.sim.vm_id(RG, name)

    def guest(self, name):
        return self.sim.control.guest(self.vm_id(name))

    def model(self, name):
        return self.sim.control.vm(self.vm_id(name))

    def mark(self):
        entries = self.sim.control.requests()
        return entries[-1]['seq'] if entries else 0

    def arm_requests(self, since):
        """ARM requests (no token, control or metadata calls) logged after ``since``."""
        return [e for e in self.sim.control.requests(since=since) if e['path'].lower().startswith('/subscriptions/')]


@pytest.fixture(scope='module')
def az():
    """One simulator and one az login for the whole module (az start-up is the cost of this tier)."""
    home = tempfile.mkdtemp(prefix='vmrescue-azcli-')
    os.chmod(home, 0o700)
    sim = Simulator.start(fleet=FLEET, config=FAST)
    try:
        cli = AzCli(home, sim.ca_file, [sim.client_secret, VM_PASSWORD], fail=_fail)
        accounts = cli.login(sim)
        assert [a['id'] for a in accounts if a['id'] == sim.subscription_id], (
            "az login did not list the simulator's subscription: %s" % cli.redact(json.dumps(accounts))
        )
        yield Ctx(sim, cli)
    finally:
        sim.stop()
        shutil.rmtree(home, ignore_errors=True)  # holds the MSAL cache and service_principal_entries


def _proxy_agent_status(view):
    """(extension entry, parsed ProxyAgentStatus message) from ``az vm get-instance-view`` output."""
    iv = view.get('instanceView') or {}
    for ext in iv.get('extensions') or []:
        if (ext.get('type') or '').lower() in (
            'microsoft.cplat.proxyagent.proxyagentlinux',
            'microsoft.cplat.proxyagent.proxyagentwindows',
        ):
            for sub in ext.get('substatuses') or []:
                if (sub.get('code') or '').startswith('ComponentStatus/ProxyAgentStatus/'):
                    return ext, json.loads(sub['message'])
            return ext, None
    return None, None


def _extension_puts(entries):
    return [e for e in entries if e['method'] == 'PUT' and '/extensions/' in e['path']]


# ----------------------------------------------------------------------------------------------------------------


def test_login_made_the_simulator_the_active_cloud(az):
    account = az.cli.json('account', 'show')
    assert account['id'] == az.sim.subscription_id
    assert account['tenantId'] == az.sim.tenant_id
    assert account['environmentName'] == CLOUD
    assert account['user'] == {'name': az.sim.client_id, 'type': 'servicePrincipal'}
    assert az.sim.control.counters()['token'] >= 1


def test_vm_get_instance_view_shows_key_latch_status(az):
    view = az.cli.json('vm', 'get-instance-view', '-g', RG, '-n', 'lin-audit', *az.sub)
    ext, status = _proxy_agent_status(view)
    assert ext is not None, 'no ProxyAgentLinux extension in: %s' % json.dumps(view.get('instanceView'))[:2000]
    assert status is not None, 'no ComponentStatus/ProxyAgentStatus substatus in %s' % json.dumps(ext)
    latch = status['keyLatchStatus']
    assert latch['status'] == 'RUNNING'
    assert latch['states']['keyIncarnationId'] == '7'
    assert latch['states']['keyGuid']
    assert view['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 7


def test_vm_update_key_incarnation_id_and_guest_relatches(az):
    name = 'lin-ok'
    before = az.cli.json('vm', 'get-instance-view', '-g', RG, '-n', name, *az.sub)
    _, old = _proxy_agent_status(before)
    assert old['keyLatchStatus']['states']['keyIncarnationId'] == '3'
    old_guid = old['keyLatchStatus']['states']['keyGuid']

    model_before = az.model(name)['model']['properties']
    since = az.mark()
    vm = az.cli.json('vm', 'update', '-g', RG, '-n', name, '--key-incarnation-id', '4', *az.sub)
    assert vm['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 4
    assert vm['provisioningState'] == 'Succeeded'
    vm_path = az.vm_id(name).lower()
    writes = [
        (e['method'], e['status'])
        for e in az.arm_requests(since)
        if e['path'].split('?')[0].lower() == vm_path and e['method'] != 'GET'
    ]
    assert writes and writes[0][0] == 'PUT' and writes[0][1] in (200, 201, 202), writes  # a generic update: GET + PUT
    # The CLI PUTs the model back without storageProfile.imageReference (it nulls it to skip the image permission
    # check); Azure keeps a VM's image reference, so nothing but the key incarnation may change.
    model_after = az.model(name)['model']['properties']
    assert model_after['storageProfile'].get('imageReference') == model_before['storageProfile']['imageReference']
    assert model_after['osProfile'] == model_before['osProfile']
    assert model_after['vmId'] == model_before['vmId']

    # the guest relatches: new key, incarnation 4 (relatch_seconds is 2 here)
    deadline = time.monotonic() + 30
    while True:
        view = az.cli.json('vm', 'get-instance-view', '-g', RG, '-n', name, *az.sub)
        _, status = _proxy_agent_status(view)
        states = status['keyLatchStatus']['states']
        if states.get('keyIncarnationId') == '4':
            break
        assert time.monotonic() < deadline, 'guest did not relatch to incarnation 4: %s' % json.dumps(status)
        time.sleep(1)
    assert states['keyGuid'] and states['keyGuid'] != old_guid

    # a lower value is refused with Azure's message, and az exits non-zero
    again = az.cli.run('vm', 'update', '-g', RG, '-n', name, '--key-incarnation-id', '3', *az.sub, check=False)
    assert again.returncode != 0
    assert 'can only be incremented' in again.stderr, az.cli.redact(again.stderr)
    assert az.model(name)['model']['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 4


def test_vm_user_update_ssh_key(az):
    name = 'lin-locked'  # nobody can log in: azureuser has no key
    assert az.guest(name)['users']['azureuser']['authorized_keys'] == []
    since = az.mark()
    out = az.cli.json(
        'vm', 'user', 'update', '-g', RG, '-n', name, '-u', 'azureuser', '--ssh-key-value', ED25519_KEY, *az.sub
    )
    assert out['name'] == 'enablevmaccess'
    assert 'protectedSettings' not in json.dumps(out)
    puts = _extension_puts(az.arm_requests(since))
    assert [p['path'].split('?')[0].rsplit('/', 1)[1] for p in puts] == ['enablevmaccess']
    body = puts[0]['body']['properties']
    assert (body['publisher'], body['type'], body['typeHandlerVersion']) == (
        'Microsoft.OSTCExtensions',
        'VMAccessForLinux',
        '1.5',
    )
    assert body['settings'] == {} and 'forceUpdateTag' not in body
    assert body['protectedSettings'] == {'username': '<redacted>', 'ssh_key': '<redacted>'}  # keys sent, values hidden
    guest = az.guest(name)
    assert ED25519_KEY in guest['users']['azureuser']['authorized_keys']


def test_vm_user_update_password(az):
    name = 'lin-locked'
    before = az.guest(name)['users'].get('rescue')
    assert before is None
    pw_file = az.cli.secret_file('vm-password', VM_PASSWORD)
    az.cli.run(
        'vm', 'user', 'update', '-g', RG, '-n', name, '-u', 'rescue', '--password=@' + pw_file, *az.sub, '-o', 'none'
    )
    os.unlink(pw_file)
    user = az.guest(name)['users']['rescue']
    assert user['password_set'] is True
    assert user['created_by_vmaccess'] is True
    assert user['sudo'] is True
    # a second password change is a new handler run: the password version moves on
    pw_file = az.cli.secret_file('vm-password', VM_PASSWORD + '2')
    az.cli.secrets.append(VM_PASSWORD + '2')
    az.cli.run(
        'vm', 'user', 'update', '-g', RG, '-n', name, '-u', 'rescue', '--password=@' + pw_file, *az.sub, '-o', 'none'
    )
    os.unlink(pw_file)
    assert az.guest(name)['users']['rescue']['password_version'] > user['password_version']


def test_vm_user_reset_ssh(az):
    from armsim import vmaccess

    name = 'lin-locked'
    before = az.guest(name)
    az.cli.run('vm', 'user', 'reset-ssh', '-g', RG, '-n', name, *az.sub, '-o', 'none')
    after = az.guest(name)
    assert after['sshd_config'] == vmaccess.HANDLER_DEFAULT_SSHD_CONFIG
    assert after['sshd_restarts'] > before['sshd_restarts']
    assert after['port22_open'] is True


def test_vm_user_delete_reuses_existing_vmaccess_extension(az):
    name = 'lin-vmaccess'  # has VMAccessForLinux under the name "resetaccess" and a user "ops"
    assert 'ops' in az.guest(name)['users']
    since = az.mark()
    az.cli.run('vm', 'user', 'delete', '-g', RG, '-n', name, '-u', 'ops', *az.sub, '-o', 'none')
    puts = _extension_puts(az.arm_requests(since))
    # the CLI found the existing handler in the instance view and reused its name (one extension per handler)
    assert [p['path'].split('?')[0].rsplit('/', 1)[1] for p in puts] == ['resetaccess']
    assert 'ops' not in az.guest(name)['users']


def test_vm_user_update_on_windows_runs_vmaccessagent(az):
    """``az vm user update`` on a Windows VM: the CLI's _reset_windows_admin path; the simulated guest changes."""
    rg, name = 'rg-windows', 'win-no-msp'
    vm_id = az.sim.vm_id(rg, name)
    assert az.sim.control.guest(vm_id)['users']['azureuser']['password_version'] == 0
    since = az.mark()
    pw_file = az.cli.secret_file('vm-password', VM_PASSWORD)
    out = az.cli.json(
        'vm', 'user', 'update', '-g', rg, '-n', name, '-u', 'azureuser', '--password=@' + pw_file, *az.sub
    )
    os.unlink(pw_file)
    assert out['name'] == 'enablevmaccess' and 'protectedSettings' not in json.dumps(out)
    (put,) = _extension_puts(az.arm_requests(since))
    body = put['body']['properties']
    assert (body['publisher'], body['type'], body['typeHandlerVersion']) == (
        'Microsoft.Compute',
        'VMAccessAgent',
        '2.4',
    )
    assert body['settings'] == {'UserName': 'azureuser'} and 'forceUpdateTag' not in body
    assert body['protectedSettings'] == {'Password': '<redacted>'}
    user = az.sim.control.guest(vm_id)['users']['azureuser']
    assert user['password_version'] == 1 and user['admin'] and user['rid'] == 500

    # a new name adds a local administrator; the built-in one stays
    pw_file = az.cli.secret_file('vm-password', VM_PASSWORD)
    az.cli.run(
        'vm',
        'user',
        'update',
        '-g',
        rg,
        '-n',
        name,
        '-u',
        'rescueadmin',
        '--password=@' + pw_file,
        *az.sub,
        '-o',
        'none',
    )
    os.unlink(pw_file)
    g = az.sim.control.guest(vm_id)
    assert g['users']['rescueadmin']['admin'] and g['users']['rescueadmin']['created_by_vmaccess']
    assert g['users']['azureuser']['rid'] == 500
    # an SSH key is refused by the CLI itself on Windows
    again = az.cli.run(
        'vm',
        'user',
        'update',
        '-g',
        rg,
        '-n',
        name,
        '-u',
        'azureuser',
        '--ssh-key-value',
        ED25519_KEY,
        *az.sub,
        check=False,
    )
    assert again.returncode != 0 and 'SSH key is not appliable on a Windows VM' in again.stderr
