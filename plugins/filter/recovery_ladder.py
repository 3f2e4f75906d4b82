# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: recovery_ladder
short_description: The escalation ladder's state between its rungs (the recovery_ladder role's bookkeeping)
version_added: 0.5.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Used by the C(vmrescue.azure.recovery_ladder) role, once per step (C(run_once)), to fold each rung's
    M(vmrescue.azure.vm_remedy) batch result and the hosts' key reads (the
    P(vmrescue.azure.proxy_agent_diagnostics#lookup) lookup) into one state, a dict host -> entry (C(back),
    C(agent_back), C(key), C(rungs), C(result)).
  - A host is back when its VM runs with its VM agent Ready and its provisioning state not Failed, and, when the
    Metadata Security Protocol is enabled, its key is healthy (latched).
  - The hosts' outcomes are read from the state by P(vmrescue.azure.recovery_outcomes#filter) with
    C(role=recovery_ladder).
options:
  _input:
    description:
      - V(initial) the check-mode vm_remedy batch result; V(step) and V(refuse) the state; V(down), V(by_rung)
        the state; V(key_pending) a dict host -> proxy_agent_diagnostics entry.
    type: raw
    required: true
  op:
    description:
      - V(initial) (the state before any rung), V(step) (after a rung), V(refuse) (a rung refused before any call),
        V(down) (the hosts not back), V(by_rung) (counts), V(key_pending) (the hosts whose key is not latched),
        V(from_hostvars) (with C(hostvars) as the input, the state of every host of O(hosts), each from the state its
        own play batch recorded, so that serial batches report together).
    type: str
    required: true
    choices: [initial, step, refuse, down, by_rung, key_pending, from_hostvars]
  hosts:
    description: The hosts of the batch result, in the order of its targets (V(initial), V(step), V(refuse)).
    type: list
    elements: str
  batch:
    description: The registered vm_remedy result of the rung (V(step)).
    type: raw
  keys:
    description: host -> proxy_agent_diagnostics entry (V(initial), V(step)).
    type: dict
  rung:
    description: The rung (V(step), V(refuse)).
    type: str
  reason:
    description: Why the rung is refused (V(refuse)).
    type: str
"""

EXAMPLES = r"""
- name: Fold the restart into the ladder's state
  ansible.builtin.set_fact:
    recovery_ladder_state: >-
      {{ recovery_ladder_state | vmrescue.azure.recovery_ladder('step', rung='restart', hosts=hosts,
                                                               batch=restart_result, keys=keys) }}
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - The new state (V(initial), V(step), V(refuse), V(from_hostvars)), a list of hosts (V(down), V(key_pending)) or
      a dict of counts (V(by_rung)).
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.vmrescue.azure.plugins.plugin_utils import _ladder


def recovery_ladder(data, op, hosts=None, batch=None, keys=None, rung=None, reason=None):
    hosts = list(hosts or [])
    if op == 'initial':
        return _ladder.initial(hosts, data, keys or {})
    if op == 'step':
        return _ladder.step(data, rung, hosts, batch, keys or {})
    if op == 'refuse':
        return _ladder.refuse(data, rung, hosts, reason or '')
    if op == 'down':
        return _ladder.down(data)
    if op == 'by_rung':
        return _ladder.by_rung(data)
    if op == 'from_hostvars':
        return _ladder.from_hostvars(data, hosts)
    if op == 'key_pending':
        return [h for h, d in (data or {}).items() if _ladder.key_problem(d)]
    raise AnsibleFilterError('recovery_ladder: unknown op %r' % (op,))


class FilterModule:
    def filters(self):
        return {'recovery_ladder': recovery_ladder}
