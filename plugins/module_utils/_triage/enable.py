# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module boot_diagnostics: turn boot diagnostics on with managed storage across a fleet (private).

Why: the serial log behind triage exists only while boot diagnostics is on, and only for boots after that
(azure-facts.md section 7). The write (Compute spec 2024-11-01, ``DiagnosticsProfile.bootDiagnostics``: "If
storageUri is not specified while enabling boot diagnostics, managed storage will be used") is the model change
``{"diagnosticsProfile": {"bootDiagnostics": {"enabled": true}}}``, what ``az vm boot-diagnostics enable`` without
``--storage`` sets, sent through ``_vm.update`` (PATCH for a VM, PUT of the instance model for a Uniform instance,
both with If-Match; a lost race is read and decided again).

Per target: one read of the model; already on with managed storage -> ``unchanged``; a custom storage account
(``storageUri`` set, on or off) is left alone -> ``skipped`` / ``custom_storage`` (switching it to managed storage
is the operator's decision, and a PATCH cannot remove ``storageUri``: ARM's PATCH skips null values [inferred];
``az vm boot-diagnostics enable`` does it with a PUT of the whole VM); otherwise one write sent without ARMPolling,
then reads of the model until its ``provisioningState`` is final (``Failed`` fails the target with
``provisioning_failed``). The step generator holds no worker while it waits (``_batch.run_pipelined``).

Public names: ``ARGUMENT_SPEC``, ``ENABLE``, ``validate(params)``, ``current(model) -> dict``, ``run_steps(ctx, clock=...)``,
``run(ctx)``, ``write_plan(params)``, ``summary(results)``, ``task_spec()``.
"""

from __future__ import annotations

import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, drive, wait_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import model_write
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.boot_diagnostics import settings

ENABLE = {'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}}}
ARGUMENT_SPEC = dict(wait_timeout=dict(type='int', default=600))
RESTART_NOTE = 'the serial log holds only boots from now on: restart the VM to capture one'


def validate(params):
    """Bad input before any call: ``wait_timeout`` is not negative."""
    if (params.get('wait_timeout') or 0) < 0:
        raise TaskError('wait_timeout must be 0 or more seconds, not %s' % params.get('wait_timeout'),
                        reason_code='invalid_input')  # fmt: skip


def current(model):
    """``{enabled, storage}`` as the diff and the result show it (``storage``: managed / custom)."""
    conf = settings(model)
    return dict(enabled=conf['enabled'], storage=conf['storage'])


def _result(target, before, after, changed, status, code, reason):
    return {
        'id': target.id,
        'changed': changed,
        'boot_diagnostics': after,
        'diff': {'before': before, 'after': after},
        'msg': '' if status != 'failed' else reason,
        'outcome': outcome(status, code, reason),
    }


def _decide(view):
    """The change to write on this view, or None (already on with managed storage, or a custom account)."""
    conf = settings(view.model)
    if conf['enabled'] or conf['storage_uri']:
        return None
    return _vm.Change(properties=ENABLE)


def _provisioned(client, target):
    def probe():
        model = client.get(target.path, resource_id=target.id)
        state = str(((model or {}).get('properties') or {}).get('provisioningState') or '')
        if state.lower() == 'failed':
            raise TaskError('boot diagnostics was accepted for %s but the update failed (provisioningState Failed)'
                            % target.display, reason_code='provisioning_failed', id=target.id, changed=True)  # fmt: skip
        return state.lower() == 'succeeded', model

    return probe


def run_steps(ctx, clock=time.monotonic):
    """One target (see the module doc): a step generator returning the result; raises TaskError / ArmError."""
    client, target = ctx.client, ctx.target
    view = _vm.read_view(client, target)
    before = current(view.model)
    conf = settings(view.model)
    if conf['storage_uri']:
        why = ('boot diagnostics uses the custom storage account %s (%s): left alone; switch it to managed storage '
               'with az vm boot-diagnostics enable (no --storage)' % (conf['storage_uri'], 'on' if conf['enabled']
                                                                      else 'off'))  # fmt: skip
        return _result(target, before, before, False, 'skipped', 'custom_storage', why)
    if conf['enabled']:
        return _result(target, before, before, False, 'unchanged', 'unchanged', 'on with managed storage')
    after = dict(enabled=True, storage='managed')
    if ctx.check_mode:
        return _result(target, before, after, True, 'pending', 'check_mode', 'would turn it on with managed storage')
    _last, change, _body = _vm.update(client, view, _decide, lro=False)
    if change is None:  # another writer turned it on meanwhile
        return _result(target, before, before, False, 'unchanged', 'unchanged', 'turned on by another writer')
    done, _model = yield from wait_steps(_provisioned(client, target), ctx.params.get('wait_timeout') or 600,
                                         timing=ctx.shared, clock=clock)  # fmt: skip
    if not done:
        return _result(target, before, after, True, 'pending', 'pending_confirmation',
                       'accepted; the update had not finished within wait_timeout')  # fmt: skip
    return _result(target, before, after, True, 'done', 'changed', 'turned on with managed storage; ' + RESTART_NOTE)


def run(ctx):
    """``run_steps`` in this thread."""
    return drive(run_steps(ctx))


def write_plan(_params):
    """The preflight's plan: one model write turning boot diagnostics on (managed storage)."""
    return model_write('boot diagnostics', ENABLE)


def summary(results):
    """The batch's line: how many were turned on, already on, on a custom account, failed."""
    counts = {}
    for res in results:
        code = (res.get('outcome') or {}).get('reason_code') or ('error' if res.get('failed') else 'unchanged')
        counts[code] = counts.get(code, 0) + 1
    words = [('changed', 'turned on'), ('check_mode', 'would be turned on'), ('unchanged', 'already on'),
             ('custom_storage', 'on a custom storage account (left alone)'),
             ('pending_confirmation', 'accepted, not confirmed')]  # fmt: skip
    parts = ['%d %s' % (counts.pop(code), text) for code, text in words if code in counts]
    failed = sum(counts.values())
    if failed:
        parts.append('%d failed' % failed)
    return 'boot diagnostics (managed storage) of %d target(s): %s' % (len(results), ', '.join(parts) or 'none')


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
        name='vmrescue.azure.boot_diagnostics',
    )
