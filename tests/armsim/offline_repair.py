"""The effect of the collection's offline rescue scripts on the disk attached at a LUN of a rescue VM.

The collection (issue 23) runs one script per action through Run Command on a rescue VM: the simulator runs no
bash or PowerShell, so a script whose header line is ``# vmrescue.azure offline_rescue`` is modelled as a whole,
like guestrepair.py models the guest_repair role: each line ``# vmrescue.azure action <name>`` names an action,
the named parameter ``VMRESCUE_LUN`` the LUN of the rescue VM's data disk to repair (``VMRESCUE_DRIVER``, a file
name or glob, for ``remove_driver``). Only that disk changes; other LUNs and the rescue VM's own disk never do.

Output (the lines that matter): per action ``VMRESCUE action=<name> lun=<n> changed=true|false``, last line
``VMRESCUE changed=true|false failed=<actions>|none``; exit code 1 when there is no disk at that LUN, the disk
holds no OS, or an action does not apply to its OS (or is unknown), with a line on stderr.

What each action fixes (every rule [inferred]: the simulator's model of the collection's own future scripts,
written from what the public tools do):

- Linux, the ALAR actions (Azure/ALAR README): ``fstab`` the fstab fault ("strip off any lines in the /etc/fstab
  file which are not needed to boot"), ``initrd`` initrd, ``kernel`` kernel ("the previous kernel version gets
  booted"), ``grubfix`` grub on a Gen1 (BIOS) disk, ``efifix`` grub on a Gen2 (UEFI) disk ("reinstalling the
  required software to boot from a GEN2 VM"; the other generation: nothing changed), ``auditd`` disk_full
  ("replacing any HALT directives in the /etc/audit/auditd.conf file"), ``serialconsole`` and ``sudo`` no modelled
  fault (they change nothing).
- Windows, the repair script library (Azure/repair-script-library map.json): ``remove_driver`` bootloop_driver when
  ``VMRESCUE_DRIVER`` matches the driver file (the 2024 fix deleted ``C-00000291*.sys``), ``safemode_off``
  safe_mode; ``chkdsk``, ``sfc``, ``lastknowngood``, ``sac_on``, ``troubleshoot_admin`` no modelled fault.

An encrypted disk (Azure Disk Encryption, ade.py) that was not unlocked on this rescue VM is not readable: every
action fails (exit 1, the reason on stderr) and nothing changes.

The change is made when the run command is accepted (as guestrepair.py's) [inferred simplification]; each run is
recorded on the disk (``GuestDisk.repairs``, control API ``GET /_sim/disks/{id}``).

Public names: ``HEADER``, ``ACTIONS``, ``run_offline(text, machine, named) -> (exit_code, stdout, stderr) | None``.
"""

import fnmatch
import re

from . import ade
from .disks import parse_id
from .util import dig

HEADER = '# vmrescue.azure offline_rescue'
ACTION = re.compile(r'^#\s*vmrescue\.azure action (\w+)\s*$', re.MULTILINE)
ACTIONS = {
    'linux': {
        'fstab': 'fstab',
        'initrd': 'initrd',
        'kernel': 'kernel',
        'grubfix': 'grub',
        'efifix': 'grub',
        'auditd': 'disk_full',
        'serialconsole': None,
        'sudo': None,
    },
    'windows': {
        'remove_driver': 'bootloop_driver',
        'safemode_off': 'safe_mode',
        'chkdsk': None,
        'sfc': None,
        'lastknowngood': None,
        'sac_on': None,
        'troubleshoot_admin': None,
    },
}
GENERATION_OF = {'grubfix': 'V1', 'efifix': 'V2'}


def _disk_at(machine, lun):
    for entry in dig(machine.model, 'properties', 'storageProfile', 'dataDisks', default=[]) or []:
        if entry.get('lun') == lun and entry.get('toBeDetached') is not True:
            parts = parse_id(dig(entry, 'managedDisk', 'id'))
            group = machine.rg.sub.groups.get(parts[1].lower()) if parts else None
            return group.disks.get(parts[3].lower()) if group is not None else None
    return None


def _fix(disk, action, fault, named):
    """(changed, why not when it could not apply) of one action on the disk's guest."""
    guest = disk.content
    if fault is None or fault not in guest.faults:
        return False, None
    wanted = GENERATION_OF.get(action)
    if wanted and str(disk.generation or 'V1').upper() != wanted:
        return False, None  # grubfix on a UEFI disk, efifix on a BIOS one: nothing it knows to change
    if action == 'remove_driver':
        pattern = named.get('vmrescue_driver')
        if not pattern:
            return False, 'remove_driver needs VMRESCUE_DRIVER (the driver file to delete)'
        if not fnmatch.fnmatch(str(guest.driver or '').lower(), pattern.lower()):
            return False, None
        guest.driver = None
    guest.faults.remove(fault)
    return True, None


def _lun(named):
    try:
        return int(str(named.get('vmrescue_lun', '')).strip())
    except ValueError:
        return None


def run_offline(text, machine, named):
    """(exit_code, stdout, stderr) of an offline rescue script on the rescue VM ``machine``, or None when ``text``
    is not one."""
    if machine is None or not any(line.startswith(HEADER) for line in (text or '').splitlines()[:3]):
        return None
    named = {str(k).lower(): str(v) for k, v in (named or {}).items()}
    lun = _lun(named)
    disk = _disk_at(machine, lun) if lun is not None else None
    actions = ACTION.findall(text)
    if disk is None or disk.content is None or disk.content.os is None:
        why = f'no disk at LUN {lun}' if disk is None else f'the disk at LUN {lun} holds no operating system'
        return 1, f'VMRESCUE changed=false failed={",".join(actions) or "none"}\n', f'{why}\n'
    if ade.locked(machine, disk):  # ade.py: an encrypted disk is not readable until unlocked on this VM [docs]
        why = (
            f'no {disk.content.os.capitalize()} root file system found on the disk at LUN {lun}: it is encrypted '
            '(Azure Disk Encryption) and locked on this rescue VM; unlock it first'
        )
        return 1, f'VMRESCUE changed=false failed={",".join(actions) or "none"}\n', f'{why}\n'
    out, err, failed, changed = [], [], [], False
    for action in actions:
        table = ACTIONS.get(disk.content.os, {})
        if action not in table:
            err.append(f'{action}: not an action for a {disk.content.os} disk')
            failed.append(action)
            continue
        did, broke = _fix(disk, action, table[action], named)
        if broke:
            err.append(f'{action}: {broke}')
            failed.append(action)
        disk.content.repairs.append({'action': action, 'lun': lun, 'changed': did})
        out.append(f'VMRESCUE action={action} lun={lun} changed={"true" if did else "false"}')
        changed = changed or did
    out.append(f'VMRESCUE changed={"true" if changed else "false"} failed={",".join(failed) or "none"}')
    return (1 if failed else 0), '\n'.join(out) + '\n', ''.join(line + '\n' for line in err)
