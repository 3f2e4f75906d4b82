"""The simulator's model of the role guest_repair's recipes (armsim/guestrepair.py): a script with the role's header
is modelled recipe by recipe on the guest, each fault repaired once and reported, a second run changes nothing;
any other script is interpreted line by line as before."""

import os

import pytest
import yaml
from test_sim_run_command import body, finished

TEST_FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'test.yaml')
RG = 'rg-guest'


def wrapper(*recipes, os_name='Linux'):
    head = '#!/bin/bash\n' if os_name == 'Linux' else ''
    lines = [head + '# vmrescue.azure guest_repair (%s): recipes %s' % (os_name, ' '.join(recipes))]
    lines += ['# vmrescue.azure recipe %s\necho this line is never interpreted\nexit 7' % r for r in recipes]
    return '\n'.join(lines) + '\n'


@pytest.fixture
def guests(sim):
    with open(TEST_FLEET) as fh:
        base = yaml.safe_load(fh)
    vms = [
        {'name': 'broken', 'guest': {'sshd_config_ok': False, 'sshd_recipe_backup': True, 'sshd_active': False}},
        {'name': 'nobackup', 'guest': {'sshd_config_ok': False}},
        {'name': 'aad', 'guest': {'aad_login': True, 'aad_login_lines': False, 'ssh_bad_permissions': ['/etc/ssh']}},
        {'name': 'win', 'os': 'windows', 'guest': {'rdp_port': 3390, 'rdp_service_disabled': True}},
        {
            'name': 'win-users',
            'os': 'windows',
            'guest': {'users': {'azureuser': {}, 'rescue': {'disabled': True, 'admin': False}}},
        },
        {'name': 'dc', 'os': 'windows', 'guest': {'domain_controller': True}},
    ]
    fleet = {k: base[k] for k in ('tenant_id', 'subscription_id', 'principals')}
    fleet.update(resource_groups=[{'name': RG, 'vms': vms}], config={'script_time_scale': 0.01})
    sim.control.reset(fleet)
    return sim


def run(arm, vm, script, name='repair', **props):
    path = arm.vm(RG, vm) + '/runCommands/' + name
    arm.wait(arm.put(path, body(script, **props)))
    return finished(arm, path)['properties']['instanceView']


def state(sim, vm):
    return sim.control.vm(sim.vm_id(RG, vm))['guest_repair']


def test_sshd_restores_the_backup_and_starts_sshd_once(guests, arm):
    iv = run(arm, 'broken', wrapper('sshd'))
    assert iv['exitCode'] == 0 and iv['output'].splitlines()[-1] == 'VMRESCUE changed=true failed=none'
    assert 'VMRESCUE recipe=sshd changed=true' in iv['output'] and 'never interpreted' not in iv['output']
    got = state(guests, 'broken')
    assert got['sshd_config_ok'] and got['sshd_active'] and got['sshd_broken_copies'] == 1
    again = run(arm, 'broken', wrapper('sshd') + '# a new configuration\n')
    assert again['output'].splitlines()[-1] == 'VMRESCUE changed=false failed=none'


def test_sshd_without_a_backup_fails_naming_the_recipe(guests, arm):
    iv = run(arm, 'nobackup', wrapper('sshd', 'proxy_agent_logs'))
    assert iv['executionState'] == 'Failed' and iv['exitCode'] == 1
    assert iv['output'].splitlines()[-1] == 'VMRESCUE changed=false failed=sshd'
    assert 'no valid backup' in iv['error'] and 'ProxyAgent.log' in iv['output']
    assert not state(guests, 'nobackup')['sshd_config_ok']


def test_permissions_and_entra_id_login(guests, arm):
    iv = run(arm, 'aad', wrapper('ssh_permissions', 'aad_login'))
    assert 'ssh_permissions: fixed /etc/ssh' in iv['output'] and 'AuthorizedKeysCommandUser root' in iv['output']
    got = state(guests, 'aad')
    assert (
        got['ssh_bad_permissions'] == []
        and got['aad_login_lines']
        and got['runs'][-1]
        == {
            'ssh_permissions': True,
            'aad_login': True,
        }
    )


def test_rdp_with_the_nla_parameter_and_a_recipe_of_the_other_os(guests, arm):
    params = [{'name': 'nla', 'value': 'false'}]
    iv = run(arm, 'win', wrapper('rdp', os_name='Windows'), parameters=params)
    assert 'rdp: RDP-Tcp listener back on port 3389' in iv['output'] and iv['exitCode'] == 0
    guest = guests.control.guest(guests.vm_id(RG, 'win'))
    assert guest['rdp_port'] == 3389 and state(guests, 'win')['rdp_nla'] is False
    assert not state(guests, 'win')['rdp_service_disabled']
    wrong = run(arm, 'win', wrapper('sshd', os_name='Windows'), name='other')
    assert wrong['exitCode'] == 1 and 'not a recipe for windows' in wrong['error']


def admin_params(user, password=None, update=None):
    params = [{'name': 'admin_username', 'value': user}]
    if update:
        params.append({'name': 'admin_password_update', 'value': update})
    props = {'parameters': params}
    if password:
        props['protectedParameters'] = [{'name': 'admin_password', 'value': password}]
    return props


def users(sim, vm):
    return sim.control.guest(sim.vm_id(RG, vm))['users']


def test_local_admin_creates_or_repairs_the_user_then_is_ok_and_never_shows_the_password(guests, arm):
    password = 'Sim-Adm1n-Pw-4471!'
    script = wrapper('local_admin', os_name='Windows')
    iv = run(arm, 'win-users', script, name='a1', **admin_params('helpdesk', password))
    assert 'local_admin: created the local user helpdesk' in iv['output'] and iv['exitCode'] == 0, iv
    got = users(guests, 'win-users')['helpdesk']
    assert got['admin'] and not got['disabled'] and got['password_set'] and got['password_version'] == 1
    # an existing, disabled user outside Administrators: enabled and added, its password left (on_create)
    iv = run(arm, 'win-users', script, name='a2', **admin_params('rescue', password))
    assert 'local_admin: rescue enabled' in iv['output'] and 'added to the local Administrators' in iv['output']
    assert 'password of rescue' not in iv['output'] and users(guests, 'win-users')['rescue']['password_version'] == 0
    again = run(arm, 'win-users', script, name='a3', **admin_params('Rescue', password))  # names ignore case
    assert again['output'].splitlines()[-1] == 'VMRESCUE changed=false failed=none', again
    assert 'nothing to repair' in again['output']
    always = run(arm, 'win-users', script, name='a4', **admin_params('rescue', password, 'always'))
    assert 'VMRESCUE recipe=local_admin changed=true' in always['output']
    assert users(guests, 'win-users')['rescue']['password_version'] == 1
    assert password not in str(guests.control.vm(guests.vm_id(RG, 'win-users')))
    assert password not in str(guests.control.requests())


def test_local_admin_refusals_change_nothing(guests, arm):
    script = wrapper('local_admin', os_name='Windows')
    iv = run(arm, 'dc', script, name='b1', **admin_params('helpdesk', 'Sim-Adm1n-Pw-4471!'))
    assert iv['exitCode'] == 1 and 'local_admin: a domain controller has no local users' in iv['error']
    iv = run(arm, 'win-users', script, name='b2', **admin_params('helpdesk'))
    assert iv['exitCode'] == 1 and 'is needed to create or reset helpdesk' in iv['error']
    iv = run(arm, 'win-users', script, name='b3', **admin_params('helpdesk', 'short'))
    assert iv['exitCode'] == 1 and 'does not meet the length, complexity' in iv['error'] and 'short' not in iv['error']
    iv = run(arm, 'win-users', script, name='b4', **admin_params('help:desk', 'Sim-Adm1n-Pw-4471!'))
    assert iv['exitCode'] == 1 and 'not a valid local user name' in iv['error']
    assert set(users(guests, 'win-users')) == {'azureuser', 'rescue'}
    assert users(guests, 'win-users')['rescue']['disabled']


def test_any_other_script_is_interpreted_as_before(guests, arm):
    iv = run(arm, 'broken', 'echo vmrescue.azure guest_repair\nexit 3')
    assert (iv['exitCode'], iv['output']) == (3, 'vmrescue.azure guest_repair\n')
    assert state(guests, 'broken')['runs'] == []
