# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target addressing options (one VM or Uniform scale-set instance)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  vm_id:
    description:
      - Full resource ID of a VM (C(/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}))
        or of a Uniform scale-set instance (C(.../virtualMachineScaleSets/{ss}/virtualMachines/{instanceId})).
        Instances of Flexible scale sets are VMs and use the first form.
      - Parsed case-insensitively, as Resource Manager does. Mutually exclusive with O(resource_group), O(name),
        O(vmss_name) and O(instance_id).
      - When no target option is given, the host var C(azure_vm_id) is used, else the host var C(id) when it is a
        VM or scale-set instance ID (the C(azure.azcollection.azure_rm) inventory plugin sets it).
    type: str
  resource_group:
    description:
      - Resource group of the VM (with O(name)) or scale set (with O(vmss_name) and O(instance_id)).
    type: str
  name:
    description:
      - VM name (with O(resource_group)), in the default subscription.
    type: str
  vmss_name:
    description:
      - Uniform scale set name (with O(resource_group) and O(instance_id)).
    type: str
  instance_id:
    description:
      - Instance ID of the Uniform scale-set instance (with O(resource_group) and O(vmss_name)).
    type: str
  targets:
    description:
      - Batch mode. Many VMs / scale-set instances in one task, done in one controller process with one credential
        (one Entra ID token), one connection pool and requests paced by Azure's throttling headers.
      - Each element is a resource ID (as O(vm_id)) or a dict with the keys O(vm_id), or O(resource_group) and
        O(name), or O(resource_group), O(vmss_name) and O(instance_id). An empty element (for example a host without
        C(azure_vm_id) in a list built from host vars) is reported as "no target".
      - Mutually exclusive with O(vm_id), O(resource_group), O(name), O(vmss_name) and O(instance_id); no target is
        taken from host vars.
      - The result has C(results), one entry per element in the same order, each with the keys of a single-target
        result plus C(id), C(changed), C(failed) and C(msg). C(changed) is true when any target changed.
      - A failed target never stops the others, and the task does B(not) fail when some targets fail (check
        C(results), C(failed_count)); it fails only when no element is a valid target, or sign-in fails.
      - For a group of inventory hosts, run it once (C(run_once) with the hosts' targets, see the examples and the
        recovery roles, which then report each host's own result).
    type: list
    elements: raw
  concurrency:
    description:
      - With O(targets), how many targets are worked on at the same time (threads sharing one client; the
        connection pool has as many connections). Each target mostly waits for Azure, and Azure's throttling sets the
        pace of large batches, so this bounds how many are in flight rather than the speed.
      - Azure throttles per principal per subscription, so targets in several subscriptions get this many workers
        per subscription, each subscription paced on its own; a throttled subscription does not slow the others.
    type: int
    default: 64
  background:
    description:
      - With O(targets) and C(run_once=true), return as soon as the batch has started instead of when it ends; each
        host then reports its own target's result with M(vmrescue.azure.batch_result), as soon as that target is done.
      - Use it for large groups of hosts. Ansible spends about 10-15 ms of controller CPU per host on every per-host
        task; with V(true) that time overlaps with the time the batch waits for Azure, instead of adding to it.
      - The task's result then has only C(background) (what M(vmrescue.azure.batch_result) needs) and C(msg).
        Arguments are checked before the batch starts; a bad argument fails this task, and nothing is changed.
      - The batch runs in a process of its own on the controller that ends when the batch is done, or as soon as the
        C(ansible-playbook) run that started it ends.
    type: bool
    default: false
  report:
    description:
      - Write the run report of this task to this path (a JSON file; its directory must exist). Per target it holds the
        identity, outcome and reason code, before / after (never a secret), timings, and the request and correlation
        IDs Azure gave each write and each failed call (C(x-ms-request-id), C(x-ms-correlation-request-id)); per run
        who (the principal's object ID, app ID and tenant), when, the collection version and the task's options with
        every secret masked. The schema is C(docs/schemas/run_report.schema.json) in the collection.
      - A Markdown view of the same report (counts by outcome and reason code, one row per target) is written next
        to it, with the extension C(.md) instead of C(.json). Both files are written atomically, mode C(0600).
      - Works with one target and with O(targets). The result then has C(report) (C(path), C(markdown_path),
        C(counts)); a report that cannot be written is a warning, never a failed task.
      - With O(background=true) the report is written by the background process when the batch ends, shortly after
        the last target's result. For the hosts of a play use the recovery roles' C(<role>_report_path) or
        M(vmrescue.azure.run_report), which write the report from the hosts' results on the controller.
      - The guide C(docs/docsite/rst/guide_run_report.rst) describes it.
    type: path
notes:
  - The target is validated before any call to Azure; a malformed O(vm_id) gets a message naming what is wrong.
"""

    # The lookups' terms and target options (vmrescue.azure.target.lookup)
    LOOKUP = r"""
options:
  _terms:
    description: VM or Uniform scale-set instance resource IDs.
    type: list
    elements: str
    required: false
  resource_group:
    description: Resource group of the VM (with O(name)) or scale set (with O(vmss_name) and O(instance_id)).
    type: str
  name:
    description: VM name, in the default subscription (O(subscription_id)).
    type: str
  vmss_name:
    description: Uniform scale set name.
    type: str
  instance_id:
    description: Scale-set instance ID.
    type: str
  concurrency:
    description: How many terms are read at the same time.
    type: int
    default: 16
"""
