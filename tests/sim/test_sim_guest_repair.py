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


def test_any_other_script_is_interpreted_as_before(guests, arm):
    iv = run(arm, 'broken', 'echo vmrescue.azure guest_repair\nexit 3')
    assert (iv['exitCode'], iv['output']) == (3, 'vmrescue.azure guest_repair\n')
    assert state(guests, 'broken')['runs'] == []
