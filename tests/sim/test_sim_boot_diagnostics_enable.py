"""The write behind the module boot_diagnostics, on the simulator: a VM PATCH of diagnosticsProfile.bootDiagnostics
(Compute 2024-11-01, VirtualMachines_Update) and the Uniform instance PUT are accepted, stored, and their request and
response bodies conform to the official spec; boot diagnostics off refuses retrieveBootDiagnosticsData, on serves
it again."""

from test_spec_conformance import problems

OFF = {'properties': {'diagnosticsProfile': {'bootDiagnostics': {'enabled': False}}}}
ON = {'properties': {'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}}}}


def boot_diagnostics(arm, path):
    return arm.get(path).json()['properties']['diagnosticsProfile']['bootDiagnostics']


def test_vm_patch_turns_boot_diagnostics_off_and_on_managed(arm):
    vm = arm.vm('rg-linux', 'lin-ok')
    found = problems(OFF, vm, 'patch') + problems(ON, vm, 'patch')
    resp = arm.patch(vm, OFF)
    assert resp.status_code == 200, resp.text
    found += problems(resp.json(), vm, 'patch', 200)
    arm.wait(resp)
    assert boot_diagnostics(arm, vm) == {'enabled': False}
    refused = arm.post(vm + '/retrieveBootDiagnosticsData')
    assert refused.status_code == 409 and refused.json()['error']['code'] == 'OperationNotAllowed'
    resp = arm.patch(vm, ON)
    assert resp.status_code == 200, resp.text
    arm.wait(resp)
    assert boot_diagnostics(arm, vm) == {'enabled': True}  # managed storage: no storageUri
    served = arm.post(vm + '/retrieveBootDiagnosticsData')
    assert served.status_code == 200 and 'serialConsoleLogBlobUri' in served.json()
    assert found == [], '\n'.join(found)


def test_instance_put_keeps_boot_diagnostics(arm):
    inst = arm.instance('rg-vmss', 'ss-uniform', 0)
    model = arm.get(inst).json()
    model['properties'].pop('instanceView', None)
    model.pop('etag', None)
    model['properties']['diagnosticsProfile'] = {'bootDiagnostics': {'enabled': True}}
    found = problems(model, inst, 'put')
    resp = arm.put(inst, model)
    assert resp.status_code == 202, resp.text
    arm.wait(resp)
    assert boot_diagnostics(arm, inst) == {'enabled': True}
    assert found == [], '\n'.join(found)
