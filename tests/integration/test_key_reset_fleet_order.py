"""Issue 11, what users see during and after a fleet run of ``reset_proxy_agent_keys``: hosts reported as their
targets finish (strategy vmrescue.azure.as_finished), a re-run that only finds pending resets says so, and a fleet
spread over three subscriptions (each paced on its own buckets) reset with one write per VM.

Real ``ansible-playbook`` runs against the simulator.
"""

import os

import pytest

from ansible_runner import REPO_ROOT, fleet_on_test_principals, run_playbook, write_inventory

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = pytest.mark.core_agnostic

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'reset_proxy_agent_keys.yml')
RG = 'rg-order'
BROKEN = ['vm-%02d' % i for i in range(5)]  # a lost key: reset, then confirmed after the relatch
LATE_BUT_FIRST = 'vm-99'  # last in the inventory, healthy: done after one read


def _summary(run):
    for play in reversed((run.data or {}).get('plays', [])):
        for task in reversed(play['tasks']):
            for hres in task['hosts'].values():
                data = (hres.get('ansible_stats') or {}).get('data') or {}
                if 'proxy_agent_key_recovery_summary' in data:
                    return data['proxy_agent_key_recovery_summary']
    raise AssertionError('no summary: %r' % run)


def _report_order(run):
    """Host names in the order their 'Report the result of this host' results reached the callback."""
    for play in run.data['plays']:
        for task in play['tasks']:
            if task['task'].endswith('Report the result of this host'):
                return list(task['hosts'])
    raise AssertionError('no report task: %r' % run)


@pytest.fixture
def ordered(sim, tmp_path):
    vms = [{'name': n, 'proxy_agent': {'key_incarnation_id': 3, 'fault': 'key_lost'}} for n in BROKEN]
    vms.append({'name': LATE_BUT_FIRST, 'proxy_agent': {'key_incarnation_id': 3}})
    sim.control.reset(fleet_on_test_principals([{'name': RG, 'location': 'westeurope', 'vms': vms}]))
    sim.control.config(relatch_seconds=4)
    env = dict(os.environ)
    env.update(sim.env())
    hosts = dict((n, {'azure_vm_id': sim.vm_id(RG, n)}) for n in BROKEN + [LATE_BUT_FIRST])
    return sim, env, write_inventory(tmp_path, hosts)


def test_hosts_are_reported_as_their_targets_finish(ordered):
    """2 forks, 6 hosts: the healthy last host is done long before the others; it is reported as soon as a worker
    is free, not after every host before it in the inventory (the linear strategy's order)."""
    _sim, env, inventory = ordered
    run = run_playbook(
        PLAYBOOK, env, inventory=inventory, args=['-f', '2'], extra_vars={'proxy_agent_key_recovery_wait_timeout': 60}
    )
    assert run.rc == 0, run
    order = _report_order(run)
    assert sorted(order) == sorted(BROKEN + [LATE_BUT_FIRST]), order
    # the first two workers were given hosts before any target was done; the first one free gets the finished host
    # (the linear strategy reports it last, after the 5 hosts before it in the inventory)
    assert order.index(LATE_BUT_FIRST) <= 2, order
    summary = _summary(run)
    assert summary['changed'] == len(BROKEN) and summary['already_fine'] == 1, summary


def test_rerun_with_only_pending_resets_says_so(ordered):
    sim, env, inventory = ordered
    sim.control.config(relatch_seconds=900)  # the resets stay pending during the re-run, however slow the machine
    first = run_playbook(
        PLAYBOOK,
        env,
        inventory=inventory,
        extra_vars={'proxy_agent_key_recovery_mode': 'all', 'proxy_agent_key_recovery_wait': False},
    )
    assert first.rc == 0 and _summary(first)['changed'] == len(BROKEN) + 1, first
    sim.control.clear_requests()
    again = run_playbook(PLAYBOOK, env, inventory=inventory)
    assert again.rc == 0, again
    assert not [e for e in sim.control.requests() if e['method'] in ('PATCH', 'PUT')]  # nothing written
    assert 'all %d host(s) have a key reset pending since 20' % (len(BROKEN) + 1) in again.text, again
    assert 'nothing to write' in again.text and 'state=reset' in again.text, again


SUBS = 3


@pytest.fixture
def spread(sim, tmp_path):
    from armsim.fleet import subscription_ids

    fleet = fleet_on_test_principals([])
    fleet.pop('resource_groups')
    fleet['generate'] = {
        'count': 9,
        'subscriptions': SUBS,
        'resource_group': 'rg-spread',
        'prefix': 'sp',
        'key_incarnation_id': 1,
    }
    sim.control.reset(fleet)
    subs = subscription_ids(SUBS, fleet['subscription_id'])
    ids = dict(('sp-%05d' % i, sim.vm_id('rg-spread', 'sp-%05d' % i, subs[i % SUBS])) for i in range(9))
    env = dict(os.environ)
    env.update(sim.env())
    sim.control.clear_requests()
    return sim, env, ids, write_inventory(tmp_path, dict((h, {'azure_vm_id': i}) for h, i in ids.items()))


def test_fleet_over_three_subscriptions_is_reset_once_per_vm(spread):
    sim, env, ids, inventory = spread
    run = run_playbook(
        PLAYBOOK,
        env,
        inventory=inventory,
        extra_vars={'proxy_agent_key_recovery_mode': 'incarnation', 'proxy_agent_key_recovery_key_incarnation_id': 2},
    )
    assert run.rc == 0, run
    summary = _summary(run)
    assert summary['changed'] == len(ids) and summary['failed'] == 0, summary
    writes = {}
    for entry in sim.control.requests():
        if entry['method'] in ('PATCH', 'PUT') and entry['status'] < 300:
            path = entry['path'].split('?', 1)[0].lower()
            writes[path] = writes.get(path, 0) + 1
    assert writes == dict((i.lower(), 1) for i in ids.values()), writes
    assert len(set(i.split('/')[2] for i in ids.values())) == SUBS
    for vm_id in ids.values():
        settings = sim.control.vm(vm_id)['model']['properties']['securityProfile']['proxyAgentSettings']
        assert settings['keyIncarnationId'] == 2
    assert sim.control.counters()['throttled'] == 0
