"""The simulator's whole state behind one lock: fleet, config, clocks, operations, buckets, counters."""

import threading
import time

from . import control_disks, errors, remedies, runcommand
from .config import DEFAULTS
from .control import Counters, Faults, RequestLog
from .fleet import Fleet
from .lro import Operations, Scheduler
from .throttle import Throttle


class World:
    def __init__(self, fleet_source, cli_config, base_url=''):
        self.lock = threading.RLock()
        self.base_url = base_url
        self.cli_config = dict(cli_config or {})
        self.config = dict(DEFAULTS)
        self.scheduler = Scheduler()
        self.ops = Operations(self.scheduler)
        self.throttle = Throttle(self.config)
        self.counters = Counters()
        self.faults = Faults()
        self.log = RequestLog()
        self.fleet_source = fleet_source
        self.fleet = None
        self.compute = None  # set by the server (Compute needs the world; the control API needs Compute)
        self.reset(fleet_source)

    @property
    def locks(self):
        """Management locks (authorization.Lock): the fleet's, plus those the control API added."""
        return self.fleet.locks

    @property
    def policies(self):
        """Policy assignments (policy.PolicyAssignment): the fleet's, plus those the control API added."""
        return self.fleet.policies

    @staticmethod
    def now():
        return time.monotonic()

    def advance(self):
        """Run every scheduled event that is due (operation completions, relatches)."""
        self.scheduler.run_due(self.now())

    def reset(self, fleet_source=None, keep_source=False):
        """Reload the fleet (a path or dict; None = the current one) and forget all runtime state."""
        if not keep_source and fleet_source is not None:
            self.fleet_source = fleet_source
        fleet = Fleet.load(self.fleet_source, self.now())
        self.fleet = fleet
        self.config.clear()
        self.config.update(DEFAULTS)
        self.config.update(fleet.config)
        self.config.update(self.cli_config)
        self.scheduler.clear()
        self.ops.clear()
        self.throttle.reset()
        self.counters.reset()
        self.faults.clear()
        self.log.clear()
        self.blobs = {}  # run command output / error blobs (runcommand.py): URI without its SAS -> text

    def deallocate_addressed(self, path):
        """Deallocate the VM or instance ``path`` addresses (a fault: another actor stops it mid-flow)."""
        low = path.lower()
        parts = low.split('/')
        for end in range(len(parts), 0, -1):
            machine = self.fleet.machines.get('/'.join(parts[:end]))
            if machine is not None:
                machine.busy = machine.busy_kind = None
                self.compute.set_power(machine, 'deallocated', self.now())
                return machine
        return None

    def subscription(self, sub):
        subscription = self.fleet.subscriptions.get(sub.lower())
        if subscription is None:
            raise errors.subscription_not_found(sub)
        return subscription

    def group(self, sub, rg):
        group = self.subscription(sub).groups.get(rg.lower())
        if group is None:
            raise errors.resource_group_not_found(rg)
        return group

    def machine_state(self, machine):
        """Full internal state of one VM/instance for the control API."""
        guest = machine.guest.to_json() if machine.guest is not None else None
        return {
            'id': machine.id,
            'kind': 'instance' if machine.is_instance else 'vm',
            'os': machine.os,
            'power': machine.power,
            'busy': machine.busy_kind,
            'etag': machine.etag,
            'model': machine.to_arm(),
            'proxy_agent': machine.agent.to_json() if machine.agent is not None else None,
            'extensions': {
                e.name: {
                    'handler': e.display_handler,
                    'provisioningState': e.provisioning_state,
                    'settings': e.props.get('settings'),
                    'forceUpdateTag': e.props.get('forceUpdateTag'),
                    'status': e.status,
                }
                for e in machine.extensions.values()
            },
            'guest': guest,
            'vm_agent_ready': getattr(machine, 'vm_agent_ready', True),
            **remedies.machine_state(machine),
            'health': machine.health.to_json() if getattr(machine, 'health', None) is not None else None,
            **runcommand.machine_state(machine),
            **control_disks.machine_state(machine),
        }
