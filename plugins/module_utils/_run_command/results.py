# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run command's answers say, as result fields (private; pure: no I/O).

Public names:

- ``OUTPUT_LIMIT`` (4,096 bytes: Azure keeps the last 4 KB of each stream in the instance view and the action's
  answer), ``RUNNING`` / ``FINAL`` (execution states), ``LINUX_ACTION_NOTE``.
- ``managed_fields(resource)``: ``execution_state``, ``exit_code``, ``stdout``, ``stderr``, ``output_truncated``,
  ``start_time``, ``end_time``, ``execution_message`` from a run command read with ``$expand=instanceView``.
- ``never_started(resource)``: a managed run command that failed before its script started (the agent has no
  managed Run Command: the action form is the fallback).
- ``action_fields(body, os_type)``: the same fields from the action form's ``RunCommandResult`` (Linux: one
  status "Enable succeeded: [stdout]...[stderr]..." and no exit code; Windows: StdOut / StdErr statuses).
- ``result_outcome(result, check_mode=False)``, ``batch_summary(results)``.
- ``REPORT_PREFIX``, ``parse_report(stdout)``: the machine-readable lines a script prints (``VMRESCUE key=value
  ...``; the last one says ``changed=true|false``), for ``script_reports_change`` (the role guest_repair's recipes);
  ``apply_report(result, display)``: a succeeded run's ``changed`` and ``script_report`` from them.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome

OUTPUT_LIMIT = 4096
RUNNING = ('Pending', 'Running')
FINAL = ('Succeeded', 'Failed', 'TimedOut', 'Canceled')
LINUX_ACTION_NOTE = (
    'the action form (the fallback) reports no exit code on Linux, only "Enable succeeded" with the output: '
    'exit_code is null and the run counts as succeeded'
)
REPORT_PREFIX = 'VMRESCUE'
TRUE_WORDS = ('true', 'yes', '1')
STDOUT_MARK = '\n[stdout]\n'
STDERR_MARK = '\n[stderr]\n'


def _truncated(*streams):
    return any(len((s or '').encode('utf-8')) >= OUTPUT_LIMIT for s in streams)


def managed_fields(resource):
    """The result fields of a managed run command read with its instance view."""
    props = (resource or {}).get('properties') or {}
    view = props.get('instanceView') or {}
    stdout, stderr = view.get('output') or '', view.get('error') or ''
    return dict(
        execution_state=view.get('executionState'),
        exit_code=view.get('exitCode'),
        stdout=stdout,
        stderr=stderr,
        output_truncated=_truncated(stdout, stderr),
        start_time=view.get('startTime'),
        end_time=view.get('endTime'),
        execution_message=view.get('executionMessage'),
        provisioning_state=props.get('provisioningState'),
    )


def never_started(resource):
    """True when the run command failed before its script started (no start time, state Unknown or none)."""
    props = (resource or {}).get('properties') or {}
    view = props.get('instanceView') or {}
    return (
        props.get('provisioningState') == 'Failed'
        and view.get('executionState') in (None, 'Unknown')
        and not view.get('startTime')
    )


def _linux_message(message):
    text = message or ''
    _head, found, rest = text.partition(STDOUT_MARK)
    if not found:
        return text, ''
    stdout, _sep, stderr = rest.partition(STDERR_MARK)
    return stdout, stderr


def _stream(statuses, name):
    for status in statuses:
        if ('/%s/' % name).lower() in str(status.get('code', '')).lower():
            return status.get('message') or ''
    return ''


def action_fields(body, os_type):
    """The result fields of the action form's answer (``RunCommandResult``)."""
    statuses = [s for s in (body or {}).get('value') or () if isinstance(s, dict)]
    if os_type == 'Windows':
        stdout, stderr = _stream(statuses, 'StdOut'), _stream(statuses, 'StdErr')
    else:
        stdout, stderr = _linux_message(statuses[0].get('message') if statuses else '')
    return dict(
        execution_state='Succeeded',
        exit_code=None,
        stdout=stdout,
        stderr=stderr,
        output_truncated=_truncated(stdout, stderr),
        start_time=None,
        end_time=None,
    )


def result_outcome(result, check_mode=False):
    """The ``outcome`` of a run that did not fail (failures get theirs from the error)."""
    name = result.get('run_command_name')
    if result.get('state') == 'absent':
        if result.get('changed'):
            return outcome('done', 'changed', 'run command %s removed' % name)
        return outcome('unchanged', 'unchanged', result.get('msg') or 'no run command %s' % name)
    if result.get('in_progress'):
        return outcome('pending', 'in_progress', result.get('msg') or '')
    if check_mode and result.get('changed'):
        return outcome('pending', 'check_mode', 'would run %s (check mode)' % name)
    if not result.get('changed'):
        return outcome('unchanged', 'unchanged', result.get('msg') or 'the same script already succeeded')
    if result.get('execution_state') in RUNNING or result.get('execution_state') is None:
        return outcome('pending', 'not_waited', result.get('msg') or 'run command %s started, not waited for' % name)
    return outcome('done', 'changed', 'run command %s succeeded (exit code %s)' % (name, result.get('exit_code')))


def batch_summary(results):
    """The batch's ``msg``: counts by execution state and exit code (None: the default counts)."""
    if not results:
        return None
    done = [r for r in results if r.get('exit_code') is not None or r.get('execution_state')]
    if not done:
        return None
    failed = sum(1 for r in results if r.get('failed'))
    pending = sum(1 for r in results if (r.get('outcome') or {}).get('status') == 'pending')
    ok = len(results) - failed - pending
    return 'run command on %d target(s): %d succeeded or unchanged, %d failed, %d pending' % (
        len(results),
        ok,
        failed,
        pending,
    )


def _report_line(line):
    """{key: value} of one ``VMRESCUE key=value ...`` line, or None (values have no spaces; true/false are bools)."""
    words = line.strip().split()
    if not words or words[0] != REPORT_PREFIX:
        return None
    out = {}
    for word in words[1:]:
        key, sep, value = word.partition('=')
        if not sep or not key:
            continue
        low = value.lower()
        out[key] = low in TRUE_WORDS if low in TRUE_WORDS + ('false', 'no', '0') else value
    return out


def parse_report(stdout):
    """(every ``VMRESCUE`` line as a dict, in order; the ``changed`` of the script's last non-empty line, or None).

    The last non-empty line decides, and only when it is a ``VMRESCUE`` line with ``changed=``: a script that
    printed something after it (or none at all) reports nothing, and the run counts as changed as usual."""
    lines = [line for line in (stdout or '').splitlines() if line.strip()]
    entries = [e for e in (_report_line(line) for line in lines) if e is not None]
    last = _report_line(lines[-1]) if lines else None
    changed = last.get('changed') if last else None
    return entries, changed if isinstance(changed, bool) else None


def apply_report(result, display):
    """With ``script_reports_change``: a succeeded run's ``changed`` from the script's last line (the full stdout
    when it was fetched), its ``VMRESCUE`` lines as ``script_report`` (the recipes' ones, each a dict)."""
    full = result.get('stdout_full')
    whole = full is not None and (result.get('stdout_size') or 0) <= len(full.encode('utf-8'))
    text = full if whole else result.get('stdout')
    entries, changed = parse_report(text)
    result['script_report'] = entries
    if changed is None:
        result['script_reports_change'] = False
        return result
    result['script_reports_change'] = True
    if not changed:
        result['changed'] = False
        result['msg'] = 'the script on %s reports nothing to change' % display
    return result
