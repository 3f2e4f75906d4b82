# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long-running ARM writes as step generators: a disk copy, a VM create or a deallocate holds no worker (private).

``ArmClient``'s own LRO handling (ARMPolling) sleeps in the calling thread; a rescue waits minutes for a copy or a
VM create, so its writes go out without it (one request) and the operation is polled here, yielding the seconds
to wait (``Retry-After``, at most ``POLL_MAX``) to ``_batch.run_pipelined`` between polls. Azure-AsyncOperation
first, else Location (the ARM async contract, azure-facts.md section 3).

The polling itself is the base layer's ``_operation`` (shared with ``_remedy``); this file keeps the rescue's
api-versions and re-exports it for the rescue's steps.

Public names: ``DISK_API``, ``NETWORK_API``; from ``_operation``: ``write_steps``, ``wait_operation``, ``POLL_MAX``,
``BUSY_ATTEMPTS``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._operation import (  # noqa: F401 (re-exported)
    BUSY_ATTEMPTS,
    POLL_MAX,
    wait_operation,
    write_steps,
)

DISK_API = '2024-03-02'  # Microsoft.Compute disks and snapshots (DiskRP)
NETWORK_API = '2024-05-01'  # Microsoft.Network
