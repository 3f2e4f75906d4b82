"""Managed disks and snapshots in the simulator (armsim/disks.py, disk_routes.py): each rule with a test that fails
without it, the bodies checked against the DiskRP definitions (specconf_disk.py)."""

import pytest
import specconf_disk
from rescuekit import DISK_API, RG, copy_body, disk_path, done, vm_path


def get_disk(arm, name, kind='disks'):
    resp = arm.get(disk_path(arm, name, kind), api=DISK_API)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert specconf_disk.errors(body, 'Disk' if kind == 'disks' else 'Snapshot') == []
    assert specconf_disk.swagger_errors(body, kind, 'get', '200') == []
    return body


def put_disk(arm, name, body, kind='disks'):
    assert specconf_disk.errors(body, 'Disk' if kind == 'disks' else 'Snapshot', mode='request') == []
    assert specconf_disk.swagger_errors(body, kind, 'put') == []
    return arm.put(disk_path(arm, name, kind), body, api=DISK_API)


def test_a_fleet_vms_os_disk_is_a_disk_resource_attached_to_it(rescue):
    disk = get_disk(rescue, 'lin-fstab_OsDisk_1')
    assert disk['managedBy'] == vm_path(rescue, 'lin-fstab')
    props = disk['properties']
    assert props['diskState'] == 'Attached' and props['osType'] == 'Linux' and props['hyperVGeneration'] == 'V2'
    assert props['creationData']['createOption'] == 'FromImage' and props['provisioningState'] == 'Succeeded'
    assert get_disk(rescue, 'lin-arm64_OsDisk_1')['properties']['supportedCapabilities']['architecture'] == 'Arm64'
    assert get_disk(rescue, 'lin-gen1-grub_OsDisk_1')['properties']['hyperVGeneration'] == 'V1'
    assert rescue.get(disk_path(rescue, 'nope_OsDisk_1'), api=DISK_API).json()['error']['code'] == 'ResourceNotFound'


def test_lists_by_group_and_subscription_hold_every_os_disk(rescue):
    by_group = rescue.get(f'/subscriptions/{rescue.sub}/resourceGroups/{RG}/providers/Microsoft.Compute/disks',
                          api=DISK_API, query={'$top': '100'}).json()  # fmt: skip
    names = {d['name'] for d in by_group['value']}
    while by_group.get('nextLink'):
        by_group = rescue.get(by_group['nextLink'], api=None).json()
        names |= {d['name'] for d in by_group['value']}
    assert len(names) == 10 and 'win-bootloop_OsDisk_1' in names
    by_sub = rescue.get(f'/subscriptions/{rescue.sub}/providers/Microsoft.Compute/disks', api=DISK_API).json()
    assert {d['name'] for d in by_sub['value']} <= names and by_sub['value']
    for item in by_sub['value']:
        assert specconf_disk.errors(item, 'Disk') == []


def test_a_copy_is_a_long_running_put_that_copies_the_guest_but_not_the_generation(sim, rescue):
    resp = put_disk(rescue, 'fstab-copy', copy_body(rescue, 'lin-fstab_OsDisk_1'))
    assert resp.status_code == 202 and 'Azure-AsyncOperation' in resp.headers
    assert resp.json()['properties']['provisioningState'] == 'Updating'
    done(rescue, resp)
    copy = get_disk(rescue, 'fstab-copy')
    props = copy['properties']
    assert props['provisioningState'] == 'Succeeded' and props['diskState'] == 'Unattached'
    assert 'managedBy' not in copy and props['diskSizeGB'] == 30 and props['osType'] == 'Linux'
    assert 'hyperVGeneration' not in props, 'Azure does not carry the generation into a copy (SupportArticles #214)'
    assert props['creationData']['sourceUniqueId'] == get_disk(rescue, 'lin-fstab_OsDisk_1')['properties']['uniqueId']
    state = sim.control.disk(copy['id'])
    assert state['content']['faults'] == ['fstab'] and state['diskState'] == 'Unattached'


def test_a_copy_keeps_what_the_request_names(sim, rescue):
    body = copy_body(rescue, 'lin-arm64_OsDisk_1', hyperVGeneration='V2',
                     supportedCapabilities={'architecture': 'Arm64', 'diskControllerTypes': 'SCSI'},
                     securityProfile={'securityType': 'TrustedLaunch'})  # fmt: skip
    body['zones'], body['sku'] = ['1'], {'name': 'StandardSSD_LRS'}
    done(rescue, put_disk(rescue, 'arm-copy', body))
    copy = get_disk(rescue, 'arm-copy')
    assert copy['zones'] == ['1'] and copy['sku']['name'] == 'StandardSSD_LRS'
    assert copy['properties']['supportedCapabilities']['architecture'] == 'Arm64'
    assert copy['properties']['securityProfile'] == {'securityType': 'TrustedLaunch'}
    sim.control.config(disk_copy_keeps_properties=True)
    done(rescue, put_disk(rescue, 'kept', copy_body(rescue, 'lin-arm64_OsDisk_1')))
    kept = get_disk(rescue, 'kept')['properties']
    assert kept['hyperVGeneration'] == 'V2' and kept['supportedCapabilities']['architecture'] == 'Arm64'


def test_snapshot_then_disk_from_the_snapshot(sim, rescue):
    snap = {'location': 'westeurope', 'properties': {'creationData': {
        'createOption': 'Copy', 'sourceResourceId': disk_path(rescue, 'win-bootloop_OsDisk_1')}}}  # fmt: skip
    done(rescue, put_disk(rescue, 'loop-snap', snap, kind='snapshots'))
    got = get_disk(rescue, 'loop-snap', kind='snapshots')
    assert got['type'] == 'Microsoft.Compute/snapshots' and got['properties']['hyperVGeneration'] == 'V2'
    body = {'location': 'westeurope', 'properties': {'hyperVGeneration': 'V2', 'creationData': {
        'createOption': 'Copy', 'sourceResourceId': got['id']}}}  # fmt: skip
    done(rescue, put_disk(rescue, 'loop-fix', body))
    state = sim.control.disk(get_disk(rescue, 'loop-fix')['id'])
    assert state['content']['faults'] == ['bootloop_driver'] and state['content']['driver'].startswith('C-00000291')
    assert state['hyperVGeneration'] == 'V2' and state['sourceResourceId'] == got['id']
    listed = rescue.get(f'/subscriptions/{rescue.sub}/providers/Microsoft.Compute/snapshots', api=DISK_API).json()
    assert [s['name'] for s in listed['value']] == ['loop-snap']


def test_create_refusals(rescue):
    missing = put_disk(rescue, 'x', copy_body(rescue, 'no-such-disk'))
    assert missing.status_code == 404 and missing.json()['error']['code'] == 'ResourceNotFound'
    empty = rescue.put(disk_path(rescue, 'e'), {'location': 'westeurope', 'properties': {
        'creationData': {'createOption': 'Empty'}}}, api=DISK_API)  # fmt: skip
    assert empty.status_code == 400 and empty.json()['error']['code'] == 'InvalidParameter'
    small = put_disk(rescue, 's', copy_body(rescue, 'win-healthy_OsDisk_1', diskSizeGB=64))
    assert small.status_code == 400 and 'smaller' in small.json()['error']['message']
    no_location = rescue.put(disk_path(rescue, 'n'), {'properties': {'creationData': {'createOption': 'Empty'}}},
                             api=DISK_API)  # fmt: skip
    assert no_location.status_code == 400


def test_an_attached_disk_cannot_be_deleted_an_unattached_one_can(rescue):
    refused = rescue.delete(disk_path(rescue, 'lin-healthy_OsDisk_1'), api=DISK_API)
    assert refused.status_code == 409
    assert refused.json()['error'] == {
        'code': 'OperationNotAllowed',
        'message': f'Disk lin-healthy_OsDisk_1 is attached to VM {vm_path(rescue, "lin-healthy")}.',
    }
    done(rescue, put_disk(rescue, 'tmp', {'location': 'westeurope', 'properties': {
        'creationData': {'createOption': 'Empty'}, 'diskSizeGB': 8}}))  # fmt: skip
    deleted = rescue.delete(disk_path(rescue, 'tmp'), api=DISK_API)
    assert deleted.status_code == 202
    done(rescue, deleted)
    assert rescue.get(disk_path(rescue, 'tmp'), api=DISK_API).status_code == 404
    assert rescue.delete(disk_path(rescue, 'tmp'), api=DISK_API).status_code == 204


def test_disk_state_is_reserved_on_a_deallocated_vm(rescue):
    done(rescue, rescue.post(vm_path(rescue, 'lin-healthy') + '/deallocate'))
    assert get_disk(rescue, 'lin-healthy_OsDisk_1')['properties']['diskState'] == 'Reserved'
    done(rescue, rescue.post(vm_path(rescue, 'lin-healthy') + '/start'))
    assert get_disk(rescue, 'lin-healthy_OsDisk_1')['properties']['diskState'] == 'Attached'


def test_patch_updates_tags_and_refuses_a_resize_while_running(rescue):
    update = {'tags': {'vmrescue-rescue': 'copied@2026-01-01T00:00:00Z'}}
    assert specconf_disk.errors(update, 'DiskUpdate', mode='request') == []
    resp = rescue.patch(disk_path(rescue, 'lin-kernel_OsDisk_1'), update, api=DISK_API)
    assert resp.status_code == 200
    done(rescue, resp)
    assert get_disk(rescue, 'lin-kernel_OsDisk_1')['tags'] == update['tags']
    grow = rescue.patch(disk_path(rescue, 'lin-kernel_OsDisk_1'), {'properties': {'diskSizeGB': 64}}, api=DISK_API)
    assert grow.status_code == 409 and grow.json()['error']['message'].startswith('Cannot resize disk')


@pytest.mark.parametrize('kind', ['disks', 'snapshots'])
def test_put_of_an_existing_disk_cannot_change_its_creation(rescue, kind):
    source = {'location': 'westeurope', 'properties': {'creationData': {
        'createOption': 'Copy', 'sourceResourceId': disk_path(rescue, 'lin-healthy_OsDisk_1')}}}  # fmt: skip
    done(rescue, put_disk(rescue, 'c1', source, kind=kind))
    again = rescue.put(disk_path(rescue, 'c1', kind), {'location': 'westeurope', 'properties': {
        'creationData': {'createOption': 'Empty'}, 'diskSizeGB': 30}}, api=DISK_API)  # fmt: skip
    assert again.status_code == 409 and again.json()['error']['code'] == 'PropertyChangeNotAllowed'
