# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest Proxy Agent key reset: decide, write (via _vm), confirm (private: may change without notice).

Everything here takes ``(client, target, params)`` and never an AnsibleModule, so the same code runs in a
module, in the controller action plugin, or in a batch over many hosts.

Public names:

- ``ARGUMENT_SPEC``, ``MUTUALLY_EXCLUSIVE``, ``REQUIRED_ONE_OF``: the module's own options; ``validate(params)``.
- ``run(client, target, params, check_mode=False, diff=False, sleep=time.sleep, clock=time.monotonic,
  shared=None) -> dict``: the module's whole behaviour; raises ``_arm.TaskError`` / ``_arm.ArmError``;
  ``run_steps(...)`` the same as a step generator (a batch runs many on a few threads).
- ``confirm(...)`` / ``confirm_steps(...)``: wait for the guest to latch a keyIncarnationId.
- ``run_with_outcome``, ``run_steps_with_outcome``: the same with the result's ``outcome``
  (``key_pending.result_outcome``).
- ``task_spec()``: the module's TaskSpec (``shared``: the batch's ``_confirm.ConfirmTiming``).

The key health is ``stuck.key_health`` (``status.classify_health`` with the pending state dated and ended: ``stuck``);
the record of a reset is ``key_record``; what a pending or stuck reset makes the module say and record is
``key_pending``.
"""

from __future__ import annotations

import json
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, drive
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import model_write
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_pending import (
    batch_summary,
    observe,
    pending_note,
    result_outcome,
    stuck_fields,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_record import (
    RECORD_TAG,
    check_observation,
    check_record,
    record_note,
    record_value,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.reads import agent_status_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import (
    classify_health,
    int_or_none,
    parse_agent_status,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.stuck import (
    PENDING_HOLD,
    key_health,
    stuck_note,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import (
    check_key,
    hide_mac,
    resolve_key,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['reset', 'healthy']),
    key_incarnation_id=dict(type='int'),
    force=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=600),
    record_key=dict(type='str', no_log=True),
    stuck_after=dict(type='int', default=PENDING_HOLD),
)
MUTUALLY_EXCLUSIVE = [['state', 'key_incarnation_id']]
REQUIRED_ONE_OF = [['state', 'key_incarnation_id']]

INT32_MAX = 2**31 - 1  # keyIncarnationId is an int32


def _not_enabled(target, model):
    ost = _vm.os_type(model)
    ext = {'Windows': 'ProxyAgentWindows', 'Linux': 'ProxyAgentLinux'}.get(ost, 'ProxyAgentLinux/ProxyAgentWindows')
    return TaskError(
        'the Guest Proxy Agent (Metadata Security Protocol) is not enabled on %s%s: '
        'securityProfile.proxyAgentSettings.enabled is not true, so there is no key to reset. Enable it first '
        '(for example az vm update --enable-proxy-agent true; the agent runs as the %s extension), then re-run.'
        % (target.display, ' (%s)' % ost if ost else '', ext),
        reason_code='msp_not_enabled',
        id=target.id,
        proxy_agent_enabled=False,
        os_type=ost,
    )


# -- write + confirm -----------------------------------------------------------------------------------
def validate(params):
    """Refuse bad input before any call (``TaskSpec.validate``, once per task): a TaskError naming the option and
    the fix."""
    if params.get('state') is None and params.get('key_incarnation_id') is None:
        raise TaskError('one of state or key_incarnation_id is required', reason_code='invalid_input')
    wanted = params.get('key_incarnation_id')
    if wanted is not None and not 0 <= wanted <= INT32_MAX:
        raise TaskError(
            'key_incarnation_id must be between 0 and %d (the field is an int32 that can only be '
            'raised); got %d' % (INT32_MAX, wanted),
            reason_code='invalid_input',
        )
    timeout = params.get('wait_timeout')
    if timeout is not None and timeout <= 0:
        raise TaskError(
            'wait_timeout must be more than 0 seconds (got %d); to return without waiting for the guest '
            'use wait: false' % timeout,
            reason_code='invalid_input',
        )
    stuck_after = params.get('stuck_after')
    if stuck_after is not None and stuck_after <= 0:
        raise TaskError(
            'stuck_after must be more than 0 seconds (got %d): how long a reset may take to reach the guest before '
            'it is reported stuck (default %d)' % (stuck_after, PENDING_HOLD),
            reason_code='invalid_input',
        )
    check_key(params.get('record_key'))


def _key_change(view, desired, warnings, key=None):
    """The write that raises keyIncarnationId to ``desired`` and records it (RECORD_TAG) in the same request."""
    tags = {}
    if _vm.get_tag(view.tags, RECORD_TAG) is not None or len(view.tags) < _vm.MAX_TAGS:
        tags[RECORD_TAG] = record_value(desired, key=key, resource_id=view.target.id)
    elif not warnings:
        warnings.append(
            '%s already has %d tags (the Azure limit): the reset is not recorded in the %s tag, so '
            'another run cannot see it is pending' % (view.target.display, len(view.tags), RECORD_TAG)
        )
    return _vm.Change(properties={'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': desired}}}, tags=tags)


def _failed_provisioning(target, model, view, value):
    """A TaskError carrying the ARM error of a failed provisioning state (from the instance view statuses)."""
    code, message = None, None
    for st in (view or {}).get('statuses') or []:
        c = str(st.get('code', ''))
        if c.lower().startswith('provisioningstate/failed'):
            code = c.split('/', 2)[2] if c.count('/') >= 2 else 'ProvisioningFailed'
            message = st.get('message') or st.get('displayStatus')
    err = ArmError(
        message or 'the update ended with provisioningState Failed',
        code=code or 'ProvisioningStateFailed',
        resource_id=target.id,
    )
    return TaskError(
        'keyIncarnationId %d was accepted for %s but the update failed: %s' % (value, target.display, err.describe()),
        changed=True,
        key_incarnation_id=value,
        arm_error=err.as_dict(),
        provisioning_state=((model or {}).get('properties') or {}).get('provisioningState'),
    )


def confirm(client, target, value, before, wait_timeout, sleep=time.sleep, clock=time.monotonic, timing=None):
    """``confirm_steps`` run in this thread. Returns (confirmed, agent, power)."""
    return drive(confirm_steps(client, target, value, before, wait_timeout, clock=clock, timing=timing), sleep)


def confirm_steps(client, target, value, before, wait_timeout, clock=time.monotonic, timing=None):
    """Read ``GET vm?$expand=instanceView`` until the guest reports keyIncarnationId == value (and a new keyGuid).

    ``agent_status_steps``: a failed update fails the target with its ARM error; the reads are timed by
    ``_confirm.wait_steps`` (the first after what earlier targets of the batch took, later ones backing off), all
    within ``wait_timeout``. ``before``: the agent status parsed before the write. A step generator (yields the
    seconds until its next read) returning (confirmed, agent, power).
    """
    prev_states = ((before or {}).get('key_latch_status') or {}).get('states') or {}
    prev_guid = prev_states.get('keyGuid')
    prev_latched = int_or_none(prev_states.get('keyIncarnationId'))

    def latched(agent):
        states = ((agent.get('key_latch_status') or {}).get('states')) or {}
        if int_or_none(states.get('keyIncarnationId')) != value:
            return False
        guid = states.get('keyGuid')
        return bool(guid and (not prev_guid or guid != prev_guid or prev_latched == value))

    def stopped(power):
        return TaskError(
            '%s stopped (power state %s) while waiting for the guest to latch keyIncarnationId %d'
            % (target.display, power, value),
            reason_code=_power_reason(power),
            changed=True,
            key_incarnation_id=value,
        )

    return (
        yield from agent_status_steps(
            client,
            target,
            before,
            latched,
            wait_timeout,
            clock=clock,
            timing=timing,
            on_stopped=stopped,
            on_failed=lambda view: _failed_provisioning(target, view.model, view.instance_view, value),
        )
    )


def _decide(view, params, need_view):
    """(current, desired or None, agent, health) for one view of the target: the whole decision, no I/O."""
    if not view.settings.get('enabled'):
        raise _not_enabled(view.target, view.model)
    state, wanted, force = params.get('state'), params.get('key_incarnation_id'), params.get('force', False)
    current = int_or_none(view.settings.get('keyIncarnationId')) or 0
    agent = health = None
    if need_view:
        agent = parse_agent_status(view.instance_view)
        key = resolve_key(params.get('record_key'))
        record, distrust = check_record(view.tags, key, view.target.id)
        observed, distrust_seen = check_observation(view.tags, key, view.target.id)
        hold = params.get('stuck_after') or PENDING_HOLD
        health = key_health(view.settings, agent, view.power, record=record, observed=observed, hold=hold)
        if distrust or distrust_seen:
            health['record_untrusted'] = distrust or distrust_seen
    desired = None
    if state == 'reset':
        desired = current + 1
    elif state == 'healthy':
        if health['reset_needed'] or (force and health['verdict'] in ('unknown', 'pending', 'stuck')):
            desired = current + 1
    elif wanted > current:
        desired = wanted
    return current, desired, agent, health


def run(ctx, sleep=time.sleep, clock=time.monotonic):
    """The proxy_agent_key_reset behaviour for one target (``run_steps`` in this thread). Returns the result dict."""
    return drive(run_steps(ctx, sleep=sleep, clock=clock), sleep)


def run_steps(ctx, sleep=time.sleep, clock=time.monotonic):
    """The proxy_agent_key_reset behaviour for one target as a step generator: it yields the seconds to wait
    before its next request (the confirmation reads) and returns the result dict; raises TaskError/ArmError. A
    batch runs many of them on a few threads (``_batch.run_pipelined``): a target waiting for its guest holds none.

    ``ctx``: the target's ``_task.RunContext`` (the task was validated once, by ``validate``); ``ctx.shared``: the
    batch's ``ConfirmTiming`` (None: a fresh one). Reads: one GET of the model with the instance view, then
    (wait: true) the confirmation reads; writes: one PATCH (VM) or PUT (Uniform instance) with If-Match, which also
    writes the RECORD_TAG record (see _vm.update for the re-decision after a 412).
    """
    client, target, params, check_mode = ctx.client, ctx.target, ctx.params, ctx.check_mode
    shared = ctx.shared
    state = params.get('state')
    wait = params.get('wait', True)
    need_view = bool(wait or state == 'healthy')
    view = _vm.read_view(client, target, instance_view=need_view)
    current, desired, agent, health = _decide(view, params, need_view)
    result = _first_result(target, current, desired, agent, health)
    _note_record(target, result, health)
    if desired is None:
        if health is not None and health.get('observe') and not check_mode:
            _observe(client, view, result, health, params, need_view, sleep)
        return _not_writing(target, result, current, health)
    if wait and view.power and view.power != 'running':
        raise _cannot_confirm(target, view.power, current, health)
    if check_mode:
        return result

    decided = dict(current=current, health=health, agent=agent)
    change, warnings = _write(client, view, params, desired, decided, need_view, sleep)
    if warnings:
        result.setdefault('warnings', []).extend(warnings)
    if change is None:  # another run wrote first: its reset is this run's too
        return _written_by_another_run(target, result, decided)
    new = change.properties['securityProfile']['proxyAgentSettings']['keyIncarnationId']
    result['key_incarnation_id'] = new
    if change.tags:
        result['key_reset_record'] = hide_mac(change.tags[RECORD_TAG])
    result['diff']['after'] = {'key_incarnation_id': new}
    if not wait:
        return result
    return (yield from _confirm_written(client, target, view, result, decided, params, clock, shared))


def _note_record(target, result, health):
    """A record set aside (``key_record.record_note``): ``record_check`` and a warning."""
    note = record_note(target.display, health)
    if note is not None:
        result['record_check'] = note
        result.setdefault('warnings', []).append('%s (reason code %s)' % (note['reason'], note['reason_code']))


def _first_result(target, current, desired, agent, health):
    """The result as decided from the first read (before any write)."""
    result = dict(
        changed=desired is not None,
        id=target.id,
        previous_key_incarnation_id=current,
        key_incarnation_id=desired if desired is not None else current,
        key_latch_status=(agent or {}).get('key_latch_status'),
        health=health,
        confirmed=False,
    )
    if health is not None and health['verdict'] == 'pending':
        result['pending_since'] = health.get('pending_since')
    if health is not None and health['verdict'] == 'stuck':
        result['stuck'] = stuck_fields(health)
    result['diff'] = dict(  # always: the run report's before / after; the runner drops it without --diff
        before_header=target.id,
        after_header=target.id,
        before={'key_incarnation_id': current},
        after={'key_incarnation_id': result['key_incarnation_id']},
    )
    return result


def _not_writing(target, result, current, health):
    """The result when nothing is to be written: confirmed when the guest holds the key, why when one is pending."""
    if health is not None:
        latched = health.get('latched_key_incarnation_id')
        result['confirmed'] = latched is not None and latched >= current and health['verdict'] == 'healthy'
        if health['verdict'] == 'pending':
            result['msg'] = pending_note(target, health)
        elif health['verdict'] == 'stuck':
            result['msg'] = stuck_note(target.display, health)
    return result


def _observe(client, view, result, health, params, need_view, sleep):
    """Record the first observation of a pending reset nobody recorded (``key_pending.observe``) into ``result``."""
    key = resolve_key(params.get('record_key'))
    written, warning = observe(client, view, health, key, need_view, sleep=sleep)
    if written:
        result['key_reset_observed'] = written
        health['observed_since'] = written.partition('@')[2].partition('#')[0]
        health['reason'] += ' (first observed pending now, recorded on the VM: stuck if still pending after %d s)' % (
            params.get('stuck_after') or PENDING_HOLD
        )
    if warning:
        result.setdefault('warnings', []).append(warning)


def _cannot_confirm(target, power, current, health):
    """The TaskError for a reset with wait: true on a VM that is not running (nothing written)."""
    return TaskError(
        '%s is %s: the guest cannot latch a new key until it runs, so a reset cannot be confirmed. '
        'Start the VM first, or use wait: false to only raise keyIncarnationId in the model (the '
        'guest latches it when it starts).' % (target.display, power),
        reason_code=_power_reason(power),
        id=target.id,
        changed=False,
        previous_key_incarnation_id=current,
        power_state=power,
        health=health,
    )


def _write(client, view, params, desired, decided, need_view, sleep):
    """Write ``desired`` (and its record) on top of ``view``; (the change written or None, warnings).

    Decides again on every re-read after a lost race (412/409): a reset another run wrote meanwhile is pending for
    this one too, and `state: reset` counts another writer's raise above what it decided on. ``decided`` (current,
    health, agent) is updated to the last decision.
    """
    target, state, current = view.target, params.get('state'), decided['current']
    wait = params.get('wait', True)
    warnings = []
    key = resolve_key(params.get('record_key'))

    def decide(v):
        if v is view:
            return _key_change(v, desired, warnings, key)
        now_current, now_desired, now_agent, now_health = _decide(v, params, need_view)
        decided.update(current=now_current, health=now_health, agent=now_agent)
        if now_desired is None or (state == 'reset' and now_current > current):
            return None
        return _key_change(v, now_desired, warnings, key)

    # wait: true confirms through the instance view (which shows a failed update too), so the LRO status and
    # the final GET are not read; wait: false keeps the ARM LRO semantics (returns when the update finished).
    try:
        _last, change, _final = _vm.update(client, view, decide, lro=not wait, sleep=sleep, instance_view=need_view)
    except ArmError as err:
        if not err.accepted:
            raise
        raise TaskError(
            'keyIncarnationId %d was accepted for %s but the update failed: %s'
            % (desired, target.display, err.describe()),
            reason_code='provisioning_failed',
            id=target.id,
            changed=True,
            previous_key_incarnation_id=current,
            key_incarnation_id=desired,
            arm_error=err.as_dict(),
        )
    return change, warnings


def _written_by_another_run(target, result, decided):
    """The result when another run raised the key between this run's read and its write (nothing written)."""
    now_health = decided['health']
    result.update(
        changed=False,
        key_incarnation_id=decided['current'],
        health=now_health,
        key_latch_status=((decided['agent'] or {}).get('key_latch_status')),
    )
    result['msg'] = (
        "another run raised keyIncarnationId of %s to %d between this run's read and its write: "
        'not raising again' % (target.display, decided['current'])
    )
    if now_health is not None and now_health['verdict'] == 'pending':
        result['pending_since'] = now_health.get('pending_since')
    result['diff']['after'] = {'key_incarnation_id': decided['current']}
    return result


def _confirm_written(client, target, view, result, decided, params, clock, shared):
    """Wait for the guest to latch the key just written: the result with its health, or a TaskError at the timeout
    (the reset stays pending). A step generator."""
    new = result['key_incarnation_id']
    confirmed, last, power = yield from confirm_steps(
        client, target, new, decided['agent'], params.get('wait_timeout', 600), clock=clock, timing=shared
    )
    result['key_latch_status'] = (last or {}).get('key_latch_status')
    result['confirmed'] = confirmed
    if not confirmed:
        last_text = (
            json.dumps(result['key_latch_status'], sort_keys=True)
            if result['key_latch_status']
            else (last or {}).get('raw_message') or 'none'
        )
        result['msg'] = (
            'keyIncarnationId raised to %d on %s, but the guest did not report it within %ss '
            '(wait_timeout); the reset stays pending (a re-run does not raise it again). Last '
            'keyLatchStatus: %s' % (new, target.display, params.get('wait_timeout', 600), last_text)
        )
        raise TaskError(result.pop('msg'), reason_code='timeout', **result)
    view_health = classify_health(dict(view.settings, keyIncarnationId=new), last, power)
    result['health'] = view_health
    return result


def _power_reason(power):
    return 'deallocated' if str(power or '').lower() == 'deallocated' else 'not_running'


def run_steps_with_outcome(ctx, **kwargs):
    """``run_steps`` plus the result's ``outcome`` (failures get theirs from the error, _errors.VmrescueError)."""
    result = yield from run_steps(ctx, **kwargs)
    result['outcome'] = result_outcome(result, ctx.check_mode)
    return result


def run_with_outcome(ctx, **kwargs):
    """``run`` plus the result's ``outcome``."""
    result = run(ctx, **kwargs)
    result['outcome'] = result_outcome(result, ctx.check_mode)
    return result


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(
        ARGUMENT_SPEC,
        run_with_outcome,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
        shared=ConfirmTiming,
        validate=validate,
        steps=run_steps_with_outcome,
        summary=batch_summary,
        preflight=write_plan,
        name='vmrescue.azure.proxy_agent_key_reset',
        shardable=True,  # each VM and its timing (ConfirmTiming) are its subscription's alone
    )


def write_plan(_params):
    """What the task writes, for the preflight: the model write raising keyIncarnationId. The new value differs per
    VM; the probe carries 1 (a policy on particular incarnation numbers would be learnt from the write)."""
    return model_write('key reset', {'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': 1}}})
