"""Instance views, keyLatchStatus, relatch after a reset, and every agent fault."""

import json
import time

import pytest

from simarm import wait_for

PROXY_LINUX = 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux'


def proxy_entry(view):
    return next((e for e in view.get('extensions', []) if e['type'].startswith('Microsoft.CPlat.ProxyAgent.')), None)


def reset_and_wait(arm, path, value):
    resp = arm.raise_key(path, value)
    assert resp.status_code == 200, resp.text
    assert arm.wait(resp)['status'] == 'Succeeded'


def test_instance_view_shape(arm):
    view = arm.get(arm.vm('rg-linux', 'lin-ok') + '/instanceView').json()
    assert view['vmAgent']['statuses'][0]['code'] == 'ProvisioningState/succeeded'
    assert [s['code'] for s in view['statuses']] == ['ProvisioningState/succeeded', 'PowerState/running']
    entry = proxy_entry(view)
    assert entry['name'] == 'AzureProxyAgentExtension' and entry['type'] == PROXY_LINUX
    codes = [s['code'] for s in entry['substatuses']]
    assert codes == [
        'ComponentStatus/ProxyAgentStatus/succeeded',
        'ComponentStatus/ProxyAgentConnectionSummary/succeeded',
        'ComponentStatus/ProxyAgentFailedAuthenticationSummary/succeeded',
    ]
    status = json.loads(entry['substatuses'][0]['message'])
    for key in (
        'version',
        'status',
        'monitorStatus',
        'keyLatchStatus',
        'ebpfProgramStatus',
        'proxyListenerStatus',
        'telemetryLoggerStatus',
        'proxyConnectionsCount',
    ):
        assert key in status
    latch = status['keyLatchStatus']
    assert latch['status'] == 'RUNNING'
    assert latch['message'].startswith('Found key details from local and ready to use. - ')
    states = latch['states']
    assert states['secureChannelState'] == 'WireServer Enforce -  IMDS Enforce - HostGA Enforce'
    assert states['keyIncarnationId'] == '3' and isinstance(states['keyGuid'], str)
    assert all(isinstance(v, str) for v in states.values())
    assert set(states) >= {'wireServerRuleId', 'imdsRuleId', 'hostGARuleId'}
    assert any(h['type'] == PROXY_LINUX for h in view['vmAgent']['extensionHandlers'])


def test_get_vm_expand_instance_view(arm):
    vm = arm.get(arm.vm('rg-linux', 'lin-ok'), query={'$expand': 'instanceView'}).json()
    assert proxy_entry(vm['properties']['instanceView'])['type'] == PROXY_LINUX


def test_windows_agent_entry(arm):
    view = arm.get(arm.vm('rg-windows', 'win-ok') + '/instanceView').json()
    entry = proxy_entry(view)
    assert entry['type'] == 'Microsoft.CPlat.ProxyAgent.ProxyAgentWindows'
    assert entry['name'] == 'AzureGuestProxyAgentExtension'
    assert any(s['code'].startswith('ComponentStatus/EbpfStatus/') for s in entry['substatuses'])


def test_relatch_after_reset(sim, arm):
    sim.control.config(relatch_seconds=1.0)
    path = arm.vm('rg-linux', 'lin-ok')
    before = arm.key_latch(path)
    reset_and_wait(arm, path, 4)
    pending = arm.key_latch(path)
    assert pending['states']['keyIncarnationId'] == '3'
    assert pending['states']['keyGuid'] == before['states']['keyGuid']
    after = wait_for(
        lambda: (lambda latch: latch if latch['states']['keyIncarnationId'] == '4' else None)(arm.key_latch(path))
    )
    assert after['states']['keyGuid'] != before['states']['keyGuid']
    assert after['message'].startswith('Successfully attest the key and ready to use. - ')


def test_stale_status_reads_answer_the_status_from_before_the_write(sim, arm):
    """stale_status_reads=1: the first instance-view read after a write shows the agent status served before it
    (same message, same time), even after the guest latched; the next read is fresh."""
    sim.control.config(relatch_seconds=0.2, lro_seconds=0, stale_status_reads=1)
    path = arm.vm('rg-linux', 'lin-ok')
    before = proxy_entry(arm.get(path + '/instanceView').json())
    reset_and_wait(arm, path, 4)
    time.sleep(0.6)  # latched by now
    stale = proxy_entry(arm.get(path, query={'$expand': 'instanceView'}).json()['properties']['instanceView'])
    assert stale == before
    fresh = wait_for(
        lambda: (lambda latch: latch if latch['states']['keyIncarnationId'] == '4' else None)(arm.key_latch(path))
    )
    assert (
        fresh['states']['keyGuid']
        != json.loads(before['substatuses'][0]['message'])['keyLatchStatus']['states']['keyGuid']
    )


def test_no_relatch_without_reset(sim, arm):
    path = arm.vm('rg-linux', 'lin-ok')
    arm.wait(arm.patch(path, {'tags': {'x': 'y'}}))
    time.sleep(0.7)
    assert arm.key_latch(path)['states']['keyIncarnationId'] == '3'


@pytest.mark.parametrize('name', ['lin-key-lost', 'win-key-lost'])
def test_key_lost_then_cured_by_reset(arm, name):
    rg = 'rg-windows' if name.startswith('win') else 'rg-linux'
    path = arm.vm(rg, name)
    latch = arm.key_latch(path)
    assert latch['status'] == 'RUNNING'
    assert 'keyGuid' not in latch['states'] and 'keyIncarnationId' not in latch['states']
    assert latch['message'].startswith("Failed to check the key '") and 'details saved locally' in latch['message']
    reset_and_wait(arm, path, 2 if rg == 'rg-windows' else 3)
    cured = wait_for(lambda: (lambda latch: latch if 'keyGuid' in latch['states'] else None)(arm.key_latch(path)))
    assert cured['message'].startswith('Successfully attest the key and ready to use.')


def test_key_mismatch_then_cured_by_reset(arm):
    path = arm.vm('rg-linux', 'lin-key-mismatch')
    latch = arm.key_latch(path)
    assert latch['states']['keyIncarnationId'] == '4'
    assert arm.get(path).json()['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 5
    assert latch['message'].startswith('Failed to attest the key: ')
    reset_and_wait(arm, path, 6)
    cured = wait_for(
        lambda: (lambda latch: latch if latch['states']['keyIncarnationId'] == '6' else None)(arm.key_latch(path))
    )
    assert cured['message'].startswith('Successfully attest the key')


def test_stale_status_is_plain_text_and_not_cured(arm):
    path = arm.vm('rg-linux', 'lin-stale')
    entry = proxy_entry(arm.get(path + '/instanceView').json())
    assert all(s['code'].endswith('/transitioning') for s in entry['substatuses'])
    with pytest.raises(ValueError):
        json.loads(entry['substatuses'][0]['message'])
    assert 'stale' in entry['substatuses'][0]['message']
    reset_and_wait(arm, path, 2)
    time.sleep(0.8)
    assert all(
        s['code'].endswith('/transitioning') for s in proxy_entry(arm.get(path + '/instanceView').json())['substatuses']
    )


def test_agent_stopped_never_relatches(arm):
    path = arm.vm('rg-linux', 'lin-agent-stopped')
    latch = arm.key_latch(path)
    assert latch['status'] == 'STOPPED' and latch['message'] == 'poll_secure_channel_status task exited.'
    reset_and_wait(arm, path, 2)
    time.sleep(0.8)
    latch = arm.key_latch(path)
    assert latch['status'] == 'STOPPED' and latch['states']['keyIncarnationId'] == '1'


def test_no_agent_and_no_msp_have_no_entry(arm):
    assert proxy_entry(arm.get(arm.vm('rg-linux', 'lin-no-agent') + '/instanceView').json()) is None
    assert proxy_entry(arm.get(arm.vm('rg-linux', 'lin-no-msp') + '/instanceView').json()) is None
    assert arm.key_latch(arm.vm('rg-windows', 'win-no-msp')) is None


def test_old_agent_message(arm):
    path = arm.vm('rg-linux', 'lin-old-agent')
    latch = arm.key_latch(path)
    assert latch['message'].startswith('Got key status successfully: authorizationScheme: ')
    assert 'secureChannelState: wireserverandimds' in latch['message']
    assert proxy_entry(arm.get(path + '/instanceView').json())['typeHandlerVersion'] == '1.0.35'


def test_disabled_channel(arm):
    latch = arm.key_latch(arm.vm('rg-linux', 'lin-disabled-channel'))
    assert latch['message'].startswith('Customer has not enforce the secure channel state. - ')
    assert latch['states']['secureChannelState'] == 'disabled' and 'keyGuid' not in latch['states']


def test_audit_mode_channel_state(arm):
    latch = arm.key_latch(arm.vm('rg-linux', 'lin-audit'))
    assert latch['states']['secureChannelState'] == 'WireServer Audit -  IMDS Audit - HostGA Audit'


def test_stopped_vm_accepts_reset_and_relatches_after_start(sim, arm):
    sim.control.config(relatch_seconds=0.6)
    path = arm.vm('rg-linux', 'lin-stopped')
    view = arm.get(path + '/instanceView').json()
    assert view['statuses'][1]['code'] == 'PowerState/stopped'
    assert view['vmAgent']['statuses'][0]['displayStatus'] == 'Not Ready' and 'extensions' not in view
    reset_and_wait(arm, path, 2)
    time.sleep(0.8)
    assert sim.control.vm(sim.vm_id('rg-linux', 'lin-stopped'))['proxy_agent']['guest']['keyIncarnationId'] == 1
    arm.wait(arm.post(path + '/start'))
    assert arm.key_latch(path)['states']['keyIncarnationId'] == '1'  # not before relatch_seconds after start
    wait_for(lambda: arm.key_latch(path)['states']['keyIncarnationId'] == '2')


def test_deallocated_vm_has_no_agent_status(arm):
    view = arm.get(arm.vm('rg-linux', 'lin-deallocated') + '/instanceView').json()
    assert 'vmAgent' not in view and 'extensions' not in view
    assert view['statuses'][1]['code'] == 'PowerState/deallocated'


def test_uniform_instance_instance_view_and_relatch(arm):
    path = arm.instance('rg-vmss', 'ss-uniform', 2)
    assert 'keyGuid' not in arm.key_latch(path)['states']  # instance 2 lost its key
    model = arm.get(path).json()
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 2
    arm.wait(arm.put(path, model))
    wait_for(lambda: arm.key_latch(path)['states'].get('keyIncarnationId') == '2')


def test_control_sets_agent_fault_and_power(sim, arm):
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    sim.control.set_agent_fault(vm_id, 'key_lost')
    assert 'keyGuid' not in arm.key_latch(arm.vm('rg-linux', 'lin-ok'))['states']
    sim.control.set_agent_fault(vm_id, None)
    assert arm.key_latch(arm.vm('rg-linux', 'lin-ok'))['states']['keyIncarnationId'] == '3'
    sim.control.set_power(vm_id, 'deallocated')
    assert 'vmAgent' not in arm.get(arm.vm('rg-linux', 'lin-ok') + '/instanceView').json()
