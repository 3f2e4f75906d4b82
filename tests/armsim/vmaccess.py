"""Simulated VMAccessForLinux 1.5 handler and the Linux guest state it acts on.

The compute layer of the simulator calls :func:`run_vmaccess` each time a VMAccessForLinux extension
handler (re)runs on a VM (new sequence number). The function mirrors ``enable()`` of the real handler
(Azure/azure-linux-extensions, ``VMAccess/vmaccess.py`` at the 1.5 line that has ``restore_backup_ssh``,
``ssh-ed25519``, ``remove_prior_keys`` and ``VMAccess/errorclarification.py``) together with the helpers it
calls (``Utils/distroutils.py`` ``create_account`` / ``delete_account``, ``Utils/ovfutils.py``,
``Utils/extensionutils.py``): same order of operations, same truthiness tests, same messages.

Comments tagged ``[source]`` restate what the real code does; comments tagged ``[inferred]`` mark
behaviour the source does not settle (shell tools, file-system state) and that this simulation decides.

No secret is stored or logged: passwords are kept as a salted SHA-256 digest (``password_matches`` checks
one), and the event log names users, files and key types only.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hashlib
import hmac
import os
import re
import struct
from typing import Any

# ---------------------------------------------------------------------------------------------------------
# Constants and messages (verbatim from the real handler unless tagged [inferred])
# ---------------------------------------------------------------------------------------------------------

BEGIN_CERTIFICATE_TAG = '-----BEGIN CERTIFICATE-----'
END_CERTIFICATE_TAG = '-----END CERTIFICATE-----'
BEGIN_SSH2_TAG = '---- BEGIN SSH2 PUBLIC KEY ----'
END_SSH2_TAG = '---- END SSH2 PUBLIC KEY ----'
SSHD_CONFIG_PATH = '/etc/ssh/sshd_config'
SSHD_CONFIG_BACKUP_PATH = '/var/cache/vmaccess/backup'
CLOUD_INIT_SSHD_CONF_PATH = '/etc/ssh/sshd_config.d/50-cloud-init.conf'
WAAGENT_SUDOERS_PATH = '/etc/sudoers.d/waagent'
CLOUD_INIT_SUDOERS_PATH = '/etc/sudoers.d/90-cloud-init-users'

MSG_ENABLE_SUCCEEDED = 'Enable succeeded.'
MSG_ENABLE_FAILED_PREFIX = 'Enable failed: '
MSG_CONFLICT_EVENT = '(03002)Argument error, conflicting operations'
MSG_CONFLICT = 'Cannot reset sshd_config and remove a user in one operation.'
MSG_NO_PASSWORD_OR_KEY = 'No password or ssh_key is specified.'
MSG_CREATE_ACCOUNT_FAILED = 'Failed to create the account or set the password'
MSG_SSH2_CONVERT_FAILED = 'Failed to convert SSH2 key to OpenSSH key.'
MSG_PUBKEY_FAILED = 'Failed to generate public key file.'
MSG_RESET_KEY_EVENT = '(02100)Failed to reset ssh key.'
MSG_REMOVE_USER_EVENT = '(02102)Failed to remove user.'
# check_and_repair_disk(): both flags -> this error is logged, the status message is "Enable failed."
MSG_CHECK_AND_REPAIR_LOG = 'check_disk and repair_disk was both specified.Only one of them can be specified'
MSG_CHECK_AND_REPAIR_STATUS = 'Enable failed.'
# [source] The current 1.5 handler (with errorclarification.py) reports "Check disk failed." and
# "Repair disk failed." (operation 'Enable'). Handlers before errorclarification.py (1.4.x and early 1.5)
# reported "Check failed." / "Repair failed." (operations 'Check' / 'Repair'); see LEGACY_* below.
MSG_CHECK_DISK_FAILED = 'Check disk failed.'
MSG_REPAIR_DISK_FAILED = 'Repair disk failed.'
LEGACY_MSG_CHECK_FAILED = 'Check failed.'
LEGACY_MSG_REPAIR_FAILED = 'Repair failed.'

# errorclarification.ErrorCode values [source]
SYSTEM_ERROR = 0
USER_PASSWORD_ERROR = 1
REPAIR_DISK_ERROR = 2
CHECK_DISK_ERROR = 3
CHECK_REPAIR_DISK_ERROR = 4

# /etc/login.defs UID_MIN on Ubuntu/Debian/RHEL; the handler falls back to 100 when it cannot read it.
UID_MIN = 1000
# The system accounts of an Azure Ubuntu 22.04 image's /etc/passwd (name, uid, home), besides root: the handler
# refuses to set their passwords or keys and skips deleting them (uid < UID_MIN), so a guest that lacked them would
# let `username: daemon` create a new sudo user where a real VM refuses. [source] the image's /etc/passwd; homes
# as there.
IMAGE_SYSTEM_USERS = (
    ('daemon', 1, '/usr/sbin'),
    ('bin', 2, '/bin'),
    ('sys', 3, '/dev'),
    ('sync', 4, '/bin'),
    ('games', 5, '/usr/games'),
    ('man', 6, '/var/cache/man'),
    ('lp', 7, '/var/spool/lpd'),
    ('mail', 8, '/var/mail'),
    ('news', 9, '/var/spool/news'),
    ('uucp', 10, '/var/spool/uucp'),
    ('proxy', 13, '/bin'),
    ('www-data', 33, '/var/www'),
    ('backup', 34, '/var/backups'),
    ('list', 38, '/var/list'),
    ('irc', 39, '/run/ircd'),
    ('gnats', 41, '/var/lib/gnats'),
    ('systemd-network', 100, '/run/systemd'),
    ('systemd-resolve', 101, '/run/systemd'),
    ('messagebus', 102, '/nonexistent'),
    ('systemd-timesync', 103, '/run/systemd'),
    ('syslog', 104, '/home/syslog'),
    ('_apt', 105, '/nonexistent'),
    ('tss', 106, '/var/lib/tpm'),
    ('uuidd', 107, '/run/uuidd'),
    ('tcpdump', 108, '/nonexistent'),
    ('sshd', 109, '/run/sshd'),
    ('pollinate', 110, '/var/cache/pollinate'),
    ('landscape', 111, '/var/lib/landscape'),
    ('fwupd-refresh', 112, '/run/systemd'),
    ('chrony', 113, '/var/lib/chrony'),
)

# [inferred] Abbreviated stand-in for the handler's resources/default (Ubuntu has no ubuntu_default
# resource in the tree, so _get_default_ssh_config_filename() falls back to 'default'). Written for the
# simulator; it carries the settings that matter: port 22, key and password login, no challenge-response.
HANDLER_DEFAULT_SSHD_CONFIG = """\
#Default sshd_config

Port 22
Protocol 2
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
SyslogFacility AUTH
LogLevel INFO
LoginGraceTime 120
PermitRootLogin without-password
StrictModes yes
PubkeyAuthentication yes
IgnoreRhosts yes
HostbasedAuthentication no
PermitEmptyPasswords no
ChallengeResponseAuthentication no
PasswordAuthentication yes
X11Forwarding yes
PrintMotd no
TCPKeepAlive yes
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
UsePAM yes
ClientAliveInterval 120
"""

# [inferred] What an Azure Ubuntu 22.04 image ships (trimmed): KbdInteractiveAuthentication instead of
# ChallengeResponseAuthentication, so the handler's forced "ChallengeResponseAuthentication no" is inserted.
UBUNTU_SSHD_CONFIG = """\
# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#PermitRootLogin prohibit-password
#PubkeyAuthentication yes
#PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
ClientAliveInterval 120

#Match User anoncvs
#\tX11Forwarding no
"""

_USERADD_NAME_RE = re.compile(r'^[a-z_][a-z0-9_-]*[$]?$')
_EXPIRATION_RE = re.compile(r'^\d{4}-\d{2}-\d{2}$')
_DISK_STATES = ('clean', 'corrupt', 'repaired')


# ---------------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class HandlerResult:
    """What the handler reports for one run.

    ``ok``/``message`` are the status the handler writes (status 'success'/'error', formattedMessage).
    ``error_code`` is the errorclarification code passed to do_exit on failure (None on success).
    ``status_written`` is False in the one case where the real handler crashes inside its own ``except``
    (``errorstatus`` was reset to None by a successful remove_user and a later step raised): it then
    writes no status file at all; ``message`` holds what it would have said.
    """

    ok: bool
    message: str
    error_code: int | None = None
    status_written: bool = True

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class _Fail(Exception):
    """do_exit(1, ...) from inside check_and_repair_disk or enable(): message and code are final."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------------------------------------------------
# Guest
# ---------------------------------------------------------------------------------------------------------


def _hash_password(password: str) -> tuple[str, str]:
    salt = os.urandom(16).hex()
    digest = hashlib.sha256((salt + password).encode('utf-8')).hexdigest()
    return salt, digest


class LinuxGuest:
    """A simulated Linux guest: accounts, sshd configuration, firewall, sshd restarts and data disks."""

    def __init__(self) -> None:
        self.os_name = 'Ubuntu'
        # name -> {uid, home, password (salt, digest)|None, password_version, authorized_keys [lines],
        #          expiration, created_by_vmaccess}
        self.users: dict[str, dict[str, Any]] = {}
        self.sudoers_waagent: str | None = None  # /etc/sudoers.d/waagent (text) or absent
        self.sudoers_cloud_init: str | None = None  # /etc/sudoers.d/90-cloud-init-users
        self.sshd_config: str = UBUNTU_SSHD_CONFIG
        self.sshd_config_backup: str | None = None  # /var/cache/vmaccess/backup
        self.cloud_init_sshd_conf: str | None = None  # /etc/ssh/sshd_config.d/50-cloud-init.conf
        self.port22_open: bool = True
        self.sshd_restarts: int = 0
        self.ovf_ssh_public_keys: int = 0  # PublicKey entries in /var/lib/waagent/ovf-env.xml
        self.disks: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, str]] = []
        self.runs: int = 0
        self._next_uid = 1000

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_fleet(cls, d: dict | None) -> LinuxGuest:
        """Build a guest from the fleet's ``guest`` mapping (None -> default guest with azureuser).

        Keys: users {name: {ssh_keys: [...], password?: str, sudo?: bool (default true), uid?: int,
        expiration?: str}}, sshd_config?: str, sshd_config_backup?: str, cloud_init_sshd_conf?: str|None,
        ssh_port_blocked?: bool, ovf_ssh_public_keys?: int, os_name?: str,
        disks?: {name: "clean"|"corrupt"|"repaired"|{state, mountpoint?}} (mountpoint defaults to /datadrive for
        the first disk, None for the others; repair_disk with disk_name "datadrive" then hits a mount point).
        """
        g = cls()
        g._add_system_user('root', 0, '/root')
        for name, uid, home in IMAGE_SYSTEM_USERS:
            g._add_system_user(name, uid, home)
        d = dict(d or {})
        users = d.get('users')
        if users is None:
            users = {'azureuser': {'ssh_keys': [], 'sudo': True}}
        if not isinstance(users, dict):
            raise ValueError('guest.users must be a mapping')
        any_password = False
        cloud_sudo: list[str] = []
        for name, spec in users.items():
            spec = dict(spec or {})
            if not isinstance(name, str) or not name:
                raise ValueError('guest user names must be non-empty strings')
            uid = spec.get('uid')
            if uid is None:
                uid = g._alloc_uid()
            else:
                uid = int(uid)
                g._next_uid = max(g._next_uid, uid + 1)
            user = {
                'uid': uid,
                'home': spec.get('home') or ('/root' if name == 'root' else '/home/' + name),
                'password': None,
                'password_version': 0,
                'authorized_keys': [],
                'expiration': spec.get('expiration'),
                'created_by_vmaccess': False,
            }
            keys = spec.get('ssh_keys') or []
            if isinstance(keys, str):
                keys = [keys]
            for k in keys:
                user['authorized_keys'].extend(str(k).splitlines())
            if spec.get('password') is not None:
                user['password'] = _hash_password(str(spec['password']))
                user['password_version'] = 1
                any_password = True
            g.users[name] = user
            if spec.get('sudo', True):
                cloud_sudo.append(name + ' ALL=(ALL) NOPASSWD:ALL')
        if cloud_sudo:
            g.sudoers_cloud_init = '# Created by cloud-init\n\n' + '\n'.join(cloud_sudo) + '\n'
        if 'sshd_config' in d and d['sshd_config'] is not None:
            g.sshd_config = str(d['sshd_config'])
        if d.get('sshd_config_backup') is not None:
            g.sshd_config_backup = str(d['sshd_config_backup'])
        if 'cloud_init_sshd_conf' in d:
            g.cloud_init_sshd_conf = d['cloud_init_sshd_conf']
        else:
            # [inferred] cloud-init writes this drop-in from the VM's disablePasswordAuthentication.
            g.cloud_init_sshd_conf = 'PasswordAuthentication %s\n' % ('yes' if any_password else 'no')
        g.port22_open = not bool(d.get('ssh_port_blocked', False))
        g.ovf_ssh_public_keys = int(d.get('ovf_ssh_public_keys', 0))
        if d.get('os_name'):
            g.os_name = str(d['os_name'])
        for name, spec in (d.get('disks') or {}).items():
            if isinstance(spec, str):
                spec = {'state': spec}
            spec = dict(spec or {})
            state = spec.get('state', 'clean')
            if state not in _DISK_STATES:
                raise ValueError('disk %s: state must be one of %s' % (name, ', '.join(_DISK_STATES)))
            g.disks[str(name)] = {
                'state': state,
                'mountpoint': spec.get('mountpoint', '/datadrive' if not g.disks else None),
                'last_check': None,
            }
        return g

    def _add_system_user(self, name: str, uid: int, home: str) -> None:
        self.users[name] = {
            'uid': uid,
            'home': home,
            'password': None,
            'password_version': 0,
            'authorized_keys': [],
            'expiration': None,
            'created_by_vmaccess': False,
        }

    def _alloc_uid(self) -> int:
        used = {u['uid'] for u in self.users.values()}
        while self._next_uid in used:
            self._next_uid += 1
        uid = self._next_uid
        self._next_uid += 1
        return uid

    # -- queries --------------------------------------------------------------------------------------

    def password_matches(self, user: str, password: str) -> bool:
        u = self.users.get(user)
        if not u or not u['password']:
            return False
        salt, digest = u['password']
        other = hashlib.sha256((salt + password).encode('utf-8')).hexdigest()
        return hmac.compare_digest(digest, other)

    def sudoers_line(self, user: str) -> str | None:
        """The user's line in /etc/sudoers.d/waagent, or None."""
        return _first_matching_line(self.sudoers_waagent, user)

    def has_sudo(self, user: str) -> bool:
        return bool(
            _first_matching_line(self.sudoers_waagent, user) or _first_matching_line(self.sudoers_cloud_init, user)
        )

    @property
    def challenge_response_no(self) -> bool:
        # Same test as the handler's _backup_and_update_sshd_config(ChallengeResponseAuthentication, "no").
        return _setting_already(self.sshd_config.split('\n'), 'ChallengeResponseAuthentication', 'no')

    @property
    def password_authentication_yes(self) -> bool:
        return _setting_already(self.sshd_config.split('\n'), 'PasswordAuthentication', 'yes')

    def to_json(self) -> dict:
        users = {}
        for name, u in self.users.items():
            users[name] = {
                'uid': u['uid'],
                'home': u['home'],
                'password_set': u['password'] is not None,
                'password_version': u['password_version'],
                'authorized_keys': list(u['authorized_keys']),
                'sudoers': self.sudoers_line(name),
                'sudo': self.has_sudo(name),
                'expiration': u['expiration'],
                'created_by_vmaccess': u['created_by_vmaccess'],
            }
        return {
            'os_name': self.os_name,
            'users': users,
            'sudoers_waagent': self.sudoers_waagent,
            'sudoers_cloud_init': self.sudoers_cloud_init,
            'sshd_config': self.sshd_config,
            'sshd_config_backup': self.sshd_config_backup,
            'cloud_init_sshd_conf': self.cloud_init_sshd_conf,
            'challenge_response_authentication_no': self.challenge_response_no,
            'password_authentication_yes': self.password_authentication_yes,
            'port22_open': self.port22_open,
            'sshd_restarts': self.sshd_restarts,
            'ovf_ssh_public_keys': self.ovf_ssh_public_keys,
            'disks': copy.deepcopy(self.disks),
            'runs': self.runs,
            'events': [dict(e) for e in self.events],
        }

    # -- internals used by the handler ----------------------------------------------------------------

    def _event(self, op: str, message: str) -> None:
        self.events.append({'run': str(self.runs), 'op': op, 'message': message})

    def _restart_sshd(self) -> None:
        self.sshd_restarts += 1
        self._event('sshd', 'service sshd restart')


def _first_matching_line(text: str | None, user: Any) -> str | None:
    if text is None:
        return None
    pattern = f'^{re.escape(str(user))}\\s'
    for line in text.split('\n'):
        if re.match(pattern, line):
            return line
    return None


def _setting_already(config: list[str], name: str, value: str) -> bool:
    # [source] _backup_and_update_sshd_config: line.startswith(name) and value in line.lower()
    return any(line.startswith(name) and value in line.lower() for line in config)


# ---------------------------------------------------------------------------------------------------------
# sshd_config helpers (vmaccess.py)
# ---------------------------------------------------------------------------------------------------------


def _set_sshd_config(config: list[str], name: str, val: str) -> list[str]:
    # [source] replace every line starting with name up to the first "Match" line; if none, insert the
    # setting at the index where the loop stopped (the Match line, or the LAST line when there is none).
    notfound = True
    i = None
    for i in range(0, len(config)):
        if config[i].startswith(name):
            config[i] = f'{name} {val}'
            notfound = False
        elif config[i].startswith('Match'):
            break
    if notfound:
        if i is None:
            i = 0
        config.insert(i, f'{name} {val}')
    return config


def _backup_sshd_config(guest: LinuxGuest) -> None:
    # [source] only if no backup exists yet: the backup keeps the config from before VMAccess first changed it.
    if guest.sshd_config_backup is None:
        guest.sshd_config_backup = guest.sshd_config
        guest._event('sshd', 'Create backup ssh config file ' + SSHD_CONFIG_BACKUP_PATH)


def _backup_and_update_sshd_config(guest: LinuxGuest, attr_name: str, attr_value: str) -> None:
    config = guest.sshd_config.split('\n')
    if _setting_already(config, attr_name, attr_value):
        guest._event('sshd', '%s already set to %s in sshd_config, skip update.' % (attr_name, attr_value))
        return
    guest._event('sshd', 'Setting %s to %s in sshd_config.' % (attr_name, attr_value))
    _backup_sshd_config(guest)
    _set_sshd_config(config, attr_name, attr_value)
    guest.sshd_config = '\n'.join(config)


def _forcibly_reset_chap(guest: LinuxGuest) -> None:
    # [source] every run: force "ChallengeResponseAuthentication no", then restart sshd (unconditionally).
    _backup_and_update_sshd_config(guest, 'ChallengeResponseAuthentication', 'no')
    guest._restart_sshd()


def _is_sshd_config_modified(protected_settings: dict) -> bool:
    # [source] result = reset_ssh or restore_backup_ssh or password; return result is not None
    # Note the `or` chain: it yields the LAST operand when all are falsy, so JSON false for reset_ssh /
    # restore_backup_ssh does NOT count unless a password key is present (any value, even "" or false).
    result = (
        protected_settings.get('reset_ssh')
        or protected_settings.get('restore_backup_ssh')
        or protected_settings.get('password')
    )
    return result is not None


def _allow_password_auth(guest: LinuxGuest) -> None:
    _backup_and_update_sshd_config(guest, 'PasswordAuthentication', 'yes')
    if guest.cloud_init_sshd_conf is not None:
        config = guest.cloud_init_sshd_conf.split('\n')
        _set_sshd_config(config, 'PasswordAuthentication', 'yes')
        guest.cloud_init_sshd_conf = '\n'.join(config)
        guest._event('sshd', 'PasswordAuthentication yes in ' + CLOUD_INIT_SSHD_CONF_PATH)


def _reset_sshd_config(guest: LinuxGuest, restore_backup_ssh: Any) -> None:
    # [source] default resource; with restore_backup_ssh AND an existing backup, the backup instead, which
    # is then deleted. No backup -> silently the distro default (the real handler does not fail).
    source, text = 'resources/default', HANDLER_DEFAULT_SSHD_CONFIG
    if restore_backup_ssh and guest.sshd_config_backup is not None:
        source, text = SSHD_CONFIG_BACKUP_PATH, guest.sshd_config_backup
    guest.sshd_config = text
    guest._event('sshd', 'copy %s -> %s' % (source, SSHD_CONFIG_PATH))
    if source == SSHD_CONFIG_BACKUP_PATH:
        guest.sshd_config_backup = None
        guest._event('sshd', 'sshd_config restored from backup, remove backup file.')
    guest._restart_sshd()


def _open_ssh_port(guest: LinuxGuest) -> None:
    # [source] deletes DROP/REJECT rules for tcp/22 and inserts ACCEPT rules (INPUT dport 22, OUTPUT dport 22).
    guest.port22_open = True
    guest._event('iptables', 'iptables -I INPUT -p tcp -m tcp --dport 22 -j ACCEPT')


# ---------------------------------------------------------------------------------------------------------
# Accounts (distroutils.GenericDistro.create_account / delete_account, vmaccess sudoers helpers)
# ---------------------------------------------------------------------------------------------------------


def _get_other_sudoers(guest: LinuxGuest, user_name: Any) -> list[str] | None:
    if guest.sudoers_waagent is None:
        return None
    pattern = f'^{user_name}\\s'  # [source] not escaped
    return [x for x in guest.sudoers_waagent.split('\n') if re.match(pattern, x) is None]


def _save_other_sudoers(guest: LinuxGuest, sudoers: list[str] | None) -> None:
    # [source] APPENDS the other users' lines (append_file_contents), even when create/delete did not rewrite
    # the file, which duplicates them; reproduced as is.
    if sudoers is None:
        return
    guest.sudoers_waagent = (guest.sudoers_waagent or '') + '\n'.join(sudoers)


def _create_account(
    guest: LinuxGuest, user: Any, password: str | None, expiration: Any, enable_passwordless_access: Any
) -> str | None:
    if not isinstance(user, str):
        # [inferred] pwd.getpwnam() raises TypeError for a non-string name; wording simplified.
        raise TypeError('getpwnam(): argument must be str, not %s' % type(user).__name__)
    entry = guest.users.get(user)
    if entry is not None and entry['uid'] < UID_MIN:
        guest._event('account', 'CreateAccount: ' + user + ' is a system user. Will not set password.')
        return 'Failed to set password for system user: ' + user + ' (0x06).'
    if entry is None:
        command = 'useradd -m ' + user
        exp = None
        if expiration is not None:
            exp = expiration.split('.')[0]  # [source]; a non-string expiration raises AttributeError here
            command += ' -e ' + exp
        # [inferred] useradd refuses names outside shadow-utils' default pattern and dates it cannot parse.
        if not _USERADD_NAME_RE.match(user) or len(user) > 32 or (exp is not None and not _EXPIRATION_RE.match(exp)):
            guest._event('account', 'Failed to create user account: ' + user)
            return 'Failed to create user account: ' + user + ' (0x07).'
        guest.users[user] = {
            'uid': guest._alloc_uid(),
            'home': '/home/' + user,
            'password': None,
            'password_version': 0,
            'authorized_keys': [],
            'expiration': exp,
            'created_by_vmaccess': True,
        }
        guest._event('account', command)
    else:
        guest._event('account', 'CreateAccount: ' + user + ' already exists. Will update password.')
    if password is not None:
        u = guest.users[user]
        u['password'] = _hash_password(password)
        u['password_version'] += 1
        guest._event('account', 'usermod -p <hash> ' + user)
    # [source] password None -> NOPASSWD line. [inferred] enable_passwordless_access (1.5.19+; the
    # distroutils change is not in the stored source) also selects NOPASSWD, tested for truthiness.
    if password is None or enable_passwordless_access:
        guest.sudoers_waagent = user + ' ALL = (ALL) NOPASSWD: ALL\n'
    else:
        guest.sudoers_waagent = user + ' ALL = (ALL) ALL\n'
    guest._event('account', 'wrote ' + WAAGENT_SUDOERS_PATH + ' for ' + user)
    return None


def _delete_account(guest: LinuxGuest, user: Any) -> None:
    if not isinstance(user, str):
        raise TypeError('getpwnam(): argument must be str, not %s' % type(user).__name__)  # [inferred] wording
    entry = guest.users.get(user)
    if entry is None:
        guest._event('account', 'DeleteAccount: ' + user + ' not found.')
        return
    if entry['uid'] < UID_MIN:
        guest._event('account', 'DeleteAccount: ' + user + ' is a system user. Will not delete account.')
        return
    del guest.users[user]
    guest._event('account', 'userdel -f -r ' + user)
    guest.sudoers_waagent = None  # [source] os.remove("/etc/sudoers.d/waagent")


def _remove_user_account(guest: LinuxGuest, user_name: Any) -> tuple[int | None, str]:
    try:
        sudoers = _get_other_sudoers(guest, user_name)
        _delete_account(guest, user_name)
        _save_other_sudoers(guest, sudoers)
    except Exception as e:  # noqa: BLE001 - mirrors the handler
        guest._event('Enable', MSG_REMOVE_USER_EVENT)
        return SYSTEM_ERROR, f'Failed to remove user {e}'
    guest._event('Enable', 'Successfully removed user')
    return None, f'Successfully removed user {user_name}'


# ---------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------


def _ssh_string(data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + data


def _ssh2_to_openssh(text: str) -> str:
    """ssh-keygen -i -f (RFC 4716 -> OpenSSH). Raises ValueError where ssh-keygen would exit non-zero."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if not lines or lines[0] != BEGIN_SSH2_TAG or END_SSH2_TAG not in lines:
        raise ValueError('not an RFC 4716 key')
    body_lines = lines[1 : lines.index(END_SSH2_TAG)]
    body = []
    continuing = False
    for ln in body_lines:
        if continuing or (':' in ln and not body):
            continuing = ln.endswith('\\')
            continue
        body.append(ln)
    try:
        blob = base64.b64decode(''.join(body), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError('bad base64') from e
    if len(blob) < 4:
        raise ValueError('short blob')
    (n,) = struct.unpack('>I', blob[:4])
    key_type = blob[4 : 4 + n]
    if n == 0 or len(key_type) != n or not re.match(rb'^[a-z0-9@.+-]+$', key_type):
        raise ValueError('bad key type')
    return '%s %s\n' % (key_type.decode('ascii'), base64.b64encode(blob).decode('ascii'))


def _cert_to_openssh(cert_txt: str) -> str:
    """_save_cert_str_as_file + openssl x509 -pubkey + ssh-keygen -i -m PKCS8.

    [inferred] openssl succeeds when the text between the certificate tags (the handler adds the tags when
    they are missing) is base64 of a DER SEQUENCE; anything else (an ecdsa-sha2-* or sk-* OpenSSH line, a
    private key, junk) makes openssl exit non-zero. The converted key is a synthetic ssh-rsa key derived
    from the certificate bytes.
    """
    body = cert_txt
    start = body.find(BEGIN_CERTIFICATE_TAG)
    if start >= 0:
        body = body[start + len(BEGIN_CERTIFICATE_TAG) :]
    end = body.find(END_CERTIFICATE_TAG)
    if end >= 0:
        body = body[:end]
    body = ''.join(body.strip().split())
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError('openssl x509 failed') from e
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError('openssl x509 failed')
    modulus = b'\x00' + b''.join(hashlib.sha512(der + bytes([i])).digest() for i in range(4))
    blob = _ssh_string(b'ssh-rsa') + _ssh_string(b'\x01\x00\x01') + _ssh_string(modulus)
    return 'ssh-rsa ' + base64.b64encode(blob).decode('ascii') + '\n'


def _key_kind(line: str) -> str:
    return line.strip().split(' ', 1)[0] if line.strip() else 'empty'


def _set_user_account_pub_key(guest: LinuxGuest, protect_settings: dict | None) -> tuple[int, Any] | None:
    # [source] user name must be provided to set a key or password
    if not protect_settings or 'username' not in protect_settings:
        return None

    user_name = protect_settings['username']
    user_pass = protect_settings.get('password')
    cert_txt = protect_settings.get('ssh_key')
    expiration = protect_settings.get('expiration')
    remove_prior_keys = protect_settings.get('remove_prior_keys')
    enable_passwordless_access = protect_settings.get('enable_passwordless_access', False)

    if not user_pass and not cert_txt and not guest.ovf_ssh_public_keys:
        return USER_PASSWORD_ERROR, MSG_NO_PASSWORD_OR_KEY

    if user_pass is not None and len(user_pass) == 0:
        user_pass = None
        guest._event('account', 'empty passwords are not allowed, ignoring password reset')

    sudoers = _get_other_sudoers(guest, user_name)
    error_string = _create_account(guest, user_name, user_pass, expiration, enable_passwordless_access)
    _save_other_sudoers(guest, sudoers)

    if error_string is not None:
        guest._event('Enable', '(02101)' + MSG_CREATE_ACCOUNT_FAILED)
        return SYSTEM_ERROR, MSG_CREATE_ACCOUNT_FAILED + ' with ' + error_string
    guest._event('account', 'Succeeded in creating the account or setting the password.')

    if user_pass is not None:
        guest._event('scenario', 'create-user-with-password')
        _allow_password_auth(guest)

    if cert_txt:
        if cert_txt.strip().startswith(BEGIN_SSH2_TAG):
            try:
                cert_txt = _ssh2_to_openssh(cert_txt.strip())
            except ValueError:
                # [source] raised outside the try below: no (02100) event, straight to enable()'s except
                raise Exception(MSG_SSH2_CONVERT_FAILED)  # noqa: B904
            guest._event('key', 'Succeeded in converting SSH2 key to OpenSSH key.')

        no_convert = cert_txt.strip().lower().startswith('ssh-rsa') or cert_txt.strip().lower().startswith(
            'ssh-ed25519'
        )
        user = guest.users[user_name]
        pub_path = '/home/' + user_name + '/.ssh/authorized_keys'
        try:
            if no_convert:
                final_cert_txt = cert_txt if cert_txt.endswith('\n') else cert_txt + '\n'
                new_lines = final_cert_txt.split('\n')[:-1]
                if remove_prior_keys == True:  # noqa: E712 - [source] compared == True: "true" does nothing
                    user['authorized_keys'] = new_lines
                    guest._event('key', 'Removed prior ssh keys and added new key for user %s' % user_name)
                else:
                    user['authorized_keys'].extend(new_lines)
                    guest._event('key', 'appended %s key to %s' % (_key_kind(cert_txt), pub_path))
                guest._event('scenario', 'create-user')
            else:
                try:
                    converted = _cert_to_openssh(cert_txt)
                except ValueError:
                    raise Exception(MSG_PUBKEY_FAILED)  # noqa: B904
                # [source] ssh_deploy_public_key writes ssh-keygen's output OVER authorized_keys
                # (set_file_contents), whatever remove_prior_keys says.
                user['authorized_keys'] = converted.split('\n')[:-1]
                guest._event('key', 'replaced %s with the key of a certificate' % pub_path)
                guest._event('scenario', 'create-user')
        except Exception as e:  # noqa: BLE001 - mirrors the handler
            guest._event('Enable', MSG_RESET_KEY_EVENT)
            return SYSTEM_ERROR, e
    return None


# ---------------------------------------------------------------------------------------------------------
# Disks
# ---------------------------------------------------------------------------------------------------------


def _check_and_repair_disk(guest: LinuxGuest, public_settings: dict | None) -> Any:
    if not public_settings:
        return None
    check_disk = public_settings.get('check_disk')
    repair_disk = public_settings.get('repair_disk')
    disk_name = public_settings.get('disk_name')

    if check_disk and repair_disk:
        guest._event('error', MSG_CHECK_AND_REPAIR_LOG)
        return CHECK_REPAIR_DISK_ERROR

    if check_disk:
        guest._event('scenario', 'check_disk')
        # fsck -As -y over every fstab file system. [inferred] exit code > 0 iff a disk is corrupt; the
        # simulation does not repair on check (mounted file systems), it records the finding.
        bad = False
        for disk in guest.disks.values():
            disk['last_check'] = 'errors' if disk['state'] == 'corrupt' else 'clean'
            bad = bad or disk['state'] == 'corrupt'
        if bad:
            guest._event('disk', 'Failed to run disk check with error: Disk check was not successful')
            return CHECK_DISK_ERROR
        guest._event('disk', 'Successfully checked disk')
        return None

    if repair_disk:
        guest._event('scenario', 'repair_disk')
        try:
            # [source] umount -f '/' + disk_name; a missing disk_name raises TypeError here.
            target = '/' + disk_name
            mounted = any(d.get('mountpoint') == target for d in guest.disks.values())
            cmd_result = 0 if mounted else 32  # [inferred] umount succeeds only on a mount point
            if cmd_result != 0:
                guest._event('disk', 'Failed to unmount disk: %s' % disk_name)
                # fsck -AR -y repairs every non-root fstab file system, whatever disk_name says.
                retcode = 0
                for disk in guest.disks.values():
                    if disk['state'] == 'corrupt':
                        disk['state'] = 'repaired'
                        retcode = 1  # [inferred] fsck exit 1: errors corrected
                    disk['last_check'] = 'repaired' if disk['state'] == 'repaired' else 'clean'
                guest._event('disk', 'Ran fsck with return code: %d' % retcode)
                if retcode == 0:
                    guest._event('disk', 'Repaired and remounted disk')
                    return 'mount output'
                # [source] a non-zero fsck falls through: returns None, reported as success.
                return None
            raise Exception('Failed to mount disks')
        except Exception as e:  # noqa: BLE001 - mirrors the handler
            guest._event('disk', str(e))
            return REPAIR_DISK_ERROR
    return None


# ---------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------


def run_vmaccess(guest: LinuxGuest, settings: dict | None, protected_settings: dict | None) -> HandlerResult:
    """One ``enable`` of VMAccessForLinux on ``guest`` (mutated in place).

    ``settings`` is the public settings object, ``protected_settings`` the decrypted protected settings;
    pass None (not {}) when the extension has none: the real handler then gets None from
    get_protected_settings() and fails on it (see below).
    """
    guest.runs += 1
    guest._event('handler', 'VMAccess enable')
    errorstatus: int | None = SYSTEM_ERROR
    # [source] get_protected_settings() returns None unless the decrypted value is a dict.
    protect_settings = protected_settings if isinstance(protected_settings, dict) else None
    public_settings = settings if isinstance(settings, dict) else None
    try:
        reset_ssh = None
        remove_user = None
        restore_backup_ssh = None
        if protect_settings:
            reset_ssh = protect_settings.get('reset_ssh', False)
            remove_user = protect_settings.get('remove_user')
            restore_backup_ssh = protect_settings.get('restore_backup_ssh', False)

        if remove_user and _is_sshd_config_modified(protect_settings):
            guest._event('Enable', MSG_CONFLICT_EVENT)
            raise Exception(MSG_CONFLICT)

        _forcibly_reset_chap(guest)

        if reset_ssh or restore_backup_ssh:
            _open_ssh_port(guest)
            guest._event('scenario', 'reset-ssh')
            _reset_sshd_config(guest, restore_backup_ssh)

        if remove_user:
            guest._event('scenario', 'remove-user')
            errorstatus, errormsg = _remove_user_account(guest, remove_user)
            if errorstatus is not None:
                raise Exception(errormsg)

        output = _set_user_account_pub_key(guest, protect_settings)
        if output is not None:
            errorstatus, errormsg = output[0], output[1]
            raise Exception(errormsg)

        # [source] with no protected settings this is None.get(...) -> AttributeError -> "Enable failed: ..."
        if _is_sshd_config_modified(protect_settings):  # type: ignore[arg-type]
            guest._restart_sshd()

        errorstatus = _check_and_repair_disk(guest, public_settings)
        if errorstatus is not None:
            if errorstatus == CHECK_REPAIR_DISK_ERROR:
                raise _Fail(MSG_CHECK_AND_REPAIR_STATUS, CHECK_REPAIR_DISK_ERROR)
            if errorstatus == CHECK_DISK_ERROR:
                raise _Fail(MSG_CHECK_DISK_FAILED, CHECK_DISK_ERROR)
            if errorstatus == REPAIR_DISK_ERROR:
                raise _Fail(MSG_REPAIR_DISK_FAILED, REPAIR_DISK_ERROR)
        guest._event('status', MSG_ENABLE_SUCCEEDED)
        return HandlerResult(True, MSG_ENABLE_SUCCEEDED)
    except _Fail as f:
        guest._event('status', f.message)
        return HandlerResult(False, f.message, f.code)
    except Exception as e:  # noqa: BLE001 - mirrors the handler
        message = MSG_ENABLE_FAILED_PREFIX + str(e)
        guest._event('status', message)
        if errorstatus is None:
            # [source] do_exit(..., errorstatus.value) on None raises inside the except: no status is written.
            return HandlerResult(False, message, None, status_written=False)
        return HandlerResult(False, message, errorstatus)
