"""The caller's permissions (armsim/authorization.py), the VM agent and extension state that refuse extension
writes (armsim/guestops.py) and Resource Health (armsim/health.py), on fleets/refusals.yaml."""

import pytest
import specconf_arm
from refusals import (
    CUSTOM_SCRIPT,
    HEALTH_API,
    OPERATOR,
    OPERATOR_NO_EXT_WRITE,
    PERMISSIONS_API,
    VMACCESS,
    extension_body,
    scope_of,
)

from simarm import Arm

needs_specs = pytest.mark.usefixtures()  # the spec files are vendored: never skipped
EXT_WRITE = 'Microsoft.Compute/virtualMachines/extensions/write'


def permissions(arm, scope):
    resp = arm.get(scope + '/providers/Microsoft.Authorization/permissions', api=PERMISSIONS_API)
    assert resp.status_code == 200, resp.text
    assert specconf_arm.errors(resp.json(), specconf_arm.PERMISSIONS_RG, 200) == []
    return resp.json()['value']


# -- RBAC -----------------------------------------------------------------------------------------------
def test_permissions_of_a_principal_without_roles_and_its_denied_actions(ref):
    rg = scope_of(ref, 'rg-ok')
    assert permissions(ref, rg) == [{'actions': ['*'], 'notActions': [], 'dataActions': [], 'notDataActions': []}]
    ref.sim.control.set_principal(ref.sim.client_id, denied_actions=['Microsoft.Compute/virtualMachines/write'])
    assert permissions(ref, rg)[0]['notActions'] == ['Microsoft.Compute/virtualMachines/write']
    resp = ref.raise_key(ref.vm('rg-ok', 'ok-1'), 2)  # and enforcement agrees
    assert resp.status_code == 403 and resp.json()['error']['code'] == 'AuthorizationFailed'


def test_permissions_of_a_role_principal_agree_with_what_it_may_do(ref):
    operator = Arm(ref.sim, *OPERATOR_NO_EXT_WRITE)
    vm = ref.vm('rg-ok', 'ok-1')
    entries = permissions(operator, vm)  # resource scope: the roles assigned above it
    assert len(entries) == 2
    role = entries[0]
    assert 'Microsoft.Compute/virtualMachines/write' in role['actions'] and EXT_WRITE in role['actions']
    assert role['notActions'] == [EXT_WRITE]
    resp = operator.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS))
    assert resp.status_code == 403, resp.text
    err = resp.json()['error']
    assert err['code'] == 'AuthorizationFailed'
    assert f"perform action '{EXT_WRITE}' over scope '{vm}/extensions/enablevmaccess'" in err['message']
    assert specconf_arm.arm_error_errors(resp.json()) == []
    assert operator.wait(operator.raise_key(vm, 2))['status'] == 'Succeeded'


def test_reading_permissions_needs_no_right_and_roles_follow_the_docsite_role(ref):
    operator = Arm(ref.sim, *OPERATOR)  # exactly docs/docsite/vmrescue-azure-role.json, no Authorization read
    (role,) = permissions(operator, scope_of(ref, 'rg-ok'))
    assert len(role['actions']) == 20 and role['notActions'] == []
    resp = operator.get(
        ref.vm('rg-ok', 'ok-1') + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current', api=HEALTH_API
    )
    assert resp.status_code == 403 and 'Microsoft.ResourceHealth/availabilityStatuses/read' in resp.text


# -- the VM agent and extension state -------------------------------------------------------------------
def test_extension_writes_refused_when_extension_operations_are_disallowed(ref):
    vm = ref.vm('rg-refusals', 'noext-1')
    message = (
        'This operation cannot be performed when extension operations are disallowed. To allow, please ensure VM '
        'Agent is installed on the VM and the osProfile.allowExtensionOperations property is true.'
    )
    for resp in (
        ref.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS)),
        ref.delete(vm + '/extensions/AADSSHLoginForLinux'),
    ):
        assert resp.status_code == 409, resp.text
        assert resp.json()['error'] == {'code': 'OperationNotAllowed', 'message': message}
    assert ref.get(vm).json()['properties']['osProfile']['allowExtensionOperations'] is False
    assert ref.wait(ref.raise_key(vm, 2))['status'] == 'Succeeded'  # other writes pass


def test_agent_not_ready_leaves_an_extension_creating_until_azure_gives_up(ref):
    ref.sim.control.config(agent_timeout_seconds=1)
    vm = ref.vm('rg-refusals', 'agent-notready-1')
    agent = ref.get(vm + '/instanceView').json()['vmAgent']
    assert agent['statuses'][0]['displayStatus'] == 'Not Ready' and agent['vmAgentVersion'] == 'Unknown'
    resp = ref.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS))
    assert resp.status_code == 201 and resp.json()['properties']['provisioningState'] == 'Creating'
    assert ref.get(vm + '/extensions/enablevmaccess').json()['properties']['provisioningState'] == 'Creating'
    assert ref.raise_key(vm, 2).status_code == 409  # the VM is busy meanwhile
    status = ref.wait(resp, timeout=15)
    assert status['status'] == 'Failed'
    assert status['error']['code'] == 'VMAgentStatusCommunicationError'
    assert "VM 'agent-notready-1' has not reported status for VM agent or extensions." in status['error']['message']
    assert ref.get(vm + '/extensions/enablevmaccess').json()['properties']['provisioningState'] == 'Failed'


def test_agent_ready_again_by_control_runs_extensions(ref):
    vm = ref.vm('rg-refusals', 'agent-notready-1')
    ref.sim.control.set_vm_agent(vm, True)
    assert ref.get(vm + '/instanceView').json()['vmAgent']['statuses'][0]['displayStatus'] == 'Ready'
    assert ref.wait(ref.put(vm + '/extensions/cse', extension_body(CUSTOM_SCRIPT)))['status'] == 'Succeeded'


def test_a_failed_extension_blocks_new_ones_but_not_itself(ref):
    vm = ref.vm('rg-refusals', 'failed-ext-1')
    status = ref.wait(ref.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS)))
    assert status['status'] == 'Failed'
    assert status['error']['code'] == 'VMExtensionProvisioningError'
    assert "processing extension 'CustomScript'" in status['error']['message']
    assert ref.get(vm + '/extensions/enablevmaccess').json()['properties']['provisioningState'] == 'Failed'
    assert ref.wait(ref.delete(vm + '/extensions/enablevmaccess'))['status'] == 'Succeeded'  # deletes pass
    fixed = ref.put(vm + '/extensions/CustomScript', extension_body(CUSTOM_SCRIPT, {'commandToExecute': 'true'}))
    assert ref.wait(fixed)['status'] == 'Succeeded'  # re-running the failed extension itself is allowed
    assert ref.get(vm + '/extensions/CustomScript').json()['properties']['provisioningState'] == 'Succeeded'


def test_deleting_the_failed_extension_unblocks_the_vm(ref):
    vm = ref.vm('rg-refusals', 'failed-ext-1')
    assert ref.wait(ref.delete(vm + '/extensions/CustomScript'))['status'] == 'Succeeded'
    assert ref.wait(ref.put(vm + '/extensions/cse', extension_body(CUSTOM_SCRIPT)))['status'] == 'Succeeded'


# -- Resource Health ------------------------------------------------------------------------------------
@needs_specs
def test_resource_health_current_per_vm_from_the_fleet_and_the_control_api(ref):
    def current(vm):
        resp = ref.get(vm + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current', api=HEALTH_API)
        assert resp.status_code == 200, resp.text
        assert specconf_arm.errors(resp.json(), specconf_arm.HEALTH_CURRENT, 200) == []
        return resp.json()

    sick = ref.vm('rg-refusals', 'unavailable-1')
    body = current(sick)
    assert body['id'] == sick + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current'
    assert (body['name'], body['type']) == ('current', 'Microsoft.ResourceHealth/AvailabilityStatuses')
    props = body['properties']
    assert (props['availabilityState'], props['reasonType']) == ('Unavailable', 'Unplanned')
    assert props['summary'] == "We're sorry, we couldn't automatically recover your virtual machine"
    assert current(ref.vm('rg-ok', 'ok-1'))['properties']['availabilityState'] == 'Available'
    ok = ref.vm('rg-ok', 'ok-2')
    ref.sim.control.set_health(ok, 'Degraded', summary='Host degraded', reason_type='Unplanned')
    props = current(ok)['properties']
    assert (props['availabilityState'], props['summary'], props['reasonType']) == (
        'Degraded',
        'Host degraded',
        'Unplanned',
    )


@needs_specs
def test_resource_health_lists_per_subscription_and_group(ref):
    sub = ref.get(scope_of(ref) + '/providers/Microsoft.ResourceHealth/availabilityStatuses', api=HEALTH_API).json()
    assert specconf_arm.errors(sub, specconf_arm.HEALTH_LIST, 200) == []
    states = {s['id'].split('/')[8]: s['properties']['availabilityState'] for s in sub['value']}
    assert len(states) == 12 and states['unavailable-1'] == 'Unavailable'
    assert {v for k, v in states.items() if k != 'unavailable-1'} == {'Available'}
    group = ref.get(scope_of(ref, 'rg-ok') + '/providers/Microsoft.ResourceHealth/availabilityStatuses', api=HEALTH_API)
    assert sorted(s['id'].split('/')[8] for s in group.json()['value']) == ['ok-1', 'ok-2', 'ok-win']
