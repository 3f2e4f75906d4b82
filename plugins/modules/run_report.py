#!/usr/bin/python
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_report
short_description: Write the run report of vmrescue.azure target results (JSON and Markdown)
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Writes one JSON document with the results of a run of this collection's modules (per target its identity,
    outcome and reason code, before / after, timings, and the ARM request and correlation IDs of its writes and failed
    calls; per run who, when, the collection version and the options), and a Markdown view of it next to the JSON
    file, for a change ticket. The schema is C(docs/schemas/run_report.schema.json) in the collection; the guide
    C(docs/docsite/rst/guide_run_report.rst) describes the report.
  - For results gathered on the controller, for example from the host variables where each host registered its
    M(vmrescue.azure.batch_result). A single batch task can write its own report with its C(report) option
    (O(vmrescue.azure.proxy_agent_key_reset#module:report)); the recovery roles write one with C(<role>_report_path).
  - With O(reports) instead of O(results), it merges run reports into one (AWX job slices, each writing its own
    report), with each target once, the runs listed under C(runs), the counts over the merged targets, and a target
    found in more than one report (the same VM in two slices by mistake) listed under C(conflicts) with every run's
    outcome, and warned about; never dropped. The playbook C(vmrescue.azure.merge_reports) does that for a sliced
    workflow's last node; the filter P(vmrescue.azure.merge_reports#filter) returns the merged document.
  - Runs on the controller only; it never connects to the host. Run it once (C(run_once)).
  - The files are written atomically (a temporary file renamed over the path), mode C(0600). The results of this
    collection's modules never hold a secret (they are masked by the modules); O(options) is shown without any key
    that looks secret.
options:
  results:
    description:
      - The target results, a list (for example a batch task's C(results)), or a dict inventory host -> result (each
        entry is then named by its host). A dict host -> entry of P(vmrescue.azure.recovery_outcomes#filter) works too
        (the entry's C(result) is used; a host without one gets the entry's outcome).
      - A result of M(vmrescue.azure.batch_result) with C(fail_on_failure=false) counts as failed when its
        C(failed_target) is true.
      - Exactly one of O(results) and O(reports) is required.
    type: raw
  reports:
    description:
      - Run report JSON files (written by this collection) to merge into one report at O(path), instead of
        O(results). The same file given twice is read once; O(path) itself is left out (a glob over the slices'
        directory may match it). O(kind) left at its default keeps the runs' kind.
    type: list
    elements: path
  path:
    description:
      - The JSON file to write. Its directory must exist. The Markdown view is written next to it, with C(.md)
        instead of C(.json) (or C(.md) added).
    type: path
    required: true
  kind:
    description: What ran (a module or role name), the report's C(kind).
    type: str
    default: playbook
  options:
    description:
      - The options of the run to show in the report. Every key that looks secret (its name contains C(password),
        C(secret), C(key), C(token) or C(protected)), and C(targets), are left out, at any depth.
    type: dict
    default: {}
  fail_on_error:
    description:
      - Fail when the report cannot be written (a missing directory, no permission). With V(false) it is a warning
        and the task is not changed; the recovery roles use V(false), so that a report never costs a run.
    type: bool
    default: true
attributes:
  action:
    description: An action plugin runs it on the controller, never on the target host.
    support: full
  async:
    description: Not supported.
    support: none
  check_mode:
    description: Builds the report and returns its counts, writes nothing.
    support: full
  diff_mode:
    description: No diff.
    support: none
seealso:
  - module: vmrescue.azure.batch_result
  - module: vmrescue.azure.proxy_agent_key_reset
"""

EXAMPLES = r"""
- name: Merge the run reports of the job slices into one
  vmrescue.azure.run_report:
    reports: "{{ query('ansible.builtin.fileglob', '/shared/reports/keys-slice-*.json') }}"
    path: /shared/reports/keys-merged.json
  run_once: true

- name: Write the run report of the play's hosts, from the result each host registered
  vmrescue.azure.run_report:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'key_result'))) }}"
    path: "{{ playbook_dir }}/reports/key-reset-{{ ansible_date_time.iso8601_basic_short }}.json"
    kind: key reset of the web tier
    options:
      change: CHG0012345
  run_once: true
  register: report

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ report.path }} ({{ report.counts.by_status }}); for the ticket: {{ report.markdown_path }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The JSON file (absolute path; in check mode, the path given).
  type: str
  returned: success
markdown_path:
  description: The Markdown view of the same report.
  type: str
  returned: success
counts:
  description: The targets counted C(by_status) (done, pending, unchanged, skipped, failed) and C(by_reason_code), and
    their C(total).
  type: dict
  returned: success
  sample: {"total": 3, "by_status": {"done": 2, "pending": 0, "unchanged": 0, "skipped": 0, "failed": 1},
           "by_reason_code": {"latched": 2, "scope_locked": 1}}
runs:
  description: With O(reports), the number of run reports merged.
  type: int
  returned: success, with O(reports)
conflicts:
  description: With O(reports), the targets found in more than one report, each with its C(id), C(name), C(runs)
    (the indexes of the reports), C(same_outcome) and C(entries) (each run's outcome and requests).
  type: list
  elements: dict
  returned: success, with O(reports)
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results=dict(type='raw'),
            reports=dict(type='list', elements='path'),
            path=dict(type='path', required=True),
            kind=dict(type='str', default='playbook'),
            options=dict(type='dict', default={}),
            fail_on_error=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    module.fail_json(
        msg='vmrescue.azure.run_report runs on the controller through its action plugin; '
        'call it by its full name vmrescue.azure.run_report'
    )


if __name__ == '__main__':
    main()
