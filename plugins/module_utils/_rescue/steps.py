# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of a rescue, each a step generator over a ``job.Job`` (private).

Each step makes its ARM write(s), waits for the operation without holding a worker (``operations``), then writes
the record of the phase it completed (``Job.write_record``). A race lost to another writer (412 / 409 busy) ends
the step early: the engine reads the truth again and decides again.

An encrypted copy (single-pass ADE) is unlocked between attach and repair (``unlock``: the ADE extension with the
copy's Key Vault on the rescue VM, then the unlock script at its LUN; ``ade``).

Public names: ``STEPS`` (step name -> function(job) -> generator), ``rescue_spec(job)``, ``run_repair(job, vm_id,
lun)``.
"""

from __future__ import annotations

import time
from types import MappingProxyType

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._operation import write_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import (
    ade,
    fleet,
    names,
    rescue_vm,
    scripts_linux,
    scripts_windows,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.job import disk_id_path
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.operations import DISK_API
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.options import script_for
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.plan import copy_body
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import ORIGINAL_OF_TAG, RECORD_TAG, encode
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command import engine as run_command
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._task import RunContext
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.boot_diagnostics import read_serial_log
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_log import classify

OUTPUT_TAIL = 1500


def _props(doc):
    return (doc or {}).get('properties') or {}


def copy(job):
    """PUT the copy of the original OS disk (its deterministic name), wait for it, record ``copied``."""
    body = copy_body(job.original, job.target.name)
    yield from write_steps(job.client, 'PUT', job.disk_path(job.copy_name), body, api_version=DISK_API,
                           timeout=job.params['wait_timeout'])  # fmt: skip
    job.changed = True
    job.copy = job.client.get(job.disk_path(job.copy_name), api_version=DISK_API)
    job.write_record('copied')


def wait_copy(job):
    """A copy another run started is still being made: read it until it is done."""
    deadline = time.monotonic() + job.params['wait_timeout']
    while job.copy_state not in ('Succeeded', 'Failed'):
        if time.monotonic() > deadline:
            raise TaskError('the copy %s was not made within %ss' % (job.copy_name, job.params['wait_timeout']),
                            reason_code='timeout')  # fmt: skip
        yield 5.0
        job.copy = job.client.get(job.disk_path(job.copy_name), api_version=DISK_API)
    if job.copy_state == 'Failed':
        raise TaskError('the copy %s failed (provisioningState Failed): delete it and run again' % job.copy_name,
                        reason_code='provisioning_failed')  # fmt: skip


def rescue_spec(job):
    """The kind of rescue VM the original disk needs (created ones: in ``rescue_resource_group``)."""
    props = _props(job.original)
    subnet = parse_resource_id_subscription(job.params.get('rescue_subnet_id')) or job.target.subscription_id
    zones = (job.original or {}).get('zones') or []
    return rescue_vm.RescueSpec(
        subscription_id=subnet,
        resource_group=job.params.get('rescue_resource_group') or job.target.resource_group,
        location=str(job.original.get('location') or job.view.model.get('location')),
        os_type=str(props.get('osType') or job.view.os_type or 'Linux').capitalize(),
        generation=str(props.get('hyperVGeneration') or 'V1').upper(),
        architecture=str((props.get('supportedCapabilities') or {}).get('architecture') or 'x64'),
        zone=zones[0] if zones else None,
        ade=ade.kind(job.encryption),
    )


def parse_resource_id_subscription(resource_id):
    parts = str(resource_id or '').split('/')
    return parts[2] if len(parts) > 2 and parts[1].lower() == 'subscriptions' else None


def _rescue_vm(job, spec):
    """The rescue VM to use: the operator's (checked), or the created one of ``spec`` (created when missing)."""
    given = job.params.get('rescue_vm_id')
    if not given:
        return (yield from rescue_vm.ensure_created(job.ctx, job.hub, spec))
    view = _vm.read_view(job.client, parse_resource_id(given, 'rescue_vm_id'), instance_view=True)
    why = rescue_vm.check_given(view, spec.os_type, spec.location, spec.zone)
    if why:
        raise TaskError(why + '. Nothing was attached.', reason_code='rescue_vm_unusable')
    return view.target.id


def attach(job):
    """Attach the copy to the rescue VM (queued with the batch's other targets), record ``attached``."""
    spec = yield from fleet.assign(job, rescue_spec(job))  # in waves: waits for a free slot
    vm_id = yield from _rescue_vm(job, spec)
    copy_id = job.copy['id']
    job.lun = yield from rescue_vm.change_disks(job.ctx, job.hub, vm_id, add=copy_id)
    job.changed = True
    target = parse_resource_id(vm_id, 'rescue_vm_id')
    group = target.resource_group if target.resource_group.lower() != job.target.resource_group.lower() else None
    job.write_record('attached', rescue_vm=target.name, rescue_group=group, lun=job.lun, action=job.params['action'])


def _lun_of(job, vm_id):
    model = job.client.get(parse_resource_id(vm_id, 'rescue_vm_id').path)
    for entry in (_props(model).get('storageProfile') or {}).get('dataDisks') or ():
        if str(((entry.get('managedDisk') or {}).get('id')) or '').lower() == job.copy['id'].lower():
            return entry.get('lun')
    raise TaskError('the copy %s is not a data disk of %s any more' % (job.copy_name, vm_id), reason_code='conflict')


def _run_command_params(job, lun, os_type, unlock=False):
    parameters = {'VMRESCUE_LUN': str(lun)}
    if job.params['action'] == 'remove_driver' and not unlock:
        parameters['VMRESCUE_DRIVER'] = job.params['driver_file']
    if unlock:
        script = (scripts_windows if os_type == 'Windows' else scripts_linux).UNLOCK
        name = names.unlock_command_name(job.copy_name)
    else:
        script, name = script_for(job.params, os_type), names.run_command_name(job.copy_name)
    return MappingProxyType(dict(
        state='present', script=script, script_file=None, command_id=None,
        parameters=parameters, protected_parameters=None, run_as_user=None, run_as_password=None,
        script_timeout=job.params['script_timeout'], wait=True, wait_timeout=job.params['wait_timeout'],
        run_command_name=name, force=False, output_blob_uri=None,
        error_blob_uri=None, max_output_bytes=0, script_reports_change=not unlock, os_type=None,
    ))  # fmt: skip


def _ade_extension(job, vm_id, os_type):
    """The ADE extension on the rescue VM with the copy's Key Vault, run after the copy was attached (``ade``):
    read first, so a resumed run of the same copy (same SequenceVersion, Succeeded) does not run it again."""
    settings = job.encryption
    path = '%s/extensions/%s' % (parse_resource_id(vm_id, 'rescue_vm_id').path, ade.extension_name(os_type))
    body = ade.extension_body(settings, os_type, job.copy.get('location'), job.copy['id'])
    current = job.client.get(path, missing_ok=True) or {}
    props = current.get('properties') or {}
    wanted = body['properties']['settings']['SequenceVersion']
    if (props.get('settings') or {}).get('SequenceVersion') == wanted and props.get('provisioningState') == 'Succeeded':
        return
    try:
        yield from write_steps(job.client, 'PUT', path, body, timeout=job.params['wait_timeout'])
    except ArmError as err:
        raise TaskError('the Azure Disk Encryption extension could not run on rescue VM %s with Key Vault %s: %s'
                        % (vm_id, settings.vault_id, err.msg), reason_code='unlock_failed') from None  # fmt: skip
    job.changed = True


def unlock(job):
    """An encrypted copy (single-pass ADE): the ADE extension with its Key Vault on the rescue VM, then the unlock
    script against the copy's LUN (Run Command), record ``unlocked`` (``ade`` module docstring)."""
    vm_id = job.rescue_vm_id
    job.lun = _lun_of(job, vm_id)
    os_type = _os_type(job)
    yield from _ade_extension(job, vm_id, os_type)
    shared = job.hub.run_commands.setdefault(os_type + '-unlock', run_command.BatchState())
    ctx = RunContext(client=job.client, target=parse_resource_id(vm_id, 'rescue_vm_id'),
                     params=_run_command_params(job, job.lun, os_type, unlock=True), shared=shared)  # fmt: skip
    try:
        result = yield from run_command.run_steps(ctx)
    except TaskError as exc:
        job.repair = _repair_fields(exc.result)
        raise TaskError('the unlock of the encrypted copy failed on rescue VM %s (LUN %s): %s' % (vm_id, job.lun, exc.msg),
                        reason_code='unlock_failed') from None  # fmt: skip
    if result.get('skipped') or result.get('in_progress'):
        raise TaskError('the unlock could not run on rescue VM %s: %s' % (vm_id, result.get('msg')),
                        reason_code='rescue_vm_unusable')  # fmt: skip
    job.changed = True
    job.write_record('unlocked', lun=job.lun)


def _os_type(job):
    return str(_props(job.copy).get('osType') or job.view.os_type or 'Linux').capitalize()


def repair(job):
    """Run the action's script on the rescue VM against the copy's LUN (the Run Command engine), record
    ``repaired``; a script that failed or changed nothing stops the rescue before the swap."""
    vm_id = job.rescue_vm_id
    job.lun = _lun_of(job, vm_id)
    os_type = _os_type(job)
    shared = job.hub.run_commands.setdefault(os_type, run_command.BatchState())
    ctx = RunContext(client=job.client, target=parse_resource_id(vm_id, 'rescue_vm_id'),
                     params=_run_command_params(job, job.lun, os_type), shared=shared)  # fmt: skip
    try:
        result = yield from run_command.run_steps(ctx)
    except TaskError as exc:
        job.repair = _repair_fields(exc.result)
        raise TaskError('the repair script (%s) failed on rescue VM %s: %s' % (job.params['action'], vm_id, exc.msg),
                        reason_code='repair_failed') from None  # fmt: skip
    job.repair = _repair_fields(result)
    if result.get('skipped') or result.get('in_progress'):
        raise TaskError('the repair could not run on rescue VM %s: %s' % (vm_id, result.get('msg')),
                        reason_code='rescue_vm_unusable')  # fmt: skip
    if result.get('changed') is False and result.get('script_reports_change'):
        raise TaskError(
            'the %s action changed nothing on the copy of %s: its fault is another one. The copy stays attached to '
            '%s at LUN %s; run again with another action, or state=rolled_back.'
            % (job.params['action'], job.target.display, vm_id, job.lun),
            reason_code='nothing_repaired',
        )
    job.write_record('repaired', lun=job.lun, action=job.params['action'])


def _repair_fields(result):
    result = result or {}
    return dict(exit_code=result.get('exit_code'), execution_state=result.get('execution_state'),
                run_command_name=result.get('run_command_name'),
                stdout=(result.get('stdout') or '')[-OUTPUT_TAIL:], stderr=(result.get('stderr') or '')[-OUTPUT_TAIL:])  # fmt: skip


def detach(job):
    """Detach the copy from the rescue VM (queued per rescue VM like attach); a roll back records ``detached``.

    A restore does not: the detach shows in ARM (the copy's ``managedBy``), the swap's PATCH records the next phase,
    and a tag write here is a VM update whose operation the deallocate right after it would wait for (409 busy:
    about one operation, 15 s, on every VM's path, measured by the bench's offline_rescue row)."""
    yield from rescue_vm.change_disks(job.ctx, job.hub, job.rescue_vm_id, remove=job.copy['id'])
    fleet.release(job.hub, job.rescue_vm_id)
    job.changed = True
    if job.params['state'] == 'rolled_back' and job.record is not None and job.record.phase != 'rolled_back':
        job.write_record('detached')


def power(action):
    def step(job):
        yield from write_steps(job.client, 'POST', '%s/%s' % (job.target.path, action),
                               timeout=job.params['wait_timeout'])  # fmt: skip
        job.changed = True

    step.__name__ = action
    return step


def _tag_original(job):
    tags = dict((job.original or {}).get('tags') or {})
    if _vm.get_tag(tags, ORIGINAL_OF_TAG) == job.target.name:
        return
    body = {'tags': _vm.merged_tags(tags, {ORIGINAL_OF_TAG: job.target.name})}
    yield from write_steps(job.client, 'PATCH', disk_id_path(job.original['id']), body, api_version=DISK_API,
                           timeout=job.params['wait_timeout'])  # fmt: skip


def _swap_to(job, disk_id, phase):
    """One PATCH of the deallocated VM: its OS disk and the record, with If-Match (a lost race: decided again)."""
    os_disk = (job.view.properties.get('storageProfile') or {}).get('osDisk') or {}
    record = job.next_record(phase)
    value = encode(record, job.key, job.target.id)
    change = {'osDisk': {'managedDisk': {'id': disk_id}}}
    if os_disk.get('createOption'):
        change['osDisk']['createOption'] = os_disk['createOption']  # Azure refuses a changed createOption
    body = {'properties': {'storageProfile': change}}
    body['tags'] = _vm.merged_tags(job.view.tags, {RECORD_TAG: value})
    try:
        yield from write_steps(job.client, 'PATCH', job.target.path, body, if_match=job.view.etag,
                               timeout=job.params['wait_timeout'])  # fmt: skip
    except ArmError as err:
        if _vm.is_concurrent(err):
            return
        raise
    job.changed = True
    job.record = record


def swap(job):
    yield from _tag_original(job)
    yield from _swap_to(job, job.copy['id'], 'swapped')


def swap_back(job):
    yield from _swap_to(job, job.original['id'], 'rolled_back')


def confirm(job):
    """Read the instance view until the VM agent is Ready; on timeout, what the serial log shows."""
    deadline = time.monotonic() + job.params['wait_timeout']
    while True:
        if rescue_vm.agent_ready(job.view.instance_view):
            return
        if job.view.power != 'running' or time.monotonic() > deadline:
            break
        yield 5.0
        job.view = _vm.read_view(job.client, job.target, instance_view=True)
    raise TaskError(_not_booted(job), reason_code='not_booted')


def _not_booted(job):
    text = '%s runs on the repaired copy but its VM agent is not Ready after %ss' % (
        job.target.display, job.params['wait_timeout'])  # fmt: skip
    log = read_serial_log(job.client, job.target, model=job.view.model)
    if log.reason_code is not None:
        return '%s; the serial log could not be read (%s): %s' % (text, log.reason_code, log.reason)
    found = classify(log.text, job.view.os_type, _props(job.copy).get('hyperVGeneration'))
    return '%s; its serial log shows %s (%s). Remedy: %s. state=rolled_back puts the original back.' % (
        text, found.get('class'), found.get('reason'), found.get('remedy'))  # fmt: skip


STEPS = {
    'copy': copy,
    'wait_copy': wait_copy,
    'attach': attach,
    'unlock': unlock,
    'repair': repair,
    'detach': detach,
    'deallocate': power('deallocate'),
    'swap': swap,
    'start': power('start'),
    'confirm': confirm,
    'swap_back': swap_back,
}
