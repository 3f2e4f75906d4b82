# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the role offline_rescue words a host's reason in its summary (private: may change without notice).

Used by the ``recovery_outcomes`` filter (role ``offline_rescue``): the status comes from the module's ``outcome``
(the filter's one table); this only says it in words, from the result's ``phase``, disk IDs, ``steps`` and
``deleted``, never the other way round.

The module's own messages name its options (``state=rolled_back``, ``rescue_vm_size``); a role user sets the role's
variables, so a reason taken from the module says them in the role's words (``role_words``: ``state=`` becomes
``offline_rescue_state=``, an option ``x`` the variable ``offline_rescue_x``). The module's ``msg`` is left as it is.

Public names: ``rescue_reason(status, found, res) -> str`` (``status``: the summary's, ``found``: the module's
outcome, ``res``: its result), ``role_words(text)``, ``NO_ACTION_REASON`` (a host in no batch: the run had no action
for its OS).
"""

from __future__ import annotations

import re

# a host in neither OS batch of the role (its OS had no action in this run)
NO_ACTION_REASON = (
    'no repair action for its OS in this run: nothing done (offline_rescue_action repairs the hosts of its OS; '
    'offline_rescue_windows_action the Windows hosts of a mixed group)'
)


# the module's options a per-host reason names, as the role's variables (offline_rescue_<option>)
_OPTIONS = re.compile(
    r'(?<![\w.])(?:state=(?=restored|rolled_back|cleaned)|'
    r'(?:rescue_vm_size|rescue_vm_id|rescue_image|rescue_resource_group|rescue_subnet_id|wait_timeout|script_timeout|'
    r'driver_file|keep_original|record_key)(?!\w))'
)
_ACTION = re.compile(r'\banother action\b')


def role_words(text):
    """``text`` (a module message) with the module's option names said as the role's variables."""
    text = _OPTIONS.sub(lambda m: 'offline_rescue_' + m.group(0), text)
    return _ACTION.sub(
        'another action (offline_rescue_action, or offline_rescue_windows_action for Windows hosts)', text
    )


def _text(value):
    return '' if value is None else str(value)


def _failed_reason(found, res):
    return role_words(_text(found.get('reason')) or _text(res.get('msg')) or 'unknown error')


def _name(resource_id):
    return _text(resource_id).rstrip('/').rsplit('/', 1)[-1]


def _rescue_done(res):
    """What a rescue run that wrote something did, by the phase it left the VM in."""
    phase = _text(res.get('phase'))
    copy, original = _name(res.get('copy_disk_id')), _name(res.get('original_disk_id'))
    if phase == 'rolled_back':
        return 'rolled back: runs on its original OS disk %s again (the copy %s stays until cleaned)' % (original, copy)
    if phase == 'cleaned':
        deleted = [_text(d) for d in res.get('deleted') or []]
        return 'cleaned up: %s' % (', '.join(deleted) or 'nothing left to delete, record updated')
    steps = ', '.join(_text(s) for s in res.get('steps') or [])
    return 'repaired: boots on its repaired OS disk %s (%s); the original %s is kept for rolled_back' % (
        copy,
        steps or 'record',
        original,
    )


def rescue_reason(status, found, res):
    """The reason of an offline_rescue host: what the rescue did, or why the VM was left alone."""
    code = found.get('reason_code')
    if status in ('failed', 'skipped') or found.get('status') == 'pending':
        return _failed_reason(found, res)
    if code == 'check_mode':
        if res.get('deleted') is not None:
            return 'would delete %s (check mode)' % (', '.join(_text(d) for d in res['deleted']) or 'nothing')
        return 'would %s next (check mode)' % (_text(res.get('next_step')) or 'act')
    if status == 'changed':
        return _rescue_done(res)
    if code == 'vm_boots':
        return 'boots (running, VM agent Ready): left alone'
    if code == 'no_rescue':
        return 'no rescue of this VM to roll back or clean up'
    return {
        'restored': 'already boots on its repaired OS disk %s: nothing to do' % _name(res.get('copy_disk_id')),
        'rolled_back': 'already runs on its original OS disk %s: nothing to do' % _name(res.get('original_disk_id')),
        'cleaned': 'already cleaned up: nothing to do',
    }.get(_text(res.get('phase')), _failed_reason(found, res))
