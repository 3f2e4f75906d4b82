"""Issue 21: refused writes and the targets that cannot succeed, through real ansible-playbook runs.

What the simulator offers today is used as is: a VM model with ``osProfile.allowExtensionOperations: false``
(``extra_properties``), the ``readonly`` principal (403 AuthorizationFailed), and injected faults that answer a write
with Azure's own 409 ScopeLocked / 403 RequestDisallowedByPolicy bodies. A write that cannot pass is sent once; a
target whose read shows it cannot pass is skipped before any write, in check mode too; the role's summary counts the
targets by reason code.
"""

import json
import os

import pytest

from ansible_runner import REPO_ROOT, fleet_on_test_principals, run_playbook, write_inventory

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = pytest.mark.core_agnostic

LINUX = 'vmrescue.azure.vmaccess_linux'
KEY_RESET = 'vmrescue.azure.proxy_agent_key_reset'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'
RG = 'rg-refusals'
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [
                {'name': 'ok', 'proxy_agent': {'key_incarnation_id': 1}},
                {'name': 'no-ext-ops', 'extra_properties': {'osProfile': {'allowExtensionOperations': False}}},
                {'name': 'locked', 'proxy_agent': {'key_incarnation_id': 1}},
                {'name': 'denied'},
            ],
        }
    ]
)
HOSTS = ['ok', 'no-ext-ops', 'locked', 'denied']


def locked_message(sim, name):
    return (
        "The scope '%s' cannot perform write operation because following scope(s) are locked: '%s'. Please remove "
        'the lock and try again.' % (sim.vm_id(RG, name), scope(sim))
    )


def scope(sim):
    return sim.vm_id(RG, 'x').split('/providers/')[0]


ASSIGNMENT = '/providers/Microsoft.Authorization/policyAssignments/no-vmaccess'
POLICY_MESSAGE = "Resource 'enablevmaccess' was disallowed by policy. Policy identifiers: '%s'." % json.dumps(
    [
        {
            'policyAssignment': {'name': 'no-vmaccess', 'id': '{scope}' + ASSIGNMENT},
            'policyDefinition': {
                'name': 'not-allowed-extensions',
                'id': '/providers/Microsoft.Authorization/policyDefinitions/c0e996f8-39cf-4af9-9f45-83fbde810432',
            },
        }
    ]
)


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    for method in ('PATCH', 'PUT'):  # a ReadOnly lock refuses writes, never reads
        sim.control.fault(
            method=method,
            path_regex='/virtualMachines/locked(/extensions/.*)?$',
            kind='conflict',
            status=409,
            code='ScopeLocked',
            message=locked_message(sim, 'locked'),
        )
    sim.control.fault(
        method='PUT',
        path_regex='/virtualMachines/denied/extensions/.*$',
        kind='status',
        status=403,
        code='RequestDisallowedByPolicy',
        message=POLICY_MESSAGE.replace('{scope}', scope(sim)),
    )
    sim.control.clear_requests()
    return sim


def writes_to(sim, name):
    """The write requests (any method but GET) sent for VM ``name`` or its extensions, refused ones included."""
    marker = '/virtualMachines/%s' % name
    return [
        r
        for r in sim.control.requests()
        if r['method'] != 'GET' and marker in r['path'] and r['path'].split('?')[0].split(marker, 1)[1][:1] in ('', '/')
    ]


def play(env, *tasks, check=False):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': list(tasks)}], env, check=check)


def test_key_reset_on_a_locked_vm_is_sent_once_and_names_the_lock(fleet, sim_env):
    vm = fleet.vm_id(RG, 'locked')
    r = play(sim_env, {'name': 'key', KEY_RESET: {'vm_id': vm, 'state': 'reset'}, 'register': 'out'})
    res = r.result()
    assert r.rc != 0 and res['failed'], r
    assert res['outcome']['reason_code'] == 'scope_locked' and res['locked_scope'] == scope(fleet)
    assert "Locked scope: '%s'" % scope(fleet) in res['msg'] and 'remove the' in res['msg']
    assert len(writes_to(fleet, 'locked')) == 1  # not re-decided: a lock never lets a retry pass


@pytest.mark.parametrize('check', [False, True])
def test_extensions_disabled_is_skipped_before_any_write(fleet, sim_env, check):
    vm = fleet.vm_id(RG, 'no-ext-ops')
    r = play(sim_env, {'name': 'va', LINUX: {'vm_id': vm, 'reset_ssh': True}, 'register': 'out'}, check=check)
    res = r.result()
    assert r.rc == 0 and not res.get('failed') and res['changed'] is False, r
    assert res['outcome']['status'] == 'skipped' and res['outcome']['reason_code'] == 'extensions_disabled'
    assert 'allowExtensionOperations: false' in res['msg'] and 'Skipped before any write' in res['msg']
    assert writes_to(fleet, 'no-ext-ops') == []


def test_policy_denied_extension_write_names_the_assignment(fleet, sim_env):
    vm = fleet.vm_id(RG, 'denied')
    r = play(sim_env, {'name': 'va', LINUX: {'vm_id': vm, 'reset_ssh': True}, 'register': 'out'})
    res = r.result()
    assert r.rc != 0 and res['failed'], r
    assert res['outcome']['reason_code'] == 'policy_denied'
    assert res['policy_violations'][0]['assignment_id'] == scope(fleet) + ASSIGNMENT
    assert "assignment 'no-vmaccess'" in res['msg'] and "definition 'not-allowed-extensions'" in res['msg']
    assert len(writes_to(fleet, 'denied')) == 1


def test_missing_rbac_action_is_rbac_missing(sim, sim_env):
    env = dict(
        sim_env,
        AZURE_CLIENT_ID='22222222-2222-4222-8222-222222222222',
        AZURE_SECRET='armsim-test-secret-2',
        AZURE_CLIENT_SECRET='armsim-test-secret-2',
    )
    vm = sim.vm_id('rg-linux', 'lin-ok')
    r = play(env, {'name': 'va', LINUX: {'vm_id': vm, 'reset_ssh': True}, 'register': 'out'})
    res = r.result()
    assert r.rc == 0 and res['outcome'] == dict(res['outcome'], status='skipped', reason_code='rbac_missing'), r
    assert res['missing_actions'] == ['Microsoft.Compute/virtualMachines/extensions/write'], res
    r = play(env, {'name': 'va', LINUX: {'vm_id': vm, 'reset_ssh': True, 'preflight': False}, 'register': 'out'})
    res = r.result()
    assert r.rc != 0 and res['failed'], r
    assert res['outcome']['reason_code'] == 'rbac_missing'
    assert "lacks permission for action 'Microsoft.Compute/virtualMachines/extensions/write'" in res['msg']
    assert res['arm_error']['action'] == 'Microsoft.Compute/virtualMachines/extensions/write'


def test_the_role_summary_counts_by_reason_code(fleet, sim_env, tmp_path):
    inventory = write_inventory(tmp_path, dict((h, {'azure_vm_id': fleet.vm_id(RG, h)}) for h in HOSTS))
    run = run_playbook(
        os.path.join(REPO_ROOT, 'playbooks', 'regain_linux_access.yml'),
        sim_env,
        inventory=inventory,
        extra_vars={'linux_access_recovery_username': 'rescue', 'linux_access_recovery_ssh_key': KEY},
    )
    summary = None
    for p in (run.data or {}).get('plays', []):
        for task in p['tasks']:
            for hres in task['hosts'].values():
                summary = ((hres.get('ansible_stats') or {}).get('data') or {}).get(
                    'linux_access_recovery_summary', summary
                )
    assert summary is not None, run
    assert list(summary['changed_hosts']) == ['ok'], summary
    assert list(summary['skipped_hosts']) == ['no-ext-ops'], summary
    assert sorted(summary['failed_hosts']) == ['denied', 'locked'], summary
    assert summary['reason_codes'] == {'extensions_disabled': 1, 'scope_locked': 1, 'policy_denied': 1}, summary
    assert writes_to(fleet, 'no-ext-ops') == []
    assert len(writes_to(fleet, 'locked')) == 1 and len(writes_to(fleet, 'denied')) == 1
