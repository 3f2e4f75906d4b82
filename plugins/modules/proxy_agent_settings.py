#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_agent_settings
short_description: Set the Metadata Security Protocol endpoint modes of a VM or scale-set instance, and restore them
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Converges C(securityProfile.proxyAgentSettings) of a VM or Uniform scale-set instance - C(enabled), the
    C(wireServer) and C(imds) endpoint settings (a mode C(Audit), C(Enforce) or C(Disabled), or an
    InVMAccessControlProfile version reference) and, on Linux, C(addProxyAgentExtension) - then confirms through
    the instance view that the guest applied the new modes (the agent's C(secureChannelState), and its rule ids for
    profile references).
  - "The break-glass runbook: when a guest cannot latch a new key (agent stopped, no eBPF or cgroup v2, kernel older
    than 5.15, no agent on a Linux image) it stays cut off from WireServer and IMDS while they are in C(Enforce).
    Microsoft's answer is to switch the endpoints to C(Audit), recover, and go back. This module does the switch
    (O(wire_server_mode=Audit), O(imds_mode=Audit)) and the way back (O(state=restored))."
  - Before the first change, the settings from before are recorded B(on the resource itself), in the tag
    C(vmrescue-msp-previous) (compact JSON, at most 256 characters, the Azure limit of a tag value), in the same
    write as the change. The VM's own tags are sent back with it, never dropped (Azure replaces the whole tag map on
    a write; C(If-Match) makes sure they are the current ones). A later change keeps the settings from before
    break-glass in the record and updates the settings written. So O(state=restored) works from another controller or a later AWX job.
  - The record (version 2) holds both sides - the settings before and the settings this collection wrote - and its
    time; with O(record_key) also a seal (HMAC-SHA256 over the resource ID, the record's purpose, time and content).
    A record of version 1 (before this release) is still read.
  - O(state=restored) puts back exactly what the record says and removes the tag in the same write. Without a
    record it changes nothing and says so.
  - "A tag is a claim, not proof: anyone with the built-in Tag Contributor role can write it. So a restore runs only
    where the VM still has the settings the record says this collection wrote (else C(record_mismatch)); under
    O(record_key) only from a record whose seal holds for this VM (else C(record_untrusted)); and without a key, a
    restore that would lower protection (MSP off, a mode below the current one, a profile reference outside the
    VM's subscription and O(allowed_profile_references)) needs O(allow_weaker_restore=true) and says what it
    weakens (else C(weaker_restore_refused)). See the security guide."

  - VMs (including Flexible scale-set instances) are updated with C(PATCH); Uniform scale-set instances with
    C(GET) + C(PUT) of the instance model. Both carry C(If-Match); a concurrent write (HTTP 412 or 409) is re-read
    and decided again.
  - Refused before any write, with a message naming the fix - a mode and a profile reference for the same endpoint
    (Azure refuses them together); modes while MSP is not enabled (C(enabled) not true; add O(enabled=true));
    O(add_proxy_agent_extension) on Windows; O(enabled=false) together with modes; O(state=restored) with settings;
    settings that cannot be recorded (50 tags already, or a record longer than 256 characters).
  - Each target's result has an RV(outcome) (C(status) C(done), C(pending), C(failed), C(skipped) or C(unchanged),
    with a C(reason_code) and a C(reason)).
options:
  state:
    description:
      - V(present) sets the settings given by the other options (at least one is required).
      - V(restored) puts back the settings recorded in the C(vmrescue-msp-previous) tag (or in the run report of
        O(restore_from)) and removes the tag; no other setting option may be given.
    type: str
    choices: [present, restored]
    default: present
  wire_server_mode:
    description:
      - Mode of the WireServer endpoint (C(securityProfile.proxyAgentSettings.wireServer.mode)), as Azure spells it.
      - V(Audit) logs what Enforce would deny without denying it (break-glass); V(Enforce) denies unauthorised
        callers; V(Disabled) turns the endpoint's protection off.
      - Replaces a profile reference on that endpoint. Mutually exclusive with O(wire_server_profile_reference_id).
    type: str
    choices: [Audit, Enforce, Disabled]
  imds_mode:
    description:
      - Mode of the IMDS endpoint (C(securityProfile.proxyAgentSettings.imds.mode)); see O(wire_server_mode).
      - Mutually exclusive with O(imds_profile_reference_id).
    type: str
    choices: [Audit, Enforce, Disabled]
  wire_server_profile_reference_id:
    description:
      - Resource ID of an InVMAccessControlProfile version
        (C(/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}/inVMAccessControlProfiles/{profile}/versions/{version}))
        whose rules govern WireServer (the version carries its own mode). Replaces a mode on that endpoint.
    type: str
  imds_profile_reference_id:
    description:
      - The same as O(wire_server_profile_reference_id), for IMDS.
    type: str
  enabled:
    description:
      - C(securityProfile.proxyAgentSettings.enabled). On Windows V(true) installs the ProxyAgentWindows extension;
        on Linux the agent comes with the image or with O(add_proxy_agent_extension=true).
      - V(false) turns the Metadata Security Protocol off (cannot be combined with modes or profile references).
    type: bool
  add_proxy_agent_extension:
    description:
      - Linux only (C(addProxyAgentExtension), api-version 2025-04-01, which the task then uses to read and write
        this target), to install the ProxyAgentLinux extension. Refused for Windows targets.
    type: bool
  wait:
    description:
      - Confirm through the VM read with its instance view that the guest reports the new modes in
        C(secureChannelState) (and the profile references in its rule ids), with the same learned, paced reads as
        M(vmrescue.azure.proxy_agent_key_reset). A batch target waiting for its guest holds none of the
        O(concurrency) workers.
      - Not waited for (outcome C(pending)) when the VM is not running, when MSP was already on and the guest reports
        no proxy agent status (no agent to confirm it, but the host still applies the settings), or when MSP was turned
        off. When MSP is turned on, the task waits for the agent to report.
      - V(false) returns after the Resource Manager operation completes.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the confirmation. On timeout the target fails with outcome C(pending)
        (C(confirm_timeout)); the settings and the record are kept, and a re-run writes nothing.
      - Must be more than 0.
    type: int
    default: 600
  record_key:
    description:
      - The operator's secret that seals the records this collection writes on VMs, and checks them before acting on
        them (an HMAC-SHA256 key; at least 16 characters). Default is the C(VMRESCUE_RECORD_KEY) environment
        variable (an AWX custom credential can inject it); keep it in Ansible Vault or a credential store, and give
        every controller that runs restores the same key. It is never returned, logged or shown.
      - With a key, a record without a seal, or whose seal does not hold for this VM (written by a tag writer,
        edited, garbled, or copied from another VM), is reported as C(record_untrusted) and never restored.
    type: str
  restore_from:
    description:
      - With O(state=restored), the run report (the JSON file the O(report) option wrote) of the run that made the
        break-glass change. The record that run wrote on each target is the trusted source; the tag is only
        cross-checked (a tag that differs is reported as a warning, C(record_cross_check), and removed).
      - A target the report has no record of is left alone (C(no_record)); one whose settings changed since is left
        alone (C(record_mismatch)).
    type: path
  allow_weaker_restore:
    description:
      - With O(state=restored) and no O(record_key) or O(restore_from), also restore a record that lowers protection
        (turns MSP off, sets a mode below the current one, or references a profile outside the VM's subscription and
        O(allowed_profile_references)). The task warns with exactly what it weakens.
      - A version 1 record (no settings written, no seal) never lowers protection, even with this option.
    type: bool
    default: false
  allowed_profile_references:
    description:
      - With O(state=restored), resource ID prefixes (a subscription, a resource group, a gallery) of
        InVMAccessControlProfile versions a restore may reference besides the VM's own subscription.
    type: list
    elements: str
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
notes:
  - An endpoint that had no settings of its own before break-glass (a VM where only the deprecated VM-wide C(mode)
    was set) is restored as empty settings C({}), which means the same (the VM-wide mode applies); a later run sees
    it as unchanged.
  - "Cost in Resource Manager calls: a run that changes nothing makes 1 read (the model with its instance view); a
    confirmed change makes 1 write and about 2 reads. Check mode makes the 1 read and no write."
  - "Permissions: C(Microsoft.Compute/virtualMachines/read) and C(/write) (for scale-set instances
    C(Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read) and C(/write)): the role in
    docs/docsite/vmrescue-azure-role.json has them."
seealso:
  - module: vmrescue.azure.proxy_agent_key_reset
  - name: Metadata Security Protocol
    description: Microsoft's documentation of MSP, its modes and the Audit-mode escape hatch.
    link: https://learn.microsoft.com/azure/virtual-machines/metadata-security-protocol/overview
"""

EXAMPLES = r"""
- name: Break-glass - switch both endpoints of the unreachable hosts to Audit, recover, then restore
  hosts: broken_vms
  gather_facts: false
  tasks:
    - name: Switch to Audit (the settings before are recorded on each VM)
      vmrescue.azure.proxy_agent_settings:
        wire_server_mode: Audit
        imds_mode: Audit
      register: glass

    - name: Put back what was there before
      vmrescue.azure.proxy_agent_settings:
        state: restored

- name: One task for a whole play batch (batch mode), credentials from vault-encrypted variables
  hosts: broken_vms
  gather_facts: false
  tasks:
    - name: Audit everywhere
      vmrescue.azure.proxy_agent_settings:
        targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
        wire_server_mode: Audit
        imds_mode: Audit
        auth_source: credentials
        client_id: "{{ vault_azure_client_id }}"
        secret: "{{ vault_azure_secret }}"
        tenant: "{{ vault_azure_tenant }}"
        subscription_id: "{{ azure_subscription_id }}"
      run_once: true
      register: glass

    - name: Hosts whose guest did not confirm the switch
      ansible.builtin.debug:
        msg: "{{ glass.results | rejectattr('outcome.status', 'equalto', 'done') | map(attribute='id') | list }}"

- name: Single targets from localhost
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Govern WireServer by a profile version on a Uniform scale-set instance
      vmrescue.azure.proxy_agent_settings:
        resource_group: rg-web
        vmss_name: web-ss
        instance_id: "3"
        wire_server_profile_reference_id: >-
          /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/galleries/g1/inVMAccessControlProfiles/web/versions/1.0.0

    - name: Install the agent on a Linux VM and enable MSP in Audit
      vmrescue.azure.proxy_agent_settings:
        resource_group: rg-web
        name: web-02
        enabled: true
        add_proxy_agent_extension: true
        wire_server_mode: Audit
        imds_mode: Audit
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order, each with the keys below
      plus C(id), C(changed), C(failed) and C(msg).
  returned: with O(targets)
  type: list
  elements: dict
total:
  description: Batch mode only, the number of targets; also C(changed_count) and C(failed_count).
  returned: with O(targets)
  type: int
id:
  description: Resource ID of the VM or scale-set instance.
  returned: always
  type: str
before:
  description:
    - The settings before the task - C(enabled), C(wire_server) and C(imds) (each C({mode, profile_reference_id}) or
      null when absent) and C(add_proxy_agent_extension) (null unless read with api-version 2025-04-01).
  returned: success
  type: dict
  sample: {"enabled": true, "wire_server": {"mode": "Enforce", "profile_reference_id": null},
           "imds": {"mode": "Enforce", "profile_reference_id": null}, "add_proxy_agent_extension": null}
after:
  description: The settings after the task (what they would be, in check mode); the same shape as RV(before).
  returned: success
  type: dict
recorded:
  description: The value written to the C(vmrescue-msp-previous) tag by this task (null when none was written); a seal
    is shown as C(sealed), never its value.
  returned: success
  type: str
  sample: '{"b":{"e":1,"i":"Enforce","w":"Enforce"},"m":"sealed","s":{"e":1,"i":"Audit","w":"Audit"},"t":"2026-12-04T11:50:00Z","v":2}'
record:
  description: The settings before break-glass the record held when the task started (the tag's, or with O(restore_from) the
    run report's; null without one).
  returned: success
  type: dict
confirmed:
  description: Whether the guest reports the settings of RV(after) (C(secureChannelState), rule ids).
  returned: success
  type: bool
secure_channel_state:
  description: The last C(secureChannelState) the guest reported.
  returned: success
  type: str
  sample: WireServer Audit -  IMDS Audit - HostGA Audit
outcome:
  description: What happened to this target.
  returned: always
  type: dict
  contains:
    status:
      description: C(done), C(pending) (written, not confirmed), C(failed), C(skipped) (check mode, or nothing to
        restore) or C(unchanged).
      type: str
    reason_code:
      description: A stable code, for example C(confirmed), C(in_state), C(no_record), C(check_mode), C(no_agent),
        C(not_running), C(not_waited), C(confirm_timeout), C(msp_not_enabled), C(linux_only), C(too_many_tags),
        C(record_too_long), C(scope_locked), C(policy_denied), C(rbac_missing), C(conflict), C(arm_error) (the
        reason-code table of the troubleshooting guide says what each one means and what to do).
      type: str
    reason:
      description: The same in words.
      type: str
msg:
  description: Why nothing was done (no record to restore), or what is pending.
  returned: when there is something to say
  type: str
diff:
  description: Before and after settings, with C(--diff) or the task keyword C(diff).
  returned: when diff mode is on
  type: dict
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

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.endpoint_modes import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
