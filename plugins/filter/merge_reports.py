# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_reports
short_description: Merge the run reports of job slices into one run report
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - AWX / Automation Controller job slicing runs a job template as N jobs over N slices of the inventory; each slice
    writes its own run report (C(<role>_report_path), or a module's C(report) option). This filter returns the one
    report an auditor keeps, in the same schema (C(docs/schemas/run_report.schema.json)).
  - Each target once; C(runs) lists the merged reports (source, kind, times, principals, options, counts); C(counts)
    are over the merged targets (the runs' counts summed, less any duplicate); C(started) and C(finished) are the
    earliest and latest of the runs.
  - A target found in more than one report (the same VM in two slices by mistake) is never dropped in silence; it is
    listed under C(conflicts) with every run's outcome and requests, and its entry in C(targets) (the most telling
    one, a failure first, then a write) has C(conflict=true), the requests of every run and a warning.
  - To write the merged report (JSON and Markdown, atomically, mode 0600), use M(vmrescue.azure.run_report) with
    O(vmrescue.azure.run_report#module:reports), or the playbook C(vmrescue.azure.merge_reports).
options:
  _input:
    description:
      - The run reports, each a dict (a report read with C(from_json)) or the path of a report file on the controller.
    type: list
    elements: raw
    required: true
  sources:
    description: A label per report (shown in C(runs)); default the path given, or C(run <index>) for a dict.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: One report of the slices' reports
  ansible.builtin.set_fact:
    merged_report: "{{ query('ansible.builtin.fileglob', '/shared/reports/slice-*.json') | vmrescue.azure.merge_reports }}"

- name: Say what the merge found
  ansible.builtin.debug:
    msg: "{{ merged_report.counts.total }} targets from {{ merged_report.runs | length }} slices,
      {{ merged_report.conflicts | length }} in more than one slice"
"""

RETURN = r"""
_value:
  description: The merged run report (a dict of the run report schema, with C(runs) and C(conflicts)).
  type: dict
"""

from collections.abc import Mapping  # controller-side plugin: Python 3 only

from ansible.errors import AnsibleFilterError

from ansible_collections.vmrescue.azure.plugins.module_utils._report import ReportError, load
from ansible_collections.vmrescue.azure.plugins.module_utils._report_merge import merge


def merge_reports(reports, sources=None):
    if isinstance(reports, (str, Mapping)) or not isinstance(reports, (list, tuple)):
        raise AnsibleFilterError(
            'merge_reports: expected a list of run reports (dicts, or paths of report files), got %s'
            % type(reports).__name__
        )
    docs, labels = [], []
    for index, item in enumerate(reports):
        if isinstance(item, Mapping):
            docs.append(dict(item))
            labels.append('run %d' % index)
            continue
        try:
            docs.append(load(str(item), option='merge_reports'))
        except ReportError as exc:
            raise AnsibleFilterError(str(exc))
        labels.append(str(item))
    if sources is not None and len(sources) != len(docs):
        raise AnsibleFilterError(
            'merge_reports: sources: give one label per report (%d), got %d' % (len(docs), len(sources))
        )
    return merge(docs, sources or labels)


class FilterModule:
    def filters(self):
        return {'merge_reports': merge_reports}
