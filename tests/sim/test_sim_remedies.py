"""Restart, reapply and redeploy (armsim/remedies.py): their routes, responses and real effects on the VM agent,
the provisioning state, the host, the temporary disk and Resource Health; bodies checked against the specs."""

import os

import pytest

import specconf
from simarm import Arm

LADDER_FLEET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'ladder.yaml'
)
SCALE_SET_SWAGGER = specconf.VM_SWAGGER.parent / 'virtualMachineScaleSet.json'


@pytest.fixture
def lad(sim):
    sim.control.reset(LADDER_FLEET)
    return Arm(sim)


def view(arm, path):
    body = arm.get(path + '/instanceView').json()
    assert specconf.errors(body, specconf.VM_PATH + '/instanceView', 'get', '200') == []
    return body


def agent_status(arm, path):
    return view(arm, path)['vmAgent']['statuses'][0]['displayStatus']


def remedy(arm, path, name):
    resp = arm.post(path + '/' + name)
    assert resp.status_code == 202, resp.text
    assert resp.content == b''  # the spec declares no body for 200 / 202
    assert 'Azure-AsyncOperation' in resp.headers and 'Location' in resp.headers
    return resp


def state(sim, path):
    return sim.control.vm(path)


def test_restart_brings_back_a_hung_agent_not_a_goal_state_or_host_problem(sim, lad):
    paths = {n: lad.vm('rg-ladder', n) for n in ('lad-hung', 'lad-goal', 'lad-host', 'lad-failed')}
    for path in paths.values():
        assert (
            agent_status(lad, path) == 'Not Ready'
            or lad.get(path).json()['properties']['provisioningState'] == 'Failed'
        )
        assert lad.wait(lad.post(path + '/restart'))['status'] == 'Succeeded'
    assert agent_status(lad, paths['lad-hung']) == 'Ready'
    assert agent_status(lad, paths['lad-goal']) == 'Not Ready'
    assert agent_status(lad, paths['lad-host']) == 'Not Ready'
    assert lad.get(paths['lad-failed']).json()['properties']['provisioningState'] == 'Failed'
    assert state(sim, paths['lad-hung'])['remedies']['counts'] == {'restart': 1}


def test_reapply_resends_the_goal_state(sim, lad):
    goal, failed, host = (lad.vm('rg-ladder', n) for n in ('lad-goal', 'lad-failed', 'lad-host'))
    before = state(sim, goal)['remedies']
    assert lad.wait(remedy(lad, goal, 'reapply'))['status'] == 'Succeeded'
    assert agent_status(lad, goal) == 'Ready'
    after = state(sim, goal)['remedies']
    assert after['host'] == before['host'] and after['temp_disk'] == before['temp_disk']  # no move, no restart
    assert lad.wait(remedy(lad, failed, 'reapply'))['status'] == 'Succeeded'
    vm = lad.get(failed).json()
    assert vm['properties']['provisioningState'] == 'Succeeded'
    assert specconf.errors(vm, specconf.VM_PATH, 'get', '200') == []
    lad.wait(remedy(lad, host, 'reapply'))
    assert agent_status(lad, host) == 'Not Ready'


def test_redeploy_moves_to_a_new_host_loses_the_temporary_disk_and_restarts(sim, lad):
    host = lad.vm('rg-ladder', 'lad-host')
    health = host + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current'
    assert lad.get(health, api='2026-07-01').json()['properties']['availabilityState'] == 'Unavailable'
    before = state(sim, host)['remedies']
    assert before['temp_disk'] == {'generation': 0, 'has_data': True}
    resp = remedy(lad, host, 'redeploy')
    assert state(sim, host)['busy'] == 'Redeploy'
    assert view(lad, host)['statuses'][0]['code'] == 'ProvisioningState/updating'
    assert lad.wait(resp)['status'] == 'Succeeded'
    after = state(sim, host)
    assert after['remedies']['host'] != before['host']
    assert after['remedies']['temp_disk'] == {'generation': 1, 'has_data': False}
    assert after['power'] == 'running' and agent_status(lad, host) == 'Ready'
    assert lad.get(health, api='2026-07-01').json()['properties']['availabilityState'] == 'Available'


def test_redeploy_takes_the_configured_minutes_and_keeps_the_vm_busy(sim, lad):
    sim.control.config(redeploy_seconds=2.0)
    path = lad.vm('rg-ladder', 'lad-ok')
    resp = remedy(lad, path, 'redeploy')
    busy = lad.post(path + '/restart')
    assert busy.status_code == 409 and busy.json()['error']['code'] == 'OperationNotAllowed'
    status = lad.get(resp.headers['Azure-AsyncOperation'], api=None).json()
    assert status['status'] == 'InProgress'
    assert lad.wait(resp, timeout=10)['status'] == 'Succeeded'


def test_no_remedy_brings_back_a_guest_that_does_not_boot(sim, lad):
    path = lad.vm('rg-ladder', 'lad-fstab')
    for name in ('restart', 'reapply', 'redeploy'):
        lad.wait(lad.post(path + '/' + name))
        assert agent_status(lad, path) == 'Not Ready'


def test_a_not_ready_agent_set_through_the_control_api_takes_a_cause(sim, lad):
    path = lad.vm('rg-ladder', 'lad-ok')
    assert sim.control.set_vm_agent(path, False)['vm_agent_fault'] == 'not_ready'
    lad.wait(lad.post(path + '/restart'))
    assert agent_status(lad, path) == 'Not Ready'  # nothing the platform does helps
    assert sim.control.set_vm_agent(path, False, fault='hung')['vm_agent_fault'] == 'hung'
    lad.wait(lad.post(path + '/restart'))
    assert agent_status(lad, path) == 'Ready'


def test_deallocate_releases_the_node(sim, lad):
    path = lad.vm('rg-ladder', 'lad-host')
    lad.wait(lad.post(path + '/deallocate'))
    lad.wait(lad.post(path + '/start'))
    assert agent_status(lad, path) == 'Ready'
    assert state(sim, path)['remedies']['temp_disk']['has_data'] is False


def test_a_uniform_instance_has_redeploy_but_no_reapply(sim, arm):
    path = arm.instance('rg-vmss', 'ss-uniform', 0)
    assert arm.wait(remedy(arm, path, 'redeploy'))['status'] == 'Succeeded'
    assert state(sim, path)['remedies']['counts'] == {'redeploy': 1}
    assert arm.post(path + '/reapply').status_code == 404


def test_remedies_need_their_actions(sim, readonly_arm, arm):
    path = arm.vm('rg-linux', 'lin-ok')
    for name in ('reapply', 'redeploy'):
        resp = readonly_arm.post(path + '/' + name)
        assert resp.status_code == 403
        assert f'Microsoft.Compute/virtualMachines/{name}/action' in resp.json()['error']['message']


def test_a_read_only_lock_refuses_remedies(sim, arm):
    path = arm.vm('rg-linux', 'lin-ok')
    sim.control.add_lock(arm.vm('rg-linux', 'lin-ok'), 'freeze')
    resp = arm.post(path + '/redeploy')
    assert resp.status_code == 409 and resp.json()['error']['code'] == 'ScopeLocked'


def test_the_spec_has_these_routes():
    doc = specconf._doc(specconf.VM_SWAGGER)[1]['paths']
    assert 'post' in doc[specconf.VM_PATH + '/reapply'] and 'post' in doc[specconf.VM_PATH + '/redeploy']
    scale_sets = specconf._doc(SCALE_SET_SWAGGER)[1]['paths']
    instance = [p for p in scale_sets if p.lower().endswith('/virtualmachines/{instanceid}/redeploy')]
    assert instance and not [p for p in scale_sets if p.lower().endswith('/virtualmachines/{instanceid}/reapply')]


def agent_time(arm, path):
    return view(arm, path)['vmAgent']['statuses'][0]['time']


def test_the_agent_status_time_is_its_last_report_and_a_frozen_one_stays(sim, lad):
    path = lad.vm('rg-ladder', 'lad-ok')
    before = agent_time(lad, path)
    assert lad.wait(remedy(lad, path, 'reapply'))['status'] == 'Succeeded'
    after = agent_time(lad, path)
    assert after > before  # the agent reported again after the rung
    sim.control.set_vm_agent(path, True, frozen=True)
    frozen = agent_time(lad, path)
    assert frozen == after  # the last report stays
    assert lad.wait(lad.post(path + '/restart'))['status'] == 'Succeeded'
    assert lad.wait(remedy(lad, path, 'redeploy'))['status'] == 'Succeeded'
    assert agent_status(lad, path) == 'Ready' and agent_time(lad, path) == frozen  # a stale Ready
    sim.control.set_vm_agent(path, True, frozen=False)
    assert agent_time(lad, path) > frozen
