"""A tiny, deterministic script interpreter for the simulated guests' Run Command (runcommand.py calls it).

It runs nothing real: each line of a script is one of a handful of commands whose effect the tests need, enough
to give a run its exit code, its stdout / stderr, and how long it takes. Everything here is the simulator's own
choice ([inferred] as a whole: a stand-in for bash / PowerShell, not a model of them).

- ``echo TEXT`` / ``printf TEXT`` (bash), ``Write-Output TEXT`` / ``Write-Host TEXT`` (PowerShell): TEXT to stdout;
  ``echo TEXT >&2`` / ``1>&2`` and ``Write-Error TEXT``: to stderr. TEXT loses one level of quotes; ``$NAME`` /
  ``${NAME}`` / ``$env:NAME`` are the run's named parameters, ``$1``.. the positional ones.
- ``exit N`` (either shell): stop, exit code N. Without it the exit code is 0.
- ``sleep N`` / ``Start-Sleep [-Seconds] N``: the run takes N more seconds (times the simulator's
  ``script_time_scale``).
- ``# armsim: output N``: N bytes of stdout (lines of ``x``), to exceed the 4 KB tail; ``# armsim: error N``
  the same on stderr. Any other comment (``#`` ...) and empty lines do nothing; so does any other command.

- A script of the role guest_repair (its header line ``# vmrescue.azure guest_repair``) is not interpreted line by
  line: ``guestrepair.run_repair`` models its recipes on the machine's guest (``machine``; without one the script
  is interpreted as any other). Nor is an offline rescue script (header ``# vmrescue.azure offline_rescue``):
  ``offline_repair.run_offline`` models it on the disk at the rescue VM's LUN it names; its unlock script (header
  ``# vmrescue.azure offline_rescue unlock``) is ``ade.run_unlock``'s.

Public names: ``ScriptRun(exit_code, stdout, stderr, seconds)``, ``run_script(text, named=None, positional=(),
os_type='linux', time_scale=1.0, machine=None)``.
"""

import dataclasses
import re

from .ade import run_unlock
from .guestrepair import run_repair
from .offline_repair import run_offline

_VAR = re.compile(r'\$\{(\w+)\}|\$env:(\w+)|\$(\w+)')
_MARKER = re.compile(r'#\s*armsim:\s*(output|error)\s+(\d+)\s*$', re.IGNORECASE)
_TO_STDERR = re.compile(r'\s*(1?>&2)\s*$')


@dataclasses.dataclass
class ScriptRun:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def _expand(text, named, positional):
    def sub(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name.isdigit():
            index = int(name) - 1
            return positional[index] if 0 <= index < len(positional) else ''
        for key, value in named.items():
            if key.lower() == name.lower():
                return value
        return ''

    return _VAR.sub(sub, text)


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '\'"':
        return text[1:-1]
    return text


def _filler(size):
    line = 'x' * 63 + '\n'
    return (line * (size // 64 + 1))[:size]


def _number(text, default=0.0):
    try:
        return float(text)
    except ValueError:
        return default


def run_script(text, named=None, positional=(), os_type='linux', time_scale=1.0, machine=None):
    """Run ``text`` (one command a line) -> ScriptRun. ``named``: {name: value}; ``positional``: values."""
    named = dict(named or {})
    repaired = run_repair(text, machine, named) if machine is not None else None
    if repaired is None and machine is not None:
        repaired = run_unlock(text, machine, named)  # before run_offline: its header starts with run_offline's
    if repaired is None and machine is not None:
        repaired = run_offline(text, machine, named)
    if repaired is not None:
        return ScriptRun(repaired[0], repaired[1], repaired[2], 0.0)
    out, err, seconds = [], [], 0.0
    for raw in (text or '').splitlines():
        line = raw.strip()
        marker = _MARKER.match(line)
        if marker:
            (out if marker.group(1).lower() == 'output' else err).append(_filler(int(marker.group(2))))
            continue
        if not line or line.startswith('#'):
            continue
        word, _sep, rest = line.partition(' ')
        low = word.lower()
        if low == 'exit':
            return ScriptRun(int(_number(rest.strip() or '0')), ''.join(out), ''.join(err), seconds)
        if low in ('sleep', 'start-sleep'):
            value = rest.replace('-Seconds', '').replace('-seconds', '').strip()
            seconds += max(0.0, _number(value)) * float(time_scale)
            continue
        if low in ('echo', 'printf', 'write-output', 'write-host', 'write-error'):
            stream = err if low == 'write-error' else out
            redirect = _TO_STDERR.search(rest)
            if redirect:
                rest, stream = rest[: redirect.start()], err
            words = _expand(_unquote(rest), named, positional)
            stream.append(words + ('' if low == 'printf' else '\n'))
    return ScriptRun(0, ''.join(out), ''.join(err), seconds)
