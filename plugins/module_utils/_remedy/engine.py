# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_remedy: restart, reapply or redeploy a VM once per hold, then wait for its VM agent (private).

One target is a step generator (``run_steps``) that ``_batch.run_pipelined`` runs like the key reset: a target
waiting for an operation or for its agent holds no worker. Per target: one read of the model with its instance
view; the record (``record.RECORD_TAG``) decides whether the rung was applied inside its hold (then nothing is
written: ``held``, with the record's age); else the record is written first (PATCH / PUT with If-Match through
``_vm.write_request``: two controllers that read the same state never both act, the second re-reads and sees the first's
record; its update polled as steps), then ``POST {vm}/<rung>`` and its operation polled (``_operation.write_steps``), then
the instance view read until the VM agent is Ready with a status reported after the rung and the provisioning state
not Failed (``_confirm.wait_steps``), within ``wait_timeout``: ``recovered`` true / false.

Fresh, not stale: after a restart / reapply / redeploy the instance view can still show the agent's status from
before the rung (its ``time`` is when the agent last reported: Azure/WALinuxAgent tests_e2e agent_status). "Back"
needs ``vmAgent.statuses[0].time`` strictly after ``sent_at``, the controller's UTC clock read just before the
rung's POST (``_operation.write_steps`` ``on_send``: the last attempt, the one accepted). No clock skew is
allowed: a status older than the action is never counted. A controller clock ahead of Azure's can only make a
fresh status look old (``not_recovered``: the safe side; keep the controller on NTP). A status without a time, or
with one that cannot be read, is not back (the message says so).

Refused before any call (``validate``): ``redeploy`` without ``allow_disruptive`` (it loses the temporary disk).
Per target, before any write: ``reapply`` on a Uniform scale-set instance (Azure has none), a VM that does not run.

Public names: ``ARGUMENT_SPEC``, ``validate(params)``, ``run_steps(ctx, now=...)``, ``run(ctx)``,
``write_plan(params)``, ``summary(results)``, ``task_spec()``, ``DISRUPTIVE``.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, drive, wait_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._operation import write_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import INSTANCE_TYPE, VM_TYPE, WritePlan
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import (
    check_key,
    hide_mac,
    resolve_key,
    untrusted,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._remedy.record import (
    RECORD_TAG,
    RUNGS,
    age_seconds,
    check_record,
    last_applied,
    record_value,
    stamp,
    with_rung,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

ARGUMENT_SPEC = dict(
    rung=dict(type='str', required=True, choices=list(RUNGS)),
    allow_disruptive=dict(type='bool', default=False),
    hold=dict(type='int', default=1800),
    wait_timeout=dict(type='int', default=900),
    record_key=dict(type='str', no_log=True),
)
DISRUPTIVE = {
    'redeploy': 'redeploy moves the VM to another Azure host: the temporary disk (/dev/sdb1 or /mnt on Linux, D: on '
    'Windows) is lost with everything on it, dynamic IP addresses may change, and the VM is down for minutes',
}
WHAT = {
    'restart': 'restarted (the guest and its VM agent start again)',
    'reapply': 'reapplied (Azure sends the VM its goal state again)',
    'redeploy': 'redeployed to a new host (the temporary disk was lost)',
}


def _utcnow():
    return datetime.datetime.now(datetime.UTC)


def validate(params):
    """Refuse bad input before any call: a TaskError naming the option and the fix."""
    rung = params.get('rung')
    if rung in DISRUPTIVE and not params.get('allow_disruptive'):
        raise TaskError(
            'rung %s refused: %s. Set allow_disruptive: true to accept that, or stop at a lesser rung '
            '(restart, reapply).' % (rung, DISRUPTIVE[rung]),
            reason_code='invalid_input',
        )
    for option in ('hold', 'wait_timeout'):
        value = params.get(option)
        if value is not None and value <= 0:
            raise TaskError(
                '%s must be more than 0 seconds (got %d)' % (option, value),
                reason_code='invalid_input',
            )
    check_key(params.get('record_key'))


def write_plan(params):
    """What the task writes, for the preflight: the record (the model's tags) and the rung's POST action. POST
    is the method a ReadOnly lock refuses like the tag write; no policy probe (the content is a tag only). A redeploy
    is what a platform-unavailable VM needs (Resource Health then warns); a restart or reapply of one is skipped."""
    rung = params.get('rung') or 'restart'
    return WritePlan(
        'remedy %s' % rung,
        'POST',
        (VM_TYPE + '/write', '%s/%s/action' % (VM_TYPE, rung)),
        (INSTANCE_TYPE + '/write', '%s/%s/action' % (INSTANCE_TYPE, rung)),
        platform_remedy=rung == 'redeploy',
    )


def _state(view):
    """What the result says of the VM as read: power, provisioning state, agent."""
    agent = _vm.agent_status(view.instance_view)
    return dict(
        power_state=view.power,
        provisioning_state=view.provisioning_state,
        vm_agent=dict(
            ready=agent['ready'], status=agent['display_status'], message=agent['message'], time=agent['time']
        ),
    )


def _back(view, sent_at=None):
    """The VM is back: running, its agent Ready and not Failed; with ``sent_at``, a status reported after it."""
    agent = _vm.agent_status(view.instance_view)
    if not (view.power == 'running' and agent['ready'] and not _failed(view)):
        return False
    return sent_at is None or _stale(agent, sent_at) is None


def _stale(agent, sent_at):
    """Why the agent's status may be from before ``sent_at`` (an aware UTC datetime), or None when it is after."""
    raw = agent.get('time')
    if not raw:
        return 'its status has no time, so it cannot be told from a status reported before the rung'
    when = _parse_time(raw)
    if when is None:
        return 'its status time %r cannot be read, so it cannot be told from a status reported before the rung' % raw
    if when <= sent_at:
        return 'its status time %s is not after the rung was sent (%s): a status from before the rung' % (
            raw,
            sent_at.isoformat(),
        )
    return None


def _parse_time(value):
    """An ARM time (``2024-05-01T10:00:00.1234567+00:00``, ``...Z``) as an aware UTC datetime, or None. Digits past
    the microsecond are dropped (the time only gets earlier: the safe side); no offset is read as UTC."""
    text = str(value).strip()
    head, dot, rest = text.partition('.')
    if dot:
        digits = len(rest) - len(rest.lstrip('0123456789'))
        text = '%s.%s%s' % (head, rest[: min(digits, 6)], rest[digits:])
    try:
        when = datetime.datetime.fromisoformat(text.replace('Z', '+00:00').replace('z', '+00:00'))
    except ValueError:
        return None
    return when.replace(tzinfo=datetime.UTC) if when.tzinfo is None else when.astimezone(datetime.UTC)


def _failed(view):
    return str(view.provisioning_state or '').lower() == 'failed'


def _result(target, rung, view, entries):
    record = record_value(entries) if entries else None
    return dict(
        changed=False,
        id=target.id,
        rung=rung,
        held=False,
        recovered=_back(view),
        record=record,
        diff=dict(before_header=target.id, after_header=target.id, before={'record': record}, after={'record': record}),
        **_state(view),
    )


def run(ctx, sleep=time.sleep):
    """``run_steps`` in this thread."""
    return drive(run_steps(ctx), sleep)


def run_steps(ctx, now=_utcnow, clock=time.monotonic):
    """One target: decide from the record, write it, apply the rung, wait for the agent. Returns the result."""
    target, params = ctx.target, ctx.params
    rung = params['rung']
    if rung == 'reapply' and not target.is_vm:
        raise TaskError(
            'reapply does not exist for a Uniform scale-set instance (%s): Azure has VirtualMachines_Reapply for '
            'VMs only. Use rung restart or redeploy.' % target.display,
            reason_code='invalid_target',
            id=target.id,
        )
    key = resolve_key(params.get('record_key'))
    view = _vm.read_view(ctx.client, target, instance_view=True)
    entries, distrust = check_record(view.tags, key, target.id)
    result = _result(target, rung, view, entries)
    if distrust:
        note = untrusted(target.display, RECORD_TAG, distrust)
        result['record_check'] = note
        result.setdefault('warnings', []).append(note['reason'])
    held = _held(entries, rung, params['hold'], now())
    if held is not None:
        return _held_result(result, held, params['hold'])
    if view.power != 'running':
        result['outcome'] = outcome(
            'skipped',
            'not_running',
            '%s is %s: not %s. Start it first (a start is itself the first remedy).'
            % (target.display, view.power, rung),
        )
        return result
    if ctx.check_mode:
        result.update(changed=True)  # recovered: whether the VM is back now
        result['outcome'] = outcome(
            'pending', 'check_mode', 'would apply %s to %s (check mode)' % (rung, target.display)
        )
        return result
    view, written = yield from _write_record(ctx, view, rung, key, now, clock)
    if written is None:
        return _held_result(result, _held(check_record(view.tags, key, target.id)[0], rung, params['hold'], now()),
                            params['hold'], another=True)  # fmt: skip
    result.update(changed=True, record=hide_mac(written), temporary_disk_lost=rung == 'redeploy')
    result['diff']['after'] = {'record': hide_mac(written)}
    sent = {}
    yield from _apply(ctx, rung, written, clock, on_send=lambda: sent.update(at=now()))
    return (yield from _wait_back(ctx, result, clock, sent['at']))


def _held(entries, rung, hold, now):
    """(stamp, age in seconds) of ``rung`` applied less than ``hold`` seconds before ``now``, or None."""
    when = last_applied(entries, rung)
    age = age_seconds(when, now) if when else None
    if age is None or age >= hold:
        return None
    return when, max(age, 0)


def _held_result(result, held, hold, another=False):
    when, age = held if held else (None, None)
    by = "another run applied it between this run's read and its write" if another else 'recorded at %s' % when
    result.update(held=True, applied_at=when, record_age=age)
    status = 'back' if result['recovered'] else 'not back'
    result['msg'] = '%s was applied to %s %ss ago (%s), inside its hold of %ss: not applied again. The VM is %s.' % (
        result['rung'],
        result['id'],
        age,
        by,
        hold,
        status,
    )
    result['outcome'] = outcome('unchanged', 'held', result['msg'])
    return result


def _write_record(ctx, view, rung, key, now, clock):
    """Write the record with ``rung`` (If-Match) and wait for that update as steps, so that the rung's POST does not
    meet the VM busy. On a lost race (412) read again and decide again. (view, value written or None when another
    run recorded the rung inside its hold meanwhile)."""
    client, hold, timeout = ctx.client, ctx.params['hold'], ctx.params['wait_timeout']
    for attempt in range(1, _vm.CONCURRENCY_ATTEMPTS + 1):
        entries, _distrust = check_record(view.tags, key, view.target.id)
        if attempt > 1 and _held(entries, rung, hold, now()) is not None:
            return view, None
        value = record_value(with_rung(entries, rung, stamp(now())), key=key, resource_id=view.target.id)
        method, body = _vm.write_request(view, _vm.Change(tags={RECORD_TAG: value}))
        try:
            yield from write_steps(client, method, view.target.path, body, api_version=view.api_version,
                                   if_match=view.etag, timeout=timeout, clock=clock)  # fmt: skip
            return view, value
        except ArmError as err:
            if err.status != 412 or attempt == _vm.CONCURRENCY_ATTEMPTS:
                raise
            view = _vm.read_view(client, view.target, instance_view=True)
    return view, None


def _apply(ctx, rung, written, clock, on_send=None):
    """POST the rung and wait for its operation (a busy VM, the record's own update, is retried); ``on_send()``
    just before each POST attempt."""
    target = ctx.target
    try:
        yield from write_steps(ctx.client, 'POST', '%s/%s' % (target.path, rung),
                               timeout=ctx.params['wait_timeout'], clock=clock, on_send=on_send)  # fmt: skip
    except ArmError as err:
        if not getattr(err, 'accepted', False):
            raise
        raise TaskError(
            '%s of %s was accepted but its operation failed: %s' % (rung, target.display, err.describe()),
            reason_code='provisioning_failed',
            id=target.id,
            changed=True,
            rung=rung,
            record=hide_mac(written),
            arm_error=err.as_dict(),
        )


def _wait_back(ctx, result, clock, sent_at):
    """Read the instance view until the VM agent is Ready with a status reported after ``sent_at`` (and the
    provisioning state not Failed)."""
    client, target = ctx.client, ctx.target

    def probe():
        view = _vm.read_view(client, target, instance_view=True)
        return _back(view, sent_at), view

    done, view = yield from wait_steps(probe, ctx.params['wait_timeout'], timing=ctx.shared, clock=clock)
    if view is None:
        view = _vm.read_view(client, target, instance_view=True)
    result.update(recovered=bool(done), **_state(view))
    rung = result['rung']
    if done:
        result['msg'] = '%s %s and is back: VM agent Ready, reported after the %s' % (target.display, WHAT[rung], rung)
        result['outcome'] = outcome('done', 'recovered', result['msg'])
        return result
    agent = _vm.agent_status(view.instance_view)
    stale = _stale(agent, sent_at) if agent['ready'] else None
    result['msg'] = (
        '%s %s, but it is not back within %ss (wait_timeout): VM agent %s%s%s, provisioning state %s. The next rung '
        'is the next remedy.'
        % (target.display, WHAT[rung], ctx.params['wait_timeout'], result['vm_agent']['status'] or 'not reported',
           ' (%s)' % result['vm_agent']['message'] if result['vm_agent']['message'] else '',
           ' but %s' % stale if stale else '', result['provisioning_state'])
    )  # fmt: skip
    raise TaskError(result.pop('msg'), reason_code='not_recovered', **result)


def summary(results):
    """The batch line: how many came back, were held, did not come back, failed otherwise."""
    counts = {}
    for item in results:
        code = (item.get('outcome') or {}).get('reason_code') or 'unknown'
        counts[code] = counts.get(code, 0) + 1
    rung = next((r.get('rung') for r in results if r.get('rung')), 'remedy')
    return '%s over %d VM(s): %s' % (rung, len(results), ', '.join('%s %d' % kv for kv in sorted(counts.items())))


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(
        ARGUMENT_SPEC,
        run,
        shared=ConfirmTiming,
        validate=validate,
        steps=run_steps,
        summary=summary,
        preflight=write_plan,
        name='vmrescue.azure.vm_remedy',
    )
