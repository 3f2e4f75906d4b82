"""The preflight (issue 21; plugins/module_utils/_preflight): permissions with Azure's wildcards, locks by scope and
level, policy and health verdicts, unchecked reads, and the gate's economy (once per group, only when a target is
about to be written). No network: a fake client answers the scope reads."""

import threading

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import allowed, lock_scope
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.gate import Gate, PreflightSkip
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import (
    extension_delete,
    extension_write,
    model_write,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

SUB = '00000000-0000-0000-0000-000000000001'
RG = '/subscriptions/%s/resourceGroups/rg-%s' % (SUB, '%s')
VM = RG + '/providers/Microsoft.Compute/virtualMachines/%s'
EXT = extension_write('VMAccessForLinux extension', 'Microsoft.OSTCExtensions', 'VMAccessForLinux', '1.5')
EXT_WRITE = 'Microsoft.Compute/virtualMachines/extensions/write'


def target(group, name):
    return parse_resource_id(VM % (group, name))


class FakeArm:
    """Answers the preflight's reads from tables; counts the calls (thread-safe)."""

    def __init__(self, permissions=None, locks=(), health=None, deny=(), audit=(), refuse=()):
        self.permissions = permissions if permissions is not None else [{'actions': ['*'], 'notActions': []}]
        self.resource_permissions = {}
        self.locks = list(locks)
        self.health = dict(health or {})
        self.deny, self.audit, self.refuse = list(deny), list(audit), set(refuse)
        self.calls = []
        self.lock = threading.Lock()

    def _log(self, what):
        with self.lock:
            self.calls.append(what)
        if what[0] in self.refuse:
            raise ArmError(
                "The client 'x' with object id 'y' does not have authorization to perform action "
                "'Microsoft.Authorization/locks/read' over scope '%s' or the scope is invalid." % what[1],
                status=403,
                code='AuthorizationFailed',
            )

    def get(self, path, api_version=None, params=None):
        scope, kind = path.rsplit('/providers/', 1)[0], path.rsplit('/', 1)[1].lower()
        if kind == 'permissions':
            self._log(('permissions', scope))
            return {'value': self.resource_permissions.get(scope.lower(), self.permissions)}
        if kind == 'locks':
            self._log(('locks', scope))
            return {'value': [lock for lock in self.locks if lock['id'].lower().startswith(scope.lower())]}
        self._log(('health', scope))
        return {
            'value': [
                {'id': vm + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current', 'properties': props}
                for vm, props in self.health.items()
            ]
        }

    def request(self, method, path, api_version=None, body=None):
        self._log(('policy', path.rsplit('/providers/', 1)[0]))

        class Resp:
            pass

        resp = Resp()
        evaluations = [
            {'policyInfo': {'policyAssignmentId': a}, 'evaluationResult': 'NonCompliant', 'effectDetails': e}
            for a, e in [(a, {'policyEffect': 'Deny'}) for a in self.deny]
            + [(a, {'policyEffect': 'Audit'}) for a in self.audit]
        ]
        resp.body = {'contentEvaluationResult': {'policyEvaluations': evaluations}}
        return resp


def lock(scope, level, name='freeze'):
    return {
        'id': scope + '/providers/Microsoft.Authorization/locks/' + name,
        'name': name,
        'properties': {'level': level, 'notes': 'change freeze'},
    }


@pytest.mark.parametrize(
    'entries, action, expected',
    [
        ([{'actions': ['*']}], EXT_WRITE, True),
        ([{'actions': ['Microsoft.Compute/*']}], EXT_WRITE, True),
        ([{'actions': ['microsoft.compute/virtualmachines/*/write']}], EXT_WRITE, True),  # case-insensitive
        ([{'actions': ['*'], 'notActions': ['Microsoft.Compute/virtualMachines/extensions/*']}], EXT_WRITE, False),
        ([{'actions': ['*'], 'notActions': [EXT_WRITE]}, {'actions': [EXT_WRITE]}], EXT_WRITE, True),  # a union
        ([{'actions': ['Microsoft.Compute/virtualMachines/read']}], EXT_WRITE, False),
        ([], EXT_WRITE, False),
    ],
)
def test_allowed_follows_azure_wildcards_and_not_actions(entries, action, expected):
    assert allowed(entries, action) is expected


def test_lock_scope_is_the_id_before_the_lock_provider():
    assert lock_scope((RG % 'a') + '/providers/Microsoft.Authorization/locks/x') == RG % 'a'
    assert lock_scope(VM % ('a', 'vm1') + '/providers/microsoft.authorization/locks/x') == VM % ('a', 'vm1')


def test_nothing_is_read_until_a_target_is_about_to_be_written():
    arm = FakeArm()
    gate = Gate(arm, EXT)
    verdicts = [gate.verdict(target('a', 'vm%d' % i)) for i in range(5)]
    verdicts[0].guard('GET', '/x')  # reads never evaluate it
    assert arm.calls == [] and gate.summary().as_dict()['calls'] == 0
    verdicts[0].guard('PUT', '/x')
    verdicts[1].guard('PUT', '/x')
    assert sorted(c[0] for c in arm.calls) == ['health', 'locks', 'permissions', 'policy']  # once for the group
    assert gate.summary().as_dict()['scopes'] == 1 and [v.evaluated for v in verdicts] == [True, True] + [False] * 3


def test_a_group_is_checked_once_whatever_the_number_of_threads():
    arm = FakeArm()
    gate = Gate(arm, EXT)
    threads = [
        threading.Thread(target=gate.verdict(target('a', 'vm%d' % i)).guard, args=('PUT', '/x')) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arm.calls) == 4, arm.calls


def test_readonly_lock_refuses_every_write_cannotdelete_only_deletes():
    arm = FakeArm(locks=[lock(RG % 'a', 'ReadOnly'), lock(VM % ('b', 'vm1'), 'CanNotDelete', 'keep')])
    gate = Gate(arm, EXT)
    with pytest.raises(PreflightSkip) as info:
        gate.verdict(target('a', 'vm1')).guard('PUT', '/x')
    assert info.value.reason_code == 'scope_locked' and info.value.result['locked_scope'] == RG % 'a'
    assert 'az lock delete' in info.value.msg and 'change freeze' in info.value.msg
    kept = gate.verdict(target('b', 'vm1'))
    kept.guard('PUT', '/x')  # CanNotDelete: a write passes
    with pytest.raises(PreflightSkip):
        kept.guard('DELETE', '/x')
    gate.verdict(target('b', 'vm2')).guard('DELETE', '/x')  # the lock is on vm1 only
    assert (
        Gate(FakeArm(locks=[lock(VM % ('b', 'vm1'), 'CanNotDelete')]), extension_delete('removal'))
        .verdict(target('b', 'vm1'))
        .blocks('DELETE')[0]
        == 'scope_locked'
    )


def test_missing_action_at_the_group_is_asked_again_at_the_resource():
    arm = FakeArm(permissions=[{'actions': ['Microsoft.Compute/virtualMachines/read']}])
    arm.resource_permissions[(VM % ('a', 'vm2')).lower()] = [{'actions': [EXT_WRITE]}]
    gate = Gate(arm, EXT)
    found = gate.verdict(target('a', 'vm1')).blocks('PUT')
    assert found[0] == 'rbac_missing' and found[2]['missing_actions'] == [EXT_WRITE], found
    assert 'vmrescue-azure-role.json' in found[1]
    assert gate.verdict(target('a', 'vm2')).blocks('PUT') is None  # granted on the VM itself
    assert [c for c in arm.calls if c[0] == 'permissions'][1:] == [
        ('permissions', VM % ('a', 'vm1')),
        ('permissions', VM % ('a', 'vm2')),
    ]


def test_policy_deny_blocks_and_audit_warns():
    assignment = (RG % 'a') + '/providers/Microsoft.Authorization/policyAssignments/deny-vmaccess'
    gate = Gate(FakeArm(deny=[assignment], audit=['/x/policyAssignments/audit-it']), EXT)
    verdict = gate.verdict(target('a', 'vm1'))
    code, msg, fields = verdict.blocks('PUT')
    assert code == 'policy_denied' and fields['policy_violations'][0]['assignment_name'] == 'deny-vmaccess'
    assert 'az policy exemption create' in msg
    assert any('audit-it' in w for w in verdict.as_dict()['warnings'])
    assert any('audit-it' in w for w in gate.summary().warnings())


def test_unavailable_health_blocks_degraded_warns():
    arm = FakeArm(
        health={
            VM % ('a', 'down'): {'availabilityState': 'Unavailable', 'summary': 'host failure'},
            VM % ('a', 'slow'): {'availabilityState': 'Degraded', 'summary': 'slow disk'},
        }
    )
    gate = Gate(arm, model_write('key reset', {'x': 1}))
    assert gate.verdict(target('a', 'down')).blocks('PATCH')[0] == 'platform_unavailable'
    slow = gate.verdict(target('a', 'slow'))
    assert slow.blocks('PATCH') is None and 'Degraded' in slow.as_dict()['warnings'][0]


def test_a_read_the_principal_may_not_make_is_unchecked_never_a_block():
    gate = Gate(FakeArm(refuse={'locks'}, locks=[lock(RG % 'a', 'ReadOnly')]), EXT)
    verdict = gate.verdict(target('a', 'vm1'))
    assert verdict.blocks('PUT') is None
    shown = verdict.as_dict()
    assert shown['checks']['locks'] == 'unchecked' and shown['unchecked'][0]['missing_action'] == (
        'Microsoft.Authorization/locks/read'
    )
    (line,) = gate.summary().warnings()
    assert 'locks not checked in 1 scope(s)' in line and 'not blocking' in line


def test_check_mode_turns_a_refused_promise_into_the_skip():
    gate = Gate(FakeArm(locks=[lock(RG % 'a', 'ReadOnly')]), EXT)
    verdict = gate.verdict(target('a', 'vm1'))
    assert verdict.check_mode_skip({'changed': False}) is None and not verdict.evaluated  # no promise: no read
    out = verdict.check_mode_skip({'changed': True, 'id': VM % ('a', 'vm1')})
    assert out['outcome']['status'] == 'skipped' and out['outcome']['reason_code'] == 'scope_locked'
    assert 'Would be skipped (check mode)' in out['msg'] and out['changed'] is False
