"""Azure Disk Encryption single pass in the simulator (armsim/ade.py): a copy keeps the encryption settings and the
encrypted content; a locked copy fails every repair action with a clear error; the ADE extension on the rescue VM
brings the key of the attached disks of its Key Vault only; the unlock script opens the copy at its LUN; a detach
forgets it; a VM boots an encrypted OS disk only when the disk's own settings name its key. Bodies checked against
the specs (virtualMachineExtension, disk)."""

import specconf_disk
from rescuekit import DISK_API, copy_body, disk_path, done, vm_path
from test_sim_rescue_vm import create_vm, make_nic, run

import specconf

SECRET = 'https://kv-a.vault.azure.net/secrets/11aa22bb/0123456789abcdef'
UNLOCK = '#!/bin/bash\n# vmrescue.azure offline_rescue unlock\necho unlocking\n'


def _vault(arm, name='kv-a'):
    return f'/subscriptions/{arm.sub}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/{name}'


def _ade(arm, vault):
    body = {'location': 'westeurope', 'properties': {
        'publisher': 'Microsoft.Azure.Security', 'type': 'AzureDiskEncryptionForLinux', 'typeHandlerVersion': '1.1',
        'autoUpgradeMinorVersion': True,
        'settings': {'EncryptionOperation': 'EnableEncryption', 'KeyVaultURL': 'https://kv-a.vault.azure.net/',
                     'KeyVaultResourceId': vault, 'VolumeType': 'Data', 'SequenceVersion': vault[-4:]}}}  # fmt: skip
    assert specconf.errors(body, specconf.VM_EXTENSION_PATH, 'put') == []
    return body


def _unlock(arm, vm, lun, name):
    body = {'location': 'westeurope', 'properties': {'source': {'script': UNLOCK},
                                                     'parameters': [{'name': 'VMRESCUE_LUN', 'value': str(lun)}]}}  # fmt: skip
    done(arm, arm.put(vm + f'/runCommands/{name}', body))
    return arm.get(vm + f'/runCommands/{name}', query={'$expand': 'instanceView'}).json()['properties']['instanceView']


def _put_extension(arm, vm, vault):
    resp = arm.put(vm + '/extensions/AzureDiskEncryptionForLinux', _ade(arm, vault))
    assert specconf.errors(resp.json(), specconf.VM_EXTENSION_PATH, 'put', str(resp.status_code)) == []
    done(arm, resp)


def test_an_encrypted_copy_is_unlocked_by_the_ade_extension_of_its_vault_then_repaired(sim, rescue):
    source = vm_path(rescue, 'lin-fstab')
    sim.control.set_ade(source, SECRET, _vault(rescue))
    vm = create_vm(rescue, 'rescue-vm', make_nic(rescue, 'rescue-nic'))
    done(rescue, rescue.put(disk_path(rescue, 'enc-copy'), copy_body(rescue, 'lin-fstab_OsDisk_1'), api=DISK_API))
    got = rescue.get(disk_path(rescue, 'enc-copy'), api=DISK_API).json()
    assert got['properties']['encryptionSettingsCollection']['encryptionSettingsVersion'] == '1.1', 'kept by the copy'
    assert specconf_disk.errors(got, 'Disk') == [] and specconf_disk.swagger_errors(got, 'disks', 'get', '200') == []
    entry = {'lun': 0, 'createOption': 'Attach', 'managedDisk': {'id': disk_path(rescue, 'enc-copy')}}
    done(rescue, rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': [entry]}}}))
    locked = run(rescue, vm, 'fstab', 0, name='locked')
    assert locked['exitCode'] == 1 and 'encrypted (Azure Disk Encryption) and locked' in locked['error'], locked
    assert sim.control.disk(disk_path(rescue, 'enc-copy'))['content']['faults'] == ['fstab'], 'nothing changed'
    no_bek = _unlock(rescue, vm, 0, 'unlock-0')
    assert no_bek['exitCode'] == 1 and 'BEK volume' in no_bek['error'], no_bek
    _put_extension(rescue, vm, _vault(rescue, 'kv-other'))  # another vault: no key of this copy
    assert _unlock(rescue, vm, 0, 'unlock-1')['exitCode'] == 1
    _put_extension(rescue, vm, _vault(rescue))
    opened = _unlock(rescue, vm, 0, 'unlock-2')
    assert opened['exitCode'] == 0 and 'unlocked=true' in opened['output'] and SECRET not in str(opened), opened
    fixed = run(rescue, vm, 'fstab', 0, name='repair')
    assert fixed['exitCode'] == 0 and fixed['output'].splitlines()[-1] == 'VMRESCUE changed=true failed=none'
    done(rescue, rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': []}}}))
    done(rescue, rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': [entry]}}}))
    again = run(rescue, vm, 'kernel', 0, name='after-detach')
    assert again['exitCode'] == 1 and 'locked' in again['error'], 'a detach forgets the unlock'


def test_an_encrypted_os_disk_boots_only_with_its_own_settings(sim, rescue):
    source = vm_path(rescue, 'lin-healthy')
    sim.control.set_ade(source, SECRET, _vault(rescue))
    assert sim.control.vm(source)['boot']['fault'] is None, 'its settings name its key: it boots'
    plain = copy_body(rescue, 'lin-healthy_OsDisk_1', hyperVGeneration='V2')
    done(rescue, rescue.put(disk_path(rescue, 'kept'), plain, api=DISK_API))
    done(rescue, rescue.patch(disk_path(rescue, 'kept'), {'properties': {'encryptionSettingsCollection': {
        'enabled': False}}}, api=DISK_API))  # fmt: skip
    done(rescue, rescue.post(source + '/deallocate'))
    swap = {'properties': {'storageProfile': {'osDisk': {'createOption': 'FromImage',
                                                         'managedDisk': {'id': disk_path(rescue, 'kept')}}}}}  # fmt: skip
    done(rescue, rescue.patch(source, swap))
    done(rescue, rescue.post(source + '/start'))
    state = sim.control.vm(source)
    assert state['boot']['fault'] == 'ade_locked' and state['boot']['agent_blocked'], state['boot']


def test_dual_pass_sets_the_vm_models_encryption_settings(sim, rescue):
    source = vm_path(rescue, 'lin-kernel')
    sim.control.set_ade(source, SECRET, _vault(rescue), version='1.0')
    model = rescue.get(source).json()
    assert model['properties']['storageProfile']['osDisk']['encryptionSettings']['enabled'] is True
    assert specconf.errors(model, specconf.VM_PATH, 'get', '200') == []
