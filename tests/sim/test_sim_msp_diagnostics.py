"""The simulated agent's health beyond the key: connection and failed-authentication summaries per endpoint mode,
eBPF / listener failures, a Linux VM without the agent, an old status (fleets/msp_diagnostics.yaml)."""

import datetime
import json

import pytest

import specconf
from armsim.util import iso_now

PROXY = 'Microsoft.CPlat.ProxyAgent.'


def substatuses(arm, path):
    view = arm.get(path + '/instanceView').json()
    entry = next((e for e in view.get('extensions', []) if e['type'].startswith(PROXY)), None)
    if entry is None:
        return None, view
    return {s['code'].split('/')[1]: s['message'] for s in entry['substatuses']}, entry


@pytest.fixture
def msp_arm(diag_sim):
    from simarm import Arm

    return Arm(diag_sim)


def test_healthy_agent_reports_the_agents_empty_failed_auth_text(msp_arm):
    subs, _entry = substatuses(msp_arm, msp_arm.vm('rg-mspdiag', 'msp-ok'))
    conns = json.loads(subs['ProxyAgentConnectionSummary'])
    assert [c['responseStatus'] for c in conns] == ['200 OK']
    assert set(conns[0]) == {
        'userName',
        'ip',
        'port',
        'processCmdLine',
        'responseStatus',
        'count',
        'userGroups',
        'processFullPath',
    }  # the agent's ProxyConnectionSummary fields
    assert subs['ProxyAgentFailedAuthenticationSummary'] == 'proxy failed auth summary is empty'


def test_enforced_denials_are_blocked_in_both_summaries(msp_arm):
    subs, _entry = substatuses(msp_arm, msp_arm.vm('rg-mspdiag', 'msp-denied'))
    conns = json.loads(subs['ProxyAgentConnectionSummary'])
    failed = json.loads(subs['ProxyAgentFailedAuthenticationSummary'])
    blocked = [
        (c['processFullPath'], c['ip'], c['port'], c['count']) for c in conns if c['responseStatus'] == '403 Forbidden'
    ]
    assert sorted(blocked) == [
        ('/usr/bin/curl', '169.254.169.254', 80, 7),
        ('/usr/lib/jvm/bin/java', '168.63.129.16', 80, 2),
    ]
    assert sorted(f['processFullPath'] for f in failed) == ['/usr/bin/curl', '/usr/lib/jvm/bin/java']
    assert [c['count'] for c in conns] == sorted(c['count'] for c in conns)  # ascending, as the extension leaves them


def test_audited_denials_go_on(msp_arm):
    subs, _entry = substatuses(msp_arm, msp_arm.vm('rg-mspdiag', 'msp-audit'))
    conns = json.loads(subs['ProxyAgentConnectionSummary'])
    assert all(c['responseStatus'] == '200 OK' for c in conns) and len(conns) == 2
    assert [f['processFullPath'] for f in json.loads(subs['ProxyAgentFailedAuthenticationSummary'])] == [
        '/usr/lib/jvm/bin/java'
    ]


def test_disabled_endpoint_checks_nothing(diag_sim, msp_arm):
    vm = msp_arm.vm('rg-mspdiag', 'msp-endpoints-off')
    diag_sim.control.set_agent(vm, denied_callers=[{'user': 'app', 'process': '/usr/bin/curl', 'endpoint': 'imds'}])
    subs, _entry = substatuses(msp_arm, vm)
    assert subs['ProxyAgentFailedAuthenticationSummary'] == 'proxy failed auth summary is empty'


@pytest.mark.parametrize(
    'name, component, message',
    [
        ('msp-ebpf', 'ebpfProgramStatus', "Failed to load HashMap 'policy_map'"),
        ('msp-win-listener', 'proxyListenerStatus', "Failed to bind TcpListener '127.0.0.1:3080'"),
    ],
)
def test_component_failures(msp_arm, name, component, message):
    subs, _entry = substatuses(msp_arm, msp_arm.vm('rg-mspdiag', name))
    status = json.loads(subs['ProxyAgentStatus'])
    assert status['status'] == 'ERROR' and status[component]['status'] == 'STOPPED'
    assert status[component]['message'].startswith(message)
    assert status['keyLatchStatus']['status'] == 'RUNNING'  # the key keeper is a separate task


def test_linux_vm_without_agent_has_msp_enabled_and_no_entry(msp_arm):
    vm = msp_arm.vm('rg-mspdiag', 'msp-no-agent')
    subs, view = substatuses(msp_arm, vm)
    assert subs is None and not any(e['type'].startswith(PROXY) for e in view.get('extensions', []))
    model = msp_arm.get(vm).json()
    assert model['properties']['securityProfile']['proxyAgentSettings']['enabled'] is True


def test_old_status_time(msp_arm):
    _subs, entry = substatuses(msp_arm, msp_arm.vm('rg-mspdiag', 'msp-stale'))
    when = datetime.datetime.fromisoformat(entry['statuses'][0]['time'][:26] + '+00:00')
    age = (datetime.datetime.now(datetime.UTC) - when).total_seconds()
    assert 3500 < age < 3700


def test_control_sets_denials_and_age_and_refuses_bad_callers(diag_sim, msp_arm):
    vm = msp_arm.vm('rg-mspdiag', 'msp-ok')
    state = diag_sim.control.set_agent(
        vm, denied_callers=[{'user': 'u', 'process': '/bin/p', 'endpoint': 'hostga'}], status_age=10
    )
    assert state['proxy_agent']['fault'] is None  # the fault is left as it was
    subs, entry = substatuses(msp_arm, vm)
    assert json.loads(subs['ProxyAgentFailedAuthenticationSummary'])[0]['port'] == 32526
    assert entry['statuses'][0]['time'] < iso_now()  # 10 s behind
    with pytest.raises(Exception) as err:
        diag_sim.control.set_agent(vm, denied_callers=[{'user': 'u', 'process': '/bin/p', 'endpoint': 'ftp'}])
    assert 'one of wireserver, imds, hostga' in str(err.value)


@pytest.mark.parametrize('name', ['msp-denied', 'msp-ebpf', 'msp-stale', 'msp-no-agent', 'msp-win-listener'])
def test_new_states_conform(msp_arm, name):
    vm = msp_arm.vm('rg-mspdiag', name)
    path = (
        '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/'
        'virtualMachines/{vmName}/instanceView'
    )
    assert specconf.errors(msp_arm.get(vm + '/instanceView').json(), path, 'get', '200') == []
