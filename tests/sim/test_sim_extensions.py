"""VM extensions: VMAccessForLinux runs in the simulated guest; ARM's extension rules."""

import json

VMACCESS = {
    'publisher': 'Microsoft.OSTCExtensions',
    'type': 'VMAccessForLinux',
    'typeHandlerVersion': '1.5',
    'autoUpgradeMinorVersion': True,
}
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNewKeyNewKeyNewKeyNewKeyNewKeyNewKeyNewK1 admin@ops'


def vmaccess_body(protected=None, settings=None, tag=None):
    props = dict(VMACCESS, settings=settings or {})
    if protected is not None:
        props['protectedSettings'] = protected
    if tag is not None:
        props['forceUpdateTag'] = tag
    return {'location': 'westeurope', 'properties': props}


def guest_runs(sim, rg, name):
    return sim.control.guest(sim.vm_id(rg, name))['runs']


def test_vmaccess_runs_in_the_guest(sim, arm):
    path = arm.vm('rg-linux', 'lin-locked') + '/extensions/enablevmaccess'
    resp = arm.put(path, vmaccess_body({'username': 'rescue', 'ssh_key': KEY}))
    assert resp.status_code == 201
    assert resp.json()['properties']['provisioningState'] == 'Creating'
    assert 'protectedSettings' not in resp.json()['properties']
    assert arm.wait(resp)['status'] == 'Succeeded'
    guest = sim.control.guest(sim.vm_id('rg-linux', 'lin-locked'))
    assert 'rescue' in json.dumps(guest['users'])
    ext = arm.get(path, query={'$expand': 'instanceView'}).json()
    assert ext['properties']['provisioningState'] == 'Succeeded'
    assert 'protectedSettings' not in ext['properties']
    status = ext['properties']['instanceView']['statuses'][0]
    assert status['code'] == 'ProvisioningState/succeeded' and status['message'] == 'Enable succeeded.'
    view = arm.get(arm.vm('rg-linux', 'lin-locked') + '/instanceView').json()
    entry = next(e for e in view['extensions'] if e['name'] == 'enablevmaccess')
    assert entry['type'] == 'Microsoft.OSTCExtensions.VMAccessForLinux'


def test_protected_settings_never_returned(arm):
    path = arm.vm('rg-linux', 'lin-vmaccess')
    arm.wait(arm.put(path + '/extensions/resetaccess', vmaccess_body({'username': 'ops', 'ssh_key': KEY})))
    for url in (path + '/extensions/resetaccess', path + '/extensions', path):
        text = arm.get(url).text
        assert 'protectedSettings' not in text and KEY not in text


def test_one_extension_per_handler(arm):
    resp = arm.put(
        arm.vm('rg-linux', 'lin-vmaccess') + '/extensions/enablevmaccess',
        vmaccess_body({'username': 'ops', 'ssh_key': KEY}),
    )
    assert resp.status_code == 400
    assert resp.json()['error'] == {
        'code': 'BadRequest',
        'message': "Multiple VMExtensions per handler not supported for OS type 'Linux'. VMExtension 'resetaccess' "
        "with handler 'Microsoft.OSTCExtensions.VMAccessForLinux' already added or specified in input.",
    }


def test_identical_put_does_not_rerun_the_handler(sim, arm):
    path = arm.vm('rg-linux', 'lin-vmaccess') + '/extensions/resetaccess'
    body = vmaccess_body({'username': 'ops', 'ssh_key': KEY}, tag='1')
    assert arm.wait(arm.put(path, body))['status'] == 'Succeeded'
    runs = guest_runs(sim, 'rg-linux', 'lin-vmaccess')
    again = arm.put(path, body)
    assert again.status_code == 200
    assert arm.wait(again)['status'] == 'Succeeded'
    assert guest_runs(sim, 'rg-linux', 'lin-vmaccess') == runs


def test_force_update_tag_or_protected_change_reruns(sim, arm):
    path = arm.vm('rg-linux', 'lin-vmaccess') + '/extensions/resetaccess'
    arm.wait(arm.put(path, vmaccess_body({'username': 'ops', 'ssh_key': KEY}, tag='1')))
    runs = guest_runs(sim, 'rg-linux', 'lin-vmaccess')
    arm.wait(arm.put(path, vmaccess_body({'username': 'ops', 'ssh_key': KEY}, tag='2')))
    assert guest_runs(sim, 'rg-linux', 'lin-vmaccess') == runs + 1
    arm.wait(arm.put(path, vmaccess_body({'username': 'ops2', 'ssh_key': KEY}, tag='2')))
    assert guest_runs(sim, 'rg-linux', 'lin-vmaccess') == runs + 2
    arm.wait(arm.put(path, vmaccess_body({'username': 'ops2', 'ssh_key': KEY}, settings={'check_disk': True}, tag='2')))
    assert guest_runs(sim, 'rg-linux', 'lin-vmaccess') == runs + 3


def test_handler_failure(sim, arm):
    path = arm.vm('rg-linux', 'lin-vmaccess') + '/extensions/resetaccess'
    resp = arm.put(path, vmaccess_body({'username': 'ops'}))  # no password, no key
    done = arm.wait(resp)
    assert done['status'] == 'Failed'
    assert done['error']['code'] == 'VMExtensionProvisioningError'
    message = done['error']['message']
    assert message.startswith(
        "VM has reported a failure when processing extension 'resetaccess' (publisher "
        "'Microsoft.OSTCExtensions' and type 'VMAccessForLinux'). Error message: 'Enable failed: "
    )
    assert message.endswith(
        "'. More information on troubleshooting is available at https://aka.ms/VMExtensionLinuxTroubleshoot"
    )
    ext = arm.get(path, query={'$expand': 'instanceView'}).json()['properties']
    assert ext['provisioningState'] == 'Failed'
    status = ext['instanceView']['statuses'][0]
    assert status['code'] == 'ProvisioningState/failed/1' and status['level'] == 'Error'
    assert status['message'].startswith('Enable failed: ')


def test_stopped_vm_rejects_extension_changes(arm):
    resp = arm.put(arm.vm('rg-linux', 'lin-stopped') + '/extensions/enablevmaccess', vmaccess_body({'reset_ssh': True}))
    assert resp.status_code == 409
    assert resp.json()['error'] == {
        'code': 'OperationNotAllowed',
        'message': 'Cannot modify extensions in the VM when the VM is not running.',
    }
    resp = arm.put(
        arm.vm('rg-linux', 'lin-deallocated') + '/extensions/enablevmaccess', vmaccess_body({'reset_ssh': True})
    )
    assert resp.status_code == 409


def test_vmaccess_for_linux_fails_on_windows(arm):
    resp = arm.put(
        arm.vm('rg-windows', 'win-ok') + '/extensions/enablevmaccess',
        vmaccess_body({'username': 'x', 'password': 'Pa55w.rd-123'}),
    )
    done = arm.wait(resp)
    assert done['status'] == 'Failed' and done['error']['code'] == 'VMExtensionHandlerNonTransientError'


def test_other_extensions_succeed_and_show_in_instance_view(arm):
    path = arm.vm('rg-linux', 'lin-aad')
    listed = arm.get(path + '/extensions').json()['value']
    assert [e['name'] for e in listed] == ['AADSSHLoginForLinux']
    resp = arm.put(
        path + '/extensions/AADSSHLoginForLinux',
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.Azure.ActiveDirectory',
                'type': 'AADSSHLoginForLinux',
                'typeHandlerVersion': '1.0',
                'forceUpdateTag': 'rerun',
            },
        },
    )
    assert resp.status_code == 200 and arm.wait(resp)['status'] == 'Succeeded'
    view = arm.get(path + '/instanceView').json()
    names = [e['name'] for e in view['extensions']]
    assert 'AADSSHLoginForLinux' in names and 'AzureProxyAgentExtension' in names
    expanded = arm.get(path + '/extensions', query={'$expand': 'instanceView'}).json()['value'][0]
    assert expanded['properties']['instanceView']['statuses'][0]['code'] == 'ProvisioningState/succeeded'


def test_delete_extension(arm):
    path = arm.vm('rg-linux', 'lin-aad') + '/extensions/AADSSHLoginForLinux'
    resp = arm.delete(path)
    assert resp.status_code == 202
    arm.wait(resp)
    assert arm.get(path).status_code == 404
    assert arm.delete(path).status_code == 204


def test_extension_on_uniform_instance(sim, arm):
    path = arm.instance('rg-vmss', 'ss-uniform', 1) + '/extensions/enablevmaccess'
    resp = arm.put(path, vmaccess_body({'username': 'rescue', 'ssh_key': KEY}))
    assert resp.status_code == 201 and arm.wait(resp)['status'] == 'Succeeded'
    got = arm.get(path).json()
    assert got['type'] == 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/extensions'
    guest = sim.control.guest(sim.instance_id('rg-vmss', 'ss-uniform', 1))
    assert 'rescue' in json.dumps(guest['users'])


def test_extension_write_during_vm_update_conflicts(sim, arm):
    sim.control.config(lro_seconds=1)
    vm = arm.vm('rg-linux', 'lin-aad')
    first = arm.raise_key(vm, 2)
    resp = arm.put(
        vm + '/extensions/AADSSHLoginForLinux',
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.Azure.ActiveDirectory',
                'type': 'AADSSHLoginForLinux',
                'typeHandlerVersion': '1.0',
            },
        },
    )
    assert resp.status_code == 409
    arm.wait(first)
