"""keyLatchStatus parsing and health classification: every message family, the two-space secureChannelState,
non-JSON (stale) messages, old agents. No network."""

import datetime
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import key_record as kr, status as pa

GUID = 'e3882f98-da8d-4410-8394-06c23462781c'
SCS = 'WireServer Enforce -  IMDS Enforce - HostGA Enforce'  # two spaces before IMDS: what the agent writes


def view(
    message=None,
    status='RUNNING',
    states=None,
    power='running',
    os_type='Linux',
    json_message=True,
    code='ComponentStatus/ProxyAgentStatus/succeeded',
    ext=True,
    raw=None,
    name='AzureProxyAgentExtension',
):
    v = {'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/%s' % power}]}
    if not ext:
        return v
    if states is None:
        states = {'secureChannelState': SCS, 'keyGuid': GUID, 'keyIncarnationId': '10'}
    body = {
        'version': '1.0.47',
        'status': 'SUCCESS',
        'keyLatchStatus': {'status': status, 'message': message, 'states': states},
    }
    msg = raw if raw is not None else (json.dumps(body) if json_message else message)
    v['extensions'] = [
        {'name': 'other', 'type': 'Microsoft.Azure.Extensions.CustomScript', 'substatuses': []},
        {
            'name': name,
            'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgent%s' % os_type,
            'statuses': [{'code': 'ProvisioningState/succeeded', 'time': '2025-01-01T00:00:00Z'}],
            'substatuses': [
                {'code': 'ComponentStatus/ProxyAgentConnectionSummary/succeeded', 'message': '[]'},
                {'code': code, 'level': 'Info', 'message': msg},
            ],
        },
    ]
    return v


def classify(v, model_id=10):
    return pa.classify_health(
        {'enabled': True, 'keyIncarnationId': model_id}, pa.parse_agent_status(v), _vm.power_state(v)
    )


READY_LOCAL = 'Found key details from local and ready to use. - 122'
READY_ATTESTED = 'Successfully attest the key and ready to use. - 5034'
LEGACY = (
    'Got key status successfully: authorizationScheme: Azure-HMAC-SHA256, keyGuid: %s, '
    'secureChannelState: WireServer Enforce -  IMDS Enforce, version: 2.0.' % GUID
)


@pytest.mark.parametrize(
    'message, family, verdict',
    [
        (READY_LOCAL, 'ready_local', 'healthy'),
        (READY_ATTESTED, 'ready_attested', 'healthy'),
        ('Customer has not enforce the secure channel state. - 11', 'not_enforced', 'not_enforced'),
        ('Failed to acquire key details: http status 409 Conflict - 800', 'acquire_failed', 'unhealthy'),
        ('Failed to save key details to file: Permission denied (os error 13)', 'save_failed', 'unhealthy'),
        (
            "Failed to check the key '%s' details saved locally: No such file or directory" % GUID,
            'local_key_failed',
            'unhealthy',
        ),
        ('Failed to attest the key: http status 401 Unauthorized - 9000', 'attest_failed', 'unhealthy'),
        (
            'Failed to get key status - error sending request for url (http://168.63.129.16/secure-channel/status)',
            'key_status_failed',
            'unknown',
        ),
        ('Status unknown.', 'starting', 'unknown'),
        ('poll secure channel status task started.', 'starting', 'unknown'),
        ('poll_secure_channel_status task exited.', 'stopped', 'unknown'),
        ('poll_secure_channel_status task cancelled.', 'stopped', 'unknown'),
        ('something new the agent says', 'other', 'unknown'),
    ],
)
def test_message_families(message, family, verdict):
    h = classify(view(message))
    assert pa.message_family(message) == family
    assert h['message_family'] == family
    assert h['verdict'] == verdict, h['reason']
    assert h['reset_needed'] is (verdict == 'unhealthy')


def test_healthy_details():
    h = classify(view(READY_LOCAL))
    assert h['key_guid'] == GUID and h['latched_key_incarnation_id'] == 10 and h['model_key_incarnation_id'] == 10
    assert h['secure_channel']['imds'] == 'Enforce' and h['secure_channel']['hostga'] == 'Enforce'


def test_running_status_alone_is_not_healthy():
    # RUNNING with a failure message: failures change only the message
    h = classify(view('Failed to attest the key: boom', status='RUNNING'))
    assert h['verdict'] == 'unhealthy'


def test_stopped_status_with_ready_message():
    assert classify(view(READY_LOCAL, status='STOPPED'))['verdict'] == 'unknown'


def test_status_unknown_with_no_message():
    assert classify(view('', status='UNKNOWN', states={}))['verdict'] == 'unknown'


def test_pending_when_latched_lower_than_model():
    h = classify(view(READY_LOCAL), model_id=11)
    assert h['verdict'] == 'pending' and not h['reset_needed']


def test_pending_when_latched_key_has_no_incarnation_but_model_has():
    h = classify(view(READY_LOCAL, states={'secureChannelState': SCS, 'keyGuid': GUID}), model_id=3)
    assert h['verdict'] == 'pending'


def test_no_incarnation_anywhere_is_healthy():
    h = classify(view(READY_LOCAL, states={'secureChannelState': SCS, 'keyGuid': GUID}), model_id=0)
    assert h['verdict'] == 'healthy'


def test_guest_above_model_is_unknown():
    assert classify(view(READY_LOCAL), model_id=9)['verdict'] == 'unknown'


def test_ready_without_guid_is_unknown():
    assert classify(view(READY_LOCAL, states={'secureChannelState': SCS}))['verdict'] == 'unknown'


def test_legacy_agent_message():
    h = classify(view(LEGACY, states={}), model_id=4)
    assert h['message_family'] == 'legacy_ok'
    assert h['verdict'] == 'healthy'
    assert h['key_guid'] == GUID
    assert h['secure_channel']['wireserver'] == 'Enforce' and h['secure_channel']['imds'] == 'Enforce'


def test_legacy_agent_disabled_channel():
    msg = 'Got key status successfully: authorizationScheme: Azure-HMAC-SHA256, keyGuid: , secureChannelState: disabled, version: 1.0'
    assert classify(view(msg, states={}))['verdict'] == 'not_enforced'


def test_legacy_schema_1_lowercase():
    msg = (
        'Got key status successfully: authorizationScheme: Azure-HMAC-SHA256, keyGuid: %s, '
        'secureChannelState: wireserverandimds, version: 1.0' % GUID
    )
    h = classify(view(msg, states={'keyGuid': GUID, 'keyIncarnationId': '10'}))
    assert h['verdict'] == 'healthy' and h['secure_channel']['imds'] == 'Enforce'


@pytest.mark.parametrize(
    'text, ws, imds, hostga, in_use',
    [
        ('WireServer Enforce -  IMDS Enforce - HostGA Enforce', 'Enforce', 'Enforce', 'Enforce', True),
        ('WireServer Enforce - IMDS Audit', 'Enforce', 'Audit', None, True),  # the docs' single space
        ('WireServer Audit -  IMDS Disabled', 'Audit', 'Disabled', None, True),
        ('WireServer Disabled -  IMDS Disabled - HostGA Disabled', 'Disabled', 'Disabled', 'Disabled', False),
        ('wireserver', 'Enforce', 'Disabled', None, True),
        ('wireserverandimds', 'Enforce', 'Enforce', None, True),
        ('disabled', 'Disabled', 'Disabled', None, False),
        ('Unknown', None, None, None, None),
        (None, None, None, None, None),
    ],
)
def test_secure_channel_state(text, ws, imds, hostga, in_use):
    s = pa.parse_secure_channel_state(text)
    assert (s['wireserver'], s['imds'], s['hostga'], s['in_use']) == (ws, imds, hostga, in_use)


def test_all_disabled_is_not_enforced_even_with_ready_message():
    v = view(READY_LOCAL, states={'secureChannelState': 'WireServer Disabled -  IMDS Disabled - HostGA Disabled'})
    assert classify(v)['verdict'] == 'not_enforced'


def test_stale_non_json_transitioning():
    stale = 'Proxy agent status is stale: the status file was last updated more than 5 minutes ago.'
    v = view(raw=stale, code='ComponentStatus/ProxyAgentStatus/transitioning')
    agent = pa.parse_agent_status(v)
    assert agent['stale'] and not agent['json'] and agent['raw_message'] == stale
    h = classify(v)
    assert h['verdict'] == 'unknown' and 'stale' in h['reason']


def test_non_json_even_when_succeeded():
    assert classify(view(raw='not json {'))['verdict'] == 'unknown'


def test_transitioning_with_json_is_stale():
    v = view(READY_LOCAL, code='ComponentStatus/ProxyAgentStatus/transitioning')
    assert classify(v)['verdict'] == 'unknown'


@pytest.mark.parametrize('power', ['deallocated', 'stopped', 'deallocating'])
def test_not_running(power):
    h = classify(view(READY_LOCAL, power=power))
    assert h['verdict'] == 'unknown' and power in h['reason']


def test_no_extension():
    h = classify(view(ext=False))
    assert h['verdict'] == 'unknown' and 'no Guest Proxy Agent extension' in h['reason']


def test_windows_extension_and_custom_name():
    v = view(READY_LOCAL, os_type='Windows', name='my-own-name')
    agent = pa.parse_agent_status(v)
    assert agent['extension_name'] == 'my-own-name'
    assert classify(v)['verdict'] == 'healthy'


def test_parse_agent_status_fields():
    agent = pa.parse_agent_status(view(READY_LOCAL))
    assert agent['present'] and agent['json'] and agent['agent_version'] == '1.0.47'
    assert agent['key_latch_status'] == {
        'status': 'RUNNING',
        'message': READY_LOCAL,
        'states': {'secureChannelState': SCS, 'keyGuid': GUID, 'keyIncarnationId': '10'},
    }


def test_health_table_is_documented_in_module():
    import os

    here = os.path.dirname(__file__)
    src = open(os.path.join(here, '..', '..', 'plugins', 'modules', 'proxy_agent_key_reset.py')).read()
    for family_text in (
        'Found key details from local and ready to use',
        'Successfully attest the key',
        'Got key status successfully',
        'Customer has not enforce the secure channel state',
        'Failed to acquire key details',
        'Failed to check the key',
        'Failed to attest the key',
        'Failed to save key details',
        'Failed to get key status',
        'Status unknown.',
        'poll_secure_channel_status task exited',
        'WireServer Enforce -  IMDS Enforce',
    ):
        assert family_text in src, family_text


# -- pending: the model above the latched key, or this collection's record of a reset not yet latched ----------
NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.UTC)


def classify_with(v, model_id, tags, now=NOW):
    return pa.classify_health(
        {'enabled': True, 'keyIncarnationId': model_id},
        pa.parse_agent_status(v),
        _vm.power_state(v),
        record=kr.parse_record(tags),
        now=now,
    )


@pytest.mark.parametrize(
    'message',
    [
        'Failed to attest the key: 401',
        'Failed to acquire key details: x',
        READY_LOCAL,
        'Failed to save key details to file: y',
    ],
)
def test_model_above_latched_is_pending_whatever_the_message(message):
    h = classify(view(message, states={'secureChannelState': SCS, 'keyGuid': GUID, 'keyIncarnationId': '10'}), 11)
    assert h['verdict'] == 'pending' and not h['reset_needed'] and h['pending_since'] is None


def test_record_of_unlatched_reset_is_pending_when_the_guest_lost_its_key():
    lost = view('Failed to acquire key details: gone', states={'secureChannelState': SCS})
    tags = {'Vmrescue-Key-Reset': '11@2026-12-04T11:50:00Z'}  # tag names are case-insensitive in Azure
    h = classify_with(lost, 11, tags)
    assert h['verdict'] == 'pending' and h['pending_since'] == '2026-12-04T11:50:00Z' and '600s ago' in h['reason']
    # without the record (or with a record of another value) the same status needs a reset
    assert classify_with(lost, 11, {})['verdict'] == 'unhealthy'
    assert classify_with(lost, 11, {kr.RECORD_TAG: '10@2026-12-04T11:50:00Z'})['verdict'] == 'unhealthy'
    # a record older than PENDING_HOLD is history: the guest had its time
    old = NOW - datetime.timedelta(seconds=pa.PENDING_HOLD + 1)
    assert classify_with(lost, 11, {kr.RECORD_TAG: kr.record_value(11, old)})['verdict'] == 'unhealthy'


def test_record_is_history_once_latched():
    ok = view(READY_LOCAL, states={'secureChannelState': SCS, 'keyGuid': GUID, 'keyIncarnationId': '11'})
    h = classify_with(ok, 11, {kr.RECORD_TAG: '11@2026-12-04T11:59:00Z'})
    assert h['verdict'] == 'healthy' and h['pending_since'] is None


@pytest.mark.parametrize('value', ['garbage', '11', '11@yesterday', 'x@2026-12-04T11:50:00Z', None])
def test_unparsable_record_is_ignored(value):
    assert kr.parse_record({kr.RECORD_TAG: value}) is None


def test_record_round_trip():
    rec = kr.parse_record({kr.RECORD_TAG: kr.record_value(7, NOW)})
    assert rec['key_incarnation_id'] == 7 and rec['written_at'] == '2026-12-04T12:00:00Z' and rec['time'] == NOW
