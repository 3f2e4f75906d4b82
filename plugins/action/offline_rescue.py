# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs vmrescue.azure.offline_rescue on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.engine import task_spec
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    SPEC = staticmethod(task_spec)

    def run(self, tmp=None, task_vars=None):
        # script_file names a file on the controller: found like a files/ lookup of the task (role files/,
        # playbook dir), so a relative path does not depend on the worker's current directory.
        path = self._task.args.get('script_file')
        if isinstance(path, str) and path.strip():
            try:
                found = self._find_needle('files', os.path.expanduser(path.strip()))
            except AnsibleError:
                found = None
            if found:
                self._task.args = dict(self._task.args, script_file=found)
        return super().run(tmp, task_vars)
