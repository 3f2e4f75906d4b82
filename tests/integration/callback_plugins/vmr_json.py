# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stdout callback: one JSON document {plays: [{play, tasks: [{task, hosts: {h: result}}]}], stats}."""

from __future__ import annotations

DOCUMENTATION = r"""
name: vmr_json
type: stdout
short_description: JSON output for the vmrescue.azure integration tests
description: Prints the results of every task as one JSON document at the end of the run.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'vmr_json'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []
        self.warnings = []

    def _play(self, name):
        self.plays.append({'play': name, 'tasks': []})

    def v2_playbook_on_play_start(self, play):
        self._play(play.get_name())

    def _task(self, task):
        if not self.plays:
            self._play('adhoc')
        tasks = self.plays[-1]['tasks']
        if not tasks or tasks[-1]['_uuid'] != task._uuid:
            tasks.append({'task': task.get_name(), '_uuid': task._uuid, 'hosts': {}})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def _record(self, result, **extra):
        entry = self._task(result._task)
        data = dict(self._convert(result._result))
        data.update(extra)
        entry['hosts'][result._host.get_name()] = data

    @staticmethod
    def _convert(obj):
        return json.loads(json.dumps(obj, default=str))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        summary = dict((h, stats.summarize(h)) for h in sorted(stats.processed))
        for play in self.plays:
            for t in play['tasks']:
                t.pop('_uuid', None)
        self._display.display(json.dumps({'plays': self.plays, 'stats': summary}, indent=1, default=str))

    # ad hoc runs (ansible -m) have no playbook stats event in older cores: print on each result too
    def v2_runner_item_on_ok(self, result):
        pass
