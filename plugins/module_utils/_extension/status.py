# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading what ARM returns about a VM extension (private; pure, no network).

Public names: ``is_extension(ext, publisher, ext_type)`` (by handler type, case-insensitive),
``extension_name(ext)``, ``handler_status(ext)`` (the first status of the extension's instance view),
``instance_view_extension_status(vm, name)`` (the same from the VM's instance view), ``last_run_succeeded(ext,
status=None)``, ``visible(ext)`` (what a diff shows of an existing extension), ``lower_or_empty(value)``.
"""


def lower_or_empty(v):
    """``v`` lower-cased when it is a string, else ''."""
    return (v or '').lower() if isinstance(v, str) else ''


def is_extension(ext, publisher, ext_type):
    props = (ext or {}).get('properties') or {}
    return (
        lower_or_empty(props.get('publisher')) == publisher.lower()
        and lower_or_empty(props.get('type')) == ext_type.lower()
    )


def extension_name(ext):
    name = (ext or {}).get('name') or ''
    # The VM GET lists extensions by name; a full id may also be there.
    if not name and ext and ext.get('id'):
        name = ext['id'].rstrip('/').split('/')[-1]
    return name.split('/')[-1]


def _status_fields(st):
    return dict((k, st.get(k)) for k in ('code', 'level', 'displayStatus', 'message', 'time') if st.get(k) is not None)


def handler_status(ext):
    """The first status of the extension's instance view: {code, level, displayStatus, message} or None."""
    props = (ext or {}).get('properties') or {}
    iv = props.get('instanceView') or {}
    statuses = iv.get('statuses') or []
    if not statuses:
        return None
    return _status_fields(statuses[0])


def instance_view_extension_status(vm, name):
    """Status of extension ``name`` from the VM instance view (``instanceView.extensions[]``), or None."""
    props = (vm or {}).get('properties') or {}
    iv = props.get('instanceView') or {}
    for ext in iv.get('extensions') or []:
        if (ext.get('name') or '').lower() == (name or '').lower():
            statuses = ext.get('statuses') or []
            if statuses:
                return _status_fields(statuses[0])
    return None


def last_run_succeeded(ext, status=None):
    """True when ARM says the extension is provisioned and the handler did not report an error."""
    props = (ext or {}).get('properties') or {}
    if lower_or_empty(props.get('provisioningState')) != 'succeeded':
        return False
    status = status or handler_status(ext)
    if status:
        if lower_or_empty(status.get('level')) == 'error':
            return False
        code = lower_or_empty(status.get('code'))
        if code and 'failed' in code:
            return False
    return True


def visible(ext):
    """The parts of an existing extension ARM shows (for diff 'before')."""
    if not ext:
        return {}
    props = ext.get('properties') or {}
    out = {'name': extension_name(ext)}
    for k in ('publisher', 'type', 'typeHandlerVersion', 'autoUpgradeMinorVersion', 'settings', 'provisioningState'):
        if k in props:
            out[k] = props[k]
    out['protectedSettings'] = '(never returned by Azure)'
    return out
