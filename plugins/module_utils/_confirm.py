# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Confirm a write by reading the resource, with a first read timed from what the batch learned (private).

Why: an ARM long-running operation waited for with ARMPolling costs operation-status polls plus a final GET, and
the caller usually reads the resource once more for what it needs (the guest's key status, the handler's
message). Every one of those is a gateway read (25/s per principal after a burst of 250): at fleet scale they,
not the client, set the run time. Writing with ``lro=False`` and reading the resource itself until it shows the
outcome needs about one read per target when the first read comes when the outcome usually shows up.

Public names (kept stable):

- ``ConfirmTiming``: per-batch learned latency (a TaskSpec's ``shared`` state, or part of it); thread-safe.
- ``wait_for(probe, timeout, timing=None, sleep=time.sleep, clock=time.monotonic) -> (done, value)``; ``probe()``
  returns ``(True|False|STALE, value)``. ``wait_steps(probe, timeout, timing=None, clock=...)``: the same as a step
  generator (yields delays, returns ``(done, value)``); ``drive(steps, sleep)`` runs one in the calling thread.
- ``STALE``: what a probe returns as ``done`` when the read still shows the state from before the write (Azure's
  instance view lags the model): a miss of its own kind that says nothing about the latency.
- ``POLL_MAX``: the longest gap between two reads, in seconds.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from ansible_collections.vmrescue.azure.plugins.module_utils._batch import Signal, Wait

# Reads while waiting: the first after the learned latency (ConfirmTiming), then gaps that double up to POLL_MAX
# seconds. The Compute "low cost get" bucket refills 12 reads per minute per VM (36 burst), so these gaps never
# drain it.
POLL_MAX = 15


STALE = 'stale'  # a probe's "done" for a read that shows the state from before the write
STALE_PROBE = 1.0  # seconds: the first read when the batch learned that first reads are stale anyway
MIN_GAP = 1.0  # seconds between two reads of one target
# Until one target of the batch was confirmed, only SCOUTS targets read; the others wait without a request for what
# the scouts learn (a pipelined batch starts every target before any is confirmed, so without this each would back
# off alone: ~12 reads per VM at a 90 s relatch), and read on their own after LEARN_WAIT_MAX. They are woken when
# the batch's timing changes (``ConfirmTiming.changed``), and look again at least every LEARN_CHECK seconds. (They
# looked every 2 s: at a 90 s relatch that was 34 steps per VM, half the batch's CPU at Azure's latencies.)
SCOUTS = 2
# While fewer than WARMUP targets were confirmed, expected() is the latest confirmation time seen (an upper bound),
# not the running quantile: the targets that waited for the scouts all take their delay from the first
# confirmation at once, and the scouts' learned values (the middle of a back-off gap of up to POLL_MAX) can be
# below the latency, which made most of the batch read once too early (one more read and POLL_MAX more each).
WARMUP = SCOUTS + 1
LEARN_CHECK = 20.0
# A confirmation on the first informative read records PROBE_DOWN x its planned time: the learned delay probes
# slowly downwards (a latency that shrinks is followed). 0.95 probed so fast that about one read in five came
# before the guest had latched (a fourth read for those VMs at 5000 VMs); 0.99 misses about one in forty.
PROBE_DOWN = 0.99
LEARN_WAIT_MAX = 150.0


class ConfirmTiming:
    """How long a write takes to show in what is read back, learned over the targets of one batch.

    ``expected()``: when the outcome is expected to show after the write was accepted: ``initial`` (a conservative
    guess) until a target was confirmed, then a running upper quantile (``QUANTILE``, 0.8) of the last ``window``
    observations. What a target teaches:

    - confirmed on its first informative read at ``t``, planned for ``d`` (``t`` > ``d`` when it waited for a worker
      or the pacer): the latency is at most ``t``; ``PROBE_DOWN`` x min(``t``, ``d``) is recorded (probe slowly
      downwards);
    - confirmed at ``t`` after a read at ``m`` that missed: the latency is in (``m``, ``t``]; the middle is
      recorded. The gap after a miss is the back-off, so recording ``t`` would make the next target's first read
      later by this target's own back-off, and the next back-off longer again: with reads that miss for a reason
      other than latency, the learned delay grew without bound (issue 11);
    - a STALE read (the status from before the write) says nothing about the latency: it is not a miss, and it is
      not recorded as one. When most first reads are stale, ``first_delay()`` reads first after ``STALE_PROBE``
      seconds (that read is stale anyway) and the next one at ``expected()``: two reads per target.

    With the median, the probes would settle at one miss in two (2.5 reads per target); the 0.8 quantile settles
    near one in five and still follows a latency that shrinks or grows. Thread-safe (the workers of a batch share one).

    ``changed`` (a ``_batch.Signal``) fires when what a waiting target waits for changes: the first confirmation,
    first reads turning mostly stale, a scout's place given back.
    """

    QUANTILE = 0.8

    def __init__(self, initial=2.0, window=15):
        self.initial = float(initial)
        self._seen = collections.deque(maxlen=window)
        self._upper = []  # confirmation times (upper bounds of the latency) during the warm-up
        self._first_stale = collections.deque(maxlen=window)
        self._scouts = 0
        self._lock = threading.Lock()
        self.changed = Signal()

    def learned(self):
        """True once a target of the batch was confirmed."""
        with self._lock:
            return bool(self._seen)

    def scout(self):
        """Truthy when this target should read before anything was learned (one of SCOUTS at a time): ``'scout'``
        when it took a scout's place (give it back with ``release_scout`` if it ends unconfirmed), ``True`` once
        something was learned (everyone reads), else False."""
        with self._lock:
            if self._seen:
                return True
            if self._scouts < SCOUTS:
                self._scouts += 1
                return 'scout'
            return False

    def release_scout(self):
        """A scout ended without a confirmation (its VM stopped, its handler failed, it timed out): a waiting target
        takes its place, instead of every other target waiting LEARN_WAIT_MAX for what it would never learn."""
        with self._lock:
            self._scouts = max(0, self._scouts - 1)
        self.changed.fire()

    def expected(self):
        with self._lock:
            if not self._seen:
                return self.initial
            if len(self._upper) < WARMUP:
                return max(self._upper)
            ordered = sorted(self._seen)
            return ordered[min(len(ordered) - 1, int(self.QUANTILE * len(ordered)))]

    def stale_first(self):
        """True when most first reads of the batch were stale (the instance view lags the writes)."""
        with self._lock:
            return sum(self._first_stale) * 2 > len(self._first_stale) > 0

    def first_delay(self):
        """When to read first: early when first reads are mostly stale (that read is spent anyway), else expected()."""
        expected = self.expected()
        return min(STALE_PROBE, expected) if self.stale_first() else expected

    def first_read(self, stale):
        """Record whether a target's first read was stale."""
        was = self.stale_first()
        with self._lock:
            self._first_stale.append(bool(stale))
        if not was and self.stale_first():
            self.changed.fire()

    def observe(self, seconds, first_read, missed_at=None, due=None):
        """A confirmation ``seconds`` after the write; ``missed_at``: when the last informative read missed;
        ``due``: when that read was planned (a read that waited for a worker or the pacer came later than planned,
        and the latency is at most the plan: recording the late time made the learned delay creep up by the queueing
        delay, without bound under load)."""
        if first_read:
            value = min(seconds, due if due is not None else seconds) * PROBE_DOWN
        elif missed_at is None:
            value = seconds
        else:
            value = missed_at + (seconds - missed_at) / 2.0
        with self._lock:
            first = not self._seen
            self._seen.append(max(0.2, value))
            if len(self._upper) < WARMUP:
                self._upper.append(float(seconds))
        if first:
            self.changed.fire()

    @staticmethod
    def backoff(expected, misses):
        """The wait before the next read after ``misses`` unconfirmed reads."""
        return min(POLL_MAX, max(MIN_GAP, 0.5 * expected) * (2 ** (misses - 1)))


def drive(steps: Generator, sleep: Callable = time.sleep) -> Any:
    """Run a step generator in this thread: sleep for each delay it yields (a ``Wait`` ends early when its signal
    fires, unless ``sleep`` is a caller's own); return what it returns."""
    try:
        delay = next(steps)
        while True:
            signal = getattr(delay, 'signal', None)
            if signal is not None and sleep is time.sleep:
                signal.wait(float(delay), delay.version)
            else:
                sleep(delay)
            delay = steps.send(None)
    except StopIteration as stop:
        return stop.value


def wait_for(
    probe: Callable,
    timeout: float,
    timing: ConfirmTiming | None = None,
    sleep: Callable = time.sleep,
    clock: Callable = time.monotonic,
) -> tuple[bool, Any]:
    """Call ``probe() -> (done, value)`` until ``done`` is True or ``timeout`` seconds have passed; ``(done, value)``.

    ``wait_steps`` driven in this thread (``drive``): see there for the timing of the reads.
    """
    return tuple(drive(wait_steps(probe, timeout, timing=timing, clock=clock), sleep))


def wait_steps(
    probe: Callable, timeout: float, timing: ConfirmTiming | None = None, clock: Callable = time.monotonic
) -> Generator:
    """``wait_for`` as a step generator: yields the seconds to wait before each read, returns ``(done, value)``.

    Until a target of the batch was confirmed, only the first ``SCOUTS`` targets read; the others wait for what
    they learn (checking every ``LEARN_CHECK`` s, no request), except that once the scouts' first reads were stale
    each of them spends its own stale read ``STALE_PROBE`` s after its write (spread with the writes, not all at
    once when the delay is learned) and reads next at the learned delay. The first call comes ``timing.first_delay()`` seconds
    after this one starts (at once when that is past); after a STALE read the next comes
    at ``timing.expected()`` after the start (at least ``MIN_GAP`` later); after a miss, reads back off
    (``ConfirmTiming.backoff``). A confirmation is recorded in ``timing``. ``probe`` raises to stop with an error (a
    failed provisioning state, a VM that stopped). ``value`` is the last probe's (None if none ran). A batch
    scheduler (``_batch.run_pipelined``) runs the reads of many targets without a thread per waiting target.
    """
    timing = timing or ConfirmTiming()
    start = clock()
    deadline = start + max(0, timeout)
    scout = [timing.scout()]
    confirmed = False
    try:
        result = yield from _read_until(probe, timing, start, deadline, clock, scout)
        confirmed = result[0] is True
        return result
    finally:
        if scout[0] == 'scout' and not confirmed:
            # A scout ended without a confirmation (its VM stopped, its handler failed, it timed out): a waiting
            # target takes its place, instead of every other target waiting LEARN_WAIT_MAX for nothing.
            timing.release_scout()


def _read_until(probe, timing, start, deadline, clock, scout):
    """wait_steps' reads; ``scout[0]`` says whether this target holds a scout's place (updated when it takes one)."""
    seen = _Reads()
    result = yield from _wait_to_learn(probe, timing, start, deadline, clock, scout, seen)
    if result is not None:
        return result
    return (yield from _read_with_back_off(probe, timing, start, deadline, clock, seen))


class _Reads:
    """What one target's reads found so far: reads made, misses, when the last miss was (s after the write), the
    last probe's value."""

    def __init__(self):
        self.misses = 0
        self.reads = 0
        self.missed_at = None
        self.value = None


def _wait_to_learn(probe, timing, start, deadline, clock, scout, seen):
    """Before anything was learned and while this target is no scout: wait, without reading, for what the scouts
    learn (or for a scout's place, when one ended unconfirmed), spending only an early stale read. Returns
    ``(done, value)`` when the target is finished here, else None (``seen`` has the early read's outcome)."""
    while True:
        version = timing.changed.version  # before looking: a change after it wakes the Wait below
        if scout[0] or timing.learned() or clock() - start >= LEARN_WAIT_MAX:
            return None
        remaining = deadline - clock()
        if remaining <= 0:
            return False, None
        if seen.reads == 0 and timing.stale_first():
            # The scouts' first reads were stale: this target's stale read is spent anyway, so spend it now,
            # STALE_PROBE after its write, while the batch is still writing. Kept for when the delay is
            # learned, all targets waiting then would spend it at once and crowd the confirming reads.
            early = start + STALE_PROBE - clock()
            if early > 0:
                yield min(early, remaining)
                continue
            done, seen.value = probe()
            seen.reads = 1
            timing.first_read(done == STALE)
            if done is True:
                timing.observe(clock() - start, first_read=True)
                return True, seen.value
            if done != STALE:
                seen.misses, seen.missed_at = 1, clock() - start
            continue
        yield Wait(min(LEARN_CHECK, remaining, start + LEARN_WAIT_MAX - clock()), timing.changed, version)
        scout[0] = timing.scout()


def _read_with_back_off(probe, timing, start, deadline, clock, seen):
    """The reads once the target may read: the first at the learned delay, then after a STALE read at the learned
    delay again, after a miss backing off; returns ``(done, value)``."""
    misses, reads, missed_at, value = seen.misses, seen.reads, seen.missed_at, seen.value
    if reads:  # the early read was spent: the next one at the learned delay
        delay = max(0.0, start + max(timing.expected(), STALE_PROBE + MIN_GAP) - clock())
    else:
        delay = max(0.0, start + timing.first_delay() - clock())
    planned = clock() - start + delay
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False, value
        yield min(delay, remaining)
        if misses == 0 and (reads or not timing.stale_first()):
            # Planned up to a relatch (~100 s) ago: when misses of other targets have since raised the learned
            # delay, read at the new one. Without this, the thousands of reads planned before the first miss all
            # came too early too (a fourth read for one VM in five at 5000 VMs).
            later = start + timing.expected() - clock()
            if later >= MIN_GAP and clock() + later < deadline:
                delay, planned = later, clock() - start + later
                continue
        done, value = probe()
        reads += 1
        now = clock() - start
        if reads == 1:
            timing.first_read(done == STALE)
        if done is True:
            timing.observe(now, first_read=misses == 0, missed_at=missed_at, due=planned)
            return True, value
        if done == STALE and misses == 0:
            delay = max(MIN_GAP, timing.expected() - now)
            planned = now + delay
            continue
        misses += 1
        missed_at = now
        delay = timing.backoff(timing.expected(), misses)
