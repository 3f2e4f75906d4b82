# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: boot_triage
short_description: Why a VM is unreachable - one triage class per VM, with its evidence and the remedy it points to
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Returns, for each term, one triage class of the VM. C(platform_unavailable) (Resource Health reports a platform
    event), C(provisioning_failed), a boot failure read from the serial console log (C(boot_grub), C(boot_initrd),
    C(boot_kernel_panic), C(boot_emergency_mode), C(boot_disk_full), C(boot_loop)), C(agent_not_ready),
    C(boot_ok) or C(boot_unknown).
  - Each class comes with its evidence (the statuses and the log lines that decided it) and the remedy it points to.
    That is an action of M(vmrescue.azure.offline_rescue), a rung of the escalation ladder (restart, reapply,
    redeploy), an access remedy (key reset, VMAccess), or what to do by hand.
  - The order of precedence, the log rules and their sources are in the triage guide (docs/docsite/rst/guide_triage.rst)
    and the remedy page (docs/docsite/rst/guide_remedies.rst). A log the rules do not know stays C(boot_unknown); it is
    never guessed from.
  - Calls per term. One read of the VM with its instance view, one read of its Resource Health
    (C(availabilityStatuses/current)), and, only when the VM runs and its VM agent is not Ready (O(serial_log=auto)),
    the serial log. That is one C(retrieveBootDiagnosticsData) action and one ranged read of the log blob's tail.
    Terms are read concurrently with one credential, as P(vmrescue.azure.proxy_agent_diagnostics#lookup) does. No
    write.
  - Terms are VM or Uniform scale-set instance resource IDs. With no terms, the target is taken from the
    O(resource_group) + O(name) or O(resource_group) + O(vmss_name) + O(instance_id) options.
  - The inventory plugin P(vmrescue.azure.vms#inventory) puts hosts in groups named by these classes with
    C(triage=true).
extends_documentation_fragment:
  - vmrescue.azure.auth.plugins
  - vmrescue.azure.target.lookup
options:
  serial_log:
    description:
      - When the serial console log is read. V(auto) reads it for a running VM whose VM agent is not Ready, the
        only case where it can change the class. V(always) reads it for every running VM (its finding is then in
        C(serial_log) even when the agent is Ready). V(never) does not read it.
      - Reading needs C(Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action) and boot
        diagnostics on (see M(vmrescue.azure.boot_diagnostics)).
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - The result is a list with one entry per term; use C(query), or C(lookup) with C(wantlist=true), to always get
    a list.
  - A VM or resource group that does not exist, and a refused VM read, fail the lookup. A Resource Health read that
    is refused leaves C(resource_health.checked) false; a serial log that cannot be read (boot diagnostics off, no
    boot captured yet, storage refused) is said in C(serial_log.reason) and the evidence. Neither fails the lookup.
"""

EXAMPLES = r"""
- name: Why is web-01 unreachable, and what to do
  ansible.builtin.debug:
    msg: "{{ t['class'] }}: {{ t.reason }}. Remedy: {{ t.remedy.text }}"
  vars:
    t: "{{ lookup('vmrescue.azure.boot_triage', resource_group='rg-web', name='web-01') }}"

- name: The offline rescue action each broken VM of the play needs
  ansible.builtin.debug:
    msg: "{{ item.id | basename }}: {{ item.remedy.options.action | default(item.remedy.kind) }}"
  loop: "{{ query('vmrescue.azure.boot_triage', *(ansible_play_batch | map('extract', hostvars, 'azure_vm_id'))) }}"
  run_once: true
"""

RETURN = r"""
_raw:
  description: One triage per term, in term order.
  type: list
  elements: dict
  contains:
    id:
      description: The resource ID.
      type: str
    class:
      description: C(platform_unavailable), C(provisioning_failed), C(boot_grub), C(boot_initrd),
        C(boot_kernel_panic), C(boot_emergency_mode), C(boot_disk_full), C(boot_loop), C(agent_not_ready),
        C(boot_ok) or C(boot_unknown).
      type: str
    reason:
      description: One line saying why.
      type: str
    evidence:
      description: The lines that decided, each prefixed with its source (C(Resource Health:), C(instance view:),
        C(model:), C(serial log:)). Serial log lines are only those a rule matched, at most eight.
      type: list
      elements: str
    remedy:
      description: What the class points to.
      type: dict
      contains:
        kind:
          description: C(offline_rescue), C(ladder), C(access), C(start) or C(manual).
          type: str
        rung:
          description: The escalation ladder's rung (C(restart), C(reapply), C(redeploy), C(offline_rescue)), or
            None.
          type: str
        module:
          description: The module of this collection that applies it, or None.
          type: str
        role:
          description: The role of this collection that applies it, or None.
          type: str
        options:
          description: The options to give it, for example C(action=fstab) for M(vmrescue.azure.offline_rescue).
          type: dict
        text:
          description: One line on what to do.
          type: str
    power_state:
      description: C(running), C(deallocated), ...
      type: str
    vm_agent:
      description: The VM agent's status, C({ready, status, message, version}).
      type: dict
    resource_health:
      description: C({checked, availabilityState, context, reasonType, category, summary, detailedStatus,
        occuredTime}) as Resource Health reports them (C(checked) false with C(reason) when it could not be read).
      type: dict
    serial_log:
      description: C({read, class, rule, source, reason, boots}) when the log was read; C({read, reason_code,
        reason}) when not (C(not_read), C(boot_diagnostics_off), C(boot_log_unreadable), an ARM reason code).
      type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._blob import new_session
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.reads import SERIAL_MODES, read_triage
from ansible_collections.vmrescue.azure.plugins.plugin_utils._lookup import AzureLookupBase


class LookupModule(AzureLookupBase):
    def run(self, terms, variables=None, **kwargs):
        session = new_session(16)  # the serial log reads of all terms share its connections

        def read(client, target):
            mode = self.get_option('serial_log')
            if mode not in SERIAL_MODES:
                raise self.plugin_error('serial_log must be one of %s, not %r' % (', '.join(SERIAL_MODES), mode))
            return read_triage(client, target, serial_log=mode, session=session)

        try:
            return [res for _term, _target, res in self.read_targets(terms, variables, kwargs, read)]
        finally:
            session.close()
