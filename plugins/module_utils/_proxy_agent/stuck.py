# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A key reset that does not reach the guest: the verdict ``stuck``, its likely cause and the next remedy (private:
may change without notice).

Pure: no I/O; it imports only ``status``. ``status.classify_health`` says ``pending`` while a reset has not reached
the guest; a pending state ends, here, in one of two ways (issue 24):

- (a) a reset this collection recorded (``key_record``, not contradicted by the guest) ``hold`` seconds ago or more,
  on a running VM whose guest still holds a lower keyIncarnationId, none, or reports no fresh status;
- (b) a reset nobody recorded (the model above the guest's key): the key reset module records its first observation
  (``key_record.observation_value``) and a later run, ``hold`` seconds after it, calls it stuck.

Both become ``stuck`` with the likely cause read from the agent's own status (the GuestProxyAgent status shapes of
azure-facts.md section 1, as ``status`` parses them: the key poll loop STOPPED, the eBPF program or the proxy
listener not RUNNING, "Failed to get key status" (no way to the host), a stale or missing status, a key failure, or an
agent that reports its old key ready) and the next remedy. An observation only ages a pending state: it never makes a
key healthy or unhealthy, never causes a write, a skip or a weakening the model alone would not (a forged, old
observation turns ``pending``, which is not written either, into ``stuck``, which is not written either).

Public names: ``STALE_AFTER``, ``CAUSES`` (cause code -> (remedy code, next step)), ``key_health(settings, agent,
power, record=None, observed=None, now=None, hold=PENDING_HOLD)`` -> the ``health`` dict (``classify_health``'s, with
``stuck`` / ``observed_since`` / ``observe``), ``likely_cause(agent, health, now=None, stale_after=STALE_AFTER)`` ->
(code, text), ``stuck_note(target_display, health)``, ``stuck_summary(model_id, stuck)``.
"""

from __future__ import annotations

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import (
    CLOCK_SKEW,
    KEY_FAILURE_FAMILIES,
    PENDING_HOLD,
    classify_health,
    reported_at,
)

# An agent status older than this (the extension status' time) is stale. The agent itself calls its status file
# stale after 5 minutes (MAX_TIME_BEFORE_STALE_STATUS_SECS); the status then travels through the guest agent
# (a few minutes more), so 15 minutes leaves room for that path.
STALE_AFTER = 900

_BREAK_GLASS = (
    "break-glass: switch the VM's endpoints to Audit so that they stop denying the guest while it has no usable "
    'key (vmrescue.azure.proxy_agent_settings wire_server_mode / imds_mode: Audit; the role proxy_agent_key_recovery '
    'does it for a reset that does not latch with proxy_agent_key_recovery_break_glass=true), then '
    'vmrescue.azure.restore_proxy_agent_settings'
)
_LADDER = (
    'the agent has to run again before any key can latch: restart the VM, then reapply (the recovery ladder, role '
    'vmrescue.azure.recovery_ladder); until then, '
)
_AGAIN = (
    'raise the key once more, recorded (force: true; the role: proxy_agent_key_recovery_reset_unknown=true), and if '
    'that one does not latch either, '
)
# cause code -> (remedy code, next step)
CAUSES = {
    'agent_missing': ('recovery_ladder', _LADDER + _BREAK_GLASS),
    'stale_status': ('recovery_ladder', _LADDER + _BREAK_GLASS),
    'agent_stopped': ('recovery_ladder', _LADDER + _BREAK_GLASS),
    'ebpf_failed': ('recovery_ladder', _LADDER + _BREAK_GLASS),
    'listener_failed': ('recovery_ladder', _LADDER + _BREAK_GLASS),
    'host_unreachable': (
        'recovery_ladder',
        'the guest cannot reach the host for its key: restart, then redeploy (the recovery ladder, role '
        'vmrescue.azure.recovery_ladder); until then, ' + _BREAK_GLASS,
    ),
    'key_failure': ('reset_again', _AGAIN + _BREAK_GLASS),
    'old_key_ready': ('reset_again', _AGAIN + _BREAK_GLASS),
    'unknown': ('reset_again', _AGAIN + _BREAK_GLASS),
}


def _component_down(agent, name):
    detail = (agent.get('components') or {}).get(name)
    if not isinstance(detail, dict):
        return None
    status = str(detail.get('status') or '').upper()
    return (
        None if status == 'RUNNING' else '%s: %s' % (status or 'not reported', str(detail.get('message') or '')[:200])
    )


def _status_cause(agent, now, stale_after):
    """(code, text) when the agent's status itself is missing, stale or stopped, else None."""
    if not agent or not agent.get('present'):
        return (
            'agent_missing',
            'no Guest Proxy Agent status in the instance view: the agent is missing or not reporting',
        )
    if not agent.get('json') or agent.get('stale'):
        return 'stale_status', "the agent's status is stale (%s): the agent is not running or cannot report" % (
            str(agent.get('raw_message') or 'transitioning')[:160]
        )
    when = reported_at(agent)
    if when is not None and (now - when).total_seconds() > stale_after:
        return 'stale_status', "the agent's status is from %s, %d s old: the agent no longer reports" % (
            agent.get('time'),
            int((now - when).total_seconds()),
        )
    kls = agent.get('key_latch_status') or {}
    if str(kls.get('status') or '').upper() == 'STOPPED':
        return 'agent_stopped', "the agent's key poll loop is STOPPED: %s" % str(kls.get('message') or '')[:160]
    return None


def likely_cause(agent, health, now=None, stale_after=STALE_AFTER):
    """(cause code, one line) of a reset that does not reach the guest, from the agent's status (``CAUSES``)."""
    now = now or datetime.datetime.now(datetime.UTC)
    found = _status_cause(agent, now, stale_after)
    if found:
        return found
    if health.get('message_family') == 'stopped':
        return 'agent_stopped', "the agent's key poll loop has exited"
    for name, code, label in (
        ('ebpf', 'ebpf_failed', 'eBPF program'),
        ('listener', 'listener_failed', 'proxy listener'),
    ):
        down = _component_down(agent, name)
        if down:
            return code, 'the agent reports ERROR: its %s is %s' % (label, down)
    message = str(((agent or {}).get('key_latch_status') or {}).get('message') or '')[:200]
    if health.get('message_family') == 'key_status_failed':
        return 'host_unreachable', 'the agent cannot get the key status from the host: %s' % message
    if health.get('message_family') in KEY_FAILURE_FAMILIES:
        return 'key_failure', 'the guest fails on its old key and has not taken the new one: %s' % message
    latched = health.get('latched_key_incarnation_id')
    if health.get('key_guid') and latched is not None:
        return 'old_key_ready', (
            'the agent runs and reports its old key (keyIncarnationId %d) ready: it has not picked up the new one'
            % latched
        )
    return 'unknown', 'the agent reports nothing that explains it (%s)' % (message or 'no key message')


def _usable(entry, model_id, now):
    """``entry`` (a record or an observation) when it is of the model's keyIncarnationId and not dated in the future."""
    if not entry or entry.get('key_incarnation_id') != model_id:
        return None
    if (entry['time'] - now).total_seconds() > CLOCK_SKEW:
        return None
    return entry


def _stuck(h, agent, now, entry, source, hold):
    """``h`` turned into the verdict ``stuck`` (since ``entry``'s time, recorded or first observed)."""
    age = max(0, int((now - entry['time']).total_seconds()))
    code, text = likely_cause(agent, h, now)
    remedy, step = CAUSES[code]
    h['stuck'] = dict(
        since=entry['written_at'], age=age, source=source, hold=hold, cause=code, cause_text=text,
        remedy=remedy, next_step=step,
    )  # fmt: skip
    h.update(verdict='stuck', reset_needed=False, pending_since=None)
    h['reason'] = 'keyIncarnationId %d, %s at %s (%d s ago, more than %d s), has not reached the guest: %s' % (
        h['model_key_incarnation_id'],
        'recorded by this collection' if source == 'record' else 'first observed pending',
        entry['written_at'],
        age,
        hold,
        text,
    )
    return h


def _unlatched(h):
    """The guest does not hold the model's key: a lower keyIncarnationId, none, or no fresh status at all."""
    latched = h['latched_key_incarnation_id']
    return latched is None or latched < h['model_key_incarnation_id']


def key_health(settings, agent, power, record=None, observed=None, now=None, hold=PENDING_HOLD):
    """``status.classify_health`` with the pending state dated and ended (module docstring).

    ``record``: the key reset this collection recorded (``key_record.check_record``); ``observed``: the first
    observation of an unrecorded pending reset (``key_record.check_observation``); ``hold``: seconds after which a
    reset that has not reached the guest is stuck. Adds to the health: ``stuck`` (since, age, source ``record`` /
    ``observation``, hold, cause, cause_text, remedy, next_step) with the verdict ``stuck``; for a pending reset
    dated by an observation ``observed_since``; ``observe`` True when a pending reset has no date yet (the key
    reset records one). A record the guest contradicted (``record_contradicted``) dates the pending state it no longer
    holds up.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    h = classify_health(settings, agent, power, record=record, now=now, hold=hold)
    model_id = h['model_key_incarnation_id']
    if h['verdict'] == 'pending' and not h.get('pending_since'):
        # a record the guest contradicted holds nothing back, yet it still dates the model it wrote
        dated = _usable(record, model_id, now) if h.get('record_contradicted') else None
        seen = _usable(observed, model_id, now) or dated
        if seen is None:
            h['observe'] = True
            return h
        age = max(0, int((now - seen['time']).total_seconds()))
        if age >= hold:
            return _stuck(h, agent, now, seen, 'record' if seen is dated else 'observation', hold)
        h['observed_since'] = seen['written_at']
        h['reason'] += ' (first observed pending at %s, %d s ago; stuck after %d s)' % (seen['written_at'], age, hold)
        return h
    mine = None if h.get('record_contradicted') else _usable(record, model_id, now)
    running = not power or power == 'running'
    if mine is not None and h['verdict'] == 'unknown' and running and _unlatched(h):
        if (now - mine['time']).total_seconds() >= hold:
            return _stuck(h, agent, now, mine, 'record', hold)
    return h


def stuck_note(target_display, health):
    """The message of a stuck reset: what, the likely cause, and the next step."""
    stuck = health['stuck']
    return '%s: the key reset is stuck. %s. Next: %s' % (target_display, health['reason'], stuck['next_step'])


def stuck_summary(model_id, stuck):
    """One line for a summary (the role's reason of a ``key_stuck`` host): ``stuck`` is the health's / result's."""
    return (
        'key reset STUCK: keyIncarnationId %s %s at %s (%s s ago) has not reached the guest; likely cause: %s; next: %s'
        % (
            model_id,
            'recorded' if stuck.get('source') == 'record' else 'first observed pending',
            stuck.get('since'),
            stuck.get('age'),
            stuck.get('cause_text') or stuck.get('cause'),
            stuck.get('next_step'),
        )
    )
