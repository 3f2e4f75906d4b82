# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key reset's answer when a reset is already on its way, or stuck on it (private: may change without notice).

``proxy_agent_key_reset`` does not write a key while one is pending (``status.classify_health``) and reports a reset
that does not reach the guest as ``stuck`` (``stuck.key_health``). This file holds what it then says and the one write
it makes for such a VM: the first observation of a pending reset nobody recorded (``key_record.observation_value``,
sealed like the reset record), so that the next run knows how long it has been pending. That write is bookkeeping:
made only where the run writes no key, never in check mode, reported as ``key_reset_observed`` (not as a change); when
Azure or the preflight refuses it, the target stays pending with a warning.

Public names: ``pending_note(target, health)``, ``stuck_fields(health)``, ``observe(client, view, health, key,
instance_view, sleep) -> (value written or None, warning or None)``, ``result_outcome(result, check_mode=False)``,
``batch_summary(results)``.
"""

from __future__ import annotations

import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.gate import PreflightSkip
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_record import (
    RECORD_TAG,
    observation_value,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import int_or_none
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import hide_mac


def pending_note(target, health):
    """The message of a reset found pending (nothing written)."""
    since = ' since %s' % health['pending_since'] if health.get('pending_since') else ''
    return (
        'a key reset is pending on %s%s: %s. Not writing again; wait for the guest, or use state: reset or '
        'force: true to raise keyIncarnationId anyway' % (target.display, since, health['reason'])
    )


def stuck_fields(health):
    """The result's ``stuck`` (since, age, source, hold, cause, cause_text, remedy, next_step), from the health."""
    return dict(health['stuck'])


def observe(client, view, health, key, instance_view, sleep=time.sleep):
    """Record on the VM the first observation of the pending reset ``health`` describes (``health['observe']``).

    One write through ``_vm.update`` (PATCH of the tags / PUT of the instance, If-Match): after a lost race it is
    decided again and dropped when the model's keyIncarnationId or the tag changed meanwhile. Returns (the value
    written, its seal hidden, or None; a warning or None). Not made when the tag map is full.
    """
    model_id = health['model_key_incarnation_id']
    before = _vm.get_tag(view.tags, RECORD_TAG)
    if before is None and len(view.tags) >= _vm.MAX_TAGS:
        return None, (
            '%s already has %d tags (the Azure limit): the first observation of its pending key reset is not '
            'recorded, so no run can tell how long it has been pending' % (view.target.display, len(view.tags))
        )

    def decide(v):
        same_model = int_or_none(v.settings.get('keyIncarnationId')) == model_id
        if v is not view and (not same_model or _vm.get_tag(v.tags, RECORD_TAG) != before):
            return None
        value = observation_value(model_id, key=key, resource_id=v.target.id)
        return _vm.Change(tags={RECORD_TAG: value})

    try:
        _last, change, _final = _vm.update(client, view, decide, lro=False, sleep=sleep, instance_view=instance_view)
    except (ArmError, PreflightSkip) as err:
        why = err.describe() if isinstance(err, ArmError) else str(err)
        return None, (
            'the first observation of the pending key reset on %s could not be recorded (%s): the next run cannot '
            'tell how long it has been pending' % (view.target.display, why)
        )
    if change is None:
        return None, None
    return hide_mac(change.tags[RECORD_TAG]), None


def result_outcome(result, check_mode=False):
    """The ``outcome`` of a key reset that did not fail (see _errors.outcome)."""
    health = result.get('health') if isinstance(result.get('health'), dict) else {}
    verdict = health.get('verdict')
    if result.get('changed'):
        if check_mode:
            return outcome(
                'pending',
                'check_mode',
                'would raise keyIncarnationId to %s (check mode)' % result.get('key_incarnation_id'),
            )
        if result.get('confirmed'):
            return outcome(
                'done', 'latched', 'keyIncarnationId %s latched by the guest' % result.get('key_incarnation_id')
            )
        return outcome(
            'pending',
            'pending_confirmation',
            'keyIncarnationId raised to %s, not confirmed (wait: false)' % result.get('key_incarnation_id'),
        )
    if verdict == 'pending':
        return outcome('pending', 'pending_confirmation', result.get('msg') or health.get('reason') or '')
    if verdict == 'stuck':
        return outcome('skipped', 'key_stuck', result.get('msg') or health.get('reason') or '')
    if verdict in (None, 'healthy'):
        return outcome(
            'unchanged',
            'unchanged',
            result.get('msg') or 'keyIncarnationId already %s' % result.get('key_incarnation_id'),
        )
    return outcome('skipped', 'key_not_latched', 'key health %s: %s' % (verdict, health.get('reason') or ''))


def batch_summary(results):
    """The batch's ``msg`` when every target only has a reset made earlier, not latched yet (else None)."""
    pending = [r for r in results if 'pending_since' in r and not r.get('changed') and not r.get('failed')]
    if not results or len(pending) != len(results):
        return None
    times = sorted(str(r['pending_since']) for r in pending if r.get('pending_since'))
    since = times[0] if times else 'an unknown time'
    return (
        'all %d target(s) have a key reset pending since %s; nothing to write (the guests latch on '
        'their own); state=reset to force a new reset' % (len(results), since)
    )
