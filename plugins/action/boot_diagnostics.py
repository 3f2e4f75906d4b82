# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs vmrescue.azure.boot_diagnostics on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._triage.enable import task_spec
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    SPEC = staticmethod(task_spec)
