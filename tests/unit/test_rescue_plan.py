"""The offline rescue's pure parts (issue 23): the record, the names, the copy body, the refusals, the phase
decision, option validation and the shipped scripts (bash -n). No network."""

import shutil
import subprocess

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import names, options, record as rec
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.plan import Facts, copy_body, next_step, refusal

VM = '/subscriptions/5b0c3e2a-0000-4000-8000-00000000bbbb/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01'
DISK = '/subscriptions/5b0c3e2a-0000-4000-8000-00000000bbbb/resourceGroups/rg/providers/Microsoft.Compute/disks/web-01_OsDisk_1'
KEY = b'a-record-key-of-enough-length'


def test_record_round_trip_sealed_and_checked():
    record = rec.Record('attached', '2026-01-02T03:04:05Z', copy='web-01-rescue-1a2b3c4d', original='web-01_OsDisk_1',
                        rescue_vm='vmrescue-westeurope-linux-v2-x64-1', lun=3, action='fstab')  # fmt: skip
    plain = rec.encode(record)
    assert plain.startswith('v1;attached@2026-01-02T03:04:05Z;c=web-01-rescue-1a2b3c4d;') and ';l=3;a=fstab' in plain
    assert rec.parse(plain) == (record, None)
    sealed = rec.encode(record, KEY, VM)
    assert rec.check({'vmrescue-rescue': sealed}, KEY, VM) == (record, None)
    assert rec.check({'vmrescue-rescue': plain}, KEY, VM)[1] == 'it carries no seal and a record key is configured'
    other = VM.replace('web-01', 'web-02')
    assert 'does not match' in rec.check({'vmrescue-rescue': sealed}, KEY, other)[1], 'copied to another VM'
    tampered = sealed.replace('l=3', 'l=4')
    assert rec.check({'vmrescue-rescue': tampered}, KEY, VM)[0] is None
    assert rec.check({}, KEY, VM) == (None, None)
    assert rec.check({'vmrescue-rescue': 'garbage'}, None, VM)[1] == 'it does not parse as a rescue record'


def test_record_limits_and_phases():
    record = rec.Record('copied', '2026-01-02T03:04:05Z', copy='x' * 80, original='y' * 80, rescue_vm='z' * 64,
                        rescue_group='g' * 60)  # fmt: skip
    with pytest.raises(TaskError) as exc:
        rec.encode(record)
    assert exc.value.reason_code == 'record_too_long'
    with pytest.raises(TaskError):
        rec.encode(rec.Record('copied', '2026-01-02T03:04:05Z', copy='a;b'))
    assert rec.Record('swapped', 'x').at_least('repaired') and not rec.Record('rolled_back', 'x').at_least('copied')


def test_names_are_deterministic_and_fit():
    first = names.copy_disk_name('web-01', VM, DISK)
    assert first == names.copy_disk_name('web-01', VM.upper(), DISK) and first.startswith('web-01-rescue-')
    assert first != names.copy_disk_name('web-01', VM, DISK + '2'), 'a rescue of the copy gets another name'
    assert len(names.copy_disk_name('v' * 64, VM, DISK)) <= names.MAX_DISK_NAME
    assert names.rescue_vm_name('westeurope', 'Linux', 'V2', 'x64', zone='2') == 'vmrescue-westeurope-linux-v2-x64-z2-1'
    assert len(names.computer_name('vmrescue-westeurope-windows-v2-x64-1', 'Windows')) <= 15


def _disk(**props):
    base = {'osType': 'Linux', 'hyperVGeneration': 'V2', 'diskSizeGB': 30,
            'supportedCapabilities': {'architecture': 'Arm64', 'diskControllerTypes': 'SCSI, NVMe', 'acceleratedNetwork': True},
            'encryption': {'type': 'EncryptionAtRestWithCustomerKey', 'diskEncryptionSetId': '/des/1'},
            'securityProfile': {'securityType': 'TrustedLaunch'}}  # fmt: skip
    base.update(props)
    return {'id': DISK, 'location': 'westeurope', 'sku': {'name': 'Premium_LRS'}, 'zones': ['1'], 'properties': base}


def test_the_copy_names_every_property_a_copy_does_not_keep():
    body = copy_body(_disk(), 'web-01')
    props = body['properties']
    assert props['creationData'] == {'createOption': 'Copy', 'sourceResourceId': DISK}
    assert props['hyperVGeneration'] == 'V2' and props['osType'] == 'Linux'
    assert props['supportedCapabilities'] == {'architecture': 'Arm64', 'diskControllerTypes': 'SCSI, NVMe'}
    assert props['encryption'] == {'type': 'EncryptionAtRestWithCustomerKey', 'diskEncryptionSetId': '/des/1'}
    assert props['securityProfile'] == {'securityType': 'TrustedLaunch'}
    assert body['zones'] == ['1'] and body['sku'] == {'name': 'Premium_LRS'}
    assert body['tags'] == {'vmrescue-rescue-of': 'web-01'} and 'diskSizeGB' not in props


def test_confidential_vms_and_unsupported_ade_are_refused():
    confidential = {'properties': {'securityProfile': {'securityType': 'ConfidentialVM'}}}
    assert refusal(confidential, _disk())[0] == 'unsupported_disk'
    ade = {'enabled': True, 'encryptionSettingsVersion': '1.0', 'encryptionSettings': [{}]}
    assert 'dual-pass' in refusal({}, _disk(encryptionSettingsCollection=ade))[1]
    key = {'secretUrl': 'https://kv.vault.azure.net/secrets/x/1', 'sourceVault': {'id': '/kv'}}
    single = {'enabled': True, 'encryptionSettingsVersion': '1.1', 'encryptionSettings': [{'diskEncryptionKey': key}]}
    # single-pass ADE with its key in Key Vault is unlocked on the rescue VM (test_rescue_ade.py): not refused
    assert refusal({}, _disk(encryptionSettingsCollection=single)) is None
    assert refusal({}, _disk(encryptionSettingsCollection=dict(single, enabled=False))) is None
    assert 'Key Vault' in refusal({}, _disk(encryptionSettingsCollection=dict(single, encryptionSettings=[{}])))[1]
    assert refusal({}, _disk()) is None


@pytest.mark.parametrize(
    ('facts', 'step'),
    [
        (dict(), 'copy'),
        (dict(copy_state='Updating'), 'wait_copy'),
        (dict(copy_state='Succeeded'), 'attach'),
        (dict(copy_state='Succeeded', copy_on_rescue=True), 'repair'),
        (dict(copy_state='Succeeded', copy_on_rescue=True, repaired=True), 'detach'),
        (dict(copy_state='Succeeded', repaired=True, power='running'), 'deallocate'),
        (dict(copy_state='Succeeded', repaired=True, power='deallocated'), 'swap'),
        (dict(on_copy=True, power='deallocated'), 'start'),
        (dict(on_copy=True, power='running'), 'confirm'),
        (dict(on_copy=True, power='running', agent_ready=True), 'done'),
        (dict(state='rolled_back', copy_on_rescue=True), 'detach'),
        (dict(state='rolled_back', on_copy=True, power='running'), 'deallocate'),
        (dict(state='rolled_back', on_copy=True, power='deallocated'), 'swap_back'),
        (dict(state='rolled_back', power='deallocated', recorded='rolled_back'), 'start'),
        (dict(state='rolled_back', power='running', recorded='rolled_back'), 'done'),
    ],
)
def test_the_next_step_comes_from_what_arm_shows(facts, step):
    assert next_step(Facts(**dict(dict(state='restored'), **facts))) == step


def _params(**kw):
    spec = options.ARGUMENT_SPEC
    out = dict((k, v.get('default')) for k, v in spec.items())
    out.update(state='restored', action='fstab', rescue_vm_id=VM)
    out.update(kw)
    return out


@pytest.mark.parametrize(
    ('changes', 'words'),
    [
        (dict(action=None), 'needs action'),
        (dict(action='remove_driver'), 'driver_file'),
        (dict(action='remove_driver', driver_file='/x/y.sys'), 'not a path'),
        (dict(action='custom'), 'script or script_file'),
        (dict(rescue_vm_id=None), 'rescue_vm_id'),
        (dict(rescue_vm_id='/subscriptions/x'), 'rescue_vm_id'),
        (dict(record_key='short'), 'at least 16'),
        (dict(wait_timeout=5), 'wait_timeout'),
        (dict(state='rolled_back'), 'leave out action'),
        (
            dict(
                rescue_vm_id=None,
                rescue_subnet_id='/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/'
                'virtualNetworks/v/subnets/s',
                rescue_resource_group='rg',
            ),
            'needs rescue_admin',
        ),  # fmt: skip
        (
            dict(
                rescue_vm_id=None,
                rescue_subnet_id='/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/'
                'virtualNetworks/v/subnets/s',
                rescue_resource_group='rg',
                rescue_admin_password='x',
                rescue_image='a:b:c',
            ),
            'publisher:offer:sku:version',
        ),  # fmt: skip
    ],
)
def test_bad_options_are_refused_naming_the_option(changes, words):
    with pytest.raises(TaskError) as exc:
        options.validate(_params(**changes))
    assert words in exc.value.msg and exc.value.reason_code == 'invalid_input'
    assert 'short' not in exc.value.msg


@pytest.mark.skipif(shutil.which('bash') is None, reason='bash not installed')
@pytest.mark.parametrize('action', options.LINUX_ACTIONS + ('custom',))
def test_every_linux_script_parses_and_carries_the_contract(action):
    text = options.script_for(_params(action=action, script='touch "$VMRESCUE_ROOT/x" {}'), 'Linux')
    lines = text.splitlines()
    assert lines[1] == '# vmrescue.azure offline_rescue' and lines[2] == '# vmrescue.azure action %s' % action
    assert subprocess.run(['bash', '-n'], input=text, text=True, capture_output=True).returncode == 0


@pytest.mark.parametrize('action', options.WINDOWS_ACTIONS)
def test_every_windows_script_carries_the_contract(action):
    text = options.script_for(_params(action=action, driver_file='a.sys'), 'Windows')
    lines = text.splitlines()
    assert lines[0] == '# vmrescue.azure offline_rescue' and lines[1] == '# vmrescue.azure action %s' % action
    assert lines[2].startswith('param(') and 'VMRESCUE changed=' in text
