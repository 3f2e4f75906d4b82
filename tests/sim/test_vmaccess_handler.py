"""Rules of the simulated VMAccessForLinux handler (tests/armsim/vmaccess.py), pure calls, no server."""

import base64
import json
import os
import struct
import sys

# tests/ on sys.path so `armsim` imports without relying on a conftest (the simulator package lives there).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import pytest  # noqa: E402

from armsim.vmaccess import (  # noqa: E402
    HANDLER_DEFAULT_SSHD_CONFIG,
    HandlerResult,
    LinuxGuest,
    run_vmaccess,
)

ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGl0ZXN0a2V5LW9uZQ user@host'
ED25519_B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGl0ZXN0a2V5LXR3bw other@host'
RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCtest rsa@host'
ECDSA = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= ec@host'
SK = 'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t sk@host'


def _ssh2_block(key_type: bytes = b'ssh-ed25519') -> str:
    blob = struct.pack('>I', len(key_type)) + key_type + struct.pack('>I', 32) + b'k' * 32
    b64 = base64.b64encode(blob).decode()
    return (
        '---- BEGIN SSH2 PUBLIC KEY ----\n'
        'Comment: "256-bit ED25519, converted by me"\n' + b64[:64] + '\n' + b64[64:] + '\n'
        '---- END SSH2 PUBLIC KEY ----\n'
    )


def _pem_cert() -> str:
    der = b'\x30\x82\x01\x0a' + b'certificate-bytes' * 8
    return '-----BEGIN CERTIFICATE-----\n' + base64.b64encode(der).decode() + '\n-----END CERTIFICATE-----\n'


@pytest.fixture
def guest():
    return LinuxGuest.from_fleet(
        {
            'users': {
                'azureuser': {'ssh_keys': [RSA], 'sudo': True},
                'alice': {'ssh_keys': [], 'password': 'Old-Passw0rd!', 'sudo': False},
            },
            'disks': {'sdc': 'clean'},
        }
    )


def ops(g):
    return [(e['op'], e['message']) for e in g.events]


# -- guest model ----------------------------------------------------------------------------------------


def test_default_guest_has_azureuser_and_root():
    g = LinuxGuest.from_fleet(None)
    j = g.to_json()
    assert set(u for u in j['users'] if j['users'][u]['uid'] >= 1000 or u == 'root') == {'root', 'azureuser'}
    assert j['users']['daemon']['uid'] < 1000 and j['users']['sshd']['uid'] < 1000  # the image's system accounts
    assert j['users']['azureuser']['uid'] >= 1000 and j['users']['root']['uid'] == 0
    assert j['users']['azureuser']['sudo'] is True
    assert j['users']['azureuser']['sudoers'] is None  # cloud-init's sudoers file, not waagent's
    assert j['challenge_response_authentication_no'] is False  # Ubuntu ships KbdInteractiveAuthentication
    assert j['port22_open'] is True and j['sshd_restarts'] == 0
    json.dumps(j)


def test_to_json_has_no_password_material(guest):
    j = guest.to_json()
    alice = j['users']['alice']
    assert alice['password_set'] is True and alice['password_version'] == 1
    assert set(alice) == {
        'uid',
        'home',
        'password_set',
        'password_version',
        'authorized_keys',
        'sudoers',
        'sudo',
        'expiration',
        'created_by_vmaccess',
    }
    assert 'Old-Passw0rd!' not in json.dumps(j)
    assert guest.password_matches('alice', 'Old-Passw0rd!')
    assert not guest.password_matches('alice', 'nope')
    assert not guest.password_matches('azureuser', '')
    assert not guest.password_matches('ghost', 'x')


def test_fleet_options():
    g = LinuxGuest.from_fleet(
        {
            'users': {'u': {'ssh_keys': 'ssh-ed25519 AAAA x', 'uid': 1500}},
            'sshd_config': 'Port 2222\nPasswordAuthentication no\n',
            'ssh_port_blocked': True,
            'disks': {'sdc': 'corrupt', 'sdd': {'state': 'clean', 'mountpoint': '/sdd'}},
        }
    )
    j = g.to_json()
    assert j['users']['u']['uid'] == 1500 and j['users']['u']['authorized_keys'] == ['ssh-ed25519 AAAA x']
    assert j['sshd_config'].startswith('Port 2222')
    assert j['port22_open'] is False
    assert j['disks']['sdc']['state'] == 'corrupt' and j['disks']['sdd']['mountpoint'] == '/sdd'
    with pytest.raises(ValueError):
        LinuxGuest.from_fleet({'disks': {'sdc': 'melted'}})


# -- conflict check -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'extra',
    [
        {'reset_ssh': True},
        {'restore_backup_ssh': True},
        {'password': 'Secr3t!pass'},
        {'password': ''},  # present, even empty: `is not None`
        {'reset_ssh': 'false'},  # the string is truthy
        {'reset_ssh': False, 'password': False},  # the `or` chain ends on password: False is not None
    ],
)
def test_remove_user_conflicts(guest, extra):
    before = guest.to_json()
    r = run_vmaccess(guest, {}, {'remove_user': 'alice', **extra})
    assert r == HandlerResult(False, 'Enable failed: Cannot reset sshd_config and remove a user in one operation.', 0)
    assert ('Enable', '(03002)Argument error, conflicting operations') in ops(guest)
    after = guest.to_json()
    # nothing happened on the guest before the check
    assert after['users'] == before['users'] and after['sshd_config'] == before['sshd_config']
    assert after['sshd_restarts'] == 0


def test_remove_user_with_false_flags_is_not_a_conflict(guest):
    # The real test is (reset_ssh or restore_backup_ssh or password) is not None: with JSON false and no
    # password key, the `or` chain yields None, so this is NOT a conflict.
    r = run_vmaccess(guest, {}, {'remove_user': 'alice', 'reset_ssh': False, 'restore_backup_ssh': False})
    assert r.ok and r.message == 'Enable succeeded.'
    assert 'alice' not in guest.users
    assert guest.sshd_config != HANDLER_DEFAULT_SSHD_CONFIG  # reset_ssh False did not reset


# -- ChallengeResponseAuthentication and sshd restarts -------------------------------------------------


def test_chap_forced_no_with_backup_and_restart(guest):
    original = guest.sshd_config
    r = run_vmaccess(guest, {}, {})
    assert r.ok
    assert guest.challenge_response_no
    assert guest.sshd_config_backup == original
    lines = guest.sshd_config.split('\n')
    # inserted where the handler inserts it: before the last line when there is no Match line
    assert lines[-2] == 'ChallengeResponseAuthentication no' and lines[-1] == ''
    assert guest.sshd_restarts == 1  # restarted unconditionally after the forced setting


def test_chap_already_no_keeps_file_and_takes_no_backup():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 22\nChallengeResponseAuthentication no\n'})
    run_vmaccess(g, {}, {})
    assert g.sshd_config == 'Port 22\nChallengeResponseAuthentication no\n'
    assert g.sshd_config_backup is None
    assert g.sshd_restarts == 1


def test_chap_replaced_before_match_block_only():
    cfg = 'ChallengeResponseAuthentication yes\nMatch User x\nChallengeResponseAuthentication yes\n'
    g = LinuxGuest.from_fleet({'sshd_config': cfg})
    run_vmaccess(g, {}, {})
    assert g.sshd_config == 'ChallengeResponseAuthentication no\nMatch User x\nChallengeResponseAuthentication yes\n'


def test_backup_is_taken_once_only(guest):
    original = guest.sshd_config
    run_vmaccess(guest, {}, {'username': 'alice', 'password': 'N3w-Passw0rd!'})
    run_vmaccess(guest, {}, {'username': 'alice', 'password': 'N3w-Passw0rd!2'})
    assert guest.sshd_config_backup == original


# -- reset_ssh / restore_backup_ssh ---------------------------------------------------------------------


def test_reset_ssh_replaces_config_opens_port_restarts():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\nPasswordAuthentication no\n', 'ssh_port_blocked': True})
    r = run_vmaccess(g, {}, {'reset_ssh': True})
    assert r.ok
    assert g.sshd_config == HANDLER_DEFAULT_SSHD_CONFIG
    assert g.port22_open is True
    assert g.sshd_config_backup.startswith('Port 2222')  # taken by the forced ChallengeResponseAuthentication
    # chap restart + reset restart + "sshd_config modified" restart
    assert g.sshd_restarts == 3


def test_reset_ssh_string_false_is_truthy():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\n'})
    assert run_vmaccess(g, {}, {'reset_ssh': 'false'}).ok
    assert g.sshd_config == HANDLER_DEFAULT_SSHD_CONFIG


def test_reset_ssh_false_does_nothing():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\n', 'ssh_port_blocked': True})
    assert run_vmaccess(g, {}, {'reset_ssh': False}).ok
    assert g.sshd_config.startswith('Port 2222') and g.port22_open is False
    assert g.sshd_restarts == 1  # only the unconditional chap restart: False -> `or` chain -> None


def test_reset_without_prior_chap_change_takes_no_backup():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\nChallengeResponseAuthentication no\n'})
    run_vmaccess(g, {}, {'reset_ssh': True})
    assert g.sshd_config == HANDLER_DEFAULT_SSHD_CONFIG and g.sshd_config_backup is None


def test_restore_backup_ssh_restores_and_deletes_backup():
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\nPasswordAuthentication no\n'})
    run_vmaccess(g, {}, {'reset_ssh': True})
    assert g.sshd_config_backup == 'Port 2222\nPasswordAuthentication no\n'
    r = run_vmaccess(g, {}, {'restore_backup_ssh': True})
    assert r.ok
    assert g.sshd_config == 'Port 2222\nPasswordAuthentication no\n'
    assert g.sshd_config_backup is None


def test_restore_backup_ssh_without_backup_falls_back_to_default():
    # The real handler does not fail: with no backup file it copies the distro default.
    g = LinuxGuest.from_fleet({'sshd_config': 'Port 2222\nChallengeResponseAuthentication no\n'})
    r = run_vmaccess(g, {}, {'restore_backup_ssh': True})
    assert r.ok and g.sshd_config == HANDLER_DEFAULT_SSHD_CONFIG


# -- remove_user ----------------------------------------------------------------------------------------


def test_remove_user_keeps_other_sudoers(guest):
    run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': ED25519})
    run_vmaccess(guest, {}, {'username': 'carol', 'ssh_key': ED25519_B})
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'
    r = run_vmaccess(guest, {}, {'remove_user': 'carol'})
    assert r.ok
    assert 'carol' not in guest.users
    assert guest.sudoers_line('carol') is None
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'
    assert ('Enable', 'Successfully removed user') in ops(guest)


def test_remove_unknown_or_system_user_succeeds(guest):
    assert run_vmaccess(guest, {}, {'remove_user': 'ghost'}).ok
    assert run_vmaccess(guest, {}, {'remove_user': 'root'}).ok
    assert 'root' in guest.users
    assert ('account', 'DeleteAccount: ghost not found.') in ops(guest)


def test_remove_then_recreate_in_one_run(guest):
    r = run_vmaccess(guest, {}, {'remove_user': 'azureuser', 'username': 'azureuser', 'ssh_key': ED25519})
    assert r.ok
    assert guest.users['azureuser']['authorized_keys'] == [ED25519]  # home was removed with userdel -r
    assert guest.users['azureuser']['created_by_vmaccess'] is True


# -- username / password / sudoers ---------------------------------------------------------------------


def test_username_without_password_or_key(guest):
    r = run_vmaccess(guest, {}, {'username': 'bob'})
    assert r == HandlerResult(False, 'Enable failed: No password or ssh_key is specified.', 1)
    assert 'bob' not in guest.users
    r = run_vmaccess(guest, {}, {'username': 'bob', 'password': '', 'ssh_key': ''})
    assert r.message == 'Enable failed: No password or ssh_key is specified.'


def test_username_only_passes_when_ovf_env_has_keys():
    g = LinuxGuest.from_fleet({'ovf_ssh_public_keys': 1})
    assert run_vmaccess(g, {}, {'username': 'bob'}).ok
    assert g.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'


def test_create_user_with_password(guest):
    r = run_vmaccess(guest, {}, {'username': 'bob', 'password': 'S3cret-Pass!', 'expiration': '2030-01-31'})
    assert r.ok and r.message == 'Enable succeeded.'
    j = guest.to_json()['users']['bob']
    assert j['created_by_vmaccess'] is True and j['expiration'] == '2030-01-31'
    assert j['password_set'] and j['password_version'] == 1
    assert guest.password_matches('bob', 'S3cret-Pass!')
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) ALL'
    assert guest.password_authentication_yes
    assert guest.cloud_init_sshd_conf.startswith('PasswordAuthentication yes')
    assert guest.sshd_restarts == 2  # chap + password => sshd_config modified
    assert ('account', 'useradd -m bob -e 2030-01-31') in ops(guest)


def test_expiration_applies_only_on_creation(guest):
    run_vmaccess(guest, {}, {'username': 'bob', 'password': 'S3cret-Pass!', 'expiration': '2030-01-31.000'})
    assert guest.users['bob']['expiration'] == '2030-01-31'  # split('.')[0]
    run_vmaccess(guest, {}, {'username': 'bob', 'password': 'Other-Pass1!', 'expiration': '2040-01-01'})
    assert guest.users['bob']['expiration'] == '2030-01-31'
    assert guest.users['bob']['password_version'] == 2
    assert guest.password_matches('bob', 'Other-Pass1!')


def test_password_reset_existing_user(guest):
    r = run_vmaccess(guest, {}, {'username': 'alice', 'password': 'N3w-Passw0rd!'})
    assert r.ok
    assert guest.password_matches('alice', 'N3w-Passw0rd!') and not guest.password_matches('alice', 'Old-Passw0rd!')
    assert guest.users['alice']['password_version'] == 2
    assert guest.users['alice']['created_by_vmaccess'] is False
    # create_account rewrites the waagent file: it now holds alice's line (the ones of others are appended)
    assert guest.sudoers_line('alice') == 'alice ALL = (ALL) ALL'


def test_key_only_user_gets_nopasswd(guest):
    assert run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': ED25519}).ok
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'
    assert guest.users['bob']['password'] is None
    assert guest.sshd_restarts == 1  # no password key -> sshd_config not "modified"


@pytest.mark.parametrize('value', [True, 'false', 1])
def test_enable_passwordless_access_is_truthy(guest, value):
    run_vmaccess(guest, {}, {'username': 'bob', 'password': 'S3cret-Pass!', 'enable_passwordless_access': value})
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'


def test_empty_password_ignored_but_counts_as_modified(guest):
    r = run_vmaccess(guest, {}, {'username': 'bob', 'password': '', 'ssh_key': ED25519})
    assert r.ok
    assert guest.users['bob']['password'] is None
    assert guest.sudoers_line('bob') == 'bob ALL = (ALL) NOPASSWD: ALL'
    assert not guest.password_authentication_yes  # "" -> None: PasswordAuthentication left alone
    assert guest.sshd_restarts == 2  # "" is not None


@pytest.mark.parametrize('user', ['root', 'daemon', 'sshd'])
def test_system_user_refused(guest, user):
    """root and the image's other system accounts (uid below UID_MIN) exist on the guest: the handler refuses
    them instead of creating a new sudo user of that name."""
    r = run_vmaccess(guest, {}, {'username': user, 'password': 'S3cret-Pass!'})
    assert r.message == (
        'Enable failed: Failed to create the account or set the password with '
        'Failed to set password for system user: %s (0x06).' % user
    )
    assert r.error_code == 0
    assert ('Enable', '(02101)Failed to create the account or set the password') in ops(guest)


@pytest.mark.parametrize('settings', [{'username': 'Bad Name'}, {'username': 'bob', 'expiration': 'someday'}])
def test_useradd_failure(guest, settings):
    r = run_vmaccess(guest, {}, {**settings, 'ssh_key': ED25519})
    user = settings['username']
    assert r.message == (
        'Enable failed: Failed to create the account or set the password with '
        'Failed to create user account: %s (0x07).' % user
    )
    assert user not in guest.users


def test_non_string_expiration_raises_like_the_handler(guest):
    r = run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': ED25519, 'expiration': 20300101})
    assert r.message == "Enable failed: 'int' object has no attribute 'split'"


# -- ssh keys -------------------------------------------------------------------------------------------


def test_ed25519_and_rsa_are_appended(guest):
    assert run_vmaccess(guest, {}, {'username': 'azureuser', 'ssh_key': ED25519}).ok
    assert guest.users['azureuser']['authorized_keys'] == [RSA, ED25519]
    assert run_vmaccess(guest, {}, {'username': 'azureuser', 'ssh_key': 'SSH-RSA AAAAB3 upper'}).ok  # .lower()
    assert guest.users['azureuser']['authorized_keys'][-1] == 'SSH-RSA AAAAB3 upper'


@pytest.mark.parametrize('value,replaced', [(True, True), (1, True), ('true', False), ('True', False), (False, False)])
def test_remove_prior_keys_compared_equal_true(guest, value, replaced):
    run_vmaccess(guest, {}, {'username': 'azureuser', 'ssh_key': ED25519, 'remove_prior_keys': value})
    assert guest.users['azureuser']['authorized_keys'] == ([ED25519] if replaced else [RSA, ED25519])


def test_ssh2_block_is_converted(guest):
    r = run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': _ssh2_block()})
    assert r.ok
    (line,) = guest.users['bob']['authorized_keys']
    assert line.startswith('ssh-ed25519 AAAA')
    assert ('key', 'Succeeded in converting SSH2 key to OpenSSH key.') in ops(guest)


def test_ssh2_rsa_block_is_converted(guest):
    assert run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': _ssh2_block(b'ssh-rsa')}).ok
    assert guest.users['bob']['authorized_keys'][0].startswith('ssh-rsa ')


def test_bad_ssh2_block_fails(guest):
    bad = '---- BEGIN SSH2 PUBLIC KEY ----\n!!!notbase64!!!\n---- END SSH2 PUBLIC KEY ----'
    r = run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': bad})
    assert r.message == 'Enable failed: Failed to convert SSH2 key to OpenSSH key.'
    assert r.error_code == 0 and r.status_written
    assert 'bob' in guest.users  # the account was created before the key step


@pytest.mark.parametrize('key', [ECDSA, SK, 'not a key at all'])
def test_ecdsa_sk_and_junk_go_through_certificate_path_and_fail(guest, key):
    r = run_vmaccess(guest, {}, {'username': 'bob', 'ssh_key': key})
    assert r == HandlerResult(False, 'Enable failed: Failed to generate public key file.', 0)
    assert ('Enable', '(02100)Failed to reset ssh key.') in ops(guest)
    assert 'bob' in guest.users and guest.users['bob']['authorized_keys'] == []


def test_pem_certificate_replaces_authorized_keys(guest):
    r = run_vmaccess(guest, {}, {'username': 'azureuser', 'ssh_key': _pem_cert()})
    assert r.ok
    (line,) = guest.users['azureuser']['authorized_keys']  # overwritten, not appended
    assert line.startswith('ssh-rsa AAAAB3NzaC1yc2E')
    # the same certificate body without the tags is wrapped by the handler and accepted too
    body = _pem_cert().split('\n')[1]
    assert run_vmaccess(guest, {}, {'username': 'azureuser', 'ssh_key': body}).ok


def test_status_not_written_when_remove_user_succeeded_first(guest):
    bad = '---- BEGIN SSH2 PUBLIC KEY ----\nxx\n---- END SSH2 PUBLIC KEY ----'
    r = run_vmaccess(guest, {}, {'remove_user': 'alice', 'username': 'bob', 'ssh_key': bad})
    assert not r.ok and r.status_written is False
    assert r.message == 'Enable failed: Failed to convert SSH2 key to OpenSSH key.'


# -- disks ----------------------------------------------------------------------------------------------


def test_check_and_repair_both(guest):
    r = run_vmaccess(
        guest, {'check_disk': True, 'repair_disk': True, 'disk_name': 'sdc'}, {'username': 'bob', 'ssh_key': ED25519}
    )
    assert r == HandlerResult(False, 'Enable failed.', 4)
    assert 'bob' in guest.users  # account work happens before the disk step
    assert ('error', 'check_disk and repair_disk was both specified.Only one of them can be specified') in ops(guest)


def test_check_disk():
    g = LinuxGuest.from_fleet({'disks': {'sdc': 'clean'}})
    assert run_vmaccess(g, {'check_disk': True}, {}).message == 'Enable succeeded.'
    g = LinuxGuest.from_fleet({'disks': {'sdc': 'corrupt'}})
    r = run_vmaccess(g, {'check_disk': 'false'}, {})  # the string is truthy
    assert r == HandlerResult(False, 'Check disk failed.', 3)
    assert g.disks['sdc']['state'] == 'corrupt' and g.disks['sdc']['last_check'] == 'errors'


def test_repair_disk_needs_disk_name():
    g = LinuxGuest.from_fleet({'disks': {'sdc': 'corrupt'}})
    assert run_vmaccess(g, {'repair_disk': True}, {}) == HandlerResult(False, 'Repair disk failed.', 2)


def test_repair_disk_repairs_all_corrupt_and_reports_success():
    g = LinuxGuest.from_fleet({'disks': {'sdc': 'corrupt', 'sdd': {'state': 'corrupt', 'mountpoint': None}}})
    r = run_vmaccess(g, {'repair_disk': True, 'disk_name': 'sdc'}, {})
    assert r.ok and r.message == 'Enable succeeded.'
    assert g.disks['sdc']['state'] == 'repaired' and g.disks['sdd']['state'] == 'repaired'
    # an unknown name is not checked by the handler: umount fails, fsck -AR runs, success
    assert run_vmaccess(g, {'repair_disk': True, 'disk_name': 'nosuchdisk'}, {}).ok


def test_repair_disk_of_a_mount_point_fails():
    g = LinuxGuest.from_fleet({'disks': {'sdc': {'state': 'corrupt', 'mountpoint': '/datadrive'}}})
    r = run_vmaccess(g, {'repair_disk': True, 'disk_name': 'datadrive'}, {})
    assert r == HandlerResult(False, 'Repair disk failed.', 2)
    assert g.disks['sdc']['state'] == 'corrupt'


# -- protected settings shape, order, secrets -----------------------------------------------------------


def test_no_protected_settings_fails_like_the_handler():
    g = LinuxGuest.from_fleet(None)
    r = run_vmaccess(g, {'check_disk': True}, None)
    assert r.message == "Enable failed: 'NoneType' object has no attribute 'get'"
    assert run_vmaccess(g, {'check_disk': True}, {}).ok


def test_order_of_operations(guest):
    run_vmaccess(
        guest,
        {'check_disk': True},
        {'reset_ssh': True, 'username': 'bob', 'ssh_key': ED25519},
    )
    seq = [m for _, m in ops(guest)]

    def idx(prefix):
        return next(i for i, m in enumerate(seq) if m.startswith(prefix))

    assert idx('Setting ChallengeResponseAuthentication') < idx('iptables -I INPUT') < idx('copy resources/default')
    assert idx('copy resources/default') < idx('useradd -m bob') < idx('appended ssh-ed25519') < idx('check_disk')
    assert seq[-1] == 'Enable succeeded.'


def test_events_hold_no_secrets(guest):
    run_vmaccess(guest, {}, {'username': 'bob', 'password': 'Very-Secret-123'})
    run_vmaccess(guest, {}, {'remove_user': 'bob', 'password': 'Another-Secret-9'})
    dumped = json.dumps(guest.to_json())
    assert 'Very-Secret-123' not in dumped and 'Another-Secret-9' not in dumped
