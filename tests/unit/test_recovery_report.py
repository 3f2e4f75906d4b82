"""The one report path: a host's summary status comes from its module outcome (one table), never from message
text; the pending line of the summary reads the result's time, not the reason's words."""

import pytest

from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import (
    recovery_outcomes,
    summary_status,
    target_outcome,
)
from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome


@pytest.mark.parametrize(
    'status, code, changed, mode, expected',
    [
        ('done', 'latched', True, None, 'changed'),
        ('pending', 'check_mode', True, None, 'changed'),
        ('pending', 'pending_confirmation', True, None, 'changed'),  # written, wait: false
        ('pending', 'pending_confirmation', False, None, 'skipped'),  # pending from an earlier run
        ('unchanged', 'unchanged', False, None, 'already_fine'),
        ('skipped', 'key_not_latched', False, None, 'skipped'),
        ('skipped', 'key_not_latched', False, 'incarnation', 'already_fine'),
        ('failed', 'deallocated', False, None, 'skipped'),
        ('failed', 'deallocated', True, None, 'failed'),  # stopped after the write
        ('failed', 'wrong_os', False, None, 'skipped'),
        ('failed', 'msp_not_enabled', False, 'incarnation', 'skipped'),
        ('failed', 'timeout', True, None, 'failed'),
        ('failed', 'handler_failed', False, None, 'failed'),
    ],
)
def test_summary_status_is_one_table_over_the_outcome(status, code, changed, mode, expected):
    assert summary_status(outcome(status, code, 'x'), changed, mode) == expected


def test_the_message_decides_nothing():
    words = 'the VM is deallocated, runs Windows, and the proxy agent is not enabled'
    res = {'changed': False, 'failed_target': True, 'msg': words, 'outcome': outcome('failed', 'arm_error', words)}
    for role in ('proxy_agent_key_recovery', 'linux_access_recovery', 'windows_access_recovery'):
        entry = recovery_outcomes([res], ['a'], role=role)['a']
        assert (entry['outcome']['status'], entry['outcome']['reason_code']) == ('failed', 'arm_error'), role
        assert entry['outcome']['reason'] == words


def test_a_result_without_outcome_gets_the_one_its_fields_imply():
    assert target_outcome({'failed': True, 'power_state': 'stopped', 'msg': 'x'})['reason_code'] == 'not_running'
    assert target_outcome({'failed_target': True, 'proxy_agent_enabled': False})['reason_code'] == 'msp_not_enabled'
    assert target_outcome({'health': {'verdict': 'pending'}})['status'] == 'pending'
    assert target_outcome({'changed': True})['status'] == 'done'
    kept = outcome('unchanged', 'in_state', 'as asked')
    assert target_outcome({'failed': True, 'outcome': kept}) is kept


def test_the_pending_line_reads_the_time_from_the_result():
    def pending(since):
        return {
            'changed': False,
            'pending_since': since,
            'health': {'verdict': 'pending', 'reason': 'r'},
            'outcome': outcome('pending', 'pending_confirmation', 'r'),
        }

    out = recovery_outcomes(
        [pending('2026-02-01T00:00:00Z'), pending('2026-01-01T00:00:00Z')], ['a', 'b'], role='proxy_agent_key_recovery'
    )
    out['a']['outcome']['reason'] = out['b']['outcome']['reason'] = 'reworded'  # the words are not read
    lines = recovery_summary(out, role='proxy_agent_key_recovery', as_lines=True)
    assert lines[1].startswith('all 2 host(s) have a key reset pending since 2026-01-01T00:00:00Z;'), lines
