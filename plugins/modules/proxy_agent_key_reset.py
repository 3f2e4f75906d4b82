#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_agent_key_reset
short_description: Reset the Guest Proxy Agent (Metadata Security Protocol) key of a VM or scale-set instance
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Raises C(securityProfile.proxyAgentSettings.keyIncarnationId) of a VM or Uniform scale-set instance, which makes
    Azure issue a new key to the Guest Proxy Agent, and confirms through the instance view that the guest latched it.
    Use it when a VM lost its latched key (for example after a disk moved to a new VM) or the host and guest keys
    no longer match, and the VM cannot reach WireServer or IMDS.
  - VMs (including Flexible scale-set instances) are updated with C(PATCH); Uniform scale-set instances with
    C(GET) + C(PUT) of the instance model. Both writes carry C(If-Match) with the etag of the read the decision was
    made on. Keys are per instance; there is no scale-set-wide reset.
  - The write also records the reset in the tag C(vmrescue-key-reset) (value C(<keyIncarnationId>@<UTC time>), for
    example C(7@2026-12-04T11:50:00Z)), in the same request, so another controller, a later job and the
    C(vmrescue.azure.vms) inventory see that a reset is pending. Azure replaces the whole tag map on a write, so the
    VM's own tags are sent back with it (never dropped; C(If-Match) makes sure they are the current ones). The tag
    stays after the guest latched the key, as history; no extra write removes it. When a VM already has 50 tags
    (the Azure limit) and no such tag, the reset is written without it, with a warning.
  - A concurrent write by someone else (HTTP 412 from C(If-Match), HTTP 409 another operation in progress,
    C(can only be incremented)) is re-read and decided again on what the other writer left; a reset another run
    wrote meanwhile is pending for this run too, so two overlapping runs raise a key once, not twice.
  - O(state=healthy) classifies the latched key and resets only when it is not usable. The classification, in order,
    first match wins, returned as RV(health.verdict) (C(reset) says whether O(state=healthy) resets).
  - "VM not running (deallocated, stopped): C(unknown), reset: no."
  - "No proxy agent extension status in the instance view: C(unknown), reset: no."
  - "Agent status stale or unreadable (substatus C(transitioning), message not JSON): C(unknown), reset: no."
  - "C(secureChannelState) C(disabled), or all endpoints C(Disabled), or message C(Customer has not enforce the secure channel state):
    C(not_enforced), reset: no (no key is in use)."
  - "A reset pending, whatever the message says: the latched C(keyIncarnationId) lower than the model's, or the guest
    reporting none while the C(vmrescue-key-reset) tag records a reset to the model's value; not when that record
    is more than 30 minutes old (the guest had its time), dated in the future, contradicted by the guest (a key
    failure it reports 2 minutes or more after the record), or, under O(record_key), without a valid seal:
    C(pending), reset: no. The result gives RV(pending_since)
    (the recorded write time; null when the raise was not recorded by this collection) and a C(msg) saying what to do
    (O(state=reset) or O(force=true) raise it anyway)."
  - "Message C(Failed to acquire key details), C(Failed to check the key ... details saved locally), C(Failed to attest the key),
    C(Failed to save key details to file): C(unhealthy), reset: B(yes)."
  - "Message C(Failed to get key status) (the agent cannot reach the host; a reset does not fix this): C(unknown), reset: no."
  - "Message C(Status unknown.) or C(poll secure channel status task started.), or status C(UNKNOWN): C(unknown), reset: no."
  - "Message C(poll_secure_channel_status task exited/cancelled), or status C(STOPPED): C(unknown), reset: no."
  - "Ready message (C(Found key details from local and ready to use), C(Successfully attest the key and ready to use), or old agents'
    (1.0.25 to 1.0.41) C(Got key status successfully ...)), a C(keyGuid), and the latched C(keyIncarnationId) equal to the model's:
    C(healthy), reset: no."
  - "Ready message but no latched C(keyIncarnationId) while the model's is above 0:
    C(pending) (an earlier reset has not reached the guest yet), reset: no."
  - "Anything else: C(unknown), reset: no."
  - "On top of the table, a reset that does not reach the guest ends its pending state after O(stuck_after) seconds
    (30 minutes by default) as C(stuck), reset: no (it is reported with its likely cause and the next step in
    RV(stuck), reason code C(key_stuck)): a reset this collection recorded, not contradicted by the guest, on a running
    VM whose guest still reports a lower C(keyIncarnationId), none, or no fresh status; or a pending reset nobody
    recorded (the model above the guest's key), O(stuck_after) seconds after this module first observed it."
  - A pending reset nobody recorded is dated by its first observation. O(state=healthy) records it in the same
    C(vmrescue-key-reset) tag (value C(observed:<keyIncarnationId>@<UTC time>), sealed under O(record_key) like a reset
    record) with one tag write (not in check mode, reported as RV(key_reset_observed), not as a change), so that a later
    run knows how long it has been pending. An observation only dates a pending state, so a planted one can at most turn
    C(pending) (not written) into C(stuck) (not written either); it never makes the task write, skip or weaken what the
    model alone would not, and under O(record_key) an observation without a valid seal is ignored and replaced. A reset
    this module writes replaces it.
  - C(secureChannelState) is parsed in all its forms, including the agent's two spaces before C(IMDS)
    (C(WireServer Enforce -  IMDS Enforce - HostGA Enforce)) and host schema 1.0's C(wireserver) / C(wireserverandimds).
  - With O(force=true), O(state=healthy) also resets when the verdict is C(unknown), C(pending) or C(stuck).
options:
  state:
    description:
      - V(reset) raises C(keyIncarnationId) by one (always changed).
      - V(healthy) resets only when the latched key is not usable (see the table above); ok otherwise.
      - Mutually exclusive with O(key_incarnation_id); one of the two is required.
    type: str
    choices: [reset, healthy]
  key_incarnation_id:
    description:
      - Converge C(keyIncarnationId) to at least this value. Ok (no write) when the model already has this value or more,
        so a fleet can be re-run with the same value safely.
      - 0 to 2147483647 (the field is an int32); other values are refused before any call.
    type: int
  force:
    description:
      - With O(state=healthy), also reset when the health cannot be determined (verdict C(unknown)), a reset is
        still pending (verdict C(pending)) or stuck (verdict C(stuck)).
      - Without it, a re-run while an earlier reset has not reached the guest (for example after a timeout or a
        cancelled job) writes nothing, since each raise restarts the guest's key negotiation.
    type: bool
    default: false
  wait:
    description:
      - Confirm the reset through the VM read with its instance view (C(GET ...?$expand=instanceView)) until the guest
        reports C(states.keyIncarnationId) equal to the new value with a new C(keyGuid). The operation's status and
        a final GET are not read, since the same read shows C(provisioningState), and a failed update fails the target
        with its Azure error.
      - The first confirmation read waits for the expected propagation delay, learned from the targets confirmed
        earlier in the same task (2 seconds until one was; then a running 0.8 quantile of the observed delays);
        later reads back off (doubling, at most every 15 s). So a batch spends about two reads per VM.
        A read that still shows the agent status from before the write (Azure's instance view lags the model) is
        not counted as a miss; when most first reads are such, the first read comes after 1 s and the second at
        the learned delay (two confirmation reads).
      - In a batch, a target waiting for its guest holds none of the O(concurrency) workers (they bound requests
        in flight); until one target is confirmed, only two targets read and the others wait for the delay they
        learn.
      - Expected propagation is up to about 90 seconds (agent key poll, status write, extension status upload).
      - With V(true), a VM that is not running fails before any write (a reset cannot be confirmed on it);
        use V(false) to only raise the model value, which the guest latches when it next runs.
      - V(false) returns after the Resource Manager operation completes (its status is polled, then the VM read).
        When Azure accepted the write and the operation then failed, the task fails with C(changed=true), the value
        written and the Azure error.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the confirmation. On timeout the task fails with the last C(keyLatchStatus) seen
        (the model change is kept and recorded; a re-run with O(state=healthy) reports the reset as pending instead of
        raising the key again).
      - Must be more than 0; 0 or less is refused before any call (use O(wait=false) not to wait).
    type: int
    default: 600
  record_key:
    description:
      - The operator's secret that seals the C(vmrescue-key-reset) record this task writes with the key, and checks
        the record before a pending reset holds a VM back (an HMAC-SHA256 key; at least 16 characters). Default is
        the C(VMRESCUE_RECORD_KEY) environment variable (an AWX custom credential can inject it). It is never
        returned, logged or shown.
      - With a key, a record without a seal, or whose seal does not hold for this VM, is ignored and reported in
        RV(record_check) (C(record_untrusted)). Without one, a record only counts while the guest does not contradict
        it (a key failure the guest reports 2 minutes or more after the recorded reset, C(record_contradicted)).
    type: str
  stuck_after:
    description:
      - Seconds a key reset may take to reach the guest before it is reported C(stuck) instead of C(pending) (see the
        table), counted from the reset this collection recorded, or from the first observation of a reset nobody
        recorded. It is also how long a recorded reset whose guest reports no C(keyIncarnationId) counts as pending.
      - Must be more than 0. The default, 1800 (30 minutes), leaves the guest many key polls (about 90 seconds each).
    type: int
    default: 1800
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
notes:
  - The proxy agent must be enabled (C(securityProfile.proxyAgentSettings.enabled)); otherwise the task fails with a message
    saying so, for Windows (C(ProxyAgentWindows)) and Linux (C(ProxyAgentLinux)) alike.
  - "Cost in Resource Manager calls: a run that changes nothing makes 1 read (the model with its instance view, via
    C($expand=instanceView)); a confirmed reset makes 1 write and about 2 reads (the first read, then usually one
    confirmation read; no operation status poll). With O(wait=false): 1 write, the operation's status polls and
    its final GET."
  - Requests are paced by Resource Manager's C(x-ms-ratelimit-remaining-*) headers (a token-bucket model with
    Azure's documented limits as the fallback), so a large batch runs at the subscription's throttling limits
    instead of colliding with HTTP 429; a 429 that still happens is retried after its C(Retry-After).
  - A batch whose O(targets) are in several subscriptions runs each subscription's targets in a process of its own
    (as many as the CPUs the controller lets the task use, at most 8; one process's threads share one core).
    Azure throttles per principal and subscription, so each subscription is paced by one process. Each process signs
    in on its own (through the token cache the run's processes share); the results are the same, in the order of
    O(targets).
seealso:
  - plugin: vmrescue.azure.key_latch_status
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Reset the key of every VM of an azure_rm inventory group when it is not usable (the VMs are unreachable)
  hosts: azure_vms
  gather_facts: false
  tasks:
    - name: Reset only broken keys
      vmrescue.azure.proxy_agent_key_reset:
        state: healthy
      register: key

- name: The same for a whole group in one controller-side task (batch mode), then each host's own result
  hosts: azure_vms
  gather_facts: false
  tasks:
    - name: Reset the broken keys of this play batch
      vmrescue.azure.proxy_agent_key_reset:
        targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
        state: healthy
      run_once: true
      register: keys

    - name: Report each host's result
      ansible.builtin.debug:
        msg: "{{ dict(ansible_play_batch | zip(keys.results))[inventory_hostname].msg }}"
      changed_when: dict(ansible_play_batch | zip(keys.results))[inventory_hostname].changed
      failed_when: dict(ansible_play_batch | zip(keys.results))[inventory_hostname].failed

- name: Reset one VM from localhost
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Raise the key incarnation by one and wait for the guest
      vmrescue.azure.proxy_agent_key_reset:
        vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01
        state: reset

    - name: Converge a Uniform scale-set instance to a given incarnation (idempotent)
      vmrescue.azure.proxy_agent_key_reset:
        resource_group: rg-web
        vmss_name: web-ss
        instance_id: "3"
        key_incarnation_id: 10
        wait_timeout: 300

    - name: Batch mode - reset many VMs in one task and see each one's result
      vmrescue.azure.proxy_agent_key_reset:
        targets:
          - /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01
          - resource_group: rg-web
            name: web-02
          - resource_group: rg-web
            vmss_name: web-ss
            instance_id: "3"
        state: healthy
        concurrency: 32
      register: batch

    - name: Show the targets that failed (the task itself does not fail for them)
      ansible.builtin.debug:
        msg: "{{ batch.results | selectattr('failed') | map(attribute='msg') | list }}"

    - name: Reset without waiting (for example on a deallocated VM), credentials from module_defaults
      vmrescue.azure.proxy_agent_key_reset:
        resource_group: rg-web
        name: web-02
        state: reset
        wait: false
      module_defaults:
        group/vmrescue.azure.azure:
          auth_source: env
          subscription_id: 00000000-0000-0000-0000-000000000000
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order. Each has the keys below
      (those of a single-target run) plus C(id), C(changed), C(failed) and C(msg) (empty when it did not fail).
    - The other keys below are returned at the top level only without O(targets).
  returned: with O(targets)
  type: list
  elements: dict
  sample: [{"id": "/subscriptions/.../virtualMachines/web-01", "changed": true, "failed": false, "msg": "",
            "previous_key_incarnation_id": 3, "key_incarnation_id": 4, "confirmed": true}]
outcome:
  description:
    - What happened to the target, in a stable form to branch on (the roles' summaries do; never match C(msg)).
    - C(status) is one of V(done) (changed and confirmed), V(pending) (accepted, not yet confirmed; also a change
      check mode would make), V(unchanged) (already as asked, nothing written), V(skipped) (deliberately left
      alone), V(failed).
    - C(reason_code) is a stable snake_case code, for example V(changed), V(unchanged), V(latched),
      V(pending_confirmation), V(key_stuck), V(check_mode), V(not_found), V(wrong_os), V(deallocated), V(not_running),
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
id:
  description: Resource ID of the VM or scale-set instance.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01
previous_key_incarnation_id:
  description: C(keyIncarnationId) in the model before the task (0 when unset).
  returned: success
  type: int
  sample: 9
key_incarnation_id:
  description: C(keyIncarnationId) in the model after the task (what it would be, in check mode).
  returned: success
  type: int
  sample: 10
key_latch_status:
  description:
    - The C(keyLatchStatus) object from the agent's status (C(status), C(message), C(states) with string values), the last one read.
    - null when it was not read (O(wait=false) with O(key_incarnation_id)) or the agent reports none.
  returned: success
  type: dict
  sample: {"status": "RUNNING", "message": "Found key details from local and ready to use. - 122",
           "states": {"secureChannelState": "WireServer Enforce -  IMDS Enforce - HostGA Enforce",
                      "keyGuid": "e3882f98-da8d-4410-8394-06c23462781c", "keyIncarnationId": "10"}}
health:
  description: The health classification (see the table in the description). null when the instance view was not read.
  returned: success
  type: dict
  contains:
    verdict:
      description: C(healthy), C(pending), C(stuck), C(not_enforced), C(unhealthy) or C(unknown).
      type: str
    reset_needed:
      description: Whether the latched key is unusable (verdict C(unhealthy)).
      type: bool
    reason:
      description: Why, in words.
      type: str
    message_family:
      description: Family of C(keyLatchStatus.message) (C(ready_local), C(ready_attested), C(legacy_ok), C(not_enforced),
        C(key_status_failed), C(acquire_failed), C(save_failed), C(local_key_failed), C(attest_failed), C(starting), C(stopped), C(other)).
      type: str
    secure_channel:
      description: Parsed C(secureChannelState) (C(wireserver), C(imds), C(hostga) modes, C(in_use)).
      type: dict
    latched_key_incarnation_id:
      description: C(keyIncarnationId) the guest reports, as an integer.
      type: int
    model_key_incarnation_id:
      description: C(keyIncarnationId) in the model.
      type: int
    power_state:
      description: Power state from the instance view.
      type: str
    pending_since:
      description: With verdict C(pending), when the pending reset was written (UTC, from the C(vmrescue-key-reset)
        tag), or null when unknown.
      type: str
    observed_since:
      description: With verdict C(pending) and no record of the reset, when it was first observed pending (the
        observation in the C(vmrescue-key-reset) tag, this run's included).
      type: str
    stuck:
      description: With verdict C(stuck), the same as RV(stuck).
      type: dict
    observe:
      description: True when a reset is pending and nothing dates it yet (no record, no observation); O(state=healthy)
        then records the first observation (RV(key_reset_observed)), except in check mode.
      type: bool
confirmed:
  description: Whether the guest reports the model's C(keyIncarnationId) (after a reset, with a new C(keyGuid)).
  returned: success
  type: bool
pending_since:
  description: When the health verdict is C(pending), the time the pending reset was written (UTC ISO 8601), null
    when it was not recorded by this collection.
  returned: when a reset is pending and nothing was written
  type: str
  sample: '2026-12-04T11:50:00Z'
stuck:
  description:
    - A key reset that has not reached the guest O(stuck_after) seconds after it was recorded or first observed.
    - C(since) (UTC), C(age) (seconds), C(source) (C(record) a reset this collection wrote, C(observation) the first
      observation of a reset nobody recorded), C(hold) (O(stuck_after)).
    - C(cause) (the likely cause, from the agent's own status), one of C(agent_missing), C(stale_status) (the status is
      transitioning, not JSON or older than 15 minutes), C(agent_stopped) (the key poll loop is STOPPED),
      C(ebpf_failed), C(listener_failed) (the agent reports ERROR), C(host_unreachable) (C(Failed to get key status)),
      C(key_failure) (the guest fails on its old key), C(old_key_ready) (the agent reports its old key ready), C(unknown);
      C(cause_text) in words.
    - C(remedy) C(recovery_ladder) (the agent must run again, so restart, reapply, redeploy) or C(reset_again) (raise the
      key once more, recorded, with O(force=true)); C(next_step) says it in words, with break-glass (Audit) as the way
      to keep the VM reachable meanwhile.
  returned: when the health verdict is C(stuck)
  type: dict
  sample: {"since": "2026-12-04T11:50:00Z", "age": 2400, "source": "observation", "hold": 1800,
           "cause": "agent_stopped", "cause_text": "the agent's key poll loop is STOPPED: poll_secure_channel_status task exited.",
           "remedy": "recovery_ladder", "next_step": "the agent has to run again before any key can latch: ..."}
key_reset_observed:
  description: The first observation of a pending reset nobody recorded, written by this run to the C(vmrescue-key-reset)
    tag (C(observed:<keyIncarnationId>@<UTC time>), with O(record_key) followed by C(#sealed)).
  returned: when this run recorded such an observation
  type: str
  sample: observed:6@2026-12-04T11:50:00Z
key_reset_record:
  description: The value written to the C(vmrescue-key-reset) tag with the key (C(<keyIncarnationId>@<UTC time>), with
    O(record_key) followed by C(#sealed); the seal itself is not shown).
  returned: when a key was written
  type: str
  sample: 10@2026-12-04T11:50:00Z
record_check:
  description:
    - A C(vmrescue-key-reset) record the key health was judged without, as C({status, reason_code, reason}).
    - C(record_untrusted) (its seal does not hold under O(record_key)) or C(record_contradicted) (the guest reports a
      key failure since); also given as a warning.
  returned: when the VM has such a record
  type: dict
msg:
  description: Why nothing was written when a reset is pending or stuck (then with the likely cause and the next step),
    or another run wrote first, and what to do.
  returned: when a reset is pending or stuck, or another run raised the key concurrently
  type: str
diff:
  description: Before and after C(key_incarnation_id), with C(--diff) or the task keyword C(diff).
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

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_reset import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
