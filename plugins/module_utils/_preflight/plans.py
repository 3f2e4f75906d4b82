# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task will write, as the preflight checks it (private: may change without notice).

A domain's ``TaskSpec.preflight(params) -> WritePlan | None`` says which writes its targets may get: the actions
the principal needs (``Microsoft.Authorization/permissions``), the HTTP method (a CanNotDelete lock refuses only
DELETE), and the resource content Azure Policy will see (``checkPolicyRestrictions``: one call per distinct content
per scope). The content never holds a secret: an extension's probe carries its publisher, type and version, never
its settings (protected or not).

Public names (kept stable):

- ``WritePlan(operation, method, vm_actions, instance_actions, properties=None, extension=False, child_type=None,
  platform_remedy=False)``: frozen;
  ``.actions(target)``, ``.probe(target) -> dict | None`` (the ``resourceContent`` of checkPolicyRestrictions).
- ``model_write(operation, properties=None)``: a VM PATCH / Uniform instance PUT of the model (key reset, endpoint
  modes); ``properties``: the planned change below ``properties`` (None: no policy probe).
- ``extension_write(operation, publisher, type_name, version)``, ``extension_delete(operation)``.
- ``run_command_write(operation, command_id=None, run_as_user=None)``, ``run_command_delete(operation)``: a managed
  run command of the VM / instance (``_run_command``); the probe never holds the script or a parameter value.
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
    child_type: str | None = None  # the written resource is this child of the VM / instance (runCommands)
    # the write is itself the remedy of a platform problem (a redeploy): Resource Health Unavailable is then a
    # warning, not a refusal (verdicts.py)
    platform_remedy: bool = False

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
        if self.child_type:
            rtype += '/' + self.child_type
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


def run_command_write(operation: str, command_id: str | None = None, run_as_user: str | None = None) -> WritePlan:
    """A PUT of a managed run command of the VM / instance. The probe carries what is not secret and not the
    script: the command id when one is used, the run-as user when one is given."""
    properties: dict = {'asyncExecution': False}
    if command_id:
        properties['source'] = {'commandId': command_id}
    if run_as_user:
        properties['runAsUser'] = run_as_user
    return WritePlan(
        operation,
        'PUT',
        (VM_TYPE + '/runCommands/write',),
        (INSTANCE_TYPE + '/runCommands/write',),
        properties=properties,
        child_type='runCommands',
    )


def run_command_delete(operation: str) -> WritePlan:
    """A DELETE of a managed run command of the VM / instance."""
    return WritePlan(operation, 'DELETE', (VM_TYPE + '/runCommands/delete',), (INSTANCE_TYPE + '/runCommands/delete',))
