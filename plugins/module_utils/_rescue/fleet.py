# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A batch's created rescue VMs sized to its disks, within the vCPU quota, and the rescue group's preflight, all
before any write (private).

A created rescue VM (``rescue_subnet_id``) holds at most its size's ``MaxDataDiskCount`` copies at once. When the
copies of one kind (``rescue_vm.RescueSpec``: region, zone, OS, generation, architecture) exceed it, the batch uses
several rescue VMs of that kind, named with an index (``...-1``, ``-2``; a re-run finds and reuses them).

Every target of such a batch calls ``arrive`` once it has read its truth and passed the gate, before any write; a
target that will need a LUN on a created rescue VM (next step copy, wait_copy or attach) brings its kind. When
every target of the batch has arrived (or none arrived for ``STALL`` seconds: a target the runner never started),
one of the waiting targets plans:

- the rescue group (``group_check.restore_plan``, checked by ``_preflight.groups``: exists, locks, permissions at
  the group and ``subnets/join/action`` at the subnet, Azure Policy on the rescue VM and its NIC), once; a refusal
  refuses every target that needs a rescue VM, its warnings (a CanNotDelete lock: clean-up refused) go once;
- per (subscription, location) (``quota.py``): one read of the ``skus`` list (the size's ``MaxDataDiskCount``,
  ``vCPUs``, ``family``, restrictions), one of ``locations/{loc}/usages``, and per kind the rescue VMs that exist
  (index 1, 2, ... until one is missing) with their data disks; a kind needs ``ceil((copies - free LUNs on its
  existing rescue VMs) / limit)`` new ones. When the free regional or family vCPUs (or the VM count) hold fewer,
  the ones that fit are shared among the kinds (``quota.share``) and the copies are served in waves: ``assign``
  waits (holding no worker) for a slot that ``release`` frees after a detach, and ``wait_timeout`` seconds without
  a slot freed fail the copy (``rescue_vm_full``); a warning once per batch says so, and the waiting target's
  result ``rescue_wave``. Only a kind that gets no rescue VM at all (none exists, none fits) is refused
  (``quota_exceeded``, with the numbers and the fixes); a size not offered there, every kind (``invalid_input``).
  A read that fails (403: no ``Microsoft.Compute/skus/read``) leaves that location unplanned, with a warning: one
  rescue VM per kind, its limit learned from Azure's 409 as before.

``assign`` gives each attach the least loaded rescue VM of its kind (so they are created and boot in parallel),
``release`` frees the slot after a detach, and ``Hub.limits`` tells ``rescue_vm.change_disks`` the size's limit
before any 409. One writer per rescue VM stays ``change_disks``' rule. A killed run resumes: the rescue VMs are
found again by name, their attached copies counted.

Public names: ``arrive(job, spec)`` (step generator), ``leave(job)``, ``planned(params)``, ``assign(job, spec)``
(step generator), ``release(hub, vm_id)``, ``STALL``, ``PLAN_STEPS``.
"""

from __future__ import annotations

import dataclasses
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import parse_targets
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.groups import check_group
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.group_check import restore_plan
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.quota import (
    new_needed,
    quota_allows,
    quota_refusal,
    read_size,
    read_usages,
    share,
    wave_note,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import MAX_LUN, QUEUE_POLL
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

STALL = 30.0
PLAN_STEPS = ('copy', 'wait_copy', 'attach')


class _State:
    def __init__(self, expected, now):
        self.expected, self.arrived, self.last = expected, 0, now
        self.wanting = {}  # kind (RescueSpec, index 1) -> copies that need a LUN
        self.phase = 'waiting'  # -> 'planning' -> 'ready'
        self.refused = {}  # (subscription, location) -> TaskError
        self.notes = {}  # (subscription, location) -> warning
        self.kinds = {}  # kind -> [RescueSpec with index]
        self.loads = {}  # lower rescue VM id -> copies attached or assigned
        self.refused_kinds = {}  # kind -> TaskError (quota_exceeded: not one rescue VM of it fits)
        self.waves = {}  # kind -> {needed, rescue_vms}: fewer rescue VMs than its copies need (the quota)
        self.released = 0  # slots freed by ``release`` (a wave's wait restarts its timeout on each)
        self.batch_notes = []  # warnings given once per batch (to the first target that reads the plan)
        self.group_refused = None  # TaskError: the rescue group's preflight refused (group_check.py)


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
    with hub.lock:
        notes, state.batch_notes = state.batch_notes, []
    job.warnings.extend(notes)
    if _where(spec) in state.notes:
        job.warnings.append(state.notes[_where(spec)])
    for refused in (state.group_refused, state.refused.get(_where(spec)), state.refused_kinds.get(spec)):
        if refused is not None:
            raise refused


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
    """Plan the kinds of one (subscription, location): sizes, existing rescue VMs, new ones within the quota."""
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
    needs = []
    for kind, copies in kinds:
        found = _existing(client, kind, size.max_data_disks)
        free = sum(size.max_data_disks - attached for _spec, attached in found)
        needs.append((kind, copies, found, new_needed(copies, free, size.max_data_disks)))
    wanted = sum(new for _kind, _copies, _found, new in needs)
    allowed = quota_allows(size, usage, wanted) if wanted else 0
    counts = share([(kind, copies, len(found), new) for kind, copies, found, new in needs], allowed)
    for kind, copies, found, new in needs:
        _set_kind(job, state, kind, found, counts[kind], size)
        if new and not found and not counts[kind]:
            why = quota_refusal(size, usage, new, location, subscription, copies)
            state.refused_kinds[kind] = TaskError(why, reason_code='quota_exceeded')
        elif counts[kind] < new:
            state.waves[kind] = dict(needed=len(found) + new, rescue_vms=len(found) + counts[kind])
    if allowed < wanted and any(kind in state.waves for kind, _c, _f, _n in needs):
        existing = sum(len(found) for _kind, _copies, found, _new in needs)
        copies_total = sum(copies for _kind, copies, _found, _new in needs)
        state.batch_notes.append(wave_note(size, usage, location, copies_total, wanted, allowed, existing))


def _set_kind(job, state, kind, found, new, size):
    """The rescue VMs of ``kind``: those found (with their attached copies) and ``new`` more, each at its limit."""
    specs = [spec for spec, _attached in found] + [
        dataclasses.replace(kind, index=len(found) + n + 1) for n in range(new)
    ]
    state.kinds[kind] = specs or [kind]
    for spec, attached in found:
        state.loads[spec.vm_id.lower()] = attached
    for spec in state.kinds[kind]:
        job.hub.limits[spec.vm_id.lower()] = size.max_data_disks


def _check_group(job, state):
    """The rescue group's preflight (group_check.py), once per batch before any write: its refusal, its notes."""
    kinds = list(state.wanting)
    if not kinds or not job.params.get('rescue_resource_group') or job.params.get('preflight') is False:
        return
    verdict = check_group(job.client, restore_plan(job.params, kinds))
    state.batch_notes.extend(verdict.warnings)
    if verdict.refusal is not None:
        state.group_refused = TaskError(verdict.refusal[1], reason_code=verdict.refusal[0])


def _plan(job, state):
    _check_group(job, state)
    if state.group_refused is not None:
        return
    by_where = {}
    for kind, copies in state.wanting.items():
        by_where.setdefault(_where(kind), []).append((kind, copies))
    for where, kinds in by_where.items():
        _plan_location(job, state, where, kinds)


def _pick(hub, state, kind):
    """The least loaded rescue VM of ``kind`` with a free slot (a slot taken), or None (waves: all full)."""
    specs = state.kinds[kind]
    chosen = min(specs, key=lambda s: (state.loads.get(s.vm_id.lower(), 0), s.index))
    key = chosen.vm_id.lower()
    limit = hub.limits.get(key)
    if kind in state.waves and limit is not None and state.loads.get(key, 0) >= limit:
        return None
    state.loads[key] = state.loads.get(key, 0) + 1
    return chosen


def assign(job, spec, clock=time.monotonic):
    """The rescue VM of kind ``spec`` for one more copy (a step generator): the least loaded one of the plan (index 1
    unplanned). In waves (fewer rescue VMs than needed: the quota) a copy waits, holding no worker, for a slot that
    ``release`` frees; ``wait_timeout`` seconds without one freed end the wait (``rescue_vm_full``)."""
    hub, kind = job.hub, dataclasses.replace(spec, index=1)
    started = clock()
    deadline, seen = started + job.params['wait_timeout'], None
    while True:
        with hub.lock:
            state = hub.fleet
            if state is None or not state.kinds.get(kind):
                return spec
            chosen = _pick(hub, state, kind)
            released = state.released
        if chosen is not None:
            if kind in state.waves:
                job.wave = dict(state.waves[kind], waited=int(clock() - started))
            return chosen
        if released != seen:
            seen, deadline = released, clock() + job.params['wait_timeout']
        if clock() > deadline:
            raise TaskError(
                'no LUN was freed on the %d rescue VM(s) of %s within %ss (wait_timeout): the quota allows fewer '
                'rescue VMs than the copies need and no repair finished (a failed one keeps its copy attached). '
                'Nothing was attached; the copy %s is kept: run again, or roll back the stuck rescues.'
                % (len(state.kinds[kind]), spec.location, job.params['wait_timeout'], job.copy_name),
                reason_code='rescue_vm_full')  # fmt: skip
        yield QUEUE_POLL


def release(hub, vm_id):
    """A copy left rescue VM ``vm_id``: its slot is free for the next ``assign``."""
    with hub.lock:
        state = hub.fleet
        if state is not None and state.loads.get(str(vm_id).lower(), 0) > 0:
            state.loads[str(vm_id).lower()] -= 1
            state.released += 1
