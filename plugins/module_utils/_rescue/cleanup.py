# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``state: cleaned``: remove what a finished rescue left, keep what the operator chose to keep (private).

- The VM runs on the copy (restored): the original OS disk is deleted only with ``keep_original: false`` and when no
  VM uses it; otherwise it stays, tagged ``vmrescue-rescue-original-of``.
- The VM runs on the original (rolled back, or a rescue that never swapped): the copy is deleted when no VM uses it.
- A copy still attached to a rescue VM is a rescue in progress: nothing is deleted (finish it or roll it back).
- The rescue VM this collection created (tag ``vmrescue-rescue-vm``) is deleted with its OS disk and NIC (their
  ``deleteOption: Delete``) once no data disk is attached to it; one the operator gave only loses the run command
  the rescue made on it. Its group is checked first, once per batch (``group_check.clean_refusal``: a ReadOnly or
  CanNotDelete lock, or no ``virtualMachines/delete``): a refused delete skips the target before any write.
Then the record says ``cleaned``. Check mode says what would be deleted.

Public names: ``clean(job)`` (a step generator -> result).
"""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._operation import write_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import group_check, names
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.job import disk_id_path
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.operations import DISK_API
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import RESCUE_VM_TAG
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id


def _unused(disk):
    return disk is not None and disk.get('id') and not disk.get('managedBy')


def _doomed_disks(job):
    if job.on_copy:
        return [job.original] if not job.params['keep_original'] and _unused(job.original) else []
    return [job.copy] if _unused(job.copy) else []


def _rescue_vm(job):
    """(rescue VM model or None, whether this collection created it) from the record."""
    vm_id = job.fields()['rescue_vm_id']
    if not vm_id:
        return None, False
    model = job.client.get(parse_resource_id(vm_id, 'rescue_vm_id').path, missing_ok=True)
    return model, bool(model) and _vm.get_tag(model.get('tags'), RESCUE_VM_TAG) is not None


def _deletes(job):
    """What would be deleted: [(what, path, api_version)]."""
    out = [('disk %s' % d['name'], disk_id_path(d['id']), DISK_API) for d in _doomed_disks(job)]
    model, ours = _rescue_vm(job)
    if model is not None and job.copy_name:
        path = parse_resource_id(model['id'], 'rescue_vm_id').path
        disks = ((model.get('properties') or {}).get('storageProfile') or {}).get('dataDisks') or []
        if ours and not disks:
            out.append(('rescue VM %s' % model['name'], path, None))
        elif not ours:
            name = quote(names.run_command_name(job.copy_name), safe='')
            out.append(('run command on %s' % model['name'], '%s/runCommands/%s' % (path, name), None))
    return out


def clean(job):
    """The clean-up of one source VM (module docstring): a step generator returning its result."""
    job.read()
    before = job.snapshot()
    if job.record is None and job.copy is None:
        msg = 'no rescue of %s to clean up' % job.target.display
        return dict(job.fields(), changed=False, msg=msg, outcome=outcome('unchanged', 'no_rescue', msg))
    if job.rescue_vm_id:
        msg = ('the copy of %s is still attached to rescue VM %s: a rescue in progress. Finish it (state=restored) '
               'or roll it back (state=rolled_back) first.' % (job.target.display, job.rescue_vm_id))  # fmt: skip
        return dict(job.fields(), changed=False, skipped=True, msg=msg, outcome=outcome('skipped', 'in_progress', msg))
    todo = _deletes(job)
    for what, path, _api in todo:
        ours = what.startswith('rescue VM ') and job.params.get('preflight') is not False
        refused = group_check.clean_refusal(job, path) if ours else None
        if refused is not None:  # before any delete: the rescue VM's group is locked (or the delete not allowed)
            return dict(job.fields(), changed=False, skipped=True, msg=refused.msg,
                        outcome=outcome('skipped', refused.reason_code, refused.msg))  # fmt: skip
    recorded = job.record is not None and job.record.phase == 'cleaned'
    if not todo and recorded:
        msg = 'the rescue of %s is already cleaned up' % job.target.display
        return dict(job.fields(), changed=False, msg=msg, outcome=outcome('unchanged', 'unchanged', msg))
    if job.ctx.check_mode:
        msg = 'would delete %s (check mode)' % (', '.join(w for w, _p, _a in todo) or 'nothing, and record cleaned')
        return dict(job.fields(), changed=True, deleted=[w for w, _p, _a in todo], msg=msg,
                    outcome=outcome('done', 'check_mode', msg))  # fmt: skip
    for _what, path, api in todo:
        if api:
            yield from write_steps(job.client, 'DELETE', path, api_version=api, timeout=job.params['wait_timeout'])
        else:
            yield from write_steps(job.client, 'DELETE', path, timeout=job.params['wait_timeout'])
        job.changed = True
    job.write_record('cleaned')
    job.read()
    msg = 'cleaned up the rescue of %s: %s' % (job.target.display, ', '.join(w for w, _p, _a in todo) or 'record only')
    result = dict(job.fields(), changed=True, deleted=[w for w, _p, _a in todo], msg=msg,
                  outcome=outcome('done', 'changed', msg))  # fmt: skip
    result['diff'] = dict(before=before, after=job.snapshot())
    return result
