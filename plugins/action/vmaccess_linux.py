# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs vmrescue.azure.vmaccess_linux on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux_key import (
    PRIVATE_KEY_MESSAGE,
    looks_like_key_text,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.sshkey import looks_private
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    SPEC = staticmethod(task_spec)
    FILE_OPTION = 'ssh_key'

    def refuse_raw_args(self, args):
        # A private key given by mistake as ssh_key: refused before anything reads it, masked, never echoed
        # (ssh_key is not no_log: a public key is fine to show).
        key = args.get('ssh_key')
        if isinstance(key, str) and looks_private(key):
            return PRIVATE_KEY_MESSAGE, [key] + [line for line in key.splitlines() if len(line.strip()) >= 16]
        return None

    def names_file(self, value):
        # ssh_key is the public key itself or the name of a file holding it (looked up like a files/ lookup)
        return not looks_like_key_text(value)
