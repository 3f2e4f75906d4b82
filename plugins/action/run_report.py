# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmrescue.azure.run_report: write the run report of target results gathered on the controller (module_utils/_report)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._report import (
    ReportError,
    build,
    markdown_path,
    mask_loose,
    write,
)
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import PlainAction, failed_result

ARGUMENT_SPEC = dict(
    results=dict(type='raw', required=True),
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
