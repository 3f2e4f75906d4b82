# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.vmaccess_linux through real ansible-playbook runs against the ARM simulator.

For every scenario of the seed (update key, reset password, reset sshd, create sudo user, delete user, restore
backup, check disk, repair disk) the simulated guest shows the effect, the second identical run is ok with no write,
and a change of only the password or only the key reruns the handler. Windows, stopped VMs and every invalid
combination fail with their message and no write. A -vvvv run is scanned for the password.
"""

import json
import os

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ansible_runner import run_playbook, write_inventory

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'test.yaml')
MODULE = 'vmrescue.azure.vmaccess_linux'
PASSWORD = 'Zq7-vmaccess-Secret-4711'
PASSWORD2 = 'Zq7-vmaccess-Other-0815'


def _pub(key):
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


ED_KEY = _pub(ed25519.Ed25519PrivateKey.generate()) + ' new@laptop'
ED_KEY2 = _pub(ed25519.Ed25519PrivateKey.generate()) + ' other@laptop'
RSA_KEY = _pub(rsa.generate_private_key(public_exponent=65537, key_size=2048)) + ' rsa@laptop'
ECDSA_KEY = (
    'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87u'
    'Rgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= e@x'
)

BROKEN_SSHD = 'Port 2222\nPasswordAuthentication no\nPubkeyAuthentication no\n'


pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def fleet(sim):
    """The test fleet plus rg-vmaccess VMs for the sshd and disk scenarios (loaded into the simulator)."""
    with open(TEST_FLEET) as f:
        data = yaml.safe_load(f)
    data['resource_groups'].append(
        {
            'name': 'rg-vmaccess',
            'location': 'westeurope',
            'vms': [
                {'name': 'broken-sshd', 'guest': {'sshd_config': BROKEN_SSHD, 'ssh_port_blocked': True}},
                {
                    'name': 'with-backup',
                    'guest': {'sshd_config': BROKEN_SSHD, 'sshd_config_backup': 'Port 22\n# original\n'},
                },
                {'name': 'disks-clean', 'guest': {'disks': {'sdc': 'clean'}}},
                {
                    'name': 'disks-corrupt',
                    'guest': {'disks': {'sdc': 'corrupt', 'sdd': {'state': 'clean', 'mountpoint': None}}},
                },
            ],
        }
    )
    sim.control.reset(data)
    return data


def vm(sim, rg, name):
    return sim.vm_id(rg, name)


def task(vm_id=None, register='r', **args):
    a = dict(args)
    if vm_id:
        a['vm_id'] = vm_id
    t = {'name': 'vmaccess', MODULE: a, 'register': register}
    return t


def play(sim_env, tasks, **kw):
    if isinstance(tasks, dict):
        tasks = [tasks]
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], sim_env, **kw)


def one(sim, sim_env, check_mode=False, diff=False, **args):
    """Run one task; return (result dict, writes made during the run)."""
    before = sim.control.counters()['write']
    res = play(sim_env, task(**args), check=check_mode, diff=diff)
    r = res.result(task=0)
    return r, sim.control.counters()['write'] - before


def guest(sim, vm_id):
    return sim.control.guest(vm_id)


def assert_ok_no_write(sim, sim_env, **args):
    r, writes = one(sim, sim_env, **args)
    assert not r.get('failed'), r
    assert r['changed'] is False, r
    assert r['fingerprint_matched'] is True
    assert writes == 0


# ---------------------------------------------------------------------------------------------------------------
# The seed's scenarios


def test_update_key_uses_existing_extension_and_is_idempotent(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-vmaccess')  # has VMAccessForLinux under the name 'resetaccess'
    old = guest(sim, vm_id)['users']['azureuser']['authorized_keys']
    runs = guest(sim, vm_id)['runs']
    polls = sim.control.counters()['poll']
    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', ssh_key=ED_KEY)
    assert r['changed'] and not r.get('failed'), r
    # the handler's outcome is read from the extension itself: no operation-status polls
    assert sim.control.counters()['poll'] == polls
    assert r['extension_name'] == 'resetaccess'
    assert r['message'] == 'Enable succeeded.'
    assert r['handler_status']['code'] == 'ProvisioningState/succeeded'
    assert writes == 1
    g = guest(sim, vm_id)
    assert g['users']['azureuser']['authorized_keys'] == old + [ED_KEY]  # appended, old key kept
    assert g['runs'] == runs + 1
    exts = sim.control.vm(vm_id)['extensions']
    assert [e for e in json.dumps(exts).split('"') if e == 'enablevmaccess'] == []  # no second VMAccess extension

    assert_ok_no_write(sim, sim_env, vm_id=vm_id, username='azureuser', ssh_key=ED_KEY)
    assert guest(sim, vm_id)['runs'] == runs + 1

    # only the key changes -> the handler runs again
    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', ssh_key=ED_KEY2, remove_prior_keys=True)
    assert r['changed'] and writes == 1
    assert guest(sim, vm_id)['users']['azureuser']['authorized_keys'] == [ED_KEY2]


def test_key_only_change_reruns(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-locked')
    one(sim, sim_env, vm_id=vm_id, username='azureuser', ssh_key=ED_KEY)
    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', ssh_key=RSA_KEY)
    assert r['changed'] and writes == 1
    assert guest(sim, vm_id)['users']['azureuser']['authorized_keys'][-1] == RSA_KEY


def test_reset_password_idempotent_and_password_only_change_reruns(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-locked')
    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert r['changed'] and writes == 1, r
    u = guest(sim, vm_id)['users']['azureuser']
    assert u['password_set'] and u['password_version'] == 1
    assert guest(sim, vm_id)['password_authentication_yes']
    assert r['extension']['protectedSettings']['password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'

    assert_ok_no_write(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert guest(sim, vm_id)['users']['azureuser']['password_version'] == 1

    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD2)
    assert r['changed'] and writes == 1
    assert guest(sim, vm_id)['users']['azureuser']['password_version'] == 2


def test_password_left_out_of_fingerprint(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-locked')
    args = dict(vm_id=vm_id, username='azureuser', password=PASSWORD, fingerprint_password=False)
    one(sim, sim_env, **args)
    r, writes = one(sim, sim_env, **dict(args, password=PASSWORD2))
    assert r['changed'] is False and writes == 0  # documented: not detected
    r, writes = one(sim, sim_env, **dict(args, password=PASSWORD2, force=True))
    assert r['changed'] and writes == 1
    assert guest(sim, vm_id)['users']['azureuser']['password_version'] == 2


def test_reset_sshd(sim, sim_env, fleet):
    vm_id = vm(sim, 'rg-vmaccess', 'broken-sshd')
    r, writes = one(sim, sim_env, vm_id=vm_id, reset_ssh=True)
    assert r['changed'] and writes == 1, r
    g = guest(sim, vm_id)
    assert 'Port 22' in g['sshd_config'].splitlines() and 'Port 2222' not in g['sshd_config']
    assert g['port22_open'] and g['sshd_restarts'] >= 1
    assert g['sshd_config_backup'] == BROKEN_SSHD
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, reset_ssh=True)


def test_create_sudo_user(sim, sim_env, tmp_path):
    vm_id = vm(sim, 'rg-linux', 'lin-ok')
    pub = tmp_path / 'newadmin.pub'
    pub.write_text(ED_KEY + '\n')
    r, writes = one(sim, sim_env, vm_id=vm_id, username='newadmin', ssh_key=str(pub), expiration='2099-12-31')
    assert r['changed'] and writes == 1, r
    u = guest(sim, vm_id)['users']['newadmin']
    assert u['authorized_keys'] == [ED_KEY]
    assert u['sudo'] and 'NOPASSWD' in u['sudoers']
    assert u['expiration'] == '2099-12-31'
    assert any('expiration is applied only when' in w for w in r.get('warnings', []))
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, username='newadmin', ssh_key=str(pub), expiration='2099-12-31')


def test_a_relative_ssh_key_file_is_found_like_a_files_lookup(sim, sim_env, tmp_path):
    # the playbook's files/ folder, not the worker's current directory (plugin_utils/_controller.py FILE_OPTION)
    vm_id = vm(sim, 'rg-linux', 'lin-ok')
    (tmp_path / 'files').mkdir()
    (tmp_path / 'files' / 'filesadmin.pub').write_text(ED_KEY2 + '\n')
    playbook = tmp_path / 'play.yml'
    task = {'name': 'key', MODULE: {'vm_id': vm_id, 'username': 'filesadmin', 'ssh_key': 'filesadmin.pub'}}
    playbook.write_text(yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]))
    r = run_playbook(str(playbook), sim_env).result(task=0)
    assert r['changed'], r
    assert guest(sim, vm_id)['users']['filesadmin']['authorized_keys'] == [ED_KEY2]


def test_delete_user(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-vmaccess')
    assert 'ops' in guest(sim, vm_id)['users']
    r, writes = one(sim, sim_env, vm_id=vm_id, remove_user='ops')
    assert r['changed'] and writes == 1, r
    assert 'ops' not in guest(sim, vm_id)['users']
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, remove_user='ops')


def test_restore_backup(sim, sim_env, fleet):
    vm_id = vm(sim, 'rg-vmaccess', 'with-backup')
    r, writes = one(sim, sim_env, vm_id=vm_id, restore_backup_ssh=True)
    assert r['changed'] and writes == 1, r
    g = guest(sim, vm_id)
    assert g['sshd_config'].startswith('Port 22\n# original')
    assert g['sshd_config_backup'] is None
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, restore_backup_ssh=True)


def test_check_disk(sim, sim_env, fleet):
    vm_id = vm(sim, 'rg-vmaccess', 'disks-clean')
    r, writes = one(sim, sim_env, vm_id=vm_id, check_disk=True)
    assert r['changed'] and writes == 1, r
    assert guest(sim, vm_id)['disks']['sdc']['last_check'] == 'clean'
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, check_disk=True)


def test_check_disk_failure_fails_with_handler_message(sim, sim_env, fleet):
    vm_id = vm(sim, 'rg-vmaccess', 'disks-corrupt')
    r, writes = one(sim, sim_env, vm_id=vm_id, check_disk=True)
    assert r.get('failed'), r
    assert r['msg'].endswith(': Check disk failed.'), r['msg']
    assert r['message'] == 'Check disk failed.'
    assert r['handler_status']['level'] == 'Error'
    assert guest(sim, vm_id)['disks']['sdc']['last_check'] == 'errors'
    # the failed run is not taken for done: the next identical run writes again
    r, writes = one(sim, sim_env, vm_id=vm_id, check_disk=True)
    assert r.get('failed') and writes == 1


def test_repair_disk(sim, sim_env, fleet):
    vm_id = vm(sim, 'rg-vmaccess', 'disks-corrupt')
    r, writes = one(sim, sim_env, vm_id=vm_id, repair_disk=True, disk_name='sdc')
    assert r['changed'] and writes == 1 and not r.get('failed'), r
    assert guest(sim, vm_id)['disks']['sdc']['state'] == 'repaired'
    assert_ok_no_write(sim, sim_env, vm_id=vm_id, repair_disk=True, disk_name='sdc')


# ---------------------------------------------------------------------------------------------------------------
# Targets, check mode, diff, absent, warnings


def test_uniform_instance_and_target_from_host_vars(sim, sim_env, tmp_path):
    inst = sim.instance_id('rg-vmss', 'ss-uniform', 0)
    inv = write_inventory(tmp_path, {'ss-uniform-0': {'azure_vm_id': inst}})
    res = run_playbook(
        [{'hosts': 'all', 'gather_facts': False, 'tasks': [task(username='azureuser', ssh_key=ED_KEY)]}],
        sim_env,
        inventory=inv,
    )
    r = res.result(host='ss-uniform-0', task=0)
    assert r['changed'] and not r.get('failed'), r
    assert r['vm_id'] == inst
    assert guest(sim, inst)['users']['azureuser']['authorized_keys'][-1] == ED_KEY
    assert any(
        e['path']
        .split('?')[0]
        .endswith('/virtualMachineScaleSets/ss-uniform/virtualMachines/0/extensions/enablevmaccess')
        for e in sim.control.requests()
        if e.get('method') == 'PUT'
    )


def test_check_mode_and_diff(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-locked')
    r, writes = one(sim, sim_env, check_mode=True, diff=True, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert r['changed'] and writes == 0, r
    after = r['diff']['after']
    assert after['protectedSettings'] == {'username': 'azureuser', 'password': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    assert guest(sim, vm_id)['runs'] == 0
    one(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD)
    r, writes = one(sim, sim_env, check_mode=True, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert r['changed'] is False and writes == 0


def test_absent_removes_extension(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-vmaccess')
    r, writes = one(sim, sim_env, vm_id=vm_id, state='absent')
    assert r['changed'] and r['extension_name'] == 'resetaccess' and writes == 1, r
    assert 'resetaccess' not in json.dumps(sim.control.vm(vm_id)['extensions'])
    r, writes = one(sim, sim_env, vm_id=vm_id, state='absent')
    assert r['changed'] is False and writes == 0


def test_aad_login_warning(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-aad')
    r, _ = one(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert r['changed'], r
    assert any('AADSSHLoginForLinux' in w and 'run that extension again' in w for w in r.get('warnings', [])), r


# ---------------------------------------------------------------------------------------------------------------
# Refusals: no write


@pytest.mark.parametrize(
    'rg,name,message',
    [
        (
            'rg-windows',
            'win-ok',
            'runs Windows: VMAccessForLinux works on Linux only. On Windows use the VMAccessAgent extension '
            '(publisher Microsoft.Compute, type VMAccessAgent, version 2.4)',
        ),
        ('rg-linux', 'lin-stopped', "is not running (power state 'stopped')"),
        ('rg-linux', 'lin-deallocated', "is not running (power state 'deallocated')"),
    ],
)
def test_refused_vms(sim, sim_env, rg, name, message):
    vm_id = vm(sim, rg, name)
    r, writes = one(sim, sim_env, vm_id=vm_id, username='azureuser', password=PASSWORD)
    assert r.get('failed'), r
    assert message in r['msg'], r['msg']
    assert 'Nothing was changed.' in r['msg']
    assert writes == 0


INVALID = [
    (dict(), 'nothing to do'),
    (dict(password=PASSWORD), 'password needs username'),
    (dict(ssh_key=ED_KEY, reset_ssh=True), 'ssh_key needs username'),
    (dict(username='bob'), 'username needs password or ssh_key'),
    (dict(check_disk=True, repair_disk=True, disk_name='sdc'), 'check_disk and repair_disk are mutually exclusive'),
    (dict(check_disk=True, disk_name='sdc'), 'disk_name is used only with repair_disk'),
    (dict(repair_disk=True), 'repair_disk=true needs disk_name'),
    (dict(remove_user='bob', reset_ssh=True), 'remove_user cannot be combined with reset_ssh'),
    (dict(remove_user='bob', restore_backup_ssh=True), 'remove_user cannot be combined with restore_backup_ssh'),
    (dict(remove_user='bob', username='al', password=PASSWORD), 'remove_user cannot be combined with password'),
    (dict(username='bob', password=PASSWORD, remove_prior_keys=True), 'remove_prior_keys needs ssh_key'),
    (dict(reset_ssh=True, restore_backup_ssh=True), 'reset_ssh and restore_backup_ssh are mutually exclusive'),
    (
        dict(username='bob', password=PASSWORD, expiration='31.12.2030'),
        'expiration must be a date in the form YYYY-MM-DD',
    ),
    (dict(username='bob', ssh_key=ECDSA_KEY), 'ECDSA keys (ecdsa-sha2-nistp256) are not supported'),
    (
        dict(username='bob', ssh_key='sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA== k'),
        'FIDO security key (sk-*) keys',
    ),
    (dict(username='bob', ssh_key='/nonexistent/id.pub'), 'nor an existing file on the controller'),
    (
        dict(state='absent', reset_ssh=True),
        'state=absent removes the VMAccessForLinux extension and cannot be combined with reset_ssh',
    ),
    (dict(ad_user='someone@example.com', username='bob', password=PASSWORD), 'mutually exclusive: ad_user|password'),
]


def test_invalid_combinations_fail_without_write(sim, sim_env):
    vm_id = vm(sim, 'rg-linux', 'lin-ok')
    tasks = []
    for i, (args, _) in enumerate(INVALID):
        t = task(vm_id=vm_id, register='r%d' % i, **args)
        t['ignore_errors'] = True
        tasks.append(t)
    sim.control.reset_counters()
    res = play(sim_env, tasks)
    counters = sim.control.counters()
    for i, (args, message) in enumerate(INVALID):
        r = res.result(task=i)
        assert r.get('failed'), (args, r)
        assert message in r['msg'], (message, r['msg'])
        assert PASSWORD not in r['msg']
    assert counters['write'] == 0, counters
    assert counters['read'] == 0, counters  # checked before any Resource Manager call


# ---------------------------------------------------------------------------------------------------------------
# No secret anywhere


def test_password_never_appears(sim, sim_env):
    lin = vm(sim, 'rg-linux', 'lin-locked')
    aad = vm(sim, 'rg-linux', 'lin-aad')
    tasks = [
        task(vm_id=lin, register='a', username='azureuser', password=PASSWORD),  # changed
        task(vm_id=lin, register='b', username='azureuser', password=PASSWORD),  # ok
        task(vm_id=aad, register='c', username='azureuser', password=PASSWORD),  # warning
        dict(
            task(vm_id=lin, register='d', username='Bad.User', password=PASSWORD), ignore_errors=True
        ),  # handler fails
        dict(
            task(vm_id=lin, register='e', remove_user='x', password=PASSWORD, username='y'), ignore_errors=True
        ),  # invalid
        dict(
            task(vm_id=vm(sim, 'rg-linux', 'lin-stopped'), register='f', username='azureuser', password=PASSWORD),
            ignore_errors=True,
        ),
        {'debug': {'var': 'a'}},
    ]
    res = play(sim_env, tasks, args=['-vvvv'], diff=True)
    assert res.rc == 0, res
    assert res.result(task=0)['changed'] and not res.result(task=1)['changed']
    assert res.result(task=3).get('failed') and 'Enable failed:' in res.result(task=3)['msg'], res.result(task=3)
    assert not res.reveals(PASSWORD)
    assert PASSWORD not in json.dumps(res.data)
    log = sim.control.requests()
    assert log, 'request log is empty'
    assert PASSWORD not in json.dumps(log)
    # check mode + diff too
    res = play(
        sim_env, task(vm_id=lin, username='azureuser', password=PASSWORD2), args=['-vvvv'], check=True, diff=True
    )
    assert not res.reveals(PASSWORD2) and PASSWORD2 not in json.dumps(res.data)
    assert PASSWORD2 not in json.dumps(sim.control.requests())
