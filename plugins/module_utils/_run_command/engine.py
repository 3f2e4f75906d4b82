# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_command: run a script on a VM or Uniform scale-set instance through Run Command, idempotently (private).

One target, as a step generator (a batch runs many on a few threads, ``_batch.run_pipelined``: a target whose
script runs holds no worker):

1. Read the VM with its instance view: a VM that is not running, that disallows extension operations, or whose VM
   agent is Not Ready is skipped before any write (Run Command is an extension).
2. Read the managed run command ``{vm}/runCommands/{run_command_name}`` with its instance view. Its tag
   ``vmrescue-run-command`` holds the salted fingerprint of the last request this collection sent (``request``,
   ``_fingerprint``). The same request that succeeded: unchanged, its output reported, nothing written. Still
   running (any request): pending, naming it, nothing written (``state: absent`` cancels it). Otherwise one PUT.
3. Wait (``wait``) by reading the run command until its execution state is final: Succeeded is done; Failed /
   TimedOut fail the target with their exit code and output; past ``wait_timeout`` the target is pending (the
   script goes on).
4. A managed run command that failed before its script started (an agent without managed Run Command) falls
   back to the action form ``POST {vm}/runCommand``: one at a time per VM (a 409 "execution is in progress" is a
   pending outcome, never a retry loop), and on Linux no exit code (said in the result).
5. A finished managed run whose ``output_blob_uri`` / ``error_blob_uri`` were given: the controller reads the whole
   streams from the blobs (``blobs.fetch``, at most ``max_output_bytes`` each) into ``stdout_full`` /
   ``stderr_full``. With ``script_reports_change`` the script's last line ``VMRESCUE changed=true|false`` decides
   ``changed`` (``results.apply_report``).

Public names: ``run_steps(ctx)``, ``run(ctx)``, ``task_spec()``, ``write_plan(params)``, ``BatchState``.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._blob import verify_of
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, drive, wait_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._fingerprint import (
    FingerprintCache,
    fingerprint,
    fingerprint_matches,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import (
    run_command_delete,
    run_command_write,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command import blobs, request as rq
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.results import (
    FINAL,
    LINUX_ACTION_NOTE,
    OUTPUT_LIMIT,
    RUNNING,
    action_fields,
    apply_report,
    batch_summary,
    managed_fields,
    never_started,
    result_outcome,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

IN_PROGRESS_WORDS = 'execution is in progress'


class BatchState:
    """Per batch: the fingerprint salt and scrypt cache, the learned wait, the script read once."""

    def __init__(self):
        self.fingerprints = FingerprintCache()
        self.timing = ConfirmTiming()
        self._script = None

    def script(self, params):
        if self._script is None:
            self._script = (rq.script_text(params),)
        return self._script[0]


def _skip(code, msg, **fields):
    return dict(fields, changed=False, skipped=True, msg=msg, outcome=outcome('skipped', code, msg))


def _gate(view, base):
    """The skipped result when the VM read shows that no run command can run (else None)."""
    display = view.target.display
    wanted = base.get('os_type')
    if wanted and view.os_type and view.os_type.lower() != wanted:
        msg = '%s runs %s, not %s (os_type): the script is not for it. Skipped before any write.' % (
            display,
            view.os_type,
            wanted.capitalize(),
        )
        return _skip('wrong_os', msg, **dict((k, v) for k, v in base.items() if k != 'os_type'))
    if view.power and view.power != 'running':
        code = 'deallocated' if view.power == 'deallocated' else 'not_running'
        return _skip(code, '%s is %s: Run Command needs a running VM. Start it first.' % (display, view.power), **base)
    if (view.properties.get('osProfile') or {}).get('allowExtensionOperations') is False:
        msg = (
            '%s does not allow extension operations (osProfile.allowExtensionOperations: false): Azure refuses '
            'run commands on it. Skipped before any write.' % display
        )
        return _skip('extensions_disabled', msg, **base)
    for status in ((view.instance_view or {}).get('vmAgent') or {}).get('statuses') or ():
        if str(status.get('displayStatus', '')).lower() == 'not ready':
            msg = (
                "the VM agent of %s reports 'Not Ready': Run Command cannot run until the agent is Ready. Skipped "
                'before any write. Restart the VM or reapply its goal state, then run again.' % display
            )
            return _skip('agent_not_ready', msg, **base)
    return None


def _path(target, params):
    return '%s/runCommands/%s' % (target.path, quote(params['run_command_name'], safe=''))


def run_steps(ctx, clock=time.monotonic):
    """The run_command behaviour for one target as a step generator (yields seconds to wait; returns the result)."""
    params, target = ctx.params, ctx.target
    shared = ctx.shared if isinstance(ctx.shared, BatchState) else BatchState()
    base = dict(id=target.id, run_command_name=params['run_command_name'], state=params['state'])
    view = _vm.read_view(ctx.client, target, instance_view=True)
    skipped = _gate(view, dict(base, os_type=params.get('os_type')))
    if skipped is not None:
        return skipped
    existing = ctx.client.get(_path(target, params), params={'$expand': 'instanceView'}, missing_ok=True)
    if params['state'] == 'absent':
        return _absent(ctx, existing, base)
    return (yield from _present(ctx, shared, view, existing, base, clock))


def _absent(ctx, existing, base):
    """Remove the run command when this collection created it (its tag says so)."""
    name = base['run_command_name']
    if existing is None:
        return dict(base, changed=False, msg='no run command %s on %s' % (name, ctx.target.display))
    if rq.RECORD_TAG not in (existing.get('tags') or {}):
        msg = 'run command %s on %s was not created by vmrescue.azure (no %s tag): left alone' % (
            name,
            ctx.target.display,
            rq.RECORD_TAG,
        )
        return _skip('not_ours', msg, **base)
    if not ctx.check_mode:
        ctx.client.delete(_path(ctx.target, ctx.params), lro=False)
    state = managed_fields(existing).get('execution_state')
    return dict(base, changed=True, previous_execution_state=state, msg='run command %s removed' % name)


def _decide(existing, canonical, shared, force):
    """'run' | 'rerun' (the resource exists: a new configuration is needed) | 'unchanged' | 'in_progress'."""
    if existing is None:
        return 'run'
    fields = managed_fields(existing)
    if fields['execution_state'] in RUNNING and fields['provisioning_state'] != 'Failed':
        return 'in_progress'
    tag = (existing.get('tags') or {}).get(rq.RECORD_TAG)
    same = fingerprint_matches(tag, canonical, cache=shared.fingerprints)
    if same and fields['execution_state'] == 'Succeeded' and not force:
        return 'unchanged'
    return 'rerun'


def _present(ctx, shared, view, existing, base, clock):
    params, target = ctx.params, ctx.target
    script = shared.script(params)
    canonical = rq.canonical(params, script)
    decision = _decide(existing, canonical, shared, params.get('force'))
    base = dict(base, form='managed')
    if decision == 'unchanged':
        fields = _with_blobs(ctx, managed_fields(existing))
        msg = 'the same request already succeeded on %s (exit code %s): not run again' % (
            target.display,
            fields['exit_code'],
        )
        return dict(base, changed=False, msg=msg, **fields)
    if decision == 'in_progress':
        return _in_progress(target, base, existing)
    if ctx.check_mode:
        return dict(base, changed=True, msg='would run %s on %s' % (base['run_command_name'], target.display))
    tag = fingerprint(canonical, cache=shared.fingerprints)
    location = view.model.get('location') or 'unknown'
    nonce = rq.new_nonce() if decision == 'rerun' else None
    if decision == 'rerun' and script is None:  # a command id cannot change: delete, then create it again
        ctx.client.delete(_path(target, params))
    body = rq.managed_body(params, script, location, tag, nonce=nonce if script is not None else None)
    ctx.client.put(_path(target, params), body, lro=False)
    result = dict(base, changed=True)
    if not params.get('wait', True):
        return dict(
            result, msg='run command %s started on %s (wait: false)' % (base['run_command_name'], target.display)
        )
    return (yield from _wait_managed(ctx, shared, view, result, clock))


def _in_progress(target, base, existing):
    fields = managed_fields(existing)
    msg = (
        'run command %s is still running on %s (execution state %s, started %s): not started again. Wait for '
        'it and run the task again, or remove it with state: absent to stop it.'
        % (base['run_command_name'], target.display, fields['execution_state'], fields['start_time'] or 'not yet')
    )
    return dict(base, changed=False, in_progress=True, running_command=base['run_command_name'], msg=msg, **fields)


def _wait_managed(ctx, shared, view, result, clock):
    """Read the run command until its execution state is final; then the result, or the action-form fallback."""
    path = _path(ctx.target, ctx.params)

    def probe():
        got = ctx.client.get(path, params={'$expand': 'instanceView'})
        fields = managed_fields(got)
        final = fields['execution_state'] in FINAL or fields['provisioning_state'] == 'Failed'
        return final, got

    done, last = yield from wait_steps(probe, ctx.params['wait_timeout'], timing=shared.timing, clock=clock)
    if not done:
        fields = managed_fields(last)
        msg = (
            'run command %s on %s did not end within %ss (wait_timeout); it goes on running (execution state %s). '
            'Run the task again later to read its result.'
            % (result['run_command_name'], ctx.target.display, ctx.params['wait_timeout'], fields['execution_state'])
        )
        return dict(result, in_progress=True, running_command=result['run_command_name'], msg=msg, **fields)
    if never_started(last):
        fields = managed_fields(last)
        note = 'managed run command unavailable on %s (%s): used the action form' % (
            ctx.target.display,
            fields.get('execution_message') or 'it failed before the script started',
        )
        return (yield from _action(ctx, shared, view, result, note, clock))
    return _finish(ctx, _with_blobs(ctx, dict(result, **managed_fields(last))))


def _with_blobs(ctx, result):
    """``result`` with ``stdout_full`` / ``stderr_full`` read from the blobs given (warnings when one cannot be)."""
    limit = ctx.params.get('max_output_bytes') or 0
    truncated = {}
    for option, stream in (('output_blob_uri', 'stdout'), ('error_blob_uri', 'stderr')):
        uri = ctx.params.get(option)
        if not uri or limit <= 0:
            continue
        got = blobs.fetch(uri, limit, verify=verify_of(ctx.client))
        if got.error:
            result.setdefault('warnings', []).append('%s of %s: %s' % (option, ctx.target.display, got.error))
            continue
        result[stream + '_full'] = got.text
        result[stream + '_size'] = got.size
        truncated[stream] = got.truncated
    if truncated:
        tails = dict((s, len((result.get(s) or '').encode('utf-8')) >= OUTPUT_LIMIT) for s in ('stdout', 'stderr'))
        tails.update(truncated)
        result['output_truncated'] = any(tails.values())
    return result


def _finish(ctx, result):
    """The result of a finished run: a failure (TaskError) unless the script succeeded."""
    target = ctx.target
    state = result.get('execution_state')
    if state == 'Succeeded':
        if ctx.params.get('script_reports_change'):
            apply_report(result, target.display)
        result.setdefault('msg', 'run command %s succeeded on %s' % (result['run_command_name'], target.display))
        return result
    if result.get('provisioning_state') == 'Failed' and state in RUNNING:
        raise TaskError(
            'run command %s on %s failed before its script ran (provisioning Failed, execution state %s)'
            % (result['run_command_name'], target.display, state),
            reason_code='provisioning_failed',
            **result,
        )
    code = 'script_timed_out' if state == 'TimedOut' else 'script_failed'
    msg = 'the script of run command %s on %s ended %s with exit code %s. stderr: %s' % (
        result['run_command_name'],
        target.display,
        state,
        result.get('exit_code'),
        (result.get('stderr') or '').strip()[-500:] or '(empty)',
    )
    raise TaskError(msg, reason_code=code, **result)


def _action(ctx, shared, view, result, note, clock):
    """The action form ``POST {vm}/runCommand``: a step generator; the result, pending when another one runs."""
    params, target = ctx.params, ctx.target
    result = dict(result, form='action', fallback_reason=note)
    body = rq.action_body(params, shared.script(params), view.os_type)
    try:
        resp = ctx.client.request('POST', target.path + '/runCommand', body=body, resource_id=target.id)
    except ArmError as err:
        if err.status == 409 and IN_PROGRESS_WORDS in (err.message or '').lower():
            msg = (
                'another Run Command (action form) is running on %s: "%s" Not started; run the task again when '
                'it ended.' % (target.display, err.message)
            )
            return dict(result, changed=False, in_progress=True, running_command='runCommand (action)', msg=msg)
        raise

    def probe():
        status = ctx.client.request('GET', resp.headers.get('Azure-AsyncOperation'), api_version=None).body or {}
        return str(status.get('status', 'InProgress')) != 'InProgress', status

    done, status = yield from wait_steps(probe, params['wait_timeout'], timing=shared.timing, clock=clock)
    if not done:
        msg = 'the action-form run on %s did not end within %ss (wait_timeout); it goes on' % (
            target.display,
            params['wait_timeout'],
        )
        return dict(result, in_progress=True, running_command='runCommand (action)', msg=msg)
    if str(status.get('status')) != 'Succeeded':
        error = status.get('error') or {}
        raise TaskError(
            'the action-form run on %s failed: %s' % (target.display, error.get('message') or status.get('status')),
            reason_code='provisioning_failed',
            **result,
        )
    final = ctx.client.request('GET', resp.headers.get('Location'), api_version=None).body
    result.update(action_fields(final, view.os_type))
    if view.os_type != 'Windows':
        result['warnings'] = [LINUX_ACTION_NOTE]
    return _finish(ctx, result)


def run(ctx):
    """``run_steps`` in the calling thread."""
    return drive(run_steps(ctx), time.sleep)


def run_steps_with_outcome(ctx, **kwargs):
    """``run_steps`` plus the result's ``outcome`` (failures get theirs from the error)."""
    result = yield from run_steps(ctx, **kwargs)
    result.setdefault('outcome', result_outcome(result, ctx.check_mode))
    return result


def run_with_outcome(ctx):
    """``run`` plus the result's ``outcome``."""
    return drive(run_steps_with_outcome(ctx), time.sleep)


def write_plan(params):
    """What the task writes, for the preflight: the run command PUT (or DELETE); the probe names no script text
    and no parameter value."""
    if params.get('state') == 'absent':
        return run_command_delete('run command removal')
    return run_command_write('run command', command_id=params.get('command_id'), run_as_user=params.get('run_as_user'))


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(
        rq.ARGUMENT_SPEC,
        run_with_outcome,
        mutually_exclusive=rq.MUTUALLY_EXCLUSIVE,
        shared=BatchState,
        validate=rq.validate,
        steps=run_steps_with_outcome,
        summary=batch_summary,
        preflight=write_plan,
        name='vmrescue.azure.run_command',
    )
