"""Management locks and Azure Policy in the simulator (issue 21; armsim/authorization.py, armsim/policy.py), on
fleets/refusals.yaml. Every new body is checked against the vendored official specs (specconf_arm)."""

import json

import pytest
import specconf_arm
from refusals import (
    CUSTOM_SCRIPT,
    LOCKS_API,
    OPERATOR_WRITES_ONLY,
    POLICY_API,
    VMACCESS,
    extension_body,
    scope_of,
)

from simarm import Arm

needs_specs = pytest.mark.usefixtures()  # the spec files are vendored: never skipped


def assert_arm_error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body['error']['code'] == code, body
    assert specconf_arm.arm_error_errors(body) == []
    return body['error']


# -- locks ---------------------------------------------------------------------------------------------
def test_readonly_group_lock_refuses_a_vm_patch_with_azures_message(ref):
    vm = ref.vm('rg-frozen', 'frozen-1')
    err = assert_arm_error(ref.raise_key(vm, 2), 409, 'ScopeLocked')
    assert err['message'] == (
        f"The scope '{vm}' cannot perform write operation because following scope(s) are locked: "
        f"'{scope_of(ref, 'rg-frozen')}'. Please remove the lock and try again."
    )
    assert (
        ref.sim.control.vm(vm)['model']['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 1
    )


def test_readonly_lock_refuses_every_write_method_and_no_read(ref):
    vm = ref.vm('rg-frozen', 'frozen-1')
    assert_arm_error(ref.post(vm + '/restart'), 409, 'ScopeLocked')
    assert_arm_error(ref.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS)), 409, 'ScopeLocked')
    err = assert_arm_error(ref.delete(vm + '/extensions/enablevmaccess'), 409, 'ScopeLocked')
    assert 'cannot perform delete operation' in err['message']
    for path in (vm, vm + '/instanceView', vm + '/extensions'):
        assert ref.get(path).status_code == 200
    assert ref.get(vm, query={'$expand': 'instanceView'}).status_code == 200


def test_cannotdelete_lock_refuses_deletes_only(ref):
    vm = ref.vm('rg-refusals', 'nodelete-1')
    err = assert_arm_error(ref.delete(vm + '/extensions/enablevmaccess'), 409, 'ScopeLocked')
    assert err['message'].startswith(f"The scope '{vm}/extensions/enablevmaccess' cannot perform delete operation")
    assert f"'{vm}'. Please remove the lock and try again." in err['message']
    assert ref.wait(ref.raise_key(vm, 2))['status'] == 'Succeeded'  # writes pass


@needs_specs
def test_lock_list_at_a_resource_includes_inherited_locks(ref):
    sub = scope_of(ref)
    ref.sim.control.add_lock(sub, 'sub-freeze', 'CanNotDelete', notes='subscription-wide')
    vm = ref.vm('rg-frozen', 'frozen-1')
    for api in (LOCKS_API, '2016-09-01'):
        resp = ref.get(vm + '/providers/Microsoft.Authorization/locks', api=api)
        assert resp.status_code == 200, resp.text
        assert specconf_arm.errors(resp.json(), specconf_arm.LOCKS_LIST, 200) == []
        assert {lk['name'] for lk in resp.json()['value']} == {'sub-freeze', 'change-freeze'}
    lock = next(lk for lk in resp.json()['value'] if lk['name'] == 'change-freeze')
    assert lock == {
        'id': f'{scope_of(ref, "rg-frozen")}/providers/Microsoft.Authorization/locks/change-freeze',
        'name': 'change-freeze',
        'type': 'Microsoft.Authorization/locks',
        'properties': {'level': 'ReadOnly', 'notes': 'Quarterly change freeze', 'owners': []},
    }
    names = {
        lk['name']
        for lk in ref.get(scope_of(ref, 'rg-ok') + '/providers/Microsoft.Authorization/locks', api=LOCKS_API).json()[
            'value'
        ]
    }
    assert names == {'sub-freeze'}  # another group's lock is not inherited
    sub_list = ref.get(sub + '/providers/Microsoft.Authorization/locks', api=LOCKS_API).json()['value']
    assert {lk['name'] for lk in sub_list} == {'sub-freeze', 'change-freeze', 'keep-vm'}  # and what lies below
    at_scope = ref.get(sub + '/providers/Microsoft.Authorization/locks', api=LOCKS_API, query={'$filter': 'atScope()'})
    assert {lk['name'] for lk in at_scope.json()['value']} == {'sub-freeze'}
    assert_arm_error(
        ref.get(sub + '/providers/Microsoft.Authorization/locks', api='2024-11-01'), 400, 'NoRegisteredProviderFound'
    )


def test_locks_added_and_removed_at_run_time(ref):
    vm = ref.vm('rg-ok', 'ok-1')
    ref.sim.control.add_lock(scope_of(ref, 'rg-ok'), 'night', 'ReadOnly')
    assert [lk['name'] for lk in ref.sim.control.locks()] == ['change-freeze', 'keep-vm', 'night']
    assert_arm_error(ref.raise_key(vm, 2), 409, 'ScopeLocked')
    ref.sim.control.remove_lock(name='night')
    assert ref.wait(ref.raise_key(vm, 2))['status'] == 'Succeeded'


def test_reading_locks_needs_locks_read(ref):
    operator = Arm(ref.sim, *OPERATOR_WRITES_ONLY)  # the docsite role minus Microsoft.Authorization/locks/read
    scope = scope_of(ref, 'rg-ok')
    err = assert_arm_error(
        operator.get(scope + '/providers/Microsoft.Authorization/locks', api=LOCKS_API), 403, 'AuthorizationFailed'
    )
    assert f"perform action 'Microsoft.Authorization/locks/read' over scope '{scope}'" in err['message']


# -- policy -------------------------------------------------------------------------------------------
def test_deny_policy_on_an_extension_type_answers_request_disallowed_by_policy(ref):
    vm = ref.vm('rg-policy-ext', 'polext-1')
    err = assert_arm_error(
        ref.put(vm + '/extensions/enablevmaccess', extension_body(VMACCESS)), 403, 'RequestDisallowedByPolicy'
    )
    assignment = f'{scope_of(ref, "rg-policy-ext")}/providers/Microsoft.Authorization/policyAssignments/deny-vmaccess'
    definition = f'{scope_of(ref)}/providers/Microsoft.Authorization/policyDefinitions/not-allowed-vm-extensions'
    assert err['target'] == 'enablevmaccess'
    prefix = "Resource 'enablevmaccess' was disallowed by policy. Policy identifiers: '"
    assert err['message'].startswith(prefix) and err['message'].endswith("'.")
    assert json.loads(err['message'][len(prefix) : -2]) == [
        {
            'policyAssignment': {'name': 'Deny the VMAccess extension', 'id': assignment},
            'policyDefinition': {'name': 'Only approved VM extensions should be installed', 'id': definition},
        }
    ]
    (violation,) = err['additionalInfo']
    assert violation['type'] == 'PolicyViolation'
    info = violation['info']
    assert info['policyAssignmentId'] == assignment and info['policyAssignmentName'] == 'deny-vmaccess'
    assert info['policyDefinitionId'] == definition and info['policyDefinitionEffect'] == 'Deny'
    assert info['policyDefinitionDisplayName'] == 'Only approved VM extensions should be installed'
    assert info['policyAssignmentScope'] == scope_of(ref, 'rg-policy-ext')
    assert [e['path'] for e in info['evaluationDetails']['evaluatedExpressions']] == [
        'type',
        'properties.publisher',
        'properties.type',
    ]
    assert 'enablevmaccess' not in ref.sim.control.vm(vm)['extensions']
    # Another extension type passes the same policy.
    assert ref.wait(ref.put(vm + '/extensions/cse', extension_body(CUSTOM_SCRIPT)))['status'] == 'Succeeded'


def test_deny_policy_on_a_field_value_refuses_the_patch_that_sets_it(ref):
    vm = ref.vm('rg-policy-msp', 'polmsp-1')
    audit = {'properties': {'securityProfile': {'proxyAgentSettings': {'wireServer': {'mode': 'Audit'}}}}}
    err = assert_arm_error(ref.patch(vm, audit), 403, 'RequestDisallowedByPolicy')
    assert err['additionalInfo'][0]['info']['policyAssignmentName'] == 'deny-wireserver-audit'
    expr = err['additionalInfo'][0]['info']['evaluationDetails']['evaluatedExpressions'][1]
    assert expr['expression'] == 'Microsoft.Compute/virtualMachines/securityProfile.proxyAgentSettings.wireServer.mode'
    assert (expr['expressionValue'], expr['targetValue'], expr['operator']) == ('Audit', ['Audit'], 'In')
    assert ref.wait(ref.raise_key(vm, 2))['status'] == 'Succeeded'  # the stored Enforce mode complies
    # The audit-effect assignment (imds Disabled) never refuses.
    disabled = {'properties': {'securityProfile': {'proxyAgentSettings': {'imds': {'mode': 'Disabled'}}}}}
    assert ref.wait(ref.patch(vm, disabled))['status'] == 'Succeeded'


def test_policies_added_and_removed_at_run_time(ref):
    vm = ref.vm('rg-ok', 'ok-1')
    ref.sim.control.add_policy(scope_of(ref, 'rg-ok'), 'no-cse', extension={'type': 'CustomScript'})
    assert_arm_error(ref.put(vm + '/extensions/cse', extension_body(CUSTOM_SCRIPT)), 403, 'RequestDisallowedByPolicy')
    ref.sim.control.remove_policy(name='no-cse')
    assert ref.wait(ref.put(vm + '/extensions/cse', extension_body(CUSTOM_SCRIPT)))['status'] == 'Succeeded'


@needs_specs
def test_check_policy_restrictions_answers_for_the_planned_body(ref):
    url = scope_of(ref, 'rg-policy-msp') + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions'
    alias = 'Microsoft.Compute/virtualMachines/securityProfile.proxyAgentSettings.wireServer.mode'
    content = {
        'type': 'Microsoft.Compute/virtualMachines',
        'properties': {
            'securityProfile': {'proxyAgentSettings': {'wireServer': {'mode': 'Audit'}, 'imds': {'mode': 'Disabled'}}}
        },
    }
    request = {
        'resourceDetails': {'resourceContent': content, 'apiVersion': '2024-11-01'},
        'pendingFields': [{'field': alias}],
    }
    assert specconf_arm.errors(request, specconf_arm.POLICY_CHECK_RG) == []
    resp = ref.post(url, request, api=POLICY_API)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert specconf_arm.errors(body, specconf_arm.POLICY_CHECK_RG, 200) == []
    (evaluation,) = body['contentEvaluationResult']['policyEvaluations']  # deny only: no audit without asking
    assert evaluation['evaluationResult'] == 'NonCompliant'
    assert evaluation['effectDetails'] == {'policyEffect': 'Deny'}
    assert evaluation['policyInfo']['policyAssignmentId'].endswith('/policyAssignments/deny-wireserver-audit')
    (field,) = body['fieldRestrictions']
    assert field['field'] == alias
    assert [(r['result'], r['values']) for r in field['restrictions']] == [('Deny', ['Audit'])]
    with_audit = ref.post(url, dict(request, includeAuditEffect=True), api=POLICY_API).json()
    assert specconf_arm.errors(with_audit, specconf_arm.POLICY_CHECK_RG, 200) == []
    effects = sorted(
        e['effectDetails']['policyEffect'] for e in with_audit['contentEvaluationResult']['policyEvaluations']
    )
    assert effects == ['Audit', 'Deny']
    compliant = dict(
        content, properties={'securityProfile': {'proxyAgentSettings': {'wireServer': {'mode': 'Enforce'}}}}
    )
    clean = ref.post(url, {'resourceDetails': {'resourceContent': compliant}}, api=POLICY_API).json()
    assert clean == {'fieldRestrictions': [], 'contentEvaluationResult': {'policyEvaluations': []}}


@needs_specs
def test_check_policy_restrictions_for_an_extension_under_a_vm(ref):
    vm = ref.vm('rg-policy-ext', 'polext-1')
    url = scope_of(ref, 'rg-policy-ext') + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions'
    ext = {'type': 'Microsoft.Compute/virtualMachines/extensions', 'properties': VMACCESS}
    body = ref.post(url, {'resourceDetails': {'resourceContent': ext, 'scope': vm}}, api=POLICY_API).json()
    assert specconf_arm.errors(body, specconf_arm.POLICY_CHECK_RG, 200) == []
    assert [e['effectDetails']['policyEffect'] for e in body['contentEvaluationResult']['policyEvaluations']] == [
        'Deny'
    ]
    other = ref.post(
        scope_of(ref, 'rg-ok') + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions',
        {'resourceDetails': {'resourceContent': ext, 'scope': ref.vm('rg-ok', 'ok-1')}},
        api=POLICY_API,
    ).json()
    assert other['contentEvaluationResult']['policyEvaluations'] == []
    # A ReadOnly lock does not refuse the check (it writes nothing).
    frozen = scope_of(ref, 'rg-frozen') + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions'
    assert ref.post(frozen, {'resourceDetails': {'resourceContent': ext}}, api=POLICY_API).status_code == 200
    assert_arm_error(ref.post(url, {'pendingFields': []}, api=POLICY_API), 400, 'InvalidCheckRestrictionsRequest')


def test_check_policy_restrictions_takes_the_write_bucket_and_is_counted_as_an_action(ref):
    """Resource Manager throttles a POST as a write (x-ms-ratelimit-remaining-subscription-writes), whatever it does;
    the simulator's bookkeeping counts this one, which changes nothing, as an 'action', not a 'write'."""
    url = scope_of(ref, 'rg-ok') + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions'
    ext = {'type': 'Microsoft.Compute/virtualMachines/extensions', 'properties': VMACCESS}
    ref.sim.control.reset_counters()
    first = ref.post(url, {'resourceDetails': {'resourceContent': ext}}, api=POLICY_API)
    second = ref.post(url, {'resourceDetails': {'resourceContent': ext}}, api=POLICY_API)
    writes = [int(r.headers['x-ms-ratelimit-remaining-subscription-writes']) for r in (first, second)]
    assert writes[1] < writes[0], writes
    counters = ref.sim.control.counters()
    assert (counters['action'], counters['write']) == (2, 0), counters
