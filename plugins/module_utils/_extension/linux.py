# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VMAccessForLinux profile: its options, their validation and the payload it sends.

This is a private module_utils file of vmrescue.azure (the package's leading underscore says so): its interface may
change at any time and it is not meant to be used from outside this collection.

Everything that does not depend on the handler (the fingerprint in ``forceUpdateTag``, scrubbing of secrets,
find-or-reuse of the extension, the write and the read-back confirmation, batch state, diff) is in ``engine.py``
and the files it uses; the ``ssh_key`` option (controller file or key text, the formats the handler accepts) is in
``linux_key.py``.

Facts this module relies on (see docs/azure-facts.md, section 2, read from the VMAccess 1.5 handler source):

* public ``settings`` carry only ``check_disk``, ``repair_disk``, ``disk_name``; everything else is protected;
* booleans are tested for truthiness and some keys with ``is not None``, so the string ``"false"`` means true and
  a key sent as ``false`` still counts in the conflict checks: booleans are sent as JSON ``true`` and only when
  they are true; unset keys are omitted;
* ARM never returns ``protectedSettings``, and the handler reruns only when the sequence number changes, which a
  new ``forceUpdateTag`` does: the module records a salted scrypt fingerprint of the whole requested configuration
  in ``forceUpdateTag`` so it can tell, without reading any secret back, whether the request differs from the last
  successful one.

Public names: ``LINUX`` (the ``LinuxHandler``), ``ARGUMENT_SPEC``, ``validate(params, today=None)``,
``build_settings(params, ssh_key_text=None)``, ``Plan``, ``VMAccessRunner``, ``is_vmaccess_linux``,
``is_aad_login``, ``run``, ``task_spec``; the option tables (``PUBLIC_KEYS``, ``PROTECTED_KEYS``, ``BOOLEAN_KEYS``,
``ACTION_OPTIONS``, ``SETTING_OPTIONS``, ``SYSTEM_USERS``).
"""

import datetime
import re
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.engine import (
    EXTENSION_WAIT_SECONDS,
    ExtensionRunner,
    run_task,
    task_spec as engine_task_spec,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError, ExtensionFailure
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux_key import (
    classify_ssh_key,
    resolve_ssh_key,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.profile import ExtensionPlan, Handler
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.status import extension_name, is_extension

# Aliases kept for older callers: the names this profile had before the engine was shared. The tests use them as
# attributes of this module (``linux.VMAccessError``); new code imports ExtensionError / ExtensionFailure from
# errors.py.
VMAccessError = ExtensionError
VMAccessFailure = ExtensionFailure


PUBLISHER = 'Microsoft.OSTCExtensions'
EXTENSION_TYPE = 'VMAccessForLinux'
# The name the Azure CLI and the portal use (azure-cli vm/custom.py: _ACCESS_EXT_HANDLER_NAME = 'enablevmaccess').
DEFAULT_EXTENSION_NAME = 'enablevmaccess'
DEFAULT_TYPE_HANDLER_VERSION = '1.5'

WINDOWS_PUBLISHER = 'Microsoft.Compute'
WINDOWS_EXTENSION_TYPE = 'VMAccessAgent'
WINDOWS_TYPE_HANDLER_VERSION = '2.4'

AAD_PUBLISHER = 'Microsoft.Azure.ActiveDirectory'
AAD_EXTENSION_TYPE = 'AADSSHLoginForLinux'

PUBLIC_KEYS = ('check_disk', 'repair_disk', 'disk_name')
PROTECTED_KEYS = (
    'username',
    'password',
    'ssh_key',
    'reset_ssh',
    'remove_user',
    'expiration',
    'remove_prior_keys',
    'restore_backup_ssh',
    'enable_passwordless_access',
)
BOOLEAN_KEYS = (
    'check_disk',
    'repair_disk',
    'reset_ssh',
    'remove_prior_keys',
    'restore_backup_ssh',
    'enable_passwordless_access',
)
SECRET_KEYS = ('password',)

# The options this module adds to the shared auth + target argspec (_task.TaskSpec merges them).
ARGUMENT_SPEC = dict(
    state=dict(type='str', default='present', choices=['present', 'absent']),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    ssh_key=dict(type='str', no_log=False),
    remove_prior_keys=dict(type='bool', no_log=False),
    expiration=dict(type='str'),
    reset_ssh=dict(type='bool'),
    restore_backup_ssh=dict(type='bool'),
    remove_user=dict(type='str'),
    check_disk=dict(type='bool'),
    repair_disk=dict(type='bool'),
    disk_name=dict(type='str'),
    enable_passwordless_access=dict(type='bool', no_log=False),
    extension_name=dict(type='str'),
    type_handler_version=dict(type='str', default=DEFAULT_TYPE_HANDLER_VERSION),
    auto_upgrade_minor_version=dict(type='bool', default=True),
    force=dict(type='bool', default=False),
    fingerprint_password=dict(type='bool', default=True, no_log=False),
    wait_timeout=dict(type='int', default=EXTENSION_WAIT_SECONDS),
)

# Options that ask the handler to do something (state=present needs at least one of them).
ACTION_OPTIONS = ('username', 'reset_ssh', 'restore_backup_ssh', 'remove_user', 'check_disk', 'repair_disk')
# Options that only make sense when the handler runs (refused with state=absent).
SETTING_OPTIONS = (
    'username',
    'password',
    'ssh_key',
    'remove_prior_keys',
    'expiration',
    'reset_ssh',
    'restore_backup_ssh',
    'remove_user',
    'check_disk',
    'repair_disk',
    'disk_name',
    'enable_passwordless_access',
)


# Accounts the handler will not manage (VMAccess Utils/distroutils.py, create_account / delete_account): a user
# whose uid is below UID_MIN (login.defs; 100 when unset) is a system user. Setting its password or key fails
# ("Failed to set password for system user: root (0x06)."); removing it is skipped with only a line in the guest
# log ("DeleteAccount: root is a system user. Will not delete account.") while the extension reports "Enable
# succeeded.". The uid is only known on the guest: these names are system users on every Azure Linux image.
SYSTEM_USERS = frozenset(
    'root bin daemon adm lp sync shutdown halt mail news uucp operator games gopher ftp nobody nfsnobody sshd dbus '
    'messagebus syslog sys man proxy www-data backup list irc gnats systemd-network systemd-resolve '
    'systemd-timesync systemd-coredump polkitd chrony ntp postfix rpc rpcuser tss _apt'.split()
)
USERNAME_MAX = 32  # useradd refuses longer names

_DATE_RE = re.compile(r'^\d{4}-\d{2}-\d{2}$')
_USERNAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$')


# --------------------------------------------------------------------------------------------------------------
# Validation


def _is_true(params, name):
    return params.get(name) is True


def _is_set(params, name):
    v = params.get(name)
    if isinstance(v, bool):
        return v
    return v is not None


def _check_user_name(option, name):
    if len(name) > USERNAME_MAX or not _USERNAME_RE.match(name):
        raise ExtensionError(
            "%s: '%s' is not a valid Linux user name (letters, digits, '_', '.', '-', at most %d "
            "characters, not starting with '-' or '.')" % (option, name[:64], USERNAME_MAX)
        )
    if name.lower() in SYSTEM_USERS:
        if option == 'remove_user':
            reason = (
                'the VMAccessForLinux handler does not remove a system user: it skips it and still reports '
                "'Enable succeeded.'"
            )
        else:
            reason = (
                "the VMAccessForLinux handler refuses to set a password or key for a system user ('Failed to "
                "set password for system user: %s (0x06).'); give a regular user name (it gets sudo)" % name
            )
        raise ExtensionError("%s: '%s' is a system account: %s" % (option, name, reason))


def validate(params, today=None):
    """Check every rule of the handler that can be checked on the controller.

    Raises ExtensionError with the option names in the message. Returns a list of warnings.
    """
    state = params.get('state') or 'present'
    given = [o for o in SETTING_OPTIONS if _is_set(params, o)]

    if state == 'absent':
        if given:
            raise ExtensionError(
                'state=absent removes the VMAccessForLinux extension and cannot be combined with %s' % ', '.join(given)
            )
        return []

    _check_not_empty(params)
    _check_needed_options(params)
    _check_disk_options(params)
    _check_remove_user(params)
    if _is_true(params, 'reset_ssh') and _is_true(params, 'restore_backup_ssh'):
        raise ExtensionError(
            'reset_ssh and restore_backup_ssh are mutually exclusive (one replaces sshd_config with the distribution '
            'default, the other restores the backup)'
        )
    _check_username(params)
    warnings = _expiration_warnings(params, today)
    if _is_set(params, 'type_handler_version'):
        if not re.match(r'^\d+\.\d+$', params['type_handler_version']):
            raise ExtensionError(
                "type_handler_version must be MAJOR.MINOR (for example 1.5), got '%s'" % params['type_handler_version']
            )
    return warnings


def _check_not_empty(params):
    for name in ('username', 'remove_user', 'disk_name', 'extension_name', 'type_handler_version'):
        v = params.get(name)
        if v is not None and not str(v).strip():
            raise ExtensionError('%s must not be empty' % name)
    if params.get('password') is not None and params.get('password') == '':
        raise ExtensionError('password must not be empty (the handler ignores an empty password)')
    if params.get('ssh_key') is not None and not params['ssh_key'].strip():
        raise ExtensionError('ssh_key must not be empty')


def _check_needed_options(params):
    """Options that need another one, and a request that asks the handler to do something."""
    if _is_true(params, 'remove_prior_keys') and not _is_set(params, 'ssh_key'):
        raise ExtensionError('remove_prior_keys needs ssh_key (it truncates authorized_keys before adding the new key)')

    for name in ('password', 'ssh_key', 'expiration', 'enable_passwordless_access'):
        if _is_set(params, name) and not _is_set(params, 'username'):
            raise ExtensionError('%s needs username (the user to set it for)' % name)

    if not any(_is_set(params, o) for o in ACTION_OPTIONS):
        raise ExtensionError(
            'nothing to do: give one of username (with password and/or ssh_key), reset_ssh, restore_backup_ssh, '
            'remove_user, check_disk, repair_disk (or state=absent to remove the extension)'
        )


def _check_disk_options(params):
    if _is_true(params, 'check_disk') and _is_true(params, 'repair_disk'):
        raise ExtensionError('check_disk and repair_disk are mutually exclusive (the handler accepts only one of them)')
    if _is_set(params, 'disk_name') and not _is_true(params, 'repair_disk'):
        raise ExtensionError('disk_name is used only with repair_disk=true')
    if _is_true(params, 'repair_disk') and not _is_set(params, 'disk_name'):
        raise ExtensionError('repair_disk=true needs disk_name (the disk to repair)')


def _check_remove_user(params):
    if _is_set(params, 'remove_user'):
        conflicting = [o for o in ('reset_ssh', 'restore_backup_ssh', 'password') if _is_set(params, o)]
        if conflicting:
            raise ExtensionError(
                'remove_user cannot be combined with %s: the handler refuses to change sshd_config and remove a user '
                "in one run ('Cannot reset sshd_config and remove a user in one operation.'); use two tasks"
                % ' or '.join(conflicting)
            )
        _check_user_name('remove_user', params['remove_user'])


def _check_username(params):
    if _is_set(params, 'username'):
        _check_user_name('username', params['username'])
        if not _is_set(params, 'password') and not _is_set(params, 'ssh_key'):
            raise ExtensionError(
                "username needs password or ssh_key (the handler fails with 'No password or ssh_key is specified.')"
            )


def _expiration_warnings(params, today=None):
    """Refuse an expiration that is not a date; warn that it applies to a new account only (and when it is past)."""
    warnings = []
    if _is_set(params, 'expiration'):
        exp = params['expiration']
        if not _DATE_RE.match(exp):
            raise ExtensionError("expiration must be a date in the form YYYY-MM-DD, got '%s'" % exp)
        try:
            day = datetime.datetime.strptime(exp, '%Y-%m-%d').date()
        except ValueError:
            raise ExtensionError("expiration: '%s' is not a valid calendar date (YYYY-MM-DD)" % exp)
        today = today or datetime.date.today()
        if day <= today:
            warnings.append('expiration %s is not in the future: a new account would be expired at once' % exp)
        warnings.append(
            'expiration is applied only when the handler creates the account (useradd -e); '
            'it does not change an existing account'
        )
    return warnings


# --------------------------------------------------------------------------------------------------------------
# Payload


def build_settings(params, ssh_key_text=None):
    """Return (settings, protected_settings) as the handler reads them.

    ``ssh_key_text`` is the resolved key (see resolve_ssh_key); when None, ``params['ssh_key']`` is used as is.
    Booleans appear only when true, as JSON ``true``; options that are not set are left out.
    """
    settings = {}
    protected = {}
    for key in PUBLIC_KEYS + PROTECTED_KEYS:
        if key in BOOLEAN_KEYS:
            if params.get(key) is True:
                value = True
            else:
                continue
        else:
            value = params.get(key)
            if value is None:
                continue
            if key == 'ssh_key' and ssh_key_text is not None:
                value = ssh_key_text
        if key in PUBLIC_KEYS:
            settings[key] = value
        else:
            protected[key] = value
    return settings, protected


def is_vmaccess_linux(ext):
    return is_extension(ext, PUBLISHER, EXTENSION_TYPE)


def is_aad_login(ext):
    return is_extension(ext, AAD_PUBLISHER, AAD_EXTENSION_TYPE)


# --------------------------------------------------------------------------------------------------------------
# The profile


class LinuxHandler(Handler):
    publisher = PUBLISHER
    type = EXTENSION_TYPE
    default_type_handler_version = DEFAULT_TYPE_HANDLER_VERSION
    default_extension_name = DEFAULT_EXTENSION_NAME
    module = 'vmaccess_linux'
    os = 'linux'
    secret_params = SECRET_KEYS
    secret_keys = SECRET_KEYS

    def validate(self, params):
        return validate(params)

    def plan(self, params, base_dir=None):
        key_text = None
        if params.get('ssh_key') is not None:
            key_text = resolve_ssh_key(params['ssh_key'], base_dir)
            classify_ssh_key(key_text)
        return Plan(params, key_text)

    def wrong_os_message(self, display):
        return (
            '%s runs Windows: VMAccessForLinux works on Linux only. On Windows use the VMAccessAgent extension '
            '(publisher %s, type %s, version %s), for example the vmrescue.azure.vmaccess_windows module or '
            "'az vm user update'. Nothing was changed."
            % (display, WINDOWS_PUBLISHER, WINDOWS_EXTENSION_TYPE, WINDOWS_TYPE_HANDLER_VERSION)
        )

    def present_warnings(self, display, extensions, plan):
        aad = [extension_name(e) for e in extensions if is_aad_login(e)]
        if not aad:
            return []
        return [
            "%s has the Microsoft Entra ID login extension (AADSSHLoginForLinux) '%s'. VMAccess sets "
            "'ChallengeResponseAuthentication no' in sshd_config%s, which turns Entra ID SSH login off: "
            'run that extension again afterwards.'
            % (display, aad[0], ' and resets the password' if plan.protected.get('password') else '')
        ]


LINUX = LinuxHandler()


class Plan(ExtensionPlan):
    """What to send for one target: settings, protected settings, fingerprint input. No network."""

    def __init__(self, params, ssh_key_text=None):
        settings, protected = build_settings(params, ssh_key_text)
        super().__init__(LINUX, params, settings, protected)


class VMAccessRunner(ExtensionRunner):
    """The shared ExtensionRunner with the VMAccessForLinux profile (see engine.ExtensionRunner)."""

    def __init__(
        self,
        arm,
        target,
        params,
        check_mode=False,
        warn=None,
        base_dir=None,
        api_version=None,
        fingerprints=None,
        timing=None,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        super().__init__(
            LINUX,
            arm,
            target,
            params,
            check_mode=check_mode,
            warn=warn,
            base_dir=base_dir,
            api_version=api_version,
            fingerprints=fingerprints,
            timing=timing,
            sleep=sleep,
            clock=clock,
        )


# --------------------------------------------------------------------------------------------------------------
# TaskSpec: what the module file and the controller action run


def run(ctx):
    """TaskSpec.run for one target (``ctx``: a ``_task.RunContext``): the VMAccessRunner. Raises _arm.TaskError on
    failure. ``ctx.shared``: the task's BatchState (TaskSpec ``shared``), or None."""
    return run_task(LINUX, ctx)


def task_spec():
    """The module's TaskSpec."""
    return engine_task_spec(LINUX, ARGUMENT_SPEC, name='vmrescue.azure.vmaccess_linux')
