"""Boot triage from a serial console log (_triage.serial_log over the tables of _triage.serial_rules): every rule
classifies the real excerpt it was written from inside a realistic boot, the last boot decides, unknown logs stay
unknown, the evidence is capped, a 5 MB log is read in a bounded window. No network."""

import os
import re

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._triage import serial_log, serial_rules
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_log import classify

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A Linux boot up to the point where the rules' excerpts happen (written for these tests from the shape of an
# Azure Ubuntu / RHEL serial log: kernel time stamps, systemd status lines).
LINUX_START = (
    '[    0.000000] Linux version 5.15.0-1057-azure (buildd@lcy02-amd64-085) (gcc (Ubuntu 9.4.0-1ubuntu1~20.04.2) '
    '9.4.0, GNU ld (GNU Binutils for Ubuntu) 2.34) #65~20.04.1-Ubuntu SMP Mon Jan 15 18:23:32 UTC 2024\n'
    '[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-5.15.0-1057-azure root=PARTUUID=1a2b3c4d ro '
    'console=tty1 console=ttyS0 earlyprintk=ttyS0\n'
    '[    0.000000] KERNEL supported cpus:\n'
    '[    0.000000] Hypervisor detected: Microsoft Hyper-V\n'
    '[    1.023456] hv_vmbus: registering driver hv_storvsc\n'
    '[    1.524310] sd 0:0:0:0: [sda] 62914560 512-byte logical blocks: (32.2 GB/30.0 GiB)\n'
    '[    2.401233] EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)\n'
)
LINUX_HEALTHY_END = (
    '[  OK  ] Reached target Local File Systems.\n'
    '[  OK  ] Started OpenBSD Secure Shell server.\n'
    '[  OK  ] Reached target Multi-User System.\n'
    '\n'
    'Ubuntu 20.04.6 LTS web-01 ttyS0\n'
    '\n'
    'web-01 login: \n'
)
WINDOWS_START = (
    '\x1b[2J\x1b[1;1H\x1b[0m\x1b[37;40mWindows Boot Manager\n'
    'Computer is booting, SAC started and initialized.\n'
    '\n'
    'Use the "ch -?" command for information about using channels.\n'
    'Use the "?" command for general help.\n'
    '\n'
    'SAC>\n'
)
WINDOWS_HEALTHY_END = 'SAC>\nEVENT: The CMD command is now available.\n'


def linux_boot(middle='', end=LINUX_HEALTHY_END):
    return LINUX_START + middle + end


def windows_boot(middle='', end=WINDOWS_HEALTHY_END):
    return WINDOWS_START + middle + end


def cleaned(text):
    return [line.strip() for line in serial_log.clean_lines(text)]


@pytest.mark.parametrize('rule', serial_rules.RULES, ids=lambda r: r['name'])
def test_each_rule_classifies_its_own_excerpt_inside_a_boot(rule):
    start = LINUX_START if rule['os'] == 'Linux' else WINDOWS_START
    log = start + rule['excerpt'] + '\n'
    got = classify(log)
    assert (got['class'], got['rule'], got['remedy'], got['os']) == (
        rule['cls'],
        rule['name'],
        rule['remedy'],
        rule['os'],
    )
    assert got['source'] == rule['source'] and got['boots'] == 1 and got['reason'].startswith(rule['reason'])
    excerpt = cleaned(rule['excerpt'])
    assert got['evidence'] and all(line in excerpt for line in got['evidence'])
    # the same with the OS given by the VM model, and with Windows line endings
    assert classify(log.replace('\n', '\r\n'), os_type=rule['os'].lower())['rule'] == rule['name']


@pytest.mark.parametrize('rule', serial_rules.RULES, ids=lambda r: r['name'])
def test_each_rule_decides_even_after_a_completion_marker(rule):
    """A failure in the last boot wins over a login prompt or SAC's CMD event that came before it."""
    log = linux_boot(end=LINUX_HEALTHY_END) if rule['os'] == 'Linux' else windows_boot()
    got = classify(log + rule['excerpt'])
    assert got['rule'] == rule['name']


def test_the_rules_are_consistent():
    names = [r['name'] for r in serial_rules.RULES]
    assert len(names) == len(set(names))
    for rule in serial_rules.RULES:
        assert rule['cls'] in serial_rules.CLASSES and rule['os'] in ('Linux', 'Windows')
        assert rule['remedy'] in serial_rules.REMEDIES and rule.get('remedy_v2', 'none') in serial_rules.REMEDIES
        assert rule['source'].startswith('https://') and rule['excerpt'].endswith('\n') and rule['note']
        lines = cleaned(rule['excerpt'])
        for pattern in rule['patterns'] + rule['support']:
            assert isinstance(pattern, re.Pattern)
        assert any(p.search(line) for p in rule['patterns'] for line in lines), rule['name']
    for marker in serial_rules.BOOT_MARKERS + serial_rules.OK_MARKERS:
        assert marker['source'].startswith('https://') and marker['os'] in ('Linux', 'Windows')
    assert {'boot_ok', 'boot_unknown', 'boot_loop'} <= set(serial_rules.CLASSES)


@pytest.mark.parametrize('marker', serial_rules.OK_MARKERS, ids=lambda m: m['excerpt'][:30])
def test_each_completion_marker_is_boot_ok(marker):
    start = LINUX_START if marker['os'] == 'Linux' else WINDOWS_START
    got = classify(start + marker['excerpt'] + '\n')
    assert got['class'] == 'boot_ok' and got['remedy'] == 'none' and got['source'] == marker['source']
    assert got['evidence'] == [marker['excerpt'].strip()]


def test_healthy_boots():
    got = classify(linux_boot())
    assert got['class'] == 'boot_ok' and got['os'] == 'Linux' and got['evidence'][-1] == 'web-01 login:'
    got = classify(windows_boot())
    assert got['class'] == 'boot_ok' and got['os'] == 'Windows'
    assert got['evidence'] == ['EVENT: The CMD command is now available.']


def test_the_last_boot_decides():
    fstab = serial_rules.RULES[4]
    assert fstab['name'] == 'fstab_emergency_mode'
    broken_then_fixed = linux_boot(end=fstab['excerpt']) + linux_boot()
    got = classify(broken_then_fixed)
    assert got['class'] == 'boot_ok' and got['boots'] == 2
    fine_then_broken = linux_boot() + linux_boot(end=fstab['excerpt'])
    got = classify(fine_then_broken)
    assert got['class'] == 'boot_emergency_mode' and got['boots'] == 2 and 'last of 2 boots' in got['reason']
    # the evidence comes from the last boot only
    panic = 'Kernel panic - not syncing: Attempted to kill init!\n'
    got = classify(linux_boot(end=panic) + linux_boot(end=fstab['excerpt']))
    assert got['class'] == 'boot_emergency_mode' and not any('panic' in e for e in got['evidence'])


def test_a_runtime_panic_after_the_login_prompt_is_a_panic():
    log = linux_boot() + '[ 8123.123456] Kernel panic - not syncing: Out of memory and no killable processes...\n'
    got = classify(log)
    assert got['class'] == 'boot_kernel_panic' and got['evidence'][0].endswith('no killable processes...')


def test_grub_banner_and_kernel_banner_are_one_boot():
    log = 'Welcome to GRUB!\n\n' + linux_boot()
    assert classify(log)['boots'] == 1
    # GRUB failing after a healthy boot: the GRUB banner starts the new boot, which ends at the rescue prompt
    rescue = "Welcome to GRUB!\nerror: file '/boot/grub2/i386-pc/normal.mod' not found.\nEntering rescue mode...\n"
    got = classify(linux_boot() + rescue + 'grub rescue> ')
    assert got['class'] == 'boot_grub' and got['boots'] == 2 and got['evidence'][-1] == 'grub rescue>'


def test_grub_on_generation_2_points_to_efifix():
    rule = serial_rules.RULES[0]
    assert classify(rule['excerpt'], generation='V2')['remedy'] == 'efifix'
    assert classify(rule['excerpt'], generation='V1')['remedy'] == 'grubfix'
    assert classify(rule['excerpt'])['remedy'] == 'grubfix'


@pytest.mark.parametrize(
    'text',
    [
        '',
        '\n\n   \n',
        'hello world\nthis is not a boot log\n',
        LINUX_START,  # a boot still in progress: nothing decided yet
        linux_boot(end=serial_rules.RULES[3]['excerpt']) + LINUX_START,  # the failed boot is not the last
        WINDOWS_START,
        'Welcome to emergency mode',  # close, but not systemd's line ("!")
        'Entering emergency mode. Exit the shell to continue.\n',  # dracut's words alone are support, not a class
    ],
)
def test_unknown_logs_stay_unknown(text):
    got = classify(text)
    assert got['class'] == 'boot_unknown' and got['remedy'] == 'none' and got['rule'] is None
    assert got['evidence'] == [] and got['source'] is None and got['reason']


def test_an_empty_log_says_so():
    assert 'empty' in classify('')['reason']
    assert 'no known boot failure' in classify('noise\n')['reason']


def test_windows_reboot_loop():
    looping = ''.join(WINDOWS_START + 'SAC>\n' for _ in range(3))
    got = classify(looping)
    assert got['class'] == 'boot_loop' and got['rule'] == 'reboot_loop' and got['remedy'] == 'lastknowngood'
    assert got['source'] == serial_log.LOOP_SOURCE and got['boots'] == 3  # boot manager, then SAC: one boot
    assert got['evidence'] == ['Windows Boot Manager'] * 3
    sac_only = ''.join('Computer is booting, SAC started and initialized.\n' for _ in range(3))
    assert classify(sac_only)['class'] == 'boot_loop' and classify(sac_only)['boots'] == 3
    assert (
        classify(sac_only * 10, max_evidence=4)['evidence'] == ['Computer is booting, SAC started and initialized.'] * 4
    )
    # two boots are not a loop; a completed boot among the last three is not one either
    assert classify(sac_only.split('\n', 1)[1])['class'] == 'boot_unknown'
    assert classify(sac_only + WINDOWS_HEALTHY_END)['class'] == 'boot_ok'
    recovered = sac_only + WINDOWS_HEALTHY_END + 'Computer is booting, SAC started and initialized.\n'
    assert classify(recovered)['class'] == 'boot_unknown'
    # the loop rule is Windows only: Linux boots that end nowhere stay unknown
    assert classify(LINUX_START * 5)['class'] == 'boot_unknown'


def test_the_os_from_the_model_filters_the_rules():
    windows_stop = serial_rules.RULES[-1]['excerpt']
    assert classify(windows_stop)['class'] == 'boot_loop'  # no boot marker: every rule applies
    assert classify(windows_stop, os_type='Linux')['class'] == 'boot_unknown'
    assert classify(windows_stop, os_type='Windows')['os'] == 'Windows'
    assert classify(LINUX_START + 'No space left on device\n', os_type='Windows')['class'] == 'boot_unknown'


def test_escape_sequences_and_control_characters_are_removed():
    log = LINUX_START + (
        '[\x1b[0;1;31m TIME \x1b[0m] Timed out waiting for device \x1b[0;1;39mdev-disk-by\\x2duuid.device\x1b[0m.\r\n'
        '[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mLocal File Systems\x1b[0m.\r\n'
        'You are in emergency mode. After logging in, type "journalctl -xb"\x00\x07\r\n'
    )
    got = classify(log)
    assert got['class'] == 'boot_emergency_mode'
    assert got['evidence'] == [
        '[ TIME ] Timed out waiting for device dev-disk-by\\x2duuid.device.',
        '[DEPEND] Dependency failed for Local File Systems.',
    ]
    assert not any('\x1b' in e or '\x00' in e for e in got['evidence'])


def test_evidence_is_capped_in_count_and_length():
    long_line = 'cloud-init[1142]: OSError: [Errno 28] No space left on device ' + 'x' * 5000
    log = LINUX_START + '\n'.join([long_line] * 50) + '\nERROR ExtHandler /proc/net/route contains no routes\n'
    got = classify(log)
    assert got['class'] == 'boot_disk_full' and len(got['evidence']) == serial_log.MAX_EVIDENCE
    assert all(len(e) <= serial_log.MAX_EVIDENCE_LINE for e in got['evidence'])
    assert got['evidence'][0].endswith('...')
    got = classify(log, max_evidence=2)
    assert len(got['evidence']) == 2
    # the deciding lines come first; supporting lines fill what is left
    small = (
        LINUX_START
        + 'OSError: [Errno 28] No space left on device\nERROR ExtHandler /proc/net/route contains no routes\n'
    )
    assert len(classify(small)['evidence']) == 2
    assert classify(small, max_evidence=1)['evidence'] == ['OSError: [Errno 28] No space left on device']


def test_a_5_mb_log_is_read_in_a_bounded_window():
    """Correctness, not timing: only the last MAX_SCAN_CHARS characters are read, and the last boot still decides."""
    boot = linux_boot()
    healthy = boot * (5 * 1024 * 1024 // len(boot) + 1)
    assert len(healthy) > 5 * 1024 * 1024
    panic = linux_boot(
        end='[   3.100000] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n'
    )
    got = classify(healthy + panic)
    assert got['class'] == 'boot_initrd' and got['rule'] == 'missing_initramfs'
    assert got['boots'] <= serial_log.MAX_SCAN_CHARS // len(boot) + 2  # only the window's boots are counted
    assert classify(panic + healthy)['class'] == 'boot_ok'  # the old failure fell out of the window
    lines = serial_log.clean_lines(healthy)
    assert sum(len(line) + 1 for line in lines) <= serial_log.MAX_SCAN_CHARS + 1
    # one 5 MB line without a newline: cut to the window, then to MAX_SCAN_LINE
    one = serial_log.clean_lines('x' * (5 * 1024 * 1024) + ' Kernel panic - not syncing: test')
    assert len(one) == 1 and len(one[0]) == serial_log.MAX_SCAN_LINE
    assert (
        classify('x' * (5 * 1024 * 1024) + '\n[ 1.0] Kernel panic - not syncing: test\n')['class']
        == 'boot_kernel_panic'
    )


def test_every_rule_is_in_the_triage_guide():
    with open(os.path.join(REPO, 'docs', 'docsite', 'rst', 'guide_triage.rst')) as fh:
        text = fh.read()
    for rule in serial_rules.RULES:
        assert rule['source'] in text, rule['name']
        assert '``%s``' % rule['name'] in text and '``%s``' % rule['remedy'] in text, rule['name']
    for cls in serial_rules.CLASSES:
        assert '``%s``' % cls in text
    for remedy in serial_rules.REMEDIES:
        assert '``%s``' % remedy in text
