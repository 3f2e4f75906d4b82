# -*- coding: utf-8 -*-
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
- ``wait_for(probe, timeout, timing=None, sleep=time.sleep, clock=time.monotonic) -> (done, value)``.
- ``POLL_MAX``: the longest gap between two reads, in seconds.
"""

from __future__ import annotations

import collections
import threading
import time

# Reads while waiting: the first after the learned latency (ConfirmTiming), then gaps that double up to POLL_MAX
# seconds. The Compute "low cost get" bucket refills 12 reads per minute per VM (36 burst), so these gaps never
# drain it.
POLL_MAX = 15


class ConfirmTiming(object):
    """How long a write takes to show in what is read back, learned over the targets of one batch.

    ``expected()``: when to read first after the write was accepted: ``initial`` (a conservative guess) until a
    target was confirmed, then a running upper quantile (``QUANTILE``, 0.8) of the last ``window`` observations.
    A confirmation on the first read records 0.95 x the wait (the true latency is at most that: probe slowly
    downwards); one after misses records the time it was seen. With the median, the probes would settle at one
    miss in two (2.5 reads per target); the 0.8 quantile settles near one in five and still follows a latency
    that shrinks or grows. Thread-safe (the workers of a batch share one).
    """

    QUANTILE = 0.8

    def __init__(self, initial=2.0, window=15):
        self.initial = float(initial)
        self._seen = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def expected(self):
        with self._lock:
            if not self._seen:
                return self.initial
            ordered = sorted(self._seen)
            return ordered[min(len(ordered) - 1, int(self.QUANTILE * len(ordered)))]

    def observe(self, seconds, first_read):
        with self._lock:
            self._seen.append(max(0.2, seconds * 0.95 if first_read else seconds))

    @staticmethod
    def backoff(expected, misses):
        """The wait before the next read after ``misses`` unconfirmed reads."""
        return min(POLL_MAX, max(1.0, 0.5 * expected) * (2 ** (misses - 1)))


def wait_for(probe, timeout, timing=None, sleep=time.sleep, clock=time.monotonic):
    """Call ``probe() -> (done, value)`` until ``done`` or ``timeout`` seconds have passed; return ``(done, value)``.

    The first call comes ``timing.expected()`` seconds after this one starts, later ones back off
    (``ConfirmTiming.backoff``); a confirmation is recorded in ``timing``. ``probe`` raises to stop with an error
    (a failed provisioning state, a VM that stopped). ``value`` is the last probe's (None if none ran).
    """
    timing = timing or ConfirmTiming()
    start = clock()
    deadline = start + max(0, timeout)
    delay = timing.expected()
    misses = 0
    value = None
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False, value
        sleep(min(delay, remaining))
        done, value = probe()
        if done:
            timing.observe(clock() - start, first_read=misses == 0)
            return True, value
        misses += 1
        delay = timing.backoff(timing.expected(), misses)
