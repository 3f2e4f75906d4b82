# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.vmaccess_windows through real ansible-playbook / ansible runs against the ARM simulator.

Password reset, a new administrator, a Remote Desktop reset: the simulated Windows guest shows the effect, the
second identical run and check mode write nothing, a new password reruns the handler. Linux and stopped VMs,
invalid input and a domain controller fail with their message (no write for the refusals). -vvvv runs and the
simulator's request log are scanned for the password.
"""

import json
import os

import pytest
import yaml

from ansible_runner import run_adhoc, run_playbook

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'test.yaml')
MODULE = 'vmrescue.azure.vmaccess_windows'
PASSWORD = 'Zq7-Windows-Secret-4711'
PASSWORD2 = 'Zq7-Windows-Other-0815'
MASK = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def fleet(sim):
    """The test fleet plus rg-winaccess: Windows VMs with a broken RDP, a domain controller, a stopped one."""
    with open(TEST_FLEET) as f:
        data = yaml.safe_load(f)
    data['resource_groups'].append(
        {
            'name': 'rg-winaccess',
            'location': 'westeurope',
            'vms': [
                {'name': 'win-a', 'os': 'windows', 'admin_username': 'azureadmin'},
                {
                    'name': 'win-rdp',
                    'os': 'windows',
                    'guest': {
                        'rdp_enabled': False,
                        'rdp_service': 'stopped',
                        'rdp_port': 3390,
                        'firewall_rdp_enabled': False,
                    },
                },
                {'name': 'win-dc', 'os': 'windows', 'guest': {'domain_controller': True}},
                {'name': 'win-stopped', 'os': 'windows', 'power': 'stopped'},
            ],
        }
    )
    sim.control.reset(data)
    return data


def task(vm_id, register='r', **args):
    return {'name': 'vmaccess_windows', MODULE: dict(args, vm_id=vm_id), 'register': register}


def play(sim_env, tasks, **kw):
    if isinstance(tasks, dict):
        tasks = [tasks]
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], sim_env, **kw)


def one(sim, sim_env, vm_id, check_mode=False, diff=False, **args):
    before = sim.control.counters()['write']
    res = play(sim_env, task(vm_id, **args), check=check_mode, diff=diff)
    return res.result(task=0), sim.control.counters()['write'] - before


def guest(sim, vm_id):
    return sim.control.guest(vm_id)


def test_password_reset_idempotent_and_new_password_reruns(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-a')
    r, writes = one(sim, sim_env, vm_id, username='azureadmin', password=PASSWORD)
    assert r['changed'] and not r.get('failed') and writes == 1, r
    assert r['extension_name'] == 'enablevmaccess' and r['message'] == 'Enable succeeded.'
    assert r['extension']['settings'] == {'UserName': 'azureadmin'}
    assert r['extension']['protectedSettings'] == {'Password': MASK}
    u = guest(sim, vm_id)['users']['azureadmin']
    assert u['password_version'] == 1 and u['admin'] and u['rid'] == 500

    r, writes = one(sim, sim_env, vm_id, username='azureadmin', password=PASSWORD)
    assert r['changed'] is False and r['fingerprint_matched'] is True and writes == 0, r
    assert guest(sim, vm_id)['users']['azureadmin']['password_version'] == 1

    r, writes = one(sim, sim_env, vm_id, username='azureadmin', password=PASSWORD2)
    assert r['changed'] and writes == 1
    assert guest(sim, vm_id)['users']['azureadmin']['password_version'] == 2

    r, writes = one(sim, sim_env, vm_id, username='azureadmin', password=PASSWORD2, force=True)
    assert r['changed'] and writes == 1


def test_new_admin_via_adhoc(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-a')
    before = sim.control.counters()['write']
    res = run_adhoc('localhost', MODULE, {'vm_id': vm_id, 'username': 'rescueadmin', 'password': PASSWORD}, sim_env)
    assert res.rc == 0, res
    assert sim.control.counters()['write'] - before == 1
    g = guest(sim, vm_id)
    assert g['users']['rescueadmin']['admin'] and g['users']['rescueadmin']['created_by_vmaccess']
    assert 'azureadmin' in g['users']  # the built-in administrator stays
    assert not res.reveals(PASSWORD)


def test_reset_rdp(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-rdp')
    r, writes = one(sim, sim_env, vm_id, reset_rdp=True)
    assert r['changed'] and writes == 1, r
    g = guest(sim, vm_id)
    assert (g['rdp_enabled'], g['rdp_service'], g['rdp_port'], g['firewall_rdp_enabled']) == (
        True,
        'running',
        3389,
        True,
    )
    r, writes = one(sim, sim_env, vm_id, reset_rdp=True)
    assert r['changed'] is False and writes == 0


def test_check_mode_and_diff_write_nothing(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-a')
    r, writes = one(sim, sim_env, vm_id, check_mode=True, diff=True, username='azureadmin', password=PASSWORD)
    assert r['changed'] and writes == 0, r
    assert r['diff']['after']['protectedSettings'] == {'Password': MASK}
    assert guest(sim, vm_id)['runs'] == 0


def test_state_absent_removes_the_extension(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-a')
    one(sim, sim_env, vm_id, username='azureadmin', password=PASSWORD)
    r, writes = one(sim, sim_env, vm_id, state='absent')
    assert r['changed'] and writes == 1
    r, writes = one(sim, sim_env, vm_id, state='absent')
    assert r['changed'] is False and writes == 0


@pytest.mark.parametrize(
    'rg,name,message',
    [
        (
            'rg-linux',
            'lin-ok',
            'runs Linux: the VMAccessAgent extension works on Windows only. On Linux use the '
            'vmrescue.azure.vmaccess_linux module',
        ),
        ('rg-winaccess', 'win-stopped', "is not running (power state 'stopped')"),
    ],
)
def test_refused_vms(sim, sim_env, fleet, rg, name, message):
    r, writes = one(sim, sim_env, sim.vm_id(rg, name), username='azureadmin', password=PASSWORD)
    assert r.get('failed') and message in r['msg'] and writes == 0, r


@pytest.mark.parametrize(
    'args,message',
    [
        ({'username': 'azureadmin'}, 'username needs password'),
        ({'password': PASSWORD}, 'password needs username'),
        ({}, 'nothing to do'),
        ({'reset_rdp': True, 'username': 'x', 'password': PASSWORD}, 'reset_rdp cannot be combined'),
        ({'username': 'administrator', 'password': PASSWORD}, 'is a name Azure does not allow'),
        ({'username': 'a' * 21, 'password': PASSWORD}, 'at most 20 characters'),
        ({'username': 'bad.', 'password': PASSWORD}, "cannot end in '.'"),
        ({'username': 'ops', 'password': 'short1A'}, '8 to 123 characters'),
        ({'username': 'ops', 'password': 'alllowercase1'}, 'require 3 of'),
        ({'username': 'ops', 'password': 'P@ssw0rd'}, 'too common'),
        ({'username': 'opsadmin', 'password': 'Xopsadmin-12'}, 'contains the user name'),
        ({'state': 'absent', 'username': 'ops'}, 'state=absent removes the VMAccessAgent extension'),
    ],
)
def test_invalid_input_refused_before_any_call(sim, sim_env, fleet, args, message):
    before = sim.control.counters()
    r, writes = one(sim, sim_env, sim.vm_id('rg-winaccess', 'win-a'), **args)
    assert r.get('failed') and message in r['msg'], r
    assert writes == 0 and sim.control.counters()['write'] == before['write']
    for secret in (PASSWORD, 'Xopsadmin-12', 'alllowercase1', 'short1A'):
        assert secret not in r['msg']


def test_domain_controller_fails_with_the_handler_message(sim, sim_env, fleet):
    r, writes = one(sim, sim_env, sim.vm_id('rg-winaccess', 'win-dc'), username='azureadmin', password=PASSWORD)
    assert r.get('failed') and writes == 1
    assert 'the VMAccessAgent handler failed on' in r['msg'] and 'domain controller' in r['msg'], r


def test_password_never_appears(sim, sim_env, fleet):
    vm_id = sim.vm_id('rg-winaccess', 'win-a')
    tasks = [
        task(vm_id, register='a', username='azureadmin', password=PASSWORD),
        task(vm_id, register='b', username='azureadmin', password=PASSWORD),
        dict(
            task(sim.vm_id('rg-winaccess', 'win-dc'), register='c', username='azureadmin', password=PASSWORD),
            ignore_errors=True,
        ),
        dict(task(vm_id, register='d', username='azureadmin' + PASSWORD[:3], password=PASSWORD), ignore_errors=True),
        {'debug': {'var': 'a'}},
    ]
    res = play(sim_env, tasks, args=['-vvvv'], diff=True)
    assert res.rc == 0, res
    assert res.result(task=0)['changed'] and not res.result(task=1)['changed']
    assert not res.reveals(PASSWORD) and PASSWORD not in json.dumps(res.data)
    log = sim.control.requests()
    assert log and PASSWORD not in json.dumps(log)
    res = play(sim_env, task(vm_id, username='azureadmin', password=PASSWORD2), args=['-vvvv'], check=True, diff=True)
    assert not res.reveals(PASSWORD2) and PASSWORD2 not in json.dumps(res.data)
    assert PASSWORD2 not in json.dumps(sim.control.requests())
