"""A VM's disks through its model (armsim/vmdisks.py): attach / detach by LUN, the OS disk swap and their
refusals; request and response bodies checked against virtualMachine.json (2024-11-01)."""

from rescuekit import DISK_API, copy_body, disk_path, done, vm_path

import specconf


def copy(arm, name, source, **props):
    done(arm, arm.put(disk_path(arm, name), copy_body(arm, source, **props), api=DISK_API))
    return disk_path(arm, name)


def attach_body(*entries):
    disks = [{'lun': lun, 'createOption': 'Attach', 'managedDisk': {'id': disk_id}} for lun, disk_id in entries]
    return {'properties': {'storageProfile': {'dataDisks': disks}}}


def patch(arm, vm, body, **kw):
    assert specconf.errors(body, specconf.VM_PATH, 'patch') == []
    return arm.patch(vm_path(arm, vm), body, **kw)


def disk_state(sim, arm, name):
    return sim.control.disk(disk_path(arm, name))


def test_attach_at_a_lun_then_detach_with_to_be_detached(sim, rescue):
    copy_id = copy(rescue, 'fstab-copy', 'lin-fstab_OsDisk_1')
    resp = patch(rescue, 'lin-healthy', attach_body((1, copy_id)))
    assert resp.status_code == 200, resp.text
    assert specconf.errors(resp.json(), specconf.VM_PATH, 'patch', '200') == []
    entry = resp.json()['properties']['storageProfile']['dataDisks'][0]
    assert entry['name'] == 'fstab-copy' and entry['lun'] == 1 and entry['toBeDetached'] is False
    assert entry['managedDisk']['id'] == copy_id and entry['diskSizeGB'] == 30
    state = disk_state(sim, rescue, 'fstab-copy')
    assert state['diskState'] == 'Attached' and state['managedBy'] == vm_path(rescue, 'lin-healthy')
    done(rescue, resp)
    view = rescue.get(vm_path(rescue, 'lin-healthy') + '/instanceView').json()
    assert [d['name'] for d in view['disks']] == ['lin-healthy_OsDisk_1', 'fstab-copy']
    model = rescue.get(vm_path(rescue, 'lin-healthy')).json()
    model['properties']['storageProfile']['dataDisks'][0]['toBeDetached'] = True
    detach = patch(rescue, 'lin-healthy', {'properties': {'storageProfile': model['properties']['storageProfile']}})
    assert detach.json()['properties']['storageProfile']['dataDisks'][0]['toBeDetached'] is True
    done(rescue, detach)
    assert rescue.get(vm_path(rescue, 'lin-healthy')).json()['properties']['storageProfile']['dataDisks'] == []
    assert disk_state(sim, rescue, 'fstab-copy')['diskState'] == 'Unattached'


def test_a_disk_left_out_of_the_list_is_detached(sim, rescue):
    a, b = copy(rescue, 'a', 'lin-kernel_OsDisk_1'), copy(rescue, 'b', 'lin-kernel_OsDisk_1')
    done(rescue, patch(rescue, 'lin-healthy', attach_body((0, a), (1, b))))
    done(rescue, patch(rescue, 'lin-healthy', attach_body((1, b))))
    assert disk_state(sim, rescue, 'a')['diskState'] == 'Unattached'
    assert disk_state(sim, rescue, 'b')['managedBy'] == vm_path(rescue, 'lin-healthy')


def test_attach_refusals(sim, rescue):
    a, b = copy(rescue, 'a', 'lin-kernel_OsDisk_1'), copy(rescue, 'b', 'lin-kernel_OsDisk_1')
    clash = patch(rescue, 'lin-healthy', attach_body((0, a), (0, b)))
    assert clash.status_code == 400 and clash.json()['error'] == {
        'code': 'InvalidParameter', 'message': 'A disk at LUN 0 already exists.'}  # fmt: skip
    out_of_range = patch(rescue, 'lin-healthy', attach_body((64, a)))
    assert out_of_range.json()['error']['message'] == "The value of parameter 'dataDisk.lun' is out of range."
    taken = patch(rescue, 'lin-healthy', attach_body((0, disk_path(rescue, 'lin-fstab_OsDisk_1'))))
    assert taken.status_code == 409
    error = taken.json()['error']
    assert error['code'] == 'ConflictingUserInput' and error['target'] == disk_path(rescue, 'lin-fstab_OsDisk_1')
    assert error['message'].endswith('A disk can be attached to only one VM at a time.')
    missing = patch(rescue, 'lin-healthy', attach_body((0, disk_path(rescue, 'nope'))))
    assert missing.status_code == 404
    assert disk_state(sim, rescue, 'a')['diskState'] == 'Unattached', 'a refused write attaches nothing'


def test_the_size_caps_the_data_disks(rescue):
    ids = [copy(rescue, f'd{n}', 'lin-healthy_OsDisk_1') for n in range(5)]
    too_many = patch(rescue, 'lin-kernel', attach_body(*enumerate(ids)))
    assert too_many.status_code == 409
    assert too_many.json()['error'] == {
        'code': 'OperationNotAllowed',
        'message': 'The maximum number of data disks allowed to be attached to a VM of this size is 4.',
        'target': 'dataDisks',
    }
    assert patch(rescue, 'lin-kernel', attach_body(*enumerate(ids[:4]))).status_code == 200


def test_an_empty_data_disk_is_created_and_attached(sim, rescue):
    body = {'properties': {'storageProfile': {'dataDisks': [{'lun': 2, 'createOption': 'Empty', 'diskSizeGB': 16}]}}}
    done(rescue, patch(rescue, 'lin-healthy', body))
    state = disk_state(sim, rescue, 'lin-healthy_DataDisk_2')
    assert state['diskSizeGB'] == 16 and state['diskState'] == 'Attached' and state['content'] is None


def swap_body(disk_id, option='FromImage'):
    return {'properties': {'storageProfile': {'osDisk': {'createOption': option, 'managedDisk': {'id': disk_id}}}}}


def test_the_os_disk_swaps_only_on_a_deallocated_vm_of_the_same_generation(sim, rescue):
    plain = copy(rescue, 'plain', 'lin-fstab_OsDisk_1')
    gen2 = copy(rescue, 'gen2', 'lin-fstab_OsDisk_1', hyperVGeneration='V2')
    running = patch(rescue, 'lin-fstab', swap_body(gen2))
    assert running.status_code == 409 and running.json()['error'] == {
        'code': 'PropertyChangeNotAllowed', 'message': "Changing property 'osDisk.managedDisk.id' is not allowed."}  # fmt: skip
    done(rescue, rescue.post(vm_path(rescue, 'lin-fstab') + '/deallocate'))
    wrong_gen = patch(rescue, 'lin-fstab', swap_body(plain))
    assert wrong_gen.status_code == 409 and wrong_gen.json()['error']['message'].startswith(
        'Swapping OS Disk is not supported since HyperVisor property on the OSDisk and VM do not match.')  # fmt: skip
    attach = patch(rescue, 'lin-fstab', swap_body(gen2, option='Attach'))
    assert attach.json()['error']['message'] == "Changing property 'osDisk.createOption' is not allowed."
    etag = rescue.get(vm_path(rescue, 'lin-fstab')).headers['ETag']
    stale = patch(rescue, 'lin-fstab', swap_body(gen2), headers={'If-Match': '"999"'})
    assert stale.status_code == 412
    swapped = patch(rescue, 'lin-fstab', swap_body(gen2), headers={'If-Match': etag})
    assert swapped.status_code == 200, swapped.text
    os_disk = swapped.json()['properties']['storageProfile']['osDisk']
    assert os_disk['managedDisk']['id'] == gen2 and os_disk['name'] == 'gen2'
    assert disk_state(sim, rescue, 'lin-fstab_OsDisk_1')['diskState'] == 'Unattached'
    assert disk_state(sim, rescue, 'gen2')['diskState'] == 'Reserved'
    done(rescue, swapped)


def test_the_swap_checks_architecture_and_ownership(rescue):
    done(rescue, rescue.post(vm_path(rescue, 'lin-arm64') + '/deallocate'))
    x64 = copy(rescue, 'x64', 'lin-arm64_OsDisk_1', hyperVGeneration='V2')
    refused = patch(rescue, 'lin-arm64', swap_body(x64))
    assert refused.status_code == 409 and 'Architecture' in refused.json()['error']['message']
    elsewhere = patch(rescue, 'lin-arm64', swap_body(disk_path(rescue, 'lin-healthy_OsDisk_1')))
    assert elsewhere.status_code == 409 and elsewhere.json()['error']['code'] == 'ConflictingUserInput'
