"""_msp_settings: the record encoding, input validation and the decision (no network)."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import (
    endpoint_modes as m,
    settings_record as rec,
)

SUB = '5b0c3e2a-0000-4000-8000-00000000bbbb'
REF = (
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/inVMAccessControlProfiles/p/'
    'versions/1.0.0' % SUB
)


def test_record_round_trip_and_short_refs():
    norm = m.normalize(
        {'enabled': True, 'wireServer': {'inVMAccessControlProfileReferenceId': REF}, 'imds': {'mode': 'Enforce'}}
    )
    text = rec.encode_record(norm, norm, SUB)
    assert SUB not in text and len(text) < 150
    back = rec.decode_record(text, SUB)
    assert back['before'] == back['written'] == dict(norm, add_proxy_agent_extension=None)
    assert back['version'] == 2 and back['mac'] is None


def test_record_absent_endpoint_and_extension():
    norm = m.normalize({'enabled': False, 'addProxyAgentExtension': True})
    back = rec.decode_record(rec.encode_record(norm, norm, SUB), SUB)['before']
    assert back == norm and back['wire_server'] is None


def test_version_1_records_are_still_read():
    back = rec.decode_record('{"e":1,"i":"Enforce","v":1,"w":"Enforce"}', SUB)
    assert back['version'] == 1 and back['written'] is None and back['before']['imds']['mode'] == 'Enforce'


@pytest.mark.parametrize(
    'text',
    [
        '',
        'x',
        '{"v":2,"e":1}',
        '{"v":1}',
        '{"v":1,"e":1,"w":"Permissive"}',
        '{"v":2,"b":{"e":1},"s":{"e":1}}',
        '{"v":2,"b":{"e":1},"s":{"e":1},"t":"yesterday"}',
        '{"v":2,"b":{"e":1},"s":{"e":1},"t":"2026-01-01T00:00:00Z","m":7}',
        '{"v":3,"b":{"e":1},"s":{"e":1},"t":"2026-01-01T00:00:00Z"}',
    ],
)
def test_garbled_records_refused(text):
    with pytest.raises((ValueError, KeyError)):
        rec.decode_record(text, SUB)


@pytest.mark.parametrize(
    'params,words',
    [
        ({'state': 'present'}, 'needs at least one'),
        ({'state': 'restored', 'enabled': True}, 'leave out enabled'),
        ({'wire_server_mode': 'Audit', 'wire_server_profile_reference_id': REF}, 'mutually exclusive'),
        ({'imds_profile_reference_id': 'p1'}, 'InVMAccessControlProfile version'),
        ({'enabled': False, 'imds_mode': 'Audit'}, 'enabled: false'),
        ({'imds_mode': 'Audit', 'wait_timeout': 0}, 'wait_timeout'),
    ],
)
def test_validate_refuses(params, words):
    with pytest.raises(TaskError) as exc:
        m.validate(dict({'state': 'present'}, **params))
    assert words in exc.value.msg


def test_settings_patch_removes_the_other_endpoint_field():
    current = m.normalize(
        {'enabled': True, 'wireServer': {'inVMAccessControlProfileReferenceId': REF}, 'imds': {'mode': 'Enforce'}}
    )
    want = m._desired(current, {'wire_server_mode': 'Audit', 'imds_mode': 'Enforce'})
    assert m._settings_patch(current, want, False) == {
        'wireServer': {'mode': 'Audit', 'inVMAccessControlProfileReferenceId': None}
    }
    assert m.equal(current, m._desired(current, {'imds_mode': 'Enforce'}))


def test_record_that_does_not_fit_is_refused():
    class View:
        tags = {'owner': 'x'}

        class target:
            subscription_id = SUB
            display = "VM 'v'"
            id = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v' % SUB

    other = REF.replace(SUB, '00000000-0000-0000-0000-00000000ffff').replace('/p/', '/' + 'p' * 60 + '/')
    current = m.normalize(
        {
            'enabled': True,
            'wireServer': {'inVMAccessControlProfileReferenceId': other},
            'imds': {'inVMAccessControlProfileReferenceId': other},
        }
    )
    with pytest.raises(TaskError) as exc:
        m._record_change(View, current, current, None, None)
    assert (
        'do not fit in one tag value' in exc.value.msg
        and exc.value.to_result()['outcome']['reason_code'] == 'record_too_long'
    )
    View.tags = dict(('t%d' % i, 'v') for i in range(50))
    with pytest.raises(TaskError) as exc:
        m._record_change(View, m.normalize({'enabled': True}), m.normalize({'enabled': True}), None, None)
    assert '50 tags' in exc.value.msg


def test_a_foreign_profile_reference_still_fits_with_both_sides():
    foreign = REF.replace(SUB, '00000000-0000-4000-8000-00000000ffff')
    before = m.normalize({'enabled': True, 'wireServer': {'inVMAccessControlProfileReferenceId': foreign}})
    written = m.normalize({'enabled': True, 'wireServer': {'mode': 'Audit'}, 'imds': {'mode': 'Audit'}})
    vm = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v' % SUB
    text = rec.encode_record(before, written, SUB, vm, key=b'k' * 32)
    assert len(text) <= rec.TAG_VALUE_MAX, len(text)
    back = rec.decode_record(text, SUB)
    assert back['before']['wire_server']['profile_reference_id'] == foreign and back['written'] == dict(
        written, add_proxy_agent_extension=None
    )
    same = rec.decode_record(rec.encode_record(before, before, SUB), SUB)
    assert same['written'] == same['before'] and '"w":"="' in rec.encode_record(before, before, SUB)
