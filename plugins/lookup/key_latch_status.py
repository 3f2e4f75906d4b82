# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: key_latch_status
short_description: Read the Guest Proxy Agent's keyLatchStatus of VMs and scale-set instances
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Returns, for each term, the C(keyLatchStatus) object (C(status), C(message), C(states)) that the Guest Proxy Agent
    (Metadata Security Protocol) reports in the VM's instance view, parsed from the agent's JSON status.
  - Terms are VM or Uniform scale-set instance resource IDs. With no terms, the target is taken from the
    O(resource_group) + O(name) or O(resource_group) + O(vmss_name) + O(instance_id) options.
  - Many terms are read concurrently (O(concurrency)) with one credential (one token), one connection pool and one
    pacer that spaces the reads by Resource Manager's throttling headers (one instance-view read per term and no
    write; the VM model is read only to explain a missing status).
  - All C(states) values are strings, as the agent writes them.
options:
  on_missing:
    description:
      - What to do for a VM that has no usable agent status. The message says which case it is
        (C(disabled) proxy agent, C(deallocated) or stopped VM, C(stale) non-JSON status, C(no status) reported yet).
      - V(error) fails the lookup, V(warn) warns and returns C(null) in the term's place, V(skip) returns C(null)
        there silently. The result keeps one entry per term, in term order, so it can be matched to the terms (as
        amazon.aws's lookups do with their C(on_missing)).
      - A VM or resource group that does not exist, and permission errors, always fail.
    type: str
    choices: [error, warn, skip]
    default: error
extends_documentation_fragment:
  - vmrescue.azure.auth.plugins
  - vmrescue.azure.target.lookup
notes:
  - The result is a list with one entry per term (C(null) for a term without a usable status when O(on_missing) is
    V(warn) or V(skip)); use C(query), or C(lookup) with C(wantlist=true), to always get a list.
"""

EXAMPLES = r"""
- name: Show the key latch status of one VM
  ansible.builtin.debug:
    msg: "{{ lookup('vmrescue.azure.key_latch_status', vm_id) }}"
  vars:
    vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01

- name: Read many VMs at once; null (and a warning) for those without agent status, so results match the IDs
  ansible.builtin.set_fact:
    latch: "{{ dict(vm_ids | zip(query('vmrescue.azure.key_latch_status', *vm_ids, on_missing='warn'))) }}"
  vars:
    vm_ids:
      - /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01
      - /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3

- name: By name, in the default subscription
  ansible.builtin.debug:
    msg: "{{ lookup('vmrescue.azure.key_latch_status', resource_group='rg-web', name='web-01').states.keyIncarnationId }}"
"""

RETURN = r"""
_raw:
  description: One keyLatchStatus object per term, in term order (C(null) for a term without a usable status when
    O(on_missing) is V(warn) or V(skip)).
  type: list
  elements: dict
  contains:
    status:
      description: C(RUNNING) while the agent's key poll loop runs (this alone does not prove a key is latched), C(STOPPED), C(UNKNOWN).
      type: str
    message:
      description: The agent's last key message, for example C(Found key details from local and ready to use. - 122).
      type: str
    states:
      description: >-
        C(secureChannelState), C(keyGuid) (once a key is held), C(keyIncarnationId) (when the latched key carries one),
        rule IDs. All values are strings.
      type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.reads import read_key_latch_status
from ansible_collections.vmrescue.azure.plugins.plugin_utils._lookup import AzureLookupBase


class LookupModule(AzureLookupBase):
    def run(self, terms, variables=None, **kwargs):
        out = []
        for _term, target, res in self.read_targets(terms, variables, kwargs, read_key_latch_status):
            if res['missing']:
                self.handle_missing(target.id, 'no key latch status (%s): %s' % (res['missing'], res['reason']))
                out.append(None)  # keep positions: results match the terms
                continue
            out.append(res['key_latch_status'])
        return out
