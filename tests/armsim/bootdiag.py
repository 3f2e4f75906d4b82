"""Whether a VM boots (its OS disk's guest content), its boot records, and the serial log behind Boot Diagnostics.

- A running VM whose OS disk carries a fault (boot.py) never gets its VM agent up: ``agent_blocked(machine)``
  makes guestops report the agent Not Ready, with the instance-view message "VM Agent is unresponsive." (as a
  VM that does not boot shows it: Azure/azure-powershell #4168, an instance view with ``"displayStatus": "Not
  Ready", "message": "VM Agent is unresponsive."``). Extension writes and run commands then wait for an agent that
  never answers (guestops, runcommand). A restart, deallocate / start or an OS disk swap boots again from whatever
  the OS disk now holds; a Windows bootloop never comes back by itself in the simulator (Microsoft's 2024 advice
  that up to 15 restarts may help is not modelled) [inferred].
- Boot records: each boot while ``diagnosticsProfile.bootDiagnostics.enabled`` is true is recorded (the last
  three); the log holds only what was printed while it was enabled (azure-facts.md section 7). A fleet VM that was
  running when the simulator started has booted once, from its disk as it is now.
- ``POST {vm}/retrieveBootDiagnosticsData?sasUriExpirationTimeInMinutes=N`` (spec pack virtualMachine.json
  ``VirtualMachines_RetrieveBootDiagnosticsData``: 200 ``RetrieveBootDiagnosticsDataResult`` with
  ``consoleScreenshotBlobUri`` and ``serialConsoleLogBlobUri``; N "between 1 to 1440 minutes", default 120, per the
  REST reference page) answers SAS URIs of the simulator's storage account (storage.py) for the blobs
  ``bootdiagnostics-<name, 9 chars>-<vmId>/<vm>.<vmId>.serialconsole.log`` and ``.screenshot.bmp`` (the names
  Azure gives them, as quoted in Azure/azure-powershell #4168). The blob is written when the URIs are handed out
  (a copy of the log then) [inferred]. Boot diagnostics disabled: 409 ``OperationNotAllowed`` "Boot diagnostics is
  not enabled for virtual machine '<vm>'." [inferred text]; N out of range: 400 ``InvalidParameter`` [inferred
  text]. Managed storage (no ``storageUri``) and a custom account are served alike [inferred].

Public names: ``equip(machine, spec)``, ``content(machine)``, ``fault(machine)``, ``agent_blocked(machine)``, ``UNRESPONSIVE``,
``record_boot(machine)``, ``serial_log(machine)``, ``blob_names(machine)``, ``BootDiagnostics(world)``
(``register(router)``).
"""

import datetime
import re
import struct

from . import ade, storage
from .boot import GuestDisk, check_fault, serial_lines
from .disks import os_disk_id, parse_id
from .errors import ArmError
from .routing import VM, Response
from .util import dig

UNRESPONSIVE = 'VM Agent is unresponsive.'
KEEP_BOOTS = 3
LOOP_CRASHES = 3  # a bootloop prints its crash this many times per recorded boot [inferred]


def equip(machine, spec):
    """Fleet VM keys of the boot model (fleet.py's docstring): boot_fault, boot_fault_driver, distro,
    hyper_v_generation, architecture."""
    generation = spec.get('hyper_v_generation')
    if generation:
        if str(generation).upper() not in ('V1', 'V2'):
            raise ValueError(f'hyper_v_generation is V1 or V2, not {generation!r}')
        machine.generation = str(generation).upper()
    arch = spec.get('architecture')
    if arch:
        if str(arch).lower() not in ('x64', 'arm64'):
            raise ValueError(f'architecture is x64 or Arm64, not {arch!r}')
        machine.architecture = 'Arm64' if str(arch).lower() == 'arm64' else 'x64'
    fault = check_fault(machine.os, spec.get('boot_fault'))
    if fault or spec.get('distro'):
        machine.boot_seed = {'faults': [fault] if fault else [], 'driver': spec.get('boot_fault_driver'),
                             'distro': spec.get('distro')}  # fmt: skip


def content(machine):
    """The guest content of the machine's OS disk (a fleet VM's as its fleet entry seeds it), or None."""
    parts = parse_id(os_disk_id(machine))
    if parts is not None and parts[0].lower() == machine.sub.id.lower():
        group = machine.rg.sub.groups.get(parts[1].lower())
        disk = group.disks.get(parts[3].lower()) if group is not None else None
        if disk is not None:
            return disk.content
    seed = machine.boot_seed
    if seed is None:
        return None  # never materialized, never seeded: the healthy disk the VM was created with
    return GuestDisk(machine.os, seed.get('distro'), seed.get('faults') or (), seed.get('driver'))


def _os_disk(machine):
    parts = parse_id(os_disk_id(machine))
    if parts is None or parts[0].lower() != machine.sub.id.lower():
        return None
    group = machine.rg.sub.groups.get(parts[1].lower())
    return group.disks.get(parts[3].lower()) if group is not None else None


def fault(machine):
    guest = content(machine)
    if guest is None:
        return None
    if guest.os is None:
        return 'no_os'
    if guest.ade and not ade.boots(_os_disk(machine)):
        return 'ade_locked'  # ade.py: the platform cannot bring this disk's key (its settings do not name it)
    return guest.fault


def agent_blocked(machine):
    """True when the VM runs but does not boot (its agent cannot come up)."""
    return machine.power == 'running' and fault(machine) is not None


def _enabled(machine):
    return dig(machine.model, 'properties', 'diagnosticsProfile', 'bootDiagnostics', 'enabled') is True


def record_boot(machine):
    """compute.boot calls this on every boot: remember what this boot stopped at, if boot diagnostics is on."""
    if _enabled(machine):
        machine.boots = (list(machine.boots) + [fault(machine)])[-KEEP_BOOTS:]


def serial_log(machine):
    boots = list(machine.boots)
    if not boots and machine.power == 'running' and _enabled(machine):
        boots = [fault(machine)]
    expanded = []
    for boot in boots:
        expanded.extend([boot] * (LOOP_CRASHES if boot == 'bootloop_driver' else 1))
    guest = content(machine) or GuestDisk(machine.os)
    computer = dig(machine.model, 'properties', 'osProfile', 'computerName', default=machine.name)
    return ''.join(line + '\n' for line in serial_lines(guest, computer, expanded))


def blob_names(machine):
    vm_id = dig(machine.model, 'properties', 'vmId', default='00000000-0000-0000-0000-000000000000')
    short = re.sub('[^a-z0-9]', '', machine.name.lower())[:9] or 'vm'
    container = f'bootdiagnostics-{short}-{vm_id}'.lower()
    return container, f'{machine.name}.{vm_id}.serialconsole.log', f'{machine.name}.{vm_id}.screenshot.bmp'


def _screenshot():
    """A 1x1 black bitmap: the console screenshot (its picture is not modelled) [inferred]."""
    pixels = b'\x00\x00\x00\x00'
    header = struct.pack('<IiiHHIIiiII', 40, 1, 1, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b'BM' + struct.pack('<IHHI', 14 + len(header) + len(pixels), 0, 0, 14 + len(header)) + header + pixels


class BootDiagnostics:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        router.add('POST', VM + '/retrieveBootDiagnosticsData', self.retrieve, 'vm.boot_diagnostics',
                   action='Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action',
                   scope_strip=1)  # fmt: skip

    def retrieve(self, req, **ids):
        machine = self.world.compute.machine(**ids)
        raw = req.query.get('sasuriexpirationtimeinminutes')
        try:
            minutes = 120 if raw in (None, '') else int(raw)
        except ValueError:
            minutes = -1
        if not 1 <= minutes <= 1440:
            raise ArmError(400, 'InvalidParameter',
                           f"The value '{raw}' of parameter 'sasUriExpirationTimeInMinutes' is out of range: it must "
                           'be between 1 and 1440.', target='sasUriExpirationTimeInMinutes')  # fmt: skip
        if not _enabled(machine):
            raise ArmError(409, 'OperationNotAllowed',
                           f"Boot diagnostics is not enabled for virtual machine '{machine.name}'.")  # fmt: skip
        container, log_blob, shot_blob = blob_names(machine)
        self.world.blobs[storage.blob_key(self.world, container, log_blob)] = serial_log(machine)
        self.world.blobs[storage.blob_key(self.world, container, shot_blob)] = _screenshot()
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
        return Response(
            200,
            {
                'consoleScreenshotBlobUri': storage.sign(self.world, container, shot_blob, 'r', expiry),
                'serialConsoleLogBlobUri': storage.sign(self.world, container, log_blob, 'r', expiry),
            },
        )
