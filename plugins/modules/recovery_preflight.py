#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_preflight
short_description: Say, before writing, whether Azure would refuse a recovery write to each VM, and why
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Read-only. For the write named by O(operation) (what the collection's module of that name would write), says for
    each target whether Azure would refuse it, with the reason code and the fix, without writing anything.
  - "Once per resource group (not per VM): the caller's permissions for the write
    (C(Microsoft.Authorization/permissions); per resource only where the group does not grant them), management
    locks (C(ReadOnly) refuses every write, C(CanNotDelete) only deletes), Azure Policy on the planned write
    (C(Microsoft.PolicyInsights/checkPolicyRestrictions), one call per distinct body; Audit effects are warnings),
    Resource Health (C(Unavailable) refuses, C(Degraded) warns)."
  - "Per target, one read of the model with its instance view: provisioning state C(Failed) (C(provisioning_failed)),
    not running (C(not_running)), for O(operation=key_reset) the Metadata Security Protocol off (C(msp_not_enabled)),
    for the VMAccess operations and O(operation=run_command) C(allowExtensionOperations) false (C(extensions_disabled)), the VM agent Not Ready
    (C(agent_not_ready)), an extension of another handler in a failed state (C(extension_failed))."
  - A check the principal may not make (no right to read locks, policy or Resource Health) is reported as unchecked
    with the missing action (in each target's RV(preflight) and the task's warnings); it never makes a target
    not ready and never fails the task.
  - The modules that write run the same scope checks themselves before any write (their C(preflight) option); this
    module answers the question ahead of a change window, for a report or a ticket.
options:
  operation:
    description:
      - The write to check, named after the module that makes it.
    type: str
    required: true
    choices: [key_reset, proxy_agent_settings, vmaccess_linux, vmaccess_windows, run_command]
  state:
    description:
      - The state the write module would be given, where it changes the write. V(absent) (VMAccess) checks the
        removal of the extension, a DELETE, which a C(CanNotDelete) lock refuses. V(restored)
        (O(operation=proxy_agent_settings)) checks a restore, without a policy probe (the settings are per VM).
    type: str
    choices: [present, absent, restored]
  wire_server_mode:
    description: For O(operation=proxy_agent_settings), the WireServer mode the write would set (Azure Policy sees it).
    type: str
    choices: [Audit, Enforce, Disabled]
  imds_mode:
    description: For O(operation=proxy_agent_settings), the IMDS mode the write would set (Azure Policy sees it).
    type: str
    choices: [Audit, Enforce, Disabled]
  enabled:
    description: For O(operation=proxy_agent_settings), the C(enabled) value the write would set.
    type: bool
  preflight:
    description:
      - Set V(false) to leave out the checks per resource group (locks, permissions, policy, Resource Health) and
        report only what each VM itself shows.
    type: bool
    default: true
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.controller
attributes:
  diff_mode:
    description: Writes nothing, so there is no diff.
    support: none
seealso:
  - module: vmrescue.azure.proxy_agent_key_reset
  - module: vmrescue.azure.vmaccess_linux
  - plugin: vmrescue.azure.recovery_preflight
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Before a change window, which VMs of the group would refuse a VMAccess write, and why
  vmrescue.azure.recovery_preflight:
    operation: vmaccess_linux
    targets: "{{ groups['linux_vms'] | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
  run_once: true
  register: preflight

- name: List them with the fix
  ansible.builtin.debug:
    msg: "{{ item.id | basename }}: {{ item.reason_code }}: {{ item.msg }}"
  loop: "{{ preflight.results | rejectattr('ready') | list }}"
  loop_control:
    label: "{{ item.id | basename }}"
  run_once: true

- name: Would a break-glass to Audit be denied by policy on this VM?
  vmrescue.azure.recovery_preflight:
    operation: proxy_agent_settings
    wire_server_mode: Audit
    imds_mode: Audit
    resource_group: rg-web
    name: web-01
"""

RETURN = r"""
ready:
  description: Nothing found that refuses the write (single target; per target in RV(results)).
  returned: success
  type: bool
reason_code:
  description: C(ready), or the first refusal found (C(scope_locked), C(rbac_missing), C(policy_denied),
    C(platform_unavailable), C(provisioning_failed), C(not_running), C(msp_not_enabled), C(extensions_disabled),
    C(agent_not_ready), C(extension_failed)).
  returned: success
  type: str
msg:
  description: What refuses the write and the fix, or that nothing does.
  returned: always
  type: str
facts:
  description: What the VM read showed (C(os_type), C(power_state), C(provisioning_state), C(vm_agent) status and
    version, C(allow_extension_operations), C(msp_enabled), C(extensions) as name and provisioning state).
  returned: success
  type: dict
preflight:
  description: >-
    The scope checks for this target. C(checks) gives C(permissions), C(locks), C(policy) and C(health) each as
    C(passed), C(failed) or C(unchecked); C(refused) the reason code or null; C(warnings); C(unchecked) each with
    C(check), C(scope), C(missing_action), C(why). In a batch, the task's RV(preflight) instead counts C(scopes) and
    C(calls).
  returned: when O(preflight=true)
  type: dict
results:
  description: With O(targets), one entry per target, in order, with the keys above and C(id).
  returned: with O(targets)
  type: list
  elements: dict
audit:
  description: When the target was read, by which principal (C(object_id), C(app_id), C(tenant_id)), and the failed
    calls with Azure's request and correlation IDs (the run report's record of the target).
  returned: always
  type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._preflight_task import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
