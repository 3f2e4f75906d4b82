# SPDX-License-Identifier: GPL-3.0-or-later
"""Fewer rescue VMs when the vCPU quota is short (issue 23): the pure arithmetic of _rescue.quota and the wait of
fleet.assign for a slot that release frees (no network: a hand-made plan)."""

import types

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import fleet
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.quota import (
    SizeInfo,
    new_needed,
    quota_allows,
    quota_refusal,
    quota_short,
    share,
    wave_note,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import Hub, RescueSpec

B1S = SizeInfo('Standard_B1s', 'standardBSFamily', 1, 2)
D2S = SizeInfo('Standard_D2s_v5', 'standardDSv5Family', 2, 4)


def usage(cores=(0, 100), family=(0, 100), vms=(0, 25000), name='standardBSFamily'):
    return {'cores': cores, name: family, 'virtualMachines': vms}


def test_new_needed_counts_free_luns_on_existing_rescue_vms():
    assert new_needed(3, 0, 2) == 2 and new_needed(3, 1, 2) == 1 and new_needed(2, 2, 2) == 0


def test_quota_allows_the_most_that_fit_under_every_quota():
    assert quota_allows(B1S, usage(family=(0, 1)), 3) == 1
    assert quota_allows(B1S, usage(cores=(8, 10)), 5) == 2
    assert quota_allows(B1S, usage(vms=(24999, 25000)), 3) == 1
    assert quota_allows(D2S, usage(family=(22, 23), name='standardDSv5Family'), 2) == 0
    assert quota_allows(B1S, usage(), 4) == 4
    assert quota_allows(B1S, {}, 4) == 4, 'no usage read: nothing known to be short'


def test_quota_short_names_each_quota_with_its_numbers():
    short = quota_short(D2S, usage(family=(22, 23), name='standardDSv5Family'), 1)
    assert short == ['standardDSv5Family: 22 of 23 vCPUs used, 1 free, 2 needed (a limit of at least 24)']


def test_share_gives_each_kind_without_a_rescue_vm_one_first_then_the_busiest():
    needs = [('linux', 6, 0, 3), ('windows', 2, 0, 1)]
    assert share(needs, 2) == {'linux': 1, 'windows': 1}
    assert share(needs, 3) == {'linux': 2, 'windows': 1}
    assert share(needs, 1) == {'linux': 1, 'windows': 0}, 'the kind with more copies first'
    assert share([('linux', 6, 1, 2), ('windows', 2, 0, 1)], 1) == {'linux': 0, 'windows': 1}
    assert share(needs, 0) == {'linux': 0, 'windows': 0}
    assert share(needs, 10) == {'linux': 3, 'windows': 1}, 'never more than needed'


def test_the_refusal_and_the_wave_note_carry_the_numbers_and_the_fixes():
    msg = quota_refusal(D2S, usage(family=(22, 23), name='standardDSv5Family'), 1, 'westeurope', 'sub', 3)
    assert 'Nothing was written' in msg and 'raise the quota' in msg and 'rescue_vm_size' in msg
    assert quota_refusal(B1S, usage(), 1, 'westeurope', 'sub', 3) is None
    note = wave_note(B1S, usage(family=(0, 1)), 'westeurope', 3, 2, 1, 0)
    assert '3 OS disk copies need 2 rescue VM(s)' in note and 'quota allows 1 new' in note
    assert 'in waves of up to 2' in note and 'wait_timeout' in note


SPEC = RescueSpec('00000000-0000-0000-0000-000000000001', 'rescue-rg', 'westeurope', 'Linux', 'V2', 'x64')


def planned_hub(waves=True, limit=2):
    hub = Hub()
    state = hub.fleet = fleet._State(3, 0.0)
    state.kinds[SPEC] = [SPEC]
    state.phase = 'ready'
    hub.limits[SPEC.vm_id.lower()] = limit
    if waves:
        state.waves[SPEC] = dict(needed=2, rescue_vms=1)
    return hub


def job(hub, wait_timeout=60):
    return types.SimpleNamespace(hub=hub, params={'wait_timeout': wait_timeout}, copy_name='copy-x', wave=None)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_in_waves_a_copy_waits_for_a_slot_freed_by_release():
    hub, clock = planned_hub(), Clock()
    first, second, third = job(hub), job(hub), job(hub)
    for one in (first, second):
        gen = fleet.assign(one, SPEC, clock)
        with pytest.raises(StopIteration) as done:
            next(gen)
        assert done.value.value == SPEC
    waiting = fleet.assign(third, SPEC, clock)
    assert next(waiting) == fleet.QUEUE_POLL, 'both LUNs taken: it waits, holding no worker'
    clock.now = 30
    assert next(waiting) == fleet.QUEUE_POLL
    fleet.release(hub, SPEC.vm_id)
    clock.now = 45
    with pytest.raises(StopIteration) as done:
        next(waiting)
    assert done.value.value == SPEC
    assert third.wave == dict(needed=2, rescue_vms=1, waited=45)
    assert first.wave == dict(needed=2, rescue_vms=1, waited=0)


def test_a_wave_wait_times_out_after_wait_timeout_without_a_slot_freed():
    hub, clock = planned_hub(limit=1), Clock()
    with pytest.raises(StopIteration):
        next(fleet.assign(job(hub), SPEC, clock))
    waiting = fleet.assign(job(hub, wait_timeout=60), SPEC, clock)
    next(waiting)
    clock.now = 50
    fleet.release(hub, SPEC.vm_id)  # a release restarts the timeout ...
    hub.fleet.loads[SPEC.vm_id.lower()] = 1  # ... but another copy took the slot first
    next(waiting)
    clock.now = 100
    next(waiting)
    clock.now = 111
    with pytest.raises(TaskError) as err:
        next(waiting)
    assert err.value.reason_code == 'rescue_vm_full' and 'wait_timeout' in err.value.msg


def test_without_waves_assign_never_waits():
    hub, clock = planned_hub(waves=False, limit=1), Clock()
    for _n in range(3):
        with pytest.raises(StopIteration):
            next(fleet.assign(job(hub), SPEC, clock))
    assert hub.fleet.loads[SPEC.vm_id.lower()] == 3


class FakeClient:
    """The reads of one plan: the skus list, the usages, the rescue VMs that exist (path -> data disks)."""

    def __init__(self, existing, usages):
        self.existing, self.usages = existing, usages

    def get(self, path, api_version=None, params=None, missing_ok=False):
        if path.endswith('/skus'):
            caps = [{'name': 'vCPUs', 'value': '1'}, {'name': 'MaxDataDiskCount', 'value': '2'}]
            return {'value': [{'resourceType': 'virtualMachines', 'name': 'Standard_B1s', 'family': 'standardBSFamily',
                               'locations': ['westeurope'], 'capabilities': caps}]}  # fmt: skip
        if path.endswith('/usages'):
            return {
                'value': [{'name': {'value': k}, 'currentValue': v[0], 'limit': v[1]} for k, v in self.usages.items()]
            }
        disks = self.existing.get(path.lower())
        if disks is None:
            return None
        return {'properties': {'storageProfile': {'dataDisks': [{'lun': n} for n in range(disks)]}}}


def plan_with(existing, usages, wanting):
    hub = Hub()
    state = hub.fleet = fleet._State(1, 0.0)
    state.wanting = dict(wanting)
    client = FakeClient({SPEC.vm_id.lower(): n for n in existing[:1]} if existing else {}, usages)
    one = types.SimpleNamespace(hub=hub, client=client, params={'rescue_vm_size': 'Standard_B1s', 'wait_timeout': 60},
                                warnings=[], copy_name='copy-x', wave=None)  # fmt: skip
    fleet._plan(one, state)
    return hub, state, one


def test_a_rerun_with_a_full_rescue_vm_and_no_quota_left_waits_on_it_instead_of_refusing():
    hub, state, one = plan_with([2], {'cores': (1, 1), 'standardBSFamily': (1, 1)}, {SPEC: 1})
    assert state.refused_kinds == {} and state.kinds[SPEC] == [SPEC], 'the rescue VM found by name is used'
    assert state.waves[SPEC] == dict(needed=2, rescue_vms=1) and state.loads[SPEC.vm_id.lower()] == 2
    assert len(state.batch_notes) == 1 and 'allows 0 new' in state.batch_notes[0]
    waiting = fleet.assign(one, SPEC)
    assert next(waiting) == fleet.QUEUE_POLL, 'both LUNs held by the copies of the killed run'


def test_no_rescue_vm_and_no_quota_is_refused_before_any_write():
    _hub, state, _one = plan_with([], {'cores': (0, 100), 'standardBSFamily': (0, 0)}, {SPEC: 3})
    err = state.refused_kinds[SPEC]
    assert err.reason_code == 'quota_exceeded' and 'standardBSFamily: 0 of 0 vCPUs used' in err.msg
    assert state.waves == {}


def test_quota_for_one_of_two_rescue_vms_plans_one_in_waves():
    hub, state, _one = plan_with([], {'cores': (0, 100), 'standardBSFamily': (0, 1)}, {SPEC: 3})
    assert state.kinds[SPEC] == [SPEC] and state.waves[SPEC] == dict(needed=2, rescue_vms=1)
    assert hub.limits[SPEC.vm_id.lower()] == 2 and not state.refused_kinds
