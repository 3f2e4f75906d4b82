# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.offline_rescue through real ansible-playbook runs against the simulator's rescue fleet
(tests/armsim/fleets/rescue.yaml): unbootable Linux and Windows VMs with different boot faults and healthy ones.

Each faulty VM boots again on its own repaired copy (the simulator's disk shows the repair), its original kept and
tagged; healthy VMs are left alone; a second run writes nothing; no public IP ever; a run killed in a phase and run
again finishes with one copy per VM and one rescue VM; rolled_back puts the original back exactly; cleaned removes
the copy and the created rescue VM (its NIC and OS disk with it); bad input is refused before any write.
"""

import os
import signal
import subprocess
import time

import pytest
import yaml

from ansible_runner import VENV_BIN, _common, _env, run_playbook

MODULE = 'vmrescue.azure.offline_rescue'
FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'rescue.yaml')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RG = 'rg-rescue'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl rescue'
PASSWORD = 'N0t-a-real-Passw0rd!'
GROUPS = {  # action -> (VMs, extra options); healthy VMs ride along with an action of their OS
    'fstab': (['lin-fstab', 'lin-healthy'], {}),
    'kernel': (['lin-kernel'], {}),
    'initrd': (['rhel-initrd'], {}),
    'grubfix': (['lin-gen1-grub'], {}),
    'auditd': (['lin-disk-full'], {}),
    'remove_driver': (['win-bootloop', 'win-healthy'], {'driver_file': 'C-00000291*.sys'}),
    'safemode_off': (['win-safe-mode'], {}),
}
HEALTHY = ('lin-healthy', 'win-healthy')

pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    sim.control.config(script_time_scale=0.01)
    return sim


def subnet(sim):
    return (f'/subscriptions/{sim.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/'
            'rescue-vnet/subnets/rescue')  # fmt: skip


def options(sim, **extra):
    out = dict(rescue_subnet_id=subnet(sim), rescue_resource_group=RG, rescue_admin_ssh_public_key=KEY,
               rescue_admin_password='{{ rescue_password }}', wait_timeout=120)  # fmt: skip
    out.update(extra)
    return out


def task(sim, vms, name='rescue', **args):
    return {'name': name, MODULE: dict(targets=[sim.vm_id(RG, vm) for vm in vms], **args), 'register': 'r',
            'ignore_errors': True}  # fmt: skip


def play(sim_env, tasks, **kw):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'vars': {'rescue_password': PASSWORD},
                          'tasks': tasks}], sim_env, **kw)  # fmt: skip


def fleet_tasks(sim, groups=GROUPS, **extra):
    return [task(sim, vms, name=action, **options(sim, action=action, **dict(more, **extra)))
            for action, (vms, more) in groups.items()]  # fmt: skip


def results(run):
    out = {}
    for index in range(len(run.data['plays'][0]['tasks'])):
        for res in run.result(task=index).get('results') or []:
            out[res['id'].rsplit('/', 1)[-1]] = res
    return out


def os_disk(sim, vm):
    return sim.control.vm(sim.vm_id(RG, vm))['model']['properties']['storageProfile']['osDisk']['managedDisk']['id']


def disks_named(sim, part):
    return sorted(d['name'] for d in sim.control.disks() if part in d['name'])


def agent_ready(sim, vm):
    state = sim.control.vm(sim.vm_id(RG, vm))
    return state['power'] == 'running' and state['boot']['fault'] is None and not state['boot']['agent_blocked']


# the engine, not ansible-core: test_offline_rescue_role.py runs it through the role on ansible-core 2.16 (make compat)
@pytest.mark.core_agnostic
def test_a_fleet_is_rescued_healthy_vms_left_alone_and_a_second_run_writes_nothing(fleet, sim_env):
    run = play(sim_env, fleet_tasks(fleet))
    got = results(run)
    for action, (vms, _more) in GROUPS.items():
        for vm in vms:
            res = got[vm]
            if vm in HEALTHY:
                assert res['outcome']['reason_code'] == 'vm_boots' and not res['changed'], res
                assert os_disk(fleet, vm).endswith('/%s_OsDisk_1' % vm)
                continue
            assert res['outcome']['status'] == 'done' and res['phase'] == 'restored', (vm, res['msg'])
            copy = fleet.control.disk(res['copy_disk_id'])
            assert os_disk(fleet, vm).lower() == res['copy_disk_id'].lower() and agent_ready(fleet, vm), vm
            assert copy['content']['faults'] == [] and copy['content']['repairs'][0]['action'] == action
            original = fleet.control.disk(res['original_disk_id'])
            assert original['diskState'] == 'Unattached' and original['content']['faults'], 'the original is kept'
            assert original['tags']['vmrescue-rescue-original-of'] == vm
            assert fleet.control.vm(fleet.vm_id(RG, vm))['model']['tags']['vmrescue-rescue'].startswith('v1;restored@')
    assert fleet.control.public_ips() == [], 'no public IP, ever'
    assert all(n['name'].startswith('vmrescue-') or n['name'].endswith('-nic') for n in fleet.control.nics())
    before = fleet.control.counters()['write']
    again = play(sim_env, fleet_tasks(fleet))
    assert all(not r['changed'] and not r.get('failed') for r in results(again).values()), results(again)
    assert fleet.control.counters()['write'] == before, 'a second run writes nothing'


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_rolled_back_restores_the_original_exactly_then_cleaned_removes_the_rest(fleet, sim_env):
    vm_id = fleet.vm_id(RG, 'lin-fstab')
    original = os_disk(fleet, 'lin-fstab')
    first = results(play(sim_env, fleet_tasks(fleet, {'fstab': (['lin-fstab'], {})})))['lin-fstab']
    assert first['phase'] == 'restored', first
    back = play(sim_env, [task(fleet, ['lin-fstab'], state='rolled_back')])
    res = results(back)['lin-fstab']
    assert res['changed'] and res['phase'] == 'rolled_back', res
    state = fleet.control.vm(vm_id)
    assert os_disk(fleet, 'lin-fstab') == original and state['power'] == 'running'
    assert state['boot']['fault'] == 'fstab', 'the original, exactly: its fault too'
    check = play(sim_env, [task(fleet, ['lin-fstab'], state='cleaned')], check=True)
    assert results(check)['lin-fstab']['deleted'], results(check)
    writes = fleet.control.counters()['write']
    cleaned = results(play(sim_env, [task(fleet, ['lin-fstab'], state='cleaned')]))['lin-fstab']
    assert cleaned['phase'] == 'cleaned' and fleet.control.counters()['write'] > writes, cleaned
    assert disks_named(fleet, '-rescue-') == [] and disks_named(fleet, 'vmrescue-') == []
    assert fleet.control.nics() and not [n for n in fleet.control.nics() if n['name'].startswith('vmrescue-')]
    assert os_disk(fleet, 'lin-fstab') == original and fleet.control.disk(original)['diskState'] == 'Attached'
    again = results(play(sim_env, [task(fleet, ['lin-fstab'], state='cleaned')]))['lin-fstab']
    assert not again['changed'], again


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_cleaned_after_restore_keeps_the_original_unless_told(fleet, sim_env):
    first = results(play(sim_env, fleet_tasks(fleet, {'kernel': (['lin-kernel'], {})})))['lin-kernel']
    kept = results(play(sim_env, [task(fleet, ['lin-kernel'], state='cleaned')]))['lin-kernel']
    assert fleet.control.disk(first['original_disk_id'])['diskState'] == 'Unattached', kept
    gone = results(play(sim_env, [task(fleet, ['lin-kernel'], state='cleaned', keep_original=False)]))['lin-kernel']
    assert gone['changed'] and disks_named(fleet, 'lin-kernel_OsDisk') == [], gone
    assert agent_ready(fleet, 'lin-kernel')


def rescue_tag(sim, vm):
    """The phase record on ``vm`` (tag vmrescue-rescue), '' when none."""
    return (sim.control.vm(sim.vm_id(RG, vm))['model'].get('tags') or {}).get('vmrescue-rescue') or ''


def kill_at_phase(sim, sim_env, tmp_path, tasks, vm, phase):
    """Run ``tasks`` in an ansible-playbook of their own and SIGKILL it (its whole session: the controller dies with
    its workers) once ``vm``'s record says ``phase``; fails with the run's own output if it never gets there."""
    path = tmp_path / 'rescue.yml'
    path.write_text(yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False,
                                     'vars': {'rescue_password': PASSWORD}, 'tasks': tasks}]))  # fmt: skip
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook')] + _common(None, None, False, False) + [str(path)]
    log = tmp_path / 'killed-run.log'
    with open(log, 'wb') as out:
        proc = subprocess.Popen(cmd, env=_env(sim_env), cwd=str(tmp_path), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        # generous: the phases take seconds, but make test runs six lanes on two cores (one CI run saw this wait end
        # at 120 s with the copy made and not attached; the run's own output is kept to say why, should it again)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not rescue_tag(sim, vm).startswith('v1;%s@' % phase):
            if proc.poll() is not None:
                break  # the run ended before the phase: the assertion below shows its output
            time.sleep(0.05)
        assert rescue_tag(sim, vm).startswith('v1;%s@' % phase), (
            rescue_tag(sim, vm),
            proc.poll(),
            log.read_text(errors='replace')[-3000:],
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
@pytest.mark.parametrize('phase', ['copied', 'attached', 'repaired', 'swapped'])
def test_a_run_killed_in_a_phase_then_run_again_finishes_without_duplicates(fleet, sim_env, tmp_path, phase):
    fleet.control.config(lro_seconds=1.0, vm_create_seconds=1.0, disk_copy_seconds=1.0)
    tasks = fleet_tasks(fleet, {'fstab': (['lin-fstab', 'lin-arm64'], {})})
    kill_at_phase(fleet, sim_env, tmp_path, tasks, 'lin-fstab', phase)
    fleet.control.config(lro_seconds=0.2, vm_create_seconds=0.3, disk_copy_seconds=0.3)
    again = results(play(sim_env, tasks))
    for vm in ('lin-fstab', 'lin-arm64'):
        assert again[vm]['phase'] == 'restored' and agent_ready(fleet, vm), (vm, again[vm]['msg'])
        assert len(disks_named(fleet, vm + '-rescue-')) == 1, disks_named(fleet, vm)
    rescue_vms = [v for v in fleet.control.nics() if v['name'].startswith('vmrescue-')]
    assert len(rescue_vms) == 2, 'one rescue VM per architecture, none twice'
    assert fleet.control.public_ips() == []


BAD = [
    ({'action': None}, 'needs action'),
    ({'action': 'remove_driver'}, 'driver_file'),
    ({'action': 'custom'}, 'script or script_file'),
    ({'action': 'fstab', 'script': 'echo'}, 'action=custom only'),
    ({'action': 'fstab', 'rescue_subnet_id': '/subscriptions/x/resourceGroups/y'}, 'subnet resource ID'),
    ({'action': 'fstab', 'rescue_admin_ssh_public_key': None, 'rescue_admin_password': None}, 'needs rescue_admin'),
    ({'action': 'fstab', 'record_key': 'short'}, 'at least 16'),
    ({'action': 'fstab', 'driver_file': '../x.sys'}, 'not a path'),
    ({'state': 'cleaned', 'action': 'fstab'}, 'leave out action'),
]


def test_bad_input_is_refused_before_any_write_naming_the_option(fleet, sim_env):
    before = fleet.control.counters()
    tasks = []
    for args, _words in BAD:
        merged = options(fleet, **args)
        tasks.append(task(fleet, ['lin-fstab'], **{k: v for k, v in merged.items() if v is not None}))
    run = play(sim_env, tasks)
    for index, (_args, words) in enumerate(BAD):
        res = run.result(task=index)
        assert res.get('failed') and words in res['msg'], (index, res.get('msg'))
        assert PASSWORD not in str(res) and 'short' not in res['msg']
    after = fleet.control.counters()
    assert after['write'] == before['write'] and after['read'] == before['read'], 'refused before any call'


def test_check_mode_says_the_next_step_and_writes_nothing(fleet, sim_env):
    before = fleet.control.counters()['write']
    run = play(sim_env, fleet_tasks(fleet, {'fstab': (['lin-fstab', 'lin-healthy'], {})}), check=True, diff=True)
    got = results(run)
    assert got['lin-fstab']['next_step'] == 'copy' and got['lin-fstab']['changed'], got['lin-fstab']
    assert got['lin-healthy']['outcome']['reason_code'] == 'vm_boots'
    assert fleet.control.counters()['write'] == before
