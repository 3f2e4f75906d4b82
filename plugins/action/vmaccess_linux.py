# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs vmrescue.azure.vmaccess_linux on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux_key import (
    PRIVATE_KEY_MESSAGE,
    looks_like_key_text,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.sshkey import looks_private
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    SPEC = staticmethod(task_spec)

    def refuse_raw_args(self, args):
        # A private key given by mistake as ssh_key: refused before anything reads it, masked, never echoed
        # (ssh_key is not no_log: a public key is fine to show).
        key = args.get('ssh_key')
        if isinstance(key, str) and looks_private(key):
            return PRIVATE_KEY_MESSAGE, [key] + [line for line in key.splitlines() if len(line.strip()) >= 16]
        return None

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
        return super().run(tmp, task_vars)
