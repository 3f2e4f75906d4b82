#!/usr/bin/python
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
module: vmaccess_windows
short_description: Regain access to a Windows VM through the VMAccessAgent extension, idempotently
version_added: 0.1.0
description:
  - Runs the C(Microsoft.Compute/VMAccessAgent) VM extension (version 2.4, like C(az vm user update)) on one Azure
    Windows VM or scale-set instance, or on many with O(targets), to reset the password of a local administrator,
    add a local administrator when the name differs from the existing ones, or reset the Remote Desktop
    configuration (service and firewall rule for port 3389); or removes the extension (O(state=absent)).
  - Runs on the Ansible controller (an action plugin calls Azure Resource Manager from there); the target is taken from
    the options or, when none is given, from the host's variables (see the target options).
  - Every rule that can be checked on the controller is checked before any call to Azure, with the option names in
    the message; Azure's rules for a Windows administrator name and password are applied (see O(username),
    O(password)).
  - Sends C(settings {"UserName"}) and C(protectedSettings {"Password"}) as the Azure CLI does; for O(reset_rdp) both
    are empty, which makes the handler reset the Remote Desktop configuration. Azure encrypts the protected settings
    for the VM and never returns them.
  - "B(Idempotency that includes the password.) The module records a salted scrypt fingerprint of the whole request
    (extension identity, settings and protected settings) in the extension's C(forceUpdateTag), the same scheme as
    M(vmrescue.azure.vmaccess_linux). When the VM already has a VMAccessAgent extension whose tag verifies against
    the request and whose last run succeeded, the task reports C(ok) and writes nothing. A new password makes the
    handler run again. O(force=true) always runs it."
  - A VM that already has a VMAccessAgent extension under another name gets that extension updated (Azure allows one
    per handler type); otherwise the extension is named C(enablevmaccess), like the Azure CLI and the portal.
  - A Linux VM is refused (use M(vmrescue.azure.vmaccess_linux)); a VM that is not running is refused before anything
    is written.
  - Waits for the handler by reading the extension (with its instance view) until its provisioning state is final
    and returns its status, for at most O(wait_timeout) seconds; a handler failure fails the task with the handler's
    own message.
  - "B(Known before writing.) A target whose read shows that the write cannot pass is skipped before any write,
    in check mode too, with C(outcome.status) V(skipped), a reason code and the fix in C(msg): V(extensions_disabled)
    (its model says C(osProfile.allowExtensionOperations: false)), V(agent_not_ready) (its VM agent reports Not
    Ready), V(extension_failed) (an extension of another handler is in a failed provisioning state; O(force=true)
    writes anyway). A write Azure refuses fails the target with Azure's reason (V(scope_locked) naming the locked
    scope, V(policy_denied) naming the policy assignment and definition, V(rbac_missing) naming the missing action);
    such a refusal is sent once, never retried. Only a 409 for another operation in progress is retried."
author:
  - vmrescue.azure developers (@vmrescue)
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
attributes:
  check_mode:
    details:
      - Reads the VM and its extensions and reports whether the handler would run; writes nothing.
  diff_mode:
    details:
      - Shows the extension as Azure shows it now and what would be sent, the password masked.
  idempotent:
    description: Running the same task again reports no change when the first run succeeded.
    support: full
    details:
      - Through the fingerprint in C(forceUpdateTag); see the description.
options:
  ad_user:
    description:
      - Not supported by this module, because O(password) is the VM administrator's password here; sign in as a user
        with E(AZURE_AD_USER) and E(AZURE_PASSWORD) instead, or with another credential.
      - Mutually exclusive with O(password).
    type: str
  state:
    description:
      - V(present) runs the handler with the requested settings (unless the same request already succeeded).
      - V(absent) removes the VMAccessAgent extension from the VM, whatever its name. The handler has no undo; the
        password, an added administrator and the Remote Desktop settings stay as they are. No other setting may be
        given with it.
    type: str
    choices: [present, absent]
    default: present
  username:
    description:
      - The local administrator whose password is set. When no local account has that name, the handler adds a local
        administrator with it.
      - "Azure's rules for a Windows administrator name: at most 20 characters, not ending in C(.), none of
        C(\\ / \" [ ] : | < > + = ; , ? * @ %), and not one of the names Azure reserves (such as C(administrator),
        C(admin), C(guest), C(root), C(test), C(user))."
      - Needs O(password).
    type: str
  password:
    description:
      - The new password of O(username). Keep it in Ansible Vault or a secret store, not in the playbook.
      - Give it from a variable or Ansible Vault, never written inline in the task. ansible-core 2.19 prints the
        first source lines of a failing task (its Origin) even with C(no_log); the collection's own actions and
        lookups have them replaced by a note that the content is redacted, but a task that fails before the
        collection's code runs (for example an undefined variable in its arguments) still shows them.
      - "Azure's rules for a Windows password: 8 to 123 characters, three of lower-case, upper-case, digit and special
        character, not one of the passwords Azure refuses as too common, and (Windows complexity) not containing the
        user name."
      - Never shown; masked in results and diffs, scrubbed from messages.
    type: str
  reset_rdp:
    description:
      - Reset the Remote Desktop configuration (enable the Remote Desktop service and the firewall rule for port
        3389). The handler does this when it gets neither user name nor password, so this cannot be combined with
        O(username) or O(password).
    type: bool
    default: false
  extension_name:
    description:
      - Name of the extension when the VM has no VMAccessAgent extension yet. An existing one is updated under its own
        name (with a warning when this differs).
    type: str
  type_handler_version:
    description:
      - The handler version (C(MAJOR.MINOR)).
    type: str
    default: "2.4"
  auto_upgrade_minor_version:
    description:
      - Let Azure pick the newest minor version of the handler.
    type: bool
    default: true
  force:
    description:
      - Run the handler even when the fingerprint says the same request already succeeded.
      - Also writes when another extension on the VM (of another handler) is in a failed provisioning state; without
        it such a VM is skipped before any write with reason code V(extension_failed), because a failed extension can
        block new extension operations on the VM.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the handler's final state after the write (the extension's provisioning state read
        back). Past it the target fails with reason code V(timeout), naming the last provisioning state and handler
        status; the handler may still be running, and running the same task again waits for that run rather than
        starting another.
      - The default is Azure's own limit of a handler run (90 minutes), after which Azure ends it.
      - Must be a whole number more than 0; anything else is refused before any call.
    type: int
    default: 5400
notes:
  - The handler does not support domain controllers; it fails there with its own message.
  - An ok result means that the last successful run had the same request, not that the guest still looks that way (a
    user may have changed the password since). Use O(force=true) to apply it again.
  - Anyone who can read the VM can read the salted, scrypt-hashed fingerprint in C(forceUpdateTag); every guess costs
    about 16 MiB of memory and tens of milliseconds, but a weak password could still be guessed offline.
seealso:
  - module: vmrescue.azure.vmaccess_linux
  - name: Reset Remote Desktop Services or its administrator password in a Windows VM
    description: Microsoft's documentation of the VMAccess extension for Windows.
    link: https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/reset-rdp
"""

EXAMPLES = r"""
- name: Reset the password of the local administrator (password from Ansible Vault)
  vmrescue.azure.vmaccess_windows:
    resource_group: myResourceGroup
    name: myWindowsVM
    username: azureAdmin
    password: "{{ vault_windows_admin_password }}"

- name: Add a local administrator for the rescue team
  vmrescue.azure.vmaccess_windows:
    vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myWindowsVM
    username: rescueAdmin
    password: "{{ vault_rescue_password }}"

- name: Reset the Remote Desktop configuration (service and firewall rule for 3389)
  vmrescue.azure.vmaccess_windows:
    resource_group: myResourceGroup
    name: myWindowsVM
    reset_rdp: true

- name: Reset the password on many VMs in one task, 20 at a time
  vmrescue.azure.vmaccess_windows:
    targets: "{{ windows_vm_ids }}"
    concurrency: 20
    username: azureAdmin
    password: "{{ vault_windows_admin_password }}"

- name: Remove the VMAccessAgent extension (what it did in the guest stays)
  vmrescue.azure.vmaccess_windows:
    resource_group: myResourceGroup
    name: myWindowsVM
    state: absent
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order. Each has the keys below
      (those of a single-target run) plus C(id), C(changed), C(failed) and C(msg) (empty when it did not fail).
  returned: with O(targets)
  type: list
  elements: dict
outcome:
  description:
    - What happened to the target, in a stable form to branch on (the roles' summaries do; never match C(msg)).
    - C(status) is one of V(done) (changed and confirmed), V(pending) (accepted, not yet confirmed; also a change
      check mode would make), V(unchanged) (already as asked, nothing written), V(skipped) (deliberately left
      alone), V(failed).
    - C(reason_code) is a stable snake_case code, for example V(changed), V(unchanged), V(latched),
      V(pending_confirmation), V(check_mode), V(not_found), V(wrong_os), V(deallocated), V(not_running),
      V(msp_not_enabled), V(timeout), V(throttled), V(auth_failed), V(rbac_missing), V(forbidden),
      V(policy_denied), V(scope_locked), V(extensions_disabled), V(agent_not_ready), V(extension_failed),
      V(conflict), V(connection_error), V(provisioning_failed), V(handler_failed), V(invalid_input),
      V(invalid_target), V(internal_error), V(arm_error), V(error). The reason-code table of the troubleshooting
      guide (docs/docsite/rst/guide_troubleshooting.rst) says what each one means and what to do.
      C(reason) is the human-readable reason (never a secret).
    - In batch mode, every entry of RV(results) has its own C(outcome).
  returned: always (in batch mode, in each entry of RV(results))
  type: dict
  sample: {"status": "failed", "reason_code": "wrong_os", "reason": "the VM runs Windows"}
  contains:
    status:
      description: V(done), V(pending), V(unchanged), V(skipped) or V(failed).
      type: str
    reason_code:
      description: Stable snake_case code of the reason.
      type: str
    reason:
      description: The reason in words (the failure message for a failed target).
      type: str
total:
  description: Batch mode only, the number of targets; also C(changed_count) and C(failed_count).
  returned: with O(targets)
  type: int
vm_id:
  description: Resource ID of the VM or scale-set instance.
  returned: always
  type: str
extension_name:
  description: Name of the VMAccessAgent extension that was (or would be) written or removed, or that matched.
  returned: always
  type: str
  sample: enablevmaccess
extension:
  description: The extension as sent (or as it would be sent in check mode), the password masked.
  returned: when state is present
  type: dict
  sample:
    name: enablevmaccess
    publisher: Microsoft.Compute
    type: VMAccessAgent
    typeHandlerVersion: "2.4"
    autoUpgradeMinorVersion: true
    settings: {UserName: azureAdmin}
    protectedSettings: {Password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER}
write_refused:
  description:
    - "C(true) when Azure refused the extension write with a 4xx answer (the VM deallocated meanwhile, a lock, a policy,
      a permission): nothing was written, so RV(changed) is C(false) and there is no diff, but the target failed."
    - "A 5xx answer or no answer keeps RV(changed) C(true): the write may have been applied."
  returned: when Azure refused the write
  type: bool
  sample: true
fingerprint_matched:
  description: Whether the extension already carried the fingerprint of this request and its last run succeeded.
  returned: when state is present
  type: bool
message:
  description: The handler's status message.
  returned: when known
  type: str
handler_status:
  description: The first status of the extension's instance view (code, level, displayStatus, message).
  returned: when known
  type: dict
locked_scope:
  description: 409 ScopeLocked only, the locked scope Azure named (also C(locked_scopes) when it named several).
  returned: when a lock refused the write
  type: str
policy_violations:
  description:
    - 403 RequestDisallowedByPolicy only, the policies that denied the write, each with C(assignment_name),
      C(assignment_id), C(definition_name), C(definition_id) and, when Azure gives them, C(assignment_display_name),
      C(definition_display_name), C(effect).
  returned: when a policy refused the write
  type: list
  elements: dict
failed_extensions:
  description: The extensions of other handlers in a failed provisioning state (reason code V(extension_failed)).
  returned: when the target was skipped for them
  type: list
  elements: str
provisioning_state:
  description: The extension's provisioning state after the task.
  returned: when known
  type: str
  sample: Succeeded
audit:
  description:
    - What the run report keeps of the target (docs/docsite/rst/guide_run_report.rst); in a batch, in each entry of
      RV(results).
    - C(started), C(finished) (UTC), C(duration_s); C(principal) (C(object_id), C(app_id), C(tenant_id) from the
      token's claims); C(before) / C(after) (what the diff shows, never a secret); C(requests), each write and
      failed call with C(method), C(path), C(status), C(request_id) (C(x-ms-request-id)), C(correlation_id)
      (C(x-ms-correlation-request-id)), C(error_code), C(at).
  returned: always
  type: dict
preflight:
  description:
    - For each target (in a batch, in each entry of RV(results)), what the preflight found, C(evaluated) (false
      when the target needed no write), C(checks) (C(permissions), C(locks), C(policy), C(health) as C(passed),
      C(failed) or C(unchecked)), C(refused) (the reason code that skipped it, or null), C(warnings), C(unchecked)
      (each with C(check), C(scope), C(missing_action), C(why)).
    - For a batch, the task's own C(preflight) counts C(scopes), C(calls), C(unchecked) and C(audit_policies).
  returned: when O(preflight=true)
  type: dict
report:
  description: Where the run report was written (C(path), C(markdown_path)) and its C(counts).
  returned: when O(report) is set
  type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.windows import task_spec  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule  # noqa: E402


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
