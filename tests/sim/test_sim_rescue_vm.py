"""A rescue VM's life in the simulator (armsim/network.py, vmcreate.py, offline_repair.py): a NIC in a subnet and no
public IP, VM create and delete, and the offline rescue script on one LUN; the whole flow of issue 23 by hand.
Request and response bodies checked against virtualMachine.json / runCommand.json (2024-11-01)."""

import pytest
from rescuekit import DISK_API, NET_API, RG, copy_body, disk_path, done, nic_path, subnet_id, vm_path

import specconf

SCRIPT = '# vmrescue.azure offline_rescue\n# vmrescue.azure action {action}\necho repairing\n'


def make_nic(arm, name, public_ip=None):
    config = {'name': 'ipconfig1', 'properties': {'subnet': {'id': subnet_id(arm)}}}
    if public_ip:
        config['properties']['publicIPAddress'] = {'id': public_ip}
    resp = arm.put(nic_path(arm, name), {'location': 'westeurope', 'properties': {'ipConfigurations': [config]}},
                   api=NET_API)  # fmt: skip
    assert resp.status_code == 201, resp.text
    done(arm, resp)
    return nic_path(arm, name)


def vm_body(arm, nic, os_type='linux', **extra):
    image = (
        {'publisher': 'Canonical', 'offer': 'ubuntu-24_04-lts', 'sku': 'server', 'version': 'latest'}
        if os_type == 'linux'
        else {
            'publisher': 'MicrosoftWindowsServer',
            'offer': 'WindowsServer',
            'sku': '2022-datacenter-azure-edition',
            'version': 'latest',
        }  # fmt: skip
    )
    profile = {'computerName': 'rescue', 'adminUsername': 'rescueadmin'}
    if os_type == 'linux':
        profile['linuxConfiguration'] = {'disablePasswordAuthentication': True, 'ssh': {'publicKeys': [
            {'path': '/home/rescueadmin/.ssh/authorized_keys', 'keyData': 'ssh-ed25519 AAAA rescue'}]}}  # fmt: skip
    else:
        profile['adminPassword'] = 'N0t-a-real-Passw0rd!'
    body = {'location': 'westeurope', 'properties': {
        'hardwareProfile': {'vmSize': 'Standard_D2s_v5'},
        'storageProfile': {'imageReference': image, 'osDisk': {
            'createOption': 'FromImage', 'deleteOption': 'Delete', 'managedDisk': {'storageAccountType': 'StandardSSD_LRS'}}},
        'osProfile': profile,
        'networkProfile': {'networkInterfaces': [{'id': nic, 'properties': {'deleteOption': 'Delete'}}]},
        'securityProfile': {'securityType': 'TrustedLaunch', 'uefiSettings': {'secureBootEnabled': True, 'vTpmEnabled': True}},
        'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}},
    }}  # fmt: skip
    body['properties'].update(extra)
    return body


def create_vm(arm, name, nic, os_type='linux'):
    body = vm_body(arm, nic, os_type)
    assert specconf.errors(body, specconf.VM_PATH, 'put') == []
    resp = arm.put(vm_path(arm, name), body)
    assert resp.status_code == 201, resp.text
    assert specconf.errors(resp.json(), specconf.VM_PATH, 'put', '201') == []
    assert resp.json()['properties']['provisioningState'] == 'Creating'
    done(arm, resp)
    return vm_path(arm, name)


def attach(arm, vm, lun, disk_id):
    entry = {'lun': lun, 'createOption': 'Attach', 'managedDisk': {'id': disk_id}}
    done(arm, arm.patch(vm, {'properties': {'storageProfile': {'dataDisks': [entry]}}}))


def run(arm, vm, action, lun, name='rescue', **params):
    params = [{'name': 'VMRESCUE_LUN', 'value': str(lun)}] + [{'name': k, 'value': v} for k, v in params.items()]
    body = {'location': 'westeurope', 'properties': {'source': {'script': SCRIPT.format(action=action)},
                                                     'parameters': params}}  # fmt: skip
    assert specconf.errors(body, specconf.VM_RUN_COMMAND_PATH, 'put', swagger=specconf.RUN_COMMAND_SWAGGER) == []
    resp = arm.put(vm + f'/runCommands/{name}', body)
    assert resp.status_code in (200, 201), resp.text
    done(arm, resp)
    got = arm.get(vm + f'/runCommands/{name}', query={'$expand': 'instanceView'}).json()
    return got['properties']['instanceView']


def test_a_nic_in_a_subnet_and_a_vm_without_public_ip(sim, rescue):
    nic = make_nic(rescue, 'rescue-nic')
    got = rescue.get(nic, api=NET_API).json()
    config = got['properties']['ipConfigurations'][0]['properties']
    assert config['subnet']['id'] == subnet_id(rescue) and config['privateIPAddress'] == '10.0.1.4'
    assert 'publicIPAddress' not in config
    vm = create_vm(rescue, 'rescue-vm', nic)
    state = sim.control.vm(vm)
    assert state['power'] == 'running' and state['boot']['fault'] is None and state['boot']['generation'] == 'V2'
    os_disk = state['model']['properties']['storageProfile']['osDisk']
    assert (
        os_disk['name'].startswith('rescue-vm_OsDisk_1_')
        and os_disk['managedDisk']['storageAccountType'] == 'StandardSSD_LRS'
    )
    assert sim.control.disk(os_disk['managedDisk']['id'])['managedBy'] == vm
    assert rescue.get(nic, api=NET_API).json()['properties']['virtualMachine'] == {'id': vm}
    assert sim.control.public_ips() == []
    assert rescue.get(vm + '/instanceView').json()['vmAgent']['statuses'][0]['displayStatus'] == 'Ready'


def test_a_public_ip_only_when_asked(sim, rescue):
    ip_path = f'/subscriptions/{rescue.sub}/resourceGroups/{RG}/providers/Microsoft.Network/publicIPAddresses/pip'
    done(rescue, rescue.put(ip_path, {'location': 'westeurope', 'properties': {}}, api=NET_API))
    make_nic(rescue, 'with-ip', public_ip=ip_path)
    [public] = sim.control.public_ips()
    assert public['managedBy'].startswith(nic_path(rescue, 'with-ip'))
    refused = rescue.delete(ip_path, api=NET_API)
    assert refused.status_code == 400 and refused.json()['error']['code'] == 'PublicIPAddressInUse'


def test_network_refusals(rescue):
    bad = rescue.put(nic_path(rescue, 'x'), {'location': 'westeurope', 'properties': {'ipConfigurations': [
        {'name': 'c', 'properties': {'subnet': {'id': subnet_id(rescue, subnet='nope')}}}]}}, api=NET_API)  # fmt: skip
    assert bad.status_code == 400 and bad.json()['error']['code'] == 'InvalidResourceReference'
    nic = make_nic(rescue, 'rescue-nic')
    create_vm(rescue, 'rescue-vm', nic)
    in_use = rescue.delete(nic, api=NET_API)
    assert in_use.status_code == 400 and in_use.json()['error']['code'] == 'NicInUse'
    subnet = rescue.delete(subnet_id(rescue), api=NET_API)
    assert subnet.status_code == 400 and subnet.json()['error']['code'] == 'InUseSubnetCannotBeDeleted'
    second = rescue.put(vm_path(rescue, 'second'), vm_body(rescue, nic))
    assert second.status_code == 400 and second.json()['error']['code'] == 'NicInUse'
    no_user = vm_body(rescue, make_nic(rescue, 'n2'))
    del no_user['properties']['osProfile']['adminUsername']
    assert rescue.put(vm_path(rescue, 'third'), no_user).json()['error']['code'] == 'InvalidParameter'


def test_a_fleet_vms_nic_is_a_resource(sim, rescue):
    got = rescue.get(nic_path(rescue, 'lin-fstab-nic'), api=NET_API).json()
    assert got['properties']['virtualMachine'] == {'id': vm_path(rescue, 'lin-fstab')}
    assert got['properties']['ipConfigurations'][0]['properties']['subnet']['id'] == subnet_id(rescue)
    assert len(sim.control.nics()) == 10


def test_vm_delete_follows_the_delete_options(sim, rescue):
    nic = make_nic(rescue, 'rescue-nic')
    vm = create_vm(rescue, 'rescue-vm', nic)
    os_disk_id = sim.control.vm(vm)['model']['properties']['storageProfile']['osDisk']['managedDisk']['id']
    done(rescue, rescue.put(disk_path(rescue, 'data'), copy_body(rescue, 'lin-fstab_OsDisk_1'), api=DISK_API))
    attach(rescue, vm, 0, disk_path(rescue, 'data'))
    resp = rescue.delete(vm)
    assert resp.status_code == 202
    done(rescue, resp)
    assert rescue.get(vm).status_code == 404
    names = {d['name']: d for d in sim.control.disks()}
    assert os_disk_id.rsplit('/', 1)[-1] not in names, 'osDisk deleteOption Delete'
    assert names['data']['diskState'] == 'Unattached', 'a data disk defaults to Detach'
    assert rescue.get(nic, api=NET_API).status_code == 404, 'NIC deleteOption Delete'
    assert rescue.delete(vm).status_code == 204


def test_the_offline_rescue_flow_by_hand(sim, rescue):
    """Copy the OS disk of an unbootable VM, repair the copy on a rescue VM's LUN, swap it in, boot."""
    vm = create_vm(rescue, 'rescue-vm', make_nic(rescue, 'rescue-nic'))
    done(rescue, rescue.put(disk_path(rescue, 'fstab-copy'),
                            copy_body(rescue, 'lin-fstab_OsDisk_1', hyperVGeneration='V2'), api=DISK_API))  # fmt: skip
    done(rescue, rescue.put(disk_path(rescue, 'kernel-copy'),
                            copy_body(rescue, 'lin-kernel_OsDisk_1', hyperVGeneration='V2'), api=DISK_API))  # fmt: skip
    disks = [{'lun': n, 'createOption': 'Attach', 'managedDisk': {'id': disk_path(rescue, name)}}
             for n, name in ((1, 'fstab-copy'), (2, 'kernel-copy'))]  # fmt: skip
    done(rescue, rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': disks}}}))
    view = run(rescue, vm, 'fstab', 1)
    assert view['exitCode'] == 0 and view['executionState'] == 'Succeeded'
    assert view['output'].splitlines()[-2:] == [
        'VMRESCUE action=fstab lun=1 changed=true',
        'VMRESCUE changed=true failed=none',
    ]
    assert sim.control.disk(disk_path(rescue, 'fstab-copy'))['content']['faults'] == []
    assert sim.control.disk(disk_path(rescue, 'kernel-copy'))['content']['faults'] == ['kernel'], 'other LUNs untouched'
    again = run(rescue, vm, 'fstab', 1, name='rescue-again')  # the same run command again would not run again
    assert again['output'].splitlines()[-1] == 'VMRESCUE changed=false failed=none'
    done(rescue, rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': []}}}))
    source = vm_path(rescue, 'lin-fstab')
    done(rescue, rescue.post(source + '/deallocate'))
    swap = {'properties': {'storageProfile': {'osDisk': {'createOption': 'FromImage',
                                                         'managedDisk': {'id': disk_path(rescue, 'fstab-copy')}}}}}  # fmt: skip
    done(rescue, rescue.patch(source, swap))
    done(rescue, rescue.post(source + '/start'))
    assert rescue.get(source + '/instanceView').json()['vmAgent']['statuses'][0]['displayStatus'] == 'Ready'
    assert sim.control.disk(disk_path(rescue, 'lin-fstab_OsDisk_1'))['content']['faults'] == ['fstab']
    assert sim.control.disk(disk_path(rescue, 'fstab-copy'))['content']['repairs'][0] == {
        'action': 'fstab', 'lun': 1, 'changed': True}  # fmt: skip


@pytest.mark.parametrize(
    ('source', 'generation', 'action', 'params', 'changed', 'exit_code'),
    [
        ('lin-gen1-grub', 'V1', 'grubfix', {}, True, 0),
        ('lin-gen1-grub', 'V1', 'efifix', {}, False, 0),
        ('lin-disk-full', 'V2', 'auditd', {}, True, 0),
        ('win-bootloop', 'V2', 'remove_driver', {'VMRESCUE_DRIVER': 'C-00000291*.sys'}, True, 0),
        ('win-bootloop', 'V2', 'remove_driver', {}, False, 1),
        ('win-safe-mode', 'V2', 'safemode_off', {}, True, 0),
        ('lin-kernel', 'V2', 'chkdsk', {}, False, 1),
    ],
)
def test_actions_fix_their_fault_and_refuse_the_wrong_os(sim, rescue, source, generation, action, params, changed,
                                                         exit_code):  # fmt: skip
    vm = create_vm(rescue, 'rescue-vm', make_nic(rescue, 'rescue-nic'))
    done(rescue, rescue.put(disk_path(rescue, 'copy'), copy_body(rescue, f'{source}_OsDisk_1',
                                                                 hyperVGeneration=generation), api=DISK_API))  # fmt: skip
    attach(rescue, vm, 3, disk_path(rescue, 'copy'))
    view = run(rescue, vm, action, 3, **params)
    assert view['exitCode'] == exit_code, view
    assert (f'VMRESCUE action={action} lun=3 changed=true' in view['output']) is changed


def test_no_disk_at_the_lun_fails_the_script(rescue):
    vm = create_vm(rescue, 'rescue-vm', make_nic(rescue, 'rescue-nic'))
    view = run(rescue, vm, 'fstab', 5)
    assert view['exitCode'] == 1 and 'no disk at LUN 5' in view['error']
