# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the access roles word what a VMAccess run changed (private: may change without notice).

Used by the ``recovery_outcomes`` filter (roles ``linux_access_recovery``, ``windows_access_recovery``): a changed
host's reason is read from the extension settings its write sent; the password and key are only named, never shown.

Public names: ``vmaccess_change(res) -> str``; ``text(value)`` ('' for None), ``mapping(value)`` ({} for a
non-mapping): the filter's two coercions.
"""

from __future__ import annotations

from collections.abc import Mapping


def text(value):
    return '' if value is None else str(value)


def mapping(value):
    return value if isinstance(value, Mapping) else {}


def _settings_parts(protected, settings):
    parts = []
    user = protected.get('username')
    if user:
        creds = [n for k, n in (('ssh_key', 'SSH key'), ('password', 'password')) if protected.get(k)]
        parts.append(
            'user %s: %s set%s%s'
            % (
                text(user),
                ' and '.join(creds) or 'account',
                ' (other keys removed)' if protected.get('remove_prior_keys') else '',
                ', sudo without password' if protected.get('enable_passwordless_access') else '',
            )
        )
    for key, phrase in (
        ('remove_user', 'user %s removed'),
        ('reset_ssh', 'sshd_config reset'),
        ('restore_backup_ssh', 'sshd_config restored from its backup'),
        ('check_disk', 'disks checked'),
        ('repair_disk', 'disk %s repaired'),
    ):
        value = protected.get(key, settings.get(key))
        if value:
            arg = settings.get('disk_name') if key == 'repair_disk' else value
            parts.append(phrase % text(arg) if '%s' in phrase else phrase)
    return parts


def vmaccess_change(res):
    """What a VMAccessForLinux run changed, from the extension settings it sent (the password is only named)."""
    ext = res.get('extension')
    if not isinstance(ext, Mapping):
        # state=absent returns no extension; a result without either keeps the handler's message
        what = (
            'VMAccessForLinux extension %s removed' % text(res.get('extension_name'))
            if res.get('extension_name')
            else text(res.get('message')) or 'done'
        )
    else:
        props = ext.get('properties') if isinstance(ext.get('properties'), Mapping) else ext
        parts = _settings_parts(mapping(props.get('protectedSettings')), mapping(props.get('settings')))
        what = ', '.join(parts) or text(res.get('message')) or 'done'
    return ('would apply: ' + what) if res.get('check_mode') else what
