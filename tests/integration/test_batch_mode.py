# -*- coding: utf-8 -*-
"""Batch mode (``targets``) of both modules and the shared token cache, through real ansible-playbook processes
against the simulator with Azure's real throttling (fast latencies). Counters come from the simulator."""

import os

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
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmrescue.azure.proxy_agent_key_reset': {'targets': targets, 'state': 'reset', 'concurrency': 16},
         'register': 'out'}]}], _env(sim))
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
        assert sim.control.vm(vm_id)['model']['properties'][
            'securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 2

    # Re-run to the same incarnation: nothing changes, one read per VM, no write.
    sim.control.reset_counters()
    again = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmrescue.azure.proxy_agent_key_reset': {'targets': ids, 'key_incarnation_id': 2}, 'register': 'out'}]}],
        _env(sim))
    out = again.result(task=0)
    c = sim.control.counters()
    assert again.rc == 0 and out['changed'] is False and all(not r['changed'] for r in out['results'])
    assert c['write'] == 0 and c['read'] == N and c['throttled'] == 0, c


def test_all_targets_invalid_fails_the_task(sim):
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmrescue.azure.proxy_agent_key_reset': {'targets': ['/x', None], 'state': 'reset'}, 'register': 'out',
         'ignore_errors': True}]}], _env(sim))
    out = run.result(task=0)
    assert out['failed'] and out['msg'].startswith('no valid target: targets[0]')
    assert sim.control.counters()['write'] == 0


def test_targets_and_vm_id_are_mutually_exclusive(sim):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmrescue.azure.proxy_agent_key_reset': {'targets': [vm], 'vm_id': vm, 'state': 'reset'}, 'register': 'out',
         'ignore_errors': True}]}], _env(sim))
    assert run.result(task=0)['failed'] and 'targets' in run.result(task=0)['msg']


def test_vmaccess_batch(sim_factory):
    """VMAccess over a batch with a Windows VM in it: per-target results; the password never appears."""
    sim = sim_factory(fleet={'generate': {'count': 6, 'windows_every': 3}})
    ids = _ids(sim, 6)
    password = 'Batch-Pa55word!'
    sim.control.reset_counters()
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmrescue.azure.vmaccess_linux': {'targets': ids, 'username': 'rescue', 'ssh_key': KEY, 'password': password,
                                           'concurrency': 4}, 'register': 'out'}]}], _env(sim), args=['-v'])
    out = run.result(task=0)
    c = sim.control.counters()
    assert run.rc == 0 and out['changed'] is True, run
    res = out['results']
    assert [r['id'] for r in res] == ids
    assert [r['failed'] for r in res] == [False, False, True, False, False, True]
    assert all('runs Windows' in res[i]['msg'] for i in (2, 5))
    assert all(res[i]['changed'] for i in (0, 1, 3, 4))
    assert c['token'] == 1 and c['throttled'] == 0 and c['write'] == 4, c
    assert password not in run.text
    assert 'rescue' in str(sim.control.guest(ids[0]))


def test_per_host_tasks_share_one_token(sim_factory, tmp_path, _private_home):
    """Without batch mode: 5 hosts x 2 tasks, one worker process each, and one Entra ID token request, thanks to
    the shared token cache (0600 file in a 0700 directory of this user)."""
    sim = sim_factory(fleet={'generate': {'count': 5}})
    hosts = dict(('h%d' % i, {'azure_vm_id': vm_id}) for i, vm_id in enumerate(_ids(sim, 5)))
    inv = write_inventory(tmp_path, hosts)
    tasks = [{'name': 'first', 'vmrescue.azure.proxy_agent_key_reset': {'key_incarnation_id': 1}},
             {'name': 'second', 'vmrescue.azure.proxy_agent_key_reset': {'state': 'healthy'}}]
    sim.control.reset_counters()
    run = run_playbook([{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], _env(sim), inventory=inv,
                       args=['--forks', '5'])
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
