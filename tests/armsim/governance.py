"""Fleet keys for what refuses writes: management locks, policy assignments, the VM agent's readiness,
allowExtensionOperations, failed extensions and Resource Health (the behaviour lives in authorization.py,
policy.py, guestops.py and health.py).

    locks: [{name, level: ReadOnly|CanNotDelete, notes?}]       at the top level (default subscription), on a
    policies: [{name, display_name?, effect: deny|audit,          subscription, a resource group, a scale set or a VM:
                definition?: {name?, display_name?, builtin?},    the scope is where they are declared
                extension: {publisher?, type?}                    (a ``scope`` key overrides it)
                | field: {path, in: [values]}}]
    VM keys: allow_extension_operations: false, vm_agent: ready|not_ready|hung|goal_state|host (remedies.py),
             provisioning_state: Failed, health: <state> | {state, summary?, reason_type?, title?, detailed_status?}
    extension key: provisioning_state: Failed (with ok: false, message: ...)
    principal keys: roles: [{name?, scope?, actions, not_actions} | {definition: role.json (az role definition
                    format, relative to the fleet file), scope?}]   (none: every action, like an Owner)
"""

from . import remedies
from .authorization import Lock
from .health import HealthState
from .policy import PolicyAssignment


def declare(fleet, spec, scope):
    """Add the locks and policy assignments declared in ``spec`` at ``scope``."""
    for lock in spec.get('locks') or ():
        fleet.locks.append(Lock.from_spec(lock, scope))
    for assignment in spec.get('policies') or ():
        fleet.policies.append(PolicyAssignment(assignment, scope))


def equip(machine, spec):
    """The VM keys: extension operations allowed, the VM agent's readiness, its Resource Health state."""
    if spec.get('allow_extension_operations') is False:
        machine.model['properties'].setdefault('osProfile', {})['allowExtensionOperations'] = False
    remedies.set_agent(machine, spec.get('vm_agent'))  # ready | not_ready | hung | goal_state | host
    remedies.set_agent_status(machine, spec.get('vm_agent_status'))  # reporting | frozen
    remedies.set_provisioning(machine, spec.get('provisioning_state'))
    machine.health = HealthState(spec.get('health'))


def equip_extension(ext, spec):
    state = spec.get('provisioning_state')
    if state:
        if str(state).lower() not in ('succeeded', 'failed'):
            raise ValueError('an extension provisioning_state is Succeeded or Failed')
        ext.provisioning_state = str(state).capitalize()
