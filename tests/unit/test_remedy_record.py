"""The vmrescue-remedy record (plugins/module_utils/_remedy/record.py): one entry per rung, sealed under a key,
checked before it holds a rung back."""

import datetime

from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import hide_mac
from ansible_collections.vmrescue.azure.plugins.module_utils._remedy import record

VM = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1'
OTHER = VM[:-1] + '2'
KEY = b'remedy-record-key-0123456789'
T0 = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


def entries():
    out = record.with_rung([], 'restart', record.stamp(T0))
    return record.with_rung(out, 'reapply', record.stamp(T0 + datetime.timedelta(minutes=5)))


def test_one_entry_per_rung_oldest_first():
    again = record.with_rung(entries(), 'restart', record.stamp(T0 + datetime.timedelta(minutes=9)))
    assert record.record_value(again) == 'reapply@2026-12-07T10:05:00Z;restart@2026-12-07T10:09:00Z'
    assert record.last_applied(again, 'restart') == '2026-12-07T10:09:00Z'
    assert record.last_applied(again, 'redeploy') is None


def test_an_unsealed_record_is_a_claim_without_a_key_and_untrusted_with_one():
    tags = {'VMRescue-Remedy': record.record_value(entries())}
    assert record.check_record(tags, None, VM) == (entries(), None)
    found, why = record.check_record(tags, KEY, VM)
    assert found is None and 'no seal' in why


def test_a_sealed_record_holds_only_for_its_vm_and_content():
    value = record.record_value(entries(), key=KEY, resource_id=VM)
    assert hide_mac(value).endswith('#sealed')
    assert record.check_record({'vmrescue-remedy': value}, KEY, VM) == (entries(), None)
    assert record.check_record({'vmrescue-remedy': value}, KEY, OTHER)[0] is None
    edited = value.replace('reapply@2026-12-07T10:05', 'reapply@2026-12-07T11:05')
    assert record.check_record({'vmrescue-remedy': edited}, KEY, VM)[0] is None


def test_garbage_does_not_parse():
    for value in ('', 'restart', 'reboot@2026-12-07T10:00:00Z', 'restart@yesterday', 'restart@2026-12-07T10:00:00Z;x'):
        assert record.parse_entries(value) is None
    assert record.check_record({'vmrescue-remedy': 'nonsense'}, None, VM)[0] is None


def test_age():
    assert record.age_seconds('2026-12-07T10:00:00Z', T0 + datetime.timedelta(seconds=90)) == 90
    assert record.age_seconds('bad', T0) is None
