"""Issue 21 end to end: the collection against the simulator's refusals fleet (tests/armsim/fleets/refusals.yaml),
through real ansible-playbook runs, with no injected fault.

Every refusal here is the simulator's own: the ReadOnly lock of rg-frozen (409 ScopeLocked), the deny policy on
VMAccessForLinux of rg-policy-ext (403 RequestDisallowedByPolicy), a principal without the extension write (403
AuthorizationFailed), a VM whose model disallows extension operations, a VM agent Not Ready on a running VM, a
failed extension of another handler, a VM Resource Health says is Unavailable.

With the preflight (the default), every such VM is skipped before any write with its reason code and the fix,
every other VM is done, and Azure refuses no write. With ``preflight: false``, the same reason codes come from the
writes' errors: a write Azure refuses fails its target and is sent exactly once; a target whose VM read shows the
write cannot pass is skipped with 0 writes. The role's summary counts both by reason code.
"""

import os

import pytest

from ansible_runner import REPO_ROOT, collection_playbook, published_stats, run_adhoc, run_playbook, write_inventory

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = pytest.mark.core_agnostic

FLEET = os.path.join(REPO_ROOT, 'tests', 'armsim', 'fleets', 'refusals.yaml')
LINUX = 'vmrescue.azure.vmaccess_linux'
KEY_RESET = 'vmrescue.azure.proxy_agent_key_reset'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'
EXT_WRITE = 'Microsoft.Compute/virtualMachines/extensions/write'
PRINCIPALS = {  # refusals.yaml
    'operator': ('33333333-3333-4333-8333-333333333333', 'armsim-refusals-secret-3'),
    'operator-no-extension-write': ('44444444-4444-4444-8444-444444444444', 'armsim-refusals-secret-4'),
    'operator-writes-only': ('55555555-5555-4555-8555-555555555555', 'armsim-refusals-secret-5'),
}

# Every Linux VM of the fleet (ok-win is the only Windows VM): resource group, then what vmaccess_linux does with it
# today (outcome status, reason code, number of writes sent for the VM or its extensions).
VMS = {
    'ok-1': 'rg-ok',
    'ok-2': 'rg-ok',
    'frozen-1': 'rg-frozen',
    'polext-1': 'rg-policy-ext',
    'polmsp-1': 'rg-policy-msp',
    'nodelete-1': 'rg-refusals',
    'noext-1': 'rg-refusals',
    'agent-notready-1': 'rg-refusals',
    'failed-ext-1': 'rg-refusals',
    'unavailable-1': 'rg-refusals',
    'ok-3': 'rg-refusals',
}
DONE = ('done', 'changed', 1)
EXPECTED_WITHOUT_PREFLIGHT = {
    'ok-1': DONE,
    'ok-2': DONE,
    'ok-3': DONE,
    'polmsp-1': DONE,  # its policy denies wireServer Audit, not the extension
    'nodelete-1': DONE,  # CanNotDelete refuses deletes only
    'unavailable-1': DONE,  # only the preflight reads Resource Health: without it, the write goes through
    'frozen-1': ('failed', 'scope_locked', 1),
    'polext-1': ('failed', 'policy_denied', 1),
    'noext-1': ('skipped', 'extensions_disabled', 0),
    'agent-notready-1': ('skipped', 'agent_not_ready', 0),
    'failed-ext-1': ('skipped', 'extension_failed', 0),
}
EXPECTED = dict(
    EXPECTED_WITHOUT_PREFLIGHT,
    **{
        'frozen-1': ('skipped', 'scope_locked', 0),
        'polext-1': ('skipped', 'policy_denied', 0),
        'unavailable-1': ('skipped', 'platform_unavailable', 0),
    },
)


@pytest.fixture
def ref(sim):
    """The session simulator reset to fleets/refusals.yaml (same tenant, subscription and first principal as the
    test fleet, so sim_env signs in). An extension write to the Not Ready agent gives up after 20 s, not 25 min:
    a gate that let the write through fails the test instead of hanging it."""
    sim.control.reset(FLEET)
    sim.control.config(agent_timeout_seconds=20)
    sim.control.clear_requests()
    return sim


def scope(sim, rg):
    return sim.vm_id(rg, 'x').split('/providers/')[0]


def vm_id(sim, name):
    return sim.vm_id(VMS[name], name)


def writes_to(sim, name):
    """The write requests (any method but GET) sent for VM ``name`` or its extensions, refused ones included."""
    marker = '/virtualMachines/%s' % name
    return [
        r
        for r in sim.control.requests()
        if r['method'] != 'GET' and marker in r['path'] and r['path'].split('?')[0].split(marker, 1)[1][:1] in ('', '/')
    ]


def as_principal(env, name):
    client_id, secret = PRINCIPALS[name]
    return dict(env, AZURE_CLIENT_ID=client_id, AZURE_SECRET=secret, AZURE_CLIENT_SECRET=secret)


def batch(env, module, names, sim, check=False, **args):
    """One task of ``module`` in batch mode over the VMs; -> (Result, {name: entry of results})."""
    ids = [vm_id(sim, n) for n in names]
    task = {'name': 'batch', module: dict(args, targets=ids), 'register': 'out'}
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}], env, check=check)
    out = run.result()
    assert [r['id'] for r in out['results']] == ids, run
    return run, dict((n, r) for n, r in zip(names, out['results']))


def outcome(entry):
    return entry['outcome']['status'], entry['outcome']['reason_code']


def refused_writes(sim):
    """The writes Azure refused (4xx), any VM."""
    return [
        r for r in sim.control.requests() if r['method'] != 'GET' and r['status'] >= 400 and '/_sim/' not in r['path']
    ]


# -- 1. vmaccess_linux, one batch task over every Linux VM ------------------------------------------------------
def test_vmaccess_batch_over_the_refusals_fleet(ref, sim_env):
    """The preflight skips each VM a write cannot pass, before any write, with its reason code and fix; every other
    VM is done; Azure refuses no write; the task makes its checks once per resource group."""
    run, res = batch(sim_env, LINUX, list(VMS), ref, username='rescue', ssh_key=KEY)
    out = run.result()
    assert run.rc == 0 and not out.get('failed'), run
    got = dict((n, outcome(e) + (len(writes_to(ref, n)),)) for n, e in res.items())
    assert got == EXPECTED, run
    assert refused_writes(ref) == [], refused_writes(ref)

    locked = res['frozen-1']
    assert locked['locked_scope'] == scope(ref, 'rg-frozen') and locked['lock']['name'] == 'change-freeze', locked
    assert 'Skipped before any write' in locked['msg'] and 'az lock delete' in locked['msg'], locked['msg']
    assert 'Quarterly change freeze' in locked['msg'] and locked['changed'] is False, locked

    denied = res['polext-1']
    assignment = scope(ref, 'rg-policy-ext') + '/providers/Microsoft.Authorization/policyAssignments/deny-vmaccess'
    assert denied['policy_violations'][0]['assignment_id'] == assignment, denied
    assert "assignment 'deny-vmaccess' (%s)" % assignment in denied['msg'], denied['msg']
    assert 'az policy exemption create' in denied['msg'], denied['msg']

    down = res['unavailable-1']
    assert down['resource_health']['availabilityState'] == 'Unavailable', down
    assert 'az vm redeploy' in down['msg'], down['msg']

    failing = {'frozen-1': 'locks', 'polext-1': 'policy', 'unavailable-1': 'health'}
    for name, expected in EXPECTED.items():
        checks = dict(permissions='passed', locks='passed', policy='passed', health='passed')
        if name in failing:
            checks[failing[name]] = 'failed'
        if name in ('noext-1', 'agent-notready-1', 'failed-ext-1'):  # skipped by what the VM shows: never written
            checks = {}
        assert res[name]['preflight']['checks'] == checks, (name, res[name]['preflight'])
        assert res[name]['preflight']['evaluated'] == bool(checks), (name, res[name]['preflight'])
        if expected == DONE:
            assert res[name]['changed'] and not res[name]['failed'], res[name]
            assert res[name]['message'] == 'Enable succeeded.', res[name]
    # once per resource group: permissions, locks, health, and one policy probe (one body) per group
    groups = set(VMS.values())
    assert out['preflight'] == dict(scopes=len(groups), calls=4 * len(groups), unchecked=[], audit_policies=[]), out
    reads = [r for r in ref.control.requests() if 'Microsoft.Authorization/locks' in r['path']]
    assert len(reads) == len(groups), reads
    assert (out['total'], out['failed_count'], out['changed_count']) == (len(VMS), 0, 5), out


def test_vmaccess_batch_without_preflight_learns_the_same_reasons_from_the_writes(ref, sim_env):
    run, res = batch(sim_env, LINUX, list(VMS), ref, username='rescue', ssh_key=KEY, preflight=False)
    out = run.result()
    assert run.rc == 0 and not out.get('failed'), run  # a failed entry fails only itself
    got = dict((n, outcome(e) + (len(writes_to(ref, n)),)) for n, e in res.items())
    assert got == EXPECTED_WITHOUT_PREFLIGHT, run
    assert 'preflight' not in out and not any('preflight' in e for e in res.values()), out

    locked = res['frozen-1']
    assert locked['failed'] and locked['locked_scope'] == scope(ref, 'rg-frozen'), locked
    assert "Locked scope: '%s'" % scope(ref, 'rg-frozen') in locked['msg']
    (write,) = writes_to(ref, 'frozen-1')
    assert write['method'] == 'PUT' and write['path'].split('?')[0].endswith('/extensions/enablevmaccess')
    assert write['status'] == 409

    denied = res['polext-1']
    assignment = scope(ref, 'rg-policy-ext') + '/providers/Microsoft.Authorization/policyAssignments/deny-vmaccess'
    assert denied['failed'] and denied['policy_violations'][0]['assignment_id'] == assignment, denied
    assert "assignment 'Deny the VMAccess extension' (%s)" % assignment in denied['msg'], denied['msg']
    assert "definition 'Only approved VM extensions should be installed'" in denied['msg'], denied['msg']
    assert writes_to(ref, 'polext-1')[0]['status'] == 403

    for name in ('noext-1', 'agent-notready-1', 'failed-ext-1'):
        assert not res[name]['failed'] and res[name]['changed'] is False, res[name]
        assert 'Skipped before any write' in res[name]['msg'], res[name]
    assert 'allowExtensionOperations: false' in res['noext-1']['msg']
    assert "'Not Ready'" in res['agent-notready-1']['msg']
    assert res['failed-ext-1']['failed_extensions'] == ['CustomScript']

    for name, expected in EXPECTED_WITHOUT_PREFLIGHT.items():
        if expected == DONE:
            assert res[name]['changed'] and not res[name]['failed'], res[name]
            assert res[name]['message'] == 'Enable succeeded.', res[name]
            guest = ref.control.guest(vm_id(ref, name))
            assert any(KEY in k for k in guest['users']['rescue']['authorized_keys']), guest
    # A write Azure refused (frozen-1: 409 ScopeLocked, polext-1: 403 RequestDisallowedByPolicy) changed nothing
    for name in ('frozen-1', 'polext-1'):
        assert res[name]['changed'] is False and 'diff' not in res[name], res[name]
    done = sum(1 for expected in EXPECTED_WITHOUT_PREFLIGHT.values() if expected == DONE)
    assert (out['total'], out['failed_count'], out['changed_count']) == (len(VMS), 2, done), out


@pytest.mark.parametrize(
    'principal, preflight, expected, writes',
    [
        ('operator', True, ('done', 'changed'), 1),
        ('operator-writes-only', True, ('done', 'changed'), 1),
        ('operator-no-extension-write', True, ('skipped', 'rbac_missing'), 0),
        ('operator-no-extension-write', False, ('failed', 'rbac_missing'), 1),
    ],
)
def test_vmaccess_batch_as_a_role_principal(ref, sim_env, principal, preflight, expected, writes):
    """The docsite least-privilege role is enough, its preflight checks all made; without the preflight's reads
    (locks, policy, health) those checks are unchecked warnings, never a block; the role without the extension write
    is skipped with rbac_missing naming the action before any write, or, without the preflight, fails with its one
    write refused."""
    env = as_principal(sim_env, principal)
    run, res = batch(env, LINUX, ['ok-1'], ref, username='rescue', ssh_key=KEY, preflight=preflight)
    entry = res['ok-1']
    assert outcome(entry) == expected, run
    assert len(writes_to(ref, 'ok-1')) == writes
    warnings = run.result().get('warnings') or []
    if expected[1] == 'rbac_missing' and preflight:
        assert entry['missing_actions'] == [EXT_WRITE] and entry['changed'] is False, entry
        assert "lacks permission for action '%s'" % EXT_WRITE in entry['msg'], entry
        assert 'vmrescue-azure-role.json' in entry['msg'], entry['msg']
    elif expected[0] == 'failed':
        assert "lacks permission for action '%s'" % EXT_WRITE in entry['msg'], entry
        assert entry['arm_error']['action'] == EXT_WRITE, entry
        assert writes_to(ref, 'ok-1')[0]['status'] == 403
    if principal == 'operator':
        assert entry['preflight']['unchecked'] == [] and not any('not checked' in w for w in warnings), entry
    if principal == 'operator-writes-only':
        unchecked = dict((u['check'], u['missing_action']) for u in entry['preflight']['unchecked'])
        assert unchecked == {
            'locks': 'Microsoft.Authorization/locks/read',
            'policy': 'Microsoft.PolicyInsights/checkPolicyRestrictions/read',
            'health': 'Microsoft.ResourceHealth/availabilityStatuses/read',
        }, entry['preflight']
        assert any('locks not checked in 1 scope(s)' in w and 'not blocking' in w for w in warnings), warnings


# -- 2. proxy_agent_key_reset ----------------------------------------------------------------------------------
@pytest.mark.parametrize('preflight', [True, False])
def test_key_reset_locked_group_and_ok_group(ref, sim_env, preflight):
    """The locked VM: skipped before any write (preflight), or refused once (a lock never lets a retry pass)."""
    run, res = batch(sim_env, KEY_RESET, ['frozen-1', 'ok-1'], ref, state='reset', preflight=preflight)
    assert run.rc == 0, run
    locked = res['frozen-1']
    assert outcome(locked) == ('skipped' if preflight else 'failed', 'scope_locked'), locked
    assert locked['locked_scope'] == scope(ref, 'rg-frozen') and locked['changed'] is False, locked
    if preflight:
        assert writes_to(ref, 'frozen-1') == []
    else:
        (write,) = writes_to(ref, 'frozen-1')
        assert (write['method'], write['status']) == ('PATCH', 409), write
    model = ref.control.vm(vm_id(ref, 'frozen-1'))['model']['properties']['securityProfile']['proxyAgentSettings']
    assert model['keyIncarnationId'] == 1
    assert outcome(res['ok-1'])[0] == 'done' and res['ok-1']['key_incarnation_id'] == 2, res['ok-1']


def test_key_reset_needing_no_write_is_reported_as_it_is_under_a_lock(ref, sim_env):
    """The verdict applies at the write: a latched key under a ReadOnly lock is simply healthy (no skip), and a run
    that writes nothing makes no preflight call."""
    ref.control.reset_counters()
    run, res = batch(sim_env, KEY_RESET, ['frozen-1'], ref, state='healthy')
    assert outcome(res['frozen-1'])[0] in ('unchanged', 'done'), res['frozen-1']
    assert res['frozen-1']['preflight']['evaluated'] is False, res['frozen-1']
    assert run.result()['preflight'] == dict(scopes=0, calls=0, unchecked=[], audit_policies=[]), run
    assert writes_to(ref, 'frozen-1') == []
    routes = ref.control.counters()['by_route']
    assert not any(k in routes for k in ('locks.list', 'permissions.list', 'health.list', 'policy.check')), routes


# -- 3. the role over an inventory of the same VMs ---------------------------------------------------------------
@pytest.mark.parametrize('preflight', [True, False])
def test_regain_linux_access_summary_counts_by_reason_code(ref, sim_env, tmp_path, preflight):
    expected = EXPECTED if preflight else EXPECTED_WITHOUT_PREFLIGHT
    inventory = write_inventory(tmp_path, dict((n, {'azure_vm_id': vm_id(ref, n)}) for n in VMS))
    run = run_playbook(
        collection_playbook('regain_linux_access'),
        sim_env,
        inventory=inventory,
        extra_vars={
            'linux_access_recovery_username': 'rescue',
            'linux_access_recovery_ssh_key': KEY,
            'linux_access_recovery_preflight': preflight,
        },
    )
    summary = published_stats(run, 'linux_access_recovery_summary')
    by_status = dict((s, sorted(n for n, e in expected.items() if e[0] == s)) for s in ('done', 'skipped', 'failed'))
    assert sorted(summary['changed_hosts']) == by_status['done'], summary
    assert sorted(summary['skipped_hosts']) == by_status['skipped'], summary
    assert sorted(summary['failed_hosts']) == by_status['failed'], summary
    codes = dict(scope_locked=1, policy_denied=1, extensions_disabled=1, agent_not_ready=1, extension_failed=1)
    if preflight:
        codes['platform_unavailable'] = 1
    assert summary['reason_codes'] == codes, summary
    # linux_access_recovery_fail_hosts (default true) fails the failed hosts after the summary: none with the preflight
    assert (run.rc == 0) == preflight, run
    for name, (_status, _code, writes) in expected.items():
        assert len(writes_to(ref, name)) == writes, name


def test_check_mode_does_not_promise_a_write_a_lock_refuses(ref, sim_env):
    run, res = batch(sim_env, KEY_RESET, ['frozen-1', 'ok-1'], ref, check=True, state='reset')
    assert outcome(res['frozen-1']) == ('skipped', 'scope_locked'), run
    assert 'Would be skipped (check mode)' in res['frozen-1']['msg'], res['frozen-1']
    assert res['ok-1']['changed'] is True and outcome(res['ok-1'])[0] != 'skipped', res['ok-1']
    assert refused_writes(ref) == []
    writes = [r for r in ref.control.requests() if r['method'] != 'GET' and '/subscriptions/' in r['path']]
    assert [r['path'].split('?')[0].rsplit('/', 1)[-1] for r in writes] == ['checkPolicyRestrictions'] * 2, writes


# -- 4. vmrescue.azure.recovery_preflight: the question without the write ------------------------------------------
PREFLIGHT_CODES = {
    'ok-1': 'ready',
    'ok-2': 'ready',
    'ok-3': 'ready',
    'polmsp-1': 'ready',
    'nodelete-1': 'ready',
    'frozen-1': 'scope_locked',
    'polext-1': 'policy_denied',
    'unavailable-1': 'platform_unavailable',
    'noext-1': 'extensions_disabled',
    'agent-notready-1': 'agent_not_ready',
    'failed-ext-1': 'extension_failed',
}


def no_writes(sim):
    return [
        r
        for r in sim.control.requests()
        if r['method'] != 'GET' and '/subscriptions/' in r['path'] and 'checkPolicyRestrictions' not in r['path']
    ]


def test_recovery_preflight_module_says_which_vms_would_refuse_and_why(ref, sim_env):
    run, res = batch(sim_env, 'vmrescue.azure.recovery_preflight', list(VMS), ref, operation='vmaccess_linux')
    out = run.result()
    assert run.rc == 0 and out['changed'] is False, run
    assert dict((n, e['reason_code']) for n, e in res.items()) == PREFLIGHT_CODES, run
    assert all(e['ready'] == (PREFLIGHT_CODES[n] == 'ready') for n, e in res.items()), res
    assert no_writes(ref) == [], no_writes(ref)
    assert 'az lock delete' in res['frozen-1']['msg'] and 'Skipped' not in res['frozen-1']['msg'], res['frozen-1']
    assert res['agent-notready-1']['facts']['vm_agent']['status'] == 'Not Ready', res['agent-notready-1']
    assert res['noext-1']['facts']['allow_extension_operations'] is False
    groups = set(VMS.values())
    assert out['preflight']['scopes'] == len(groups) and out['preflight']['calls'] == 4 * len(groups), out
    assert out['msg'] == '11 target(s): 5 ready, 6 would be refused or cannot be checked', out['msg']


def test_recovery_preflight_policy_on_an_endpoint_mode_switch(ref, sim_env):
    """The deny on wireServer Audit of rg-policy-msp refuses a break-glass there (not a key reset); an audit policy on
    IMDS Disabled is a warning only."""
    run, res = batch(
        sim_env,
        'vmrescue.azure.recovery_preflight',
        ['polmsp-1', 'ok-1'],
        ref,
        operation='proxy_agent_settings',
        wire_server_mode='Audit',
        imds_mode='Disabled',
    )
    assert res['polmsp-1']['reason_code'] == 'policy_denied', res['polmsp-1']
    assert 'deny-wireserver-audit' in res['polmsp-1']['msg'], res['polmsp-1']['msg']
    assert any('audit-imds-disabled' in w for w in res['polmsp-1']['preflight']['warnings']), res['polmsp-1']
    assert res['ok-1']['reason_code'] == 'ready', res['ok-1']
    run, res = batch(sim_env, 'vmrescue.azure.recovery_preflight', ['polmsp-1'], ref, operation='key_reset')
    assert res['polmsp-1']['reason_code'] == 'ready', res['polmsp-1']
    assert no_writes(ref) == []


def test_recovery_preflight_lookup_and_adhoc(ref, sim_env, tmp_path):
    ids = [vm_id(ref, n) for n in ('frozen-1', 'ok-1')]
    task = {
        'name': 'lookup',
        'ansible.builtin.set_fact': {
            'checks': "{{ query('vmrescue.azure.recovery_preflight', *ids, operation='key_reset') }}"
        },
        'vars': {'ids': ids},
    }
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}], sim_env)
    checks = run.result()['ansible_facts']['checks']
    assert [(c['id'], c['reason_code']) for c in checks] == [(ids[0], 'scope_locked'), (ids[1], 'ready')], run
    adhoc = run_adhoc(
        'localhost',
        'vmrescue.azure.recovery_preflight',
        'operation=key_reset resource_group=rg-frozen name=frozen-1',
        sim_env,
        args=['-o'],
    )
    assert adhoc.rc == 0 and 'scope_locked' in adhoc.stdout, adhoc
    assert no_writes(ref) == []


def test_recovery_preflight_for_run_command(ref, sim_env):
    """Run Command runs through the VM agent: the extension gates apply, and the locks and Azure Policy of its own
    write (a runCommands PUT, not VMAccess: rg-policy-ext denies only VMAccessForLinux)."""
    names = ['ok-1', 'frozen-1', 'polext-1', 'noext-1', 'agent-notready-1']
    run, res = batch(sim_env, 'vmrescue.azure.recovery_preflight', names, ref, operation='run_command')
    assert dict((n, e['reason_code']) for n, e in res.items()) == {
        'ok-1': 'ready',
        'frozen-1': 'scope_locked',
        'polext-1': 'ready',
        'noext-1': 'extensions_disabled',
        'agent-notready-1': 'agent_not_ready',
    }, run
    assert 'Run Command' in res['agent-notready-1']['msg'], res['agent-notready-1']['msg']
    assert no_writes(ref) == []
