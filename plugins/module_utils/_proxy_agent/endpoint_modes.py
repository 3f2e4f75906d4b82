# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metadata Security Protocol endpoint settings: break-glass and restore (private: may change without notice).

What it does: converge ``securityProfile.proxyAgentSettings`` (``enabled``, ``wireServer`` / ``imds``
HostEndpointSettings, ``addProxyAgentExtension``) of a VM or Uniform scale-set instance, recording the settings
from before the first change **on the resource itself** (``settings_record.RECORD_TAG``) so that
``state: restored`` puts them back from any controller; then confirm that the guest applied the new modes (its
``secureChannelState``).

The write path is ``_vm``'s (PATCH for a VM, GET + PUT with If-Match for an instance, 409/412 re-decide, tags merged,
never replaced); the confirmation is ``reads.agent_status_steps`` (``_confirm.wait_steps``) with the batch's
``ConfirmTiming``, like the key reset.

Public names:

- The options and ``validate(params)`` (bad input refused before any call) are ``endpoint_options``.
- ``run_steps(client, target, params, check_mode=False, diff=False, sleep=..., clock=..., shared=None)`` (a step
  generator: yields seconds until its next read, returns the result dict); ``run(...)`` the same in this thread.
- ``confirm_steps(client, target, want, before, wait_timeout, clock=..., timing=None)``.
- ``task_spec()``: the module's TaskSpec.
- Every result carries the per-target ``outcome`` of ``_errors.outcome`` (reason codes in ``_errors.REASON_CODES``).

The settings' normal form and their record tag are ``settings_record``; whether a recorded restore may run (a tag
is a claim: trust under ``record_key``, the VM still in break-glass, no weakening without ``allow_weaker_restore``;
the run report of ``restore_from`` as the trusted source) is ``restore_gate``.
"""

from __future__ import annotations

import copy
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, drive
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.endpoint_options import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    validate,
    write_plan,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.reads import agent_status_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.restore_gate import (
    check_restore,
    report_record,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.settings_record import (
    ENDPOINTS,
    RECORD_TAG,
    TAG_VALUE_MAX,
    encode_record,
    endpoint_equal,
    equal,
    normalize,
    record_of,
    same_ref,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import (
    parse_agent_status,
    parse_secure_channel_state,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import hide_mac, resolve_key
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

# addProxyAgentExtension is a member from api-version 2025-04-01 (spec pack excerpt); read and written with it.
ADD_EXTENSION_API_VERSION = '2025-04-01'


# -- deciding --------------------------------------------------------------------------------------------------
def _desired(current, params):
    """The normalized settings ``params`` ask for, from ``current``."""
    want = copy.deepcopy(current)
    if params.get('enabled') is not None:
        want['enabled'] = params['enabled']
    for name, _key in ENDPOINTS:
        if params.get(name + '_mode') is not None:
            want[name] = dict(mode=params[name + '_mode'], profile_reference_id=None)
        elif params.get(name + '_profile_reference_id') is not None:
            want[name] = dict(mode=None, profile_reference_id=params[name + '_profile_reference_id'])
    if params.get('add_proxy_agent_extension') is not None:
        want['add_proxy_agent_extension'] = params['add_proxy_agent_extension']
    return want


def _settings_patch(current, want, restoring):
    """The nested proxyAgentSettings change from ``current`` to ``want`` (None values remove a field)."""
    patch = {}
    if want['enabled'] != current['enabled']:
        patch['enabled'] = want['enabled']
    for name, key in ENDPOINTS:
        if endpoint_equal(current[name], want[name]) or (want[name] is None and not restoring):
            continue
        ep = want[name] or {}
        patch[key] = {
            'mode': ep.get('mode') or None,
            'inVMAccessControlProfileReferenceId': ep.get('profile_reference_id') or None,
        }
    add = want.get('add_proxy_agent_extension')
    if add is not None and add != current.get('add_proxy_agent_extension'):
        patch['addProxyAgentExtension'] = add
    elif add is None and restoring and current.get('add_proxy_agent_extension'):
        patch['addProxyAgentExtension'] = False  # recorded absent (off); a PATCH cannot remove a boolean
    return patch


def _refuse(view, params, current, want):
    """Refusals that need the resource: MSP off, Windows-only / Linux-only fields, an unrecordable state."""
    target = view.target
    ost = view.os_type
    modes_asked = any(params.get(n + s) is not None for n, _k in ENDPOINTS for s in ('_mode', '_profile_reference_id'))
    if modes_asked and not want['enabled']:
        raise TaskError(
            'the Metadata Security Protocol is not enabled on %s (securityProfile.proxyAgentSettings.'
            'enabled is not true), so its endpoint modes cannot be set. Add enabled: true to turn it on '
            '(on Windows this installs the ProxyAgentWindows extension; on Linux the agent comes with the '
            'image or with add_proxy_agent_extension: true)' % target.display,
            id=target.id,
            proxy_agent_enabled=False,
            os_type=ost,
            reason_code='msp_not_enabled',
        )
    if params.get('add_proxy_agent_extension') is not None and ost == 'Windows':
        raise TaskError(
            'add_proxy_agent_extension applies to Linux only (%s is Windows: enabled: true installs the '
            'ProxyAgentWindows extension there); leave it out for Windows targets' % target.display,
            id=target.id,
            os_type=ost,
            reason_code='linux_only',
        )


def _record_change(view, current, want, record, key):
    """Tag updates that record ``current`` (the settings before) and ``want`` (written); a version 2 record this run
    may keep (not distrusted) keeps its settings before and takes the new ones written. TaskError when it cannot be
    recorded."""
    target = view.target
    if record is not None and (record['version'] == 1 or record['before'] is None) and record['trusted'] is None:
        return {}  # an old record without a key: kept as it is (restored as a version 1 record)
    before = record['before'] if record is not None and record['trusted'] is not False else current
    text = encode_record(before, want, target.subscription_id, target.id, key)
    if len(text) > TAG_VALUE_MAX:
        raise TaskError(
            'the settings of %s do not fit in one tag value (%d characters, Azure allows %d): the %s '
            'record that state: restored needs cannot be written, so nothing was changed. Profile '
            'references in another subscription take the most room; note the settings (returned as '
            'before) and set them by hand' % (target.display, len(text), TAG_VALUE_MAX, RECORD_TAG),
            id=target.id,
            before=current,
            reason_code='record_too_long',
        )
    if record is None and len(view.tags) >= _vm.MAX_TAGS:
        raise TaskError(
            '%s already has %d tags (the Azure limit): the %s record that state: restored needs cannot '
            'be written, so nothing was changed. Remove a tag and re-run'
            % (target.display, len(view.tags), RECORD_TAG),
            id=target.id,
            before=current,
            reason_code='too_many_tags',
        )
    return {RECORD_TAG: text}


def _change(current, want, tags, restoring):
    patch = _settings_patch(current, want, restoring)
    props = {'securityProfile': {'proxyAgentSettings': patch}} if patch else {}
    if not props and not tags:
        return None
    return _vm.Change(properties=props, tags=tags)


# -- confirmation ----------------------------------------------------------------------------------------------
def _applied(agent, want):
    """True when the agent's secureChannelState / rule ids show ``want``'s endpoint settings."""
    kls = (agent or {}).get('key_latch_status') or {}
    states = kls.get('states') or {}
    scs = parse_secure_channel_state(states.get('secureChannelState'))
    for name, rule_key, scs_key in (('wire_server', 'wireServerRuleId', 'wireserver'), ('imds', 'imdsRuleId', 'imds')):
        ep = want.get(name) or {}
        if ep.get('mode') and scs.get(scs_key) != ep['mode']:
            return False
        if ep.get('profile_reference_id') and not same_ref(states.get(rule_key), ep['profile_reference_id']):
            return False
    return True


def confirm_steps(client, target, want, before, wait_timeout, clock=time.monotonic, timing=None):
    """Read ``GET vm?$expand=instanceView`` until the guest reports ``want``'s modes (``agent_status_steps``).
    Returns (confirmed, agent)."""

    def failed(_view):
        return TaskError(
            'the endpoint settings were accepted for %s but the update failed (provisioningState '
            'Failed)' % target.display,
            changed=True,
            id=target.id,
            reason_code='provisioning_failed',
        )

    def stopped(power):
        return TaskError(
            '%s stopped (power state %s) while waiting for the guest to apply the endpoint modes'
            % (target.display, power),
            changed=True,
            id=target.id,
            reason_code='not_running',
        )

    confirmed, agent, _power = yield from agent_status_steps(
        client,
        target,
        before,
        lambda agent: _applied(agent, want),
        wait_timeout,
        on_failed=failed,
        on_stopped=stopped,
        clock=clock,
        timing=timing,
    )
    return confirmed, agent


def _channel(agent):
    return (((agent or {}).get('key_latch_status') or {}).get('states') or {}).get('secureChannelState')


# -- the module ------------------------------------------------------------------------------------------------
def run(ctx, sleep=time.sleep, clock=time.monotonic):
    """``run_steps`` in this thread."""
    return drive(run_steps(ctx, sleep=sleep, clock=clock), sleep)


def run_steps(ctx, sleep=time.sleep, clock=time.monotonic):
    """``_steps`` with an ARM error turned into a failed result for this target (its outcome from the error's code)."""
    try:
        return (yield from _steps(ctx, sleep=sleep, clock=clock))
    except ArmError as err:
        raise TaskError(
            err.describe(), id=ctx.target.id, changed=False, reason_code=err.reason_code, **err.result_fields()
        )


def _steps(ctx, sleep=time.sleep, clock=time.monotonic):
    """The proxy_agent_settings behaviour for one target as a step generator (see ``key_reset.run_steps``).

    ``ctx``: the target's ``_task.RunContext`` (the task was validated once, by ``endpoint_options.validate``).
    Reads: one GET of the model with its instance view (api-version 2025-04-01 when add_proxy_agent_extension is
    given), then (wait: true) the confirmation reads. Writes: one PATCH (VM) or PUT (instance) with If-Match that
    carries the settings and, on the first change, the record tag.
    """
    client, target, params, check_mode = ctx.client, ctx.target, ctx.params, ctx.check_mode
    shared = ctx.shared
    restoring = (params.get('state') or 'present') == 'restored'
    wait = params.get('wait', True)
    api_version = ADD_EXTENSION_API_VERSION if params.get('add_proxy_agent_extension') is not None else API_VERSION
    view = _vm.read_view(client, target, instance_view=True, api_version=api_version)
    decided = {}
    decide = _decider(params, restoring, decided)
    change = decide(view)
    agent_before = parse_agent_status(view.instance_view)
    result = _first_result(target, change, decided, agent_before)
    if change is None:
        return _unchanged(target, result, decided, agent_before, restoring)
    if check_mode:
        result['outcome'] = outcome(
            'skipped',
            'check_mode',
            'check mode: would change %s' % ', '.join(_changed_fields(decided['current'], result['after'])),
        )
        return result

    last_view, written = _write(client, view, change, decide, decided, wait, sleep)
    if written is None:  # another run wrote the same meanwhile
        result.update(
            changed=False,
            after=decided['current'],
            recorded=None,
            outcome=outcome(
                'unchanged',
                'written_by_another_run',
                "another run wrote these settings between this run's read and its write",
            ),
        )
        return result
    if written is not change:
        result['before'], result['after'] = decided['current'], decided['want']
        result['recorded'] = hide_mac(written.tags.get(RECORD_TAG)) or None
    unconfirmed = _not_confirmed_by_guest(target, decided, last_view, agent_before, wait)
    if unconfirmed is not None:
        result.update(unconfirmed)
        return result
    return (yield from _confirm_written(client, target, result, decided['want'], agent_before, params, clock, shared))


def _decider(params, restoring, decided):
    """``decide(view) -> _vm.Change or None`` for ``_vm.update``; each decision is kept in ``decided`` (current,
    want, record (the settings restored or recorded before), refusal, warnings, report)."""
    key = resolve_key(params.get('record_key'))

    def decide(v):
        current = normalize(v.settings)
        record, _text = record_of(v, key)
        decided.update(current=current, want=current, refusal=None, warnings=[])
        if restoring:
            return _decide_restore(v, params, record, decided)
        want = _desired(current, params)
        _refuse(v, params, current, want)
        decided.update(want=want, record=(record or {}).get('before'))
        if equal(current, want):
            return None
        return _change(current, want, _record_change(v, current, want, record, key), False)

    return decide


def _decide_restore(view, params, tag_record, decided):
    """The restore's change (None: nothing to write, ``decided['refusal']`` says why when refused): the record from
    the run report (``restore_from``; the tag then a cross-check) or from the tag, through ``restore_gate``."""
    current, record = decided['current'], tag_record
    if params.get('restore_from'):
        record = report_record(params['restore_from'], view.target)
        decided['report'] = params['restore_from']
        decided['warnings'].extend(_cross_check(view.target, record, tag_record))
    decided['record'] = (record or {}).get('before')
    if record is None:
        return None
    refusal, warnings = check_restore(record, current, params, view.target)
    decided['warnings'].extend(warnings)
    if refusal is not None:
        decided['refusal'] = refusal
        return None
    want = dict(record['before'])
    if want.get('add_proxy_agent_extension') is None and current.get('add_proxy_agent_extension') is None:
        want['add_proxy_agent_extension'] = None
    decided['want'] = want
    tags = {RECORD_TAG: None} if tag_record is not None else {}
    return _change(current, want, tags, True)


def _cross_check(target, report, tag):
    """Warnings when the tag does not hold what the run report says the run recorded (the report is trusted)."""
    if (
        report is None
        or tag is None
        or (tag.get('before'), tag.get('written')) == (report['before'], report['written'])
    ):
        return []
    return [
        'the %s tag on %s does not hold the record of the run report (record_cross_check: mismatch): the report is '
        'restored, the tag is removed' % (RECORD_TAG, target.display)
    ]


def _first_result(target, change, decided, agent_before):
    """The result as decided from the first read (before any write)."""
    current, want = decided['current'], decided['want']
    result = dict(
        changed=change is not None,
        id=target.id,
        before=current,
        after=want if change else current,
        recorded=None,
        record=decided['record'],
        confirmed=False,
        secure_channel_state=_channel(agent_before),
    )
    if change is not None and change.tags.get(RECORD_TAG):
        result['recorded'] = hide_mac(change.tags[RECORD_TAG])
    if decided['warnings']:
        result['warnings'] = list(decided['warnings'])
    # always: the run report's before / after; the runner drops it without --diff
    result['diff'] = dict(before_header=target.id, after_header=target.id, before=current, after=result['after'])
    return result


def _unchanged(target, result, decided, agent_before, restoring):
    """The result when nothing is to be written: no record to restore, or the settings already as asked."""
    if decided['refusal'] is not None:
        result.update(decided['refusal'])
    elif restoring and decided['record'] is None:
        where = 'record in the run report %s' % decided['report'] if decided.get('report') else RECORD_TAG + ' record'
        result['msg'] = (
            '%s has no %s: nothing to restore (it was not switched by this collection, or '
            'was restored already)' % (target.display, where)
        )
        result['outcome'] = outcome('skipped', 'no_record', 'no recorded settings to restore')
    else:
        result['confirmed'] = bool(agent_before.get('json')) and _applied(agent_before, decided['current'])
        result['outcome'] = outcome('unchanged', 'in_state', 'the settings are already as asked')
    return result


def _write(client, view, change, decide, decided, wait, sleep):
    """Write ``change`` on top of ``view`` (deciding again after a lost race); (last view, change written or None).
    An ARM error becomes a TaskError for this target (changed when Azure accepted the write)."""
    target, current = view.target, decided['current']

    def redecide(v):
        return change if v is view else decide(v)

    try:
        last_view, written, _final = _vm.update(client, view, redecide, lro=not wait, sleep=sleep, instance_view=True)
    except ArmError as err:
        if not err.accepted:
            raise TaskError(
                '%s: %s' % (target.display, err.describe()),
                id=target.id,
                changed=False,
                before=current,
                reason_code=err.reason_code,
                **err.result_fields(),
            )
        raise TaskError(
            'the endpoint settings were accepted for %s but the update failed: %s' % (target.display, err.describe()),
            id=target.id,
            changed=True,
            before=current,
            arm_error=err.as_dict(),
            reason_code='update_failed',
        )
    return last_view, written


def _not_confirmed_by_guest(target, decided, last_view, agent_before, wait):
    """The result fields (``outcome``, maybe ``msg``) of a write the guest is not asked to confirm, else None."""
    if not decided['want']['enabled']:
        return dict(outcome=outcome('done', 'msp_disabled', 'MSP is off: there is no guest mode to confirm'))
    if not wait:
        return dict(outcome=outcome('pending', 'not_waited', 'written; the guest was not asked (wait: false)'))
    if last_view.power and last_view.power != 'running':
        return dict(
            outcome=outcome(
                'pending', 'not_running', 'the VM is %s: the guest applies the settings when it runs' % last_view.power
            )
        )
    if not agent_before.get('present') and decided['current']['enabled']:
        # MSP on and no agent status: nothing will report (a guest that was off shows its agent once enabled)
        return dict(
            msg='%s reports no Guest Proxy Agent status: the settings are written (the host applies them) '
            'but the guest cannot confirm them' % target.display,
            outcome=outcome('pending', 'no_agent', 'no proxy agent status in the instance view'),
        )
    return None


def _confirm_written(client, target, result, want, agent_before, params, clock, shared):
    """Wait for the guest to report ``want``'s modes: the result, or a TaskError at the timeout. A step generator."""
    confirmed, agent = yield from confirm_steps(
        client, target, want, agent_before, params.get('wait_timeout', 600), clock=clock, timing=shared
    )
    result['confirmed'] = confirmed
    result['secure_channel_state'] = _channel(agent)
    if confirmed:
        result['outcome'] = outcome('done', 'confirmed', 'the guest reports %s' % result['secure_channel_state'])
        return result
    msg = (
        'the endpoint settings of %s were written (and the previous ones recorded), but the guest did not report '
        'them within %ss (wait_timeout); last secureChannelState: %s'
        % (target.display, params.get('wait_timeout', 600), result['secure_channel_state'] or 'none')
    )
    if not (agent or {}).get('present'):
        msg += (
            '; the guest reports no Guest Proxy Agent status (on Linux the agent comes with the image or with '
            'add_proxy_agent_extension: true)'
        )
    raise TaskError(msg, reason_code='confirm_timeout', **result)


def _changed_fields(a, b):
    out = []
    if a['enabled'] != b['enabled']:
        out.append('enabled')
    for name, _k in ENDPOINTS:
        if not endpoint_equal(a[name], b[name]):
            out.append(name)
    if b.get('add_proxy_agent_extension') is not None and a.get('add_proxy_agent_extension') != b.get(
        'add_proxy_agent_extension'
    ):
        out.append('add_proxy_agent_extension')
    return out or ['the record tag']


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(
        ARGUMENT_SPEC,
        run,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        shared=ConfirmTiming,
        validate=validate,
        steps=run_steps,
        preflight=write_plan,
        name='vmrescue.azure.proxy_agent_settings',
    )
