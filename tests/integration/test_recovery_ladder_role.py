# SPDX-License-Identifier: GPL-3.0-or-later
"""The role recovery_ladder (playbook vmrescue.azure.recovery_ladder) through real ansible-playbook runs against the
simulator's ladder fleet (tests/armsim/fleets/ladder.yaml): one VM that is fine, VMs a restart brings back (a hung
agent, a Failed provisioning state, a lost proxy-agent key), one a reapply brings back (a goal state), one a redeploy
brings back (a failing host), one no rung brings back (it does not boot: the offline rescue is named) and one whose
key never latches (MSP break-glass is named). A re-run applies no rung twice; without the opt-in, redeploy is refused
with its reason; recovery_ladder_max_rung stops the ladder and names the next rung.
"""

import json
import os

import pytest

from ansible_runner import REPO_ROOT, client_env, collection_playbook, published_stats, run_playbook, write_inventory

FLEET = os.path.join(REPO_ROOT, 'tests', 'armsim', 'fleets', 'ladder.yaml')
RG = 'rg-ladder'
HOSTS = ['lad-ok', 'lad-hung', 'lad-failed', 'lad-key-lost', 'lad-goal', 'lad-host', 'lad-fstab', 'lad-key']
FAST = {'recovery_ladder_wait_timeout': 6, 'recovery_ladder_key_wait': 3, 'recovery_ladder_key_delay': 1}


@pytest.fixture
def ladder(sim, tmp_path):
    sim.control.reset(FLEET)
    env = client_env(sim)  # HOME: this test's own (conftest.py)
    inventory = write_inventory(tmp_path, {h: {'azure_vm_id': sim.vm_id(RG, h)} for h in HOSTS})

    def run(**extra):
        return run_playbook(collection_playbook('recovery_ladder'), env, inventory=inventory,
                            extra_vars=dict(FAST, **extra))  # fmt: skip

    return sim, run, tmp_path


def remedy_posts(sim):
    """'<rung> <vm>' of each remedy POST Azure accepted."""
    paths = [e['path'].split('?', 1)[0] for e in sim.control.requests()
             if e['method'] == 'POST' and e['path'].startswith('/subscriptions/') and e['status'] == 202]  # fmt: skip
    return [p.rsplit('/', 1)[-1] + ' ' + p.split('/virtualMachines/')[1].split('/')[0]
            for p in paths if p.rsplit('/', 1)[-1] in ('restart', 'reapply', 'redeploy')]  # fmt: skip


def counts(sim):
    return {h: sim.control.vm(sim.vm_id(RG, h))['remedies']['counts'] for h in HOSTS}


def test_each_rung_brings_back_what_it_can_and_names_the_next_remedy_for_the_others(ladder):
    sim, run, tmp = ladder
    report = tmp / 'ladder.json'
    first = run(recovery_ladder_allow_disruptive=True, recovery_ladder_report_path=str(report))
    by_rung = published_stats(first, 'recovery_ladder_by_rung')
    assert by_rung == {'already_back': 1, 'restart': 3, 'reapply': 1, 'redeploy': 1, 'refused': 0, 'not_back': 2}
    summary = published_stats(first, 'recovery_ladder_summary')
    assert summary['already_fine_hosts'] == ['lad-ok']
    changed = summary['changed_hosts']
    assert sorted(changed) == ['lad-failed', 'lad-goal', 'lad-host', 'lad-hung', 'lad-key-lost']
    assert changed['lad-hung'].startswith('back after restart') and changed['lad-goal'].startswith('back after reapply')
    assert changed['lad-host'].startswith('back after redeploy')
    failed = summary['failed_hosts']
    assert 'vmrescue.azure.offline_rescue' in failed['lad-fstab'] and 'VM agent not Ready' in failed['lad-fstab']
    assert 'proxy_agent_key_recovery_break_glass' in failed['lad-key']
    assert first.rc != 0 and sorted(h for h, s in first.stats.items() if s['failures']) == ['lad-fstab', 'lad-key']
    # each rung only for the VMs the one before did not bring back; nothing for the VM that was fine
    posts = remedy_posts(sim)
    assert sorted(p for p in posts if p.startswith('restart')) == sorted(
        'restart ' + h for h in HOSTS if h != 'lad-ok' and h != 'lad-host'
    )  # platform unavailable: left to redeploy
    assert sorted(p for p in posts if p.startswith('reapply')) == ['reapply lad-fstab', 'reapply lad-goal',
                                                                   'reapply lad-key']  # fmt: skip
    assert sorted(p for p in posts if p.startswith('redeploy')) == ['redeploy lad-fstab', 'redeploy lad-host',
                                                                    'redeploy lad-key']  # fmt: skip
    data = json.loads(report.read_text())
    assert data['kind'] == 'vmrescue.azure.recovery_ladder' and len(data['targets']) == len(HOSTS)

    # a re-run inside the hold repeats no rung: the VMs that are back are fine, the others hold at every rung
    before = counts(sim)
    again = run(recovery_ladder_allow_disruptive=True)
    assert counts(sim) == before
    summary = published_stats(again, 'recovery_ladder_summary')
    assert sorted(summary['already_fine_hosts']) == sorted(h for h in HOSTS if h not in ('lad-fstab', 'lad-key'))
    assert 'restart (held), reapply (held), redeploy (held)' in summary['failed_hosts']['lad-fstab']


def test_redeploy_is_refused_without_the_opt_in(ladder):
    sim, run, _tmp = ladder
    result = run()
    posts = remedy_posts(sim)
    assert not [p for p in posts if p.startswith('redeploy')]
    summary = published_stats(result, 'recovery_ladder_summary')
    assert summary['reason_codes'].get('disruptive_refused') == 3, summary  # lad-host, lad-fstab, lad-key
    reason = summary['skipped_hosts']['lad-host']
    assert 'temporary disk' in reason and 'recovery_ladder_allow_disruptive=true' in reason
    assert published_stats(result, 'recovery_ladder_by_rung')['refused'] == 3


def test_the_cap_stops_the_ladder_and_names_the_next_rung(ladder):
    sim, run, _tmp = ladder
    result = run(recovery_ladder_max_rung='restart', vmrescue_hosts='lad-goal,lad-ok')
    summary = published_stats(result, 'recovery_ladder_summary')
    assert 'the next rung, reapply' in summary['failed_hosts']['lad-goal']
    assert remedy_posts(sim) == ['restart lad-goal']
