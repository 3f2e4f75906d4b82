# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The api-versions of the rescue's own writes (private).

A rescue's long-running writes (a disk copy, a VM create, a deallocate) hold no worker: they go out as step
generators polled by the base layer's ``_operation`` (shared with ``_remedy``), which the rescue's steps import
directly; this file keeps the api-versions of the providers beside Compute that the rescue calls.

Public names: ``DISK_API``, ``NETWORK_API``.
"""

from __future__ import annotations

DISK_API = '2024-03-02'  # Microsoft.Compute disks and snapshots (DiskRP)
NETWORK_API = '2024-05-01'  # Microsoft.Network
