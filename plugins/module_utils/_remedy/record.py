# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of the platform remedies applied to a VM: the tag ``vmrescue-remedy`` (private: may change without
notice).

``vm_remedy`` writes it before it restarts, reapplies or redeploys the VM, value ``'<rung>@<UTC time>'`` for each rung
applied (the newest time of each rung, oldest first, ``;`` between them), so that a re-run, another controller or
the ``recovery_ladder`` role inside the rung's hold time sees that the rung was applied and does not apply it again.
With a record key (``_record_seal``) the value ends in ``'#<MAC>'``: the seal over the resource ID, ``PURPOSE``, the
newest time and the entries; a reader with the key acts only on a record whose seal holds.

Public names: ``RECORD_TAG``, ``PURPOSE``, ``RUNGS``, ``record_value(entries, key=None, resource_id=None)``,
``parse_entries(value)``, ``check_record(tags, key, resource_id) -> (entries or None, untrusted reason or None)``,
``with_rung(entries, rung, when)``, ``last_applied(entries, rung)``, ``stamp(when)``, ``age_seconds(stamp, now)``.
"""

from __future__ import annotations

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import distrust, seal

RECORD_TAG = 'vmrescue-remedy'
PURPOSE = 'remedy'
RUNGS = ('restart', 'reapply', 'redeploy')  # the ladder's order: least disruptive first
_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def stamp(when):
    """The record's spelling of a UTC datetime."""
    return when.strftime(_FORMAT)


def _time(text):
    try:
        return datetime.datetime.strptime(str(text).strip(), _FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def age_seconds(text, now):
    """Seconds from the recorded ``text`` time to ``now`` (a UTC datetime); None when it does not parse."""
    when = _time(text)
    return None if when is None else int((now - when).total_seconds())


def _body(entries):
    return ';'.join('%s@%s' % (rung, when) for rung, when in entries)


def record_value(entries, key=None, resource_id=None):
    """The RECORD_TAG value of ``entries`` ([(rung, stamp)], oldest first); sealed when ``key`` is given (then
    ``resource_id`` is the target's)."""
    value = _body(entries)
    if key is not None and entries:
        value += '#' + seal(key, resource_id, PURPOSE, entries[-1][1], value)
    return value


def _split(value):
    """(entries, MAC or None), or (None, None) when ``value`` does not parse."""
    if not isinstance(value, str) or '@' not in value:
        return None, None
    body, _hash, mac = value.partition('#')
    entries = []
    for part in body.split(';'):
        rung, _at, when = part.strip().partition('@')
        if rung not in RUNGS or _time(when) is None:
            return None, None
        entries.append((rung, when.strip()))
    return entries, (mac.strip() or None)


def parse_entries(value):
    """The entries of a record value ([(rung, stamp)]), or None when it does not parse (the seal is not checked)."""
    return _split(value)[0]


def check_record(tags, key, resource_id):
    """(entries, None) for a record the reader may act on, (None, why) for one it may not, (None, None) for none.

    Without ``key`` the record is taken as written (a claim: the worst a planted one does is hold a rung back); with
    one, a record without a seal, with a seal that does not hold for ``resource_id``, or that does not parse is
    untrusted, and the rung is applied as if there were none.
    """
    value = _vm.get_tag(tags, RECORD_TAG)
    if value is None:
        return None, None
    entries, mac = _split(value)
    if entries is None:
        return None, 'it does not parse as a remedy record'
    why = distrust(key, resource_id, PURPOSE, entries[-1][1], _body(entries), mac)
    return (None, why) if why else (entries, None)


def with_rung(entries, rung, when):
    """``entries`` with ``rung`` applied at ``when`` (a stamp): one entry per rung, oldest first."""
    kept = [(r, w) for r, w in (entries or ()) if r != rung]
    return kept + [(rung, when)]


def last_applied(entries, rung):
    """The stamp ``rung`` was last applied at, or None."""
    found = [w for r, w in (entries or ()) if r == rung]
    return found[-1] if found else None
