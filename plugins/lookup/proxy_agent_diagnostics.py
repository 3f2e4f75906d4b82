# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: proxy_agent_diagnostics
short_description: Why a VM is cut off - the Guest Proxy Agent's health beyond the key, and the callers it denies
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Returns, for each term, what the Guest Proxy Agent (Metadata Security Protocol) reports about itself beyond its
    key, parsed from the VM's instance view. The endpoint modes in effect (Enforce, Audit or Disabled per endpoint),
    the agent version and its eBPF program and proxy listener status. Also a missing agent (MSP enabled on a
    running VM but no ProxyAgentLinux / ProxyAgentWindows extension reporting), a stale status, and the callers
    the agent's rules do not authorise.
  - The denied callers come from the agent's C(ComponentStatus/ProxyAgentConnectionSummary) and
    C(ComponentStatus/ProxyAgentFailedAuthenticationSummary) substatuses (the agent keeps the 100 and 50 most
    frequent). Each denied caller names its endpoint, user, process, command line and call count. It says whether
    the agent blocks it (Enforce) or only audits it, and gives one line on what to do.
  - One read per term (the VM or instance with C($expand=instanceView)) and no write; many terms are read
    concurrently (O(concurrency)) with one credential, one connection pool and one pacer, as
    P(vmrescue.azure.key_latch_status#lookup) does.
  - Terms are VM or Uniform scale-set instance resource IDs. With no terms, the target is taken from the
    O(resource_group) + O(name) or O(resource_group) + O(vmss_name) + O(instance_id) options.
  - The inventory plugin P(vmrescue.azure.vms#inventory) groups hosts by the same diagnostics (C(msp_denials),
    C(proxy_agent_missing), ...).
extends_documentation_fragment:
  - vmrescue.azure.auth.plugins
  - vmrescue.azure.target.lookup
options:
  record_key:
    description:
      - The record key (M(vmrescue.azure.proxy_agent_key_reset)'s O(vmrescue.azure.proxy_agent_key_reset#module:record_key)).
        With it, a C(vmrescue-key-reset) record whose seal does not hold is ignored, so the key health is not
        C(pending) on the word of a planted tag.
    type: str
    env:
      - name: VMRESCUE_RECORD_KEY
  stuck_after:
    description:
      - Seconds after which a key reset that has not reached the guest is reported C(stuck) (C(key.verdict)). The
        time is that of the reset this collection recorded, or of the first observation M(vmrescue.azure.proxy_agent_key_reset)
        recorded of a reset nobody recorded (the lookup reads them and writes nothing). Use the value the key reset runs
        with.
    type: int
    default: 1800
notes:
  - The result is a list with one entry per term; use C(query), or C(lookup) with C(wantlist=true), to always get
    a list.
  - A VM or resource group that does not exist, and permission errors, fail the lookup. A VM without MSP, or not
    running, is not an error. Its entry says so (C(enabled), C(power_state)).
"""

EXAMPLES = r"""
- name: Who does the agent deny on this VM, and what to do about it
  ansible.builtin.debug:
    msg: "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', vm_id).denied_callers | map(attribute='action') }}"
  vars:
    vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01

- name: Every host of the inventory group msp_denials, one line per denied caller
  ansible.builtin.debug:
    msg: "{{ item.endpoint }} {{ item.process }} ({{ item.user }}) x{{ item.count }}: {{ item.action }}"
  loop: "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', azure_vm_id).denied_callers }}"
  when: "'msp_denials' in group_names"

- name: Why is this VM cut off
  ansible.builtin.debug:
    msg: "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', resource_group='rg-web', name='web-01').problems }}"
"""

RETURN = r"""
_raw:
  description: One diagnosis per term, in term order.
  type: list
  elements: dict
  contains:
    id:
      description: The resource ID.
      type: str
    enabled:
      description: C(securityProfile.proxyAgentSettings.enabled) in the model.
      type: bool
    os_type:
      description: C(Linux) or C(Windows).
      type: str
    power_state:
      description: C(running), C(deallocated), ...
      type: str
    present:
      description: A ProxyAgentLinux / ProxyAgentWindows extension reports in the instance view.
      type: bool
    missing:
      description: MSP enabled, the VM running, and no agent extension reporting (a Linux image without the agent).
      type: bool
    agent_version:
      description: The agent's version (C(version) of its status).
      type: str
    agent_status:
      description: The agent's overall status, C(SUCCESS) or C(ERROR) (C(ERROR) when the key poll, the eBPF program
        or the proxy listener is not running).
      type: str
    components:
      description: C(ebpf), C(listener), C(monitor), C(telemetry), each C({status, message}) as the agent reports
        them (C(status) C(RUNNING), C(STOPPED) or C(UNKNOWN)).
      type: dict
    unhealthy:
      description: The eBPF program or the proxy listener is not C(RUNNING).
      type: bool
    modes:
      description: C(wireserver), C(imds), C(hostga) modes (C(Enforce), C(Audit), C(Disabled)) in effect. The
        guest's own C(secureChannelState) when it reports one, else the model's settings (C(modes_source)).
      type: dict
    modes_source:
      description: C(guest) or C(model).
      type: str
    model_modes:
      description: The modes the model asks for (None for an endpoint whose mode comes from a rules profile).
      type: dict
    denied_callers:
      description: The callers the agent's rules do not authorise, most frequent first.
      type: list
      elements: dict
      contains:
        endpoint:
          description: C(WireServer), C(IMDS) or C(HostGA) (from the address the caller called).
          type: str
        user:
          description: The caller's user name.
          type: str
        user_groups:
          description: Its groups.
          type: list
          elements: str
        process:
          description: The process' full path.
          type: str
        cmdline:
          description: The process' command line, the values of secret-looking arguments (password, token, key,
            sig, Authorization) masked.
          type: str
        count:
          description: How many calls the agent counted.
          type: int
        blocked:
          description: True when the agent blocks these calls (the endpoint enforces); false when it only audits them.
          type: bool
        mode:
          description: The endpoint's mode.
          type: str
        response_status:
          description: The HTTP status the agent answered, for example C(403 Forbidden).
          type: str
        action:
          description: One line on what to do. Add a rule for the caller to the inVMAccessControlProfile, or switch
            the endpoint to Audit while you do.
          type: str
    stale:
      description: The agent's status is stale (see C(stale_reasons)).
      type: bool
    stale_reasons:
      description: Why. The agent marks its status transitioning, the status is older than 15 minutes, or the model
        keyIncarnationId stays ahead of the guest's long after a recorded reset.
      type: list
      elements: str
    key:
      description:
        - The key health, C({verdict, reason}), classified as M(vmrescue.azure.proxy_agent_key_reset) does.
        - With the verdict C(stuck) (a key reset that has not reached the guest after O(stuck_after) seconds) also
          C(stuck), the module's RV(vmrescue.azure.proxy_agent_key_reset#module:stuck) (since, age, source, cause,
          cause_text, remedy, next_step); with a pending reset dated by a first observation, C(observed_since).
      type: dict
    problems:
      description: One line per problem found (empty when the agent is healthy and denies nobody).
      type: list
      elements: str
"""

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.diagnosis import ENDPOINT_NAMES, diagnose
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_record import (
    check_observation,
    check_record,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import resolve_key
from ansible_collections.vmrescue.azure.plugins.plugin_utils._lookup import AzureLookupBase


def read_diagnostics(client, target, key=None, hold=None):
    """One GET of the VM / instance with its instance view, diagnosed (the public shape in RETURN); with the record
    ``key``, a key-reset record (or observation) whose seal does not hold is not acted on; ``hold``: stuck_after."""
    view = _vm.read_view(client, target, instance_view=True)
    record, _untrusted = check_record(view.tags, key, target.id)
    observed, _untrusted = check_observation(view.tags, key, target.id)
    d = diagnose(view.model, view.instance_view, view.power, view.os_type, record=record, observed=observed, hold=hold)
    callers = [
        dict(
            endpoint=ENDPOINT_NAMES.get(c['endpoint'], c['endpoint']),
            user=c['user'],
            user_groups=c['user_groups'],
            process=c['process'],
            cmdline=c['cmdline'],
            count=c['count'],
            blocked=c['blocked'],
            mode=c['mode'],
            response_status=c['response_status'],
            action=c['action'],
        )
        for c in d['denials']
    ]
    return dict(
        id=target.id,
        enabled=d['enabled'],
        os_type=d['os_type'],
        power_state=d['power_state'],
        present=d['present'],
        missing=d['missing'],
        agent_version=d['agent_version'],
        agent_status=d['agent_status'],
        components=d['components'],
        unhealthy=d['unhealthy'],
        modes=d['modes'],
        modes_source=d['modes_source'],
        model_modes=d['model_modes'],
        denied_callers=callers,
        stale=d['stale'],
        stale_reasons=d['stale_reasons'],
        key=key_summary(d['key']),
        problems=d['problems'],
    )


def key_summary(health):
    """The ``key`` entry: verdict and reason, and ``stuck`` / ``observed_since`` when the health has them."""
    out = dict(verdict=health['verdict'], reason=health['reason'])
    for name in ('stuck', 'observed_since'):
        if health.get(name):
            out[name] = health[name]
    return out


class LookupModule(AzureLookupBase):
    def run(self, terms, variables=None, **kwargs):
        def read(client, target):
            key = resolve_key(self.get_option('record_key'))
            return read_diagnostics(client, target, key, self.get_option('stuck_after'))

        return [res for _term, _target, res in self.read_targets(terms, variables, kwargs, read)]
