"""Batch mode (``targets``) of both modules and the shared token cache, through real ansible-playbook processes
against the simulator with Azure's real throttling (fast latencies). Counters come from the simulator."""

import os

import pytest

from ansible_runner import run_playbook, write_inventory

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'
N = 50


def _env(sim):
    env = dict(os.environ)
    env.update(sim.env())
    return env


def _ids(sim, n):
    return [sim.vm_id('rg-bench', 'bench-%05d' % i) for i in range(n)]


def test_fleet_reset_in_one_batch_task(sim_factory):
    """50 VMs in one task: every result exact, in input order; no 429; about 2 reads, 1 write, no LRO poll and
    one token for each VM; a bad and a missing target fail alone and the task does not fail."""
    sim = sim_factory(fleet={'generate': {'count': N}})
    ids = _ids(sim, N)
    missing = sim.vm_id('rg-bench', 'not-there')
    targets = ids[:10] + ['/not/a/vm'] + ids[10:] + [missing]
    sim.control.reset_counters()
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {
                            'targets': targets,
                            'state': 'reset',
                            'concurrency': 16,
                        },
                        'register': 'out',
                    }
                ],
            }
        ],
        _env(sim),
    )
    out = run.result(task=0)
    c = sim.control.counters()
    assert run.rc == 0 and out['changed'] is True and not out.get('failed'), run
    res = out['results']
    assert len(res) == N + 2
    assert res[10]['failed'] and res[10]['id'] == '/not/a/vm' and res[10]['msg'].startswith('targets[10]:')
    assert res[-1]['failed'] and res[-1]['id'] == missing and 'not found' in res[-1]['msg']
    good = res[:10] + res[11:-1]
    assert [r['id'] for r in good] == ids
    for r in good:
        assert (r['changed'], r['failed'], r['confirmed'], r['msg']) == (True, False, True, ''), r
        assert (r['previous_key_incarnation_id'], r['key_incarnation_id']) == (1, 2)
        assert r['key_latch_status']['states']['keyIncarnationId'] == '2'
    assert (out['total'], out['changed_count'], out['failed_count']) == (N + 2, N, 2)
    assert c['throttled'] == 0, c
    assert c['token'] == 1, c
    assert c['write'] == N and c['poll'] == 0, c
    assert c['read'] <= 2.5 * N + 1, c  # +1: the missing VM's read
    for vm_id in ids[:3]:
        assert (
            sim.control.vm(vm_id)['model']['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId']
            == 2
        )

    # Re-run to the same incarnation: nothing changes, one read per VM, no write.
    sim.control.reset_counters()
    again = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {'targets': ids, 'key_incarnation_id': 2},
                        'register': 'out',
                    }
                ],
            }
        ],
        _env(sim),
    )
    out = again.result(task=0)
    c = sim.control.counters()
    assert again.rc == 0 and out['changed'] is False and all(not r['changed'] for r in out['results'])
    assert c['write'] == 0 and c['read'] == N and c['throttled'] == 0, c


def test_all_targets_invalid_fails_the_task(sim):
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {'targets': ['/x', None], 'state': 'reset'},
                        'register': 'out',
                        'ignore_errors': True,
                    }
                ],
            }
        ],
        _env(sim),
    )
    out = run.result(task=0)
    assert out['failed'] and out['msg'].startswith('no valid target: targets[0]')
    assert sim.control.counters()['write'] == 0


def test_targets_and_vm_id_are_mutually_exclusive(sim):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {'targets': [vm], 'vm_id': vm, 'state': 'reset'},
                        'register': 'out',
                        'ignore_errors': True,
                    }
                ],
            }
        ],
        _env(sim),
    )
    assert run.result(task=0)['failed'] and 'targets' in run.result(task=0)['msg']


def test_vmaccess_batch(sim_factory):
    """VMAccess over a batch with a Windows VM in it: per-target results; the password never appears."""
    sim = sim_factory(fleet={'generate': {'count': 6, 'windows_every': 3}})
    ids = _ids(sim, 6)
    password = 'Batch-Pa55word!'
    sim.control.reset_counters()
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.vmaccess_linux': {
                            'targets': ids,
                            'username': 'rescue',
                            'ssh_key': KEY,
                            'password': password,
                            'concurrency': 4,
                        },
                        'register': 'out',
                    }
                ],
            }
        ],
        _env(sim),
        args=['-v'],
    )
    out = run.result(task=0)
    c = sim.control.counters()
    assert run.rc == 0 and out['changed'] is True, run
    res = out['results']
    assert [r['id'] for r in res] == ids
    assert [r['failed'] for r in res] == [False, False, True, False, False, True]
    assert all('runs Windows' in res[i]['msg'] for i in (2, 5))
    assert all(res[i]['changed'] for i in (0, 1, 3, 4))
    assert c['token'] == 1 and c['throttled'] == 0 and c['write'] == 4, c
    assert not run.reveals(password)
    assert 'rescue' in str(sim.control.guest(ids[0]))


def test_per_host_tasks_share_one_token(sim_factory, tmp_path, _private_home):
    """Without batch mode: 5 hosts x 2 tasks, one worker process each, and one Entra ID token request, thanks to
    the shared token cache (0600 file in a 0700 directory of this user)."""
    sim = sim_factory(fleet={'generate': {'count': 5}})
    hosts = dict(('h%d' % i, {'azure_vm_id': vm_id}) for i, vm_id in enumerate(_ids(sim, 5)))
    inv = write_inventory(tmp_path, hosts)
    tasks = [
        {'name': 'first', 'vmrescue.azure.proxy_agent_key_reset': {'key_incarnation_id': 1}},
        {'name': 'second', 'vmrescue.azure.proxy_agent_key_reset': {'state': 'healthy'}},
    ]
    sim.control.reset_counters()
    run = run_playbook(
        [{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], _env(sim), inventory=inv, args=['--forks', '5']
    )
    c = sim.control.counters()
    assert run.rc == 0 and sorted(run.stats) == sorted(hosts), run
    assert c['token'] == 1, c
    assert c['read'] == 10 and c['write'] == 0, c
    cache_dir = _private_home / '.IdentityService'
    assert oct(cache_dir.stat().st_mode & 0o777) == '0o700'
    files = [p for p in cache_dir.iterdir() if p.name.endswith('.nocae')]
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == '0o600'
    assert sim.client_secret not in files[0].read_text()

    # Opted out: one token per host and task again.
    sim.control.reset_counters()
    env = dict(_env(sim), VMRESCUE_AZURE_TOKEN_CACHE='false')
    run = run_playbook([{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], env, inventory=inv)
    assert run.rc == 0 and sim.control.counters()['token'] == 10


def _background_play(targets_expr, module_args, batch_result_args=None):
    return [
        {
            'hosts': 'all',
            'gather_facts': False,
            'tasks': [
                {
                    'name': 'start',
                    'vmrescue.azure.proxy_agent_key_reset': dict(module_args, targets=targets_expr, background=True),
                    'run_once': True,
                    'register': 'batch',
                },
                {
                    'name': 'collect',
                    'vmrescue.azure.batch_result': dict(
                        {'batch': '{{ batch }}', 'index': '{{ ansible_play_batch.index(inventory_hostname) }}'},
                        **(batch_result_args or {}),
                    ),
                    'register': 'mine',
                },
            ],
        }
    ]


TARGETS = "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"


def test_background_batch_reports_each_host_on_its_own(sim_factory, tmp_path):
    """background: true + batch_result: every host gets its own target's result (changed, failed, diff), the start
    task returns at once, the ARM traffic is that of one batch (one token, 1 write per VM, no 429)."""
    sim = sim_factory(fleet={'generate': {'count': 12}})
    ids = _ids(sim, 12)
    hosts = dict(('h%02d' % i, {'azure_vm_id': vm}) for i, vm in enumerate(ids))
    hosts['h-missing'] = {'azure_vm_id': sim.vm_id('rg-bench', 'not-there')}
    inv = write_inventory(tmp_path, hosts)
    sim.control.reset_counters()
    run = run_playbook(
        _background_play(TARGETS, {'state': 'reset', 'concurrency': 4}, {'fail_on_failure': False}),
        _env(sim),
        inventory=inv,
        diff=True,
    )
    start = run.host_results(task=0)
    assert list(start) == ['h00'] and start['h00']['changed'] is False, run
    assert start['h00']['background']['total'] == 13 and 'results' not in start['h00']
    mine = run.host_results(task=1)
    assert sorted(mine) == sorted(hosts)
    for i, vm in enumerate(ids):
        r = mine['h%02d' % i]
        assert (r['id'], r['changed'], r['failed_target'], r['index'], r['key_incarnation_id']) == (
            vm,
            True,
            False,
            i,
            2,
        )
        assert r.get('diff'), r  # --diff: each host's own diff
    assert mine['h-missing']['failed_target'] is True and 'not found' in mine['h-missing']['msg']
    assert not mine['h-missing'].get('failed')  # fail_on_failure: false
    assert run.rc == 0, run
    assert sorted(h for h, s in run.stats.items() if s['changed']) == sorted('h%02d' % i for i in range(12))
    c = sim.control.counters()
    assert c['token'] == 1 and c['write'] == 12 and c['throttled'] == 0, c

    # Default fail_on_failure: the missing VM's host fails on its own, the others are ok (nothing left to do).
    run = run_playbook(_background_play(TARGETS, {'key_incarnation_id': 2}), _env(sim), inventory=inv)
    assert run.rc != 0
    assert [h for h, s in run.stats.items() if s['failures']] == ['h-missing'], run.stats
    assert not any(s['changed'] for s in run.stats.values())


def test_batch_result_finds_the_host_index_itself(sim_factory, tmp_path):
    """No index: batch_result takes the host's position in ansible_play_batch (or in the list hosts_var names) in
    Python; the template ansible_play_batch.index(inventory_hostname) cost O(hosts) per host under ansible-core
    2.19 (quadratic at 5000 hosts). A host not in the hosts_var list is skipped; an unknown hosts_var is refused."""
    sim = sim_factory(fleet={'generate': {'count': 6}})
    ids = _ids(sim, 6)
    hosts = dict(('h%02d' % i, {'azure_vm_id': vm}) for i, vm in enumerate(ids))
    inv = write_inventory(tmp_path, hosts)
    run = run_playbook(
        [
            {
                'hosts': 'all',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {
                            'targets': TARGETS,
                            'state': 'reset',
                            'background': True,
                        },
                        'run_once': True,
                        'register': 'batch',
                    },
                    {'vmrescue.azure.batch_result': {'batch': '{{ batch }}'}, 'register': 'mine'},
                ],
            }
        ],
        _env(sim),
        inventory=inv,
    )
    mine = run.host_results(task=1)
    assert run.rc == 0, run
    assert dict((h, (r['id'], r['index'])) for h, r in mine.items()) == dict(
        ('h%02d' % i, (vm, i)) for i, vm in enumerate(ids)
    ), mine

    odd = ['h01', 'h03', 'h05']
    run = run_playbook(
        [
            {
                'hosts': 'all',
                'gather_facts': False,
                'tasks': [
                    {'ansible.builtin.set_fact': {'odd_hosts': odd}, 'run_once': True},
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {
                            'targets': "{{ odd_hosts | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}",
                            'state': 'reset',
                            'background': True,
                        },
                        'run_once': True,
                        'register': 'batch',
                    },
                    {
                        'vmrescue.azure.batch_result': {'batch': '{{ batch }}', 'hosts_var': 'odd_hosts'},
                        'register': 'mine',
                    },
                    {
                        'vmrescue.azure.batch_result': {'batch': '{{ batch }}', 'hosts_var': 'no_such_list'},
                        'ignore_errors': True,
                    },
                ],
            }
        ],
        _env(sim),
        inventory=inv,
    )
    mine = run.host_results(task=2)
    for i, vm in enumerate(ids):
        r = mine['h%02d' % i]
        if 'h%02d' % i in odd:
            assert (r['id'], r['index'], r['changed']) == (vm, odd.index('h%02d' % i), True), r
        else:
            assert r['skipped'] is True and 'is not in odd_hosts' in r['msg'], r
    bad = run.host_results(task=3)
    assert all(r['failed'] and 'hosts_var: there is no variable no_such_list' in r['msg'] for r in bad.values()), bad


def test_background_bad_input_fails_before_anything_starts(sim, tmp_path):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    inv = write_inventory(tmp_path, {'a': {'azure_vm_id': vm}, 'b': {'azure_vm_id': vm}})
    sim.control.reset_counters()
    # invalid argument: the start task's message reaches every host; nothing is read or written
    run = run_playbook(
        [
            {
                'hosts': 'all',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {
                            'targets': TARGETS,
                            'state': 'reset',
                            'key_incarnation_id': 3,
                            'background': True,
                        },
                        'run_once': True,
                        'register': 'batch',
                        'ignore_errors': True,
                    },
                    {
                        'vmrescue.azure.batch_result': {
                            'batch': '{{ batch }}',
                            'index': '{{ ansible_play_batch.index(inventory_hostname) }}',
                        }
                    },
                ],
            }
        ],
        _env(sim),
        inventory=inv,
    )
    assert len(run.data['plays'][0]['tasks']) == 2, run.data
    res = run.host_results(task=1)
    assert sorted(res) == ['a', 'b'] and all(r['failed'] and 'mutually exclusive' in r['msg'] for r in res.values())
    # background without targets: a clear message
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {'vm_id': vm, 'state': 'reset', 'background': True},
                        'register': 'out',
                        'ignore_errors': True,
                    }
                ],
            }
        ],
        _env(sim),
    )
    out = run.result(task=0)
    assert out['failed'] and out['msg'].startswith('background: true needs targets'), out
    # batch_result given something that is not a background batch
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.batch_result': {'batch': {'changed': False}, 'index': 0},
                        'ignore_errors': True,
                        'register': 'out',
                    }
                ],
            }
        ],
        _env(sim),
    )
    assert 'expected the registered result of a task run with background: true' in run.result(task=0)['msg']
    # a batch task registered with no_log: true hides what batch_result needs: say so
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.batch_result': {'batch': {'censored': 'hidden', 'changed': False}, 'index': 0},
                        'ignore_errors': True,
                        'register': 'out',
                    }
                ],
            }
        ],
        _env(sim),
    )
    assert 'ran with no_log: true' in run.result(task=0)['msg']
    c = sim.control.counters()
    assert c['read'] == 0 and c['write'] == 0, c


@pytest.mark.parametrize('value', [0, -3, 100000])
def test_out_of_range_concurrency_is_refused_before_any_call(sim, value):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    sim.control.reset_counters()
    run = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'vmrescue.azure.proxy_agent_key_reset': {
                            'targets': [vm],
                            'state': 'reset',
                            'concurrency': value,
                        },
                        'register': 'out',
                        'ignore_errors': True,
                    }
                ],
            }
        ],
        _env(sim),
    )
    res = run.result()
    assert res['failed'] and 'concurrency must be a whole number from 1 to' in res['msg'], res
    c = sim.control.counters()
    assert c['token'] == 0 and c['read'] == 0 and c['write'] == 0, c
