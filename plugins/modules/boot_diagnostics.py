#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: boot_diagnostics
short_description: Turn boot diagnostics on with managed storage, across a fleet
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Turns boot diagnostics on with managed storage for a VM or Uniform scale-set instance. The model change is
    C(diagnosticsProfile.bootDiagnostics.enabled=true) without C(storageUri), what C(az vm boot-diagnostics enable)
    without C(--storage) sets. Azure then keeps the serial console log and screenshot in a storage account it
    manages.
  - The serial log is what P(vmrescue.azure.boot_triage#lookup), the inventory's C(triage) groups and
    M(vmrescue.azure.offline_rescue) read to tell why a VM does not boot. It holds only what the guest printed while
    boot diagnostics was on, so turn it on before a VM breaks, or turn it on and restart the VM.
  - Idempotent. A VM already on with managed storage is left alone (C(unchanged)). A VM whose boot diagnostics uses a
    custom storage account (C(storageUri) set, on or off) is left alone too (C(skipped), reason code
    C(custom_storage)). Switching it to managed storage is the owner's decision
    (C(az vm boot-diagnostics enable) without C(--storage)).
  - One read and, when needed, one write per target. The write is a C(PATCH) for a VM or a C(PUT) of the instance
    model for a Uniform instance, both with C(If-Match) (a concurrent write is read and decided again). Then reads
    of the model follow until its provisioning state is final. Many targets (O(targets)) share one credential and
    one connection pool, and a target waiting for Azure holds no worker.
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
options:
  wait_timeout:
    description: How many seconds to wait for the update to finish (provisioning state C(Succeeded)) after Azure
      accepted it. A target not finished by then is C(pending).
    type: int
    default: 600
notes:
  - Needs C(Microsoft.Compute/virtualMachines/write) (C(virtualMachineScaleSets/virtualMachines/write) for an
    instance). The preflight checks it, the locks, Azure Policy and Resource Health before the write.
  - A Uniform scale set's own model (C(virtualMachineProfile.diagnosticsProfile)) is not changed; new instances
    follow the scale set's model.
"""

EXAMPLES = r"""
- name: Boot diagnostics on, with managed storage, for every VM of the play (one controller-side batch)
  hosts: azure_vms
  gather_facts: false
  tasks:
    - name: Turn it on
      vmrescue.azure.boot_diagnostics:
        targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
      run_once: true
      register: bootdiag

- name: One VM, by name
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Turn it on for web-01
      vmrescue.azure.boot_diagnostics:
        resource_group: rg-web
        name: web-01
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order. Each has the keys below
      plus C(id), C(changed), C(failed) and C(msg).
  returned: with O(targets)
  type: list
  elements: dict
  sample: [{"id": "/subscriptions/.../virtualMachines/web-01", "changed": true, "failed": false, "msg": "",
            "boot_diagnostics": {"enabled": true, "storage": "managed"}}]
outcome:
  description:
    - What happened to the target, in a stable form to branch on. C(status) V(done) (turned on and confirmed),
      V(pending) (check mode, or accepted and not finished within O(wait_timeout)), V(unchanged) (already on with
      managed storage), V(skipped) (C(custom_storage), or refused by the preflight), V(failed).
    - C(reason_code) is a stable snake_case code, for example V(changed), V(unchanged), V(check_mode),
      V(pending_confirmation), V(custom_storage), V(provisioning_failed), V(not_found), V(rbac_missing),
      V(scope_locked), V(policy_denied). The troubleshooting guide's table says what each means.
  returned: always (in batch mode, in each entry of RV(results))
  type: dict
  sample: {"status": "done", "reason_code": "changed", "reason": "turned on with managed storage; ..."}
total:
  description: Batch mode only, the number of targets; also C(changed_count) and C(failed_count).
  returned: with O(targets)
  type: int
id:
  description: Resource ID of the VM or scale-set instance.
  returned: always
  type: str
boot_diagnostics:
  description: Boot diagnostics after the task (what it would be, in check mode), C(enabled) and C(storage)
    (C(managed) or C(custom)).
  returned: success
  type: dict
  sample: {"enabled": true, "storage": "managed"}
diff:
  description: C(before) and C(after), each as RV(boot_diagnostics).
  returned: success
  type: dict
preflight:
  description: What the preflight found for the target (see M(vmrescue.azure.proxy_agent_key_reset)).
  returned: when O(preflight=true)
  type: dict
report:
  description: Where the run report was written (C(path), C(markdown_path)) and its C(counts).
  returned: when O(report) is set
  type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.enable import task_spec


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
