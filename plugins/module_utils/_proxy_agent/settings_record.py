# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MSP endpoint settings as compared, returned and recorded: their normal form and the tag
``vmrescue-msp-previous`` that holds the settings from before break-glass (private: may change without notice).

``endpoint_modes`` records the settings from before its first change on the resource itself, so that
``state: restored`` puts them back from any controller.

Public names: ``MODES``, ``ENDPOINTS``, ``RECORD_TAG``, ``TAG_VALUE_MAX``, ``VERSION``, ``PURPOSE``;
``normalize(settings) -> dict``, ``equal(a, b)``, ``endpoint_equal(a, b)``, ``same_ref(a, b)``;
``encode_settings`` / ``decode_settings`` (one side); ``encode_record(before, written, subscription_id,
resource_id=None, key=None, when=None) -> str``, ``decode_record(text, subscription_id) -> dict`` (raises
ValueError), ``record_of(view, key=None) -> (record, text)``.
"""

from __future__ import annotations

import datetime
import json
import re

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import distrust, seal

MODES = ('Audit', 'Enforce', 'Disabled')
ENDPOINTS = (('wire_server', 'wireServer'), ('imds', 'imds'))

# The record of the settings before break-glass: compact JSON in one tag on the VM / instance. Resource Manager
# limits a tag value to 256 characters; profile references of the VM's own subscription are stored as
# '~<rg>/<gallery>/<profile>/<version>' to fit.
RECORD_TAG = 'vmrescue-msp-previous'
TAG_VALUE_MAX = 256
# Version 2 holds both sides (the settings before break-glass, "b", and those this collection wrote, "s"), the time
# ("t") and, with a record key, the seal ("m"). Version 1 held the settings before only: still read, never trusted
# to lower protection (see restore_gate).
VERSION = 2
PURPOSE = 'msp-previous'
_TIME_RE = re.compile(r'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$')


def normalize(settings):
    """``{enabled, wire_server: {mode, profile_reference_id}, imds: {...}, add_proxy_agent_extension}``."""
    settings = settings or {}
    out = dict(enabled=bool(settings.get('enabled')))
    for name, key in ENDPOINTS:
        ep = settings.get(key)
        if isinstance(ep, dict):
            out[name] = dict(
                mode=ep.get('mode') or None, profile_reference_id=ep.get('inVMAccessControlProfileReferenceId') or None
            )
        else:
            out[name] = None
    out['add_proxy_agent_extension'] = settings.get('addProxyAgentExtension')
    return out


def same_ref(a, b):
    return (a or '').lower() == (b or '').lower()


def endpoint_equal(a, b):
    a, b = a or {}, b or {}
    return (a.get('mode') or None) == (b.get('mode') or None) and same_ref(
        a.get('profile_reference_id'), b.get('profile_reference_id')
    )


def equal(a, b):
    return (
        a['enabled'] == b['enabled']
        and all(endpoint_equal(a[n], b[n]) for n, _k in ENDPOINTS)
        and (
            b.get('add_proxy_agent_extension') is None
            or a.get('add_proxy_agent_extension') == b.get('add_proxy_agent_extension')
        )
    )


_SHORT_RE = re.compile(
    r'^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/'
    r'galleries/(?P<g>[^/]+)/inVMAccessControlProfiles/(?P<p>[^/]+)/versions/(?P<v>[^/]+)$'
)


def _short_ref(ref, subscription_id):
    """``~rg/gallery/profile/version`` for a profile version of the VM's subscription spelled the canonical way,
    ``!sub/rg/gallery/profile/version`` for one of another subscription (version 2 holds two sides: room counts)."""
    match = _SHORT_RE.match(ref or '')
    if not match:
        return ref
    if subscription_id and match.group('sub') == subscription_id:
        return '~' + '/'.join(match.group(k) for k in ('rg', 'g', 'p', 'v'))
    return '!' + '/'.join(match.group(k) for k in ('sub', 'rg', 'g', 'p', 'v'))


def _long_ref(ref, subscription_id):
    if isinstance(ref, str) and ref.startswith('!'):
        return _long_ref('~' + ref[1:].split('/', 1)[-1], ref[1:].split('/', 1)[0]) if '/' in ref else ref
    if isinstance(ref, str) and ref.startswith('~'):
        parts = ref[1:].split('/')
        if len(parts) != 4:
            raise ValueError('bad short profile reference %r' % ref)
        return (
            '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/'
            'inVMAccessControlProfiles/%s/versions/%s' % tuple([subscription_id] + parts)
        )
    return ref


def encode_settings(norm, subscription_id):
    """One side of a record: normalized settings ``norm`` as a compact dict (keys absent when absent)."""
    data = {'e': 1 if norm['enabled'] else 0}
    for name, short in (('wire_server', 'w'), ('imds', 'i')):
        ep = norm.get(name)
        if ep is None:
            continue
        if ep.get('mode'):
            data[short] = ep['mode']
        if ep.get('profile_reference_id'):
            data[short + 'r'] = _short_ref(ep['profile_reference_id'], subscription_id)
        if not ep.get('mode') and not ep.get('profile_reference_id'):
            data[short] = ''
    if norm.get('add_proxy_agent_extension') is not None:
        data['a'] = 1 if norm['add_proxy_agent_extension'] else 0
    return data


def decode_settings(data, subscription_id):
    """Normalized settings from one side of a record; ValueError when it is not one this module wrote."""
    if not isinstance(data, dict) or 'e' not in data:
        raise ValueError('settings without "e"')
    out = dict(enabled=bool(data['e']), add_proxy_agent_extension=None)
    for name, short in (('wire_server', 'w'), ('imds', 'i')):
        if short not in data and short + 'r' not in data:
            out[name] = None
            continue
        mode = data.get(short) or None
        if mode is not None and mode not in MODES:
            raise ValueError('unknown mode %r' % mode)
        out[name] = dict(mode=mode, profile_reference_id=_long_ref(data.get(short + 'r'), subscription_id) or None)
    if 'a' in data:
        out['add_proxy_agent_extension'] = bool(data['a'])
    return out


def _written_side(before, written):
    """The written side, an endpoint equal to the one before spelled ``'='`` (room)."""
    out = dict(written)
    for short in ('w', 'i'):
        same = all(before.get(k) == written.get(k) for k in (short, short + 'r'))
        if same and (short in written or short + 'r' in written):
            out.pop(short + 'r', None)
            out[short] = '='
    return out


def _read_written(data):
    """The written side with its ``'='`` endpoints taken from the side before."""
    side, before = data.get('s'), data.get('b')
    if not isinstance(side, dict) or not isinstance(before, dict):
        raise ValueError('a version 2 record without both sides')
    out = dict(side)
    for short in ('w', 'i'):
        if out.get(short) == '=':
            out.pop(short)
            out.update((k, before[k]) for k in (short, short + 'r') if k in before)
    return out


def _content(data):
    return json.dumps({'b': data['b'], 's': data['s']}, separators=(',', ':'), sort_keys=True)


def encode_record(before, written, subscription_id, resource_id=None, key=None, when=None):
    """The RECORD_TAG value (version 2): the settings ``before`` break-glass and those this collection ``written``,
    the time, and with ``key`` the seal (``record_seal``) over the resource ID, PURPOSE, the time and both sides."""
    when = when or datetime.datetime.now(datetime.UTC)
    data = {
        'v': VERSION,
        'b': encode_settings(before, subscription_id),
        's': _written_side(encode_settings(before, subscription_id), encode_settings(written, subscription_id)),
        't': when.strftime('%Y-%m-%dT%H:%M:%SZ'),
    }
    if key is not None:
        data['m'] = seal(key, resource_id, PURPOSE, data['t'], _content(data))
    return json.dumps(data, separators=(',', ':'), sort_keys=True)


def decode_record(text, subscription_id):
    """``{version, before, written (None in version 1), time, mac, content}`` from a RECORD_TAG value; ValueError
    when it is not one this module wrote. Version 1 (the settings before, nothing else) is still read."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get('v') not in (1, VERSION):
        raise ValueError('not a version 1 or %d record' % VERSION)
    if data['v'] == 1:
        before = decode_settings(data, subscription_id)
        return dict(version=1, before=before, written=None, time=None, mac=None, content=None)
    if not isinstance(data.get('t'), str) or not _TIME_RE.match(data['t']):
        raise ValueError('no time "t"')
    mac = data.get('m')
    if mac is not None and not isinstance(mac, str):
        raise ValueError('a seal "m" that is not text')
    return dict(
        version=VERSION,
        before=decode_settings(data.get('b'), subscription_id),
        written=decode_settings(_read_written(data), subscription_id),
        time=data['t'],
        mac=mac,
        content=_content(data),
    )


def _trust(record, key, resource_id):
    """``record`` with ``trusted`` (None without a key) and ``why`` (when not trusted)."""
    record.update(trusted=None, why=None, source='tag')
    if key is None:
        return record
    mac = record['mac'] if record['version'] != 1 else None  # a v1 record has no seal
    why = distrust(key, resource_id, PURPOSE, record['time'], record['content'], mac or None)
    record.update(trusted=not why, why=why)
    return record


def record_of(view, key=None):
    """(record, raw text) of the record on ``view``, (None, None) without one. ``record``: ``decode_record``'s dict
    with ``trusted`` (True: its seal holds under ``key``; False: it does not, ``why`` says how; None: no key) and
    ``source`` ('tag'). Without a key a record that does not parse is a TaskError (``bad_record``); with one it is
    untrusted (``before`` / ``written`` None)."""
    text = _vm.get_tag(view.tags, RECORD_TAG)
    if text is None:
        return None, None
    try:
        record = decode_record(str(text), view.target.subscription_id)
    except (ValueError, TypeError, KeyError) as exc:
        if key is not None:
            bad = dict(version=None, before=None, written=None, time=None, mac=None, content=None, source='tag')
            return dict(bad, trusted=False, why='it does not parse as a settings record (%s)' % exc), text
        raise TaskError(
            'the %s tag on %s does not hold settings this collection recorded (%s): %r. Fix or remove the '
            'tag by hand (it is the record of the settings before break-glass), then re-run'
            % (RECORD_TAG, view.target.display, exc, str(text)[:100]),
            id=view.target.id,
            reason_code='bad_record',
        )
    return _trust(record, key, view.target.id), text
