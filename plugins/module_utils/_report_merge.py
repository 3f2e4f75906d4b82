# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run reports of job slices merged into one document (private: may change without notice; issue 25).

AWX / Automation Controller slices a job template's inventory over N jobs (host i in slice i mod N); each slice
writes its own run report (``_report``). An auditor keeps one: this module merges the slices' reports into one run
report of the same schema (docs/schemas/run_report.schema.json, schema version 1), built on ``_report``'s reading
(``load``), counting (``counts``) and writing (``write``, by the caller) so that the merged document reads like any
other report:

- each target once, in the order of the runs; ``counts`` over the merged targets (the runs' counts summed, less
  the duplicates); ``started`` / ``finished`` the earliest and latest; ``principals`` once each;
- ``runs``: one entry per merged report (its source, kind, times, check mode, principals, options and counts);
- ``conflicts``: a target found in more than one run (the same VM in two slices by mistake) is never dropped in
  silence: one entry per such target with every run's outcome and requests; the target's entry in ``targets`` is
  the most telling one (a failure first, then a write), carries ``conflict: true``, the requests of every run (no
  write's correlation ID is lost) and a warning naming the other runs.

Public names (kept stable):

- ``merge(reports, sources=None) -> dict``: the merged report of ``reports`` (run report dicts, in order);
  ``sources``: a label per report (its path), shown in ``runs``.
- ``merge_files(paths, option='reports', exclude=None) -> dict``: each path read with ``_report.load`` (a
  ``ReportError`` naming ``option`` for a missing or foreign file, or no path at all), the same file once (by real
  path; ``exclude``, the merged report's own path, left out), then ``merge``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._report import (
    COLLECTION_VERSION,
    SCHEMA_FILE,
    SCHEMA_ID,
    SCHEMA_VERSION,
    ReportError,
    counts,
    load,
)

# Which of a target's entries the merged report shows first: a failure, then a write, then the rest.
_RANK = {'failed': 0, 'done': 1, 'pending': 2, 'unchanged': 3, 'skipped': 4}
_RUN_KEYS = ('kind', 'generated', 'started', 'finished', 'check_mode', 'collection_version')
_CONFLICT_KEYS = ('host', 'outcome', 'changed', 'failed', 'msg', 'requests', 'started', 'finished', 'recorded')


def _key(item, run, index):
    """A target's identity across runs: its resource ID (case-insensitive, as ARM's), else its host, else none."""
    if item.get('id'):
        return ('id', str(item['id']).lower())
    if item.get('host'):
        return ('host', str(item['host']))
    return ('none', run, index)  # an invalid target without a host: nothing to match it with


def _run_entry(report, source):
    out = dict(source=source)
    out.update((k, report.get(k)) for k in _RUN_KEYS if k in report)
    out.update(
        principals=list(report.get('principals') or []),
        options=dict(report.get('options') or {}),
        counts=report.get('counts') or counts(report.get('targets') or []),
    )
    return out


def _principals(reports):
    seen, out = set(), []
    for report in reports:
        for who in report.get('principals') or []:
            key = tuple(who.get(k) for k in ('object_id', 'app_id', 'tenant_id'))
            if key not in seen:
                seen.add(key)
                out.append(dict(who))
    return out


def _common(values, joiner=None):
    """The one value all runs share; with ``joiner``, distinct values joined; else {} when they differ."""
    distinct = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    if len(distinct) == 1:
        return distinct[0]
    return joiner.join(str(v) for v in distinct) if joiner is not None else {}


def _grouped(reports):
    """{key: [(run index, entry)]} in first-seen order."""
    groups = {}
    for run, report in enumerate(reports):
        for index, item in enumerate(report.get('targets') or []):
            if isinstance(item, Mapping):
                groups.setdefault(_key(item, run, index), []).append((run, dict(item)))
    return groups


def _rank(item):
    outcome = item.get('outcome') if isinstance(item.get('outcome'), Mapping) else {}
    return _RANK.get(outcome.get('status'), len(_RANK))


def _conflict(found, sources):
    """The merged entry of a target found in several runs, and its ``conflicts`` entry."""
    ordered = sorted(found, key=lambda pair: (_rank(pair[1]), pair[0]))
    run, shown = ordered[0]
    shown = dict(shown)
    shown['conflict'] = True
    shown['requests'] = [req for _run, item in found for req in item.get('requests') or []]
    shown['warnings'] = list(shown.get('warnings') or []) + [
        'also in run %d (%s): %s / %s; see conflicts'
        % (
            other,
            sources[other],
            (item.get('outcome') or {}).get('status'),
            (item.get('outcome') or {}).get('reason_code'),
        )
        for other, item in ordered[1:]
    ]
    entries = []
    for other, item in found:
        entry = dict(run=other, source=sources[other])
        entry.update((k, item.get(k)) for k in _CONFLICT_KEYS if k in item)
        entries.append(entry)
    statuses = set((e.get('outcome') or {}).get('status') for e in entries)
    conflict = dict(
        id=shown.get('id'),
        name=shown.get('name'),
        runs=[e['run'] for e in entries],
        shown_from_run=run,
        same_outcome=len(statuses) == 1,
        entries=entries,
    )
    return shown, conflict


def merge(reports, sources=None):
    """The merged run report of ``reports`` (see the module docstring)."""
    reports = [r for r in reports or [] if isinstance(r, Mapping)]
    sources = [str(s) for s in sources] if sources else ['run %d' % i for i in range(len(reports))]
    targets, conflicts = [], []
    for found in _grouped(reports).values():
        if len(found) == 1:
            targets.append(found[0][1])
            continue
        shown, conflict = _conflict(found, sources)
        targets.append(shown)
        conflicts.append(conflict)
    runs = [_run_entry(r, s) for r, s in zip(reports, sources)]
    starts = [r.get('started') for r in reports if r.get('started')]
    ends = [r.get('finished') for r in reports if r.get('finished')]
    generated = max((r.get('generated') or '' for r in reports), default='') or None
    merged = {
        '$schema': SCHEMA_ID,
        'schema': SCHEMA_FILE,
        'schema_version': SCHEMA_VERSION,
        'kind': _common([r.get('kind') or 'unknown' for r in reports], joiner=' + ') or 'unknown',
        'collection_version': COLLECTION_VERSION,
        'generated': generated or '1970-01-01T00:00:00Z',
        'started': min(starts) if starts else generated or '1970-01-01T00:00:00Z',
        'finished': max(ends) if ends else generated or '1970-01-01T00:00:00Z',
        'principals': _principals(reports),
        'options': _common([dict(r.get('options') or {}) for r in reports]),
        'counts': counts(targets),
    }
    if any(r.get('check_mode') for r in reports):
        merged['check_mode'] = True
    merged['runs'] = runs
    merged['conflicts'] = conflicts
    merged['targets'] = targets
    return merged


def merge_files(paths, option='reports', exclude=None):
    """Read each run report of ``paths`` (the same file once; ``exclude`` left out) and merge them."""
    if isinstance(paths, str) or not paths:
        raise ReportError("%s: give a list of run report paths (the slices' reports), got %r" % (option, paths))
    skip = os.path.realpath(os.path.expanduser(exclude)) if exclude else None
    seen, reports, sources = set(), [], []
    for path in paths:
        real = os.path.realpath(os.path.expanduser(str(path)))
        if real in seen or real == skip:
            continue
        seen.add(real)
        reports.append(load(str(path), option=option))
        sources.append(str(path))
    if not reports:
        raise ReportError("%s: no run report to merge (only the merged report's own path was given)" % option)
    return merge(reports, sources)
