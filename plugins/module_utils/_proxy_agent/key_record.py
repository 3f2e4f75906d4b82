# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a key reset this collection wrote: the tag ``vmrescue-key-reset`` (private: may change without
notice).

The key reset writes it in the same write as the key, value ``'<keyIncarnationId>@<UTC time>'``, so another
controller, a later AWX job, the lookups and the inventory plugin see that a reset is pending
(``status.classify_health``'s ``record``). With a record key (``record_seal``) the value ends in ``'#<MAC>'``, the
seal over the resource ID, ``PURPOSE``, the time and the incarnation; a reader with the key acts only on a record
whose seal holds (a tag writer cannot forge one, nor copy one from another VM).

Public names: ``RECORD_TAG``, ``PURPOSE``, ``record_value(incarnation, when=None, key=None, resource_id=None)``,
``parse_record(tags)``, ``check_record(tags, key, resource_id) -> (record or None, untrusted reason or None)``,
``record_note(target_display, health)``.
"""

from __future__ import annotations

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import int_or_none
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import seal, untrusted, verify

RECORD_TAG = 'vmrescue-key-reset'
PURPOSE = 'key-reset'
# A recorded reset whose guest reports no keyIncarnationId at all counts as pending for status.PENDING_HOLD
# seconds after it was written (and only until the guest contradicts it: status.classify_health).


def record_value(incarnation, when=None, key=None, resource_id=None):
    """The RECORD_TAG value for a reset to ``incarnation`` written at ``when`` (UTC datetime; default now); sealed
    when ``key`` is given (then ``resource_id`` is the target's)."""
    when = when or datetime.datetime.now(datetime.UTC)
    stamp = when.strftime('%Y-%m-%dT%H:%M:%SZ')
    value = '%d@%s' % (incarnation, stamp)
    if key is not None:
        value += '#' + seal(key, resource_id, PURPOSE, stamp, str(incarnation))
    return value


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
    return _parse(_vm.get_tag(tags, RECORD_TAG))[0]


def check_record(tags, key, resource_id):
    """(record, None) for a record the reader may act on, (None, why) for one it may not, (None, None) for none.

    Without ``key`` the record is a claim (``parse_record``; the guest still has to confirm it, see
    ``status.classify_health``); with one, a record without a seal, with a seal that does not hold for
    ``resource_id`` (forged, garbled, copied from another VM), or that does not parse is untrusted.
    """
    value = _vm.get_tag(tags, RECORD_TAG)
    if value is None:
        return None, None
    record, mac = _parse(value)
    if key is None:
        return record, None
    if record is None:
        return None, 'it does not parse as a key reset record'
    if mac is None:
        return None, 'it carries no seal and a record key is configured'
    if not verify(key, resource_id, PURPOSE, record['written_at'], str(record['key_incarnation_id']), mac):
        return None, 'its seal does not match this resource (forged, edited or copied from another VM)'
    return record, None


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
