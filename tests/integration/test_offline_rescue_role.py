# SPDX-License-Identifier: GPL-3.0-or-later
"""The role offline_rescue (playbook vmrescue.azure.rescue_offline) through real ansible-playbook runs against the
simulator's rescue fleet (tests/armsim/fleets/rescue.yaml): a Linux and a Windows VM that do not boot, a healthy one
of each, and a Linux VM whose fault (a kernel panic) the run's Linux action (fstab) does not fix, rescued in one run (a
Linux and a Windows batch, rescue VMs created in a subnet).

One fleet run (the module fixture ``rescued``) is shared by the first three tests, in file order: what it did, then a
second run over the same state (all ok, no write), then rolled_back and cleaned. Bad role input costs no ARM call.
"""

import json
import os

import jsonschema
import pytest

from ansible_runner import (
    REPO_ROOT,
    client_env,
    collection_playbook,
    published_stats,
    run_playbook,
    write_inventory,
)

FLEET = os.path.join(REPO_ROOT, 'tests', 'armsim', 'fleets', 'rescue.yaml')
SCHEMA = json.load(open(os.path.join(REPO_ROOT, 'docs', 'schemas', 'run_report.schema.json')))
RG = 'rg-rescue'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl rescue'
PASSWORD = 'Rescue-R0le-Adm1n-4471!'
FAULTY = {'lin-fstab': 'fstab', 'win-bootloop': 'remove_driver'}
HEALTHY = ['lin-healthy', 'win-healthy']
WRONG_FAULT = 'lin-kernel'  # fstab changes nothing on its copy: failed (nothing_repaired), nothing swapped
HOSTS = ['lin-fstab', 'lin-healthy', 'lin-kernel', 'win-bootloop', 'win-healthy']


def _inventory(sim, path, names=tuple(HOSTS)):
    hosts = {}
    for name in names:
        hosts[name] = {'azure_vm_id': sim.vm_id(RG, name)}
        if name.startswith('win'):
            hosts[name]['os_profile'] = {'system': 'windows'}
    return write_inventory(path, hosts)


def _extra(sim, **more):
    subnet = (f'/subscriptions/{sim.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/'
              'virtualNetworks/rescue-vnet/subnets/rescue')  # fmt: skip
    out = {
        'offline_rescue_action': 'fstab',
        'offline_rescue_windows_action': 'remove_driver',
        'offline_rescue_driver_file': 'C-00000291*.sys',
        'offline_rescue_rescue_subnet_id': subnet,
        'offline_rescue_rescue_resource_group': RG,
        'offline_rescue_rescue_admin_ssh_public_key': KEY,
        'offline_rescue_rescue_admin_password': PASSWORD,
        'offline_rescue_wait_timeout': 120,
    }
    out.update(more)
    return out


def _os_disk(sim, vm):
    return sim.control.vm(sim.vm_id(RG, vm))['model']['properties']['storageProfile']['osDisk']['managedDisk']['id']


def _boots(sim, vm):
    state = sim.control.vm(sim.vm_id(RG, vm))
    return state['power'] == 'running' and state['boot']['fault'] is None and not state['boot']['agent_blocked']


def _named(sim, part):
    return sorted(d['name'] for d in sim.control.disks() if part in d['name'])


class Rescued:
    """The shared fleet run: the simulator, its env and inventory, the first run and its report."""

    def __init__(self, sim, env, inventory, report, run, originals):
        self.sim, self.env, self.inventory, self.report, self.run = sim, env, inventory, report, run
        self.originals = originals

    def playbook(self, **extra):
        return run_playbook(collection_playbook('rescue_offline'), self.env, inventory=self.inventory,
                            extra_vars=_extra(self.sim, **extra))  # fmt: skip


@pytest.fixture(scope='module')
def rescued(_sim_process, tmp_path_factory):
    sim = _sim_process
    sim.control.reset(FLEET)
    sim.control.config(script_time_scale=0.01)
    tmp = tmp_path_factory.mktemp('offline_rescue_role')
    (tmp / 'home').mkdir()
    env = dict(client_env(sim), HOME=str(tmp / 'home'))  # this module's own token cache (see conftest.py)
    inventory = _inventory(sim, tmp)
    originals = {vm: _os_disk(sim, vm) for vm in HOSTS}
    report = tmp / 'rescue.json'
    run = run_playbook(collection_playbook('rescue_offline'), env, inventory=inventory,
                       extra_vars=_extra(sim, offline_rescue_report_path=str(report)), args=('-vvv',))  # fmt: skip
    return Rescued(sim, env, inventory, report, run, originals)


def test_the_faulty_vms_boot_on_their_repaired_disks_and_the_healthy_ones_are_untouched(rescued):
    sim, run = rescued.sim, rescued.run
    summary = published_stats(run, 'offline_rescue_summary')
    assert (summary['checked'], summary['changed'], summary['already_fine']) == (5, 2, 2), summary
    assert (summary['skipped'], summary['failed'], summary['reason_codes']) == (0, 1, {'nothing_repaired': 1}), summary
    assert sorted(summary['changed_hosts']) == sorted(FAULTY) and sorted(summary['already_fine_hosts']) == HEALTHY
    assert summary['changed_hosts']['lin-fstab'].startswith('repaired: boots on its repaired OS disk lin-fstab-rescue-')
    assert 'the fstab action changed nothing on the copy' in summary['failed_hosts'][WRONG_FAULT]
    assert summary['failed_hosts'][WRONG_FAULT].endswith(', or offline_rescue_state=rolled_back.'), "the role's words"
    # the failed host is failed after the summary (the group offline_rescue_failed), the others are not
    assert run.rc != 0 and [h for h, s in run.stats.items() if s['failures']] == [WRONG_FAULT], run.stats
    assert _os_disk(sim, WRONG_FAULT) == rescued.originals[WRONG_FAULT], 'nothing swapped'
    assert len(_named(sim, WRONG_FAULT + '-rescue-')) == 1, 'its copy stays (attached to the rescue VM)'
    for vm, action in FAULTY.items():
        copy = _os_disk(sim, vm)
        assert copy != rescued.originals[vm] and _boots(sim, vm), vm
        repaired = sim.control.disk(copy)
        assert repaired['content']['faults'] == [] and repaired['content']['repairs'][0]['action'] == action
        original = sim.control.disk(rescued.originals[vm])
        assert original['diskState'] == 'Unattached' and original['content']['faults'], 'the original is kept'
        assert original['tags']['vmrescue-rescue-original-of'] == vm
    for vm in HEALTHY:
        assert _os_disk(sim, vm) == rescued.originals[vm] and _boots(sim, vm)
        assert 'vmrescue-rescue' not in (sim.control.vm(sim.vm_id(RG, vm))['model'].get('tags') or {})
    assert sim.control.public_ips() == [], 'no public IP, ever'
    assert len([n for n in sim.control.nics() if n['name'].startswith('vmrescue-')]) == 2, 'one rescue VM per OS'
    report = json.loads(rescued.report.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert len(report['targets']) == 5 and report['kind'] == 'vmrescue.azure.offline_rescue', report['kind']
    assert published_stats(run, 'offline_rescue_report')['path'] == str(rescued.report)
    assert not run.reveals(PASSWORD) and PASSWORD not in rescued.report.read_text()
    assert PASSWORD not in str(sim.control.requests())


def _codes(run):
    """host -> the reason code of its own result (the per-host result tasks of the first play)."""
    out = {}
    for task in run.data['plays'][0]['tasks']:
        if 'Report the result of this' in str(task['task']):
            for host, res in task['hosts'].items():
                if res.get('outcome'):
                    out[host] = res['outcome']['reason_code']
    return out


def test_a_second_run_reports_every_host_ok_and_writes_nothing(rescued):
    before = rescued.sim.control.counters()['write']
    again = rescued.playbook(vmrescue_hosts='all:!' + WRONG_FAULT)  # the failed one needs another action
    summary = published_stats(again, 'offline_rescue_summary')
    assert summary['changed'] == 0 and sorted(summary['already_fine_hosts']) == sorted([*FAULTY, *HEALTHY]), summary
    assert again.rc == 0 and rescued.sim.control.counters()['write'] == before, 'a second run writes nothing'
    assert _codes(again) == {'lin-fstab': 'unchanged', 'win-bootloop': 'unchanged', 'lin-healthy': 'vm_boots',
                             'win-healthy': 'vm_boots'}  # fmt: skip


def test_rolled_back_puts_the_originals_back_then_cleaned_removes_the_copies_and_rescue_vms(rescued):
    sim = rescued.sim
    back = published_stats(rescued.playbook(offline_rescue_state='rolled_back'), 'offline_rescue_summary')
    assert sorted(back['changed_hosts']) == sorted([*FAULTY, WRONG_FAULT]), back
    assert sorted(back['already_fine_hosts']) == HEALTHY and back['failed'] == 0, back
    assert back['changed_hosts']['win-bootloop'].startswith('rolled back: runs on its original OS disk')
    for vm in FAULTY:
        state = sim.control.vm(sim.vm_id(RG, vm))
        assert _os_disk(sim, vm) == rescued.originals[vm] and state['power'] == 'running', vm
        assert state['boot']['fault'] is not None, 'the original, exactly: its fault too'
    cleaned = published_stats(rescued.playbook(offline_rescue_state='cleaned'), 'offline_rescue_summary')
    assert sorted(cleaned['changed_hosts']) == sorted([*FAULTY, WRONG_FAULT]) and cleaned['failed'] == 0, cleaned
    assert _named(sim, '-rescue-') == [] and _named(sim, 'vmrescue-') == [], 'no copy, no rescue VM disk left'
    assert not [n for n in sim.control.nics() if n['name'].startswith('vmrescue-')]
    assert all(_os_disk(sim, vm) == rescued.originals[vm] for vm in HOSTS)
    assert sim.control.public_ips() == []


BAD = [
    ({'offline_rescue_state': 'gone'}, 'offline_rescue_state'),
    ({'offline_rescue_action': None}, 'needs offline_rescue_action'),
    ({'offline_rescue_action': 'remove_driver', 'offline_rescue_windows_action': None}, 'offline_rescue_driver_file'),
]


def test_bad_role_input_is_refused_before_any_arm_call_naming_the_variable(sim, tmp_path):
    inventory = _inventory(sim, tmp_path)
    env = client_env(sim)
    sim.control.reset_counters()
    for change, needle in BAD:
        extra = dict((k, v) for k, v in _extra(sim, **change).items() if v is not None)
        if 'remove_driver' in change.values():
            extra.pop('offline_rescue_driver_file')
        run = run_playbook(collection_playbook('rescue_offline'), env, inventory=inventory, extra_vars=extra)
        assert run.rc != 0 and needle in run.text, (change, run)
        assert not run.reveals(PASSWORD)
    # a host of an OS without an action in the run: skipped (wrong_os), still no call
    (tmp_path / 'win').mkdir()
    windows_only = _inventory(sim, tmp_path / 'win', ['win-healthy'])
    extra = dict(_extra(sim))
    extra.pop('offline_rescue_windows_action')
    run = run_playbook(collection_playbook('rescue_offline'), env, inventory=windows_only, extra_vars=extra)
    summary = published_stats(run, 'offline_rescue_summary')
    assert summary['reason_codes'] == {'wrong_os': 1} and run.rc == 0, summary
    assert 'no repair action for its OS' in summary['skipped_hosts']['win-healthy']
    counters = sim.control.counters()
    assert (counters['read'], counters['write']) == (0, 0), counters
