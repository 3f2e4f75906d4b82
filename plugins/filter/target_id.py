# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: target_id
short_description: The VM or scale-set instance resource ID of an inventory host
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Returns the target resource ID that the collection's modules take from a host's variables when a task gives no
    target. That is C(azure_vm_id), else the C(id) host var (set by the azure_rm and vmrescue.azure.vms inventory
    plugins) when it is a Compute VM or Uniform scale-set instance ID, else V(None).
  - Used to build the O(vmrescue.azure.proxy_agent_key_reset#module:targets) list of a batch task from the hosts of
    a play batch.
options:
  _input:
    description: The host's variables, for example C(hostvars[inventory_hostname]).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Reset the keys of every host of this play batch in one controller-side task
  vmrescue.azure.proxy_agent_key_reset:
    targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | select | list }}"
    state: healthy
  run_once: true
"""

RETURN = r"""
_value:
  description: The resource ID, or V(None) when the host names no VM.
  type: str
"""

from ansible_collections.vmrescue.azure.plugins.plugin_utils._hostvars import target_id_from_hostvars


def target_id(host_vars):
    return target_id_from_hostvars(host_vars)


class FilterModule:
    def filters(self):
        return {'target_id': target_id}
