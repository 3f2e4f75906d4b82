"""The guest boot model (armsim/boot.py, bootdiag.py): a faulty OS disk keeps the VM from booting, its serial log
says why, retrieveBootDiagnosticsData hands the log out; the bodies checked against virtualMachine.json."""

import pytest
import requests
from rescuekit import DISK_API, copy_body, disk_path, done, vm_path

import specconf

RETRIEVE_PATH = specconf.VM_PATH + '/retrieveBootDiagnosticsData'
LOG_LINES = {
    'lin-fstab': 'You are in emergency mode. After logging in, type "journalctl -xb" to view',
    'lin-kernel': 'Kernel panic - not syncing: Attempted to kill init!',
    'rhel-initrd': 'dracut-initqueue[455]: Warning: dracut-initqueue timeout - starting timeout scripts',
    'lin-gen1-grub': 'grub rescue> ',
    'lin-disk-full': 'No space left on device',
    'win-bootloop': '<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0x50"</VALUE></PROPERTY><machine-info>',
    'lin-healthy': 'lin-healthy login: ',
    'win-healthy': 'Computer is booting, SAC started and initialized.',
}


def agent(arm, vm):
    view = arm.get((vm if vm.startswith('/') else vm_path(arm, vm)) + '/instanceView').json()
    assert specconf.errors(view, specconf.VM_PATH + '/instanceView', 'get', '200') == []
    return view['vmAgent']['statuses'][0]


def test_an_unbootable_vm_has_its_agent_not_ready_a_healthy_one_ready(rescue):
    assert agent(rescue, 'lin-fstab')['displayStatus'] == 'Not Ready'
    assert agent(rescue, 'lin-fstab')['message'] == 'VM Agent is unresponsive.'
    assert agent(rescue, 'win-safe-mode')['displayStatus'] == 'Not Ready'
    assert agent(rescue, 'lin-healthy')['displayStatus'] == 'Ready'
    assert agent(rescue, 'win-healthy')['displayStatus'] == 'Ready'


def test_the_default_fleet_still_boots(sim, arm):
    assert agent(arm, arm.vm('rg-linux', 'lin-ok'))['displayStatus'] == 'Ready'


@pytest.mark.parametrize('vm', sorted(LOG_LINES))
def test_each_fault_prints_its_lines(sim, rescue, vm):
    text = sim.control.serial_log(vm_path(rescue, vm))
    assert LOG_LINES[vm] in text.splitlines() or LOG_LINES[vm] in text
    others = [line for name, line in LOG_LINES.items() if name != vm and 'healthy' not in name]
    assert not [line for line in others if line in text]


def test_a_windows_bootloop_crashes_on_every_boot(sim, rescue):
    text = sim.control.serial_log(vm_path(rescue, 'win-bootloop'))
    assert text.count('Your PC ran into a problem and needs to restart.') == 3
    assert 'C:\\Windows\\System32\\drivers\\CrowdStrike\\C-00000291-00000000-00000032.sys' in text


def retrieve(arm, vm, minutes=None):
    query = {} if minutes is None else {'sasUriExpirationTimeInMinutes': str(minutes)}
    return arm.post(vm_path(arm, vm) + '/retrieveBootDiagnosticsData', query=query)


def test_retrieve_boot_diagnostics_data_serves_the_serial_log(sim, rescue):
    resp = retrieve(rescue, 'lin-kernel', 60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert specconf.errors(body, RETRIEVE_PATH, 'post', '200') == []
    assert '/bootdiagnostics-linkernel-' in body['serialConsoleLogBlobUri']
    assert body['serialConsoleLogBlobUri'].split('?')[0].endswith('.serialconsole.log')
    log = requests.get(body['serialConsoleLogBlobUri'], verify=sim.ca_file, timeout=10)
    assert log.status_code == 200 and LOG_LINES['lin-kernel'] in log.text
    shot = requests.get(body['consoleScreenshotBlobUri'], verify=sim.ca_file, timeout=10)
    assert shot.status_code == 200 and shot.content.startswith(b'BM')
    unsigned = requests.get(body['serialConsoleLogBlobUri'].split('?')[0], verify=sim.ca_file, timeout=10)
    assert unsigned.status_code == 404


def test_retrieve_refusals(rescue):
    assert retrieve(rescue, 'lin-kernel', 0).status_code == 400
    assert retrieve(rescue, 'lin-kernel', 1441).json()['error']['code'] == 'InvalidParameter'
    off = {'properties': {'diagnosticsProfile': {'bootDiagnostics': {'enabled': False}}}}
    done(rescue, rescue.patch(vm_path(rescue, 'lin-kernel'), off))
    refused = retrieve(rescue, 'lin-kernel')
    assert refused.status_code == 409 and refused.json()['error']['code'] == 'OperationNotAllowed'


def test_a_repaired_disk_swapped_in_boots_and_the_log_shows_both_boots(sim, rescue):
    done(rescue, rescue.put(disk_path(rescue, 'fixed'),
                            copy_body(rescue, 'lin-fstab_OsDisk_1', hyperVGeneration='V2'), api=DISK_API))  # fmt: skip
    sim.control.set_disk_fault(disk_path(rescue, 'fixed'), None)
    done(rescue, rescue.post(vm_path(rescue, 'lin-fstab') + '/deallocate'))
    swap = {'properties': {'storageProfile': {'osDisk': {'createOption': 'FromImage',
                                                         'managedDisk': {'id': disk_path(rescue, 'fixed')}}}}}  # fmt: skip
    done(rescue, rescue.patch(vm_path(rescue, 'lin-fstab'), swap))
    assert sim.control.vm(vm_path(rescue, 'lin-fstab'))['boot']['fault'] is None
    done(rescue, rescue.post(vm_path(rescue, 'lin-fstab') + '/start'))
    assert agent(rescue, 'lin-fstab')['displayStatus'] == 'Ready'
    text = sim.control.serial_log(vm_path(rescue, 'lin-fstab'))
    assert text.endswith('lin-fstab login: \n')


def test_a_fault_set_through_the_control_api_stops_the_next_boot(sim, rescue):
    state = sim.control.set_boot_fault(vm_path(rescue, 'lin-healthy'), 'grub')
    assert state['boot']['fault'] == 'grub' and state['boot']['agent_blocked'] is True
    done(rescue, rescue.post(vm_path(rescue, 'lin-healthy') + '/restart'))
    assert sim.control.vm(vm_path(rescue, 'lin-healthy'))['boot']['boots'] == ['grub']
    assert sim.control.serial_log(vm_path(rescue, 'lin-healthy')).endswith('grub rescue> \n')
    with pytest.raises(Exception, match='boot fault'):
        sim.control.set_boot_fault(vm_path(rescue, 'lin-healthy'), 'bootloop_driver')


def test_generated_fleets_take_boot_faults_and_a_network(sim):
    from armsim.fleet import generate_fleet

    fleet = generate_fleet(6, windows_every=3, boot_faults={'fstab': 2, 'bootloop_driver': 3}, network=True)
    fleet['principals'] = [{'client_id': sim.client_id, 'client_secret': sim.client_secret}]
    fleet['tenant_id'], fleet['subscription_id'] = sim.tenant_id, sim.subscription_id
    sim.control.reset(fleet)
    faults = {vm: sim.control.vm(sim.vm_id('rg-bench', vm))['boot']['fault'] for vm in
              ('bench-00000', 'bench-00001', 'bench-00002', 'bench-00003')}  # fmt: skip
    assert faults == {'bench-00000': None, 'bench-00001': 'fstab', 'bench-00002': 'bootloop_driver',
                      'bench-00003': 'fstab'}  # fmt: skip
    assert [v['name'] for v in sim.control.vnets()] == ['rg-bench-vnet']
    assert sim.control.public_ips() == []
