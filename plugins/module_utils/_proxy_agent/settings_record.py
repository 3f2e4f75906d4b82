# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MSP endpoint settings as compared, returned and recorded: their normal form and the tag
``vmrescue-msp-previous`` that holds the settings from before break-glass (private: may change without notice).

``endpoint_modes`` records the settings from before its first change on the resource itself, so that
``state: restored`` puts them back from any controller.

Public names: ``MODES``, ``ENDPOINTS``, ``RECORD_TAG``, ``TAG_VALUE_MAX``; ``normalize(settings) -> dict``,
``equal(a, b)``, ``endpoint_equal(a, b)``, ``same_ref(a, b)``; ``encode_record(settings, subscription_id) -> str``,
``decode_record(text, subscription_id) -> dict`` (raises ValueError), ``record_of(view) -> (settings, text)``.
"""

from __future__ import annotations

import json
import re

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError

MODES = ('Audit', 'Enforce', 'Disabled')
ENDPOINTS = (('wire_server', 'wireServer'), ('imds', 'imds'))

# The record of the settings before break-glass: compact JSON in one tag on the VM / instance. Resource Manager
# limits a tag value to 256 characters; profile references of the VM's own subscription are stored as
# '~<rg>/<gallery>/<profile>/<version>' to fit.
RECORD_TAG = 'vmrescue-msp-previous'
TAG_VALUE_MAX = 256


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
    """``~rg/gallery/profile/version`` for a profile version of the VM's subscription spelled the canonical way."""
    match = _SHORT_RE.match(ref or '')
    if (
        match
        and subscription_id
        and match.group('sub').lower() == subscription_id.lower()
        and match.group('sub') == subscription_id
    ):
        return '~' + '/'.join(match.group(k) for k in ('rg', 'g', 'p', 'v'))
    return ref


def _long_ref(ref, subscription_id):
    if isinstance(ref, str) and ref.startswith('~'):
        parts = ref[1:].split('/')
        if len(parts) != 4:
            raise ValueError('bad short profile reference %r' % ref)
        return (
            '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/'
            'inVMAccessControlProfiles/%s/versions/%s' % tuple([subscription_id] + parts)
        )
    return ref


def encode_record(norm, subscription_id):
    """The RECORD_TAG value for normalized settings ``norm``: compact JSON; keys absent when absent."""
    data = {'v': 1, 'e': 1 if norm['enabled'] else 0}
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
    return json.dumps(data, separators=(',', ':'), sort_keys=True)


def decode_record(text, subscription_id):
    """Normalized settings from a RECORD_TAG value; ValueError when it is not one this module wrote."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get('v') != 1 or 'e' not in data:
        raise ValueError('not a version 1 record')
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


def record_of(view):
    """(normalized settings, raw text) of the record on ``view``, (None, None) without one; TaskError if garbled."""
    text = _vm.get_tag(view.tags, RECORD_TAG)
    if text is None:
        return None, None
    try:
        return decode_record(str(text), view.target.subscription_id), text
    except (ValueError, TypeError, KeyError) as exc:
        raise TaskError(
            'the %s tag on %s does not hold settings this collection recorded (%s): %r. Fix or remove the '
            'tag by hand (it is the record of the settings before break-glass), then re-run'
            % (RECORD_TAG, view.target.display, exc, str(text)[:100]),
            id=view.target.id,
            reason_code='bad_record',
        )
