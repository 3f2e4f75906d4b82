"""The platform remedies of a VM: restart, reapply, redeploy (compute.py routes them; this file has their effects).

Routes (vendored Compute spec 2024-11-01): ``VirtualMachines_Reapply`` ``POST {vm}/reapply``,
``VirtualMachines_Redeploy`` ``POST {vm}/redeploy`` and ``VirtualMachineScaleSetVMs_Redeploy``
``POST {instance}/redeploy`` (a Uniform instance has no reapply in the spec: the route does not exist, 404 like any
unknown path). All three are long-running: 200 or 202 without a body (the spec declares no schema), then the
operation. RBAC actions ``Microsoft.Compute/virtualMachines/reapply/action``, ``.../redeploy/action``,
``Microsoft.Compute/virtualMachineScaleSets/virtualMachines/redeploy/action`` (Azure's resource provider operations
list).

Effects, each with its public source:

- **redeploy** "Shuts down the virtual machine, moves it to a new node, and powers it back on" (the spec's
  description). learn.microsoft.com "Redeploy Linux virtual machine to new Azure node" (and its Windows twin): the VM
  keeps its configuration and resources; "the temporary disk is lost" and dynamic IP addresses change; the VM is
  restarted. It takes minutes: config ``redeploy_seconds`` (300 s by default, [inferred] from "several minutes" in
  the same pages; the tests shorten it like every latency). A new host: ``host`` (a node name) changes, the
  temporary disk is new and empty (``temp_disk: {generation, has_data: false}`` in the control API's VM state).
  Resource Health back to Available when its unavailability was platform initiated (health.py's ``context``
  'Platform Initiated': the fault was the old node's, [inferred]). A VM agent that could not reach its host
  (``vm_agent: host``) recovers on the new node [inferred from the same pages: redeploy is the remedy when the
  platform, not the guest, is at fault]. A guest that does not boot (boot.py) still does not: the disk moves with it.
- **reapply** "The operation to reapply a virtual machine's state" (the spec). Azure's "Troubleshoot a VM in a
  failed state" (learn.microsoft.com, VM stuck in failed state) prescribes Reapply for a VM whose provisioningState
  is Failed: it goes back to Succeeded. An agent Not Ready because its goal state could not be processed
  (``vm_agent: goal_state``) gets the goal state again and recovers [inferred: reapply re-sends the goal state,
  azure-facts.md section 7]. Nothing else changes: no restart, same host, the temporary disk kept.
- **restart** (compute.py's power action; this file only adds what a boot does to the VM agent): learn.microsoft.com
  "Troubleshoot the Azure Windows VM Agent" / "Troubleshoot the Azure Linux Agent": restarting the VM (the agent
  service) is the documented first step for an agent that stopped responding. A hung agent (``vm_agent: hung``)
  recovers on any boot (restart, start, redeploy). A restart does not clear a Failed provisioningState, nor a goal
  state or host problem [inferred].
- **deallocate** releases the node (learn.microsoft.com "Virtual machines lifecycle and states": Deallocated "removed
  from the host"), so the next start is on a new host and the temporary disk is lost (learn.microsoft.com "Temporary
  disk": data is lost when the VM is deallocated or redeployed); the host fault goes with the old node [inferred].

The VM agent's status **time** (``vmAgent.statuses[0].time``) is when the agent last reported, not when the
instance view was read: Azure/WALinuxAgent's end-to-end test tests_e2e/tests/agent_status/agent_status.py reads the
instance view every 60 s and expects that time to advance only as the agent reports again ("Current agent status
timestamp ... is not greater than previous status timestamp" otherwise). Here a running, Ready agent reports on
every read (its period is shorter than the clients' poll; a simplification), and not while a Restart or Redeploy
operation runs (the guest is going down: [inferred]), so the status read then is the one from before the rung. A
**frozen** status (fleet ``vm_agent_status: frozen``, control ``{frozen: true}``) is an agent that stops reporting
while the platform keeps serving its last status: Ready with the time of the freeze, through any restart, reapply
or redeploy ([inferred] from the same test's failure mode; Azure turns such a status Not Ready "VM Agent is
unresponsive" only after a while, not modelled: the tests' waits are shorter).

Fleet VM keys: ``vm_agent: ready | not_ready | hung | goal_state | host`` (``not_ready``: nothing the platform
does brings it back, e.g. an agent disabled in the guest); ``vm_agent_status: reporting | frozen``;
``provisioning_state: Failed``. Control API: ``POST /_sim/vms/{id}/vm_agent {ready, fault?, frozen?}``.
"""

import uuid

from .health import HealthState
from .util import iso_now

# vm_agent fleet values -> the fault that keeps the agent Not Ready (None: Ready)
AGENT_FAULTS = {'ready': None, 'not_ready': 'not_ready', 'hung': 'hung', 'goal_state': 'goal_state', 'host': 'host'}
# busy kind -> the power code the instance view shows while the operation runs ([inferred]: a redeploy shuts the
# VM down and starts it elsewhere; a reapply leaves the power state alone)
TRANSITIONAL_POWER = {'Redeploy': 'starting'}
PLATFORM_CONTEXT = 'platform initiated'
# busy kinds during which the guest (and its VM agent) goes down: the agent does not report ([inferred])
GUEST_DOWN = ('Restart', 'Redeploy')


def set_agent(machine, value):
    """Apply a ``vm_agent`` value (fleet or control API): Ready, or Not Ready for one of AGENT_FAULTS."""
    key = str(value if value is not None else 'ready').lower().replace('-', '_').replace(' ', '_')
    if key not in AGENT_FAULTS:
        raise ValueError(f'vm_agent is one of {", ".join(AGENT_FAULTS)}, not {value!r}')
    machine.vm_agent_fault = AGENT_FAULTS[key]
    machine.vm_agent_ready = machine.vm_agent_fault is None


def set_agent_status(machine, value):
    """Apply a ``vm_agent_status`` value: ``frozen`` keeps the last report (its time) from now on; ``reporting``."""
    key = str(value if value is not None else 'reporting').lower()
    if key not in ('reporting', 'frozen'):
        raise ValueError(f'vm_agent_status is reporting or frozen, not {value!r}')
    frozen = key == 'frozen'
    machine.vm_agent_frozen_at = (getattr(machine, 'vm_agent_reported_at', None) or iso_now()) if frozen else None


def agent_report_time(machine):
    """The time of the VM agent's last report, for the instance view of a running VM whose agent is Ready."""
    frozen = getattr(machine, 'vm_agent_frozen_at', None)
    if frozen:
        return frozen
    last = getattr(machine, 'vm_agent_reported_at', None)
    if last and machine.busy_kind in GUEST_DOWN:
        return last  # the guest is going down with the operation: no new report
    machine.vm_agent_reported_at = iso_now()
    return machine.vm_agent_reported_at


def set_provisioning(machine, value):
    if value is None:
        return
    if str(value).lower() not in ('succeeded', 'failed'):
        raise ValueError('a VM provisioning_state is Succeeded or Failed')
    machine.update_failed = str(value).lower() == 'failed'


def _recover_agent(machine, *faults):
    if getattr(machine, 'vm_agent_fault', None) in faults:
        machine.vm_agent_fault = None
        machine.vm_agent_ready = True


def _count(machine, name):
    counts = dict(getattr(machine, 'remedy_counts', None) or {})
    counts[name] = counts.get(name, 0) + 1
    machine.remedy_counts = counts


def on_boot(machine):
    """Every boot restarts the VM agent: a hung one recovers (compute.boot calls this)."""
    _recover_agent(machine, 'hung')


def on_restart(machine):
    _count(machine, 'restart')


def on_deallocate(machine):
    """The node is released: a new host on the next start, the temporary disk lost."""
    _new_host(machine)


def reapply(machine):
    """The goal state sent again: a Failed provisioning state and a goal-state agent fault recover."""
    _count(machine, 'reapply')
    machine.update_failed = False
    _recover_agent(machine, 'goal_state')


def redeploy(machine):
    """A new node: new host, empty temporary disk, platform unavailability cleared (compute boots the VM after)."""
    _count(machine, 'redeploy')
    _new_host(machine)
    health = getattr(machine, 'health', None)
    if health is not None and health.state != 'Available':
        if str(health.props.get('context') or '').lower() == PLATFORM_CONTEXT:
            machine.health = HealthState('Available')


def _new_host(machine):
    machine.host = 'node-' + uuid.uuid4().hex[:12]
    machine.temp_disk_generation = getattr(machine, 'temp_disk_generation', 0) + 1
    _recover_agent(machine, 'host')


def machine_state(machine):
    """The control API's view of the remedies' effects."""
    if not getattr(machine, 'host', None):
        machine.host = 'node-' + uuid.uuid5(uuid.NAMESPACE_URL, machine.id).hex[:12]
    generation = getattr(machine, 'temp_disk_generation', 0)
    return {
        'vm_agent_fault': getattr(machine, 'vm_agent_fault', None),
        'remedies': {
            'host': machine.host,
            'temp_disk': {'generation': generation, 'has_data': generation == 0},
            'counts': dict(getattr(machine, 'remedy_counts', None) or {}),
        },
    }
