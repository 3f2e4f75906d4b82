# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a key reset this collection wrote: the tag ``vmrescue-key-reset`` (private: may change without
notice).

The key reset writes it in the same write as the key, value ``'<keyIncarnationId>@<UTC time>'``, so another
controller, a later AWX job, the lookups and the inventory plugin see that a reset is pending
(``status.classify_health``'s ``record``).

Public names: ``RECORD_TAG``, ``record_value(incarnation, when=None)``, ``parse_record(tags)``.
"""

from __future__ import annotations

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import int_or_none

RECORD_TAG = 'vmrescue-key-reset'
# A recorded reset whose guest reports no keyIncarnationId at all counts as pending for status.PENDING_HOLD
# seconds after it was written.


def record_value(incarnation, when=None):
    """The RECORD_TAG value for a reset to ``incarnation`` written at ``when`` (UTC datetime; default now)."""
    when = when or datetime.datetime.now(datetime.UTC)
    return '%d@%s' % (incarnation, when.strftime('%Y-%m-%dT%H:%M:%SZ'))


def parse_record(tags):
    """The reset recorded in ``tags`` (RECORD_TAG): ``{'key_incarnation_id': int, 'written_at': str, 'time':
    datetime}``, or None when there is none or it does not parse (a user-edited tag is ignored, not trusted)."""
    value = _vm.get_tag(tags, RECORD_TAG)
    if not isinstance(value, str) or '@' not in value:
        return None
    number, _sep, stamp = value.partition('@')
    incarnation = int_or_none(number)
    try:
        when = datetime.datetime.strptime(stamp.strip(), '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    if incarnation is None:
        return None
    return dict(key_incarnation_id=incarnation, written_at=stamp.strip(), time=when)
