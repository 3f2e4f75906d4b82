#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_remedy
short_description: Restart, reapply or redeploy an Azure VM once per hold time, and say whether it came back
version_added: 0.5.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Applies one platform remedy (a rung of the escalation ladder) to a VM or Uniform scale-set instance, then waits
    for its VM agent to report C(Ready) again after the rung (a status time after the POST, never the stale status from
    before it) and its provisioning state not C(Failed), and returns RV(recovered).
  - V(restart) restarts the guest (its VM agent starts again, the documented first step for an agent that stopped
    responding). V(reapply) (VMs only) makes Azure send the VM its goal state again (the documented remedy for a VM in
    provisioning state C(Failed)). V(redeploy) moves the VM to another Azure host and starts it there (a host
    problem); B(the temporary disk is lost) with everything on it, dynamic IP addresses may change and the VM is down
    for minutes, so it is refused unless O(allow_disruptive=true).
  - "B(Never twice inside the hold.) Before it acts, the module records the rung and the time in the VM's tag
    C(vmrescue-remedy) (C(<rung>@<UTC time>), one entry per rung; sealed with O(record_key) when given), written
    with C(If-Match). A run, a re-run or another controller that finds the rung recorded less than O(hold) seconds
    ago does not apply it again: it reports V(held) with the record's age and whether the VM is back now."
  - Runs on the Ansible controller (an action plugin calls Azure Resource Manager from there). O(targets) runs one
    task over many VMs as a paced pipeline; a VM whose operation or agent is awaited holds no worker.
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
      - Reads the VM and its record and says whether the rung would be applied and whether the VM is back now
        (RV(recovered)); writes nothing.
  diff_mode:
    details:
      - The C(vmrescue-remedy) record before and after.
  idempotent:
    description: A re-run inside O(hold) applies nothing (V(held)).
    support: full
options:
  rung:
    description:
      - The remedy to apply. V(restart) and V(redeploy) work on VMs and Uniform scale-set instances, V(reapply) on VMs.
    type: str
    required: true
    choices: [restart, reapply, redeploy]
  allow_disruptive:
    description:
      - Accept a disruptive rung. V(redeploy) loses the temporary disk and is refused without it, before any call.
    type: bool
    default: false
  hold:
    description:
      - Seconds after a rung was recorded on a VM during which it is not applied again (by any run).
    type: int
    default: 1800
  wait_timeout:
    description:
      - Seconds to wait for the rung's operation, and again for the VM agent to report C(Ready).
    type: int
    default: 900
  record_key:
    description:
      - The operator's secret that seals the record (HMAC), default from the environment variable
        C(VMRESCUE_RECORD_KEY). With a key, a record that is not sealed with it is not trusted (RV(record_check))
        and the rung is applied as if there were none.
    type: str
notes:
  - Azure RBAC actions needed on the VM (or instance) C(Microsoft.Compute/virtualMachines/write) (the record) and
    C(Microsoft.Compute/virtualMachines/<rung>/action) (C(virtualMachineScaleSets/virtualMachines/...) for an
    instance); the least-privilege role in the docs has them.
  - The record is written with a VM update (C(PATCH), C(PUT) for an instance); like any successful update it clears
    a C(Failed) provisioning state by itself, which RV(recovered) then shows.
  - A VM that is not running is skipped (V(not_running)). Start it first, which is itself the first remedy.
  - RV(recovered) looks at the VM agent only. Whether a Guest Proxy Agent key latched is the
    M(vmrescue.azure.proxy_agent_key_reset) module's or the key_latch_status lookup's to say; the
    C(vmrescue.azure.recovery_ladder) role reads both.
"""

EXAMPLES = r"""
- name: Restart one VM whose agent stopped responding, and see whether it came back
  vmrescue.azure.vm_remedy:
    resource_group: rg-app
    name: app-01
    rung: restart
  register: restarted

- name: Reapply every VM of the play batch in one paced task
  vmrescue.azure.vm_remedy:
    targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
    rung: reapply
  run_once: true

- name: Redeploy a VM on a failing host (its temporary disk is lost)
  vmrescue.azure.vm_remedy:
    vm_id: /subscriptions/SUB/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/app-02
    rung: redeploy
    allow_disruptive: true
    hold: 3600
"""

RETURN = r"""
results:
  description:
    - With O(targets), one entry per target in input order, with the fields below plus C(id), C(changed), C(failed)
      and C(msg).
  returned: with O(targets)
  type: list
  elements: dict
outcome:
  description:
    - C(status) (done, pending, unchanged, skipped, failed), C(reason_code) and C(reason). Reason codes
      V(recovered), V(not_recovered), V(held), V(not_running), V(check_mode), V(invalid_target),
      V(provisioning_failed), and the preflight's (V(scope_locked), V(rbac_missing), ...).
  returned: always
  type: dict
id:
  description: Resource ID of the VM or instance.
  returned: always
  type: str
rung:
  description: The rung asked for.
  returned: always
  type: str
recovered:
  description:
    - Whether the VM is back (running, VM agent Ready with a status reported after the rung, provisioning state not
      Failed) after the rung; when it was held, in check mode or when it does not run, whether it is back now
      (Ready, without the check of the status time).
    - After a rung, a Ready status whose time is not after the moment the rung's POST was sent (the controller's UTC
      clock, no skew allowed) is the status from before the rung and does not count; nor does a status without a
      time. A controller clock ahead of Azure's can only make a fresh status look stale, never the reverse.
  returned: always
  type: bool
held:
  description: The rung was recorded on the VM inside O(hold), so it was not applied again.
  returned: always
  type: bool
record_age:
  description: Seconds since the held rung was recorded.
  returned: when held
  type: int
applied_at:
  description: When the held rung was recorded (UTC).
  returned: when held
  type: str
record:
  description: The C(vmrescue-remedy) record after this run (its seal shown as C(sealed)).
  returned: always
  type: str
temporary_disk_lost:
  description: True after a redeploy this run applied.
  returned: when a rung was applied
  type: bool
vm_agent:
  description:
    - The VM agent as last read (C(ready), C(status), C(message), C(time)); C(time) is when the agent last reported
      (ARM's C(vmAgent.statuses[0].time)).
  returned: always
  type: dict
power_state:
  description: The power state as last read.
  returned: always
  type: str
provisioning_state:
  description: The provisioning state as last read.
  returned: always
  type: str
record_check:
  description: Why a record found on the VM was not trusted under the record key.
  returned: when a record is not trusted
  type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._remedy.engine import task_spec  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule  # noqa: E402


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
