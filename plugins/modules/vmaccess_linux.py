#!/usr/bin/python
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
module: vmaccess_linux
short_description: Regain access to a Linux VM through the VMAccessForLinux extension, idempotently
version_added: 0.1.0
description:
  - Runs the C(Microsoft.OSTCExtensions/VMAccessForLinux) VM extension on one Azure Linux VM or scale-set instance to
    reset or add an SSH key, reset a password, create a sudo user, delete a user, reset or restore C(sshd_config), or
    check or repair a disk; or removes the extension (O(state=absent)).
  - Runs on the Ansible controller (an action plugin calls Azure Resource Manager from there); the target is taken from
    the options or, when none is given, from the host's variables (see the target options).
  - Every rule of the handler that can be checked on the controller is checked before any call to Azure, with the
    option names in the message.
  - Sends what the handler reads correctly, JSON booleans, and only the keys that are set (the handler treats the
    string V("false") as true). Only O(check_disk), O(repair_disk) and O(disk_name) are public settings; everything
    else goes in the protected settings, which Azure encrypts for the VM and never returns.
  - "B(Idempotency that includes the secrets.) Azure never returns protected settings, so the module cannot compare
    them. It records a fingerprint of the whole requested configuration (extension identity, public and protected
    settings) in the extension's C(forceUpdateTag): C(vmrescue1$<salt>$<hash>), where the hash is
    C(scrypt(canonical JSON, salt, N=2**14, r=8, p=1, 32 bytes)) with a fresh random 16-byte salt for every task (a
    batch of O(targets) uses one salt, so it computes one scrypt for all its VMs, and VMs that got the same request
    from the same task carry the same tag). When the
    VM already has a VMAccessForLinux extension whose tag verifies against the requested configuration and whose last
    run succeeded, the task reports C(ok) and sends nothing. Any change, including only the password or only the key,
    makes the handler run again. O(force=true) always runs it."
  - A VM that already has a VMAccessForLinux extension under another name gets that extension updated (Azure allows
    one per handler type); otherwise the extension is named C(enablevmaccess), like the Azure CLI and the portal do.
  - A Windows VM is refused (use the C(Microsoft.Compute/VMAccessAgent) extension, version 2.4, there). A VM that is
    not running is refused before anything is written.
  - Waits for the handler to finish and returns its status (C(Enable succeeded.)); a handler failure fails the task
    with the handler's own message. It waits by reading the extension (with its instance view) until its
    provisioning state is final, not by polling the operation (about one read per VM once a batch has learned how
    long the handler takes). O(wait_timeout) bounds the wait; by default it is Azure's own limit of a handler run,
    90 minutes.
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
      - Through the fingerprint in C(forceUpdateTag); see the description and O(fingerprint_password).
options:
  ad_user:
    description:
      - Not supported by this module, because O(password) is the VM user's password here; sign in as a user with
        E(AZURE_AD_USER) and E(AZURE_PASSWORD) instead, or with another credential.
      - Mutually exclusive with O(password).
    type: str
  state:
    description:
      - V(present) runs the handler with the requested settings (unless the same configuration already succeeded).
      - V(absent) removes the VMAccessForLinux extension from the VM, whatever its name. It does not undo what the
        handler did in the guest. No other setting may be given with it.
    type: str
    choices: [present, absent]
    default: present
  username:
    description:
      - The user to create or update. The handler creates it if missing and gives it sudo rights
        (C(/etc/sudoers.d/waagent)). Needs O(password) or O(ssh_key) or both.
      - Do not name a user you do not want to be a sudoer.
      - System accounts (C(root), C(bin), C(daemon), C(sshd) and the other accounts every Azure Linux image has
        below C(UID_MIN)) are refused before any call, because the handler refuses to set their password or key
        (C(Failed to set password for system user)).
    type: str
  password:
    description:
      - New password for O(username). Also turns on C(PasswordAuthentication) in C(sshd_config).
      - Never logged, returned or shown in a diff. See O(fingerprint_password) for how it enters the fingerprint.
      - Give it from a variable or Ansible Vault, never written inline in the task. ansible-core 2.19 prints the
        first source lines of a failing task (its Origin) even with C(no_log); the collection's own actions and
        lookups have them replaced by a note that the content is redacted, but a task that fails before the
        collection's code runs (for example an undefined variable in its arguments) still shows them.
    type: str
  ssh_key:
    description:
      - Public key to add to C(~/.ssh/authorized_keys) of O(username), or the path of a file on the controller that
        holds one (like C(az vm user update --ssh-key-value)); C(~) is expanded, a relative path is looked up like a
        C(files/) lookup of the task.
      - Accepted formats are the ones the handler handles, C(ssh-rsa) and C(ssh-ed25519) keys (one key), an SSH2
        public key block (C(---- BEGIN SSH2 PUBLIC KEY ----)) and a PEM certificate. ECDSA (C(ecdsa-sha2-*)) and FIDO
        (C(sk-*)) keys are refused, because the handler treats them as a certificate and fails.
      - The key is appended; the existing keys stay unless O(remove_prior_keys=true).
      - The key is parsed in full before any call (strict base64, every length field, the type inside the key equal
        to the one in front of it, nothing after the last field, key sizes; an RSA modulus of 1024 bits or more,
        Azure asks for 2048). A key cut short, as happens when it is copied from a wrapped terminal, is refused as
        truncated instead of being installed. OpenSSH certificates (C(*-cert-v01@openssh.com)) are refused.
      - A private key given by mistake (C(-----BEGIN ... PRIVATE KEY-----), C(PuTTY-User-Key-File)) is refused
        before anything reads it and never shown, not even in C(invocation); treat that key as exposed if it was
        written into a playbook or an inventory.
    type: str
  remove_prior_keys:
    description:
      - Remove the keys already in C(authorized_keys) of O(username) before adding O(ssh_key). Needs O(ssh_key).
    type: bool
  expiration:
    description:
      - Account expiry date, C(YYYY-MM-DD). The handler applies it only when it creates the account
        (C(useradd -e)); it does not change an existing account.
    type: str
  reset_ssh:
    description:
      - Replace C(sshd_config) with the distribution default from the handler (after a backup), open port 22 in
        iptables and restart sshd. Cannot be combined with O(remove_user) or O(restore_backup_ssh).
    type: bool
  restore_backup_ssh:
    description:
      - Restore the C(sshd_config) backup the handler took before its last change. Cannot be combined with
        O(remove_user) or O(reset_ssh).
    type: bool
  remove_user:
    description:
      - Delete this user (C(userdel)) and its sudoers entry. Cannot be combined with O(reset_ssh),
        O(restore_backup_ssh) or O(password) (the handler refuses to change C(sshd_config) and remove a user in one
        run).
      - System accounts such as C(root) are refused before any call, because the handler skips them while still
        reporting C(Enable succeeded.).
    type: str
  check_disk:
    description:
      - Check the disks (C(fsck)). Cannot be combined with O(repair_disk). Public setting.
    type: bool
  repair_disk:
    description:
      - Repair the disk O(disk_name). Cannot be combined with O(check_disk). Public setting.
    type: bool
  disk_name:
    description:
      - The disk to repair; required with O(repair_disk=true) and used only with it. Public setting.
    type: str
  enable_passwordless_access:
    description:
      - Give O(username) passwordless sudo (C(NOPASSWD)). Needs O(username). Undocumented by Microsoft; supported
        by the handler since 1.5.19.
    type: bool
  extension_name:
    description:
      - Name of the extension resource when the VM has no VMAccessForLinux extension yet. Default C(enablevmaccess),
        the name the Azure CLI and the portal use.
      - When the VM already has one under another name, that one is updated and this option is ignored with a
        warning, because Azure accepts only one extension per handler type.
    type: str
  type_handler_version:
    description:
      - The handler version (C(MAJOR.MINOR)).
    type: str
    default: "1.5"
  auto_upgrade_minor_version:
    description:
      - Let Azure pick the newest minor version of the handler.
    type: bool
    default: true
  force:
    description:
      - Run the handler even when the fingerprint says the same configuration already succeeded.
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
  fingerprint_password:
    description:
      - Include O(password) in the fingerprint stored in C(forceUpdateTag).
      - "Trade-off: anyone who can read the VM (the C(Reader) role is enough) can read the tag. The salt and scrypt
        make every guess cost about 16 MiB of memory and tens of milliseconds and stop precomputed tables, and the
        configuration hashed with the password includes the user name and key; still, a weak password can be guessed
        offline. With V(false) the password is left out of the fingerprint: nothing about it is stored in Azure, but a
        change of the password alone is no longer detected, so the task reports C(ok); set O(force=true) to reset a
        password then."
    type: bool
    default: true
notes:
  - The handler sets C(ChallengeResponseAuthentication no) in C(sshd_config) each time it runs, which turns off
    Microsoft Entra ID SSH login; the module warns when the VM has the C(AADSSHLoginForLinux) extension, which must
    then be run again.
  - An ok result means that the last successful run had the same configuration, not that the guest still looks that
    way (a user may have changed it since). Use O(force=true) to apply the configuration again.
  - For a scale-set instance of a Uniform scale set the extension is set on that instance only; it is not added to
    the scale-set model.
seealso:
  - name: VMAccess extension for Linux
    description: Microsoft's documentation of the extension and its settings.
    link: https://learn.microsoft.com/azure/virtual-machines/extensions/vmaccess-linux
  - name: VMAccessAgent for Windows
    description: The Windows counterpart (publisher Microsoft.Compute, type VMAccessAgent, version 2.4).
    link: https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/reset-rdp
"""

EXAMPLES = r"""
# The VM is named by its resource group and name here; in an inventory from the azure_rm plugin the target can be
# left out and is taken from the host's variables.

- name: Update the SSH key of the admin user (appends the key)
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    username: azureUser
    ssh_key: ~/.ssh/id_rsa.pub

- name: Replace all keys of the admin user with one key
  vmrescue.azure.vmaccess_linux:
    vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM
    username: azureUser
    ssh_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0kW8n2z2gN4eH8uE3RkqYt2J0bA6pB8T3n9m2Qe4cX azureUser@laptop"
    remove_prior_keys: true

- name: Reset the password of the admin user
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    username: azureUser
    password: "{{ vault_new_password }}"

- name: Reset sshd_config to the distribution default and restart sshd
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    reset_ssh: true

- name: Create a sudo user that logs in with a key, expiring at the end of the year
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    username: myNewUser
    ssh_key: files/mynewuser.pub
    expiration: "2030-12-31"

- name: Delete a user
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    remove_user: myNewUser

- name: Restore the sshd_config backup taken by the previous run
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    restore_backup_ssh: true

- name: Check the disks
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    check_disk: true

- name: Repair a disk
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    repair_disk: true
    disk_name: sdc

- name: Reset the password on instance 3 of a Uniform scale set, without the password in the fingerprint
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    vmss_name: myScaleSet
    instance_id: "3"
    username: azureUser
    password: "{{ vault_new_password }}"
    fingerprint_password: false
    force: true

- name: Remove the VMAccessForLinux extension (the guest keeps what it did)
  vmrescue.azure.vmaccess_linux:
    resource_group: myResourceGroup
    name: myVM
    state: absent

- name: Batch mode - the same intent on many VMs in one task (one token, paced requests), per-VM results
  vmrescue.azure.vmaccess_linux:
    targets:
      - /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1
      - resource_group: rg
        name: vm2
    username: azureUser
    ssh_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    reset_ssh: true
  register: access
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order. Each has the keys below
      (those of a single-target run) plus C(id), C(changed), C(failed) and C(msg) (empty when it did not fail).
    - A Windows VM, a VM that is not running or a handler failure fails only its own entry.
  returned: with O(targets)
  type: list
  elements: dict
  sample: [{"id": "/subscriptions/.../virtualMachines/vm1", "changed": true, "failed": false, "msg": "",
            "extension_name": "enablevmaccess"}]
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
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1
extension_name:
  description: Name of the VMAccessForLinux extension that was (or would be) written or removed, or that matched.
  returned: always
  type: str
  sample: enablevmaccess
extension:
  description:
    - The extension as sent (or as it would be sent in check mode), the password masked. Omitted for O(state=absent).
  returned: when state is present
  type: dict
  sample:
    name: enablevmaccess
    publisher: Microsoft.OSTCExtensions
    type: VMAccessForLinux
    typeHandlerVersion: "1.5"
    autoUpgradeMinorVersion: true
    settings: {}
    protectedSettings:
      username: azureUser
      password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER
write_refused:
  description:
    - "C(true) when Azure refused the extension write with a 4xx answer (the VM deallocated meanwhile, a lock, a policy,
      a permission): nothing was written, so RV(changed) is C(false) and there is no diff, but the target failed."
    - "A 5xx answer or no answer keeps RV(changed) C(true): the write may have been applied."
  returned: when Azure refused the write
  type: bool
  sample: true
fingerprint_matched:
  description: Whether the extension already carried the fingerprint of this configuration and its last run succeeded.
  returned: when state is present
  type: bool
  sample: false
message:
  description: "The handler's status message, such as C(Enable succeeded.) or C(Enable failed: ...)."
  returned: when known
  type: str
  sample: Enable succeeded.
handler_status:
  description: The first status of the extension's instance view.
  returned: when known
  type: dict
  contains:
    code:
      description: Status code.
      type: str
      sample: ProvisioningState/succeeded
    level:
      description: Info, Warning or Error.
      type: str
      sample: Info
    displayStatus:
      description: Display status.
      type: str
      sample: Provisioning succeeded
    message:
      description: The handler's message.
      type: str
      sample: Enable succeeded.
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

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux import task_spec  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule  # noqa: E402


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
