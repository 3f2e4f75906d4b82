# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for VMAccessRunner (the decision + ARM calls) against an in-memory ARM double. No network."""

import copy
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _fingerprint as fp
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._extension import (
    engine,
    linux as v,
    profile,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

try:
    from test_vmaccess import ECDSA, ED, PASSWORD, RSA, params
except ImportError:  # tests/unit is a package
    from .test_vmaccess import ECDSA, ED, PASSWORD, RSA, params

SUB = '00000000-0000-0000-0000-000000000001'
VM_ID = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1' % SUB


class FakeArm:
    def __init__(self, os='Linux', power='running', extensions=None, handler=None):
        self.vm = {
            'name': 'vm1',
            'location': 'westeurope',
            'properties': {
                'storageProfile': {'osDisk': {'osType': os}},
                'instanceView': {
                    'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/' + power}]
                },
            },
        }
        self.extensions = dict((e['name'], e) for e in (extensions or []))
        self.handler = handler or (lambda settings, protected: (True, 'Enable succeeded.'))
        self.calls = []
        self.sent = []
        self.pending = {}  # extension name -> [reads left while Updating, final properties]
        self.busy_reads = 0
        self.read_error = None
        self.hide_resources = False  # a VM GET that does not show its extensions
        self.slept = []  # the runner's sleeps (it gets this list's append as its sleep)

    def clock(self):
        return sum(self.slept)

    @property
    def writes(self):
        return [c for c in self.calls if c[0] != 'GET']

    def _status(self, ok, message):
        if ok:
            return {
                'code': 'ProvisioningState/succeeded',
                'level': 'Info',
                'displayStatus': 'Provisioning succeeded',
                'message': message,
            }
        return {
            'code': 'ProvisioningState/failed/1',
            'level': 'Error',
            'displayStatus': 'Provisioning failed',
            'message': message,
        }

    def get(self, path, api_version=None, params=None, missing_ok=False, resource_id=None):
        self.calls.append(('GET', path, dict(params or {})))
        assert api_version
        if path.endswith('/extensions'):
            return {'value': [copy.deepcopy(e) for e in self.extensions.values()]}
        if '/extensions/' in path:
            name = path.rsplit('/', 1)[1]
            if self.read_error is not None:
                raise self.read_error
            if name in self.pending:
                if self.pending[name][0] > 0:
                    self.pending[name][0] -= 1
                else:
                    self.extensions[name]['properties'] = self.pending.pop(name)[1]
            if name not in self.extensions:
                raise ArmError('not found', status=404, code='NotFound')
            return copy.deepcopy(self.extensions[name])
        vm = copy.deepcopy(self.vm)
        vm['resources'] = [copy.deepcopy(e) for e in self.extensions.values()]
        for e in vm['resources']:
            e['properties'].pop('instanceView', None)
        if self.hide_resources or not vm['resources']:  # as Resource Manager: no key when there are none
            vm.pop('resources')
        vm['properties']['instanceView']['extensions'] = [
            {'name': n, 'type': 'x', 'statuses': e['properties'].get('instanceView', {}).get('statuses', [])}
            for n, e in self.extensions.items()
        ]
        return vm

    def put(self, path, body, api_version=None, lro=True, **kw):
        # As Resource Manager does: the PUT is accepted (provisioningState Updating); the handler's outcome shows on
        # the extension after ``busy_reads`` more reads of it. The runner writes with lro=False and reads it back.
        assert lro is False, 'the runner confirms by reading the extension, not by polling the operation'
        self.calls.append(('PUT', path, None))
        name = path.rsplit('/', 1)[1]
        for other, e in self.extensions.items():
            if other != name and e['properties'].get('type') == body['properties']['type']:
                raise ArmError(
                    "Multiple VMExtensions per handler not supported for OS type 'Linux'. VMExtension '%s' "
                    "with handler 'Microsoft.OSTCExtensions.VMAccessForLinux' already added or specified "
                    'in input.' % other,
                    status=400,
                    code='BadRequest',
                )
        self.sent.append(copy.deepcopy(body))
        props = copy.deepcopy(body['properties'])
        protected = props.pop('protectedSettings', None)
        ok, message = self.handler(props.get('settings'), protected)
        final = dict(
            props,
            provisioningState='Succeeded' if ok else 'Failed',
            instanceView={'name': name, 'statuses': [self._status(ok, message)]},
        )
        self.extensions[name] = {'name': name, 'id': path, 'properties': dict(props, provisioningState='Updating')}
        self.pending[name] = [self.busy_reads, final]
        return copy.deepcopy(self.extensions[name])

    def delete(self, path, api_version=None, **kw):
        self.calls.append(('DELETE', path, None))
        self.extensions.pop(path.rsplit('/', 1)[1], None)


def ext(name, publisher='Microsoft.OSTCExtensions', type_='VMAccessForLinux', tag=None, state='Succeeded'):
    props = {
        'publisher': publisher,
        'type': type_,
        'typeHandlerVersion': '1.5',
        'autoUpgradeMinorVersion': True,
        'settings': {},
        'provisioningState': state,
    }
    if tag:
        props['forceUpdateTag'] = tag
    return {'name': name, 'properties': props}


def run(arm, check_mode=False, **kw):
    warnings = []
    p = params(**kw)
    v.validate(p)
    runner = v.VMAccessRunner(
        arm,
        parse_resource_id(VM_ID),
        p,
        check_mode=check_mode,
        warn=warnings.append,
        sleep=arm.slept.append,
        clock=arm.clock,
    )
    return runner.run(), warnings


def test_first_run_writes_with_cli_name_and_second_is_ok():
    arm = FakeArm()
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert res['changed'] and res['extension_name'] == 'enablevmaccess'
    assert res['message'] == 'Enable succeeded.'
    assert res['handler_status']['code'] == 'ProvisioningState/succeeded'
    assert len(arm.writes) == 1 and arm.writes[0][1].endswith('/virtualMachines/vm1/extensions/enablevmaccess')
    body = arm.sent[0]
    assert body['location'] == 'westeurope'
    assert body['properties']['forceUpdateTag'].startswith('vmrescue1$')
    arm.calls.clear()
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert not res['changed'] and res['fingerprint_matched']
    assert arm.writes == []
    assert res['message'] == 'Enable succeeded.'


@pytest.mark.parametrize('change', [dict(password=PASSWORD + '2'), dict(ssh_key=RSA)])
def test_password_only_or_key_only_change_reruns(change):
    arm = FakeArm()
    base = dict(username='bob', password=PASSWORD, ssh_key=ED)
    run(arm, **base)
    tag1 = arm.sent[-1]['properties']['forceUpdateTag']
    res, _ = run(arm, **dict(base, **change))
    assert res['changed'] and len(arm.writes) == 2
    assert arm.sent[-1]['properties']['forceUpdateTag'] != tag1


def test_force_reruns():
    arm = FakeArm()
    run(arm, reset_ssh=True)
    res, _ = run(arm, reset_ssh=True, force=True)
    assert res['changed'] and len(arm.writes) == 2


def test_failed_last_run_reruns():
    calls = {'n': 0}

    def handler(settings, protected):
        calls['n'] += 1
        return (calls['n'] > 1, 'Enable succeeded.' if calls['n'] > 1 else 'Enable failed: transient')

    arm = FakeArm(handler=handler)
    with pytest.raises(v.VMAccessFailure):
        run(arm, reset_ssh=True)
    res, _ = run(arm, reset_ssh=True)
    assert res['changed'] and res['message'] == 'Enable succeeded.'


def test_existing_extension_under_other_name_is_reused():
    arm = FakeArm(
        extensions=[ext('VMAccessForLinux'), ext('other', 'Microsoft.Azure.Monitor', 'AzureMonitorLinuxAgent')]
    )
    res, warnings = run(arm, reset_ssh=True, extension_name='mine')
    assert res['extension_name'] == 'VMAccessForLinux'
    assert arm.writes[0][1].endswith('/extensions/VMAccessForLinux')
    assert any("extension_name 'mine' ignored" in w for w in warnings)
    assert sorted(arm.extensions) == ['VMAccessForLinux', 'other']


def test_foreign_tag_reruns():
    arm = FakeArm(extensions=[ext('enablevmaccess', tag='2024-01-01T00:00:00')])
    res, _ = run(arm, reset_ssh=True)
    assert res['changed']


def test_windows_refused_without_write():
    arm = FakeArm(os='Windows')
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', password=PASSWORD)
    assert 'runs Windows' in e.value.msg and 'VMAccessAgent' in e.value.msg and 'Microsoft.Compute' in e.value.msg
    assert '2.4' in e.value.msg
    assert arm.writes == []


@pytest.mark.parametrize('power', ['stopped', 'deallocated'])
def test_stopped_vm_refused_without_write(power):
    arm = FakeArm(power=power)
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, reset_ssh=True)
    assert "is not running (power state '%s')" % power in e.value.msg
    assert arm.writes == []


def test_handler_failure_fails_with_its_message():
    arm = FakeArm(
        handler=lambda s, p: (False, 'Enable failed: Cannot reset sshd_config and remove a user in one operation.')
    )
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', password=PASSWORD)
    assert e.value.msg.endswith('Enable failed: Cannot reset sshd_config and remove a user in one operation.')
    assert e.value.result['message'] == 'Enable failed: Cannot reset sshd_config and remove a user in one operation.'
    assert e.value.result['handler_status']['level'] == 'Error'
    assert PASSWORD not in json.dumps(e.value.result) and PASSWORD not in e.value.msg


def test_handler_failure_message_is_scrubbed():
    arm = FakeArm(handler=lambda s, p: (False, 'Enable failed: weird %s' % p.get('password')))
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', password=PASSWORD)
    assert PASSWORD not in e.value.msg and PASSWORD not in json.dumps(e.value.result)


def test_check_mode_reads_only_and_diff_masks_password():
    arm = FakeArm()
    res, _ = run(arm, check_mode=True, username='bob', password=PASSWORD)
    assert res['changed'] and arm.writes == []
    after = res['diff']['after']
    assert after['protectedSettings'] == {'username': 'bob', 'password': profile.MASK}
    assert PASSWORD not in json.dumps(res)


def test_aad_warning_on_password_change():
    arm = FakeArm(extensions=[ext('AADSSHLoginForLinux', 'Microsoft.Azure.ActiveDirectory', 'AADSSHLoginForLinux')])
    res, warnings = run(arm, username='bob', password=PASSWORD)
    assert any('AADSSHLoginForLinux' in w and 'run that extension again' in w for w in warnings)
    assert all(PASSWORD not in w for w in warnings)


def test_absent():
    arm = FakeArm(extensions=[ext('custom-access')])
    res, _ = run(arm, check_mode=True, state='absent')
    assert res['changed'] and arm.writes == []
    res, _ = run(arm, state='absent')
    assert res['changed'] and res['extension_name'] == 'custom-access'
    assert arm.writes == [('DELETE', arm.writes[0][1], None)] and arm.extensions == {}
    res, _ = run(arm, state='absent')
    assert not res['changed']


def test_uniform_instance_path():
    arm = FakeArm()
    target = parse_resource_id(
        '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3'
        % SUB
    )
    p = params(reset_ssh=True)
    v.VMAccessRunner(arm, target, p, sleep=arm.slept.append, clock=arm.clock).run()
    assert arm.writes[0][1].endswith('/virtualMachineScaleSets/ss/virtualMachines/3/extensions/enablevmaccess')


def test_invalid_key_refused_before_any_call():
    arm = FakeArm()
    with pytest.raises(v.VMAccessError):
        run(arm, username='bob', ssh_key=ECDSA)
    assert arm.calls == []


def test_write_is_confirmed_by_reading_the_extension_not_by_polling():
    # One read of the VM, one PUT (accepted, lro=False), then reads of the extension until its state is final:
    # no operation-status polls, no final GET of the LRO.
    arm = FakeArm()
    arm.busy_reads = 2
    res, _ = run(arm, reset_ssh=True)
    assert res['changed'] and res['provisioning_state'] == 'Succeeded' and res['message'] == 'Enable succeeded.'
    kinds = [(c[0], c[1].rsplit('/', 2)[-2:]) for c in arm.calls]
    assert (
        kinds
        == [('GET', ['virtualMachines', 'vm1']), ('PUT', ['extensions', 'enablevmaccess'])]
        + [('GET', ['extensions', 'enablevmaccess'])] * 3
    )
    assert all(c[2] == {'$expand': 'instanceView'} for c in arm.calls[2:])
    # first read after the expected handler time (2 s until the batch learned it), then backing off
    assert arm.slept == [2.0, 1.0, 2.0]


def test_handler_that_never_finishes_fails_after_the_wait_without_a_second_write():
    arm = FakeArm()
    arm.busy_reads = 10**6
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', password=PASSWORD)
    assert (
        'was accepted but did not finish within %d seconds (wait_timeout; last provisioningState Updating'
        % engine.EXTENSION_WAIT_SECONDS
        in e.value.msg
    )
    assert 'the handler may still be running' in e.value.msg and e.value.reason_code == 'timeout'
    assert e.value.result['changed'] and e.value.result['provisioning_state'] == 'Updating'
    assert len(arm.writes) == 1 and sum(arm.slept) == pytest.approx(engine.EXTENSION_WAIT_SECONDS)
    assert PASSWORD not in e.value.msg and PASSWORD not in json.dumps(e.value.result)


def test_wait_timeout_bounds_the_wait_for_the_handler():
    arm = FakeArm()
    arm.busy_reads = 10**6
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', password=PASSWORD, wait_timeout=120)
    assert 'did not finish within 120 seconds (wait_timeout' in e.value.msg and e.value.reason_code == 'timeout'
    assert len(arm.writes) == 1 and sum(arm.slept) == pytest.approx(120)


def test_read_error_while_waiting_fails_at_once():
    arm = FakeArm()
    arm.read_error = ArmError(
        "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachines/extensions/read'",
        status=403,
        code='AuthorizationFailed',
    )
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, reset_ssh=True)
    assert "reading the extension 'enablevmaccess' of" in e.value.msg and 'AuthorizationFailed' in e.value.msg
    assert len(arm.writes) == 1 and len(arm.slept) == 1


def test_vm_without_extensions_needs_no_list_call():
    arm = FakeArm()
    run(arm, reset_ssh=True)
    assert [c[1].rsplit('/', 1)[-1] for c in arm.calls] == ['vm1', 'enablevmaccess', 'enablevmaccess']


def test_extension_the_vm_get_did_not_show_is_found_after_azure_refuses_a_second_one():
    arm = FakeArm(extensions=[ext('resetaccess')])
    arm.hide_resources = True
    res, _ = run(arm, reset_ssh=True)
    assert res['changed'] and res['extension_name'] == 'resetaccess' and res['message'] == 'Enable succeeded.'
    puts = [c[1].rsplit('/', 1)[-1] for c in arm.calls if c[0] == 'PUT']
    assert puts == ['enablevmaccess', 'resetaccess']  # refused, then the existing one updated
    assert sorted(arm.extensions) == ['resetaccess']


# -- issue 12: transient faults --------------------------------------------------------------------------------
BUSY = "Operation 'Update' is not allowed on VM 'vm1' since another operation is in progress."


def test_busy_409_on_the_extension_put_is_retried_with_back_off():
    arm = FakeArm()
    put, refusals = arm.put, [2]

    def busy_put(path, body, **kw):
        if refusals[0]:
            refusals[0] -= 1
            arm.calls.append(('PUT', path, None))
            raise ArmError(BUSY, status=409, code='OperationNotAllowed')
        return put(path, body, **kw)

    arm.put = busy_put
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert res['changed'] and res['message'] == 'Enable succeeded.'
    assert len(arm.writes) == 3 and arm.slept[:2] == [2, 4]  # _vm.busy_delay, as the key reset


def test_a_409_for_a_vm_that_is_not_running_is_not_retried():
    arm = FakeArm()

    def refused(path, body, **kw):
        arm.calls.append(('PUT', path, None))
        raise ArmError(
            'Cannot modify extensions in the VM when the VM is not running.', status=409, code='OperationNotAllowed'
        )

    arm.put = refused
    with pytest.raises(v.VMAccessFailure, match='not running'):
        run(arm, username='bob', ssh_key=ED)
    assert len(arm.writes) == 1


def test_resources_entry_without_force_update_tag_reads_the_extension_instead_of_rerunning():
    arm = FakeArm()
    run(arm, username='bob', ssh_key=ED)
    get = arm.get

    def vm_get_without_tag(path, **kw):
        out = get(path, **kw)
        for entry in (out or {}).get('resources') or ():
            entry['properties'].pop('forceUpdateTag', None)
        return out

    arm.get = vm_get_without_tag
    arm.calls.clear()
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert not res['changed'] and res['fingerprint_matched'], res
    assert arm.writes == []
    assert any(c[0] == 'GET' and c[1].endswith('/extensions/enablevmaccess') for c in arm.calls)


def test_the_same_request_still_running_is_waited_for_not_sent_again():
    """A cancelled run left the handler running: the re-run waits for that run instead of running it twice."""
    arm = FakeArm()
    arm.busy_reads = 3
    runner = v.VMAccessRunner(
        arm, parse_resource_id(VM_ID), params(username='bob', ssh_key=ED), sleep=arm.slept.append, clock=arm.clock
    )
    runner.plan = runner.handler.plan(runner.params)
    body = runner.plan.body('westeurope', fp.fingerprint(runner.plan.canonical))
    arm.put(VM_ID + '/extensions/enablevmaccess', body, api_version='x', lro=False)  # the cancelled run's PUT
    arm.calls.clear()
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert arm.writes == [], arm.calls
    assert not res['changed'] and res['fingerprint_matched'] and res['message'] == 'Enable succeeded.', res


# -- issue 21: know before writing ---------------------------------------------------------------------------------
from ansible_collections.vmrescue.azure.plugins.module_utils._extension import gates  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import execute  # noqa: E402

NOT_READY = {
    'vmAgentVersion': 'Unknown',
    'statuses': [
        {
            'code': 'ProvisioningState/Unavailable',
            'level': 'Warning',
            'displayStatus': 'Not Ready',
            'message': 'VM status blob is found but not yet populated.',
        }
    ],
}


def _refusing(arm, err):
    def put(path, body, **kw):
        arm.calls.append(('PUT', path, None))
        raise err

    arm.put = put


LOCKED = (
    "The scope '%s' cannot perform write operation because following scope(s) are locked: "
    "'/subscriptions/%s/resourceGroups/rg'. Please remove the lock and try again." % (VM_ID, SUB)
)


@pytest.mark.parametrize(
    'status, code, message, reason',
    [
        (409, 'ScopeLocked', LOCKED, 'scope_locked'),
        (
            409,
            'OperationNotAllowed',
            "Extensions are disallowed: 'allowExtensionOperations' is false.",
            'extensions_disabled',
        ),
        (
            409,
            'OperationNotAllowed',
            "Operation 'PutExtension' is not allowed since the VM is marked for deletion.",
            'conflict',
        ),
        (409, 'ResourceGroupBeingDeleted', "The resource group 'rg' is in deprovisioning state.", 'conflict'),
        (403, 'RequestDisallowedByPolicy', "Resource 'enablevmaccess' was disallowed by policy.", 'policy_denied'),
        (
            403,
            'AuthorizationFailed',
            "does not have authorization to perform action 'x/write' over scope 'y'",
            'rbac_missing',
        ),
    ],
)
def test_an_extension_write_that_cannot_pass_is_sent_once(status, code, message, reason):
    arm = FakeArm()
    _refusing(arm, ArmError(message, status=status, code=code))
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username='bob', ssh_key=ED)
    assert e.value.reason_code == reason and len(arm.writes) == 1 and arm.slept == []
    assert e.value.result['arm_error']['code'] == code
    if reason == 'scope_locked':
        assert e.value.result['locked_scope'] == '/subscriptions/%s/resourceGroups/rg' % SUB
        assert 'remove the lock' in e.value.msg


@pytest.mark.parametrize('code', ['Conflict', 'OperationPreempted', 'RetryableError'])
def test_retryable_409_codes_on_the_extension_put_are_retried(code):
    arm = FakeArm()
    put, refusals = arm.put, [1]

    def busy_put(path, body, **kw):
        if refusals[0]:
            refusals[0] -= 1
            arm.calls.append(('PUT', path, None))
            raise ArmError('busy', status=409, code=code)
        return put(path, body, **kw)

    arm.put = busy_put
    res, _ = run(arm, username='bob', ssh_key=ED)
    assert res['changed'] and len(arm.writes) == 2 and arm.slept[:1] == [2]


@pytest.mark.parametrize('check_mode', [False, True])
def test_extensions_disabled_in_the_model_skips_before_any_write(check_mode):
    arm = FakeArm()
    arm.vm['properties']['osProfile'] = {'allowExtensionOperations': False}
    with pytest.raises(gates.ExtensionSkip) as e:
        run(arm, check_mode=check_mode, username='bob', ssh_key=ED)
    assert e.value.reason_code == 'extensions_disabled' and arm.writes == []
    assert 'allowExtensionOperations: false' in e.value.msg and 'Skipped before any write' in e.value.msg
    assert e.value.result['vm_id'] == VM_ID and e.value.result['extension_name'] == 'enablevmaccess'


@pytest.mark.parametrize('check_mode', [False, True])
def test_agent_not_ready_skips_before_any_write(check_mode):
    arm = FakeArm()
    arm.vm['properties']['instanceView']['vmAgent'] = NOT_READY
    with pytest.raises(gates.ExtensionSkip) as e:
        run(arm, check_mode=check_mode, username='bob', password=PASSWORD)
    assert e.value.reason_code == 'agent_not_ready' and arm.writes == []
    assert "reports 'Not Ready'" in e.value.msg and 'az vm restart / az vm reapply' in e.value.msg
    assert e.value.result['vm_agent']['displayStatus'] == 'Not Ready'
    assert PASSWORD not in e.value.msg


def test_a_ready_agent_or_none_reported_is_not_a_gate():
    arm = FakeArm()
    arm.vm['properties']['instanceView']['vmAgent'] = {'statuses': [{'displayStatus': 'Ready'}]}
    res, _ = run(arm, reset_ssh=True)
    assert res['changed'] and len(arm.writes) == 1


def test_removal_is_gated_too():
    arm = FakeArm(extensions=[ext('enablevmaccess')])
    arm.vm['properties']['osProfile'] = {'allowExtensionOperations': False}
    with pytest.raises(gates.ExtensionSkip) as e:
        run(arm, state='absent')
    assert e.value.reason_code == 'extensions_disabled' and arm.writes == []


def test_failed_extension_of_another_handler_skips_unless_force():
    failed = ext('MDE.Linux', publisher='Microsoft.Azure.AzureDefenderForServers', type_='MDE.Linux', state='Failed')
    arm = FakeArm(extensions=[failed])
    with pytest.raises(gates.ExtensionSkip) as e:
        run(arm, username='bob', ssh_key=ED)
    assert e.value.reason_code == 'extension_failed' and arm.writes == []
    assert e.value.result['failed_extensions'] == ['MDE.Linux'] and 'force: true' in e.value.msg
    res, _ = run(arm, username='bob', ssh_key=ED, force=True)
    assert res['changed'] and len(arm.writes) == 1


def test_own_failed_extension_is_rewritten_not_skipped():
    arm = FakeArm(extensions=[ext('enablevmaccess', state='Failed')])
    res, _ = run(arm, reset_ssh=True)
    assert res['changed'] and len(arm.writes) == 1


def test_nothing_to_write_is_unchanged_even_when_a_gate_would_skip():
    arm = FakeArm()
    run(arm, reset_ssh=True)
    arm.vm['properties']['osProfile'] = {'allowExtensionOperations': False}
    arm.calls.clear()
    res, _ = run(arm, reset_ssh=True)
    assert not res['changed'] and res['fingerprint_matched'] and arm.writes == []


@pytest.mark.parametrize('check_mode', [False, True])
def test_the_task_result_of_a_skip(check_mode):
    arm = FakeArm()
    arm.vm['properties']['instanceView']['vmAgent'] = NOT_READY
    r = execute(
        v.task_spec(), params(vm_id=VM_ID, username='bob', password=PASSWORD), check_mode=check_mode, client=arm
    )
    assert not r.get('failed') and r['changed'] is False and arm.writes == []
    assert r['outcome']['status'] == 'skipped' and r['outcome']['reason_code'] == 'agent_not_ready'
    assert r['msg'] == r['outcome']['reason'] and r['id'] == VM_ID
    assert PASSWORD not in json.dumps(r)


@pytest.mark.parametrize('value', [0, -5, True, 2.5])
def test_bad_wait_timeout_is_refused_before_any_call(value):
    r = execute(v.task_spec(), params(vm_id=VM_ID, reset_ssh=True, wait_timeout=value), client=object())
    assert r['failed'] and 'wait_timeout must be a whole number of seconds more than 0' in r['msg']
    assert r['outcome']['reason_code'] == 'invalid_input'
