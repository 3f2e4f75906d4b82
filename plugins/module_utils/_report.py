# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run report: one JSON document (and its Markdown view) of a run's targets (private: may change without notice).

Pure functions over the target results the runner produces (each with its ``audit``: docs/docsite/rst/
guide_run_report.rst); standard library and ``_errors`` only, so the runner, the background process and the
controller-side ``run_report`` action build the same document. The schema is docs/schemas/run_report.schema.json.

Public names (kept stable):

- ``COLLECTION_VERSION`` (galaxy.yml's version; the ARM client's User-Agent uses it), ``SCHEMA_VERSION``,
  ``SCHEMA_ID``, ``SCHEMA_FILE``.
- ``build(results, kind, options=None, run=None, secrets=()) -> dict``: the report of ``results`` (target results,
  or ``vmrescue.azure.batch_result`` results) of a run of ``kind`` (the module or role); ``options`` already masked
  (``mask_options`` / ``mask_loose``; ``targets`` is dropped: each target is an entry); ``run``: more run fields
  (``check_mode``); ``secrets``: values scrubbed from the whole document (belt and braces: results are scrubbed).
- ``markdown(report) -> str``: the human view (header, counts by outcome and reason code, one row per target, the
  message of each skipped / failed target; a merged report's runs and conflicts, ``_report_merge``).
- ``to_json(report) -> str``: the JSON text (run keys indented, one line per target).
- ``write(path, report, option='report') -> (json_path, md_path)``: both files, each atomically (temp file +
  rename), mode 0600; ``ReportError`` naming ``option`` when the directory does not exist or cannot be written.
- ``attach(out, path, results, kind, options=None, run=None, secrets=())``: build + write, then
  ``out['report'] = {path, markdown_path, counts}``; a failure to write becomes a warning of ``out`` (never a lost
  run). The runner's hook (``report`` option) and the ``run_report`` action use it.
- ``mask_options(params, argument_spec=None, secret_names=()) -> dict``: a task's options for the report (unset
  ones and ``targets`` left out; ``no_log`` options of the spec, ``secret_names`` and private keys masked).
- ``mask_loose(options) -> dict``: options without a spec: every key that looks secret (password, secret, key,
  token, protected) left out, at any depth.
- ``load(path, option='restore_from') -> dict``: a report this collection wrote, read back (``ReportError`` naming
  ``option`` when it is missing, not JSON or not a run report); each target's ``recorded`` is the record its write
  left in the VM's tags (``RECORD_FIELDS`` of its result).
- ``ReportError``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import (
    MASK,
    STATUSES,
    VmrescueError,
    looks_like_private_key,
    outcome_of,
    scrub_obj,
)

COLLECTION_VERSION = '0.1.0'  # = galaxy.yml's version (tests/unit/test_run_report_unit.py checks it)
SCHEMA_VERSION = 1
SCHEMA_FILE = 'docs/schemas/run_report.schema.json'
SCHEMA_ID = 'https://github.com/vmrescue/azure/schemas/run_report/v%d.schema.json' % SCHEMA_VERSION

_ID_RE = re.compile(
    r'^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/'
    r'(?:virtualMachines/(?P<vm>[^/]+)|virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<inst>[^/]+))$',
    re.IGNORECASE,
)
# Result fields that hold the record a write left in the VM's tags (proxy_agent_settings, proxy_agent_key_reset).
RECORD_FIELDS = ('recorded', 'key_reset_record')
_LOOSE_SECRET_RE = re.compile(r'password|secret|key|token|protected', re.IGNORECASE)
_READS = ('GET', 'HEAD')


class ReportError(VmrescueError):
    """The report could not be written (a missing directory, no permission): the message names the option."""

    reason_code = 'invalid_input'


# -- options ---------------------------------------------------------------------------------------------------------
def _masked_value(value, spec):
    """``value`` with the ``no_log`` sub-options of ``spec`` (a dict / list of dicts option) masked."""
    subspec = (spec or {}).get('options')
    if isinstance(value, Mapping) and subspec:
        return mask_options(value, subspec, keep_targets=True)
    if isinstance(value, list) and subspec:
        return [mask_options(v, subspec, keep_targets=True) if isinstance(v, Mapping) else v for v in value]
    if looks_like_private_key(value):
        return MASK
    return value


def mask_options(params, argument_spec=None, secret_names=(), keep_targets=False):
    """The options of a task for the report: set ones only, ``targets`` left out (each target is an entry), the
    ``no_log`` options of ``argument_spec``, ``secret_names`` and any private key given by mistake masked."""
    spec = argument_spec or {}
    out = {}
    for name, value in (params or {}).items():
        if value is None or (name == 'targets' and not keep_targets):
            continue
        opt = spec.get(name) if isinstance(spec.get(name), Mapping) else {}
        if opt.get('no_log') or name in secret_names:
            out[name] = MASK
        else:
            out[name] = _masked_value(value, opt)
    return out


def mask_loose(options):
    """Options without an argument spec (the ``run_report`` module's ``options``): every key that looks secret
    (password, secret, key, token, protected) left out, at any depth; private keys masked."""
    if isinstance(options, Mapping):
        return dict(
            (k, mask_loose(v)) for k, v in options.items() if not _LOOSE_SECRET_RE.search(str(k)) and k != 'targets'
        )
    if isinstance(options, (list, tuple)):
        return [mask_loose(v) for v in options]
    return MASK if looks_like_private_key(options) else options


# -- one entry per target --------------------------------------------------------------------------------------------
def parse_id(resource_id):
    """``{subscription_id, resource_group, name[, vmss_name, instance_id]}`` of a VM / instance ID (Nones if not)."""
    match = _ID_RE.match(str(resource_id or ''))
    if not match:
        return dict(subscription_id=None, resource_group=None, name=None)
    out = dict(subscription_id=match.group('sub'), resource_group=match.group('rg'))
    if match.group('vm'):
        out['name'] = match.group('vm')
    else:
        out.update(
            name='%s/%s' % (match.group('vmss'), match.group('inst')),
            vmss_name=match.group('vmss'),
            instance_id=match.group('inst'),
        )
    return out


def _text(value):
    return '' if value is None else str(value)


def entry(result, host=None):
    """The report's entry of one target result (a ``batch_result`` result too: ``failed_target``)."""
    result = dict(result or {})
    failed = bool(result.get('failed') or result.get('failed_target'))
    result['failed'] = failed
    audit = result.get('audit') if isinstance(result.get('audit'), Mapping) else {}
    out = dict(id=result.get('id'))
    if host is not None:
        out['host'] = str(host)
    out.update(parse_id(result.get('id')))
    out.update(
        outcome=dict(outcome_of(result)),
        changed=bool(result.get('changed')),
        failed=failed,
        msg=_text(result.get('msg')),
        before=audit.get('before'),
        after=audit.get('after'),
        requests=list(audit.get('requests') or []),
        started=audit.get('started'),
        finished=audit.get('finished'),
        duration_s=audit.get('duration_s'),
        warnings=[_text(w) for w in result.get('warnings') or []],
    )
    if result.get('preflight') is not None:
        out['preflight'] = result['preflight']
    for name in RECORD_FIELDS:  # the record the target's write left on the VM: restore_from reads it back
        if isinstance(result.get(name), str):
            out['recorded'] = result[name]
    return out


def _principals(results):
    seen, out = set(), []
    for res in results:
        audit = res.get('audit') if isinstance(res.get('audit'), Mapping) else {}
        who = audit.get('principal')
        if not isinstance(who, Mapping) or not any(who.values()):
            continue
        key = (who.get('object_id'), who.get('app_id'), who.get('tenant_id'))
        if key not in seen:
            seen.add(key)
            out.append(dict(object_id=key[0], app_id=key[1], tenant_id=key[2]))
    return out


def counts(entries):
    """``{total, by_status: {every status: n}, by_reason_code: {code: n}}`` of report entries."""
    by_status = dict((s, 0) for s in STATUSES)
    by_code = {}
    for item in entries:
        status, code = item['outcome'].get('status'), _text(item['outcome'].get('reason_code')) or 'error'
        by_status[status] = by_status.get(status, 0) + 1
        by_code[code] = by_code.get(code, 0) + 1
    return dict(total=len(entries), by_status=by_status, by_reason_code=dict(sorted(by_code.items())))


def _utc_now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def _results_and_hosts(results):
    """``[(host or None, result)]`` from a list of results or a dict host -> result (or host -> a
    ``recovery_outcomes`` entry: its ``result``, or its outcome when the host has no result)."""
    if isinstance(results, Mapping):
        pairs = []
        for host, value in results.items():
            value = value if isinstance(value, Mapping) else {}
            if isinstance(value.get('result'), Mapping) and 'outcome' in value and 'audit' not in value:
                res = dict(value['result'])
                if not res:  # a host the role left alone without a module result (its OS): its outcome only
                    found = value.get('outcome') or {}
                    res = dict(msg=found.get('reason'), outcome=_role_outcome(found))
                value = res
            pairs.append((host, value))
        return pairs
    return [(None, r if isinstance(r, Mapping) else {}) for r in results or []]


def _role_outcome(found):
    """A module outcome from a role summary's entry outcome (status changed / already_fine / skipped / failed)."""
    status = {'changed': 'done', 'already_fine': 'unchanged'}.get(found.get('status'), found.get('status'))
    if status not in STATUSES:
        status = 'skipped'
    return dict(status=status, reason_code=_text(found.get('reason_code')) or status, reason=_text(found.get('reason')))


def build(results, kind, options=None, run=None, secrets=()):
    """The report document (see the module docstring and docs/schemas/run_report.schema.json)."""
    pairs = _results_and_hosts(results)
    entries = [entry(res, host) for host, res in pairs]
    raw = [res for _host, res in pairs]
    starts = [e['started'] for e in entries if e['started']]
    ends = [e['finished'] for e in entries if e['finished']]
    now = _utc_now()
    report = {
        '$schema': SCHEMA_ID,
        'schema': SCHEMA_FILE,
        'schema_version': SCHEMA_VERSION,
        'kind': _text(kind) or 'unknown',
        'collection_version': COLLECTION_VERSION,
        'generated': now,
        'started': min(starts) if starts else now,
        'finished': max(ends) if ends else now,
        'principals': _principals(raw),
        'options': dict(options or {}),
        'counts': counts(entries),
    }
    report.update(dict((k, v) for k, v in (run or {}).items() if k not in report))
    report['targets'] = entries
    secrets = [s for s in secrets or () if s]
    return scrub_obj(report, secrets) if secrets else report


# -- the Markdown view -----------------------------------------------------------------------------------------------
def cell(value):
    """A Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return ' '.join(_text(value).replace('\\', '\\\\').replace('|', '\\|').split())


def correlation_ids(item):
    """The ``x-ms-correlation-request-id`` of each write of an entry, in order, once each."""
    out = []
    for req in item.get('requests') or []:
        cid = req.get('correlation_id')
        if cid and req.get('method') not in _READS and cid not in out:
            out.append(cid)
    return out


def _who(principals):
    if not principals:
        return 'unknown (no call reached Azure)'
    return '; '.join(
        'app ID %s, object ID %s, tenant %s'
        % tuple(_text(p.get(k)) or '-' for k in ('app_id', 'object_id', 'tenant_id'))
        for p in principals
    )


def _table(header, rows):
    lines = ['| %s |' % ' | '.join(header), '|%s|' % '|'.join('---' for _column in header)]
    lines.extend('| %s |' % ' | '.join(cell(v) for v in row) for row in rows)
    return lines


def _header_lines(report):
    lines = ['# Run report: %s' % cell(report.get('kind')), '']
    rows = [
        ('Kind', report.get('kind')),
        ('Started (UTC)', report.get('started')),
        ('Finished (UTC)', report.get('finished')),
        ('Who', _who(report.get('principals'))),
        ('Collection', 'vmrescue.azure %s' % _text(report.get('collection_version'))),
        ('Targets', report.get('counts', {}).get('total')),
    ]
    if report.get('check_mode'):
        rows.append(('Check mode', 'yes: nothing was written'))
    return lines + _table(('Run', ''), rows) + ['']


def _target_rows(targets):
    for item in targets:
        name = item.get('name') or item.get('id') or item.get('host') or '(no target)'
        if item.get('host') and item.get('host') != name:
            name = '%s (%s)' % (name, item['host'])
        ids = correlation_ids(item)
        yield (
            name,
            item.get('resource_group') or '',
            item['outcome'].get('status'),
            item['outcome'].get('reason_code'),
            ', '.join(ids) or '-',
        )


def _merged_lines(report):
    """A merged report's runs (``_report_merge``), one row each."""
    if not report.get('runs'):
        return []
    rows = [
        (i, r.get('source'), r.get('kind'), r.get('started'), r.get('finished'), (r.get('counts') or {}).get('total'))
        for i, r in enumerate(report['runs'])
    ]
    return ['', '## Runs merged', ''] + _table(('Run', 'Report', 'Kind', 'Started', 'Finished', 'Targets'), rows)


def _conflict_lines(report):
    """A merged report's targets found in more than one run: each run's outcome."""
    if not report.get('conflicts'):
        return []
    lines = ['', '## Targets in more than one run (conflicts)', '']
    for item in report['conflicts']:
        seen = '; '.join(
            'run %s: %s / %s'
            % (e.get('run'), (e.get('outcome') or {}).get('status'), (e.get('outcome') or {}).get('reason_code'))
            for e in item.get('entries') or []
        )
        lines.append('- **%s**: %s' % (cell(item.get('name') or item.get('id')), cell(seen)))
    return lines


def markdown(report):
    """The human view of a report, for a change ticket (GitHub-flavoured Markdown tables)."""
    found = report.get('counts') or {}
    lines = _header_lines(report)
    lines += ['## Counts by outcome', '']
    lines += _table(('Outcome', 'Targets'), [(s, n) for s, n in (found.get('by_status') or {}).items() if n])
    lines += ['', '## Counts by reason code', '']
    lines += _table(('Reason code', 'Targets'), sorted((found.get('by_reason_code') or {}).items()))
    lines += _merged_lines(report)
    lines += ['', '## Targets', '']
    header = ('VM', 'Resource group', 'Outcome', 'Reason code', 'Correlation IDs of its writes')
    lines += _table(header, _target_rows(report.get('targets') or []))
    lines += _conflict_lines(report)
    trouble = [t for t in report.get('targets') or [] if t['outcome'].get('status') in ('skipped', 'failed')]
    if trouble:
        lines += ['', '## Skipped and failed targets', '']
        for item in trouble:
            name = item.get('name') or item.get('id') or item.get('host') or '(no target)'
            lines.append(
                '- **%s** (%s, %s): %s'
                % (
                    cell(name),
                    cell(item.get('resource_group') or '-'),
                    cell(item['outcome'].get('reason_code')),
                    cell(item.get('msg') or item['outcome'].get('reason')),
                )
            )
    return '\n'.join(lines) + '\n'


# -- writing -----------------------------------------------------------------------------------------------------
def markdown_path(path):
    """``<path minus .json>.md``."""
    base = path[: -len('.json')] if path.lower().endswith('.json') else path
    return base + '.md'


def _write_atomic(path, text):
    """``text`` to ``path`` through a temp file in the same directory (mode 0600) renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def to_json(report):
    """The report as JSON text: the run's keys indented, each target on one line (json's C encoder serves only
    unindented output, about 10x faster than its indented form at 1000 targets; one line per target reads and
    diffs well, and ``jq`` or any JSON reader sees the same document)."""
    head = dict((k, v) for k, v in report.items() if k != 'targets')
    text = json.dumps(head, indent=1, default=str)
    if 'targets' not in report:
        return text + '\n'
    rows = [json.dumps(t, default=str, separators=(', ', ': ')) for t in report['targets']]
    body = '[\n' + ',\n'.join('  ' + r for r in rows) + '\n ]' if rows else '[]'
    return text[:-2] + ',\n "targets": ' + body + '\n}\n'


def write(path, report, option='report'):
    """Write the report's JSON to ``path`` and its Markdown next to it; returns the two absolute paths."""
    if not path or not isinstance(path, str):
        raise ReportError('%s: give the path of the JSON file to write, got %r' % (option, path))
    json_path = os.path.abspath(os.path.expanduser(path))
    parent = os.path.dirname(json_path)
    if not os.path.isdir(parent):
        raise ReportError(
            '%s: the directory %s does not exist; create it first, or give a path in an existing directory'
            % (option, parent)
        )
    md_path = markdown_path(json_path)
    try:
        _write_atomic(json_path, to_json(report))
        _write_atomic(md_path, markdown(report))
    except OSError as exc:
        raise ReportError('%s: could not write the run report to %s: %s' % (option, json_path, exc.strerror or exc))
    return json_path, md_path


def attach(out, path, results, kind, options=None, run=None, secrets=(), option='report'):
    """Build and write the report of ``results``, then ``out['report'] = {path, markdown_path, counts}``; a failure
    becomes a warning of ``out`` (the run's result is never lost to its report)."""
    try:
        report = build(results, kind, options=options, run=run, secrets=secrets)
        json_path, md_path = write(path, report, option=option)
    except (VmrescueError, OSError, TypeError, ValueError) as exc:
        out.setdefault('warnings', []).append('the run report was not written: %s' % scrub_obj(str(exc), secrets))
        return out
    out['report'] = dict(path=json_path, markdown_path=md_path, counts=report['counts'])
    return out


def load(path, option='restore_from'):
    """A run report this collection wrote, read back from ``path`` (see the module docstring)."""
    if not path or not isinstance(path, str):
        raise ReportError('%s: give the path of a run report JSON file, got %r' % (option, path))
    full = os.path.abspath(os.path.expanduser(path))
    try:
        with open(full, encoding='utf-8') as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ReportError('%s: cannot read the run report %s: %s' % (option, full, exc.strerror or exc))
    except ValueError as exc:
        raise ReportError('%s: %s is not JSON (%s); give a report written by the report option' % (option, full, exc))
    if not isinstance(data, dict) or data.get('schema') != SCHEMA_FILE or not isinstance(data.get('targets'), list):
        raise ReportError(
            '%s: %s is not a run report of this collection (no schema %s, no targets list)'
            % (option, full, SCHEMA_FILE)
        )
    return data
