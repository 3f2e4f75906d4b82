"""The VMAccessAgent request the module sends and the simulator's extension responses validate against the official
Microsoft.Compute 2024-11-01 definitions (tests/sim/specconf.py)."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._extension import windows as w
from ansible_collections.vmrescue.azure.plugins.module_utils._fingerprint import fingerprint

import specconf

PASSWORD = 'Zq7-Windows-Secret-4711'


def module_body(**kw):
    p = dict((k, spec.get('default')) for k, spec in w.ARGUMENT_SPEC.items())
    p.update(kw)
    plan = w.WINDOWS.plan(p)
    return plan.body('westeurope', fingerprint(plan.canonical))


@pytest.mark.parametrize('kw', [dict(username='azureadmin', password=PASSWORD), dict(reset_rdp=True)])
def test_module_put_body_conforms(kw):
    assert specconf.errors(module_body(**kw), specconf.VM_EXTENSION_PATH, 'put') == []


def test_schema_check_catches_a_bad_body():  # the helper really validates
    body = module_body(reset_rdp=True)
    body['properties']['autoUpgradeMinorVersion'] = 'yes'
    assert specconf.errors(body, specconf.VM_EXTENSION_PATH, 'put')


def test_simulator_responses_conform(sim, arm):
    path = arm.vm('rg-windows', 'win-no-msp') + '/extensions/enablevmaccess'
    resp = arm.put(path, module_body(username='azureadmin', password=PASSWORD))
    assert resp.status_code == 201
    assert specconf.errors(resp.json(), specconf.VM_EXTENSION_PATH, 'put', '201') == []
    arm.wait(resp)
    got = arm.get(path, query={'$expand': 'instanceView'})
    assert got.json()['properties']['instanceView']['statuses']
    assert specconf.errors(got.json(), specconf.VM_EXTENSION_PATH, 'get', '200') == []
    # VMAccessAgent on a Linux VM: a failed extension with the error in its instance view, also conformant
    lin = arm.vm('rg-linux', 'lin-locked') + '/extensions/winaccess'
    arm.wait(arm.put(lin, module_body(reset_rdp=True)))
    failed = arm.get(lin, query={'$expand': 'instanceView'}).json()
    assert failed['properties']['provisioningState'] == 'Failed'
    assert specconf.errors(failed, specconf.VM_EXTENSION_PATH, 'get', '200') == []
