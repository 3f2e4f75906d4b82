# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.offline_rescue over more copies than one rescue VM holds (issue 23, the fleet part), through real
ansible-playbook runs: the copies of one kind spread over several rescue VMs (the size's MaxDataDiskCount from the
skus list), reused by a re-run and all removed by cleaned; not enough vCPU quota for the rescue VMs needed
(locations/{loc}/usages) refused before any write, with the numbers and the fix."""

import copy

import pytest
import yaml
from test_offline_rescue import FLEET, agent_ready, options, play, results, task

SMALL = 'Standard_B1s'  # 2 data disks (capacity.SIZES: the published B-series table)
SPREAD = ['lin-fstab', 'lin-fstab-2', 'lin-fstab-3', 'lin-healthy']

# The spread over rescue VMs and the quota check are the module's (one batch task), not ansible-core's: the
# ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = [pytest.mark.usefixtures('sim_ca_bundle'), pytest.mark.core_agnostic]


@pytest.fixture
def fleet3(sim):
    """The rescue fleet with two more VMs of lin-fstab's kind (Linux, V2, x64, no zone) and fault."""
    with open(FLEET) as fh:
        data = yaml.safe_load(fh)
    vms = data['resource_groups'][0]['vms']
    vms += [dict(copy.deepcopy(vms[0]), name='lin-fstab-2'), dict(copy.deepcopy(vms[0]), name='lin-fstab-3')]
    sim.control.reset(data)
    sim.control.config(script_time_scale=0.01, lro_seconds=0.3, vm_create_seconds=0.5, disk_copy_seconds=0.3)
    return sim


def rescue_vms(sim):
    return sorted(v.rsplit('/', 1)[-1] for v in sim.control.vms() if v.rsplit('/', 1)[-1].startswith('vmrescue-'))


def limit_refusals(sim):
    return [r for r in sim.control.requests() if r['status'] == 409 and 'maximum number of data disks' in str(r)]


def test_copies_beyond_one_rescue_vms_data_disks_spread_over_two_reused_and_cleaned(fleet3, sim_env):
    sim = fleet3
    run = play(sim_env, [task(sim, SPREAD, **options(sim, action='fstab', rescue_vm_size=SMALL))])
    got = results(run)
    for vm in SPREAD[:3]:
        assert got[vm]['phase'] == 'restored' and agent_ready(sim, vm), (vm, got[vm]['msg'])
    assert got['lin-healthy']['outcome']['reason_code'] == 'vm_boots'
    names = rescue_vms(sim)
    assert names == ['vmrescue-westeurope-linux-v2-x64-1', 'vmrescue-westeurope-linux-v2-x64-2'], names
    used = {got[vm]['rescue_vm_id'].rsplit('/', 1)[-1] for vm in SPREAD[:3]}
    assert used == set(names), 'both rescue VMs served copies'
    assert limit_refusals(sim) == [], 'the limit came from the skus list, not from a refused attach'
    routes = [r['route'] for r in sim.control.requests()]
    assert routes.count('skus.list') == 1 and routes.count('usages.list') == 1, 'one read of each per location'
    assert sim.control.public_ips() == []
    before = sim.control.counters()['write']
    again = results(play(sim_env, [task(sim, SPREAD, **options(sim, action='fstab', rescue_vm_size=SMALL))]))
    assert sorted(again) == sorted(SPREAD), again
    assert all(not r['changed'] and not r.get('failed') for r in again.values()), again
    assert sim.control.counters()['write'] == before and rescue_vms(sim) == names
    clean_run = play(sim_env, [task(sim, SPREAD[:3], state='cleaned')])
    cleaned = results(clean_run)
    # every target's result, not all() of none: a task that failed as a whole has no results (its msg says why)
    assert sorted(cleaned) == sorted(SPREAD[:3]), (clean_run.result(task=0), clean_run.text[-3000:])
    assert all(r['phase'] == 'cleaned' for r in cleaned.values()), cleaned
    deleted = {vm: (r.get('deleted'), r.get('msg')) for vm, r in cleaned.items()}
    assert rescue_vms(sim) == [], ('every rescue VM removed once no rescue uses it', deleted)
    assert not [n for n in sim.control.nics() if n['name'].startswith('vmrescue-')]


def test_a_rerun_after_a_partial_spread_reuses_the_rescue_vms_it_finds(fleet3, sim_env):
    sim = fleet3
    first = results(play(sim_env, [task(sim, SPREAD[:1], **options(sim, action='fstab', rescue_vm_size=SMALL))]))
    assert first['lin-fstab']['phase'] == 'restored'
    assert rescue_vms(sim) == ['vmrescue-westeurope-linux-v2-x64-1']
    rest = results(play(sim_env, [task(sim, SPREAD[1:3], **options(sim, action='fstab', rescue_vm_size=SMALL))]))
    assert all(r['phase'] == 'restored' for r in rest.values()), rest
    assert rescue_vms(sim) == ['vmrescue-westeurope-linux-v2-x64-1'], 'its two free LUNs were enough'


def test_not_enough_vcpu_quota_for_the_rescue_vms_is_refused_before_any_write(fleet3, sim_env):
    sim = fleet3
    sim.control.config(vcpu_quota_family=23)  # 11 D2s_v5 VMs run (22 vCPUs): 1 free, a D2s_v5 rescue VM needs 2
    before = sim.control.counters()['write']
    got = results(play(sim_env, [task(sim, SPREAD, **options(sim, action='fstab'))]))
    for vm in SPREAD[:3]:
        res = got[vm]
        assert res['failed'] and res['outcome']['reason_code'] == 'quota_exceeded', res
        msg = res['msg']
        assert 'standardDSv5Family: 22 of 23 vCPUs used, 1 free, 2 needed' in msg, msg
        assert 'Nothing was written' in msg and 'raise the quota' in msg and 'rescue_vm_size' in msg
    assert got['lin-healthy']['outcome']['reason_code'] == 'vm_boots'
    assert sim.control.counters()['write'] == before, 'refused before any write'
    assert rescue_vms(sim) == []
    check = results(play(sim_env, [task(sim, SPREAD[:1], **options(sim, action='fstab'))], check=True))
    assert check['lin-fstab']['outcome']['reason_code'] == 'quota_exceeded', 'check mode says it too'
