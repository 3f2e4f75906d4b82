"""Records on VMs are claims (issue 26): the seal (HMAC), the record formats, the restore gate and the guest's word
on a pending reset. No network."""

import datetime
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _record_seal as rs, _report
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import (
    key_record as kr,
    restore_gate as gate,
    settings_record as sr,
    status,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

SUB = '5b0c3e2a-0000-4000-8000-00000000bbbb'
VM = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01' % SUB
OTHER = VM.replace('web-01', 'web-02')
KEY = b'a-record-key-of-32-characters-xx'
ENFORCE = sr.normalize({'enabled': True, 'wireServer': {'mode': 'Enforce'}, 'imds': {'mode': 'Enforce'}})
AUDIT = sr.normalize({'enabled': True, 'wireServer': {'mode': 'Audit'}, 'imds': {'mode': 'Audit'}})
T = datetime.datetime(2026, 12, 7, 10, 0, 0, tzinfo=datetime.UTC)


class View:
    def __init__(self, tags, target_id=VM):
        self.tags = tags
        self.target = parse_resource_id(target_id)


# -- the seal ---------------------------------------------------------------------------------------------------------
def test_seal_is_bound_to_resource_purpose_time_and_content():
    mac = rs.seal(KEY, VM, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}')
    assert len(mac) == rs.MAC_LENGTH and '=' not in mac
    assert rs.verify(KEY, VM.upper(), 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}', mac)  # IDs: any case
    for args in (
        (KEY, OTHER, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}'),
        (KEY, VM, 'key-reset', '2026-12-07T10:00:00Z', '{"x":1}'),
        (KEY, VM, 'msp-previous', '2026-12-07T10:00:01Z', '{"x":1}'),
        (KEY, VM, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":2}'),
        (b'another-key-of-the-same-length-x', VM, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}'),
    ):
        assert not rs.verify(*args, mac), args
    assert not rs.verify(KEY, VM, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}', mac[:-1])
    assert not rs.verify(KEY, VM, 'msp-previous', '2026-12-07T10:00:00Z', '{"x":1}', None)


def test_the_key_comes_from_the_option_or_the_environment_and_must_be_long_enough():
    assert rs.resolve_key(None, env={}) is None
    assert rs.resolve_key(None, env={rs.KEY_ENV: 'from-the-env-0123'}) == b'from-the-env-0123'
    assert rs.resolve_key('from-the-option-1', env={rs.KEY_ENV: 'from-the-env-0123'}) == b'from-the-option-1'
    with pytest.raises(TaskError) as exc:
        rs.check_key('too-short')
    assert 'at least 16' in exc.value.msg and 'too-short' not in exc.value.msg


def test_hide_mac_shows_no_seal():
    assert rs.hide_mac('3@2026-12-07T10:00:00Z#' + 'A' * 22) == '3@2026-12-07T10:00:00Z#sealed'
    assert rs.hide_mac('{"m":"%s","v":2}' % ('b' * 22)) == '{"m":"sealed","v":2}'
    assert rs.hide_mac('3@2026-12-07T10:00:00Z') == '3@2026-12-07T10:00:00Z' and rs.hide_mac(None) is None


# -- the key-reset record ---------------------------------------------------------------------------------------------
def test_key_record_sealed_and_checked():
    value = kr.record_value(5, when=T, key=KEY, resource_id=VM)
    assert value.startswith('5@2026-12-07T10:00:00Z#') and len(value) < 60
    record, why = kr.check_record({kr.RECORD_TAG: value}, KEY, VM)
    assert why is None and record['key_incarnation_id'] == 5
    assert kr.parse_record({kr.RECORD_TAG: value})['written_at'] == '2026-12-07T10:00:00Z'
    for tags, words in (
        ({kr.RECORD_TAG: '5@2026-12-07T10:00:00Z'}, 'no seal'),
        ({kr.RECORD_TAG: value.replace('5@', '6@')}, 'does not match'),
        ({kr.RECORD_TAG: 'garbage'}, 'does not parse'),
    ):
        record, why = kr.check_record(tags, KEY, VM)
        assert record is None and words in why, (tags, why)
    assert kr.check_record({kr.RECORD_TAG: value}, KEY, OTHER)[0] is None  # replayed on another VM
    assert 'copied from another VM' in kr.check_record({kr.RECORD_TAG: value}, KEY, OTHER)[1]
    assert kr.check_record({}, KEY, VM) == (None, None)
    # without a key the record is a claim, read as before (the guest must not contradict it)
    assert kr.check_record({kr.RECORD_TAG: '5@2026-12-07T10:00:00Z'}, None, VM)[0]['key_incarnation_id'] == 5


# -- the settings record ----------------------------------------------------------------------------------------------
def test_settings_record_sealed_round_trip_and_tampering():
    text = sr.encode_record(ENFORCE, AUDIT, SUB, VM, key=KEY, when=T)
    record, _ = sr.record_of(View({sr.RECORD_TAG: text}), KEY)
    assert record['trusted'] is True and record['before'] == dict(ENFORCE) and record['written'] == dict(AUDIT)
    data = json.loads(text)
    data['b']['w'] = 'Disabled'  # a tag writer edits the settings before
    record, _ = sr.record_of(View({sr.RECORD_TAG: json.dumps(data)}), KEY)
    assert record['trusted'] is False and 'does not match' in record['why']
    record, _ = sr.record_of(View({sr.RECORD_TAG: text}, OTHER), KEY)  # replayed on another VM
    assert record['trusted'] is False
    record, _ = sr.record_of(View({sr.RECORD_TAG: '{"v":1,"e":0}'}), KEY)
    assert record['trusted'] is False and 'no seal' in record['why']
    record, _ = sr.record_of(View({sr.RECORD_TAG: 'garbled'}), KEY)
    assert record['trusted'] is False and record['before'] is None
    with pytest.raises(TaskError):  # without a key a garbled record is still the old failure (bad_record)
        sr.record_of(View({sr.RECORD_TAG: 'garbled'}), None)
    record, _ = sr.record_of(View({sr.RECORD_TAG: sr.encode_record(ENFORCE, AUDIT, SUB)}), None)
    assert record['trusted'] is None and record['mac'] is None


# -- the restore gate -------------------------------------------------------------------------------------------------
def _record(before, written, trusted=None, version=2, source='tag'):
    return dict(before=before, written=written, trusted=trusted, why='x', version=version, source=source)


def _norm(enabled=True, w=None, i=None, wr=None, ir=None):
    out = {'enabled': enabled}
    if w or wr:
        out['wireServer'] = {'mode': w, 'inVMAccessControlProfileReferenceId': wr}
    if i or ir:
        out['imds'] = {'mode': i, 'inVMAccessControlProfileReferenceId': ir}
    return sr.normalize(out)


FOREIGN = (
    '/subscriptions/00000000-0000-4000-8000-00000000ffff/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/'
    'inVMAccessControlProfiles/p/versions/1'
)


@pytest.mark.parametrize(
    'target,current,words',
    [
        (_norm(False), ENFORCE, 'MSP enabled: true -> false'),
        (_norm(w='Audit', i='Enforce'), ENFORCE, 'wire_server: mode Enforce -> Audit'),
        (_norm(w='Enforce', i='Disabled'), AUDIT, 'imds: mode Audit -> Disabled'),
        (_norm(wr=FOREIGN, i='Enforce'), ENFORCE, 'outside'),
        (_norm(w='Audit'), _norm(wr=FOREIGN.replace('00ffff', '00aaaa')), 'profile reference'),
    ],
)
def test_weakening_names_what_it_lowers(target, current, words):
    found = gate.weakening(target, current, SUB)
    assert found and words in '; '.join(found), found


def test_no_weakening_when_raising_or_allowed():
    assert gate.weakening(ENFORCE, AUDIT, SUB) == []
    own = FOREIGN.replace('00000000-0000-4000-8000-00000000ffff', SUB)
    assert gate.weakening(_norm(wr=own, i='Enforce'), AUDIT, SUB) == []
    allowed = ['/subscriptions/00000000-0000-4000-8000-00000000ffff/resourceGroups/G']
    assert gate.weakening(_norm(wr=FOREIGN, i='Enforce'), AUDIT, SUB, allowed) == []
    assert (
        gate.weakening(_norm(wr=FOREIGN, i='Enforce'), AUDIT, SUB, ['/subscriptions/00000000-0000-4000-8000-0']) != []
    )


def test_check_restore():
    target = parse_resource_id(VM)
    ok, warn = gate.check_restore(_record(ENFORCE, AUDIT), AUDIT, {}, target)
    assert ok is None and warn == []
    refusal, _ = gate.check_restore(_record(ENFORCE, AUDIT), ENFORCE, {}, target)  # never in break-glass
    assert refusal['outcome']['reason_code'] == 'record_mismatch'
    refusal, _ = gate.check_restore(_record(ENFORCE, AUDIT, trusted=False), AUDIT, {}, target)
    assert refusal['outcome']['reason_code'] == 'record_untrusted'
    weaker = _record(_norm(w='Disabled', i='Audit'), ENFORCE)
    refusal, _ = gate.check_restore(weaker, ENFORCE, {}, target)
    assert refusal['outcome']['reason_code'] == 'weaker_restore_refused' and 'Enforce -> Disabled' in refusal['msg']
    ok, warn = gate.check_restore(weaker, ENFORCE, {'allow_weaker_restore': True}, target)
    assert ok is None and 'lowers protection' in warn[0]
    ok, warn = gate.check_restore(dict(weaker, trusted=True), ENFORCE, {}, target)  # sealed by this collection
    assert ok is None and warn == []
    v1 = _record(_norm(False), None, version=1)
    refusal, _ = gate.check_restore(v1, ENFORCE, {'allow_weaker_restore': True}, target)
    assert refusal['outcome']['reason_code'] == 'weaker_restore_refused' and 'version 1' in refusal['msg']
    assert gate.check_restore(_record(ENFORCE, None, version=1), AUDIT, {}, target) == (None, [])
    # from the run report: trusted, and a VM already restored is not a mismatch
    assert gate.check_restore(_record(ENFORCE, AUDIT, True, source='report'), ENFORCE, {}, target) == (None, [])


def test_report_record(tmp_path):
    text = sr.encode_record(ENFORCE, AUDIT, SUB, VM, key=KEY, when=T)
    entry = _report.entry({'id': VM, 'recorded': rs.hide_mac(text), 'changed': True})
    assert json.loads(entry['recorded'])['m'] == 'sealed'
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(_report.build([{'id': VM, 'recorded': rs.hide_mac(text)}], 'proxy_agent_settings')))
    record = gate.report_record(str(path), parse_resource_id(VM.upper()))
    assert record['trusted'] is True and record['source'] == 'report' and record['before'] == dict(ENFORCE)
    assert gate.report_record(str(path), parse_resource_id(OTHER)) is None
    (tmp_path / 'x.json').write_text('{"targets": []}')
    with pytest.raises(TaskError) as exc:
        gate.check_report(str(tmp_path / 'x.json'))
    assert 'not a run report' in exc.value.msg


# -- pending on the guest's word --------------------------------------------------------------------------------------
def _agent(message, reported):
    return dict(
        present=True,
        substatus_code='ComponentStatus/ProxyAgentStatus/succeeded',
        json=True,
        stale=False,
        time=reported.strftime('%Y-%m-%dT%H:%M:%S.%f') + '0+00:00',
        key_latch_status=dict(
            status='RUNNING', message=message, states={'secureChannelState': 'WireServer Enforce -  IMDS Enforce'}
        ),
    )


LOST = "Failed to check the key 'g' details saved locally: No such file or directory (os error 2) - 5"


@pytest.mark.parametrize(
    'written_ago,reported_ago,verdict',
    [
        (600, 0, 'unhealthy'),  # the guest reported a key failure 10 minutes after the reset: contradicted
        (30, 0, 'pending'),  # 30 s: not yet
        (600, 550, 'pending'),  # the guest's last word is from before it could have seen the reset
        (-3600, 0, 'unhealthy'),  # dated an hour in the future: no record
    ],
)
def test_a_key_failure_since_the_record_contradicts_it(written_ago, reported_ago, verdict):
    record = dict(key_incarnation_id=2, time=T - datetime.timedelta(seconds=written_ago))
    record['written_at'] = record['time'].strftime('%Y-%m-%dT%H:%M:%SZ')
    agent = _agent(LOST, T - datetime.timedelta(seconds=reported_ago))
    health = status.classify_health({'keyIncarnationId': 2}, agent, 'running', record=record, now=T)
    assert health['verdict'] == verdict, health
    assert bool(health.get('record_contradicted')) == (verdict == 'unhealthy'), health
