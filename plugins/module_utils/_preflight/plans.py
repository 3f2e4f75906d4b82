# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task will write, as the preflight checks it (private: may change without notice).

A domain's ``TaskSpec.preflight(params) -> WritePlan | None`` says which writes its targets may get: the actions
the principal needs (``Microsoft.Authorization/permissions``), the HTTP method (a CanNotDelete lock refuses only
DELETE), and the resource content Azure Policy will see (``checkPolicyRestrictions``: one call per distinct content
per scope). The content never holds a secret: an extension's probe carries its publisher, type and version, never
its settings (protected or not).

Public names (kept stable):

- ``WritePlan(operation, method, vm_actions, instance_actions, properties=None, extension=False)``: frozen;
  ``.actions(target)``, ``.probe(target) -> dict | None`` (the ``resourceContent`` of checkPolicyRestrictions).
- ``model_write(operation, properties=None)``: a VM PATCH / Uniform instance PUT of the model (key reset, endpoint
  modes); ``properties``: the planned change below ``properties`` (None: no policy probe).
- ``extension_write(operation, publisher, type_name, version)``, ``extension_delete(operation)``.
- ``VM_TYPE``, ``INSTANCE_TYPE``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

VM_TYPE = 'Microsoft.Compute/virtualMachines'
INSTANCE_TYPE = 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'


@dataclasses.dataclass(frozen=True)
class WritePlan:
    """The writes of one task, per target kind (see the module docstring)."""

    operation: str
    method: str
    vm_actions: tuple[str, ...]
    instance_actions: tuple[str, ...]
    properties: Any = None
    extension: bool = False

    def actions(self, target) -> tuple[str, ...]:
        """The actions the principal needs at the target for these writes."""
        return self.vm_actions if target.is_vm else self.instance_actions

    def probe(self, target) -> dict | None:
        """The resource content Azure Policy evaluates for this write at ``target`` (None: nothing to evaluate)."""
        if self.properties is None:
            return None
        rtype = VM_TYPE if target.is_vm else INSTANCE_TYPE
        if self.extension:
            rtype += '/extensions'
        return {'type': rtype, 'properties': copy.deepcopy(self.properties)}


def model_write(operation: str, properties: dict | None = None) -> WritePlan:
    """A write of the VM model: PATCH on a VM, PUT on a Uniform instance (``_vm.write``)."""
    return WritePlan(
        operation,
        'PATCH',
        (VM_TYPE + '/write',),
        (INSTANCE_TYPE + '/write',),
        properties=properties,
    )


def extension_write(operation: str, publisher: str, type_name: str, version: str) -> WritePlan:
    """A PUT of an extension of the VM / instance (the VMAccess handlers)."""
    properties = {'publisher': publisher, 'type': type_name, 'typeHandlerVersion': version}
    return WritePlan(
        operation,
        'PUT',
        (VM_TYPE + '/extensions/write',),
        (INSTANCE_TYPE + '/extensions/write',),
        properties=properties,
        extension=True,
    )


def extension_delete(operation: str) -> WritePlan:
    """A DELETE of an extension of the VM / instance."""
    return WritePlan(operation, 'DELETE', (VM_TYPE + '/extensions/delete',), (INSTANCE_TYPE + '/extensions/delete',))
