# -*- coding: utf-8 -*-
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs vmrescue.azure.vmaccess_linux on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from ansible_collections.vmrescue.azure.plugins.module_utils._vmaccess import looks_like_key_text, task_spec
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    SPEC = staticmethod(task_spec)

    def run(self, tmp=None, task_vars=None):
        # ssh_key may name a public key file on the controller: look it up like a files/ lookup of the task
        # (role files/, playbook dir), so a relative path does not depend on the worker's current directory.
        key = self._task.args.get('ssh_key')
        if isinstance(key, str) and key.strip() and not looks_like_key_text(key):
            try:
                found = self._find_needle('files', os.path.expanduser(key.strip()))
            except AnsibleError:
                found = None
            if found:
                self._task.args = dict(self._task.args, ssh_key=found)
        return super(ActionModule, self).run(tmp, task_vars)
