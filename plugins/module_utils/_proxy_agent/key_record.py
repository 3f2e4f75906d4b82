# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a key reset this collection wrote: the tag ``vmrescue-key-reset`` (private: may change without
notice).

The key reset writes it in the same write as the key, value ``'<keyIncarnationId>@<UTC time>'``, so another
controller, a later AWX job, the lookups and the inventory plugin see that a reset is pending
(``status.classify_health``'s ``record``). With a record key (``record_seal``) the value ends in ``'#<MAC>'``, the
seal over the resource ID, ``PURPOSE``, the time and the incarnation; a reader with the key acts only on a record
whose seal holds (a tag writer cannot forge one, nor copy one from another VM).

The same tag also holds the first observation of a reset this collection did not write and that has not reached the
guest (the model above the guest's key, no record): ``'observed:<keyIncarnationId>@<UTC time>[#<MAC>]'``, sealed
for ``OBSERVED_PURPOSE`` (so a reset record's seal cannot be replayed as an observation, nor the other way round).
An observation only dates a pending state (``stuck``): it never makes a key healthy, never holds a write back that
the model alone would not, never weakens anything. A reset this collection writes replaces it.

Public names: ``RECORD_TAG``, ``PURPOSE``, ``OBSERVED_PURPOSE``, ``record_value(incarnation, when=None, key=None,
resource_id=None)``, ``observation_value(incarnation, when=None, key=None, resource_id=None)``,
``parse_record(tags)``, ``check_record(tags, key, resource_id) -> (record or None, untrusted reason or None)``,
``check_observation(tags, key, resource_id)`` (the same for an observation), ``record_note(target_display,
health)``.
"""

from __future__ import annotations

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import int_or_none
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import distrust, seal, untrusted

RECORD_TAG = 'vmrescue-key-reset'
PURPOSE = 'key-reset'
OBSERVED_PURPOSE = 'key-reset-observed'
OBSERVED_PREFIX = 'observed:'
# A recorded reset whose guest reports no keyIncarnationId at all counts as pending for status.PENDING_HOLD
# seconds after it was written (and only until the guest contradicts it: status.classify_health).


def _value(prefix, purpose, incarnation, when, key, resource_id):
    when = when or datetime.datetime.now(datetime.UTC)
    stamp = when.strftime('%Y-%m-%dT%H:%M:%SZ')
    value = '%s%d@%s' % (prefix, incarnation, stamp)
    if key is not None:
        value += '#' + seal(key, resource_id, purpose, stamp, str(incarnation))
    return value


def record_value(incarnation, when=None, key=None, resource_id=None):
    """The RECORD_TAG value for a reset to ``incarnation`` written at ``when`` (UTC datetime; default now); sealed
    when ``key`` is given (then ``resource_id`` is the target's)."""
    return _value('', PURPOSE, incarnation, when, key, resource_id)


def observation_value(incarnation, when=None, key=None, resource_id=None):
    """The RECORD_TAG value of the first observation (at ``when``, default now) of a reset to ``incarnation`` that
    this collection did not write and the guest has not latched; sealed as ``record_value``."""
    return _value(OBSERVED_PREFIX, OBSERVED_PURPOSE, incarnation, when, key, resource_id)


def _split(value):
    """(kind 'reset' / 'observed', the rest of ``value``), or (None, None) when it is not a text."""
    if not isinstance(value, str):
        return None, None
    if value.startswith(OBSERVED_PREFIX):
        return 'observed', value[len(OBSERVED_PREFIX) :]
    return 'reset', value


def _parse(value):
    """(record without its seal, MAC or None), or (None, None) when ``value`` does not parse."""
    if not isinstance(value, str) or '@' not in value:
        return None, None
    body, _hash, mac = value.partition('#')
    number, _sep, stamp = body.partition('@')
    incarnation = int_or_none(number)
    try:
        when = datetime.datetime.strptime(stamp.strip(), '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.UTC)
    except ValueError:
        return None, None
    if incarnation is None:
        return None, None
    return dict(key_incarnation_id=incarnation, written_at=stamp.strip(), time=when), (mac.strip() or None)


def parse_record(tags):
    """The reset recorded in ``tags`` (RECORD_TAG): ``{'key_incarnation_id': int, 'written_at': str, 'time':
    datetime}``, or None when there is none or it does not parse (a user-edited tag is ignored, not trusted). The
    seal is not checked here: ``check_record``."""
    kind, rest = _split(_vm.get_tag(tags, RECORD_TAG))
    return _parse(rest)[0] if kind == 'reset' else None


def _check(tags, key, resource_id, kind, purpose):
    """``check_record`` / ``check_observation``: the tag's entry of ``kind`` checked under ``key``."""
    found, rest = _split(_vm.get_tag(tags, RECORD_TAG))
    if found != kind:
        return None, None
    record, mac = _parse(rest)
    if key is None:
        return record, None
    what = 'key reset record' if kind == 'reset' else 'key reset observation'
    if record is None:
        return None, 'it does not parse as a %s' % what
    why = distrust(key, resource_id, purpose, record['written_at'], str(record['key_incarnation_id']), mac)
    return (None, why) if why else (record, None)


def check_record(tags, key, resource_id):
    """(record, None) for a record the reader may act on, (None, why) for one it may not, (None, None) for none
    (an observation is not a reset record: ``check_observation``).

    Without ``key`` the record is a claim (``parse_record``; the guest still has to confirm it, see
    ``status.classify_health``); with one, a record without a seal, with a seal that does not hold for
    ``resource_id`` (forged, garbled, copied from another VM), or that does not parse is untrusted.
    """
    return _check(tags, key, resource_id, 'reset', PURPOSE)


def check_observation(tags, key, resource_id):
    """(observation ``{key_incarnation_id, written_at, time}``, None), (None, why it is untrusted), or (None, None)
    when the tag holds none: ``check_record``'s rules for the first observation of an unrecorded pending reset."""
    return _check(tags, key, resource_id, 'observed', OBSERVED_PURPOSE)


def record_note(target_display, health):
    """``{status, reason_code, reason}`` of a record the key health was classified without: untrusted under the
    record key (``record_untrusted``), or contradicted by the guest (``record_contradicted``); None otherwise."""
    health = health or {}
    if health.get('record_untrusted'):
        return untrusted(target_display, RECORD_TAG, health['record_untrusted'])
    if health.get('record_contradicted'):
        return dict(
            status='skipped',
            reason_code='record_contradicted',
            reason='the %s tag on %s records a reset the guest contradicts (%s): not pending on its word'
            % (RECORD_TAG, target_display, health['record_contradicted']),
        )
    return None
