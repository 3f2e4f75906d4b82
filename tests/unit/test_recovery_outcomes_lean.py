"""recovery_outcomes in the key recovery's lean mode (issue 25): every host's entry from the one batch task's result
and the break-glass results given directly (break_glass_var as a dict), the same entries as the default mode reads from each host's hostvars."""

from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import recovery_outcomes
from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary

KEY = 'proxy_agent_key_recovery'
AUDIT = {
    'changed': True,
    'failed': False,
    'confirmed': True,
    'after': {'wire_server': {'mode': 'Audit'}, 'imds': {'mode': 'Audit'}},
    'outcome': {'status': 'done', 'reason_code': 'confirmed', 'reason': 'ok'},
}
# What the batch task returns per target, in the order of the targets (a failed target says failed: true)
BATCH = {
    'changed': True,
    'results': [
        {
            'changed': True,
            'failed': False,
            'confirmed': True,
            'previous_key_incarnation_id': 1,
            'key_incarnation_id': 2,
            'outcome': {'status': 'done', 'reason_code': 'confirmed', 'reason': 'latched'},
        },
        {
            'changed': False,
            'failed': False,
            'key_incarnation_id': 3,
            'health': {'verdict': 'healthy'},
            'outcome': {'status': 'unchanged', 'reason_code': 'healthy', 'reason': 'healthy'},
        },
        {
            'changed': True,
            'failed': True,
            'confirmed': False,
            'msg': 'did not report keyIncarnationId 2',
            'outcome': {'status': 'failed', 'reason_code': 'not_confirmed', 'reason': 'did not report'},
        },
        {
            'changed': False,
            'failed': True,
            'msg': 'Injected failure',
            'write_refused': True,
            'outcome': {'status': 'failed', 'reason_code': 'authorization_failed', 'reason': 'Injected failure'},
        },
    ],
}
HOSTS = ['ok', 'fine', 'stuck', 'refused']


def _as_collected(res):
    """The same target's result as vmrescue.azure.batch_result(fail_on_failure=false) records it on its host."""
    out = dict(res, failed_target=bool(res.get('failed')))
    out.pop('failed', None)
    return out


def test_lean_entries_equal_the_default_modes():
    lean = recovery_outcomes(BATCH, HOSTS, role=KEY, mode='all', break_glass_var={'stuck': AUDIT})
    hostvars = dict((h, {'r': _as_collected(res), 'bg': {'stuck': AUDIT}}) for h, res in zip(HOSTS, BATCH['results']))
    default = recovery_outcomes(hostvars, HOSTS, role=KEY, mode='all', result_var='r', break_glass_var='bg')
    assert [lean[h]['outcome'] for h in HOSTS] == [default[h]['outcome'] for h in HOSTS]
    assert [lean[h]['changed'] for h in HOSTS] == [default[h]['changed'] for h in HOSTS]
    assert [lean[h]['outcome']['status'] for h in HOSTS] == ['changed', 'already_fine', 'failed', 'failed']
    assert lean['stuck']['break_glass']['status'] == 'audit' and 'break_glass' not in lean['ok']
    # the entry keeps the host's own module result (the lean mode's per-host fact holds it)
    assert lean['refused']['result'] is BATCH['results'][3]
    summary = recovery_summary(lean, role=KEY)
    assert (summary['changed'], summary['already_fine'], summary['failed']) == (1, 1, 2)
    assert sorted(summary['failed_hosts']) == ['refused', 'stuck'] and list(summary['break_glass_hosts']) == ['stuck']


def test_lean_break_glass_absent_or_empty():
    for given in (None, {}, 'not a dict'):
        out = recovery_outcomes(BATCH, HOSTS, role=KEY, mode='all', break_glass_var=given)
        assert not any('break_glass' in e for e in out.values())


def test_lean_batch_without_results_fails_every_host_with_its_message():
    out = recovery_outcomes({'failed': True, 'msg': 'sign-in failed'}, HOSTS, role=KEY, mode='all')
    assert [out[h]['outcome']['status'] for h in HOSTS] == ['failed'] * 4
    assert all('sign-in failed' in out[h]['outcome']['reason'] for h in HOSTS)
