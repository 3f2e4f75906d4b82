# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: recovery_summary
short_description: The summary of a recovery role's run from each host's outcome
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Used once per run (C(run_once)) by the C(vmrescue.azure.recovery_report) role, which the recovery roles and the
    C(vmrescue.azure.regain_access) playbook share, to count the outcomes that
    P(vmrescue.azure.recovery_outcomes#filter) worked out and to list the hosts of each status.
  - Returns a dict with C(checked), C(changed), C(already_fine), C(skipped), C(failed) (counts), C(changed_hosts),
    C(skipped_hosts), C(failed_hosts) (dicts host -> reason), C(already_fine_hosts) (a list), C(reason_codes)
    (dict reason code -> number of skipped or failed hosts with it, from each host's C(outcome.reason_code); the
    reason-code table of the troubleshooting guide says what each one means), and
    for O(role=proxy_agent_key_recovery) C(break_glass_hosts) (dict host -> reason, the hosts a break-glass switch
    put in Audit, now), in host order; or,
    with O(as_lines=true), the lines the roles print (a headline, the skipped and failed hosts counted by reason
    code after any line about pending key resets, then the hosts of each status with their reason).
options:
  _input:
    description: The output of P(vmrescue.azure.recovery_outcomes#filter) (a dict host -> entry with C(outcome)).
    type: dict
    required: true
  role:
    description: The role name, the prefix of the headline.
    type: str
    required: true
  as_lines:
    description: Return the printable lines instead of the summary dict.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Count the outcomes
  ansible.builtin.set_fact:
    proxy_agent_key_recovery_summary: >-
      {{ proxy_agent_key_recovery_outcome_by_host
         | vmrescue.azure.recovery_summary(role='proxy_agent_key_recovery') }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The summary dict, or a list of lines with O(as_lines=true).
  type: raw
"""

from collections.abc import Mapping  # controller-side plugin: Python 3 only

from ansible.errors import AnsibleFilterError

STATUSES = ('changed', 'already_fine', 'skipped', 'failed')


def _by_status(outcomes):
    """status -> [(host, reason, entry)] in host order; every entry must have a valid outcome."""
    if not isinstance(outcomes, Mapping):
        raise AnsibleFilterError(
            'recovery_summary: expected the dict that recovery_outcomes returns, got %s' % type(outcomes).__name__
        )
    by_status = dict((s, []) for s in STATUSES)
    for host, entry in outcomes.items():
        outcome = entry.get('outcome') if isinstance(entry, Mapping) else None
        if not isinstance(outcome, Mapping) or outcome.get('status') not in by_status:
            raise AnsibleFilterError('recovery_summary: no valid outcome for host %s' % host)
        by_status[outcome['status']].append((str(host), str(outcome.get('reason') or ''), entry))
    return by_status


def _summary(outcomes, by_status, break_glass):
    summary = dict(checked=sum(len(v) for v in by_status.values()))
    for status in STATUSES:
        summary[status] = len(by_status[status])
    summary['changed_hosts'] = dict((h, r) for h, r, _e in by_status['changed'])
    summary['already_fine_hosts'] = [h for h, _r, _e in by_status['already_fine']]
    summary['skipped_hosts'] = dict((h, r) for h, r, _e in by_status['skipped'])
    summary['failed_hosts'] = dict((h, r) for h, r, _e in by_status['failed'])
    codes = {}
    for _h, _r, e in by_status['skipped'] + by_status['failed']:
        code = str(e['outcome'].get('reason_code') or 'error')
        codes[code] = codes.get(code, 0) + 1
    summary['reason_codes'] = codes
    if break_glass:
        summary['break_glass_hosts'] = dict(
            (str(h), str(e['break_glass'].get('reason') or ''))
            for h, e in outcomes.items()
            if isinstance(e.get('break_glass'), Mapping) and e['break_glass'].get('status') == 'audit'
        )
    return summary


def _pending_since(entry):
    """When the key reset that a pending host's result reports was written ('' when unknown)."""
    result = entry.get('result') if isinstance(entry.get('result'), Mapping) else {}
    health = result.get('health') if isinstance(result.get('health'), Mapping) else {}
    return str(result.get('pending_since') or health.get('pending_since') or '')


def _pending_lines(by_status, checked):
    """The line about key resets found pending from an earlier run (reason code pending_confirmation)."""
    pending = [e for _h, _r, e in by_status['skipped'] if e['outcome'].get('reason_code') == 'pending_confirmation']
    if pending and len(pending) == checked:
        # ISO times sort as text: the earliest recorded write is when the oldest reset was made
        times = sorted(t for t in (_pending_since(e) for e in pending) if t)
        return [
            'all %d host(s) have a key reset pending since %s; nothing to write: the guests latch their '
            'new keys on their own (re-run later to confirm); proxy_agent_key_recovery_mode=all '
            '(state=reset) to force a new reset' % (len(pending), times[0] if times else 'an unknown time')
        ]
    lines = []
    if pending:
        lines.append(
            '%d host(s) have a key reset pending from an earlier run (skipped, not raised again)' % len(pending)
        )
    stuck = [h for h, _r, e in by_status['skipped'] if e['outcome'].get('reason_code') == 'key_stuck']
    if stuck:
        lines.append(
            '%d host(s) have a key reset STUCK, not reaching the guest (%s): see each one for the likely cause and the '
            'next step' % (len(stuck), ', '.join(stuck))
        )
    return lines


def _lines(role, summary, by_status):
    lines = [
        '%s: %d checked, %d changed, %d already fine, %d skipped, %d failed'
        % (role, summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed'])
    ]
    lines.extend(_pending_lines(by_status, summary['checked']))
    if summary['reason_codes']:
        lines.append(
            'not done, by reason code: '
            + ', '.join(
                '%s %d' % (c, n) for c, n in sorted(summary['reason_codes'].items(), key=lambda i: (-i[1], i[0]))
            )
        )
    for status in STATUSES:
        if not by_status[status]:
            continue
        if status == 'already_fine':
            lines.append('already fine: ' + ', '.join(h for h, _r, _e in by_status[status]))
            continue
        lines.append(status + ':')
        lines.extend('  %s: %s' % (h, r) for h, r, _e in by_status[status])
    if summary.get('break_glass_hosts'):
        lines.append(
            'in break-glass now (Audit; restore with vmrescue.azure.restore_proxy_agent_settings): '
            + ', '.join(summary['break_glass_hosts'])
        )
    return lines


def recovery_summary(outcomes, role, as_lines=False):
    by_status = _by_status(outcomes)
    summary = _summary(outcomes, by_status, break_glass=role == 'proxy_agent_key_recovery')
    return _lines(role, summary, by_status) if as_lines else summary


class FilterModule:
    def filters(self):
        return {'recovery_summary': recovery_summary}
