"""_msp_status: the agent's health beyond the key, from real-shaped instance views (the JSON of GuestProxyAgent's
ProxyAgentStatus / ProxyConnectionSummary structs, the texts its extension writes). Table tests, no network."""

import datetime
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import (
    diagnosis as dg,
    endpoint_modes,
    key_reset,
    status as ms,
    stuck,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
FRESH = '2026-01-01T11:59:30.1234567+00:00'
GUID = 'e3882f98-da8d-4410-8394-06c23462781c'
SCS = 'WireServer Enforce -  IMDS Audit - HostGA Enforce'

RUNNING = {'status': 'RUNNING', 'message': 'ok'}

# ProxyConnectionSummary entries as the agent serialises them (field order of the Rust struct).
WAAGENT_OK = {
    'userName': 'root',
    'ip': '168.63.129.16',
    'port': 80,
    'processCmdLine': 'python3 -u /usr/sbin/waagent -run-exthandlers',
    'responseStatus': '200 OK',
    'count': 42,
    'userGroups': ['root'],
    'processFullPath': '/usr/bin/python3',
}
CURL_BLOCKED = {
    'userName': 'app',
    'ip': '169.254.169.254',
    'port': 80,
    'processCmdLine': 'curl -H Metadata:true http://169.254.169.254/metadata/instance',
    'responseStatus': '403 Forbidden',
    'count': 7,
    'userGroups': ['app', 'docker'],
    'processFullPath': '/usr/bin/curl',
}
CURL_FAILED_AUTH = dict(CURL_BLOCKED, count=7)
JAVA_AUDITED = {
    'userName': 'svc',
    'ip': '168.63.129.16',
    'port': 80,
    'processCmdLine': 'java -jar app.jar',
    'responseStatus': '403 Forbidden',
    'count': 3,
    'userGroups': None,
    'processFullPath': '/usr/lib/jvm/bin/java',
}
HOSTGA = {
    'userName': 'root',
    'ip': '168.63.129.16',
    'port': 32526,
    'processCmdLine': 'x',
    'responseStatus': '403 Forbidden',
    'count': 1,
    'userGroups': [],
    'processFullPath': '/opt/x',
}


def agent_json(ebpf=RUNNING, listener=RUNNING, status='SUCCESS', scs=SCS, latched='3'):
    return {
        'version': '1.0.47',
        'status': status,
        'monitorStatus': RUNNING,
        'keyLatchStatus': {
            'status': 'RUNNING',
            'message': 'Found key details from local and ready to use. - 122',
            'states': {
                'secureChannelState': scs,
                'keyGuid': GUID,
                'keyIncarnationId': latched,
                'wireServerRuleId': '',
                'imdsRuleId': '',
                'hostGARuleId': '',
            },
        },
        'ebpfProgramStatus': ebpf,
        'proxyListenerStatus': listener,
        'telemetryLoggerStatus': RUNNING,
        'proxyConnectionsCount': 52,
    }


def view(
    status=None,
    connections=None,
    failed=None,
    time=FRESH,
    state='succeeded',
    power='running',
    ext=True,
    os_type='Linux',
    raw=None,
):
    v = {'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/%s' % power}]}
    if not ext:
        v['extensions'] = [
            {'name': 'AADSSHLoginForLinux', 'type': 'Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux'}
        ]
        return v

    def text(value, empty):
        if raw is not None:
            return raw
        if value is None:
            return empty
        return json.dumps(value, separators=(',', ':')) if not isinstance(value, str) else value

    msgs = [
        text(connections, 'proxy connection summary is empty'),
        raw if raw is not None else json.dumps(status if status is not None else agent_json()),
        text(failed, 'proxy failed auth summary is empty'),
    ]
    names = ['ProxyAgentConnectionSummary', 'ProxyAgentStatus', 'ProxyAgentFailedAuthenticationSummary']
    v['extensions'] = [
        {
            'name': 'AzureProxyAgentExtension',
            'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgent%s' % os_type,
            'typeHandlerVersion': '1.0.47',
            'statuses': [{'code': 'ProvisioningState/%s' % state, 'time': time}],
            'substatuses': [
                {'code': 'ComponentStatus/%s/%s' % (n, state), 'level': 'Info', 'message': m}
                for n, m in zip(names, msgs)
            ],
        }
    ]
    return v


def model(enabled=True, incarnation=3, wire=None, imds=None, mode=None, wire_profile=None):
    s = {'enabled': enabled, 'keyIncarnationId': incarnation}
    if mode:
        s['mode'] = mode
    if wire or wire_profile:
        s['wireServer'] = {
            k: v for k, v in (('mode', wire), ('inVMAccessControlProfileReferenceId', wire_profile)) if v
        }
    if imds:
        s['imds'] = {'mode': imds}
    return {'properties': {'securityProfile': {'proxyAgentSettings': s}}}


def diag(v, m=None, os_type='Linux', **kw):
    from ansible_collections.vmrescue.azure.plugins.module_utils._vm import power_state

    return dg.diagnose(m or model(), v, power_state(v), os_type, now=NOW, **kw)


def test_one_place_per_concern():
    # the key reset's names are the status module's (no copy)
    assert key_reset.parse_agent_status is ms.parse_agent_status
    assert key_reset.classify_health is ms.classify_health
    # diagnosis and the key reset take the key health from stuck.key_health (classify_health with the stuck verdict)
    assert dg.key_health is stuck.key_health
    assert key_reset.key_health is stuck.key_health
    assert endpoint_modes.parse_secure_channel_state is ms.parse_secure_channel_state


def test_module_is_pure():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(ms))
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in getattr(n, 'names', [])
    ]
    assert not [m for m in imported if m and ('vmrescue' in m or m in ('requests', 'socket', 'urllib'))], imported


@pytest.mark.parametrize(
    'text, entries, note',
    [
        ('proxy connection summary is empty', [], None),
        ('proxy failed auth summary is empty', [], None),
        (json.dumps([WAAGENT_OK, CURL_BLOCKED]), [WAAGENT_OK, CURL_BLOCKED], None),
        ('[]', [], None),
        (
            'Substatus of proxy agent connection message and failed auth message size exceeds max size, dropping '
            'connection summary',
            None,
            'Substatus of proxy agent connection message',
        ),
        ('Proxy agent aggregate status file is stale. Status timestamp: 2024-01-01T00:00:00Z', None, 'Proxy agent'),
        ('[{"userName": "root", ', None, '[{"userName"'),
        (None, None, None),
    ],
)
def test_parse_summary(text, entries, note):
    got, got_note = dg.parse_summary(text)
    assert got == entries
    assert (got_note or '').startswith(note or '')


@pytest.mark.parametrize(
    'ip, port, endpoint',
    [
        ('168.63.129.16', 80, 'wireserver'),
        ('168.63.129.16', 32526, 'hostga'),
        ('169.254.169.254', 80, 'imds'),
        ('169.254.169.254', '80', 'imds'),
        ('10.0.0.4', 80, None),
        (None, None, None),
    ],
)
def test_endpoint_of(ip, port, endpoint):
    assert dg.endpoint_of(ip, port) == endpoint


@pytest.mark.parametrize(
    'settings, modes',
    [
        ({'enabled': False, 'mode': 'Enforce'}, ('Disabled', 'Disabled', 'Disabled')),
        ({}, ('Disabled', 'Disabled', 'Disabled')),
        ({'enabled': True}, ('Audit', 'Audit', 'Audit')),
        ({'enabled': True, 'mode': 'Enforce'}, ('Enforce', 'Enforce', 'Enforce')),
        ({'enabled': True, 'mode': 'Enforce', 'imds': {'mode': 'Audit'}}, ('Enforce', 'Audit', 'Enforce')),
        (
            {'enabled': True, 'wireServer': {'mode': 'Disabled'}, 'imds': {'mode': 'Enforce'}},
            ('Disabled', 'Enforce', 'Disabled'),
        ),
        ({'enabled': True, 'wireServer': {'inVMAccessControlProfileReferenceId': '/x'}}, (None, 'Audit', None)),
    ],
)
def test_model_modes(settings, modes):
    got = dg.model_modes(settings)
    assert (got['wireserver'], got['imds'], got['hostga']) == modes


def test_healthy_enforcing_vm_has_no_problem():
    d = diag(view(connections=[WAAGENT_OK]), model(wire='Enforce', imds='Audit'))
    assert d['problems'] == [] and not d['missing'] and not d['stale'] and not d['unhealthy']
    assert d['modes'] == {'wireserver': 'Enforce', 'imds': 'Audit', 'hostga': 'Enforce'}
    assert d['modes_source'] == 'guest' and d['agent_version'] == '1.0.47' and d['denials'] == []
    assert d['key']['verdict'] == 'healthy'
    c = dg.compact(d)
    assert c['ebpf'] == 'RUNNING' and c['listener'] == 'RUNNING' and c['denials'] == 0


def test_enforced_denial_is_blocked_and_merged_across_summaries():
    d = diag(
        view(
            connections=[WAAGENT_OK, CURL_BLOCKED],
            failed=[CURL_FAILED_AUTH],
            status=agent_json(scs='WireServer Enforce -  IMDS Enforce - HostGA Enforce'),
        )
    )
    assert len(d['denials']) == 1
    c = d['denials'][0]
    assert (c['endpoint'], c['user'], c['process'], c['count'], c['blocked']) == (
        'imds',
        'app',
        '/usr/bin/curl',
        7,
        True,
    )
    assert c['user_groups'] == ['app', 'docker'] and c['response_status'] == '403 Forbidden' and c['mode'] == 'Enforce'
    assert sorted(c['sources']) == ['connection_summary', 'failed_authentication_summary']
    assert 'blocked from IMDS' in c['action'] and 'imds_mode: Audit' in c['action']
    assert 'inVMAccessControlProfile' in c['action']
    assert dg.compact(d)['blocked'] == 1 and 'IMDS /usr/bin/curl (app) x7' in dg.compact(d)['denied_callers']


def test_audited_denial_is_not_blocked():
    # Audit: the call is authorised-with-audit: the failed-auth summary has it, the connection summary shows 200.
    d = diag(
        view(
            connections=[WAAGENT_OK, dict(JAVA_AUDITED, responseStatus='200 OK')],
            failed=[JAVA_AUDITED],
            status=agent_json(scs='WireServer Audit -  IMDS Audit - HostGA Audit'),
        )
    )
    assert [(c['endpoint'], c['blocked'], c['mode']) for c in d['denials']] == [('wireserver', False, 'Audit')]
    assert 'before switching wireServer to Enforce' in d['denials'][0]['action']
    assert d['denials'][0]['user_groups'] == []


def test_denials_sorted_most_frequent_first_and_hostga():
    d = diag(view(failed=[HOSTGA, JAVA_AUDITED, CURL_FAILED_AUTH]))
    assert [c['count'] for c in d['denials']] == [7, 3, 1]
    assert d['denials'][-1]['endpoint'] == 'hostga' and d['denials'][-1]['blocked'] is True  # HostGA Enforce


@pytest.mark.parametrize(
    'ebpf, listener, problem',
    [
        (
            {'status': 'STOPPED', 'message': "Failed to load HashMap 'policy_map' with error: ..."},
            RUNNING,
            'eBPF program STOPPED',
        ),
        ({'status': 'UNKNOWN', 'message': 'eBPF redirector is starting'}, RUNNING, 'eBPF program UNKNOWN'),
        (
            RUNNING,
            {'status': 'STOPPED', 'message': "Failed to bind TcpListener '127.0.0.1:3080'"},
            'proxy listener STOPPED',
        ),
    ],
)
def test_component_failures_are_unhealthy(ebpf, listener, problem):
    d = diag(view(status=agent_json(ebpf=ebpf, listener=listener, status='ERROR')))
    assert d['unhealthy'] and any(p.startswith(problem) for p in d['problems']), d['problems']
    assert d['key']['verdict'] == 'healthy'  # the key is fine; the agent is not


def test_missing_agent_on_linux_and_windows():
    d = diag(view(ext=False))
    assert d['missing'] and 'ProxyAgentLinux' in d['problems'][0] and 'addProxyAgentExtension' in d['problems'][0]
    w = diag(view(ext=False), os_type='Windows')
    assert w['missing'] and 'ProxyAgentWindows' in w['problems'][0] and 'addProxyAgentExtension' not in w['problems'][0]
    # not enabled: nothing is missing; not running: no status expected
    assert not diag(view(ext=False), model(enabled=False))['missing']
    assert not diag(view(ext=False, power='deallocated'))['missing']


@pytest.mark.parametrize(
    'kw, m, reason',
    [
        (dict(time='2026-01-01T11:00:00Z'), None, 'status from 2026-01-01T11:00:00Z, 3600 s old'),
        (dict(time='2026-01-01T12:30:00+01:00'), None, '1800 s old'),
        (
            dict(state='transitioning', raw='Proxy agent aggregate status file is stale. Status timestamp: x'),
            None,
            'transitioning: Proxy agent aggregate status file is stale',
        ),
    ],
)
def test_stale(kw, m, reason):
    d = diag(view(**kw), m)
    assert d['stale'] and any(reason in r for r in d['stale_reasons']), d['stale_reasons']


def test_model_ahead_is_stale_only_after_the_pending_hold():
    # model 4, guest 3, no record: a pending reset, not stale
    assert not diag(view(), model(incarnation=4))['stale']
    old = {
        'key_incarnation_id': 4,
        'written_at': '2026-01-01T10:00:00Z',
        'time': datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC),
    }
    d = diag(view(), model(incarnation=4), record=old)
    assert d['stale'] and 'ahead' in d['stale_reasons'][0]


def test_fresh_time_with_fraction_and_offset_is_not_stale():
    assert not diag(view(time='2026-01-01T11:59:59.9999999Z'))['stale']
    assert not diag(view(time=None))['stale']


def test_windows_extra_ebpf_substatus_is_ignored_for_summaries():
    v = view(os_type='Windows', connections=[WAAGENT_OK])
    v['extensions'][0]['substatuses'].append(
        {'code': 'ComponentStatus/EbpfStatus/succeeded', 'message': 'Ebpf Drivers successfully queried.'}
    )
    d = diag(v, os_type='Windows')
    assert d['problems'] == [] and d['denials'] == []


@pytest.mark.parametrize(
    'cmdline, expected',
    [
        ('python3 -u /usr/sbin/waagent -run-exthandlers', 'python3 -u /usr/sbin/waagent -run-exthandlers'),
        ('mysql --password=Zq7-Hidden-4711 -h db', 'mysql --password=*** -h db'),
        ('app --client-secret "Zq7 Hidden" --x 1', 'app --client-secret *** --x 1'),
        (
            'curl -H "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc" http://169.254.169.254/x',
            'curl -H "Authorization: Bearer *** http://169.254.169.254/x',
        ),
        (
            'curl https://acct.blob.core.windows.net/c/b?sv=2022&sig=AbCdEf%2B123',
            'curl https://acct.blob.core.windows.net/c/b?sv=2022&sig=***',
        ),
        ('tool token:abc123', 'tool token:***'),
        (None, None),
    ],
)
def test_scrub_cmdline(cmdline, expected):
    assert dg.scrub_cmdline(cmdline) == expected


def test_denied_caller_cmdline_is_scrubbed():
    leaky = dict(CURL_BLOCKED, processCmdLine='curl -H "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGci.sig" http://x')
    d = diag(view(failed=[leaky]))
    assert 'eyJ0' not in json.dumps(d)
    assert 'eyJ0' not in d['denials'][0]['cmdline'] and 'eyJ0' not in ' '.join(d['problems'])
