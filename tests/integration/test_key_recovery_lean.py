"""The key recovery's lean mode (issue 25) through real ansible-playbook runs against the simulator.

A mixed fleet (a broken key, a healthy one, a deallocated VM, and ``lean-fail`` on which the simulator refuses every
write): the playbook ``reset_proxy_agent_keys`` with ``-e proxy_agent_key_recovery_lean=true`` and the role's own
entry points. Asserted: the summary, the per-host fact, the run report, the exit status, the one failure of the run,
and that no task ran per host (every task's result names one host, and the recap has one host)."""

import json

import pytest

from ansible_runner import (
    client_env,
    collection_playbook,
    fleet_on_test_principals,
    published_stats,
    run_playbook,
    write_inventory,
)

RG = 'rg-lean'
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [
                {'name': 'lean-ok', 'proxy_agent': {'key_incarnation_id': 3}},
                {'name': 'lean-broken', 'proxy_agent': {'key_incarnation_id': 2, 'fault': 'key_lost'}},
                {'name': 'lean-fail', 'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}},
                {'name': 'lean-dealloc', 'power': 'deallocated', 'proxy_agent': {'key_incarnation_id': 1}},
            ],
        }
    ]
)
HOSTS = ['lean-ok', 'lean-broken', 'lean-fail', 'lean-dealloc']
FAIL_MESSAGE = 'Injected failure for the lean test'
LEAN = {'proxy_agent_key_recovery_lean': True}


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    sim.control.fault(
        method='PATCH',
        path_regex='/virtualMachines/lean-fail$',
        kind='status',
        status=403,
        code='AuthorizationFailed',
        message=FAIL_MESSAGE,
    )
    return sim


@pytest.fixture
def env(fleet):
    return client_env(fleet)


@pytest.fixture
def inventory(fleet, tmp_path):
    return write_inventory(tmp_path, dict((h, {'azure_vm_id': fleet.vm_id(RG, h)}) for h in HOSTS))


def _tasks(run):
    return [(p['play'], t['task'], t['hosts']) for p in run.data['plays'] for t in p['tasks']]


def _check_no_per_host_task(run):
    """Every task that ran reported one host (the first of the batch): no task ran per host."""
    ran = [(play, task, sorted(hosts)) for play, task, hosts in _tasks(run) if hosts]
    assert ran, run
    assert all(hosts == ['lean-ok'] for _, _, hosts in ran), ran
    assert sorted(run.stats) == ['lean-ok'], run.stats


def _check_summary(summary):
    counts = tuple(summary[k] for k in ('checked', 'changed', 'already_fine', 'skipped', 'failed'))
    assert counts == (4, 1, 1, 1, 1), summary
    assert list(summary['changed_hosts']) == ['lean-broken']
    assert summary['changed_hosts']['lean-broken'] == 'key incarnation 2 -> 3, confirmed'
    assert summary['already_fine_hosts'] == ['lean-ok']
    assert 'deallocated' in summary['skipped_hosts']['lean-dealloc']
    assert list(summary['failed_hosts']) == ['lean-fail'] and FAIL_MESSAGE in summary['failed_hosts']['lean-fail']


def test_playbook_lean_mode_one_task_per_step_one_failure(fleet, env, inventory, tmp_path):
    report = tmp_path / 'keys.json'
    extra = dict(LEAN, proxy_agent_key_recovery_report_path=str(report))
    run = run_playbook(collection_playbook('reset_proxy_agent_keys'), env, inventory=inventory, extra_vars=extra)
    assert run.data, run
    summary = published_stats(run, 'proxy_agent_key_recovery_summary')
    _check_summary(summary)
    _check_no_per_host_task(run)
    # The run fails once, at the end, naming the failed host; Ansible counts that one failure on the first host
    assert run.rc == 2, run
    assert run.stats['lean-ok']['failures'] == 1 and run.stats['lean-ok']['changed'] == 1
    last = _tasks(run)[-1]
    assert 'Fail the run once' in last[1] and last[2]['lean-ok']['failed']
    assert 'proxy_agent_key_recovery: 1 of 4 host(s) failed: lean-fail' in last[2]['lean-ok']['msg']
    # the default mode's plays had no hosts; the summary is printed once
    assert [p['play'] for p in run.data['plays'] if p['tasks']] == ['Reset proxy agent keys (lean mode)']
    shown = [hosts for _, task, hosts in _tasks(run) if task.endswith('Show the summary')]
    assert len(shown) == 1
    assert (
        shown[0]['lean-ok']['msg'][0]
        == 'proxy_agent_key_recovery: 4 checked, 1 changed, 1 already fine, 1 skipped, 1 failed'
    )
    # the run report holds every host, published for AWX
    published = published_stats(run, 'proxy_agent_key_recovery_report')
    assert published['path'] == str(report)
    doc = json.loads(report.read_text())
    assert sorted(t['host'] for t in doc['targets']) == sorted(HOSTS)
    assert doc['options']['lean'] is True
    # the keys really changed where they should, once
    vm = fleet.control.vm(fleet.vm_id(RG, 'lean-broken'))
    assert vm['model']['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 3

    # The failure gone, a re-run finishes lean-fail and exits 0
    fleet.control.clear_faults()
    again = run_playbook(collection_playbook('reset_proxy_agent_keys'), env, inventory=inventory, extra_vars=LEAN)
    summary = published_stats(again, 'proxy_agent_key_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (1, 2, 1, 0)
    assert list(summary['changed_hosts']) == ['lean-fail']
    assert again.rc == 0, again
    _check_no_per_host_task(again)


# The per-host fact on another host than the one that ran the batch, through both entry points of the role
FACT_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - %s
      vars:
        proxy_agent_key_recovery_fail_hosts: false
        proxy_agent_key_recovery_lean: true
    - name: Each host's own outcome from the one fact
      ansible.builtin.debug:
        msg: "{{ proxy_agent_key_recovery_outcome_by_host[inventory_hostname].outcome.status }}"
      when: inventory_hostname in ['lean-fail', 'lean-broken']
"""


# the way the README gives (included once) and the role's main entry point (imported, as a play's roles: does)
INCLUDED = """ansible.builtin.include_role:
        name: vmrescue.azure.proxy_agent_key_recovery
        tasks_from: lean.yml
      run_once: true"""
IMPORTED_MAIN = """ansible.builtin.import_role:
        name: vmrescue.azure.proxy_agent_key_recovery"""


@pytest.mark.parametrize('entry', [INCLUDED, IMPORTED_MAIN], ids=['include_lean', 'import_main'])
def test_role_lean_per_host_fact_and_no_failure_when_asked(fleet, env, inventory, entry):
    run = run_playbook(FACT_PLAY % entry, env, inventory=inventory)
    assert run.rc == 0, run
    _check_summary(published_stats(run, 'proxy_agent_key_recovery_summary'))
    tasks = _tasks(run)
    last = tasks[-1][2]
    assert last['lean-fail']['msg'] == 'failed' and last['lean-broken']['msg'] == 'changed'
    # the fact holds the module's result of each host
    fact = [h for _, t, h in tasks if t.endswith("Work out the outcome of every host once, from the batch's results")]
    entry_of = fact[0]['lean-ok']['ansible_facts']['proxy_agent_key_recovery_outcome_by_host']
    assert entry_of['lean-broken']['result']['key_incarnation_id'] == 3
    assert entry_of['lean-fail']['result']['failed'] is True
    # before the per-host debug task, every task reported one host; through the main entry point the default path's
    # tasks are skipped once each (run_once), not on every host, and only Ansible's argument validation runs per host
    before = [(t, sorted(h)) for _, t, h in tasks[:-1] if h]
    validation = [h for t, h in before if 'Validating arguments against arg spec' in t and 'recovery_report' not in t]
    assert validation == ([sorted(HOSTS)] if entry == IMPORTED_MAIN else []), before
    assert all(h == ['lean-ok'] for t, h in before if h != sorted(HOSTS)), before


def test_role_main_default_mode_is_unchanged(fleet, env, inventory):
    """Without the option, the main entry point does what it did: each host reports its own result."""
    play = (
        FACT_PLAY.replace('proxy_agent_key_recovery_lean: true', 'proxy_agent_key_recovery_lean: false') % IMPORTED_MAIN
    )
    run = run_playbook(play, env, inventory=inventory)
    assert run.rc == 0, run
    per_host = [h for _, t, h in _tasks(run) if t.endswith('Report the result of this host')]
    assert len(per_host) == 1 and sorted(per_host[0]) == sorted(HOSTS)
    assert sorted(run.stats) == sorted(HOSTS)
    skipped_lean = [h for _, t, h in _tasks(run) if 'lean mode' in t]
    assert skipped_lean == [{'lean-ok': skipped_lean[0]['lean-ok']}] and skipped_lean[0]['lean-ok']['skipped']


@pytest.mark.usefixtures('no_global_ca_bundle')
def test_lean_break_glass_switches_the_stuck_host_once(msp, tmp_path):
    """Break-glass in lean mode: the host whose new key was not confirmed is found from the batch's results and
    switched to Audit by one task; the summary says so; the run fails once (the host's key is still not confirmed)."""
    hosts = {
        'lin': {'azure_vm_id': msp.vm_id('rg-msp', 'msp-lin')},
        'stuck': {'azure_vm_id': msp.vm_id('rg-msp', 'msp-key-stuck')},
    }
    extra = dict(
        LEAN,
        proxy_agent_key_recovery_mode='all',
        proxy_agent_key_recovery_wait_timeout=6,
        proxy_agent_key_recovery_break_glass=True,
        proxy_agent_key_recovery_break_glass_wait_timeout=2,
    )
    inventory = write_inventory(tmp_path, hosts)
    run = run_playbook(
        collection_playbook('reset_proxy_agent_keys'), client_env(msp), inventory=inventory, extra_vars=extra
    )
    assert run.rc == 2, run
    summary = published_stats(run, 'proxy_agent_key_recovery_summary')
    assert list(summary['break_glass_hosts']) == ['stuck'], summary
    assert list(summary['failed_hosts']) == ['stuck'] and 'break-glass' in summary['failed_hosts']['stuck']
    pa = msp.control.vm(hosts['stuck']['azure_vm_id'])['model']['properties']['securityProfile']['proxyAgentSettings']
    assert pa['wireServer'] == {'mode': 'Audit'} and pa['imds'] == {'mode': 'Audit'}
    ran = [(t, sorted(h)) for _, t, h in _tasks(run) if h]
    assert all(h == ['lin'] for _, h in ran), ran
    assert sorted(run.stats) == ['lin']
