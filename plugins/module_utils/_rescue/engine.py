# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""offline_rescue: copy an unbootable VM's OS disk, repair the copy on a rescue VM, swap it in, boot; roll back;
clean up (private). One step generator per source VM, run by ``_batch.run_pipelined`` (docs/design.md, the rescue
package): a disk copy, a VM create or a script in progress holds no worker.

Per target: read the truth (``job.Job.read``), refuse what must not be touched before any write (``plan.refusal``;
a VM that boots is left alone), then repeat ``plan.next_step`` and its step (``steps.STEPS``) until ``done``,
reading the truth again after each. Check mode reads and says which step it would take next and the steps after
it (``steps_ahead``: an encrypted copy's ``unlock`` among them). Every result has
``phase``, ``copy_disk_id``, ``original_disk_id``, ``rescue_vm_id``, ``lun``, ``repair``, ``steps`` and ``outcome``.

Public names: ``run_steps(ctx)``, ``run(ctx)``, ``task_spec()``, ``write_plan(params)``, ``summary(results)``.
"""

from __future__ import annotations

import time

from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import drive
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, outcome, secret_values
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.gate import PreflightSkip
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import VM_TYPE, WritePlan
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import resolve_key, untrusted
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import cleanup, fleet, options
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.job import Job
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.plan import next_step, refusal, steps_ahead
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import RECORD_TAG
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import Hub
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.steps import STEPS, rescue_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

MAX_STEPS = 30  # a rescue has at most 10 steps; more means two runs fight over one VM


def _skip(job, code, msg):
    return dict(job.fields(), changed=False, skipped=True, msg=msg, outcome=outcome('skipped', code, msg))


def _gate(job, state):
    """The result of a target the rescue leaves alone before any write, else None."""
    if job.original is None and not job.on_copy:
        return _skip(job, 'not_found', '%s has no managed OS disk this collection can copy' % job.target.display)
    started = job.on_copy or job.copy is not None
    if state == 'rolled_back' and not started:
        msg = 'no rescue of %s to roll back (its OS disk is the original and no copy exists)' % job.target.display
        return dict(job.fields(), changed=False, msg=msg, outcome=outcome('unchanged', 'no_rescue', msg))
    if state != 'restored' or started:
        return None
    wanted = options.action_os(job.params.get('action'))
    if wanted and job.view.os_type and job.view.os_type != wanted:
        msg = '%s runs %s: action %s is for %s disks. Skipped before any write.' % (
            job.target.display, job.view.os_type, job.params['action'], wanted)  # fmt: skip
        return _skip(job, 'wrong_os', msg)
    found = refusal(job.view.model, job.original)
    if found is not None:
        return _skip(job, found[0], found[1])
    if job.encryption is not None and job.params.get('rescue_vm_id'):
        msg = ('the OS disk of %s uses Azure Disk Encryption: its copy is unlocked on a rescue VM this collection '
               'creates (the ADE extension with the disk\'s Key Vault is installed on it), not on rescue_vm_id. Omit '
               'rescue_vm_id. Skipped before any write.' % job.target.display)  # fmt: skip
        return _skip(job, 'rescue_vm_unusable', msg)
    facts = job.facts(state)
    if facts.power == 'running' and facts.agent_ready:
        msg = '%s boots (running, VM agent Ready): left alone' % job.target.display
        return dict(job.fields(), changed=False, msg=msg, outcome=outcome('unchanged', 'vm_boots', msg))
    if facts.power != 'running':
        return _skip(
            job,
            'not_running',
            '%s is %s: start it first, so that a VM that boots is told from one that does '
            'not (a rescue swaps its OS disk)' % (job.target.display, facts.power or 'in an unknown state'),
        )
    return None


def _finish(job, state, before):
    """The result of a target whose steps reached ``done``."""
    if state == 'restored' and (job.record is None or job.record.phase != 'restored'):
        job.write_record('restored')
    elif state == 'rolled_back' and job.record is not None and job.record.phase != 'rolled_back':
        job.write_record('rolled_back')
    after = job.snapshot()
    what = 'boots on its repaired OS disk' if state == 'restored' else 'runs on its original OS disk again'
    if job.changed:
        msg = '%s %s (%s)' % (job.target.display, what, ', '.join(job.done_steps) or 'record')
        result = dict(job.fields(), changed=True, msg=msg, outcome=outcome('done', 'changed', msg))
    else:
        msg = '%s already %s: nothing to do' % (job.target.display, what)
        result = dict(job.fields(), changed=False, msg=msg, outcome=outcome('unchanged', 'unchanged', msg))
    result['diff'] = dict(before=before, after=after)
    return result


def _check_mode(job, state, before):
    step = next_step(job.facts(state))
    if step == 'done':
        return _finish_check(job, state, before)
    ahead = steps_ahead(step, job.encryption is not None) if state == 'restored' else [step]
    msg = 'would %s next for %s (check mode: nothing written; then %s)' % (
        step, job.target.display, ', '.join(ahead[1:]) or 'nothing')  # fmt: skip
    after = dict(before, phase=step, steps=ahead)
    return dict(job.fields(), changed=True, next_step=step, steps_ahead=ahead, msg=msg,
                diff=dict(before=before, after=after), outcome=outcome('done', 'check_mode', msg))  # fmt: skip


def _finish_check(job, state, before):
    msg = '%s: nothing to do (check mode)' % job.target.display
    return dict(job.fields(), changed=False, next_step='done', msg=msg, diff=dict(before=before, after=before),
                outcome=outcome('unchanged', 'unchanged', msg))  # fmt: skip


def _flow(job, state):
    job.read()
    before = job.snapshot()
    skipped = _gate(job, state)
    if skipped is not None:
        return skipped
    if fleet.planned(job.params):  # before any write: how many rescue VMs, and their vCPU quota (fleet.py)
        needs_lun = next_step(job.facts(state)) in fleet.PLAN_STEPS
        yield from fleet.arrive(job, rescue_spec(job) if needs_lun else None)
    if job.ctx.check_mode:
        return _check_mode(job, state, before)
    for _count in range(MAX_STEPS):
        step = next_step(job.facts(state))
        if step == 'done':
            return _finish(job, state, before)
        yield from STEPS[step](job)
        job.done_steps.append(step)
        job.read()
    raise VmrescueError('the rescue of %s did not settle after %d steps (another run writes it?): run again'
                        % (job.target.display, MAX_STEPS), reason_code='conflict')  # fmt: skip


def run_steps(ctx):
    """One source VM's rescue (module docstring) as a step generator; returns its result."""
    params = ctx.params
    hub = ctx.shared if isinstance(ctx.shared, Hub) else Hub()
    job = Job(ctx, hub, resolve_key(params.get('record_key')))
    try:
        if params['state'] == 'cleaned':
            result = yield from cleanup.clean(job)
        else:
            result = yield from _flow(job, params['state'])
    except PreflightSkip:
        raise
    except VmrescueError as exc:
        secrets = secret_values(params, [params.get('rescue_admin_password'), params.get('record_key')])
        result = exc.to_result(secrets)
        for key, value in job.fields().items():
            result.setdefault(key, value)
        result['changed'] = job.changed
    finally:
        fleet.leave(job)  # a target that ended before the plan still counts as arrived
    if getattr(job, 'wave', None):
        result['rescue_wave'] = job.wave
    if job.untrusted:
        result['record_check'] = untrusted(job.target.display, RECORD_TAG, job.untrusted)
    if job.warnings:
        result.setdefault('warnings', []).extend(job.warnings)
    return result


def run(ctx):
    return drive(run_steps(ctx), time.sleep)


def write_plan(params):
    """What a rescue writes, for the preflight at each source VM's resource group: the copy disk, the source VM's
    model (OS disk swap, record), its power actions, and (state cleaned) the deletes. The rescue VM's own writes
    (attach, run command, create in ``rescue_resource_group``) are in another scope: see docs/design.md."""
    actions = (
        'Microsoft.Compute/disks/write',
        'Microsoft.Compute/disks/read',
        VM_TYPE + '/write',
        VM_TYPE + '/deallocate/action',
        VM_TYPE + '/start/action',
    )
    if params.get('state') == 'cleaned':
        return WritePlan(
            'offline rescue clean-up', 'DELETE', ('Microsoft.Compute/disks/delete', VM_TYPE + '/write'), ()
        )
    return WritePlan('offline rescue', 'PATCH', actions, ())


def summary(results):
    """The batch line: how many were rescued, rolled back, left alone, failed."""
    counts = {}
    for result in results:
        code = (result.get('outcome') or {}).get('reason_code') or 'unknown'
        counts[code] = counts.get(code, 0) + 1
    return '%d VM(s): %s' % (len(results), ', '.join('%s %d' % (k, v) for k, v in sorted(counts.items())))


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(
        options.ARGUMENT_SPEC,
        run,
        mutually_exclusive=options.MUTUALLY_EXCLUSIVE,
        required_together=options.REQUIRED_TOGETHER,
        shared=Hub,
        validate=options.validate,
        steps=run_steps,
        summary=summary,
        preflight=write_plan,
        name='vmrescue.azure.offline_rescue',
    )
