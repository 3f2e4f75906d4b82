"""Boot and platform triage as users run it: the lookup vmrescue.azure.boot_triage through ansible-playbook and the
vms inventory with triage: true through ansible-inventory, on a small fleet with each fault class (the simulator's
boot faults, Resource Health, the VM agent, a failed provisioning). Every VM lands in its class with the evidence,
and the remedy it points to; the serial log is read only for running VMs whose agent is not Ready."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_runner import VENV_BIN, client_env, fleet_on_test_principals, run_playbook, strip_unsafe

RG = 'rg-triage'
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [
                {'name': 'lin-fstab', 'boot_fault': 'fstab'},
                {'name': 'lin-kernel', 'boot_fault': 'kernel'},
                {'name': 'rhel-initrd', 'distro': 'rhel', 'boot_fault': 'initrd'},
                {'name': 'lin-gen1-grub', 'hyper_v_generation': 'V1', 'boot_fault': 'grub'},
                {'name': 'lin-gen2-grub', 'hyper_v_generation': 'V2', 'boot_fault': 'grub'},
                {'name': 'lin-disk-full', 'boot_fault': 'disk_full'},
                {'name': 'win-bootloop', 'os': 'windows', 'boot_fault': 'bootloop_driver'},
                {'name': 'win-safe-mode', 'os': 'windows', 'boot_fault': 'safe_mode'},
                {'name': 'lin-agent-down', 'vm_agent': 'not_ready'},
                {'name': 'lin-host-down', 'health': {'state': 'Unavailable'}},
                {'name': 'lin-stopped', 'power': 'deallocated',
                 'health': {'state': 'Unavailable', 'context': 'User Initiated', 'reason_type': 'UserInitiated'}},
                {'name': 'lin-provisioning', 'boot_fault': 'fstab'},
                {'name': 'lin-healthy'},
                {'name': 'win-healthy', 'os': 'windows'},
            ],
            # Uniform instances carry no diagnosticsProfile of their own in the simulator: the log is off for them
            'scale_sets': [{'name': 'ss-uni', 'orchestration': 'Uniform', 'os': 'linux',
                            'instances': [{}, {'vm_agent': 'not_ready'}]}],
        }
    ]
)  # fmt: skip
# VM -> (class, remedy kind, the remedy's offline_rescue action or ladder rung, a word the evidence holds)
EXPECTED = {
    'lin-fstab': ('boot_emergency_mode', 'offline_rescue', 'fstab', 'Dependency failed for Local File Systems'),
    'lin-kernel': ('boot_kernel_panic', 'offline_rescue', 'kernel', 'Kernel panic'),
    'rhel-initrd': ('boot_initrd', 'offline_rescue', 'initrd', 'dracut'),
    'lin-gen1-grub': ('boot_grub', 'offline_rescue', 'grubfix', 'grub rescue'),
    'lin-gen2-grub': ('boot_grub', 'offline_rescue', 'efifix', 'grub rescue'),
    'lin-disk-full': ('boot_disk_full', 'manual', None, 'No space left on device'),
    'win-bootloop': ('boot_loop', 'offline_rescue', 'lastknowngood', 'Your PC ran into a problem'),
    'win-safe-mode': ('agent_not_ready', 'ladder', 'restart', 'CMD command is now available'),
    'lin-agent-down': ('agent_not_ready', 'ladder', 'restart', 'Multi-User System'),
    'lin-host-down': ('platform_unavailable', 'ladder', 'redeploy', 'Resource Health: Unavailable'),
    'lin-stopped': ('boot_unknown', 'start', None, 'PowerState/deallocated'),
    'lin-provisioning': ('provisioning_failed', 'ladder', 'reapply', 'provisioningState Failed'),
    'lin-healthy': ('boot_ok', 'access', None, 'VM agent Ready'),
    'win-healthy': ('boot_ok', 'access', None, 'VM agent Ready'),
    'ss-uni_0': ('boot_ok', 'access', None, 'VM agent Ready'),
    'ss-uni_1': ('agent_not_ready', 'ladder', 'restart', 'serial log not read: boot diagnostics is off'),
}
NOT_READY_RUNNING = 10  # the VMs whose serial log the auto mode reads (running, their VM agent not Ready)

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    # A model change the platform fails to apply: provisioningState Failed (lin-provisioning also does not boot,
    # and provisioning_failed comes first).
    vm = sim.vm_id(RG, 'lin-provisioning')
    sim.control.fault(method='PATCH', path_regex='.*/lin-provisioning$', kind='operation_fails', count=1)
    arm = sim.as_principal(sim.client_id, sim.client_secret)
    arm.request('PATCH', vm, {'tags': {'touched': 'yes'}}, api_version='2024-11-01')
    return sim


def target_id(sim, name):
    if name.startswith('ss-uni_'):
        return sim.instance_id(RG, 'ss-uni', int(name.rsplit('_', 1)[1]))
    return sim.vm_id(RG, name)


def check(name, got):
    cls, kind, what, word = EXPECTED[name]
    assert got['class'] == cls, (name, got)
    assert got['remedy']['kind'] == kind, (name, got['remedy'])
    if kind == 'offline_rescue':
        assert (
            got['remedy']['options'] == {'action': what} and got['remedy']['module'] == 'vmrescue.azure.offline_rescue'
        )
    if kind == 'ladder':
        assert got['remedy']['rung'] == what and got['remedy']['role'] == 'vmrescue.azure.recovery_ladder'
    assert any(word in line for line in got['evidence']), (name, got['evidence'])


def test_lookup_puts_each_vm_in_its_class_with_evidence(fleet, sim_env):
    names = sorted(EXPECTED)
    ids = [target_id(fleet, n) for n in names]
    fleet.control.reset_counters()
    seen = len(fleet.control.requests())
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars': {'ids': ids}, 'tasks': [
        {'name': 'triage', 'ansible.builtin.set_fact': {'out': "{{ query('vmrescue.azure.boot_triage', *ids) }}"}}]}]  # fmt: skip
    r = run_playbook(play, sim_env)
    assert r.rc == 0, r
    out = r.result()['ansible_facts']['out']
    wrong = {}
    for name, got in zip(names, out):
        assert got['id'] == target_id(fleet, name)
        try:
            check(name, got)
        except AssertionError:
            wrong[name] = got
    assert not wrong, wrong
    by_name = dict(zip(names, out))
    assert 'sig=' not in r.text and 'sig%3D' not in r.text  # no SAS of a serial log blob in the output
    assert by_name['lin-healthy']['serial_log']['read'] is False  # a Ready agent costs no serial log read
    assert by_name['lin-fstab']['serial_log']['rule'] == 'fstab_emergency_mode'
    assert by_name['lin-host-down']['resource_health']['availabilityState'] == 'Unavailable'
    counters = fleet.control.counters()
    assert counters['by_route']['vm.boot_diagnostics'] == NOT_READY_RUNNING, counters
    # Nothing written: the only requests other than reads are the boot diagnostics action (a POST Resource Manager
    # counts in its write bucket)
    changed = [
        r for r in fleet.control.requests()[seen:] if r['method'] not in ('GET', 'HEAD') and '/oauth2/' not in r['path']
    ]
    assert changed and all(r['path'].split('?')[0].endswith('/retrieveBootDiagnosticsData') for r in changed), changed


def test_lookup_never_mode_reads_no_serial_log(fleet, sim_env):
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{'name': 'triage', 'ansible.builtin.set_fact': {
        'out': "{{ lookup('vmrescue.azure.boot_triage', resource_group='%s', name='lin-fstab', serial_log='never') }}"
        % RG}}]}]  # fmt: skip
    r = run_playbook(play, sim_env)
    assert r.rc == 0, r
    got = r.result()['ansible_facts']['out']
    assert got['class'] == 'agent_not_ready'
    assert got['evidence'][-1] == 'serial log not read: serial_log=never'


def _inventory(env, tmp_path, **options):
    path = os.path.join(str(tmp_path), 'fleet.vms.yml')
    with open(path, 'w') as fh:
        yaml.safe_dump(dict({'plugin': 'vmrescue.azure.vms'}, **options), fh)
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-inventory'), '-i', path, '--list'], env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return strip_unsafe(json.loads(proc.stdout))


def test_inventory_groups_every_vm_by_its_class(fleet, tmp_path):
    env = client_env(fleet, ansible_cli=True)
    inv = _inventory(env, tmp_path, triage=True, resource_groups=[RG])
    hostvars = inv['_meta']['hostvars']
    assert sorted(hostvars) == sorted(EXPECTED)
    for name in EXPECTED:
        check(name, hostvars[name]['boot_triage'])
        assert name in inv[EXPECTED[name][0]]['hosts']
    groups = {c for c, *_ in EXPECTED.values()}
    assert sum(len(inv[g]['hosts']) for g in groups) == len(EXPECTED)  # exactly one class per host


def test_inventory_without_triage_adds_nothing(fleet, tmp_path):
    env = client_env(fleet, ansible_cli=True)
    fleet.control.reset_counters()
    inv = _inventory(env, tmp_path, resource_groups=[RG])
    assert 'boot_triage' not in inv['_meta']['hostvars']['lin-fstab']
    assert 'boot_emergency_mode' not in inv
    assert 'vm.boot_diagnostics' not in fleet.control.counters()['by_route']


def test_resource_health_from_the_control_api(fleet, sim_env):
    vm = fleet.vm_id(RG, 'lin-healthy')
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{'name': 'triage', 'ansible.builtin.set_fact': {
        'out': "{{ lookup('vmrescue.azure.boot_triage', '%s') }}" % vm}}]}]  # fmt: skip
    fleet.control.set_health(vm, 'Degraded', context='Platform Initiated')
    r = run_playbook(play, sim_env)
    assert r.rc == 0, r
    got = r.result()['ansible_facts']['out']
    assert got['class'] == 'boot_ok'  # Degraded with a Ready agent: the VM works, the warning is in the evidence
    assert any(line.startswith('Resource Health: Degraded') for line in got['evidence']), got['evidence']
    fleet.control.set_health(vm, 'Unavailable', context='Platform Initiated', reason_type='Unplanned')
    r = run_playbook(play, sim_env)
    got = r.result()['ansible_facts']['out']
    assert got['class'] == 'platform_unavailable' and got['remedy']['rung'] == 'redeploy'
    assert got['resource_health']['context'] == 'Platform Initiated'
