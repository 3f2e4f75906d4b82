"""proxy_agent_key_reset behaviour (run()) against a fake ArmClient: decisions, writes, concurrency convergence,
confirmation, error messages. No network."""

import copy
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import key_reset as pa
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import execute
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._task import RunContext

SUB = '00000000-0000-0000-0000-000000000001'
VM = parse_resource_id('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1' % SUB)
INST = parse_resource_id(
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/2' % SUB
)
READY = 'Found key details from local and ready to use. - 1'


def agent_view(incarnation, guid, message=READY, power='running'):
    states = {
        'secureChannelState': 'WireServer Enforce -  IMDS Enforce - HostGA Enforce',
        'keyGuid': guid,
        'keyIncarnationId': str(incarnation),
    }
    msg = json.dumps(
        {'version': '1.0.47', 'keyLatchStatus': {'status': 'RUNNING', 'message': message, 'states': states}}
    )
    v = {'statuses': [{'code': 'PowerState/%s' % power}]}
    if power == 'running':
        v['extensions'] = [
            {
                'name': 'AzureProxyAgentExtension',
                'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux',
                'substatuses': [{'code': 'ComponentStatus/ProxyAgentStatus/succeeded', 'message': msg}],
            }
        ]
    return v


class FakeClient:
    """Models one VM: model key, guest latch (relatches after `relatch_after` instance-view reads)."""

    def __init__(
        self, key=5, enabled=True, power='running', message=READY, relatch_after=1, os_type='Linux', errors=None
    ):
        self.key = key
        self.enabled = enabled
        self.power = power
        self.message = message
        self.guest = (key, 'guid-%d' % key)
        self.relatch_after = relatch_after
        self.pending_reads = None
        self.os_type = os_type
        self.errors = list(errors or [])  # ArmErrors raised by the next writes
        self.calls = []
        self.etag = 1
        self.tags = {'owner': 'team-a'}
        self.subscription_id = SUB

    def model(self):
        return {
            'name': 'vm1',
            'tags': dict(self.tags),
            'properties': {
                'storageProfile': {'osDisk': {'osType': self.os_type}},
                'securityProfile': {'proxyAgentSettings': {'enabled': self.enabled, 'keyIncarnationId': self.key}},
            },
        }

    def view(self):
        if self.pending_reads is not None:
            self.pending_reads -= 1
            if self.pending_reads <= 0:
                self.guest = (self.key, 'guid-new-%d' % self.key)
                self.pending_reads = None
        return agent_view(self.guest[0], self.guest[1], self.message, self.power)

    def get_with_etag(self, path, params=None, missing_ok=False, resource_id=None, api_version=None):
        self.calls.append(('GET', path, params))
        m = self.model()
        if params and params.get('$expand') == 'instanceView':
            m['properties']['instanceView'] = self.view()
        return m, '"%d"' % self.etag

    def get(self, path, **kw):
        self.calls.append(('GET', path, None))
        assert path.endswith('/instanceView')
        return self.view()

    def _write(self, method, path, body, if_match=None):
        self.calls.append((method, path, copy.deepcopy(body), if_match))
        if self.errors:
            err = self.errors.pop(0)
            if callable(err):
                err = err(self)
            raise err
        if if_match is not None and if_match != '"%d"' % self.etag:
            raise ArmError('precondition failed', status=412, code='PreconditionFailed')
        value = body['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId']
        assert value > self.key
        self.key = value
        if 'tags' in body:  # like ARM: the map sent replaces the tags
            self.tags = dict(body['tags'])
        self.etag += 1
        self.pending_reads = self.relatch_after
        return self.model()

    def patch(self, path, body, if_match=None, **kw):
        return self._write('PATCH', path, body, if_match)

    def put(self, path, body, if_match=None, **kw):
        return self._write('PUT', path, body, if_match)

    def writes(self):
        return [c for c in self.calls if c[0] in ('PATCH', 'PUT')]


def run(client, target=VM, **params):
    p = dict(state=None, key_incarnation_id=None, force=False, wait=True, wait_timeout=60)
    p.update(params)
    clock = [0.0]

    def sleep(s):
        clock[0] += s

    ctx = RunContext(client=client, target=target, params=p, diff=True)
    return pa.run(ctx, sleep=sleep, clock=lambda: clock[0])


def test_reset_vm_patch_and_confirm():
    c = FakeClient(key=5)
    r = run(c, state='reset')
    assert r['changed'] and r['confirmed']
    assert (r['previous_key_incarnation_id'], r['key_incarnation_id']) == (5, 6)
    assert r['diff']['before'] == {'key_incarnation_id': 5} and r['diff']['after'] == {'key_incarnation_id': 6}
    (w,) = c.writes()
    assert w[0] == 'PATCH' and w[3] == '"1"'  # If-Match: the etag the decision was made on
    assert w[2]['properties'] == {'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': 6}}}
    assert set(w[2]['tags']) == {'owner', pa.RECORD_TAG}  # the user's tags are sent back: ARM replaces the map
    assert w[2]['tags'][pa.RECORD_TAG].startswith('6@') and r['key_reset_record'] == w[2]['tags'][pa.RECORD_TAG]
    assert r['key_latch_status']['states']['keyIncarnationId'] == '6'
    assert r['health']['verdict'] == 'healthy'


def test_reset_uniform_instance_put_with_if_match_and_no_instance_view_in_body():
    c = FakeClient(key=0)
    r = run(c, target=INST, state='reset')
    (w,) = c.writes()
    assert w[0] == 'PUT' and w[3] == '"1"'
    assert 'instanceView' not in w[2]['properties']
    assert w[2]['properties']['storageProfile'] == {'osDisk': {'osType': 'Linux'}}  # the rest of the model is kept
    assert r['key_incarnation_id'] == 1 and r['confirmed']


def test_key_incarnation_id_converges_and_is_idempotent():
    c = FakeClient(key=5)
    r = run(c, key_incarnation_id=9)
    assert r['changed'] and r['key_incarnation_id'] == 9
    c.calls = []
    r = run(c, key_incarnation_id=9)
    assert not r['changed'] and c.writes() == [] and r['confirmed']
    assert len(c.calls) == 1  # one read: the model with its instance view
    r = run(c, key_incarnation_id=3)
    assert not r['changed'] and r['key_incarnation_id'] == 9


def test_wait_false_key_incarnation_reads_model_only():
    c = FakeClient(key=5)
    r = run(c, key_incarnation_id=5, wait=False)
    assert not r['changed'] and c.calls == [('GET', VM.path, None)]


def test_check_mode_writes_nothing():
    c = FakeClient(key=5)
    r = pa.run(
        RunContext(
            client=c, target=VM, params=dict(state='reset', wait=True, wait_timeout=5), check_mode=True, diff=True
        )
    )
    assert r['changed'] and r['key_incarnation_id'] == 6 and c.writes() == []


def test_healthy_does_nothing_on_healthy_vm():
    c = FakeClient(key=5)
    r = run(c, state='healthy')
    assert not r['changed'] and r['health']['verdict'] == 'healthy' and c.writes() == []


def test_healthy_resets_on_attest_failure():
    c = FakeClient(key=5, message='Failed to attest the key: 401')
    r = run(c, state='healthy')
    assert r['changed'] and r['key_incarnation_id'] == 6 and r['confirmed']


def test_healthy_unknown_needs_force():
    c = FakeClient(key=5, message='poll_secure_channel_status task exited.')
    r = run(c, state='healthy')
    assert not r['changed'] and r['health']['verdict'] == 'unknown'
    r = run(c, state='healthy', force=True)
    assert r['changed']


def test_not_enabled_linux_and_windows():
    for os_type, ext in (('Linux', 'ProxyAgentLinux'), ('Windows', 'ProxyAgentWindows')):
        c = FakeClient(enabled=False, os_type=os_type)
        with pytest.raises(TaskError) as exc:
            run(c, state='reset')
        assert 'not enabled' in exc.value.msg and os_type in exc.value.msg and ext in exc.value.msg
        assert c.writes() == []


def test_deallocated_fails_before_write_with_wait():
    c = FakeClient(power='deallocated')
    with pytest.raises(TaskError) as exc:
        run(c, state='reset')
    assert 'deallocated' in exc.value.msg and 'wait: false' in exc.value.msg and c.writes() == []
    r = run(c, state='reset', wait=False)
    assert r['changed'] and len(c.writes()) == 1


def test_deallocated_healthy_is_unknown_and_ok():
    c = FakeClient(power='deallocated')
    r = run(c, state='healthy')
    assert not r['changed'] and r['health']['verdict'] == 'unknown' and 'deallocated' in r['health']['reason']


def test_timeout_reports_last_status():
    c = FakeClient(key=5, relatch_after=10**6)
    with pytest.raises(TaskError) as exc:
        run(c, state='reset', wait_timeout=30)
    assert 'did not report it within 30s' in exc.value.msg and 'Last keyLatchStatus' in exc.value.msg
    assert '"keyIncarnationId": "5"' in exc.value.msg
    assert exc.value.result['changed'] is True and exc.value.result['confirmed'] is False


def _incremented(c):
    c.key += 1  # someone else raised it meanwhile
    c.pending_reads = 1
    return ArmError(
        'The value `securityProfile.proxyAgentSettings.keyIncarnationId` can only be incremented.',
        status=400,
        code='InvalidParameter',
    )


def test_concurrent_reset_converges_without_failing():
    c = FakeClient(key=5, errors=[_incremented])
    r = run(c, state='reset')
    # another writer's raise counts: no second raise, and this run says so
    assert not r['changed'] and r['key_incarnation_id'] == 6 and len(c.writes()) == 1 and c.key == 6
    assert 'another run raised' in r['msg']


def _other_controller_raised(c):
    """Another controller wrote key + record after this run read the VM: this run's If-Match etag is stale."""
    c.key += 1
    c.tags[pa.RECORD_TAG] = pa.record_value(c.key)
    c.etag += 1
    c.pending_reads = 10**6  # the guest has not latched it yet
    c.guest = (None, None)
    return ArmError('precondition failed', status=412, code='PreconditionFailed')


def test_412_on_vm_patch_rereads_and_redecides_pending():
    c = FakeClient(key=5, message='Failed to attest the key: 401')
    c.errors = [_other_controller_raised]
    r = run(c, state='healthy')
    (w,) = c.writes()  # the one that lost the race; nothing after the re-read
    assert w[0] == 'PATCH' and w[3] == '"1"'
    assert c.key == 6 and not r['changed'] and r['health']['verdict'] == 'pending'
    assert r['pending_since'] == c.tags[pa.RECORD_TAG].split('@')[1]
    reads = [x for x in c.calls if x[0] == 'GET']
    assert len(reads) == 2 and all(x[2] == {'$expand': 'instanceView'} for x in reads)


def test_412_then_still_needed_writes_with_the_new_etag():
    def user_tag_changed(c):
        c.tags['cost'] = 'x'  # a tag edit elsewhere moved the etag; the key is untouched
        c.etag += 1
        return ArmError('precondition failed', status=412, code='PreconditionFailed')

    c = FakeClient(key=5, message='Failed to attest the key: 401', errors=[user_tag_changed])
    r = run(c, state='healthy')
    w1, w2 = c.writes()
    assert (w1[3], w2[3]) == ('"1"', '"2"') and r['changed'] and c.key == 6
    assert c.tags['cost'] == 'x' and c.tags['owner'] == 'team-a'  # the re-read map was merged: no tag dropped


def test_healthy_does_not_write_while_pending_and_force_does():
    c = FakeClient(key=5, message='Failed to attest the key: 401', relatch_after=10**6)
    with pytest.raises(TaskError) as exc:
        run(c, state='healthy', wait_timeout=5)  # raised, not latched within wait_timeout
    assert exc.value.result['changed'] and c.key == 6
    c.calls = []
    r = run(c, state='healthy', wait_timeout=5)  # the re-run: pending, whatever the message says
    assert not r['changed'] and c.writes() == [] and r['health']['verdict'] == 'pending'
    assert 'state: reset' in r['msg'] and 'force: true' in r['msg']
    r = run(c, state='healthy', force=True, wait=False)
    assert r['changed'] and c.key == 7


def test_lost_key_with_record_is_pending():
    c = FakeClient(key=5, message='Failed to acquire key details: x', relatch_after=10**6)
    c.guest = (None, None)  # a guest that lost its key reports no keyIncarnationId
    c.tags[pa.RECORD_TAG] = pa.record_value(5)
    r = run(c, state='healthy')
    assert not r['changed'] and r['health']['verdict'] == 'pending' and c.writes() == []


@pytest.mark.parametrize(
    'params, words',
    [
        (dict(state='reset', wait_timeout=0), 'wait_timeout must be more than 0'),
        (dict(state='reset', wait_timeout=-5), 'wait_timeout must be more than 0'),
        (dict(key_incarnation_id=2**31), 'key_incarnation_id must be between 0 and 2147483647'),
        (dict(key_incarnation_id=-1), 'key_incarnation_id must be between 0 and 2147483647'),
    ],
)
def test_bad_values_refused_before_any_call(params, words):
    p = dict(vm_id=VM.id, state=None, key_incarnation_id=None, force=False, wait=True, wait_timeout=60)
    p.update(params)
    r = execute(pa.task_spec(), p, client=object())  # any call on object() would raise
    assert r['failed'] and words in r['msg']


def test_wait_false_accepted_then_failed_reports_changed():
    def failed_after_accept(c):
        err = ArmError('the operation ended with status Failed', code='OperationFailed')
        err.accepted = True
        c.key += 1
        return err

    c = FakeClient(key=5, errors=[failed_after_accept])
    with pytest.raises(TaskError) as exc:
        run(c, state='reset', wait=False)
    assert exc.value.result['changed'] is True and exc.value.result['key_incarnation_id'] == 6
    assert 'accepted' in exc.value.msg and 'OperationFailed' in exc.value.msg
    assert len(c.writes()) == 1  # an accepted write is never retried


def test_concurrent_at_least_retries_when_still_below():
    busy = ArmError(
        "Operation 'Update' is not allowed on VM 'vm1' since another operation is in progress.",
        status=409,
        code='OperationNotAllowed',
    )
    c = FakeClient(key=5, errors=[busy])
    r = run(c, key_incarnation_id=8)
    assert r['key_incarnation_id'] == 8 and len(c.writes()) == 2


def test_412_on_instance_rereads_etag():
    pre = ArmError('precondition failed', status=412, code='PreconditionFailed')
    c = FakeClient(key=5, errors=[pre])
    r = run(c, target=INST, state='reset')
    w1, w2 = c.writes()
    assert r['key_incarnation_id'] == 6 and w1[3] == w2[3] == '"1"'


def test_other_errors_propagate():
    c = FakeClient(errors=[ArmError('denied', status=403, code='AuthorizationFailed')])
    with pytest.raises(ArmError):
        run(c, state='reset')


class _Missing:
    subscription_id = SUB

    def __init__(self, code):
        self.code = code

    def get_with_etag(self, *a, **kw):
        raise ArmError('nope', status=404, code=self.code)


@pytest.mark.parametrize(
    'code, words',
    [
        ('ResourceNotFound', "VM 'vm1' not found in resource group 'rg'"),
        ('ResourceGroupNotFound', "resource group 'rg' not found in subscription"),
    ],
)
def test_missing_vm_or_group_via_execute(code, words):
    r = execute(
        pa.task_spec(),
        dict(vm_id=VM.id, state='reset', wait=True, wait_timeout=5, force=False, key_incarnation_id=None),
        client=_Missing(code),
    )
    assert r['failed'] and words in r['msg'] and r['id'] == VM.id


def test_execute_bad_target_fails_before_any_call():
    r = execute(pa.task_spec(), dict(vm_id='/subscriptions/x', state='reset'), client=object())
    assert r['failed'] and r['msg'].startswith('vm_id: expected')


def test_execute_name_target_gets_subscription_from_client():
    c = FakeClient(key=1)
    r = execute(pa.task_spec(), dict(resource_group='rg', name='vm1', key_incarnation_id=1, wait=False), client=c)
    assert not r.get('failed') and r['id'] == VM.id


# -- issue 21: a refusal no retry can pass fails at the first attempt; races are still re-decided --------------
RG_SCOPE = '/subscriptions/%s/resourceGroups/rg' % SUB
LOCKED = (
    "The scope '%s' cannot perform write operation because following scope(s) are locked: '%s'. Please remove the "
    'lock and try again.' % (VM.id, RG_SCOPE)
)
FINAL_REFUSALS = [
    (409, 'ScopeLocked', LOCKED, 'scope_locked'),
    (
        409,
        'ResourceGroupBeingDeleted',
        "The resource group 'rg' is in deprovisioning state and cannot perform this operation.",
        'conflict',
    ),
    (
        409,
        'OperationNotAllowed',
        "Operation 'Update' is not allowed on VM 'vm1' since the VM is marked for deletion. "
        'You can only retry the Delete operation (or wait for an ongoing one to complete).',
        'conflict',
    ),
    (
        409,
        'OperationNotAllowed',
        "Extension operations are disallowed since 'allowExtensionOperations' is false.",
        'extensions_disabled',
    ),
    (403, 'RequestDisallowedByPolicy', "Resource 'vm1' was disallowed by policy.", 'policy_denied'),
    (
        403,
        'AuthorizationFailed',
        "does not have authorization to perform action 'Microsoft.Compute/virtualMachines/"
        "write' over scope '%s'" % VM.id,
        'rbac_missing',
    ),
]


@pytest.mark.parametrize(
    'status, code, message, reason', FINAL_REFUSALS, ids=[c[1] + str(i) for i, c in enumerate(FINAL_REFUSALS)]
)
def test_a_refusal_that_cannot_pass_is_written_once(status, code, message, reason):
    slept = []
    c = FakeClient(key=5, errors=[ArmError(message, status=status, code=code)] * 6)
    ctx = RunContext(client=c, target=VM, params=dict(state='reset', wait=True, wait_timeout=60), diff=True)
    with pytest.raises(ArmError) as exc:
        pa.run(ctx, sleep=slept.append, clock=lambda: sum(slept))
    assert exc.value.reason_code == reason
    assert len(c.writes()) == 1 and slept == []  # no second attempt, no back-off
    assert len([x for x in c.calls if x[0] == 'GET']) == 1  # and no re-read to decide again


def test_scope_locked_result_names_the_locked_scope():
    c = FakeClient(key=5, errors=[ArmError(LOCKED, status=409, code='ScopeLocked', resource_id=VM.id)])
    r = execute(
        pa.task_spec(),
        dict(vm_id=VM.id, state='reset', wait=True, wait_timeout=5, force=False, key_incarnation_id=None),
        client=c,
    )
    assert r['failed'] and r['outcome']['reason_code'] == 'scope_locked' and r['locked_scope'] == RG_SCOPE
    assert "Locked scope: '%s'" % RG_SCOPE in r['msg'] and 'remove the lock' in r['msg']
    assert len(c.writes()) == 1


@pytest.mark.parametrize(
    'status, code, message',
    [
        (
            409,
            'OperationNotAllowed',
            "Operation 'Update' is not allowed on VM 'vm1' since another operation is in progress.",
        ),
        (409, 'Conflict', 'The request conflicts with another request.'),
        (409, 'OperationPreempted', 'The operation was preempted by another operation.'),
        (409, 'RetryableError', 'A retryable error occurred.'),
        (412, 'PreconditionFailed', 'precondition failed'),
    ],
)
def test_races_are_still_re_decided(status, code, message):
    c = FakeClient(key=5, errors=[ArmError(message, status=status, code=code)] * 2)
    r = run(c, state='reset')
    assert r['changed'] and r['key_incarnation_id'] == 6 and len(c.writes()) == 3
