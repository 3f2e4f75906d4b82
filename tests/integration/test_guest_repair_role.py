# SPDX-License-Identifier: GPL-3.0-or-later
"""The role guest_repair (playbook vmrescue.azure.repair_guest) through real ansible-playbook runs against the
simulator: each recipe repairs its simulated fault (the guest's state after the run says so), the summary counts
are exact, and the second run reports every host ok (already fine) while the scripts run again."""

import pytest

from ansible_runner import (
    client_env,
    collection_playbook as _playbook,
    fleet_on_test_principals,
    published_stats as _published,
    run_playbook,
    write_inventory,
)

RG = 'rg-repair'
LINUX = {
    'lin-sshd': {'sshd_config_ok': False, 'sshd_recipe_backup': True},
    'lin-stopped': {'sshd_active': False},
    'lin-perms': {'ssh_bad_permissions': ['/etc/ssh/sshd_config', '/home/azureuser/.ssh/authorized_keys']},
    'lin-aad': {'aad_login': True, 'aad_login_lines': False, 'aad_login_pam': False},
    'lin-fine': {'aad_login': True},
}
WINDOWS = {
    'win-rdp': {'rdp_port': 3390, 'firewall_rdp_enabled': False, 'rdp_nla': False, 'rdp_service': 'stopped'},
    'win-fine': {},
}
# the local_admin recipe's VMs (not in the inventory fixture: they get their own inventory below)
ADMIN = {
    'win-noadmin': {},  # only the built-in administrator: the recipe creates the user
    'win-locked': {'users': {'azureuser': {}, 'rescueadmin': {'disabled': True, 'admin': False, 'password': 'x'}}},
    'win-dc': {'domain_controller': True},
}
ADMIN_PASSWORD = 'Guest-Repair-Adm1n-6612!'
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [{'name': n, 'guest': g} for n, g in LINUX.items()]
            + [{'name': n, 'os': 'windows', 'guest': g} for n, g in (WINDOWS | ADMIN).items()]
            + [
                {'name': 'lin-nobackup', 'guest': {'sshd_config_ok': False}},
                {'name': 'lin-off', 'power': 'deallocated'},
            ],
        }
    ],
    config={'script_time_scale': 0.01},
)
RECIPES = ['sshd', 'ssh_permissions', 'aad_login', 'rdp', 'proxy_agent_logs']


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    return sim


@pytest.fixture
def inventory(fleet, tmp_path):
    hosts = {}
    for name in list(LINUX) + list(WINDOWS) + ['lin-nobackup', 'lin-off']:
        hosts[name] = {'azure_vm_id': fleet.vm_id(RG, name)}
        if name.startswith('win'):
            hosts[name]['os_profile'] = {'system': 'windows'}
    return write_inventory(tmp_path, hosts)


def task_hosts(run, name):
    """The per-host results of the first task called ``name`` in the run."""
    for play in run.data['plays']:
        for task in play['tasks']:
            if str(task.get('task', '')).endswith(name):
                return task['hosts']
    raise AssertionError('no task %s' % name)


def repair_state(sim, name):
    return sim.control.vm(sim.vm_id(RG, name))['guest_repair']


def test_each_recipe_repairs_its_fault_then_the_second_run_is_ok(fleet, inventory):
    env = client_env(fleet)
    extra = {'guest_repair_recipes': RECIPES}
    run = run_playbook(_playbook('repair_guest'), env, inventory=inventory, extra_vars=extra)
    summary = _published(run, 'guest_repair_summary')
    assert sorted(summary['changed_hosts']) == ['lin-aad', 'lin-perms', 'lin-sshd', 'lin-stopped', 'win-rdp'], summary
    assert sorted(summary['already_fine_hosts']) == ['lin-fine', 'win-fine'], summary
    assert list(summary['skipped_hosts']) == ['lin-off'] and list(summary['failed_hosts']) == ['lin-nobackup']
    assert 'no valid backup' in summary['failed_hosts']['lin-nobackup']
    assert summary['changed_hosts']['lin-sshd'].startswith('repaired: sshd;')
    assert run.rc != 0  # the failed host is failed after the summary

    sshd = repair_state(fleet, 'lin-sshd')
    assert sshd['sshd_config_ok'] and sshd['sshd_broken_copies'] == 1 and sshd['restarts'] == 1
    assert repair_state(fleet, 'lin-stopped')['sshd_active']
    assert repair_state(fleet, 'lin-perms')['ssh_bad_permissions'] == []
    aad = repair_state(fleet, 'lin-aad')
    assert aad['aad_login_lines'] and aad['aad_login_pam']
    guest = fleet.control.guest(fleet.vm_id(RG, 'win-rdp'))
    assert (guest['rdp_port'], guest['firewall_rdp_enabled'], guest['rdp_service']) == (3389, True, 'running')
    assert repair_state(fleet, 'win-rdp')['rdp_nla'] is True
    # the logs recipe's output is in the host's result
    logs = task_hosts(run, 'Report the result of this Windows host')['win-fine']
    assert 'ProxyAgent.log (last 100 lines)' in logs['stdout']

    again = run_playbook(_playbook('repair_guest'), env, inventory=inventory, extra_vars=extra)
    summary = _published(again, 'guest_repair_summary')
    assert summary['changed'] == 0, summary
    assert sorted(summary['already_fine_hosts']) == [
        'lin-aad',
        'lin-fine',
        'lin-perms',
        'lin-sshd',
        'lin-stopped',
        'win-fine',
        'win-rdp',
    ]
    for name in ('lin-sshd', 'win-rdp'):  # the scripts ran again (a repair role looks at the guest each time)
        assert len(repair_state(fleet, name)['runs']) == 2


def test_a_windows_vm_taken_as_linux_is_skipped_not_sent_bash(fleet, tmp_path):
    inventory = write_inventory(tmp_path, {'win-fine': {'azure_vm_id': fleet.vm_id(RG, 'win-fine')}})
    run = run_playbook(_playbook('repair_guest'), client_env(fleet), inventory=inventory)
    summary = _published(run, 'guest_repair_summary')
    assert list(summary['skipped_hosts']) == ['win-fine'] and summary['reason_codes'] == {'wrong_os': 1}, summary
    assert repair_state(fleet, 'win-fine')['runs'] == []


def test_local_admin_repairs_the_account_then_is_ok_and_the_password_is_never_shown(fleet, tmp_path):
    hosts = {n: {'azure_vm_id': fleet.vm_id(RG, n), 'os_profile': {'system': 'windows'}} for n in ADMIN}
    inventory = write_inventory(tmp_path, hosts)
    env = client_env(fleet)
    extra = {
        'guest_repair_recipes': ['local_admin'],
        'guest_repair_admin_username': 'rescueadmin',
        'guest_repair_admin_password': ADMIN_PASSWORD,
    }

    def users(name):
        return fleet.control.guest(fleet.vm_id(RG, name))['users']

    run = run_playbook(_playbook('repair_guest'), env, inventory=inventory, extra_vars=extra, args=('-vvv',))
    summary = _published(run, 'guest_repair_summary')
    assert sorted(summary['changed_hosts']) == ['win-locked', 'win-noadmin'], summary
    assert list(summary['failed_hosts']) == ['win-dc'] and 'domain controller' in summary['failed_hosts']['win-dc']
    created = users('win-noadmin')['rescueadmin']
    assert created['admin'] and not created['disabled'] and created['password_version'] == 1
    repaired = users('win-locked')['rescueadmin']  # enabled and made an administrator; its password left
    assert repaired['admin'] and not repaired['disabled'] and repaired['password_version'] == 0
    assert (
        'rescueadmin added to the local Administrators group'
        in (task_hosts(run, 'Report the result of this Windows host')['win-locked']['stdout'])
    )
    assert not run.reveals(ADMIN_PASSWORD)

    again = run_playbook(_playbook('repair_guest'), env, inventory=inventory, extra_vars=extra, args=('-vvv',))
    summary = _published(again, 'guest_repair_summary')
    assert summary['changed'] == 0 and sorted(summary['already_fine_hosts']) == ['win-locked', 'win-noadmin']
    assert users('win-noadmin')['rescueadmin']['password_version'] == 1
    assert not again.reveals(ADMIN_PASSWORD)

    # the operator asks for the password to be set each time: changed every run (a password cannot be compared)
    always = dict(extra, guest_repair_admin_password_update='always')
    reset = run_playbook(_playbook('repair_guest'), env, inventory=inventory, extra_vars=always)
    summary = _published(reset, 'guest_repair_summary')
    assert sorted(summary['changed_hosts']) == ['win-locked', 'win-noadmin'], summary
    assert [users(n)['rescueadmin']['password_version'] for n in ('win-noadmin', 'win-locked')] == [2, 1]
    assert not reset.reveals(ADMIN_PASSWORD)
    assert ADMIN_PASSWORD not in str(fleet.control.requests())
