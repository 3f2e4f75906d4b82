"""The stuck key reset (issue 24): the decision (stuck.key_health), its likely cause, the observation record
(key_record) and what the module, the roles' filters and the inventory make of it. Pure: no simulator."""

import datetime
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import recovery_outcomes
from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import (
    key_pending,
    key_record as kr,
    status as ms,
    stuck,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
FRESH = '2026-01-01T11:59:30.1234567+00:00'
GUID = 'e3882f98-da8d-4410-8394-06c23462781c'
SCS = 'WireServer Enforce -  IMDS Enforce - HostGA Enforce'
VM = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1'
KEY = b'k' * 32
RUNNING = {'status': 'RUNNING', 'message': 'ok'}
READY = 'Found key details from local and ready to use. - 122'
MISMATCH = "Failed to attest the key: the key '%s' saved locally does not match the host key - 9" % GUID


def agent(latched='5', message=READY, kstatus='RUNNING', ebpf=RUNNING, listener=RUNNING, time=FRESH, raw=None):
    """parse_agent_status of an instance view whose agent reports these fields."""
    states = {'secureChannelState': SCS, 'keyGuid': GUID}
    if latched is not None:
        states['keyIncarnationId'] = latched
    body = {
        'version': '1.0.47',
        'status': 'SUCCESS',
        'keyLatchStatus': {'status': kstatus, 'message': message, 'states': states},
        'ebpfProgramStatus': ebpf,
        'proxyListenerStatus': listener,
    }
    state = 'transitioning' if raw else 'succeeded'
    view = {
        'statuses': [{'code': 'PowerState/running'}],
        'extensions': [
            {
                'name': 'AzureProxyAgentExtension',
                'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux',
                'statuses': [{'code': 'ProvisioningState/%s' % state, 'time': time}],
                'substatuses': [
                    {'code': 'ComponentStatus/ProxyAgentStatus/%s' % state, 'message': raw or json.dumps(body)}
                ],
            }
        ],
    }
    return ms.parse_agent_status(view)


def entry(incarnation, minutes_ago):
    when = NOW - datetime.timedelta(minutes=minutes_ago)
    return {'key_incarnation_id': incarnation, 'written_at': when.strftime('%Y-%m-%dT%H:%M:%SZ'), 'time': when}


def health(model=6, record=None, observed=None, power='running', hold=1800, **kw):
    return stuck.key_health(
        {'enabled': True, 'keyIncarnationId': model}, agent(**kw), power, record, observed, NOW, hold
    )


# -- (b) unrecorded: pending until an observation dates it ----------------------------------------------------------
def test_unrecorded_pending_asks_for_an_observation():
    h = health()
    assert h['verdict'] == 'pending' and h['observe'] and h['pending_since'] is None


def test_recent_observation_dates_the_pending_state():
    h = health(observed=entry(6, 10))
    assert h['verdict'] == 'pending' and not h.get('observe')
    assert h['observed_since'] == '2026-01-01T11:50:00Z'
    assert '600 s ago' in h['reason'] and 'stuck after 1800 s' in h['reason']


def test_old_observation_is_stuck_with_cause_and_next_step():
    h = health(observed=entry(6, 40), message=MISMATCH)
    assert h['verdict'] == 'stuck' and not h['reset_needed']
    s = h['stuck']
    assert s['source'] == 'observation' and s['age'] == 2400 and s['since'] == '2026-01-01T11:20:00Z'
    assert s['cause'] == 'key_failure' and s['remedy'] == 'reset_again'
    assert 'break-glass' in s['next_step'] and 'proxy_agent_key_recovery_break_glass' in s['next_step']


def test_observation_of_another_incarnation_or_in_the_future_is_ignored():
    assert health(observed=entry(5, 40))['observe']
    assert health(observed=entry(6, -60))['observe']  # an hour ahead: no date


def test_hold_is_the_option():
    assert health(observed=entry(6, 10), hold=60)['verdict'] == 'stuck'


def test_observation_never_turns_a_non_pending_verdict():
    # latched == model: healthy whatever an (even forged, old) observation says
    assert health(model=5, observed=entry(5, 600))['verdict'] == 'healthy'
    # a key failure without a reset pending: unhealthy, the reset is still made
    h = health(model=5, observed=entry(5, 600), message=MISMATCH)
    assert h['verdict'] == 'unhealthy' and h['reset_needed']
    # VM not running: unknown
    assert health(observed=entry(6, 600), power='deallocated')['verdict'] == 'unknown'


# -- (a) recorded by this collection, past its hold ----------------------------------------------------------------
@pytest.mark.parametrize(
    'kw, cause, remedy',
    [
        ({}, 'old_key_ready', 'reset_again'),
        (
            dict(kstatus='STOPPED', message='poll_secure_channel_status task exited.'),
            'agent_stopped',
            'recovery_ladder',
        ),
        (dict(ebpf={'status': 'STOPPED', 'message': 'Failed to load HashMap'}), 'ebpf_failed', 'recovery_ladder'),
        (dict(listener={'status': 'STOPPED', 'message': 'bind'}), 'listener_failed', 'recovery_ladder'),
        (dict(message='Failed to get key status - 5'), 'host_unreachable', 'recovery_ladder'),
        (dict(raw='Proxy agent status is stale: ...'), 'stale_status', 'recovery_ladder'),
        (dict(time='2026-01-01T10:00:00+00:00'), 'stale_status', 'recovery_ladder'),
    ],
)
def test_recorded_reset_past_hold_is_stuck_with_the_agents_cause(kw, cause, remedy):
    h = health(record=entry(6, 45), **kw)
    assert h['verdict'] == 'stuck', h['reason']
    assert (h['stuck']['source'], h['stuck']['cause'], h['stuck']['remedy']) == ('record', cause, remedy)
    assert 'recorded by this collection' in h['reason']


def test_recorded_reset_within_hold_stays_pending():
    h = health(record=entry(6, 10))
    assert h['verdict'] == 'pending' and h['pending_since'] == entry(6, 10)['written_at']


def test_recorded_reset_with_latched_key_or_stopped_vm_is_not_stuck():
    assert health(model=6, latched='6', record=entry(6, 45))['verdict'] == 'healthy'
    assert health(record=entry(6, 45), power='stopped')['verdict'] == 'unknown'


def test_contradicted_record_dates_the_pending_state_it_no_longer_holds_up():
    # the guest reports a key failure long after the record: the record holds nothing back, the model still does
    h = health(record=entry(6, 45), message=MISMATCH)
    assert h['record_contradicted'] and h['verdict'] == 'stuck' and h['stuck']['source'] == 'record'
    h = health(record=entry(6, 10), message=MISMATCH)
    assert h['verdict'] == 'pending' and not h.get('observe')


# -- the observation record ----------------------------------------------------------------------------------------
def test_observation_value_and_checks():
    when = NOW - datetime.timedelta(minutes=5)
    plain = kr.observation_value(6, when)
    assert plain == 'observed:6@2026-01-01T11:55:00Z'
    tags = {kr.RECORD_TAG: plain}
    assert kr.check_record(tags, None, VM) == (None, None)  # not a reset record
    assert kr.parse_record(tags) is None
    seen, why = kr.check_observation(tags, None, VM)
    assert seen['key_incarnation_id'] == 6 and why is None
    # under a record key: no seal -> untrusted; sealed -> trusted; a reset record's seal is not an observation's
    assert kr.check_observation(tags, KEY, VM)[0] is None and 'no seal' in kr.check_observation(tags, KEY, VM)[1]
    sealed = kr.observation_value(6, when, KEY, VM)
    assert kr.check_observation({kr.RECORD_TAG: sealed}, KEY, VM)[0]['key_incarnation_id'] == 6
    assert kr.check_observation({kr.RECORD_TAG: sealed}, KEY, VM + 'x')[0] is None
    replayed = 'observed:' + kr.record_value(6, when, KEY, VM)
    assert kr.check_observation({kr.RECORD_TAG: replayed}, KEY, VM)[0] is None
    reset = kr.record_value(6, when, KEY, VM)
    assert kr.check_observation({kr.RECORD_TAG: reset}, KEY, VM) == (None, None)


# -- the module's outcome, the role's filters ----------------------------------------------------------------------
def stuck_result():
    h = health(observed=entry(6, 40), message=MISMATCH)
    return dict(changed=False, id=VM, key_incarnation_id=6, health=h, stuck=h['stuck'], msg=stuck.stuck_note('vm1', h))


def test_outcome_of_a_stuck_reset():
    found = key_pending.result_outcome(stuck_result())
    assert found['status'] == 'skipped' and found['reason_code'] == 'key_stuck'
    assert 'stuck' in found['reason'] and 'Next:' in found['reason']


def test_role_reports_stuck_with_cause_and_next_step():
    res = stuck_result()
    res['outcome'] = key_pending.result_outcome(res)
    out = recovery_outcomes([res], ['vm1'], role='proxy_agent_key_recovery', mode='unhealthy')
    o = out['vm1']['outcome']
    assert o['status'] == 'skipped' and o['reason_code'] == 'key_stuck'
    assert 'STUCK' in o['reason'] and 'likely cause: the guest fails on its old key' in o['reason']
    assert 'next: raise the key once more' in o['reason']
    lines = recovery_summary(out, role='proxy_agent_key_recovery', as_lines=True)
    assert any('1 host(s) have a key reset STUCK' in line and 'vm1' in line for line in lines)
    assert not any('pending from an earlier run' in line for line in lines)
    # a result recorded without an outcome gets the same
    res.pop('outcome')
    assert recovery_outcomes([res], ['vm1'], role='proxy_agent_key_recovery')['vm1']['outcome']['reason_code'] == (
        'key_stuck'
    )


# -- the module: the observation write --------------------------------------------------------------------------------
class TagClient:
    """One VM whose model says 6 while its guest holds 5 (a reset nobody recorded); records the writes."""

    def __init__(self, errors=()):
        self.tags, self.etag, self.calls, self.errors = {'owner': 'a'}, 1, [], list(errors)
        self.subscription_id = 's'

    def get_with_etag(self, path, params=None, **kw):
        body = {
            'name': 'vm1',
            'tags': dict(self.tags),
            'properties': {
                'storageProfile': {'osDisk': {'osType': 'Linux'}},
                'securityProfile': {'proxyAgentSettings': {'enabled': True, 'keyIncarnationId': 6}},
            },
        }
        if params and params.get('$expand') == 'instanceView':
            view = {'statuses': [{'code': 'PowerState/running'}], 'extensions': []}
            ext = agent(message=MISMATCH)  # parsed; rebuild the raw view the module reads
            states = {'secureChannelState': SCS, 'keyGuid': GUID, 'keyIncarnationId': '5'}
            kls = {'status': 'RUNNING', 'message': MISMATCH, 'states': states}
            view['extensions'].append(
                {
                    'name': ext['extension_name'],
                    'type': ext['extension_type'],
                    'statuses': [{'code': 'ProvisioningState/succeeded', 'time': FRESH}],
                    'substatuses': [
                        {
                            'code': 'ComponentStatus/ProxyAgentStatus/succeeded',
                            'message': json.dumps({'version': '1.0.47', 'status': 'SUCCESS', 'keyLatchStatus': kls}),
                        }
                    ],
                }
            )
            body['properties']['instanceView'] = view
        return body, '"%d"' % self.etag

    def patch(self, path, body, if_match=None, **kw):
        self.calls.append((path, body, if_match))
        if self.errors:
            raise self.errors.pop(0)
        assert 'properties' not in body  # tags only: the observation never touches the model
        self.tags, self.etag = dict(body['tags']), self.etag + 1
        return {}


def run_healthy(client, check_mode=False, **more):
    from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import key_reset
    from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
    from ansible_collections.vmrescue.azure.plugins.module_utils._task import RunContext

    params = dict(state='healthy', key_incarnation_id=None, force=False, wait=True, wait_timeout=60, **more)
    ctx = RunContext(client=client, target=parse_resource_id(VM), params=params, check_mode=check_mode)
    return key_reset.run(ctx, sleep=lambda s: None)


def test_module_records_the_first_observation_once_and_writes_no_key():
    c = TagClient()
    r = run_healthy(c, record_key='k' * 32)
    assert not r['changed'] and r['health']['verdict'] == 'pending' and len(c.calls) == 1
    value = c.tags[kr.RECORD_TAG]
    assert value.startswith('observed:6@') and '#' in value and c.tags['owner'] == 'a'
    assert r['key_reset_observed'] == value.split('#')[0] + '#sealed' and c.calls[0][2] == '"1"'
    r = run_healthy(c, record_key='k' * 32)
    assert len(c.calls) == 1 and r['health']['observed_since'] and 'key_reset_observed' not in r


def test_check_mode_records_nothing():
    c = TagClient()
    r = run_healthy(c, check_mode=True)
    assert c.calls == [] and r['health']['verdict'] == 'pending' and 'key_reset_observed' not in r


def test_a_refused_observation_leaves_the_target_pending_with_a_warning():
    from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

    locked = ArmError("The scope '/x' cannot perform write operation", status=409, code='ScopeLocked')
    c = TagClient(errors=[locked])
    r = run_healthy(c)
    assert not r['changed'] and r['health']['verdict'] == 'pending' and len(c.calls) == 1
    assert any('could not be recorded' in w and 'ScopeLocked' in w for w in r['warnings']), r.get('warnings')
    assert key_pending.result_outcome(r)['reason_code'] == 'pending_confirmation'


def test_stuck_after_is_checked_before_any_call():
    from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
    from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import key_reset

    with pytest.raises(TaskError, match='stuck_after must be more than 0'):
        key_reset.validate(dict(state='healthy', stuck_after=0))
