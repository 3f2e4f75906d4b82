# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tables the serial console log classifier reads (private: may change without notice).

Pure data: no I/O, no import of another module of this collection. ``serial_log`` applies them; the docs' triage
guide (docs/docsite/rst/guide_triage.rst) lists them. Every pattern was written from the log excerpt kept beside
it, quoted from the public page named in ``source`` (Microsoft Learn's troubleshooting articles, read from their
sources in MicrosoftDocs/SupportArticles-docs; the kernel, systemd and SAC sources for the boot markers). What a
page does not say is marked [inferred] in the row's ``note``.

A rule: ``name`` (stable id), ``cls`` (the triage class), ``os`` (``Linux`` / ``Windows``, as Azure spells it),
``patterns`` (compiled; any matching line classifies), ``support`` (compiled; matching lines are evidence only),
``remedy`` (a key of ``REMEDIES``; ``remedy_v2`` for a Generation 2 VM when it differs), ``reason`` (one line),
``excerpt`` (the real log lines the patterns were written from), ``source`` (public URL), ``note``.

Order matters: in the last boot of a log, the first rule (in ``RULES`` order) with a matching line decides. The
order follows the boot: the boot loader (GRUB), the initramfs, the kernel, systemd's mounts, then what a booted
system logs; Windows stop codes by name before the generic stop screen.

Public names: ``RULES``, ``BOOT_MARKERS``, ``OK_MARKERS``, ``REMEDIES``, ``BOOT_FAILURES``, ``CLASSES``, ``LEARN``.
"""

from __future__ import annotations

import re

LEARN = 'https://learn.microsoft.com/troubleshoot/azure/virtual-machines/'

# The classes that mean the guest did not boot; then a log that shows a boot, and one that shows neither.
BOOT_FAILURES = (
    'boot_emergency_mode',
    'boot_kernel_panic',
    'boot_initrd',
    'boot_grub',
    'boot_disk_full',
    'boot_loop',
)
CLASSES = BOOT_FAILURES + ('boot_ok', 'boot_unknown')

# What each remedy is: ALAR actions run offline on a copy of the OS disk (az vm repair run --run-id linux-alar2
# --parameters ACTION, learn: linux/repair-linux-vm-using-alar), the Windows scripts of Azure/repair-script-library
# (map.json ids), or nothing the collection can do alone.
REMEDIES = {
    'fstab': 'ALAR fstab: strip the /etc/fstab lines not needed to boot (a copy of the file is kept)',
    'initrd': 'ALAR initrd: rebuild the initrd / initramfs with the Hyper-V modules (hv_vmbus, hv_netvsc, hv_storvsc)',
    'kernel': 'ALAR kernel: make a previously installed kernel the default',
    'grubfix': 'ALAR grubfix: reinstall GRUB and regenerate grub.cfg (Generation 1)',
    'efifix': 'ALAR efifix: reinstall the UEFI boot software and regenerate grub.cfg (Generation 2)',
    'free_disk_space': 'no ALAR action: on a rescue VM, delete unneeded files or expand the OS disk and file system',
    'sfc': 'repair-script-library win-sfc-sf-corruption: sfc /scannow against the OS disk offline',
    'remove_patch': 'repair-script-library win-remove-patch: remove the update that shipped the failing driver (DISM)',
    'lastknowngood': 'repair-script-library win-LKGC: boot the Last Known Good Configuration',
    'none': 'nothing to repair from the serial log',
}

_TS = r'^(?:\[\s*\d+\.\d+\]\s*)?'  # the kernel's printk time stamp, when the line has one

RULES = (
    dict(
        name='grub_rescue',
        cls='boot_grub',
        os='Linux',
        patterns=(
            re.compile(r'^grub rescue>'),
            re.compile(r'Entering rescue mode\.\.\.'),
            re.compile(r"error: file '/boot/grub2?/[^']*normal\.mod' not found"),
            re.compile(r'error: (?:unknown filesystem|no such partition)\.'),
            re.compile(r"error: symbol 'grub_efi_get_secure_boot' not found"),
        ),
        support=(),
        remedy='grubfix',
        remedy_v2='efifix',
        reason='GRUB could not load its modules or find /boot and stopped at the grub rescue prompt',
        excerpt=("error: file '/boot/grub2/i386-pc/normal.mod' not found.\nEntering rescue mode...\ngrub rescue>\n"),
        source=LEARN + 'linux/troubleshoot-vm-boot-error',
        note=(
            'The article shows these lines in the boot diagnostics screenshot and says the rescue prompt is not in '
            'the serial log; GRUB writes to the serial port when GRUB_TERMINAL includes serial, as on RHEL 7.4+ '
            "images (linux/serial-console-grub-proactive-configuration). The other error lines are the article's "
            "section titles in GRUB's own spelling [inferred]."
        ),
    ),
    dict(
        name='missing_initramfs',
        cls='boot_initrd',
        os='Linux',
        patterns=(
            re.compile(r'VFS: Unable to mount root fs on unknown-block\(0,0\)'),
            re.compile(r"error: file '/initr(?:amfs|d)[^']*' not found"),
            re.compile(r'No working init found'),
            re.compile(r'Initramfs unpacking failed'),
        ),
        support=(re.compile(_TS + r'(?:CPU: \d+ PID: \d+ Comm:|Call Trace:)'),),
        remedy='initrd',
        reason='the kernel found no initramfs to mount the root file system (missing or damaged after an update)',
        excerpt=(
            '[  301.026129] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n'
            '[  301.027122] CPU: 0 PID: 1 Comm: swapper/0 Tainted: G               ------------ T '
            '3.10.0-1160.36.2.el7.x86_64 #1\n'
            '[  301.027122] Hardware name: Microsoft Corporation Virtual Machine/Virtual Machine, BIOS 090008  '
            '12/07/2018\n'
            '[  301.027122] Call Trace:\n'
            "error: file '/initramfs-3.10.0-1160.36.2.el7.x86_64.img' not found.\n"
        ),
        source=LEARN + 'linux/kernel-related-boot-issues#missing-initramfs',
        note=(
            "'No working init found' and 'Initramfs unpacking failed' are the ALAR page's initrd symptoms "
            '(linux/repair-linux-vm-using-alar#initrd), shown there only as screenshots: their exact text is the '
            "kernel's messages [inferred]."
        ),
    ),
    dict(
        name='dracut_emergency_shell',
        cls='boot_initrd',
        os='Linux',
        patterns=(
            re.compile(r'dracut-initqueue timeout'),
            re.compile(r'Warning: Could not boot\.'),
            re.compile(r'Starting Dracut Emergency Shell'),
            re.compile(r'Gave up waiting for root file system device'),
            re.compile(r'ALERT!\s+\S+ does not exist\.\s+Dropping to a shell!'),
        ),
        support=(
            re.compile(r'Warning: /dev/\S+ does not exist'),
            re.compile(r'Entering emergency mode\. Exit the shell to continue\.'),
        ),
        remedy='initrd',
        reason='the initramfs could not find the root file system and dropped to the dracut / initramfs shell',
        excerpt=(
            '[  201.935612] dracut-initqueue[455]: Warning: dracut-initqueue timeout - starting timeout scripts\n'
            '[  201.941153] dracut-initqueue[455]: Warning: Could not boot.\n'
            '         Starting Dracut Emergency Shell...\n'
            'Warning: /dev/mapper/rootvg-rootlv does not exist\n'
            'Entering emergency mode. Exit the shell to continue.\n'
            'Gave up waiting for root file system device.  Common problems:\n'
            'ALERT!  /dev/mapper/osencrypt does not exist.  Dropping to a shell!\n'
        ),
        source=LEARN + 'linux/linux-no-boot-dracut',
        note=(
            'The article lists several causes (GRUB root= or swap paths, LVM, a missing partition, Hyper-V drivers '
            'not in the initramfs, a damaged initramfs); ALAR automates only the initramfs one, so initrd is the '
            'first offline remedy to try [inferred], the others need a person.'
        ),
    ),
    dict(
        name='kernel_panic',
        cls='boot_kernel_panic',
        os='Linux',
        patterns=(re.compile(r'Kernel panic - '),),
        support=(
            re.compile(r'dracut Warning: Boot has failed'),
            re.compile(_TS + r'(?:CPU: \d+ PID: \d+ Comm:|Pid: \d+, comm:|Call Trace:)'),
        ),
        remedy='kernel',
        reason='the kernel panicked',
        excerpt=(
            'dracut Warning: Boot has failed. To debug this issue add "rdshell" to the kernel command line.\n'
            'Kernel panic - not syncing: Attempted to kill init!\n'
            'Pid: 1, comm: init Not tainted 2.6.32-754.17.1.el6.x86_64 #1\n'
            'Call Trace:\n'
            ' [<ffffffff81558bfa>] ? panic+0xa7/0x18b\n'
        ),
        source=LEARN + 'linux/kernel-related-boot-issues#attempted-tokill-init',
        note=(
            "Any 'Kernel panic - ' line (linux/linux-kernel-panic-troubleshooting lists the common ones). The "
            "article's first step for a panic at boot is to boot a previous kernel, which ALAR's kernel action "
            'makes the default.'
        ),
    ),
    dict(
        name='fstab_emergency_mode',
        cls='boot_emergency_mode',
        os='Linux',
        patterns=(
            re.compile(r'Welcome to emergency mode!'),
            re.compile(r'Give root password for maintenance'),
            re.compile(r'Dependency failed for Local File Systems'),
        ),
        support=(
            re.compile(r'Timed out waiting for device'),
            re.compile(r'Dependency failed for /'),
            re.compile(r'Failed to mount /'),
        ),
        remedy='fstab',
        reason='a file system in /etc/fstab did not mount and systemd stopped in emergency mode',
        excerpt=(
            '[K[[1;31m TIME [0m] Timed out waiting for device dev-incorrect.device.\n'
            '[[1;33mDEPEND[0m] Dependency failed for /data.\n'
            '[[1;33mDEPEND[0m] Dependency failed for Local File Systems.\n'
            '\u2026\n'
            'Welcome to emergency mode! After logging in, type "journalctl -xb" to viewsystem logs, "systemctl '
            'reboot" to reboot, "systemctl default" to try again to boot into default mode.\n'
            'Give root password for maintenance\n'
            '(or type Control-D to continue)\n'
        ),
        source=LEARN + 'linux/linux-virtual-machine-cannot-start-fstab-errors',
        note='The article quotes the lines without their escape characters; the classifier removes them first.',
    ),
    dict(
        name='disk_full',
        cls='boot_disk_full',
        os='Linux',
        patterns=(re.compile(r'No space left on device'),),
        support=(re.compile(r'ERROR ExtHandler /proc/net/route contains no routes'),),
        remedy='free_disk_space',
        reason='the OS disk is full: services (cloud-init, the agent, networking) fail to start',
        excerpt=(
            '[   15.384699] cloud-init[1142]: OSError: [Errno 28] No space left on device\n'
            '[   15.384742] cloud-init[1142]: Original exception was:\n'
            '[   15.384784] cloud-init[1142]: OSError: [Errno 28] No space left on device\n'
        ),
        source=LEARN + 'linux/linux-fulldisk-boot-error',
        note=(
            'The auditd HALT shutdown of the same article (ALAR auditd) shows only as "Power down" in the '
            'screenshot, too weak a sign to classify on.'
        ),
    ),
    dict(
        name='stop_critical_process_died',
        cls='boot_loop',
        os='Windows',
        patterns=(re.compile(r'CRITICAL[_ ]PROCESS[_ ]DIED'),),
        support=(re.compile(r'Your PC ran into a problem'), re.compile(r'What failed:')),
        remedy='sfc',
        reason='Windows stops at boot with 0xEF CRITICAL_PROCESS_DIED (a system process failed: OS file corruption)',
        excerpt=(
            "Your PC ran into a problem and needs to restart. We're just collecting some error info, and then "
            'you can restart.\n'
            'Stop code: CRITICAL_PROCESS_DIED\n'
        ),
        source=LEARN + 'windows/troubleshoot-guide-critical-process-died',
        note=(
            'The article reads the stop screen from the boot diagnostics screenshot (#0x000000EF, Critical Process '
            'Died); that the same text reaches the serial log through EMS is [inferred].'
        ),
    ),
    dict(
        name='stop_driver_irql',
        cls='boot_loop',
        os='Windows',
        patterns=(re.compile(r'DRIVER_IRQL_NOT_LESS_OR_EQUAL'),),
        support=(re.compile(r'Your PC ran into a problem'), re.compile(r'What failed:')),
        remedy='remove_patch',
        reason='Windows stops at boot with 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL (a driver, often after an update)',
        excerpt=(
            "Your PC ran into a problem and needs to restart. We're just collecting some error info, and then "
            "we'll restart for you.\n"
            '(%% complete)\n'
            'For more information on this issue and possible fixes, visit http://windows.com/stopcode. If you '
            'call a support person give them this info\n'
            'Stop code: DRIVER_IRQL_NOT_LESS_OR_EQUAL\n'
            'What failed: myfault.sys\n'
        ),
        source=LEARN + 'windows/azure-vm-cannot-rdp-driver-irql-not-less-equal',
        note='The article removes the July 2018 update that causes it; otherwise a memory dump is needed.',
    ),
    dict(
        name='stop_code',
        cls='boot_loop',
        os='Windows',
        patterns=(
            re.compile(r'Your PC ran into a problem and needs to restart'),
            re.compile(r'^\s*Stop code:', re.I),
            re.compile(r'<INSTANCE CLASSNAME="BLUESCREEN">'),
        ),
        support=(re.compile(r'What failed:'), re.compile(r'NAME="STOPCODE"')),
        remedy='lastknowngood',
        reason='Windows stops at boot with a stop error (blue screen) and restarts',
        excerpt=(
            "Your PC ran into a problem and needs to restart. We're just collecting some error info, and then "
            'you can restart.\n'
            'Your PC ran into a problem and needs to restart.\n'
        ),
        source=LEARN + 'windows/troubleshoot-common-blue-screen-error',
        note=(
            'The article collects a memory dump for support; Last Known Good Configuration is the reboot-loop '
            "article's remedy for a recent change (windows/troubleshoot-reboot-loop) [inferred for an unnamed stop "
            'code]. EMS writes <INSTANCE CLASSNAME="BLUESCREEN"> on a bug check (en.wikipedia.org/wiki/'
            'Emergency_Management_Services).'
        ),
    ),
)

# Lines that start a boot. ``stage`` orders the markers of one boot (GRUB before the kernel; the boot manager
# before SAC): a marker starts a new boot unless the current boot has only seen markers of an earlier stage.
BOOT_MARKERS = (
    dict(
        os='Linux',
        stage=0,
        pattern=re.compile(r'GNU GRUB\s+version|Welcome to GRUB!'),
        excerpt='Welcome to GRUB!',
        source='https://www.gnu.org/software/grub/manual/grub/grub.html',
        note='GRUB prints its banner on the serial port when GRUB_TERMINAL includes serial [inferred].',
    ),
    dict(
        os='Linux',
        stage=1,
        pattern=re.compile(_TS + r'Linux version \d'),
        excerpt=(
            'const char linux_banner[] =\n'
            '\t"Linux version " UTS_RELEASE " (" LINUX_COMPILE_BY "@"\n'
            '\tLINUX_COMPILE_HOST ") (" LINUX_COMPILER ") " UTS_VERSION "\\n";\n'
        ),
        source='https://github.com/torvalds/linux/blob/master/init/version-timestamp.c',
        note="start_kernel() prints linux_banner first (init/main.c): the kernel's first line of each boot.",
    ),
    dict(
        os='Windows',
        stage=0,
        pattern=re.compile(r'Windows Boot Manager'),
        excerpt='Windows Boot Manager',
        source=LEARN + 'windows/serial-console-windows#enable-the-windows-boot-menu-in-the-serial-console',
        note='Only with bcdedit /set {bootmgr} bootems yes (the menu on the serial port) [inferred text].',
    ),
    dict(
        os='Windows',
        stage=1,
        pattern=re.compile(r'Computer is booting, SAC started and initialized\.'),
        excerpt='Computer is booting, SAC started and initialized.',
        source='https://github.com/reactos/reactos/blob/master/sdk/include/reactos/mc/sacmsg.mc',
        note=(
            'SAC_INIT_STATUS, printed when the Special Administration Console starts with the kernel; newer '
            'Windows Server images on Azure have SAC on (windows/serial-console-windows).'
        ),
    ),
)

# Lines that show a boot reached the point where the VM can be used.
OK_MARKERS = (
    dict(
        os='Linux',
        pattern=re.compile(r'Reached target (?:multi-user\.target - )?Multi-User System'),
        excerpt='[  OK  ] Reached target Multi-User System.',
        source='https://github.com/systemd/systemd/blob/main/src/core/target.c',
        note='systemd\'s "Reached target %s." with multi-user.target\'s Description=Multi-User System.',
    ),
    dict(
        os='Linux',
        pattern=re.compile(r'^\S+ login:\s*$'),
        excerpt='myvm login:',
        source=LEARN + 'linux/serial-console-linux#custom-linux-images',
        note='The getty that Azure images run on ttyS0 prints "<hostname> login:" [inferred text].',
    ),
    dict(
        os='Windows',
        pattern=re.compile(r'EVENT: The CMD command is now available\.'),
        excerpt='SAC> EVENT: The CMD command is now available.',
        source='https://docs.aws.amazon.com/AWSEC2/latest/WindowsGuide/troubleshooting-sac.html',
        note='SAC announces it once Windows runs its services (sacsvr); the same SAC on any hypervisor.',
    ),
    dict(
        os='Windows',
        pattern=re.compile(r'Microsoft Azure VM Health Report - Start'),
        excerpt='======== Microsoft Azure VM Health Report - Start 2018-03-06T02:06:40.6256349Z ========',
        source=LEARN + 'windows/serial-console-windows#how-do-i-know-if-sac-is-enabled',
        note=(
            'The page says a Windows VM without SAC shows "VM health information" on the serial port (written by '
            'the running VM agent); the banner text is from an Azure support note [inferred spelling].'
        ),
    ),
)
