# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VMAccessAgent (Windows) profile: options, validation and payload (private).

The engine (fingerprint in forceUpdateTag, scrubbing, find-or-reuse, write + read-back confirmation, batch state)
is ``engine.py``. Facts (azure-cli vm/custom.py ``_reset_windows_admin``, the VMAccess for Windows docs):

* publisher ``Microsoft.Compute``, type ``VMAccessAgent``, typeHandlerVersion ``2.4``, name ``enablevmaccess``
  (an existing VMAccessAgent extension is updated under its own name: one per handler type);
* ``settings {"UserName": ...}``, ``protectedSettings {"Password": ...}``; the handler resets that local
  administrator's password, or adds a local administrator with that name when it differs from the current one;
* with neither user name nor password it resets the Remote Desktop configuration (service, firewall rule for 3389);
* it does not support domain controllers; it runs only on Windows.

Public names: ``WINDOWS`` (the ``WindowsHandler``), ``ARGUMENT_SPEC``, ``validate(params)``,
``build_settings(params)``, ``task_spec()``; Azure's rules ``USERNAME_MAX``, ``PASSWORD_MIN``, ``PASSWORD_MAX``,
``RESERVED_USERNAMES``, ``DISALLOWED_PASSWORDS``.
"""

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.engine import (
    EXTENSION_WAIT_SECONDS,
    task_spec as engine_task_spec,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.profile import ExtensionPlan, Handler

PUBLISHER = 'Microsoft.Compute'
EXTENSION_TYPE = 'VMAccessAgent'
DEFAULT_TYPE_HANDLER_VERSION = '2.4'
DEFAULT_EXTENSION_NAME = 'enablevmaccess'

ARGUMENT_SPEC = dict(
    state=dict(type='str', default='present', choices=['present', 'absent']),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    reset_rdp=dict(type='bool', default=False),
    extension_name=dict(type='str'),
    type_handler_version=dict(type='str', default=DEFAULT_TYPE_HANDLER_VERSION),
    auto_upgrade_minor_version=dict(type='bool', default=True),
    force=dict(type='bool', default=False),
    wait_timeout=dict(type='int', default=EXTENSION_WAIT_SECONDS),
)

# Azure's rules for a Windows administrator (Microsoft.Compute OSProfile adminUsername / adminPassword).
USERNAME_MAX = 20
PASSWORD_MIN, PASSWORD_MAX = 8, 123
RESERVED_USERNAMES = frozenset(
    'administrator admin user user1 test user2 test1 user3 admin1 1 123 a actuser adm admin2 aspnet backup console '
    'david guest john owner root server sql support support_388945a0 sys test2 test3 user4 user5'.split()
)
DISALLOWED_PASSWORDS = frozenset(
    [
        'abc@123',
        'P@$$w0rd',
        'P@ssw0rd',
        'P@ssword123',
        'Pa$$word',
        'pass@word1',
        'Password!',
        'Password1',
        'Password22',
        'iloveyou!',
    ]
)
_BAD_USERNAME_CHARS = re.compile(r'[\\/"\[\]:|<>+=;,?*@%\x00-\x1f\x7f]')  # and control characters


def validate(params):
    """Every rule that can be checked on the controller; raises ExtensionError naming the options."""
    state = params.get('state') or 'present'
    username, password, reset_rdp = params.get('username'), params.get('password'), params.get('reset_rdp') is True
    if state == 'absent':
        given = [o for o in ('username', 'password') if params.get(o) is not None] + (
            ['reset_rdp'] if reset_rdp else []
        )
        if given:
            raise ExtensionError(
                'state=absent removes the VMAccessAgent extension and cannot be combined with %s' % ', '.join(given)
            )
        return []
    if reset_rdp and (username is not None or password is not None):
        raise ExtensionError(
            'reset_rdp cannot be combined with username or password: the VMAccessAgent handler resets the Remote '
            'Desktop configuration only when it gets neither; use two tasks'
        )
    if not reset_rdp and username is None and password is None:
        raise ExtensionError(
            "nothing to do: give username and password (reset that local administrator's password, or add one), "
            'reset_rdp=true (reset the Remote Desktop configuration), or state=absent (remove the extension)'
        )
    if reset_rdp:
        return []
    if username is None:
        raise ExtensionError('password needs username (the local administrator to set it for)')
    if password is None:
        raise ExtensionError('username needs password: the VMAccessAgent handler sets a password for that account')
    _check_username(username)
    _check_password(password, username)
    return []


def _check_username(username):
    """Azure's rules for a Windows administrator name (adminUsername)."""
    name = username.strip()
    if not name or name != username:
        raise ExtensionError('username must not be empty or start or end with spaces')
    if len(name) > USERNAME_MAX:
        raise ExtensionError(
            'username: a Windows local account name has at most %d characters (got %d)' % (USERNAME_MAX, len(name))
        )
    if name.endswith('.'):
        raise ExtensionError("username: a Windows administrator name cannot end in '.'")
    if _BAD_USERNAME_CHARS.search(name):
        raise ExtensionError(
            "username: '%s' contains a character Windows does not allow in a user name "
            '(\\ / " [ ] : | < > + = ; , ? * @ %%, control characters)' % name.encode('unicode_escape').decode('ascii')
        )
    if name.lower() in RESERVED_USERNAMES:
        raise ExtensionError(
            "username: '%s' is a name Azure does not allow for a Windows administrator; choose another name" % name
        )


def _check_password(password, name):
    """Azure's and Windows' rules for an administrator password (adminPassword); ``name`` is the checked user name."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ExtensionError(
            'password: Azure requires %d to %d characters for a Windows password (got %d)'
            % (PASSWORD_MIN, PASSWORD_MAX, len(password))
        )
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            bool(re.search(r'[\W_]', password)),
        )
    )
    if classes < 3:
        raise ExtensionError(
            'password: Azure and Windows require 3 of: a lower-case letter, an upper-case letter, a '
            'digit, a special character'
        )
    if password in DISALLOWED_PASSWORDS:
        raise ExtensionError('password: this is one of the passwords Azure refuses as too common; choose another')
    if len(name) >= 3 and name.lower() in password.lower():
        raise ExtensionError('password: Windows complexity rules refuse a password that contains the user name')


def build_settings(params):
    """(settings, protectedSettings) as the CLI sends them; both empty for a Remote Desktop reset."""
    if params.get('reset_rdp') is True:
        return {}, {}
    return {'UserName': params['username']}, {'Password': params['password']}


class WindowsHandler(Handler):
    publisher = PUBLISHER
    type = EXTENSION_TYPE
    default_type_handler_version = DEFAULT_TYPE_HANDLER_VERSION
    default_extension_name = DEFAULT_EXTENSION_NAME
    module = 'vmaccess_windows'
    os = 'windows'
    secret_params = ('password',)
    secret_keys = ('Password',)

    def validate(self, params):
        return validate(params)

    def plan(self, params, base_dir=None):
        settings, protected = build_settings(params)
        return ExtensionPlan(self, params, settings, protected)

    def wrong_os_message(self, display):
        return (
            '%s runs Linux: the VMAccessAgent extension works on Windows only. On Linux use the '
            'vmrescue.azure.vmaccess_linux module (VMAccessForLinux). Nothing was changed.' % display
        )


WINDOWS = WindowsHandler()


def task_spec():
    """The module's TaskSpec."""
    return engine_task_spec(WINDOWS, ARGUMENT_SPEC, name='vmrescue.azure.vmaccess_windows')
