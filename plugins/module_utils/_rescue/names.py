# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic names of what the offline rescue creates (private; pure).

The same source VM and OS disk always give the same copy disk name, so a re-run (any controller) finds the copy
instead of making a second one; the same (location, OS, generation, architecture, zone, Key Vault of an encrypted copy) gives the same rescue VM.

Public names: ``copy_disk_name(vm_name, vm_id, disk_id)``, ``rescue_vm_name(location, os_type, generation,
architecture, zone=None, index=1, ade='')``, ``computer_name(vm_name, os_type)``, ``nic_name(vm_name)``,
``run_command_name(copy_name)``, ``unlock_command_name(copy_name)``, ``MAX_DISK_NAME``, ``MAX_VM_NAME``.
"""

from __future__ import annotations

import hashlib
import re

MAX_DISK_NAME = 80  # Microsoft.Compute/disks names: 1-80 characters
MAX_VM_NAME = 64  # Linux VM names (Windows: 15 for the computer name, the resource name may be longer)
MAX_RUN_COMMAND_NAME = 80
_KEEP = re.compile(r'[^A-Za-z0-9_.-]')


def _hex8(*parts):
    return hashlib.sha256('\n'.join(str(p).lower() for p in parts).encode('utf-8')).hexdigest()[:8]


def copy_disk_name(vm_name, vm_id, disk_id):
    """``<vm name, at most 40 characters>-rescue-<8 hex of sha256(vm id, original disk id)>``: one per source VM
    and original disk (a rescue of the copy itself, later, gets another name)."""
    stem = _KEEP.sub('-', str(vm_name))[:40].rstrip('.-') or 'vm'
    return '%s-rescue-%s' % (stem, _hex8(vm_id, disk_id))


def rescue_vm_name(location, os_type, generation, architecture, zone=None, index=1, ade=''):
    """``vmrescue-<location>-<os>-<gen>-<arch>[-z<zone>][-ade<8 hex>]-<n>`` (lower case; at most 64 characters; ``ade``:
    the Key Vault of the encrypted copies it unlocks, ``ade.kind``)."""
    parts = ['vmrescue', str(location), str(os_type), str(generation), str(architecture)]
    if zone:
        parts.append('z%s' % zone)
    if ade:
        parts.append('ade%s' % ade)
    parts.append(str(int(index)))
    name = '-'.join(_KEEP.sub('', p).lower() for p in parts)
    return name[:MAX_VM_NAME]


def computer_name(vm_name, os_type):
    """The guest's host name: Windows allows 15 characters (``vmrescue`` + 7 hex), Linux the VM name."""
    if str(os_type).lower() == 'windows':
        return 'vmrescue' + _hex8(vm_name)[:7]
    return vm_name[:MAX_VM_NAME]


def nic_name(vm_name):
    return '%s-nic' % vm_name


def run_command_name(copy_name):
    """One managed run command per copy disk: a re-run is idempotent by the run command's fingerprint."""
    return ('vmrescue-rescue-%s' % copy_name)[:MAX_RUN_COMMAND_NAME]


def unlock_command_name(copy_name):
    """The run command that unlocks an encrypted copy (Azure Disk Encryption) on its rescue VM."""
    return ('vmrescue-unlock-%s' % copy_name)[:MAX_RUN_COMMAND_NAME]
