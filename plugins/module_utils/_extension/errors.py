# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The two errors of the VM-extension family (private).

Public names: ``ExtensionError`` (a request refused before, or instead of, any write: reason ``invalid_input``) and
``ExtensionFailure`` (the task fails: scrubbed ``msg``, extra return values in ``result``, ``reason_code``).
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError


class ExtensionError(VmrescueError):
    """A request the module refuses before (or instead of) any write; the message names the options."""

    reason_code = 'invalid_input'


class ExtensionFailure(VmrescueError):
    """The task fails: ``msg`` (no secret in it), extra return values in ``result``, ``reason_code``."""
