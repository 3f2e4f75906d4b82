"""Stuck key resets (issue 24), through real ansible-playbook / ansible-inventory runs on fleets/records.yaml: a reset
that does not reach the guest, (a) recorded by this collection past its hold, or (b) nobody's (the model above the
guest's key, no record) first observed by a run that records when, is reported stuck with the likely cause from the
agent's status and the next step, by the module, the proxy_agent_diagnostics lookup, the vms inventory (group
key_stuck) and the role's summary. An observation planted by a Tag Contributor only dates a pending state: nothing is
skipped or weakened on its word, and under the record key it is untrusted and replaced."""

import datetime
import json
import os
import subprocess
import time

import pytest
import yaml

from ansible_runner import (
    VENV_BIN,
    client_env,
    collection_playbook,
    published_stats,
    run_playbook,
    strip_unsafe,
    write_inventory,
)
from armsim.harness import FLEETS_DIR

pytestmark = [pytest.mark.usefixtures('no_global_ca_bundle'), pytest.mark.core_agnostic]

RECORDS_FLEET = os.path.join(FLEETS_DIR, 'records.yaml')
TAGGER = ('55555555-5555-4555-8555-555555555555', 'armsim-records-secret-5')
KEY = 'rk-9f3Kq2-record-key-for-tests-only-77Zp'
KEY_RESET = 'vmrescue.azure.proxy_agent_key_reset'
KEY_TAG = 'vmrescue-key-reset'
HOLD = 25  # stuck_after in these tests (1800 by default): longer than two playbook runs on a loaded machine


@pytest.fixture
def rec(sim):
    sim.control.reset(RECORDS_FLEET)
    yield sim
    sim.control.reset()


def _stamp(minutes_ago=0):
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def play(*tasks):
    return [{'name': 'stuck', 'hosts': 'localhost', 'gather_facts': False, 'tasks': list(tasks)}]


def task(module, **args):
    return {'name': module, module: args, 'register': 'out', 'ignore_errors': True}


def controller(sim_env, home, key=None):
    env = dict(sim_env, HOME=str(home))
    os.makedirs(home, exist_ok=True)
    env.pop('VMRESCUE_RECORD_KEY', None)
    if key:
        env['VMRESCUE_RECORD_KEY'] = key
    return env


def healthy(env, *vms, **more):
    r = run_playbook(play(task(KEY_RESET, targets=list(vms), state='healthy', stuck_after=HOLD, **more)), env)
    assert r.rc == 0, r
    return r, r.result()['results']


def tag(sim, vm):
    return (sim.control.vm(vm)['model'].get('tags') or {}).get(KEY_TAG)


def incarnation(sim, vm):
    return sim.control.vm(vm)['model']['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId']


def settings(sim, vm):
    return sim.control.vm(vm)['model']['properties']['securityProfile']['proxyAgentSettings']


def wait_past(stamp_text, seconds):
    """Sleep until ``seconds`` have passed since the UTC time ``stamp_text`` (a record's, to the second)."""
    then = datetime.datetime.strptime(stamp_text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.UTC)
    left = seconds + 1.2 - (datetime.datetime.now(datetime.UTC) - then).total_seconds()
    if left > 0:
        time.sleep(left)


def inventory(sim, tmp_path, key=None):
    path = str(tmp_path / 'stuck.vms.yml')
    with open(path, 'w') as fh:
        yaml.safe_dump({'plugin': 'vmrescue.azure.vms', 'resource_groups': ['rg-rec'], 'stuck_after': HOLD}, fh)
    env = dict(client_env(sim, ansible_cli=True), HOME=str(tmp_path))
    env.pop('VMRESCUE_RECORD_KEY', None)
    if key:
        env['VMRESCUE_RECORD_KEY'] = key
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-inventory'), '-i', path, '--list'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return strip_unsafe(json.loads(proc.stdout))


def test_unrecorded_pending_reset_is_observed_then_reported_stuck(rec, sim_env, tmp_path):
    """(b): a reset nobody recorded (model 1, the guest fails on its key 0) is pending; the first run records when it
    saw it, the next one reports its age, and after stuck_after every reader says stuck, with cause and next step."""
    vm = rec.vm_id('rg-rec', 'rec-weaker')
    rec.control.set_agent_fault(
        vm, 'key_mismatch'
    )  # the guest holds 0, the model says 1: raised by someone, never latched
    env = controller(sim_env, tmp_path / 'a')

    r, (first,) = healthy(env, vm)
    assert not first['changed'] and first['outcome']['reason_code'] == 'pending_confirmation', first
    observed = first['key_reset_observed']
    assert observed.startswith('observed:1@') and tag(rec, vm) == observed
    assert 'first observed pending now' in first['msg']
    since = observed.partition('@')[2]

    r, (again,) = healthy(env, vm)  # a re-run knows the age; it writes nothing more
    assert not again['changed'] and 'key_reset_observed' not in again, again
    assert again['health']['observed_since'] == since and 's ago; stuck after %d s' % HOLD in again['msg'], again
    assert tag(rec, vm) == observed

    wait_past(since, HOLD)
    r, (late,) = healthy(env, vm)
    assert not late['changed'] and late['outcome'] == dict(late['outcome'], status='skipped', reason_code='key_stuck')
    stuck = late['stuck']
    assert stuck['source'] == 'observation' and stuck['since'] == since and stuck['age'] >= HOLD, stuck
    assert stuck['cause'] == 'key_failure' and 'Failed to attest the key' in stuck['cause_text'], stuck
    assert stuck['remedy'] == 'reset_again' and 'break-glass' in stuck['next_step']
    assert 'the key reset is stuck' in late['msg'] and 'Next:' in late['msg']
    assert incarnation(rec, vm) == 1 and tag(rec, vm) == observed  # nothing written

    # the lookup and the inventory say the same, and write nothing
    lookup = "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', '%s', stuck_after=%d) }}" % (vm, HOLD)
    r = run_playbook(play({'name': 'diag', 'ansible.builtin.debug': {'msg': lookup}}), env)
    diag = r.result()['msg']
    assert diag['key']['verdict'] == 'stuck' and diag['key']['stuck']['cause'] == 'key_failure', diag
    assert any(p.startswith('key reset stuck') for p in diag['problems']), diag
    inv = inventory(rec, tmp_path)
    assert inv['key_stuck']['hosts'] == ['rec-weaker'], inv.get('key_stuck')
    assert inv['_meta']['hostvars']['rec-weaker']['proxy_agent']['stuck']['source'] == 'observation'

    # the role: skipped with the reason code, the cause and the next step, and a summary line
    hosts = {'rec-weaker': {'azure_vm_id': vm, 'ansible_connection': 'local'}}
    run = run_playbook(
        collection_playbook('reset_proxy_agent_keys'),
        env,
        inventory=write_inventory(tmp_path, hosts),
        extra_vars={'proxy_agent_key_recovery_stuck_after': HOLD},
    )
    summary = published_stats(run, 'proxy_agent_key_recovery_summary')
    assert summary['reason_codes'] == {'key_stuck': 1} and summary['skipped'] == 1, summary
    reason = summary['skipped_hosts']['rec-weaker']
    assert 'STUCK' in reason and 'likely cause: the guest fails on its old key' in reason and 'next: ' in reason
    assert '1 host(s) have a key reset STUCK' in run.stdout and run.rc == 0, run
    writes = [e for e in rec.control.requests() if e['method'] in ('PATCH', 'PUT') and 'rec-weaker' in e['path']]
    assert len(writes) == 1, writes  # the one observation


def test_recorded_reset_past_its_hold_is_stuck_with_the_agents_cause(rec, sim_env, tmp_path):
    """(a): this collection's own sealed record of a reset the guest never latched (its key poll loop stopped) is
    pending within stuck_after and stuck after it, cause agent_stopped, next step the recovery ladder."""
    vm = rec.vm_id('rg-rec', 'rec-off')
    rec.control.set_agent_fault(vm, 'agent_stopped')
    env = controller(sim_env, tmp_path / 'a', KEY)
    r = run_playbook(play(task(KEY_RESET, vm_id=vm, state='reset', wait=False)), env)
    assert r.result()['changed'], r
    record = tag(rec, vm)
    assert record.startswith('2@') and '#' in record

    r, (fresh,) = healthy(env, vm)
    assert fresh['outcome']['reason_code'] == 'pending_confirmation' and fresh['pending_since'], fresh
    wait_past(fresh['pending_since'], HOLD)
    r, (late,) = healthy(controller(sim_env, tmp_path / 'b', KEY), vm)  # another controller, the same key
    assert not late['changed'] and late['outcome']['reason_code'] == 'key_stuck', late
    stuck = late['stuck']
    assert (stuck['source'], stuck['cause'], stuck['remedy']) == ('record', 'agent_stopped', 'recovery_ladder'), stuck
    assert 'restart' in stuck['next_step'] and 'recorded by this collection' in late['health']['reason']
    assert incarnation(rec, vm) == 2 and tag(rec, vm) == record
    assert not r.reveals(KEY) and not r.reveals(record.split('#')[1])


def test_a_planted_observation_skips_and_weakens_nothing(rec, sim_env, tmp_path):
    """A Tag Contributor plants old observations: on a VM whose key failed (key_lost: a reset is what it needs) it
    is still reset; on a healthy VM nothing changes; on an unrecorded pending reset it only turns pending (not
    written) into stuck (not written), and break-glass is not taken for it. Under the record key it is untrusted,
    reported, and replaced by a sealed observation."""
    t = {n: rec.vm_id('rg-rec', 'rec-' + n) for n in ('pending', 'ok', 'garbled')}
    rec.control.set_agent_fault(t['garbled'], 'key_mismatch')
    tagger = rec.as_principal(*TAGGER)
    for name, model in (('pending', 2), ('ok', 1), ('garbled', 1)):
        tagger.patch_tags(t[name], 'Merge', {KEY_TAG: 'observed:%d@%s' % (model, _stamp(120))})
    before = {k: settings(rec, v) for k, v in t.items()}
    env = controller(sim_env, tmp_path / 'a')

    hosts = dict(('rec-' + k, {'azure_vm_id': v, 'ansible_connection': 'local'}) for k, v in t.items())
    run = run_playbook(
        collection_playbook('reset_proxy_agent_keys'),
        env,
        inventory=write_inventory(tmp_path, hosts),
        extra_vars={'proxy_agent_key_recovery_break_glass': True, 'proxy_agent_key_recovery_wait_timeout': 20},
    )
    summary = published_stats(run, 'proxy_agent_key_recovery_summary')
    assert list(summary['changed_hosts']) == ['rec-pending'] and 'confirmed' in summary['changed_hosts']['rec-pending']
    assert summary['already_fine_hosts'] == ['rec-ok'], summary
    assert summary['reason_codes'] == {'key_stuck': 1} and 'rec-garbled' in summary['skipped_hosts'], summary
    assert not summary.get('break_glass_hosts'), summary
    assert (
        incarnation(rec, t['pending']) == 3 and incarnation(rec, t['ok']) == 1 and incarnation(rec, t['garbled']) == 1
    )
    for name in ('ok', 'garbled'):  # no break-glass, no endpoint setting changed
        assert settings(rec, t[name]) == before[name], name

    # under the record key: the planted observation is untrusted (pending, not stuck) and replaced by a sealed one
    r, (out,) = healthy(controller(sim_env, tmp_path / 'b', KEY), t['garbled'])
    assert out['outcome']['reason_code'] == 'pending_confirmation', out
    assert out['record_check']['reason_code'] == 'record_untrusted', out
    sealed = tag(rec, t['garbled'])
    assert sealed.startswith('observed:1@') and '#' in sealed and out['key_reset_observed'].endswith('#sealed')
    assert not r.reveals(KEY) and not r.reveals(sealed.split('#')[1])
    r, (out,) = healthy(controller(sim_env, tmp_path / 'b', KEY), t['garbled'])
    since = sealed.partition('@')[2].partition('#')[0]
    assert 'record_check' not in out and out['health'].get('observed_since') == since, out  # the sealed one counts
