# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot triage: why a VM does not boot, from its serial console log (private: may change without notice).

Pure: no I/O, no ARM client. It applies the tables of ``serial_rules`` (each pattern with the real log excerpt it
was written from and its public source) to the text ``boot_diagnostics.read_serial_log`` read, so a lookup, the
inventory plugin and the recovery ladder classify a log the same way.

How a log is read:

- Only the last ``MAX_SCAN_CHARS`` characters count (a serial log grows to 1 GB before Azure overwrites it; the
  reader fetches a tail anyway). Terminal escape sequences, carriage returns and NUL bytes are removed, and each
  line is matched on its first ``MAX_SCAN_LINE`` characters, so time and memory stay bounded by those two numbers.
- The log is split into boots at the lines that start one (``serial_rules.BOOT_MARKERS``: the kernel's "Linux
  version" banner, GRUB's banner, SAC's "Computer is booting" and the Windows Boot Manager). **The last boot
  decides**: an earlier boot's failure does not count once a later boot started.
- In the last boot, the first rule of ``serial_rules.RULES`` (their order is the boot's: GRUB, initramfs, kernel,
  mounts, a booted system) with a matching line gives the class, even when a completion marker follows (a kernel
  panic after the login prompt, a full disk that broke the services of a booted system). With no such line, a
  completion marker (``OK_MARKERS``: systemd's "Reached target Multi-User System", a login prompt, SAC's "The CMD
  command is now available", the Azure VM Health Report) gives ``boot_ok``.
- Windows only: ``LOOP_BOOTS`` boots or more in the window and none of the last ones completed is ``boot_loop``
  (the reboot loop of learn windows/troubleshoot-reboot-loop; the count is [inferred]).
- Anything else is ``boot_unknown``: a log is never guessed from.

What is returned of the log: only lines a pattern matched, at most ``max_evidence`` of them, each cut to
``MAX_EVIDENCE_LINE`` characters. A serial log can hold anything a guest printed (a script echoing a token), but
no pattern matches such a line: the evidence is kernel, systemd, boot loader and stop-screen messages, so it is
not scrubbed further; the log itself is never returned.

Public names: ``classify(text, os_type=None, generation=None, max_evidence=MAX_EVIDENCE) -> dict`` (``class``,
``reason``, ``evidence``, ``remedy``, ``source``, ``rule``, ``os``, ``boots``); ``clean_lines(text)``,
``boot_starts(lines, os_type=None) -> (starts, oses)``; ``MAX_EVIDENCE``, ``MAX_EVIDENCE_LINE``,
``MAX_SCAN_CHARS``, ``MAX_SCAN_LINE``, ``LOOP_BOOTS``, ``LOOP_SOURCE``.
"""

from __future__ import annotations

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_rules import (
    BOOT_MARKERS,
    LEARN,
    OK_MARKERS,
    RULES,
)

MAX_EVIDENCE = 8
MAX_EVIDENCE_LINE = 200
MAX_SCAN_CHARS = 1024 * 1024
MAX_SCAN_LINE = 1000
LOOP_BOOTS = 3
LOOP_SOURCE = LEARN + 'windows/troubleshoot-reboot-loop'

# CSI / OSC / two-character escape sequences, then what is left of the control characters (tab kept).
_ESCAPES = re.compile(r'\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]')
_CONTROL = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_OS_NAMES = {'linux': 'Linux', 'windows': 'Windows'}


def _os_name(os_type):
    return _OS_NAMES.get(str(os_type or '').strip().lower())


def clean_lines(text, max_chars=MAX_SCAN_CHARS):
    """The log's last ``max_chars`` characters as lines, without escape sequences and control characters, each
    cut to ``MAX_SCAN_LINE`` characters (a cut at the window's start drops the partial first line)."""
    text = str(text or '')
    if len(text) > max_chars:
        text = text[-max_chars:]
        text = text[text.find('\n') + 1 :] if '\n' in text else text
    text = _CONTROL.sub('', _ESCAPES.sub('', text.replace('\r\n', '\n').replace('\r', '\n')))
    return [line[:MAX_SCAN_LINE] for line in text.split('\n')]


def boot_starts(lines, os_type=None):
    """(index of each line that starts a boot, the set of OSes whose markers were seen).

    A marker starts a new boot unless the current boot has only seen markers of an earlier stage (GRUB's banner,
    then the kernel's, are one boot)."""
    wanted = _os_name(os_type)
    markers = [m for m in BOOT_MARKERS if wanted in (None, m['os'])]
    starts, oses, stage = [], set(), None
    for index, line in enumerate(lines):
        for marker in markers:
            if marker['pattern'].search(line):
                oses.add(marker['os'])
                if stage is None or marker['stage'] <= stage:
                    starts.append(index)
                stage = marker['stage']
                break
    return starts, oses


def _matching(lines, patterns):
    """[(index, line)] of the lines one of ``patterns`` matches."""
    if not patterns:
        return []
    return [(i, line) for i, line in enumerate(lines) if any(p.search(line) for p in patterns)]


def _trim(line):
    line = line.strip()
    return line if len(line) <= MAX_EVIDENCE_LINE else line[: MAX_EVIDENCE_LINE - 3] + '...'


def _evidence(deciding, supporting, limit):
    """The deciding lines first, then supporting ones, at most ``limit``, in the log's order."""
    chosen = dict(deciding[:limit])
    for index, line in supporting:
        if len(chosen) >= limit:
            break
        chosen.setdefault(index, line)
    return [_trim(chosen[i]) for i in sorted(chosen)]


def _first_rule(lines, os_name, limit):
    """(rule, evidence) of the first rule with a matching line, or (None, [])."""
    for rule in RULES:
        if os_name and rule['os'] != os_name:
            continue
        deciding = _matching(lines, rule['patterns'])
        if deciding:
            return rule, _evidence(deciding, _matching(lines, rule['support']), limit)
    return None, []


def _ok_marker(lines, os_name, limit):
    """(marker, evidence) of the completion markers found in ``lines``, or (None, [])."""
    markers = [m for m in OK_MARKERS if os_name in (None, m['os'])]
    hits = _matching(lines, [m['pattern'] for m in markers])
    if not hits:
        return None, []
    last = hits[-1][1]
    marker = next(m for m in markers if m['pattern'].search(last))
    return marker, _evidence(hits[-limit:], [], limit)


def _result(cls, reason, evidence, remedy, source, rule, os_name, boots):
    return {
        'class': cls,
        'reason': reason,
        'evidence': evidence,
        'remedy': remedy,
        'source': source,
        'rule': rule,
        'os': os_name,
        'boots': boots,
    }


def _where(boots):
    return ' (the last of %d boots in the log)' % boots if boots > 1 else ''


def _loop(lines, starts, os_name, limit):
    """The Windows reboot loop: evidence (the last boots' start lines), or None."""
    if os_name != 'Windows' or len(starts) < LOOP_BOOTS:
        return None
    recent = starts[-LOOP_BOOTS:]
    if _ok_marker(lines[recent[0] :], os_name, 1)[0] is not None:
        return None
    return [_trim(lines[i]) for i in starts[-limit:]]


def classify(text, os_type=None, generation=None, max_evidence=MAX_EVIDENCE):
    """The triage of a serial console log: ``{class, reason, evidence, remedy, source, rule, os, boots}``.

    ``os_type``: 'Linux' / 'Windows' from the VM model (None: from the log's boot markers, else every rule);
    ``generation``: the VM's hyperVGeneration ('V1' / 'V2'), which picks efifix over grubfix for GRUB on V2.
    ``class`` is one of ``serial_rules.CLASSES``; ``remedy`` a key of ``serial_rules.REMEDIES``; ``rule`` the
    deciding rule's name (None for boot_unknown); ``boots`` how many boots the window holds.
    """
    limit = max(1, int(max_evidence))
    lines = clean_lines(text)
    starts, oses = boot_starts(lines, os_type)
    os_name = _os_name(os_type) or (next(iter(oses)) if len(oses) == 1 else None)
    boots = len(starts)
    last = lines[starts[-1] :] if starts else lines
    rule, evidence = _first_rule(last, os_name, limit)
    if rule is not None:
        remedy = rule.get('remedy_v2') if str(generation or '').upper() == 'V2' and rule.get('remedy_v2') else None
        return _result(
            rule['cls'],
            rule['reason'] + _where(boots),
            evidence,
            remedy or rule['remedy'],
            rule['source'],
            rule['name'],
            os_name or rule['os'],
            boots,
        )
    marker, evidence = _ok_marker(last, os_name, limit)
    if marker is not None:
        reason = 'the last boot completed (%s)' % marker['excerpt'].strip() + _where(boots)
        return _result('boot_ok', reason, evidence, 'none', marker['source'], None, os_name or marker['os'], boots)
    evidence = _loop(lines, starts, os_name, limit)
    if evidence is not None:
        reason = 'Windows started %d times in the log and none of the last %d boots completed' % (boots, LOOP_BOOTS)
        return _result('boot_loop', reason, evidence, 'lastknowngood', LOOP_SOURCE, 'reboot_loop', os_name, boots)
    if not any(line.strip() for line in lines):
        reason = 'the serial log is empty: nothing was printed since boot diagnostics was turned on'
    else:
        reason = 'no known boot failure and no boot completion in the last boot' + _where(boots)
    return _result('boot_unknown', reason, [], 'none', None, None, os_name, boots)
