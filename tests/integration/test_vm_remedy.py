# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.vm_remedy through real ansible / ansible-playbook runs against the simulator's ladder fleet
(tests/armsim/fleets/ladder.yaml): each rung brings back the VM it can (restart a hung agent, reapply a goal state
or a Failed provisioning state, redeploy a failing host), not the one it cannot; a re-run inside the hold applies
nothing; redeploy is refused without allow_disruptive before any call; check mode writes nothing; a ReadOnly lock
is reported by the preflight before any write; the record is sealed under a record key.
"""

import os

import pytest

from ansible_runner import run_adhoc, run_playbook

MODULE = 'vmrescue.azure.vm_remedy'
FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'ladder.yaml')
RG = 'rg-ladder'
RECORD_KEY = 'remedy-record-key-0123456789'

pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def lad(sim):
    sim.control.reset(FLEET)
    return sim


def remedy(sim, sim_env, vms, rung, check=False, **args):
    task = {MODULE: dict(targets=[sim.vm_id(RG, vm) for vm in vms], rung=rung, wait_timeout=8, **args),
            'register': 'r', 'ignore_errors': True}  # fmt: skip
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}], sim_env, check=check)
    assert run.rc == 0, run.text
    result = run.result()
    return result, {r['id'].rsplit('/', 1)[-1]: r for r in result['results']}


def writes(sim, name=None):
    return [e for e in sim.control.requests()
            if e['method'] in ('PATCH', 'PUT', 'POST') and e['path'].startswith('/subscriptions/')
            and 'checkPolicyRestrictions' not in e['path'] and (name is None or name in e['path'])]  # fmt: skip


def test_each_rung_brings_back_what_it_can(lad, sim_env):
    _, first = remedy(lad, sim_env, ['lad-hung', 'lad-goal', 'lad-failed'], 'restart')
    assert first['lad-hung']['recovered'] is True and first['lad-hung']['outcome']['reason_code'] == 'recovered'
    # the record's PATCH is a successful VM update: it clears a Failed provisioning state as a reapply would
    assert first['lad-failed']['recovered'] is True and first['lad-failed']['provisioning_state'] == 'Succeeded'
    assert first['lad-goal']['recovered'] is False and first['lad-goal']['failed'] is True
    assert first['lad-goal']['outcome']['reason_code'] == 'not_recovered' and first['lad-goal']['changed'] is True
    _, second = remedy(lad, sim_env, ['lad-goal', 'lad-host'], 'reapply')
    assert second['lad-goal']['recovered'] is True
    # a VM Resource Health reports Unavailable: a restart or reapply would not reach it (the preflight skips it)
    assert second['lad-host']['outcome']['reason_code'] == 'platform_unavailable'
    _, third = remedy(lad, sim_env, ['lad-host', 'lad-fstab'], 'redeploy', allow_disruptive=True)
    assert third['lad-host']['recovered'] is True and third['lad-host']['temporary_disk_lost'] is True
    assert third['lad-fstab']['recovered'] is False
    assert 'VM Agent is unresponsive' in third['lad-fstab']['msg']
    assert lad.control.vm(lad.vm_id(RG, 'lad-host'))['remedies']['temp_disk']['has_data'] is False
    assert lad.control.vm(lad.vm_id(RG, 'lad-host'))['model']['tags']['vmrescue-remedy'].startswith('redeploy@')
    tag = lad.control.vm(lad.vm_id(RG, 'lad-goal'))['model']['tags']['vmrescue-remedy']
    assert tag.startswith('restart@') and ';reapply@' in tag


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_rerun_inside_the_hold_applies_nothing(lad, sim_env):
    remedy(lad, sim_env, ['lad-hung', 'lad-goal'], 'restart')
    lad.control.reset_counters()
    before = len(writes(lad))
    result, again = remedy(lad, sim_env, ['lad-hung', 'lad-goal'], 'restart')
    assert writes(lad)[before:] == []
    for vm in ('lad-hung', 'lad-goal'):
        assert again[vm]['held'] is True and again[vm]['changed'] is False
        assert again[vm]['outcome']['reason_code'] == 'held' and again[vm]['record_age'] >= 0
    assert again['lad-hung']['recovered'] is True and again['lad-goal']['recovered'] is False
    assert 'held 2' in result['msg']
    counts = lad.control.vm(lad.vm_id(RG, 'lad-goal'))['remedies']['counts']
    assert counts == {'restart': 1}
    _, after_hold = remedy(lad, sim_env, ['lad-goal'], 'restart', hold=1)
    assert after_hold['lad-goal']['held'] is False and after_hold['lad-goal']['changed'] is True


def test_redeploy_is_refused_without_the_opt_in_before_any_call(lad, sim_env):
    lad.control.reset_counters()
    run = run_adhoc('localhost', MODULE, {'resource_group': RG, 'name': 'lad-host', 'rung': 'redeploy'}, sim_env)
    assert run.rc != 0
    text = run.text
    assert 'allow_disruptive' in text and 'temporary disk' in text
    assert lad.control.counters()['token'] == 0 and writes(lad) == []


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_check_mode_writes_nothing(lad, sim_env):
    lad.control.reset_counters()
    _, res = remedy(lad, sim_env, ['lad-hung'], 'restart', check=True)
    assert res['lad-hung']['changed'] is True and res['lad-hung']['outcome']['reason_code'] == 'check_mode'
    assert res['lad-hung']['recovered'] is False  # whether it is back now
    assert writes(lad) == []


def test_a_single_vm_ad_hoc_with_a_sealed_record(lad, sim_env):
    run = run_adhoc('localhost', MODULE, {'resource_group': RG, 'name': 'lad-hung', 'rung': 'restart',
                                          'record_key': RECORD_KEY, 'wait_timeout': 8}, sim_env)  # fmt: skip
    assert run.rc == 0, run.text
    res = run.result()
    assert res['changed'] is True and res['recovered'] is True
    assert res['record'].endswith('#sealed') and RECORD_KEY not in run.text
    tag = lad.control.vm(lad.vm_id(RG, 'lad-hung'))['model']['tags']['vmrescue-remedy']
    assert tag.startswith('restart@') and '#' in tag and not tag.endswith('#sealed')
    # without the key, the same record is still a claim; with another key it is not trusted and the rung runs
    other = run_adhoc('localhost', MODULE, {'resource_group': RG, 'name': 'lad-hung', 'rung': 'restart',
                                            'record_key': 'another-key-0123456789', 'wait_timeout': 8}, sim_env)  # fmt: skip
    res = other.result()
    assert res['changed'] is True and res['record_check']['reason_code'] == 'record_untrusted'


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_reapply_on_a_uniform_instance_and_a_stopped_vm_are_left_alone(sim, sim_env):
    inst = sim.instance_id('rg-vmss', 'ss-uniform', 0)
    stopped = sim.vm_id('rg-linux', 'lin-stopped')
    task = {MODULE: dict(targets=[inst, stopped], rung='reapply', wait_timeout=5), 'register': 'r'}
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}], sim_env)
    results = run.result()['results']
    assert results[0]['outcome']['reason_code'] == 'invalid_target' and 'VMs only' in results[0]['msg']
    assert results[1]['outcome']['reason_code'] == 'not_running'
    assert writes(sim) == []


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_read_only_lock_is_found_before_any_write(lad, sim_env):
    lad.control.add_lock(lad.vm_id(RG, 'lad-hung'), 'freeze')
    _, res = remedy(lad, sim_env, ['lad-hung'], 'restart')
    assert res['lad-hung']['outcome']['reason_code'] == 'scope_locked'
    assert writes(lad, 'lad-hung') == []


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_stale_ready_after_the_rung_is_not_back(lad, sim_env):
    # the agent stops reporting: the instance view keeps its last Ready status, with that report's time
    vm = lad.vm_id(RG, 'lad-ok')
    lad.control.set_vm_agent(vm, True, frozen=True)
    _, res = remedy(lad, sim_env, ['lad-ok'], 'restart')
    got = res['lad-ok']
    assert got['changed'] is True and got['recovered'] is not True and got['failed'] is True
    assert got['outcome']['reason_code'] == 'not_recovered'
    assert got['vm_agent']['status'] == 'Ready' and got['vm_agent']['time']
    assert 'a status from before the rung' in got['msg']
    assert lad.control.vm(vm)['remedies']['counts'] == {'restart': 1}
    # once it reports again, the same VM is back after the next rung
    lad.control.set_vm_agent(vm, True, frozen=False)
    _, again = remedy(lad, sim_env, ['lad-ok'], 'reapply')
    assert again['lad-ok']['recovered'] is True and again['lad-ok']['vm_agent']['time'] > got['vm_agent']['time']
