"""The guest boot model: what a simulated OS disk holds, and what its boot prints on the serial console.

A disk's guest content (``GuestDisk``) is its OS (``linux`` / ``windows``, ``None`` for an empty data disk), the
Linux distribution (``ubuntu`` / ``rhel``: the initrd failure prints differently) and at most a few named faults.
A VM whose OS disk carries a fault does not boot: its VM agent never reports (instance view ``vmAgent`` Not Ready,
bootdiag.py) and its serial log ends in the lines that fault prints. A healthy disk boots as every fleet VM always
did (the default). The faults and the public log each is written from:

- ``fstab`` (a mount the system needs fails; systemd drops to emergency mode). MicrosoftDocs/SupportArticles-docs,
  "Troubleshoot Linux virtual machine boot issues due to filesystem errors": ``[FAILED] Failed to mount /data.``,
  ``[DEPEND] Dependency failed for Local File Systems.``, then ``You are in emergency mode. After logging in, type
  "journalctl -xb" to view`` / ``system logs, "systemctl reboot" to reboot, "systemctl default" or "exit"`` / ``to
  boot into default mode.`` / ``Give root password for maintenance`` / ``(or press Control-D to continue):``.
- ``kernel`` (the newest kernel panics at boot). learn.microsoft.com "Kernel-related boot issues", "Attempted to
  kill init" (``Kernel panic - not syncing: Attempted to kill init!``, then ``Pid: 1, comm: init ...`` and the
  ``Call Trace:``; its remedy: boot the previous kernel, ALAR's ``kernel`` action) and "Kernel panic in Azure Linux
  VMs" (the panic is the last lines of the serial log). Not the ``VFS: Unable to mount root fs on
  unknown-block(0,0)`` panic: the same article files that one under a missing initramfs (``initrd``).
- ``initrd`` (a damaged initramfs). SupportArticles-docs, "Azure Linux virtual machine boot enters dracut emergency
  shell": RHEL ``dracut-initqueue[455]: Warning: dracut-initqueue timeout - starting timeout scripts``, ``Warning:
  Could not boot.``, ``Warning: /dev/mapper/rootvg-rootlv does not exist``, ``Entering emergency mode. Exit the shell
  to continue.``, ``dracut:/#``; Ubuntu ``Gave up waiting for root file system device.  Common problems:``,
  ``ALERT!  /dev/mapper/... does not exist.  Dropping to a shell!``, ``(initramfs)``.
- ``grub`` (GRUB cannot find its files). GNU GRUB grub-core/kern/rescue_reader.c prints ``Entering rescue
  mode...`` and the prompt ``grub rescue> ``; before it GRUB's ``error: no such device: <uuid>`` (as quoted in the
  Ubuntu forums threads on "grub rescue").
- ``disk_full`` (the audit log fills the disk and auditd halts the boot: ALAR's ``auditd`` action, "Disk full
  causing a non-boot scenario, specifically related to auditd configurations", Azure/ALAR README). auditd's
  do_disk_full_action logs ``Audit daemon has no space left on logging partition`` (linux-audit/audit-userspace
  auditd-event.c); journald's ``No space left on device`` and the halt lines around them are [inferred].
- ``bootloop_driver`` (Windows: a driver that crashes every boot, as the July 2024 CrowdStrike channel file
  ``C-00000291*.sys`` did; Microsoft's advice then: restart up to 15 times, or repair the OS disk offline and delete
  the file). The Boot Diagnostics serial log of a crashing Windows VM shows the EMS bluescreen record
  (``<INSTANCE CLASSNAME="BLUESCREEN">``, ``<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0xD1"</VALUE>``, then
  ``Your PC ran into a problem and needs to restart.`` and the stop code name and driver): a public copy of the
  Azure IaaS VM support wiki, "Get OS dump from Azure VM". The stop code of the 2024 incident, 0x50
  PAGE_FAULT_IN_NONPAGED_AREA in csagent.sys, from the public incident reports; the repeated boots are the loop.
- ``safe_mode`` (Windows set to boot into safe mode, where the VM agent does not run; the repair script library's
  safe-mode toggle undoes it): the SAC banner ``Computer is booting, SAC started and initialized.`` and a healthy
  console, the agent never Ready. [inferred]

Healthy boots print a short boot and a login prompt (Linux) or the SAC banner and prompt (Windows) [inferred].

Public names: ``FAULTS`` (per OS), ``DEFAULT_DRIVER``, ``GuestDisk`` (``os, distro, faults, driver, repairs``;
``copy()``, ``to_json()``, ``fault``), ``check_fault(os_type, name)``, ``serial_lines(content, computer, boots)``.
"""

FAULTS = {
    'linux': ('fstab', 'kernel', 'initrd', 'grub', 'disk_full'),
    'windows': ('bootloop_driver', 'safe_mode'),
}
DEFAULT_DRIVER = 'C-00000291-00000000-00000032.sys'
ROOT_UUID = '5b2b0455-ca39-40c8-9547-30cfa9adc021'


def check_fault(os_type, name):
    """The fault ``name`` if the OS can have it, else ValueError (the control API and fleet keys call this)."""
    if name is None:
        return None
    if name not in FAULTS.get(os_type or '', ()):
        raise ValueError(f'boot fault {name!r} is not one of {", ".join(FAULTS.get(os_type or "", ()))} ({os_type})')
    return name


class GuestDisk:
    """What a simulated disk holds: an OS (or none), its distribution, named faults, the repairs applied."""

    __slots__ = ('os', 'distro', 'faults', 'driver', 'repairs', 'ade', 'ade_key')

    def __init__(self, os_type=None, distro=None, faults=(), driver=None):
        self.os = os_type
        self.distro = distro or ('ubuntu' if os_type == 'linux' else None)
        self.faults = [check_fault(os_type, f) for f in faults or ()]
        self.driver = driver or (DEFAULT_DRIVER if 'bootloop_driver' in self.faults else None)
        self.repairs = []  # [{action, changed}] applied by offline repairs (offline_repair.py)
        self.ade = None  # Azure Disk Encryption: the Key Vault secret URL of the passphrase (ade.py), None: plain
        self.ade_key = None  # that secret's value (the passphrase): in the guest and Key Vault only, never in ARM

    @property
    def fault(self):
        """The fault the boot stops at (the first one), or None: the disk boots."""
        return self.faults[0] if self.faults else None

    def copy(self):
        other = GuestDisk(self.os, self.distro, self.faults, self.driver)
        other.repairs = [dict(r) for r in self.repairs]
        other.ade, other.ade_key = self.ade, self.ade_key  # a copy holds the same encrypted bytes
        return other

    def to_json(self):
        return {
            'os': self.os,
            'distro': self.distro,
            'faults': list(self.faults),
            'driver': self.driver,
            'repairs': [dict(r) for r in self.repairs],
            'ade': self.ade is not None,
        }


def _linux_start(computer, distro):
    kernel = '5.14.0-427.13.1.el9_4.x86_64' if distro == 'rhel' else '6.8.0-1021-azure'
    return [
        f'[    0.000000] Linux version {kernel} (buildd@lcy02-amd64-040) #22-Ubuntu SMP',
        f'[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-{kernel} root=PARTUUID={ROOT_UUID} ro console=tty1 '
        'console=ttyS0 earlyprintk=ttyS0 panic=-1',
        '[    0.012345] Hypervisor detected: Microsoft Hyper-V',
        '[    1.234567] scsi 0:0:0:0: Direct-Access     Msft     Virtual Disk     1.0  PQ: 0 ANSI: 5',
    ]


def _linux_tail(fault, computer, distro):
    if fault == 'fstab':
        return [
            '[    7.101010] systemd[1]: Mounting /datadrive...',
            '[ TIME ] Timed out waiting for device /dev/disk/by-uuid/0b9e41a4-9d6a-4f1c-9c43-54d9c1c0ffee.',
            '[FAILED] Failed to mount /datadrive.',
            "See 'systemctl status datadrive.mount' for details.",
            '[DEPEND] Dependency failed for Local File Systems.',
            'You are in emergency mode. After logging in, type "journalctl -xb" to view',
            'system logs, "systemctl reboot" to reboot, "systemctl default" or "exit"',
            'to boot into default mode.',
            'Give root password for maintenance',
            '(or press Control-D to continue):',
        ]
    if fault == 'kernel':
        # learn.microsoft.com "Kernel-related boot issues", section "Attempted to kill init": the newest kernel
        # panics once init starts; the remedy is to boot the previous kernel (ALAR's kernel action). The
        # "VFS: Unable to mount root fs on unknown-block(0,0)" panic is the same article's *missing initramfs*
        # (ALAR's initrd action), so it is not this fault's log.
        return [
            '[    2.391620] Run /init as init process',
            '[    2.512804] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00',
            '[    2.513410] CPU: 0 PID: 1 Comm: init Not tainted 6.8.0-1022-azure #27-Ubuntu',
            '[    2.513922] Call Trace:',
            '[    2.514101]  <TASK>',
            '[    2.514260]  panic+0x34f/0x380',
            '[    2.515877] ---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00 ]---',
        ]
    if fault == 'initrd' and distro == 'rhel':
        return [
            '[  201.935612] dracut-initqueue[455]: Warning: dracut-initqueue timeout - starting timeout scripts',
            '[  201.941153] dracut-initqueue[455]: Warning: Could not boot.',
            '         Starting Dracut Emergency Shell...',
            'Warning: /dev/mapper/rootvg-rootlv does not exist',
            'Entering emergency mode. Exit the shell to continue.',
            'Type "journalctl" to view system logs.',
            'dracut:/# ',
        ]
    if fault == 'initrd':
        return [
            'Gave up waiting for root file system device.  Common problems:',
            ' - Boot args (cat /proc/cmdline)',
            '   - Check rootdelay= (did the system wait long enough?)',
            ' - Missing modules (cat /proc/modules; ls /dev)',
            f'ALERT!  PARTUUID={ROOT_UUID} does not exist.  Dropping to a shell!',
            '(initramfs) ',
        ]
    if fault == 'grub':
        return [f'error: no such device: {ROOT_UUID}.', 'Entering rescue mode...', 'grub rescue> ']
    if (
        fault == 'ade_locked'
    ):  # ade.py: no BEK volume with this disk's key at boot [inferred lines: cryptsetup's prompt]
        return ['[    5.201000] cryptsetup: osencrypt: key file /mnt/azure_bek_disk/LinuxPassPhraseFileName not found',
                'Please unlock disk osencrypt: ']  # fmt: skip
    if fault == 'disk_full':
        return [
            '[   12.381100] auditd[812]: Audit daemon has no space left on logging partition',
            '[   12.381900] systemd-journald[301]: Failed to write entry, ignoring: No space left on device',
            '[   12.390000] auditd[812]: Audit daemon is halting the system (disk_full_action = HALT)',
            '[   12.501234] reboot: System halted',
        ]
    name = 'Red Hat Enterprise Linux 9.4 (Plow)' if distro == 'rhel' else 'Ubuntu 24.04.1 LTS'
    return [
        '[  OK  ] Reached target Multi-User System.',
        '[  OK  ] Started walinuxagent.service - Azure Linux Agent.',
        '',
        f'{name} {computer} ttyS0',
        '',
        f'{computer} login: ',
    ]


def _windows_boot(fault, driver):
    lines = ['Computer is booting, SAC started and initialized.', '']
    if fault != 'bootloop_driver':
        return lines + [
            'Use the "ch -?" command for information about using channels.',
            'Use the "?" command for general help.',
            '',
            'SAC>',
            'EVENT: The CMD command is now available.',
            'SAC>',
        ]
    return lines + [
        '<INSTANCE CLASSNAME="BLUESCREEN">',
        '<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0x50"</VALUE></PROPERTY><machine-info>',
        '<os-product>Windows Server 2022 Datacenter Azure Edition</os-product>',
        '</machine-info>',
        '</INSTANCE>',
        '',
        '!SAC>',
        'Your PC ran into a problem and needs to restart.',
        'If you call a support person, give them this info:',
        'PAGE_FAULT_IN_NONPAGED_AREA',
        '',
        'What failed: csagent.sys',
        f'Loaded: C:\\Windows\\System32\\drivers\\CrowdStrike\\{driver}',
        "We're just collecting some error info, and then we'll restart for you. 100% complete",
    ]


def serial_lines(content, computer, boots):
    """The serial console log of ``boots`` (each the fault that boot stopped at, or None), oldest first, of a VM
    whose OS disk holds ``content``; a Windows bootloop repeats its crash on every boot."""
    out = []
    os_type = content.os if content is not None else None
    distro = content.distro if content is not None else None
    for fault in boots:
        if os_type == 'windows':
            out.extend(_windows_boot(fault, content.driver or DEFAULT_DRIVER))
        elif os_type == 'linux':
            out.extend(_linux_start(computer, distro) + _linux_tail(fault, computer, distro))
        else:  # an OS disk without an OS: the firmware finds nothing to boot [inferred]
            out.extend(['Boot Failed. EFI SCSI Device.', 'No operating system was loaded.'])
    return out
