"""Microsoft.ResourceHealth availability statuses of VMs and scale-set instances.

Spec: ResourceHealth stable 2026-07-01 (the newest stable version; tests/specs/resourcehealth/...):
AvailabilityStatuses_GetByResource ``{resourceUri}/providers/Microsoft.ResourceHealth/availabilityStatuses/current``,
AvailabilityStatuses_ListBySubscriptionId / _ListByResourceGroup. The Unavailable texts are those of the spec's
AvailabilityStatus_GetByResource example; the other states' titles and summaries are [inferred] (portal wording).
Resource Health reports platform events only (azure-facts.md section 7): a guest that does not boot is Available,
and the simulator derives nothing from the power state; the state is what the fleet (VM key ``health``) or the
control API (``POST /_sim/vms/{id}/health``) sets.
"""

from .routing import INSTANCE, RG, SUB, VM, Response
from .util import iso_now

STATES = ('Available', 'Unavailable', 'Degraded', 'Unknown')
TYPE = 'Microsoft.ResourceHealth/AvailabilityStatuses'
READ = 'Microsoft.ResourceHealth/availabilityStatuses/read'
DEFAULTS = {
    'Available': {
        'title': 'Available',
        'summary': "There aren't any known Azure platform problems affecting this virtual machine.",
    },
    'Unavailable': {  # the official example
        'title': 'Unavailable',
        'summary': "We're sorry, we couldn't automatically recover your virtual machine",
        'detailedStatus': 'Disk problems are preventing us from automatically recovering your virtual machine',
        'reasonType': 'Unplanned',
        'context': 'Platform Initiated',
        'category': 'Unplanned',
        'reasonChronicity': 'Persistent',
    },
    'Degraded': {
        'title': 'Degraded',
        'summary': "We're sorry, your virtual machine is degraded by a problem with the underlying host.",
        'reasonType': 'Unplanned',
        'context': 'Platform Initiated',
        'category': 'Unplanned',
    },
    'Unknown': {
        'title': 'Unknown',
        'summary': 'We are currently unable to determine the health of this virtual machine.',
    },
}
# fleet / control keys -> property names
KEYS = {
    'summary': 'summary',
    'title': 'title',
    'reason_type': 'reasonType',
    'detailed_status': 'detailedStatus',
    'context': 'context',
    'category': 'category',
}


class HealthState:
    def __init__(self, spec=None):
        spec = {'state': spec} if isinstance(spec, str) else dict(spec or {})
        state = str(spec.get('state') or 'Available')
        match = next((s for s in STATES if s.lower() == state.lower()), None)
        if match is None:
            raise ValueError(f'health state must be one of {", ".join(STATES)}, not {state!r}')
        self.state = match
        self.props = dict(DEFAULTS[match])
        for key, prop in KEYS.items():
            if spec.get(key) is not None:
                self.props[prop] = str(spec[key])
        self.since = iso_now()

    def to_arm(self, machine):
        props = {'availabilityState': self.state, **self.props, 'occuredTime': self.since, 'reportedTime': iso_now()}
        if self.state == 'Unavailable':
            props.setdefault('rootCauseAttributionTime', self.since)
        return {
            'id': f'{machine.id}/providers/{TYPE.split("/")[0]}/availabilityStatuses/current',
            'name': 'current',
            'type': TYPE,
            'location': machine.location,
            'properties': props,
        }

    def to_json(self):
        return {'state': self.state, **self.props}


def state_of(machine):
    health = getattr(machine, 'health', None)
    if health is None:
        health = machine.health = HealthState()
    return health


class Health:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        current = r'/providers/microsoft\.resourcehealth/availabilityStatuses/current'
        listing = r'/providers/microsoft\.resourcehealth/availabilityStatuses'
        for prefix in (VM, INSTANCE):
            router.add('GET', prefix + current, self.current, 'health.current', action=READ, scope_strip=4)
        for prefix in (SUB, RG):
            router.add('GET', prefix + listing, self.list_statuses, 'health.list', action=READ, scope_strip=3)

    def current(self, req, **ids):
        machine = self.world.compute.machine(**ids)
        return Response(200, state_of(machine).to_arm(machine))

    def list_statuses(self, req, sub, rg=None):
        groups = [self.world.group(sub, rg)] if rg is not None else self.world.subscription(sub).groups.values()
        items = []
        for group in groups:
            machines = list(group.vms.values())
            for scale_set in group.scale_sets.values():
                machines.extend(scale_set.instances.values())
            items.extend(state_of(m).to_arm(m) for m in machines)
        return self.world.compute._page(req, items)
