# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.offline_rescue, the rest of issue 23, through real ansible-playbook runs: the rescue VMs' own
resource group checked before any write (a ReadOnly lock, a missing permission, a group that does not exist: every
target refused, nothing created), and fewer rescue VMs than the copies need when the vCPU quota is short (one
rescue VM serves three copies in waves, a warning once, a re-run writes nothing)."""

import copy

import pytest
import yaml
from test_offline_rescue import FLEET, RG, agent_ready, options, play, results, task
from test_offline_rescue_fleet import limit_refusals, rescue_vms

SMALL = 'Standard_B1s'  # 1 vCPU, 2 data disks (capacity.SIZES: the published B-series table)
FAULTY = ['lin-fstab', 'lin-fstab-2', 'lin-fstab-3']
RESCUE_RG = 'rg-rescue-vms'

pytestmark = [pytest.mark.usefixtures('sim_ca_bundle'), pytest.mark.core_agnostic]


def fleet_data(roles=None):
    with open(FLEET) as fh:
        data = yaml.safe_load(fh)
    vms = data['resource_groups'][0]['vms']
    vms += [dict(copy.deepcopy(vms[0]), name='lin-fstab-2'), dict(copy.deepcopy(vms[0]), name='lin-fstab-3')]
    data['resource_groups'].append({'name': RESCUE_RG, 'location': 'westeurope', 'vms': []})
    if roles is not None:
        data['principals'][0]['roles'] = roles
    return data


def start(sim, data):
    sim.control.reset(data)
    sim.control.config(script_time_scale=0.01, lro_seconds=0.3, vm_create_seconds=0.5, disk_copy_seconds=0.3)
    return sim


def group_id(sim, name=RESCUE_RG):
    return f'/subscriptions/{sim.subscription_id}/resourceGroups/{name}'


def copies(sim):
    return [d['name'] for d in sim.control.disks() if 'rescue' in d['name'] and 'copy' in d['name'].lower()]


def assert_refused_before_any_write(sim, sim_env, group, code, *words):
    before = sim.control.counters()['write']
    got = results(play(sim_env, [task(sim, FAULTY, **options(sim, action='fstab', rescue_resource_group=group))]))
    for vm in FAULTY:
        res = got[vm]
        assert res['failed'] and res['outcome']['reason_code'] == code, res
        assert 'Nothing was written' in res['msg'] and 'rescue_resource_group' in res['msg'], res['msg']
        for word in words:
            assert word in res['msg'], (word, res['msg'])
        assert res['steps'] == [] and res['phase'] is None
    assert sim.control.counters()['write'] == before, 'refused before any write'
    assert rescue_vms(sim) == [] and not [n for n in sim.control.nics() if n['name'].startswith('vmrescue-')]
    return got


def test_a_readonly_lock_on_the_rescue_group_refuses_every_target_before_any_write(sim, sim_env):
    start(sim, fleet_data())
    sim.control.add_lock(group_id(sim), 'change-freeze', level='ReadOnly')
    assert_refused_before_any_write(sim, sim_env, RESCUE_RG, 'scope_locked', "ReadOnly lock 'change-freeze'",
                                    'az lock delete --ids')  # fmt: skip
    requests = [r for r in sim.control.requests() if RESCUE_RG in r.get('path', '') and 'locks' in r.get('path', '')]
    assert len(requests) == 1, 'the group is read once per batch, not per target'
    check = results(play(sim_env, [task(sim, FAULTY[:1], **options(sim, action='fstab', rescue_resource_group=RESCUE_RG))],
                         check=True))  # fmt: skip
    assert check['lin-fstab']['outcome']['reason_code'] == 'scope_locked', 'check mode says it too'
    sim.control.remove_lock(name='change-freeze')
    sim.control.add_lock(group_id(sim), 'keep', level='CanNotDelete')
    run = play(sim_env, [task(sim, FAULTY[:1], **options(sim, action='fstab', rescue_resource_group=RESCUE_RG))])
    got = results(run)
    assert got['lin-fstab']['phase'] == 'restored' and agent_ready(sim, 'lin-fstab'), got['lin-fstab']['msg']
    warnings = run.result(task=0).get('warnings') or []
    assert [w for w in warnings if "CanNotDelete lock 'keep'" in w and 'state=cleaned' in w], warnings
    cleaned = results(play(sim_env, [task(sim, FAULTY[:1], state='cleaned')]))['lin-fstab']
    assert cleaned['outcome']['reason_code'] == 'scope_locked' and cleaned.get('skipped'), cleaned
    assert rescue_vms(sim) == ['vmrescue-westeurope-linux-v2-x64-1'], 'nothing deleted'


def test_a_missing_permission_in_the_rescue_group_is_refused_naming_the_action(sim, sim_env):
    roles = [
        {'name': 'source and network', 'scope': f'/subscriptions/{sim.subscription_id}/resourceGroups/{RG}',
         'actions': ['*']},
        {'name': 'reader elsewhere', 'actions': ['*/read', 'Microsoft.PolicyInsights/*']},
    ]  # fmt: skip
    start(sim, fleet_data(roles))
    assert_refused_before_any_write(sim, sim_env, RESCUE_RG, 'rbac_missing', 'Microsoft.Compute/virtualMachines/write',
                                    'Microsoft.Network/networkInterfaces/write')  # fmt: skip


def test_a_rescue_group_that_does_not_exist_is_refused_before_any_write(sim, sim_env):
    start(sim, fleet_data())
    assert_refused_before_any_write(sim, sim_env, 'rg-nowhere', 'invalid_input', 'az group create --name rg-nowhere')


def test_quota_for_one_rescue_vm_serves_three_copies_in_waves(sim, sim_env):
    start(sim, fleet_data())
    sim.control.config(vcpu_quota_family=1)  # the B-series family: 0 used, 1 free: one Standard_B1s (2 data disks)
    opts = options(sim, action='fstab', rescue_vm_size=SMALL, rescue_resource_group=RESCUE_RG)
    run = play(sim_env, [task(sim, FAULTY, **opts)])
    got = results(run)
    for vm in FAULTY:
        assert got[vm]['phase'] == 'restored' and agent_ready(sim, vm), (vm, got[vm]['msg'])
        assert got[vm]['rescue_wave']['needed'] == 2 and got[vm]['rescue_wave']['rescue_vms'] == 1, got[vm]
    assert rescue_vms(sim) == ['vmrescue-westeurope-linux-v2-x64-1'], 'one rescue VM: all the quota allows'
    assert limit_refusals(sim) == [], 'the third copy waited for a LUN instead of being refused by Azure'
    waves = [w for w in run.result(task=0).get('warnings') or [] if 'in waves' in w]
    assert len(waves) == 1, 'once per batch'
    assert '3 OS disk copies need 2 rescue VM(s) of size Standard_B1s' in waves[0] and 'allows 1 new' in waves[0]
    before = sim.control.counters()['write']
    again = results(play(sim_env, [task(sim, FAULTY, **opts)]))
    assert all(not r['changed'] and not r.get('failed') for r in again.values()), again
    assert sim.control.counters()['write'] == before
