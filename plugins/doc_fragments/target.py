# -*- coding: utf-8 -*-
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target addressing options (one VM or Uniform scale-set instance)."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
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
notes:
  - The target is validated before any call to Azure; a malformed O(vm_id) gets a message naming what is wrong.
'''
