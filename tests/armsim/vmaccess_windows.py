"""Simulated VMAccessAgent 2.4 handler (Microsoft.Compute.VMAccessAgent) and the Windows guest state it acts on.

The compute layer calls :func:`run_vmaccess_agent` each time a VMAccessAgent extension handler (re)runs on a
Windows VM (new sequence number). The handler's source is not public, so this follows what is documented:

* [source: azure-cli vm/custom.py ``_reset_windows_admin``] the request is publisher ``Microsoft.Compute``, type
  ``VMAccessAgent``, typeHandlerVersion ``2.4``, extension name ``enablevmaccess`` (or the name of the existing
  VMAccessAgent extension), ``settings {"UserName": ...}``, ``protectedSettings {"Password": ...}``;
* [source: learn.microsoft.com "Reset Remote Desktop Services or its administrator password in a Windows VM"]
  with neither user name nor password the handler resets the Remote Desktop configuration: it enables the Remote
  Desktop service and creates (enables) the firewall rule for the default RDP port 3389; with a user name and a
  password it resets the password of that local administrator or, when the name differs from the current local
  administrator, adds a local administrator account with that name and password; it cannot be used on a domain
  controller;
* [source: Windows error NERR_PasswordTooShort (2245)] a password the local policy refuses fails with
  "The password does not meet the password policy requirements. Check the minimum password length, password
  complexity and password history requirements."

Comments tagged ``[inferred]`` mark what no source settles (exact status texts, a user name without a password).
No secret is stored or logged: passwords are kept as a salted SHA-256 digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re

# [inferred] the status texts the handler writes; the Windows handler's own strings are not published.
MSG_ENABLE_SUCCEEDED = 'Enable succeeded.'
MSG_DOMAIN_CONTROLLER = 'VMAccess is not supported on a domain controller.'
MSG_PASSWORD_POLICY = (
    'The password does not meet the password policy requirements. Check the minimum password '
    'length, password complexity and password history requirements.'
)
MSG_NO_PASSWORD = 'A password is required to reset or add the local administrator account.'
MSG_INVALID_USERNAME = 'The user name is not valid for a local account.'

RDP_PORT = 3389
BUILTIN_ADMIN_RID = 500
ADMINISTRATORS = 'Administrators'
# [source: Windows local account rules] characters a local user name cannot contain; at most 20 characters.
_BAD_NAME_RE = re.compile(r'["/\\\[\]:;|=,+*?<>@]')


@dataclasses.dataclass
class HandlerResult:
    ok: bool
    message: str


def _hash_password(password: str) -> tuple[str, str]:
    salt = os.urandom(16).hex()
    return salt, hashlib.sha256((salt + password).encode('utf-8')).hexdigest()


def password_policy_ok(password: str, user: str) -> bool:
    """Windows complexity (3 of 4 classes, no user name in it) and Azure's length (8-123) [source: Azure
    adminPassword rules, Windows 'Password must meet complexity requirements']."""
    if not 8 <= len(password) <= 123:
        return False
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        return False
    return not (len(user) >= 3 and user.lower() in password.lower())


class WindowsGuest:
    """Local users, the Administrators group, the built-in administrator, Remote Desktop service and firewall."""

    def __init__(self):
        self.users: dict[str, dict] = {}  # keyed by lower-case name (Windows names are case-insensitive)
        self.administrators: set[str] = set()
        self.domain_controller = False
        self.rdp_enabled = True  # fDenyTSConnections = 0
        self.rdp_service = 'running'  # TermService
        self.rdp_port = RDP_PORT
        self.firewall_rdp_enabled = True
        self.runs = 0
        self.events: list[dict[str, str]] = []

    @classmethod
    def from_fleet(cls, d: dict | None, admin_username: str = 'azureuser') -> WindowsGuest:
        """``guest`` mapping: users {name: {password?, admin? (default true), disabled?}}, domain_controller?,
        rdp_enabled?, rdp_service?, rdp_port?, firewall_rdp_enabled?. The first user (or ``admin_username``) is
        the built-in administrator (RID 500), as Azure provisions it from osProfile.adminUsername."""
        g = cls()
        d = dict(d or {})
        users = d.get('users') or {admin_username: {'admin': True}}
        for i, (name, spec) in enumerate(users.items()):
            spec = dict(spec or {})
            g._add_user(name, rid=BUILTIN_ADMIN_RID if i == 0 else 1000 + i, disabled=bool(spec.get('disabled')))
            if spec.get('password'):
                g.users[name.lower()]['password'] = _hash_password(str(spec['password']))
            if spec.get('admin', True):
                g.administrators.add(name.lower())
        g.domain_controller = bool(d.get('domain_controller', False))
        g.rdp_enabled = bool(d.get('rdp_enabled', True))
        g.rdp_service = str(d.get('rdp_service', 'running'))
        g.rdp_port = int(d.get('rdp_port', RDP_PORT))
        g.firewall_rdp_enabled = bool(d.get('firewall_rdp_enabled', True))
        return g

    def _add_user(self, name, rid, disabled=False, created=False):
        self.users[name.lower()] = {
            'name': name,
            'rid': rid,
            'disabled': disabled,
            'password': None,
            'password_version': 0,
            'created_by_vmaccess': created,
        }

    def add_local_user(self, name):
        """A new local user ``name`` (enabled, no password, in no group), as New-LocalUser makes it; its entry."""
        self._add_user(name, rid=1000 + len(self.users) + 1)
        return self.users[name.lower()]

    def set_password(self, user: str, password: str) -> None:
        """The password of the local user ``user`` (kept as a salted digest; ``password_version`` counts the sets)."""
        u = self.users[user.lower()]
        u['password'] = _hash_password(str(password))
        u['password_version'] += 1

    def builtin_admin(self):
        return next((u for u in self.users.values() if u['rid'] == BUILTIN_ADMIN_RID), None)

    def password_matches(self, user: str, password: str) -> bool:
        u = self.users.get(user.lower())
        if not u or not u['password']:
            return False
        salt, digest = u['password']
        return hmac.compare_digest(digest, hashlib.sha256((salt + password).encode('utf-8')).hexdigest())

    def to_json(self) -> dict:
        return {
            'os': 'windows',
            'users': {
                u['name']: {
                    'rid': u['rid'],
                    'disabled': u['disabled'],
                    'password_set': u['password'] is not None,
                    'password_version': u['password_version'],
                    'admin': k in self.administrators,
                    'created_by_vmaccess': u['created_by_vmaccess'],
                }
                for k, u in self.users.items()
            },
            'administrators': sorted(self.users[k]['name'] for k in self.administrators if k in self.users),
            'domain_controller': self.domain_controller,
            'rdp_enabled': self.rdp_enabled,
            'rdp_service': self.rdp_service,
            'rdp_port': self.rdp_port,
            'firewall_rdp_enabled': self.firewall_rdp_enabled,
            'runs': self.runs,
            'events': [dict(e) for e in self.events],
        }

    def _event(self, op: str, message: str) -> None:
        self.events.append({'run': str(self.runs), 'op': op, 'message': message})


def _reset_rdp(guest: WindowsGuest) -> None:
    # [source: reset-rdp doc] enables the Remote Desktop service and the firewall rule for the default port 3389.
    guest.rdp_enabled = True
    guest.rdp_service = 'running'
    guest.rdp_port = RDP_PORT  # [inferred] the configuration is reset to the default port
    guest.firewall_rdp_enabled = True
    guest._event('ResetRDP', 'Remote Desktop enabled, firewall rule for TCP 3389 enabled')


def valid_local_name(user: str) -> bool:
    """Windows' rules for a local user name: at most 20 characters, none of ``_BAD_NAME_RE``, no final dot."""
    return bool(user.strip()) and len(user) <= 20 and not _BAD_NAME_RE.search(user) and not user.endswith('.')


def run_vmaccess_agent(guest: WindowsGuest, settings: dict | None, protected: dict | None) -> HandlerResult:
    """One run of the handler over ``guest``: returns the status it writes."""
    guest.runs += 1
    settings = settings or {}
    protected = protected or {}
    user = settings.get('UserName')
    password = protected.get('Password')
    if guest.domain_controller:  # [source: reset-rdp doc] not supported on a domain controller
        guest._event('Enable', 'refused: domain controller')
        return HandlerResult(False, MSG_DOMAIN_CONTROLLER)
    if not user and not password:
        _reset_rdp(guest)
        return HandlerResult(True, MSG_ENABLE_SUCCEEDED)
    if not user:  # [inferred] a password alone applies to the built-in administrator
        admin = guest.builtin_admin()
        user = admin['name'] if admin else None
        if user is None:
            return HandlerResult(False, MSG_INVALID_USERNAME)
    if not password:  # [inferred]
        guest._event('Enable', 'refused: no password')
        return HandlerResult(False, MSG_NO_PASSWORD)
    user = str(user)
    if not valid_local_name(user):
        return HandlerResult(False, MSG_INVALID_USERNAME)
    if not password_policy_ok(str(password), user):
        guest._event('Enable', 'password refused by policy for %s' % user)
        return HandlerResult(False, MSG_PASSWORD_POLICY)
    key = user.lower()
    if key not in guest.users:
        # [source: reset-rdp doc] a name other than the current local administrator adds a local administrator
        guest._add_user(user, rid=1000 + len(guest.users) + 1, created=True)
        guest._event('Enable', 'created local administrator %s' % user)
    guest.set_password(key, str(password))
    u = guest.users[key]
    u['disabled'] = False  # [inferred] the account is enabled so the new password can be used
    guest.administrators.add(key)
    guest._event('Enable', 'password reset for %s' % u['name'])
    # [inferred] the handler also makes sure Remote Desktop is reachable when it resets the administrator
    return HandlerResult(True, MSG_ENABLE_SUCCEEDED)


__all__ = ['HandlerResult', 'WindowsGuest', 'run_vmaccess_agent', 'password_policy_ok', 'valid_local_name']
