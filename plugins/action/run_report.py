# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmrescue.azure.run_report: write the run report of target results gathered on the controller (module_utils/_report),
or the merged report of run reports (job slices: module_utils/_report_merge)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._report import (
    ReportError,
    build,
    markdown_path,
    mask_loose,
    write,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._report_merge import merge_files
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import PlainAction, failed_result

ARGUMENT_SPEC = dict(
    results=dict(type='raw'),
    reports=dict(type='list', elements='path'),
    path=dict(type='path', required=True),
    kind=dict(type='str', default='playbook'),
    options=dict(type='dict', default={}),
    fail_on_error=dict(type='bool', default=True),
)


def _results(value):
    """The results as ``build`` takes them (a list, or a dict host -> result / role entry), or None."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


class ActionModule(PlainAction):
    NAME = 'vmrescue.azure.run_report'
    SPEC = ARGUMENT_SPEC
    PASS_THROUGH = ('results',)

    def run_checked(self, params, task_vars):
        if (params.get('results') is None) == (params.get('reports') is None):
            return failed_result(
                'give either results (target results to report) or reports (run report files to merge into one), '
                'not both and not neither'
            )
        if params.get('reports') is not None:
            return self._merge(params)
        results = _results(params['results'])
        if results is None:
            return failed_result(
                'results: expected a list of target results, or a dict host -> result, got %s'
                % type(params['results']).__name__
            )
        check_mode = bool(self._task.check_mode)
        report = build(results, params['kind'], options=mask_loose(params['options']), run=dict(check_mode=check_mode))
        if check_mode:
            return dict(
                changed=True,
                path=params['path'],
                markdown_path=markdown_path(params['path']),
                counts=report['counts'],
                msg='check mode: the run report of %d target(s) would be written' % report['counts']['total'],
            )
        return self._write(params, report)

    def _merge(self, params):
        """The run reports of ``reports`` (job slices) merged into one report at ``path``."""
        try:
            report = merge_files(params['reports'], option='reports', exclude=params['path'])
        except ReportError as exc:
            return failed_result(str(exc))
        if params['kind'] != 'playbook':  # the default: keep the kind of the runs merged
            report['kind'] = params['kind']
        conflicts = report['conflicts']
        if self._task.check_mode:
            out = dict(changed=True, path=params['path'], markdown_path=markdown_path(params['path']))
        else:
            out = self._write(params, report)
            if out.get('failed') or 'path' not in out:
                return out
        out.update(counts=report['counts'], runs=len(report['runs']), conflicts=conflicts)
        out['msg'] = 'run reports of %d run(s) merged: %d target(s), %d in more than one run%s' % (
            len(report['runs']),
            report['counts']['total'],
            len(conflicts),
            '' if self._task.check_mode else '; written to %s and %s' % (out['path'], out['markdown_path']),
        )
        if conflicts:
            names = ', '.join(str(c.get('name') or c.get('id')) for c in conflicts[:10])
            out.setdefault('warnings', []).append(
                '%d target(s) are in more than one run report (the same VM in two slices?): %s%s; the merged '
                "report lists every run's outcome under conflicts"
                % (len(conflicts), names, ', ...' if len(conflicts) > 10 else '')
            )
        return out

    @staticmethod
    def _write(params, report):
        try:
            json_path, md_path = write(params['path'], report, option='path')
        except ReportError as exc:
            if params['fail_on_error']:
                return failed_result(str(exc))
            return dict(changed=False, warnings=[str(exc)], msg='the run report was not written: %s' % exc)
        return dict(
            changed=True,
            path=json_path,
            markdown_path=md_path,
            counts=report['counts'],
            msg='run report of %d target(s) written to %s and %s' % (report['counts']['total'], json_path, md_path),
        )
