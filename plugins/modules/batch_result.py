#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: batch_result
short_description: Report one host's result of a batch started with background=true
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - A batch task of this collection (O(vmrescue.azure.proxy_agent_key_reset#module:targets) or
    O(vmrescue.azure.vmaccess_linux#module:targets)) run with C(background=true) and C(run_once=true) returns as soon
    as the batch has started. This module, run for every host, waits for the result of that host's target and
    returns it as the host's own result, as if the module had run for that host alone (C(changed), C(failed), C(msg),
    C(diff) with C(--diff), and the module's return values).
  - Hosts are reported as their targets finish, while the batch is still working, so the per-host cost of Ansible
    (about 10-15 ms of controller CPU per host and task) overlaps with the time the batch waits for Azure instead of
    adding to it. The recovery roles of this collection work this way.
  - Runs on the controller only; it never connects to the host.
  - Results are kept in a private directory (mode 0700) inside Ansible's local temporary directory of the run, which
    C(ansible-playbook) removes when it ends; collect them in the same run.
options:
  batch:
    description:
      - The registered result of the batch task (its C(background) key).
    type: dict
    required: true
  index:
    description:
      - The position of this host's target in the batch task's O(vmrescue.azure.proxy_agent_key_reset#module:targets)
        (0 for the first).
      - Default, the position of this host in the list of hosts named by O(hosts_var) (C(ansible_play_batch)), which
        is right when the targets were built from that list, as in the examples. Leave it unset then rather than
        templating C(ansible_play_batch.index(inventory_hostname)), which under ansible-core 2.19 costs time
        proportional to the number of hosts for every host (minutes of controller CPU in a play of thousands of
        hosts).
    type: int
  hosts_var:
    description:
      - The name of the variable that lists the hosts in the order of the batch task's targets (a list of inventory
        host names), when O(index) is not given. This host's position in it is its index; a host that is not in it is
        skipped (its target is not in the batch).
      - Only the name, not a template; the list is read from the host's variables on the controller.
    type: str
    default: ansible_play_batch
  timeout:
    description:
      - Seconds to wait for the result; V(0) (the default) waits as long as the batch process is working (each
        target's own O(vmrescue.azure.proxy_agent_key_reset#module:wait_timeout) bounds it). The task fails at once
        if the batch process ended without a result for this target.
    type: int
    default: 0
  fail_on_failure:
    description:
      - Fail this host's task when its target failed. With V(false) the result still has C(failed_target=true) and
        C(msg); the recovery roles use V(false) and fail the failed hosts after their summary.
    type: bool
    default: true
attributes:
  action:
    description: An action plugin runs it on the controller, never on the target host.
    support: full
  async:
    description: Not supported.
    support: none
  check_mode:
    description: Only reads the results of the batch task, whose own check mode applies.
    support: full
  diff_mode:
    description: Returns the target's diff when the batch task ran with C(--diff).
    support: full
notes:
  - If the batch task itself failed (for example invalid arguments), every host's result fails with that message.
seealso:
  - module: vmrescue.azure.proxy_agent_key_reset
  - module: vmrescue.azure.vmaccess_linux
"""

EXAMPLES = r"""
- name: Reset the keys of all hosts of the play in one batch, in the background
  vmrescue.azure.proxy_agent_key_reset:
    targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
    state: healthy
    background: true
  run_once: true
  register: key_batch

- name: Report each host's own result as soon as its key is confirmed
  vmrescue.azure.batch_result:
    batch: "{{ key_batch }}"
    # index: the host's position in ansible_play_batch (the default), as the targets above
"""

RETURN = r"""
failed_target:
  description: Whether this host's target failed (also when O(fail_on_failure=false)).
  type: bool
  returned: always
index:
  description: The O(index) that was collected.
  type: int
  returned: always
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
  returned: always
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
id:
  description: The target's resource ID; the other keys are those of the batch module's per-target result.
  type: str
  returned: when the target was valid
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            batch=dict(type='dict', required=True),
            index=dict(type='int'),
            hosts_var=dict(type='str', default='ansible_play_batch'),
            timeout=dict(type='int', default=0),
            fail_on_failure=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    module.fail_json(
        msg='vmrescue.azure.batch_result runs on the controller through its action plugin; '
        'call it by its full name vmrescue.azure.batch_result'
    )


if __name__ == '__main__':
    main()
