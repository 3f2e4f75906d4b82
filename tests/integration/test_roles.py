"""The recovery roles and collection playbooks, run by real ansible-playbook processes against the simulator.

One mixed fleet: Linux and Windows VMs, a Uniform scale set, healthy and broken keys, a deallocated VM, a VM
without the proxy agent, and one VM (``lin-fail``) on which the simulator refuses every write. The summary counts
are asserted exactly, the failing host must not stop the others, and a re-run changes nothing else.
"""

import os
import subprocess

import pytest

from ansible_runner import (
    REPO_ROOT as REPO,
    client_env,
    collection_playbook as _playbook,
    fleet_on_test_principals,
    published_stats as _published,
    run_playbook,
    write_inventory,
)

# The test fleet's tenant, subscription and principals, so sim.env() still signs in.
FLEET = fleet_on_test_principals(
    [
        {
            'name': 'rg-mix',
            'location': 'westeurope',
            'vms': [
                {'name': 'lin-ok', 'proxy_agent': {'key_incarnation_id': 3}},
                {'name': 'lin-broken', 'proxy_agent': {'key_incarnation_id': 2, 'fault': 'key_lost'}},
                {'name': 'lin-fail', 'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}},
                {'name': 'lin-dealloc', 'power': 'deallocated', 'proxy_agent': {'key_incarnation_id': 1}},
                {'name': 'lin-no-msp'},
                {'name': 'win-ok', 'os': 'windows', 'proxy_agent': {'key_incarnation_id': 2}},
                {
                    'name': 'win-broken',
                    'os': 'windows',
                    # a mismatched key of the model's incarnation: unhealthy (a lower one would be a pending reset)
                    'proxy_agent': {'key_incarnation_id': 4, 'fault': 'key_mismatch', 'guest_key_incarnation_id': 4},
                },
            ],
            'scale_sets': [
                {
                    'name': 'ss-mix',
                    'orchestration': 'Uniform',
                    'proxy_agent': {'key_incarnation_id': 2},
                    'instances': [{}, {'proxy_agent': {'key_incarnation_id': 2, 'fault': 'key_lost'}}],
                },
            ],
        },
    ]
)
RG = 'rg-mix'
VMS = ['lin-ok', 'lin-broken', 'lin-fail', 'lin-dealloc', 'lin-no-msp', 'win-ok', 'win-broken']
INSTANCES = {'ss-mix_0': 0, 'ss-mix_1': 1}
ALL_HOSTS = VMS + list(INSTANCES)
SUMMARY_KEYS = [
    'checked',
    'changed',
    'already_fine',
    'skipped',
    'failed',
    'changed_hosts',
    'already_fine_hosts',
    'skipped_hosts',
    'failed_hosts',
    'reason_codes',
]
# The simulator answers every write to lin-fail (VM PATCH/PUT, extension PUT) with this error.
FAIL_MESSAGE = 'Injected failure for the test'


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    return sim


@pytest.fixture
def env(fleet):
    return client_env(fleet)


def _host_vars(sim, name, with_os=True):
    if name in INSTANCES:
        hv = {'azure_vm_id': sim.instance_id(RG, 'ss-mix', INSTANCES[name])}
    else:
        hv = {'azure_vm_id': sim.vm_id(RG, name)}
    # win-broken deliberately has no os_profile: the module's own refusal must be recognised as "Windows".
    if with_os and name == 'win-ok':
        hv['os_profile'] = {'system': 'windows'}
    return hv


@pytest.fixture
def inventory(fleet, tmp_path):
    return write_inventory(tmp_path, dict((h, _host_vars(fleet, h)) for h in ALL_HOSTS))


def _break_lin_fail(sim):
    sim.control.fault(
        method='PATCH',
        path_regex='/virtualMachines/lin-fail$',
        kind='status',
        status=403,
        code='AuthorizationFailed',
        message=FAIL_MESSAGE,
    )
    sim.control.fault(
        method='PUT',
        path_regex='/virtualMachines/lin-fail(/extensions/.*)?$',
        kind='status',
        status=403,
        code='AuthorizationFailed',
        message=FAIL_MESSAGE,
    )


def _changed_hosts(result):
    return sorted(h for h, s in result.stats.items() if s.get('changed'))


def _failed_hosts(result):
    return sorted(h for h, s in result.stats.items() if s.get('failures'))


def _check_shape(summary):
    assert sorted(k for k in summary if k != 'break_glass_hosts') == sorted(SUMMARY_KEYS)
    assert summary['checked'] == summary['changed'] + summary['already_fine'] + summary['skipped'] + summary['failed']


# -- proxy_agent_key_recovery -------------------------------------------------------------------------------
def test_reset_proxy_agent_keys_mixed_fleet(fleet, env, inventory):
    _break_lin_fail(fleet)
    run = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory)
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    _check_shape(summary)
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        3,
        3,
        2,
        1,
    ), summary
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'ss-mix_1', 'win-broken']
    assert all(v.endswith('confirmed') for v in summary['changed_hosts'].values()), summary['changed_hosts']
    assert sorted(summary['already_fine_hosts']) == ['lin-ok', 'ss-mix_0', 'win-ok']
    assert sorted(summary['skipped_hosts']) == ['lin-dealloc', 'lin-no-msp']
    assert 'deallocated' in summary['skipped_hosts']['lin-dealloc']
    assert 'not enabled' in summary['skipped_hosts']['lin-no-msp']
    assert list(summary['failed_hosts']) == ['lin-fail']
    assert FAIL_MESSAGE in summary['failed_hosts']['lin-fail']
    # AWX semantics: the run ends non-zero, only the broken host is failed, the others did their work.
    assert run.rc != 0
    assert _failed_hosts(run) == ['lin-fail']
    assert _changed_hosts(run) == ['lin-broken', 'ss-mix_1', 'win-broken']
    # The guests really latched new keys.
    for host in ('lin-broken', 'win-broken'):
        vm = fleet.control.vm(fleet.vm_id(RG, host))
        assert vm is not None
    # The summary is printed for people too.
    shown = [t for p in run.data['plays'] for t in p['tasks'] if t['task'].endswith('Show the summary')]
    lines = list(shown[-1]['hosts'].values())[0]['msg']
    assert lines[0] == 'proxy_agent_key_recovery: 9 checked, 3 changed, 3 already fine, 2 skipped, 1 failed'

    # Re-run with the failure gone: it finishes lin-fail and changes nothing else.
    fleet.control.clear_faults()
    again = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory)
    summary = _published(again, 'proxy_agent_key_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (1, 6, 2, 0)
    assert list(summary['changed_hosts']) == ['lin-fail']
    assert again.rc == 0, again
    assert _changed_hosts(again) == ['lin-fail']

    # And a third run changes nothing at all and writes nothing.
    fleet.control.reset_counters()
    third = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory)
    summary = _published(third, 'proxy_agent_key_recovery_summary')
    assert (summary['checked'], summary['changed'], summary['failed']) == (9, 0, 0)
    assert third.rc == 0 and _changed_hosts(third) == []
    assert fleet.control.counters()['write'] == 0


def test_reset_proxy_agent_keys_batches_and_limit(fleet, env, inventory):
    """serial batches of one host: the failing host's batch does not end the play; one summary at the end."""
    _break_lin_fail(fleet)
    run = run_playbook(
        _playbook('reset_proxy_agent_keys'),
        env,
        inventory=inventory,
        extra_vars={'vmrescue_batch_size': 1, 'vmrescue_hosts': 'all:!win-ok'},
    )
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        8,
        3,
        2,
        2,
        1,
    ), summary
    assert _failed_hosts(run) == ['lin-fail']
    assert 'win-ok' not in run.stats


def test_reset_proxy_agent_keys_reset_unknown_and_all(fleet, env, inventory):
    """mode=all resets every host with a key; a deallocated VM is skipped (cannot be confirmed), not failed."""
    run = run_playbook(
        _playbook('reset_proxy_agent_keys'),
        env,
        inventory=inventory,
        extra_vars={'proxy_agent_key_recovery_mode': 'all'},
    )
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (7, 0, 2, 0), summary
    assert 'deallocated' in summary['skipped_hosts']['lin-dealloc']
    assert run.rc == 0


def test_reset_proxy_agent_keys_to_incarnation_is_idempotent(fleet, env, inventory):
    extra = {
        'proxy_agent_key_recovery_mode': 'incarnation',
        'proxy_agent_key_recovery_key_incarnation_id': 4,
        'vmrescue_hosts': 'lin-ok:lin-broken:win-broken',
    }
    run = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory, extra_vars=extra)
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    # lin-ok 3 -> 4, lin-broken 2 -> 4, win-broken already 4.
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'lin-ok'], summary
    assert summary['already_fine_hosts'] == ['win-broken']
    again = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory, extra_vars=extra)
    assert _published(again, 'proxy_agent_key_recovery_summary')['changed'] == 0
    assert _changed_hosts(again) == []


def test_reset_proxy_agent_keys_check_mode_writes_nothing(fleet, env, inventory):
    fleet.control.reset_counters()
    run = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory, check=True)
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'lin-fail', 'ss-mix_1', 'win-broken']
    assert all(v.endswith('would reset (check mode)') for v in summary['changed_hosts'].values()), summary
    assert fleet.control.counters()['write'] == 0


# -- linux_access_recovery ----------------------------------------------------------------------------------
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'
INTENT = {
    'linux_access_recovery_username': 'rescue',
    'linux_access_recovery_ssh_key': KEY,
    'linux_access_recovery_reset_ssh': True,
}


def test_regain_linux_access_mixed_fleet(fleet, env, inventory):
    _break_lin_fail(fleet)
    run = run_playbook(_playbook('regain_linux_access'), env, inventory=inventory, extra_vars=INTENT)
    summary = _published(run, 'linux_access_recovery_summary')
    _check_shape(summary)
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        5,
        0,
        3,
        1,
    ), summary
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'lin-no-msp', 'lin-ok', 'ss-mix_0', 'ss-mix_1']
    # The summary says what changed, not the handler's "Enable succeeded." (the key, never a secret).
    assert summary['changed_hosts']['lin-ok'] == 'user rescue: SSH key set, sshd_config reset', summary
    assert sorted(summary['skipped_hosts']) == ['lin-dealloc', 'win-broken', 'win-ok']
    assert 'Windows' in summary['skipped_hosts']['win-ok']
    assert 'Windows' in summary['skipped_hosts']['win-broken']  # recognised from the module's refusal
    assert 'deallocated' in summary['skipped_hosts']['lin-dealloc']
    assert list(summary['failed_hosts']) == ['lin-fail']
    assert run.rc != 0 and _failed_hosts(run) == ['lin-fail']
    # The guests got the user and the key.
    guest = fleet.control.guest(fleet.vm_id(RG, 'lin-ok'))
    assert 'rescue' in str(guest) and KEY.split()[1] in str(guest)

    fleet.control.clear_faults()
    again = run_playbook(_playbook('regain_linux_access'), env, inventory=inventory, extra_vars=INTENT)
    summary = _published(again, 'linux_access_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (1, 5, 3, 0)
    assert list(summary['changed_hosts']) == ['lin-fail']
    assert again.rc == 0 and _changed_hosts(again) == ['lin-fail']

    fleet.control.reset_counters()
    third = run_playbook(_playbook('regain_linux_access'), env, inventory=inventory, extra_vars=INTENT)
    summary = _published(third, 'linux_access_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['failed']) == (0, 6, 0)
    assert third.rc == 0 and _changed_hosts(third) == []
    assert fleet.control.counters()['write'] == 0


def test_regain_linux_access_check_mode_and_removal_say_what(fleet, env, inventory):
    fleet.control.reset_counters()
    run = run_playbook(_playbook('regain_linux_access'), env, inventory=inventory, extra_vars=INTENT, check=True)
    summary = _published(run, 'linux_access_recovery_summary')
    assert summary['changed_hosts']['lin-ok'] == 'would apply: user rescue: SSH key set, sshd_config reset', summary
    assert fleet.control.counters()['write'] == 0
    run = run_playbook(_playbook('regain_linux_access'), env, inventory=inventory, extra_vars=INTENT)
    run = run_playbook(
        _playbook('regain_linux_access'), env, inventory=inventory, extra_vars={'linux_access_recovery_state': 'absent'}
    )
    summary = _published(run, 'linux_access_recovery_summary')
    assert summary['changed_hosts']['lin-ok'].startswith('VMAccessForLinux extension ') and summary['changed_hosts'][
        'lin-ok'
    ].endswith(' removed'), summary


def test_linux_access_recovery_ssh_proof(fleet, env, tmp_path):
    """The optional proof connects with the host's connection (here: local) and reports it; off by default."""
    hosts = {
        'lin-ok': dict(_host_vars(fleet, 'lin-ok'), ansible_connection='local'),
        'ss-mix_0': dict(_host_vars(fleet, 'ss-mix_0'), ansible_connection='local'),
    }
    inv = write_inventory(tmp_path, hosts)
    run = run_playbook(
        _playbook('regain_linux_access'),
        env,
        inventory=inv,
        extra_vars=dict(INTENT, linux_access_recovery_prove_ssh=True, linux_access_recovery_prove_timeout=20),
    )
    summary = _published(run, 'linux_access_recovery_summary')
    assert summary['changed'] == 2 and summary['failed'] == 0, summary
    assert all('SSH proof ok' in v for v in summary['changed_hosts'].values()), summary
    assert run.rc == 0

    # A host that does not answer: the proof fails that host only, with the reason.
    hosts['lin-ok'] = dict(
        _host_vars(fleet, 'lin-ok'), ansible_connection='ssh', ansible_host='127.0.0.1', ansible_port=9
    )
    inv = write_inventory(tmp_path, hosts, name='inventory2.yml')
    run = run_playbook(
        _playbook('regain_linux_access'),
        env,
        inventory=inv,
        extra_vars=dict(INTENT, linux_access_recovery_prove_ssh=True, linux_access_recovery_prove_timeout=3),
    )
    summary = _published(run, 'linux_access_recovery_summary')
    assert list(summary['failed_hosts']) == ['lin-ok'], summary
    assert 'SSH proof failed' in summary['failed_hosts']['lin-ok']
    assert summary['already_fine_hosts'] == ['ss-mix_0']
    assert _failed_hosts(run) == ['lin-ok']


# -- argument specs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'playbook,extra,needle',
    [
        ('reset_proxy_agent_keys', {'proxy_agent_key_recovery_mode': 'sometimes'}, 'proxy_agent_key_recovery_mode'),
        (
            'reset_proxy_agent_keys',
            {'proxy_agent_key_recovery_wait_timeout': 'soon'},
            'proxy_agent_key_recovery_wait_timeout',
        ),
        (
            'reset_proxy_agent_keys',
            {'proxy_agent_key_recovery_mode': 'incarnation'},
            'proxy_agent_key_recovery_key_incarnation_id',
        ),
        ('regain_linux_access', {'linux_access_recovery_reset_ssh': 'perhaps'}, 'linux_access_recovery_reset_ssh'),
        ('regain_linux_access', {'linux_access_recovery_state': 'gone'}, 'linux_access_recovery_state'),
    ],
)
def test_argument_specs_reject_bad_input(fleet, env, inventory, playbook, extra, needle):
    fleet.control.reset_counters()
    run = run_playbook(_playbook(playbook), env, inventory=inventory, extra_vars=extra)
    assert run.rc != 0
    assert needle in run.text
    assert fleet.control.counters()['write'] == 0


def test_playbooks_resolve_by_fqcn(env, inventory):
    """`ansible-playbook vmrescue.azure.<name>` finds the collection playbooks."""
    for name in ('reset_proxy_agent_keys', 'regain_linux_access'):
        proc = subprocess.run(
            [
                os.path.join(os.path.dirname(os.sys.executable), 'ansible-playbook'),
                '--syntax-check',
                '-i',
                inventory,
                'vmrescue.azure.%s' % name,
            ],
            env=dict(env, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.tmp', 'collections')),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_roles_with_azure_rm_host_vars(fleet, env, tmp_path):
    """Host vars as the azure_rm inventory plugin sets them (id, not azure_vm_id) are enough."""
    hosts = {}
    for name in ('lin-broken', 'win-ok', 'ss-mix_1'):
        rid = _host_vars(fleet, name)['azure_vm_id']
        hosts[name] = {
            'id': rid,
            'name': name,
            'resource_group': RG.lower(),
            'os_profile': {'system': 'windows' if name.startswith('win') else 'linux'},
            'powerstate': 'running',
        }
    hosts['ss-mix_1']['vmss'] = {'id': rid.rsplit('/virtualMachines/', 1)[0], 'name': 'ss-mix'}
    inv = write_inventory(tmp_path, hosts)
    run = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inv)
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'ss-mix_1'] and summary['failed'] == 0, summary
    run = run_playbook(_playbook('regain_linux_access'), env, inventory=inv, extra_vars=INTENT)
    summary = _published(run, 'linux_access_recovery_summary')
    assert sorted(summary['changed_hosts']) == ['lin-broken', 'ss-mix_1'] and list(summary['skipped_hosts']) == [
        'win-ok'
    ]


# -- auth: role variable, play-level module_defaults, both ------------------------------------------------------
def _auth_split(sim):
    full = {
        'subscription_id': sim.subscription_id,
        'client_id': sim.client_id,
        'secret': sim.client_secret,
        'tenant': sim.tenant_id,
        'cloud_environment': sim.base_url,
    }
    return full


@pytest.mark.parametrize('way', ['role_var', 'play_module_defaults', 'both'])
@pytest.mark.parametrize('role', ['proxy_agent_key_recovery', 'linux_access_recovery'])
def test_role_auth_merges_with_play_module_defaults(fleet, env, tmp_path, way, role):
    """The role's *_auth and a play-level module_defaults for group/vmrescue.azure.azure each work alone, and
    together they merge key by key: the role variable wins, the play's group defaults supply the rest. No AZURE_*
    variable in the environment, so nothing else can sign in."""
    clean = dict((k, v) for k, v in env.items() if not k.startswith('AZURE_'))
    full = _auth_split(fleet)
    if way == 'role_var':
        role_auth, play_defaults = full, None
    elif way == 'play_module_defaults':
        role_auth, play_defaults = {}, full
    else:
        # Neither half signs in alone; the play's client_id is wrong and the role's must win.
        role_auth = {'subscription_id': full['subscription_id'], 'client_id': full['client_id']}
        play_defaults = dict(full, client_id='00000000-0000-0000-0000-00000000dead', subscription_id=None)
        del play_defaults['subscription_id']
    play = {
        'name': 'role auth',
        'hosts': 'all',
        'gather_facts': False,
        'roles': [
            {
                'role': 'vmrescue.azure.' + role,
                'vars': dict({role + '_auth': role_auth}, **({} if role.startswith('proxy') else INTENT)),
            }
        ],
    }
    if play_defaults is not None:
        play['module_defaults'] = {'group/vmrescue.azure.azure': play_defaults}
    inv = write_inventory(tmp_path, {'lin-broken': _host_vars(fleet, 'lin-broken')})
    run = run_playbook([play], clean, inventory=inv)
    summary = _published(run, role + '_summary')
    assert run.rc == 0 and list(summary['changed_hosts']) == ['lin-broken'], run
    assert not run.reveals(fleet.client_secret)


def test_role_auth_without_any_credential_fails_clearly(fleet, env, tmp_path):
    """Neither the role variable nor module_defaults nor the environment: a failure naming what is missing."""
    clean = dict((k, v) for k, v in env.items() if not k.startswith('AZURE_'))
    clean['PATH'] = os.path.dirname(os.sys.executable) + os.pathsep + '/usr/bin:/bin'  # no az login either
    play = {
        'name': 'role auth',
        'hosts': 'all',
        'gather_facts': False,
        'module_defaults': {
            'group/vmrescue.azure.azure': {'client_id': fleet.client_id, 'cloud_environment': fleet.base_url}
        },
        'roles': [
            {
                'role': 'vmrescue.azure.proxy_agent_key_recovery',
                'vars': {'proxy_agent_key_recovery_auth': {'auth_source': 'env'}},
            }
        ],
    }
    inv = write_inventory(tmp_path, {'lin-broken': _host_vars(fleet, 'lin-broken')})
    fleet.control.reset_counters()
    run = run_playbook([play], clean, inventory=inv)
    assert run.rc != 0
    assert fleet.control.counters()['write'] == 0
