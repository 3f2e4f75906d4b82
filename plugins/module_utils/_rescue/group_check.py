# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight of ``rescue_resource_group`` and ``rescue_subnet_id``: what the rescue writes there, as a
``_preflight.groups.GroupPlan`` (private).

The gate checks each source VM's group (``engine.write_plan``: the copy, the swap, the power actions). A batch that
creates rescue VMs also writes in the rescue group: the NIC (in ``rescue_subnet_id``: ``subnets/join/action`` at the
subnet), the VM with its OS disk, the data-disk changes that attach and detach the copies, the repair's run command;
``state: cleaned`` deletes the rescue VM (its OS disk and NIC go with it: ``deleteOption: Delete``). These are
checked once per batch per group, before any write: ``restore_plan`` by fleet.py's plan (every target that needs a
rescue VM waits for it), ``clean_refusal`` by cleanup.py before a rescue VM's delete (cached in the batch's Hub).

The planned contents Azure Policy sees: the rescue VM of each kind as ``vm_body`` makes it without ``osProfile``
(the admin password and key never leave), and its NIC (no public IP).

Public names: ``VM_ACTIONS``, ``CLEAN_ACTIONS``, ``SUBNET_JOIN``, ``group_id(params)``, ``restore_plan(params,
specs)``, ``clean_refusal(job, vm_id)``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.groups import GroupPlan, check_group
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import VM_TYPE
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import rescue_vm
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

VM_ACTIONS = (
    VM_TYPE + '/write',
    'Microsoft.Compute/disks/write',
    VM_TYPE + '/runCommands/write',
    'Microsoft.Network/networkInterfaces/write',
)
CLEAN_ACTIONS = (VM_TYPE + '/delete',)
SUBNET_JOIN = 'Microsoft.Network/virtualNetworks/subnets/join/action'
NIC_TYPE = 'Microsoft.Network/networkInterfaces'
RESTORE_FIX = '; or set rescue_resource_group to a group where the rescue VMs may be created'


def group_id(params, subscription):
    return '/subscriptions/%s/resourceGroups/%s' % (subscription, params['rescue_resource_group'])


def _contents(params, specs):
    out = []
    for spec in specs:
        try:
            body = rescue_vm.vm_body(params, spec, spec.vm_id + '-nic')
        except TaskError:
            continue  # no image for this kind: the create says so (invalid_input)
        props = dict(body['properties'])
        props.pop('osProfile', None)
        out.append(('rescue VM %s' % spec.name, {'type': VM_TYPE, 'location': spec.location, 'properties': props}))
    if specs:
        nic = rescue_vm.nic_body(params, specs[0])
        out.append(('rescue VM NIC', {'type': NIC_TYPE, 'location': nic['location'], 'properties': nic['properties']}))
    return tuple(out)


def restore_plan(params, specs):
    """The GroupPlan of a restore that creates rescue VMs of ``specs`` (their kinds) in the rescue group."""
    subscription = specs[0].subscription_id
    return GroupPlan(
        'rescue_resource_group',
        group_id(params, subscription),
        actions=VM_ACTIONS,
        contents=_contents(params, specs),
        joins=(('rescue_subnet_id', params['rescue_subnet_id'], SUBNET_JOIN),),
        fix=RESTORE_FIX,
    )


def clean_refusal(job, vm_id):
    """The TaskError refusing the delete of created rescue VM ``vm_id`` (a lock or a permission of its group), or
    None; the group's checks are read once per batch (``Hub.groups``); their warnings go to this target."""
    target = parse_resource_id(vm_id, 'rescue_vm_id')
    key = target.resource_group_id.lower()
    with job.hub.group_lock(key):
        verdict = job.hub.groups.get(key)
        if verdict is None:
            plan = GroupPlan('rescue_resource_group', target.resource_group_id, actions=CLEAN_ACTIONS, deletes=True,
                             fix='; the rescue VM %s stays until then' % target.name)  # fmt: skip
            verdict = job.hub.groups[key] = check_group(job.client, plan)
            job.warnings.extend(verdict.warnings)
    if verdict.refusal is None:
        return None
    code, msg = verdict.refusal
    return TaskError(msg, reason_code=code)
