# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's target resource ID from its variables (private: may change without notice).

Used by the action base (``_controller``: a task that gives no target option) and the ``target_id`` filter (the
``targets`` list of a batch task built from a play batch's hosts).

Public names (kept stable):

- ``target_id_from_hostvars(task_vars) -> str | None``.
- ``HOSTVAR_TARGET_KEYS = ('azure_vm_id', 'id')``: the host vars it reads, in order.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._target import is_compute_target_id

HOSTVAR_TARGET_KEYS = ('azure_vm_id', 'id')


def target_id_from_hostvars(task_vars):
    """The host's target resource ID: ``azure_vm_id`` (any value, validated later), else ``id`` when it is a
    Compute VM / Uniform instance ID (the azure_rm inventory plugin's host var); else None."""
    value = (task_vars or {}).get('azure_vm_id')
    if value not in (None, ''):
        return value
    value = (task_vars or {}).get('id')
    if isinstance(value, str) and is_compute_target_id(value):
        return value
    return None
