# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offline rescue's record on the source VM: the tag ``vmrescue-rescue`` (private; pure, no I/O).

Written after each phase's ARM write succeeded, so a killed run resumes at the right phase from any controller.
The value is compact (a tag value holds 256 characters: names, never IDs)::

    v1;<phase>@<UTC time>;c=<copy disk>;o=<original disk>;r=<rescue VM>;g=<rescue VM group>;l=<lun>;a=<action>;m=<MAC>

``g`` only when the rescue VM is not in the source VM's resource group; ``l`` / ``a`` once known; ``m`` with a
record key (``_record_seal``: HMAC over the resource ID, ``PURPOSE``, the time and the rest of the record). With a
key, a record without a seal or whose seal does not hold for this VM is untrusted: the engine then acts on ARM's
truth only (``check``). A record is always a claim checked against ARM: the steps re-derive every phase from the
resources themselves.

Public names: ``RECORD_TAG``, ``COPY_OF_TAG``, ``ORIGINAL_OF_TAG``, ``RESCUE_VM_TAG``, ``PURPOSE``, ``PHASES``,
``MAX_VALUE``, ``Record`` (frozen: ``phase, when, copy, original, rescue_vm, rescue_group, lun, action``;
``.with_phase(phase, when=None)``, ``.at_least(phase)``), ``encode(record, key=None, resource_id=None)``,
``parse(value) -> (Record | None, mac | None)``, ``check(tags, key, resource_id) -> (Record | None, why | None)``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import distrust, seal
from ansible_collections.vmrescue.azure.plugins.module_utils._vm import get_tag

RECORD_TAG = 'vmrescue-rescue'
COPY_OF_TAG = 'vmrescue-rescue-of'  # on the copy disk: the source VM's name
ORIGINAL_OF_TAG = 'vmrescue-rescue-original-of'  # on the original OS disk once swapped out: the source VM's name
RESCUE_VM_TAG = 'vmrescue-rescue-vm'  # on a rescue VM (and its NIC) this collection created
PURPOSE = 'rescue'
VERSION = 'v1'
MAX_VALUE = 256  # Azure's limit of a tag value
PHASES = ('copied', 'attached', 'unlocked', 'repaired', 'detached', 'swapped', 'restored', 'rolled_back', 'cleaned')
# The order of the forward flow (rolled_back and cleaned end a rescue; they are not "further" than restored).
FORWARD = ('copied', 'attached', 'unlocked', 'repaired', 'detached', 'swapped', 'restored')
_FIELDS = (('c', 'copy'), ('o', 'original'), ('r', 'rescue_vm'), ('g', 'rescue_group'), ('l', 'lun'), ('a', 'action'))
_STAMP = '%Y-%m-%dT%H:%M:%SZ'
_SAFE = re.compile(r'^[A-Za-z0-9_.()-]+$')


def _now():
    return datetime.datetime.now(datetime.UTC).strftime(_STAMP)


@dataclasses.dataclass(frozen=True)
class Record:
    """One rescue's state as recorded on its source VM."""

    phase: str
    when: str
    copy: str | None = None
    original: str | None = None
    rescue_vm: str | None = None
    rescue_group: str | None = None
    lun: int | None = None
    action: str | None = None

    def with_phase(self, phase, when=None, **changes):
        return dataclasses.replace(self, phase=phase, when=when or _now(), **changes)

    def at_least(self, phase):
        """Whether the forward flow got to ``phase`` (False for rolled_back / cleaned records)."""
        if self.phase not in FORWARD or phase not in FORWARD:
            return False
        return FORWARD.index(self.phase) >= FORWARD.index(phase)


def _body(record):
    parts = [VERSION, '%s@%s' % (record.phase, record.when)]
    for short, name in _FIELDS:
        value = getattr(record, name)
        if value is not None and value != '':
            parts.append('%s=%s' % (short, value))
    return ';'.join(parts)


def encode(record, key=None, resource_id=None):
    """The tag value of ``record`` (sealed with ``key`` for ``resource_id``); a TaskError when it would not fit."""
    if record.phase not in PHASES:
        raise ValueError('unknown rescue phase %r' % record.phase)
    for _short, name in _FIELDS:
        value = getattr(record, name)
        if value is not None and not _SAFE.match(str(value)):
            raise TaskError('the rescue record cannot hold %s %r' % (name, value), reason_code='invalid_input')
    body = _body(record)
    if key is not None:
        body += ';m=' + seal(key, resource_id, PURPOSE, record.when, body)
    if len(body) > MAX_VALUE:
        raise TaskError(
            'the rescue record (%d characters) does not fit a tag value (%d): shorten the rescue VM or its resource '
            'group name' % (len(body), MAX_VALUE),
            reason_code='record_too_long',
        )
    return body


def parse(value):
    """``(Record, mac or None)`` of a tag value, or ``(None, None)`` when it does not parse."""
    if not isinstance(value, str):
        return None, None
    body, _sep, mac = value.partition(';m=')
    parts = body.split(';')
    if len(parts) < 2 or parts[0] != VERSION:
        return None, None
    phase, _at, when = parts[1].partition('@')
    try:
        datetime.datetime.strptime(when, _STAMP)
    except ValueError:
        return None, None
    if phase not in PHASES:
        return None, None
    names = dict(_FIELDS)
    fields = {}
    for part in parts[2:]:
        short, eq, val = part.partition('=')
        if not eq or short not in names:
            return None, None
        fields[names[short]] = val
    if 'lun' in fields:
        if not fields['lun'].isdigit():
            return None, None
        fields['lun'] = int(fields['lun'])
    return Record(phase=phase, when=when, **fields), (mac or None)


def check(tags, key, resource_id):
    """``(record, None)`` to act on, ``(None, why)`` for an untrusted one, ``(None, None)`` for none."""
    value = get_tag(tags, RECORD_TAG)
    if value is None:
        return None, None
    record, mac = parse(value)
    if record is None:
        return None, 'it does not parse as a rescue record'
    why = distrust(key, resource_id, PURPOSE, record.when, value.partition(';m=')[0], mac)
    if why:
        return None, why
    return record, None
