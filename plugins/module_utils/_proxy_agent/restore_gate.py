# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a recorded restore of the MSP endpoint settings may run (private: may change without notice).

A record in a tag is a claim: anyone with the built-in Tag Contributor role can write it. So ``state: restored``
acts on a record only when (pure functions, no I/O but the run report's file):

- it is trusted, or at least not distrusted: under a record key its seal must hold (``record_untrusted``);
- the VM still has the settings the record says this collection wrote at break-glass (``record_mismatch``: a VM
  changed since, or never in break-glass, is left alone); an old (version 1) record holds no such side;
- without a key (or from a version 1 record) it lowers no protection: MSP off, a mode below the current one
  (Enforce > Audit > Disabled), or a profile reference outside the VM's subscription and ``allowed_profile_references``
  need ``allow_weaker_restore: true`` (a version 1 record never lowers it) (``weaker_restore_refused``).

A run report (``restore_from``) is the trusted source when given: the record the run wrote, kept on the controller;
the tag is then only cross-checked.

Public names: ``RANKS``, ``weakening(target, current, subscription_id, allowed=())``, ``check_restore(record,
current, params, target) -> (refusal or None, warnings)``, ``report_record(path, target) -> record or None``,
``check_report(path)``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils import _report
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.settings_record import (
    ENDPOINTS,
    RECORD_TAG,
    decode_record,
    equal,
    same_ref,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import UNTRUSTED

RANKS = {'Disabled': 0, 'Audit': 1, 'Enforce': 2}


def _allowed_ref(ref, subscription_id, allowed):
    """A profile reference of the VM's own subscription, or under an ``allowed`` prefix (a gallery, a group...)."""
    low = (ref or '').lower()
    if subscription_id and low.startswith('/subscriptions/%s/' % subscription_id.lower()):
        return True
    return any(low == a.lower().rstrip('/') or low.startswith(a.lower().rstrip('/') + '/') for a in allowed or ())


def _endpoint_weakening(name, cur, tgt, subscription_id, allowed):
    """What restoring endpoint ``name`` from ``cur`` to ``tgt`` would weaken (text), or None."""
    cur, tgt = cur or {}, tgt or {}
    ref = tgt.get('profile_reference_id')
    if ref and not same_ref(ref, cur.get('profile_reference_id')) and not _allowed_ref(ref, subscription_id, allowed):
        return "%s: profile reference %s is outside the VM's subscription and allowed_profile_references" % (name, ref)
    cur_mode, tgt_mode = cur.get('mode'), tgt.get('mode')
    if cur_mode and tgt_mode and RANKS[tgt_mode] < RANKS[cur_mode]:
        return '%s: mode %s -> %s' % (name, cur_mode, tgt_mode)
    if cur.get('profile_reference_id') and tgt_mode and tgt_mode != 'Enforce':
        return '%s: profile reference %s -> mode %s' % (name, cur['profile_reference_id'], tgt_mode)
    if cur_mode == 'Enforce' and not tgt_mode and not ref:
        return '%s: mode Enforce -> no endpoint settings' % name
    return None


def weakening(target, current, subscription_id, allowed=()):
    """What restoring ``target`` settings over ``current`` ones would weaken: a list of texts (empty: nothing)."""
    out = []
    if current['enabled'] and not target['enabled']:
        out.append('MSP enabled: true -> false (turns the Metadata Security Protocol off)')
        return out
    if not target['enabled']:
        return out
    for name, _key in ENDPOINTS:
        found = _endpoint_weakening(name, current.get(name), target.get(name), subscription_id, allowed)
        if found:
            out.append(found)
    return out


def _refusal(code, msg):
    return dict(msg=msg, outcome=outcome('skipped', code, msg))


def check_restore(record, current, params, target):
    """(refusal or None, warnings) for restoring ``record`` over ``current`` on ``target``. A refusal is the result's
    ``msg`` and ``outcome`` (skipped, with the reason code); the warnings say what an allowed restore weakens."""
    where = 'the %s tag on %s' % (RECORD_TAG, target.display)
    if record.get('source') == 'report':
        where = 'the run report %s' % params.get('restore_from')
    if record.get('trusted') is False:
        return _refusal(UNTRUSTED, '%s is not trusted (%s): nothing restored' % (where, record['why'])), []
    restored = record.get('source') == 'report' and equal(current, record['before'])  # the report's run: done already
    if record['written'] is not None and not equal(current, record['written']) and not restored:
        return _refusal(
            'record_mismatch',
            '%s says this collection wrote %s, but %s has %s now: it was changed since (or never in break-glass), '
            'so it is left alone' % (where, _show(record['written']), target.display, _show(current)),
        ), []
    if record.get('trusted'):
        return None, []
    weaker = weakening(record['before'], current, target.subscription_id, params.get('allowed_profile_references'))
    if not weaker:
        return None, []
    what = '; '.join(weaker)
    if record['version'] == 1:
        return _refusal(
            'weaker_restore_refused',
            '%s is of the old format (version 1: no seal, not the settings written), and restoring it would lower '
            'protection (%s): nothing restored; set the settings by hand if they are right' % (where, what),
        ), []
    if not params.get('allow_weaker_restore'):
        return _refusal(
            'weaker_restore_refused',
            'restoring %s would lower protection on %s (%s), and a tag is no proof of who wrote it: nothing restored. '
            'Check the record, then re-run with allow_weaker_restore: true, or use a record_key / restore_from'
            % (where, target.display, what),
        ), []
    return None, ['allow_weaker_restore: restoring %s lowers protection on %s: %s' % (where, target.display, what)]


def _show(norm):
    parts = ['enabled' if norm['enabled'] else 'MSP off']
    for name, _key in ENDPOINTS:
        ep = norm.get(name) or {}
        if ep.get('mode') or ep.get('profile_reference_id'):
            parts.append('%s %s' % (name, ep.get('mode') or ep.get('profile_reference_id')))
    return ', '.join(parts)


def check_report(path):
    """The run report at ``path`` (``_report.load``); a TaskError naming ``restore_from`` when it is not one."""
    try:
        return _report.load(path, option='restore_from')
    except _report.ReportError as exc:
        raise TaskError(exc.msg, reason_code='invalid_input')


def report_record(path, target):
    """The record the run of report ``path`` wrote on ``target`` (the latest one, its ``recorded`` field), as a
    trusted record (``source`` 'report'); None when the report holds none for it."""
    found = None
    for item in check_report(path).get('targets') or ():
        if str(item.get('id') or '').lower() == target.id.lower() and isinstance(item.get('recorded'), str):
            found = item['recorded']
    if found is None:
        return None
    try:
        record = decode_record(found, target.subscription_id)
    except (ValueError, TypeError, KeyError):
        return None
    return dict(record, trusted=True, why=None, source='report', text=found)
