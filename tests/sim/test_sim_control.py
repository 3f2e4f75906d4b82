"""Fault injection, counters, request log, config, reset, harness and fleet generation."""

import json
import time

import pytest
import requests


def test_status_fault_with_count(sim, arm):
    sim.control.fault(method='GET', path_regex='virtualMachines/lin-ok$', kind='status', status=503, count=2)
    path = arm.vm('rg-linux', 'lin-ok')
    first = arm.get(path)
    assert first.status_code == 503 and first.json()['error']['code'] == 'ServiceUnavailable'
    assert arm.get(path).status_code == 503
    assert arm.get(path).status_code == 200
    assert arm.get(arm.vm('rg-linux', 'lin-audit')).status_code == 200


def test_status_fault_with_code(sim, arm):
    sim.control.fault(method='PATCH', path_regex='lin-ok', status=500, code='InternalExecutionError', count=1)
    resp = arm.raise_key(arm.vm('rg-linux', 'lin-ok'), 4)
    assert resp.status_code == 500 and resp.json()['error']['code'] == 'InternalExecutionError'


def test_drop_fault(sim, arm):
    sim.control.fault(method='GET', path_regex='lin-ok', kind='drop', count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        arm.get(arm.vm('rg-linux', 'lin-ok'))
    assert arm.get(arm.vm('rg-linux', 'lin-ok')).status_code == 200


def test_slow_fault(sim, arm):
    sim.control.fault(path_regex='lin-ok', kind='slow', delay=0.5, count=1)
    start = time.monotonic()
    assert arm.get(arm.vm('rg-linux', 'lin-ok')).status_code == 200
    assert time.monotonic() - start >= 0.5


def test_conflict_fault(sim, arm):
    sim.control.fault(method='PATCH', path_regex='lin-ok', kind='conflict', count=1)
    resp = arm.raise_key(arm.vm('rg-linux', 'lin-ok'), 4)
    assert resp.status_code == 409 and resp.json()['error']['code'] == 'OperationNotAllowed'
    assert arm.raise_key(arm.vm('rg-linux', 'lin-ok'), 4).status_code == 200


def test_clear_faults(sim, arm):
    sim.control.fault(path_regex='lin-ok', status=500)
    sim.control.clear_faults()
    assert arm.get(arm.vm('rg-linux', 'lin-ok')).status_code == 200


def test_counters(sim, arm):
    sim.control.reset_counters()
    vm = arm.vm('rg-linux', 'lin-ok')
    arm.get(vm)
    resp = arm.raise_key(vm, 4)
    arm.wait(resp)
    arm.get_token(sim.client_id, sim.client_secret)
    counters = sim.control.counters()
    assert counters['token'] == 1 and counters['read'] == 1 and counters['write'] == 1 and counters['poll'] >= 1
    assert counters['throttled'] == 0
    mine = counters['by_principal'][sim.client_id]
    assert mine['read'] == 1 and mine['write'] == 1 and mine['token'] == 1
    assert counters['by_route']['vm.get'] == 1 and counters['by_route']['vm.patch'] == 1
    assert counters['by_route']['operation'] == counters['poll']
    assert sim.control.reset_counters()['read'] == 0


def test_request_log_redacts_protected_settings(sim, arm):
    secret = 'Sup3r-Secret-Passw0rd!'
    path = arm.vm('rg-linux', 'lin-locked') + '/extensions/enablevmaccess'
    arm.wait(
        arm.put(
            path,
            {
                'location': 'westeurope',
                'properties': {
                    'publisher': 'Microsoft.OSTCExtensions',
                    'type': 'VMAccessForLinux',
                    'typeHandlerVersion': '1.5',
                    'protectedSettings': {'username': 'rescue', 'password': secret},
                },
            },
        )
    )
    log = sim.control.requests()
    assert secret not in json.dumps(log)
    entry = next(e for e in log if e['method'] == 'PUT')
    assert entry['body']['properties']['protectedSettings'] == {'username': '<redacted>', 'password': '<redacted>'}
    assert entry['status'] == 201 and entry['principal'] == sim.client_id and entry['route'] == 'vm.extension.put'
    assert secret not in json.dumps(sim.control.vm(sim.vm_id('rg-linux', 'lin-locked')))


def test_config_rejects_unknown_keys(sim):
    with pytest.raises(Exception, match='unknown config key'):
        sim.control.config(no_such_key=1)
    assert sim.control.config()['lro_seconds'] == 0.2


def test_reset_restores_the_fleet(sim, arm):
    arm.wait(arm.raise_key(arm.vm('rg-linux', 'lin-ok'), 9))
    sim.control.config(lro_seconds=5)
    sim.control.reset()
    assert (
        arm.get(arm.vm('rg-linux', 'lin-ok')).json()['properties']['securityProfile']['proxyAgentSettings'][
            'keyIncarnationId'
        ]
        == 3
    )
    assert sim.control.config()['lro_seconds'] == 0.2


def test_control_vm_state(sim):
    state = sim.control.vm(sim.vm_id('rg-linux', 'lin-key-mismatch'))
    assert state['proxy_agent']['fault'] == 'key_mismatch'
    assert (
        state['proxy_agent']['guest']['keyIncarnationId'] == 4 and state['proxy_agent']['host']['keyIncarnationId'] == 5
    )
    assert state['power'] == 'running' and state['os'] == 'linux' and state['guest'] is not None
    assert sim.vm_id('rg-linux', 'lin-ok') in sim.control.vms()


def test_sim_factory_with_dict_fleet_and_generator(sim_factory):
    other = sim_factory(fleet={'generate': {'count': 120, 'faults': {'key_lost': 10}}}, config={'page_size': 100})
    env = other.env()
    assert env['AZURE_CLOUD_ENVIRONMENT'] == other.metadata_url and env['REQUESTS_CA_BUNDLE'] == other.ca_file
    assert env['AZURE_SECRET'] == env['AZURE_CLIENT_SECRET'] == other.client_secret
    vms = other.control.vms()
    assert len(vms) == 120
    lost = [v for v in vms if other.control.vm(v)['proxy_agent']['fault'] == 'key_lost']
    assert len(lost) == 12


def test_generate_cli():
    import subprocess
    import sys

    import yaml

    import armsim.harness as harness

    out = subprocess.run(
        [sys.executable, '-m', 'armsim', '--generate', '5'],
        capture_output=True,
        text=True,
        cwd=harness.TESTS_DIR,
        check=True,
    ).stdout
    fleet = yaml.safe_load(out)
    assert len(fleet['resource_groups'][0]['vms']) == 5


def test_latency_is_added_to_arm_responses(sim, arm):
    sim.control.config(latency_ms=300)
    start = time.monotonic()
    arm.get(arm.vm('rg-linux', 'lin-ok'))
    assert time.monotonic() - start >= 0.3


# -- issue 12: the fault matrix's hooks -------------------------------------------------------------------------
def test_rotating_the_token_key_refuses_every_earlier_token(sim, arm):
    vm = arm.vm('rg-linux', 'lin-ok')
    assert arm.get(vm).status_code == 200
    sim.control.rotate_token_key()
    resp = arm.get(vm)
    assert resp.status_code == 401 and resp.json()['error']['code'] == 'InvalidAuthenticationToken'
    assert 'error="invalid_token"' in resp.headers['WWW-Authenticate']
    fresh = arm.get_token(sim.client_id, sim.client_secret)
    assert arm.get(vm, token=fresh).status_code == 200


def test_deallocate_fault_deallocates_the_addressed_vm_before_the_request(sim, arm):
    sim.control.fault(method='PUT', path_regex='lin-ok/extensions/', kind='deallocate', count=1)
    vm = arm.vm('rg-linux', 'lin-ok')
    body = {
        'location': 'westeurope',
        'properties': {
            'publisher': 'Microsoft.OSTCExtensions',
            'type': 'VMAccessForLinux',
            'typeHandlerVersion': '1.5',
        },
    }
    resp = arm.put(vm + '/extensions/enablevmaccess', body)
    assert resp.status_code == 409 and 'not running' in resp.json()['error']['message']
    assert sim.control.vm(sim.vm_id('rg-linux', 'lin-ok'))['power'] == 'deallocated'
    assert sim.control.vm(sim.vm_id('rg-linux', 'lin-audit'))['power'] == 'running'


def test_vm_resources_without_force_update_tag(sim, arm):
    """vm_resources_force_update_tag=false: the VM GET's resources entries as in the official VirtualMachines_Get
    example (no forceUpdateTag); the extension's own GET keeps it."""
    vm = arm.vm('rg-linux', 'lin-ok')
    body = {
        'location': 'westeurope',
        'properties': {
            'publisher': 'Microsoft.OSTCExtensions',
            'settings': {},
            'type': 'VMAccessForLinux',
            'typeHandlerVersion': '1.5',
            'forceUpdateTag': 't1',
        },
    }
    arm.wait(arm.put(vm + '/extensions/enablevmaccess', body))
    assert arm.get(vm).json()['resources'][0]['properties']['forceUpdateTag'] == 't1'
    sim.control.config(vm_resources_force_update_tag=False)
    assert 'forceUpdateTag' not in arm.get(vm).json()['resources'][0]['properties']
    assert arm.get(vm + '/extensions/enablevmaccess').json()['properties']['forceUpdateTag'] == 't1'
