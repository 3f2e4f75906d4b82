# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's target resource ID from its variables (private: may change without notice).

Used by the action base (``_controller``: a task that gives no target option) and the ``target_id`` filter (the
``targets`` list of a batch task built from a play batch's hosts). Also a cheap read of a variable that a host's
task registered or set (``recovery_outcomes``: every host's result, once per run).

Public names (kept stable):

- ``target_id_from_hostvars(task_vars) -> str | None``.
- ``HOSTVAR_TARGET_KEYS = ('azure_vm_id', 'id')``: the host vars it reads, in order.
- ``host_var(hostvars, host, name)``: ``hostvars[host][name]`` or None.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def _set_by_task(hostvars, host, name):
    """(True, value) when ``name`` is a variable the host's tasks registered or set (set_fact) and nothing above that
    precedence (extra vars) defines it, read from Ansible's store of those variables; (False, None) otherwise.

    ``hostvars[host]`` computes every variable of the host first (inventory, vars plugins, facts: 3-7 ms per host
    measured at 1000 hosts), which made reading one result from each of 1000 hosts take seconds (issue 25). Within
    ``hostvars[host]`` such a variable is exactly this stored value: only extra vars rank above it there, and a
    registered result or a set_fact value holds no template left to expand."""
    manager = getattr(hostvars, '_variable_manager', None)
    store = getattr(manager, '_nonpersistent_fact_cache', None)
    extra = getattr(manager, '_extra_vars', None)
    if store is None or not isinstance(extra, Mapping) or name in extra:
        return False, None
    try:
        facts = store.get(host) if hasattr(store, 'get') else None
    except Exception:  # pylint: disable=broad-except  # an unexpected store: the public path below
        return False, None
    if isinstance(facts, Mapping) and name in facts:
        return True, facts[name]
    return False, None


def host_var(hostvars, host, name):
    """``hostvars[host][name]`` or None (also for an undefined value: HostVarsVars has no working ``default`` in a
    Jinja map on 2.19). A variable the host's tasks registered or set is read without computing the host's other
    variables (``_set_by_task``)."""
    found, value = _set_by_task(hostvars, host, name)
    if not found:
        try:
            value = hostvars[host][name]
        except Exception:  # pylint: disable=broad-except  # KeyError, AnsibleUndefinedVariable, ...
            return None
    return None if value is None or type(value).__name__.endswith('Undefined') else value
