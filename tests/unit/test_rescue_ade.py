"""Single-pass Azure Disk Encryption in the offline rescue (issue 23): what is unlocked, what is refused before any
write and why, the rescue VM's kind per Key Vault, the ADE extension's body (no secret in it), the unlock phase in
the decision and the record, and the unlock scripts (bash -n). No network."""

import shutil
import subprocess

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import (
    ade,
    names,
    record as rec,
    scripts_linux,
    scripts_windows,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.plan import (
    Facts,
    copy_body,
    next_step,
    refusal,
    steps_ahead,
)

SUB = '/subscriptions/5b0c3e2a-0000-4000-8000-00000000bbbb/resourceGroups/rg/providers'
DISK = SUB + '/Microsoft.Compute/disks/web-01_OsDisk_1'
VAULT = SUB + '/Microsoft.KeyVault/vaults/kv-web'
SECRET = 'https://kv-web.vault.azure.net/secrets/0f1e2d3c/4b5a69788796a5b4'
KEK = 'https://kv-web.vault.azure.net/keys/kek/0123456789abcdef'


def _disk(version='1.1', secret=SECRET, vault=VAULT, kek=None, **more):
    entry = {'diskEncryptionKey': {'secretUrl': secret, 'sourceVault': {'id': vault}}}
    if kek:
        entry['keyEncryptionKey'] = {'keyUrl': kek, 'sourceVault': {'id': vault}}
    ade_props = {'enabled': True, 'encryptionSettingsVersion': version, 'encryptionSettings': [entry]}
    props = dict({'osType': 'Linux', 'hyperVGeneration': 'V2', 'encryptionSettingsCollection': ade_props}, **more)
    return {'id': DISK, 'name': 'web-01_OsDisk_1', 'location': 'westeurope', 'properties': props}


def test_single_pass_with_a_key_vault_secret_is_accepted_with_or_without_a_kek():
    assert refusal({}, _disk()) is None
    assert refusal({}, _disk(kek=KEK)) is None


@pytest.mark.parametrize(
    ('vm', 'disk', 'words'),
    [
        ({}, _disk(version='1.0'), 'dual-pass'),
        (
            {'properties': {'storageProfile': {'osDisk': {'encryptionSettings': {'enabled': True}}}}},
            _disk(),
            'dual-pass',
        ),
        ({}, _disk(secret=None), 'without a Key Vault secret'),
        ({}, _disk(vault=None), 'without a Key Vault secret'),
        ({'properties': {'securityProfile': {'securityType': 'ConfidentialVM'}}}, _disk(), 'confidential VM'),
    ],
)
def test_the_rest_is_refused_before_any_write_with_its_reason(vm, disk, words):
    code, msg = refusal(vm, disk)
    assert code == 'unsupported_disk' and words in msg and 'before any write' in msg


def test_the_copy_keeps_the_encryption_settings_so_the_swapped_vm_boots_with_its_own_key():
    body = copy_body(_disk(kek=KEK), 'web-01')
    assert (
        body['properties']['encryptionSettingsCollection']
        == _disk(kek=KEK)['properties']['encryptionSettingsCollection']
    )


def test_one_rescue_vm_kind_per_key_vault_and_kek():
    one, same = ade.kind(ade.settings_of(_disk())), ade.kind(ade.settings_of(_disk(secret=SECRET + 'x')))
    other_vault = ade.kind(ade.settings_of(_disk(vault=VAULT + '2')))
    with_kek = ade.kind(ade.settings_of(_disk(kek=KEK)))
    assert one == same and len({one, other_vault, with_kek}) == 3 and ade.kind(None) == ''
    name = names.rescue_vm_name('westeurope', 'Linux', 'V2', 'x64', ade=one)
    assert name == 'vmrescue-westeurope-linux-v2-x64-ade%s-1' % one and len(name) <= names.MAX_VM_NAME
    assert names.rescue_vm_name('westeurope', 'Linux', 'V2', 'x64') == 'vmrescue-westeurope-linux-v2-x64-1'


def test_the_extension_names_the_vault_and_kek_never_a_secret_and_is_stable_per_copy():
    settings = ade.settings_of(_disk(kek=KEK))
    body = ade.extension_body(settings, 'Linux', 'westeurope', SUB + '/Microsoft.Compute/disks/c1')
    props = body['properties']
    assert (props['publisher'], props['type'], props['typeHandlerVersion']) == (
        'Microsoft.Azure.Security', 'AzureDiskEncryptionForLinux', '1.1')  # fmt: skip
    public = props['settings']
    assert public['EncryptionOperation'] == 'EnableEncryption' and public['VolumeType'] == 'Data'
    assert public['KeyVaultURL'] == 'https://kv-web.vault.azure.net/' and public['KeyVaultResourceId'] == VAULT
    assert public['KeyEncryptionKeyURL'] == KEK and public['KekVaultResourceId'] == VAULT
    assert 'protectedSettings' not in props and SECRET not in str(body)
    again = ade.extension_body(settings, 'Linux', 'westeurope', SUB + '/Microsoft.Compute/disks/C1')
    other = ade.extension_body(settings, 'Linux', 'westeurope', SUB + '/Microsoft.Compute/disks/c2')
    assert public['SequenceVersion'] == again['properties']['settings']['SequenceVersion']
    assert public['SequenceVersion'] != other['properties']['settings']['SequenceVersion']
    windows = ade.extension_body(ade.settings_of(_disk()), 'Windows', 'westeurope', 'c1')['properties']
    assert (windows['type'], windows['typeHandlerVersion'], windows['settings']['VolumeType']) == (
        'AzureDiskEncryption', '2.2', 'All')  # fmt: skip
    assert 'KeyEncryptionKeyURL' not in windows['settings']
    assert ade.describe(settings) == {'type': 'ade_single_pass', 'key_vault_id': VAULT, 'key_encryption_key': True}


@pytest.mark.parametrize(
    ('facts', 'step'),
    [
        (dict(copy_state='Succeeded', copy_on_rescue=True, encrypted=True), 'unlock'),
        (dict(copy_state='Succeeded', copy_on_rescue=True, encrypted=True, unlocked=True), 'repair'),
        (dict(copy_state='Succeeded', encrypted=True), 'attach'),
        (dict(copy_state='Succeeded', copy_on_rescue=True, encrypted=True, repaired=True), 'detach'),
        (dict(copy_state='Succeeded', copy_on_rescue=True), 'repair'),
    ],
)
def test_an_encrypted_copy_is_unlocked_between_attach_and_repair(facts, step):
    assert next_step(Facts(**dict(dict(state='restored'), **facts))) == step


def test_check_mode_shows_the_unlock_step_ahead():
    assert steps_ahead('copy', True) == ['copy', 'attach', 'unlock', 'repair', 'detach', 'deallocate', 'swap',
                                         'start', 'confirm']  # fmt: skip
    assert 'unlock' not in steps_ahead('copy', False) and steps_ahead('wait_copy', False)[0] == 'wait_copy'
    assert steps_ahead('repair', True)[0] == 'repair' and steps_ahead('done', True) == []


def test_the_record_knows_the_unlocked_phase_between_attached_and_repaired():
    record = rec.Record('unlocked', '2026-01-02T03:04:05Z', copy='c', rescue_vm='vmrescue-x-1', lun=0)
    parsed, _mac = rec.parse(rec.encode(record))
    assert parsed.phase == 'unlocked' and parsed.at_least('attached') and not parsed.at_least('repaired')


@pytest.mark.skipif(shutil.which('bash') is None, reason='bash not installed')
def test_the_unlock_scripts_carry_the_contract_and_never_print_a_key():
    text = scripts_linux.UNLOCK
    assert text.splitlines()[1] == '# vmrescue.azure offline_rescue unlock'
    assert subprocess.run(['bash', '-n'], input=text, text=True, capture_output=True).returncode == 0
    assert 'cat ' not in text and 'LinuxPassPhraseFileName' in text and '/dev/mapper/$name' in text
    assert scripts_windows.UNLOCK.splitlines()[0] == '# vmrescue.azure offline_rescue unlock'
    assert 'Unlock-BitLocker' in scripts_windows.UNLOCK and 'Get-Content' not in scripts_windows.UNLOCK
