# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A batch's created rescue VMs sized to its disks, and the vCPU quota checked before any write (private).

A created rescue VM (``rescue_subnet_id``) holds at most its size's ``MaxDataDiskCount`` copies at once. When the
copies of one kind (``rescue_vm.RescueSpec``: region, zone, OS, generation, architecture) exceed it, the batch uses
several rescue VMs of that kind, named with an index (``...-1``, ``-2``; a re-run finds and reuses them).

Every target of such a batch calls ``arrive`` once it has read its truth and passed the gate, before any write; a
target that will need a LUN on a created rescue VM (next step copy, wait_copy or attach) brings its kind. When
every target of the batch has arrived (or none arrived for ``STALL`` seconds: a target the runner never started),
one of the waiting targets plans, per (subscription, location): one read of the ``skus`` list (the size's
``MaxDataDiskCount``, ``vCPUs``, ``family``, restrictions), one of ``locations/{loc}/usages``, and per kind the rescue
VMs that exist (index 1, 2, ... until one is missing) with their data disks; a kind needs
``ceil((copies - free LUNs on its existing rescue VMs) / limit)`` new ones. New rescue VMs whose vCPUs exceed the
free regional or family quota (or the VM count) refuse every target of that location that needs one
(``quota_exceeded``, with the numbers and the fixes) before any write; a size not offered there, the same
(``invalid_input``). A read that fails (403: no ``Microsoft.Compute/skus/read``) leaves that location unplanned, with
a warning: one rescue VM per kind, its limit learned from Azure's 409 as before.

Then ``assign`` gives each attach the least loaded rescue VM of its kind (so they are created and boot in parallel),
``release`` frees the slot after a detach, and ``Hub.limits`` tells ``rescue_vm.change_disks`` the size's limit
before any 409. One writer per rescue VM stays ``change_disks``' rule.

Public names: ``arrive(job, spec)`` (step generator), ``leave(job)``, ``planned(params)``, ``assign(hub, spec)``,
``release(hub, vm_id)``, ``quota_refusal(size, usage, new_vms, location, subscription, copies)`` (pure),
``SizeInfo``, ``read_size(client, subscription, location, size)``, ``read_usages(client, subscription, location)``,
``SKUS_API``, ``STALL``.
"""

from __future__ import annotations

import dataclasses
import math
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import parse_targets
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import MAX_LUN, QUEUE_POLL
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

SKUS_API = '2021-07-01'  # ResourceSkus_List
STALL = 30.0
PLAN_STEPS = ('copy', 'wait_copy', 'attach')


@dataclasses.dataclass(frozen=True)
class SizeInfo:
    name: str
    family: str | None
    vcpus: int
    max_data_disks: int


class _State:
    def __init__(self, expected, now):
        self.expected, self.arrived, self.last = expected, 0, now
        self.wanting = {}  # kind (RescueSpec, index 1) -> copies that need a LUN
        self.phase = 'waiting'  # -> 'planning' -> 'ready'
        self.refused = {}  # (subscription, location) -> TaskError
        self.notes = {}  # (subscription, location) -> warning
        self.kinds = {}  # kind -> [RescueSpec with index]
        self.loads = {}  # lower rescue VM id -> copies attached or assigned


def planned(params):
    """Whether a batch plans its rescue VMs: a restore that creates them."""
    return params.get('state') == 'restored' and not params.get('rescue_vm_id')


def _expected(params):
    targets = params.get('targets')
    if not targets:
        return 1
    return sum(1 for target, err, _label in parse_targets(targets) if err is None and target is not None)


def _where(spec):
    return (spec.subscription_id.lower(), spec.location.replace(' ', '').lower())


def _state(hub, params, clock):
    if hub.fleet is None:
        hub.fleet = _State(_expected(params), clock())
    return hub.fleet


def _count(job, state, spec, clock):
    if getattr(job, 'arrived', False):
        return
    job.arrived = True
    state.arrived += 1
    state.last = clock()
    if spec is not None:
        state.wanting[spec] = state.wanting.get(spec, 0) + 1


def leave(job, clock=time.monotonic):
    """A target that ends before ``arrive`` (skipped, failed, check mode) still counts as arrived."""
    if not planned(job.params) or getattr(job, 'arrived', False):
        return
    with job.hub.lock:
        _count(job, _state(job.hub, job.params, clock), None, clock)


def arrive(job, spec, clock=time.monotonic):
    """Count this target (with its kind when it needs a LUN on a created rescue VM), wait for the plan, and raise
    the plan's refusal for its location (module docstring)."""
    hub = job.hub
    with hub.lock:
        state = _state(hub, job.params, clock)
        _count(job, state, spec, clock)
    if spec is None:
        return
    while True:
        with hub.lock:
            due = state.phase == 'waiting' and (state.arrived >= state.expected or clock() - state.last > STALL)
            if due:
                state.phase = 'planning'
            ready = state.phase == 'ready'
        if due:
            try:
                _plan(job, state)
            finally:
                with hub.lock:
                    state.phase = 'ready'
            ready = True
        if ready:
            break
        yield QUEUE_POLL
    if _where(spec) in state.notes:
        job.warnings.append(state.notes[_where(spec)])
    if _where(spec) in state.refused:
        raise state.refused[_where(spec)]


def _pages(client, path, params, api_version):
    body = client.get(path, api_version=api_version, params=params)
    while True:
        yield from (body or {}).get('value') or ()
        link = (body or {}).get('nextLink')
        if not link:
            return
        body = client.request('GET', link, api_version=None).body


def _restricted(sku, location):
    for restriction in sku.get('restrictions') or ():
        if restriction.get('type') == 'Location' and location in [
            str(v).lower() for v in restriction.get('values') or ()
        ]:
            return True
    return False


def read_size(client, subscription, location, size):
    """The ``SizeInfo`` of ``size`` from the skus list of ``location`` (None: not offered there)."""
    where = location.replace(' ', '').lower()
    path = '/subscriptions/%s/providers/Microsoft.Compute/skus' % subscription
    for sku in _pages(client, path, {'$filter': "location eq '%s'" % where}, SKUS_API):
        if sku.get('resourceType') != 'virtualMachines' or str(sku.get('name', '')).lower() != size.lower():
            continue
        if where not in [str(loc).replace(' ', '').lower() for loc in sku.get('locations') or ()]:
            continue
        if _restricted(sku, where):
            return None
        caps = {c.get('name'): c.get('value') for c in sku.get('capabilities') or ()}
        return SizeInfo(sku['name'], sku.get('family'), int(float(caps.get('vCPUs') or 0)),
                        int(caps.get('MaxDataDiskCount') or MAX_LUN + 1))  # fmt: skip
    return None


def read_usages(client, subscription, location):
    """{usage name: (current, limit)} of Compute in ``location`` (Usage_List)."""
    path = '/subscriptions/%s/providers/Microsoft.Compute/locations/%s/usages' % (
        subscription, location.replace(' ', '').lower())  # fmt: skip
    out = {}
    for usage in _pages(client, path, None, '2024-11-01'):
        out[str((usage.get('name') or {}).get('value'))] = (
            int(usage.get('currentValue') or 0),
            int(usage.get('limit') or 0),
        )
    return out


def quota_refusal(size, usage, new_vms, location, subscription, copies):
    """The message refusing ``new_vms`` rescue VMs of ``size`` over the free quota, or None when they fit."""
    need = new_vms * size.vcpus
    short = []
    for name, unit, want in (
        ('cores', 'vCPUs', need),
        (size.family, 'vCPUs', need),
        ('virtualMachines', 'VMs', new_vms),
    ):
        if not name or name not in usage:
            continue
        used, limit = usage[name]
        if used + want > limit:
            short.append('%s: %d of %d %s used, %d free, %d needed (a limit of at least %d)'
                         % (name, used, limit, unit, max(0, limit - used), want, used + want))  # fmt: skip
    if not short:
        return None
    return (
        '%d OS disk copies in %s need %d new rescue VM(s) of size %s (%d data disks and %d vCPUs each: %d vCPUs), '
        'more than the quota of subscription %s allows: %s. Nothing was written. Fix: raise the quota (Azure portal, '
        'Quotas, or a support request) or free vCPUs in %s; or set rescue_vm_size to a size that holds more data '
        'disks per vCPU (fewer rescue VMs), or of a family with free quota; or rescue fewer VMs per run.'
        % (
            copies,
            location,
            new_vms,
            size.name,
            size.max_data_disks,
            size.vcpus,
            need,
            subscription,
            '; '.join(short),
            location,
        )  # fmt: skip
    )


def _existing(client, spec, limit):
    """[(RescueSpec, copies attached)] of the kind's rescue VMs that exist (index 1, 2, ... until one is missing)."""
    out = []
    for index in range(1, MAX_LUN + 2):
        indexed = dataclasses.replace(spec, index=index)
        model = client.get(parse_resource_id(indexed.vm_id, 'rescue_vm_id').path, missing_ok=True)
        if model is None:
            return out
        disks = ((model.get('properties') or {}).get('storageProfile') or {}).get('dataDisks') or ()
        out.append((indexed, min(limit, sum(1 for d in disks if d.get('toBeDetached') is not True))))
    return out


def _plan_location(job, state, where, kinds):
    """Plan the kinds of one (subscription, location): sizes, existing rescue VMs, new ones, quota."""
    client, size_name = job.client, job.params['rescue_vm_size']
    subscription, location = kinds[0][0].subscription_id, kinds[0][0].location
    try:
        size = read_size(client, subscription, location, size_name)
        usage = read_usages(client, subscription, location) if size is not None else {}
    except ArmError as err:
        state.notes[where] = ('the sizes and quotas of %s could not be read (%s): one rescue VM per kind, vCPU quota '
                              'not checked before the create' % (location, err.code or err.status))  # fmt: skip
        return
    if size is None:
        state.refused[where] = TaskError('rescue_vm_size %s is not offered in %s to subscription %s (skus list): '
                                         'choose another size. Nothing was written.' % (size_name, location, subscription),
                                         reason_code='invalid_input')  # fmt: skip
        return
    new_total = copies_total = 0
    for kind, copies in kinds:
        found = _existing(client, kind, size.max_data_disks)
        free = sum(size.max_data_disks - attached for _spec, attached in found)
        new = int(math.ceil(max(0, copies - free) / float(size.max_data_disks)))
        specs = [spec for spec, _attached in found] + [
            dataclasses.replace(kind, index=len(found) + n + 1) for n in range(new)
        ]
        state.kinds[kind] = specs or [kind]
        for spec, attached in found:
            state.loads[spec.vm_id.lower()] = attached
        for spec in state.kinds[kind]:
            job.hub.limits[spec.vm_id.lower()] = size.max_data_disks
        new_total += new
        copies_total += copies
    why = quota_refusal(size, usage, new_total, location, subscription, copies_total) if new_total else None
    if why:
        state.refused[where] = TaskError(why, reason_code='quota_exceeded')


def _plan(job, state):
    by_where = {}
    for kind, copies in state.wanting.items():
        by_where.setdefault(_where(kind), []).append((kind, copies))
    for where, kinds in by_where.items():
        _plan_location(job, state, where, kinds)


def assign(hub, spec):
    """The rescue VM of kind ``spec`` for one more copy: the least loaded one of the plan (index 1 unplanned)."""
    with hub.lock:
        state = hub.fleet
        specs = state.kinds.get(dataclasses.replace(spec, index=1)) if state is not None else None
        if not specs:
            return spec
        chosen = min(specs, key=lambda s: (state.loads.get(s.vm_id.lower(), 0), s.index))
        state.loads[chosen.vm_id.lower()] = state.loads.get(chosen.vm_id.lower(), 0) + 1
        return chosen


def release(hub, vm_id):
    """A copy left rescue VM ``vm_id``: its slot is free for the next ``assign``."""
    with hub.lock:
        state = hub.fleet
        if state is not None and state.loads.get(str(vm_id).lower(), 0) > 0:
            state.loads[str(vm_id).lower()] -= 1
