"""vmrescue.azure.offline_rescue on VMs with Azure Disk Encryption (issue 23), through real ansible-playbook runs
against the simulator's rescue fleet (tests/armsim/fleets/rescue.yaml; ADE as tests/armsim/ade.py models it).

A single-pass ADE Linux VM with a broken fstab is rescued as ``az vm repair create --unlock-encrypted-vm`` would:
its copy keeps its encryption settings, a rescue VM of its Key Vault gets the ADE extension with that vault, the
unlock script opens the copy at its LUN, the repair runs, the swapped-in copy boots with the VM's own key. A
dual-pass one is refused before any write; check mode shows the unlock step ahead; a run killed at the unlock
phase finishes without a second copy, rescue VM or unlock.
"""

import pytest
from test_offline_rescue import (
    FLEET,
    RG,
    agent_ready,
    disks_named,
    kill_at_phase,
    options,
    os_disk,
    play,
    results,
    task,
)

VAULT = '/subscriptions/%s/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-rescue'
SECRET = 'https://kv-rescue.vault.azure.net/secrets/3f2a1b0c-ade-test/9b8c7d6e5f4a3b2c'

pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    sim.control.config(script_time_scale=0.01)
    return sim


def _encrypt(sim, vm, version='1.1', secret=SECRET):
    sim.control.set_ade(sim.vm_id(RG, vm), secret, VAULT % sim.subscription_id, version=version)


def _rescue_vms(sim):
    return sorted(n['name'][: -len('-nic')] for n in sim.control.nics() if n['name'].startswith('vmrescue-'))


def _ade_extensions(sim):
    return [
        r for r in sim.control.requests() if r['method'] == 'PUT' and '/extensions/AzureDiskEncryption' in r['path']
    ]


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_single_pass_ade_vm_is_unlocked_repaired_and_boots_with_its_own_key(fleet, sim_env):
    _encrypt(fleet, 'lin-fstab')
    writes = fleet.control.counters()['write']
    check = results(play(sim_env, [task(fleet, ['lin-fstab'], **options(fleet, action='fstab'))], check=True,
                         diff=True))['lin-fstab']  # fmt: skip
    assert check['next_step'] == 'copy' and 'unlock' in check['steps_ahead'], check
    assert check['encryption']['type'] == 'ade_single_pass' and fleet.control.counters()['write'] == writes
    res = results(play(sim_env, [task(fleet, ['lin-fstab'], **options(fleet, action='fstab'))]))['lin-fstab']
    assert res['outcome']['status'] == 'done' and res['phase'] == 'restored', res['msg']
    assert res['steps'][:4] == ['copy', 'attach', 'unlock', 'repair'], res['steps']
    copy = fleet.control.disk(res['copy_disk_id'])
    assert copy['content']['ade'] and copy['content']['faults'] == [] and copy['content']['repairs'][0]['changed']
    assert os_disk(fleet, 'lin-fstab').lower() == res['copy_disk_id'].lower() and agent_ready(fleet, 'lin-fstab')
    assert fleet.control.vm(fleet.vm_id(RG, 'lin-fstab'))['boot']['fault'] is None, 'boots with its own key'
    (rescue,) = _rescue_vms(fleet)
    assert '-ade' in rescue, rescue
    (put,) = _ade_extensions(fleet)
    settings = put['body']['properties']['settings']
    assert settings['KeyVaultResourceId'] == VAULT % fleet.subscription_id and settings['VolumeType'] == 'Data'
    assert SECRET not in str(res) and fleet.control.public_ips() == []
    before = fleet.control.counters()['write']
    again = results(play(sim_env, [task(fleet, ['lin-fstab'], **options(fleet, action='fstab'))]))['lin-fstab']
    assert not again['changed'] and fleet.control.counters()['write'] == before, again


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_dual_pass_is_refused_before_any_write_and_a_plain_vm_shares_no_ade_rescue_vm(fleet, sim_env):
    _encrypt(fleet, 'lin-kernel', version='1.0')
    writes = fleet.control.counters()['write']
    got = results(play(sim_env, [task(fleet, ['lin-kernel'], **options(fleet, action='kernel'))]))['lin-kernel']
    assert got['outcome']['reason_code'] == 'unsupported_disk' and 'dual-pass' in got['msg'], got
    assert fleet.control.counters()['write'] == writes and disks_named(fleet, '-rescue-') == []


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_run_killed_at_the_unlock_phase_resumes_without_redoing_it(fleet, sim_env, tmp_path):
    _encrypt(fleet, 'lin-fstab')
    # the repair's run command (managed, or the action form it falls back to) is refused (503, retried) until the
    # run is killed: the kill lands in the unlock phase
    fleet.control.fault(method='PUT', path_regex='/runCommands/vmrescue-rescue-', status=503)
    fleet.control.fault(method='POST', path_regex='/runCommand$', status=503)
    tasks = [task(fleet, ['lin-fstab'], **options(fleet, action='fstab'))]
    kill_at_phase(fleet, sim_env, tmp_path, tasks, 'lin-fstab', 'unlocked')
    fleet.control.clear_faults()
    unlocks = [
        r for r in fleet.control.requests() if r['method'] == 'PUT' and '/runCommands/vmrescue-unlock-' in r['path']
    ]
    again = results(play(sim_env, tasks))['lin-fstab']
    assert again['phase'] == 'restored' and agent_ready(fleet, 'lin-fstab'), again['msg']
    assert 'unlock' not in again['steps'], again['steps']
    after = [
        r for r in fleet.control.requests() if r['method'] == 'PUT' and '/runCommands/vmrescue-unlock-' in r['path']
    ]
    assert len(after) == len(unlocks) == 1 and len(_ade_extensions(fleet)) == 1, 'the unlock ran once'
    assert len(disks_named(fleet, 'lin-fstab-rescue-')) == 1 and len(_rescue_vms(fleet)) == 1
