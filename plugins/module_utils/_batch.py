# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch mode: many targets in one task, one process (private: may change without notice).

Every module of the collection that works on one VM (a ``_task.TaskSpec`` with ``target=True``) also accepts
``targets``: a list of VM / Uniform instance resource IDs, or of dicts with the usual target keys. The targets
are processed by ``concurrency`` worker threads that share one credential (one token), one ``ArmClient`` (one
connection pool of ``concurrency`` connections, one pacer) and the spec's per-batch shared state. A single
target is a batch of one: the same code runs.

Public names (kept stable):

- ``BATCH_OPTIONS`` (argspec: ``targets``, ``concurrency``, ``background``, ``report``: the run report's path),
  ``BATCH_MUTUALLY_EXCLUSIVE``, ``DEFAULT_CONCURRENCY``,
  ``MAX_CONCURRENCY``, ``concurrency_error(value, option='concurrency') -> str | None`` (the refusal of an out-of-range value).
- ``parse_targets(items) -> [(Target | None, error | None, label)]``: validation of each item, no network. An
  empty item (None or '') is "no target" (the same message as a task without a target).
- ``run_ordered(func, items, concurrency) -> list``: ``func(item)`` for every item on at most ``concurrency``
  threads; results in input order; an exception is returned in place of its result (never raised).
- ``run_pipelined(start, items, concurrency, clock=time.monotonic, lane=None) -> list``: ``start(item)`` returns
  a step generator (it yields the seconds until its next step, returns its result); the steps of all items run on
  at most ``concurrency`` threads per lane (``lane(item)``: the subscription), each when it is due (a heap of due
  times); an item waiting for its next step holds no thread. Results (or exceptions) in input order. A step may
  yield a ``Wait`` instead of plain seconds: it is then also due as soon as the ``Wait``'s signal fires.
- ``Signal``: what waiting steps wait for (``fire()`` wakes them; ``version`` counts the fires; ``wait(timeout,
  version)`` blocks a thread until the next fire after ``version``). ``Wait(seconds, signal, version)``: a ``float``
  of at most ``seconds``, over early when ``signal`` fired after ``version`` (taken before the step checked what
  it waits for: a fire in between is not lost).
- ``summarize(results, message=None) -> dict``: the task result of a batch (``changed`` = any, ``results``,
  counts, ``msg``: the domain's ``message(results)`` when it has one, else the counts; ``failed`` only when no
  target was valid).
"""

from __future__ import annotations

import collections
import heapq
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TARGET_OPTION_NAMES,
    Target,
    TargetError,
    parse_resource_id,
    target_from_params,
)

# The default bounds how many targets are in flight at once. Each target mostly waits (for the guest to latch,
# for the handler to run), so this is not bound by the controller's CPUs; it is about the throttling buckets:
# enough targets in flight to keep Resource Manager's write refill (10/s per principal) busy while each one waits
# a few seconds for its confirmation, without thousands of idle threads.
DEFAULT_CONCURRENCY = 64

# Requests in flight, not VMs: more than the gateway's read burst (250) in flight at once only queues in the
# client, and every worker holds a thread and a pooled connection.
MAX_CONCURRENCY = 250


def concurrency_error(value: object, option: str = 'concurrency') -> str | None:
    """The message refusing ``value`` for ``option``, or None when it is a whole number from 1 to MAX_CONCURRENCY."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        return (
            '%s must be a whole number from 1 to %d (requests in flight at once), got %r; leave it out for the '
            'default %d' % (option, MAX_CONCURRENCY, value, DEFAULT_CONCURRENCY)
        )
    return None


BATCH_OPTIONS = dict(
    targets=dict(type='list', elements='raw'),
    concurrency=dict(type='int', default=DEFAULT_CONCURRENCY),
    background=dict(type='bool', default=False),
    report=dict(type='path'),
)
BATCH_MUTUALLY_EXCLUSIVE = [['targets', name] for name in TARGET_OPTION_NAMES]


def parse_targets(items: Iterable) -> list[tuple[Target | None, str | None, str | None]]:
    """Validate each ``targets`` item. Returns ``[(target or None, error message or None, label)]``."""
    out = []
    for index, item in enumerate(items or []):
        label = item if isinstance(item, str) else None
        try:
            if item is None or item == '':  # e.g. a host without azure_vm_id in a list built from hostvars
                target = target_from_params({})
            elif isinstance(item, str):
                target = parse_resource_id(item, 'targets[%d]' % index)
            elif isinstance(item, dict):
                unknown = sorted(set(item) - set(TARGET_OPTION_NAMES))
                if unknown:
                    raise TargetError(
                        'targets[%d]: unknown key(s) %s; use %s'
                        % (index, ', '.join(map(str, unknown)), ', '.join(TARGET_OPTION_NAMES))
                    )
                label = item.get('vm_id') or '/'.join(str(item.get(k)) for k in TARGET_OPTION_NAMES[1:] if item.get(k))
                target = target_from_params(dict((k, item.get(k)) for k in TARGET_OPTION_NAMES))
            else:
                raise TargetError(
                    'targets[%d]: expected a resource ID or a dict of target keys, got %s'
                    % (index, type(item).__name__)
                )
        except TargetError as exc:
            text = str(exc)
            if not text.startswith('targets['):
                text = 'targets[%d]: %s' % (index, text)
            out.append((None, text, label))
            continue
        out.append((target, None, label))
    return out


def run_ordered(func: Callable, items: Sequence, concurrency: int) -> list:
    """``func(item)`` for each item with at most ``concurrency`` threads; results (or exceptions) in order."""

    def safe(item):
        try:
            return func(item)
        except Exception as exc:  # pylint: disable=broad-except
            return exc

    items = list(items)
    workers = max(1, min(int(concurrency or 1), len(items)))
    if workers == 1:
        return [safe(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='vmrescue') as pool:
        return list(pool.map(safe, items))


class Signal:
    """Something steps wait for (see the module docstring): a thread-safe count of fires and who to call at the
    next one."""

    def __init__(self):
        self._cond = threading.Condition()
        self.version = 0
        self._listeners = []

    def fire(self):
        with self._cond:
            self.version += 1
            listeners, self._listeners = self._listeners, []
            self._cond.notify_all()
        for listener in listeners:  # outside the lock: a listener takes its pipeline's
            listener()

    def listen(self, version, listener):
        """Call ``listener()`` at the next fire; False (and no call) when one came after ``version`` already."""
        with self._cond:
            if self.version != version:
                return False
            self._listeners.append(listener)
            return True

    def wait(self, timeout, version):
        """Block until a fire after ``version`` or ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version, timeout)


class Wait(float):
    """Seconds a step waits at most; over early when ``signal`` fires after ``version`` (module docstring)."""

    def __new__(cls, seconds, signal, version):
        wait = super().__new__(cls, max(0.0, seconds))
        wait.signal = signal
        wait.version = version
        return wait


def run_pipelined(
    start: Callable, items: Sequence, concurrency: int, clock: Callable = time.monotonic, lane: Callable | None = None
) -> list:
    """Run the step generators ``start(item)`` with at most ``concurrency`` steps in flight per lane; results in
    order.

    Why: a target that waits (for its guest to latch a key, for a handler) between two requests must not hold a
    worker: with threads per target the run time was ``N / concurrency x wait``. Here ``concurrency`` bounds the
    requests in flight (a step is one or a few requests, paced by the client's pacer), and waiting targets are
    entries of a heap of due times. An exception (in a step) is returned in place of that item's result.

    ``lane(item)``: the throttling scope of an item (the subscription: Azure throttles per principal per
    subscription). Each lane has its own heap and its own ``concurrency`` workers, so a step that sleeps for its
    lane's pacer or for a 429's ``Retry-After`` only holds a worker of its own lane: subscription A being
    throttled does not slow subscription B. Without ``lane``, one lane.
    """
    items = list(items)
    lanes, lane_of = _lanes(items, lane)
    cap = max(1, int(concurrency or 1))
    workers = max(1, min(cap * max(1, len(lanes)), len(items) or 1))
    run = _Pipeline(start, items, lane_of, clock)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='vmrescue') as pool:
        with run.cond:
            while run.left:
                run.cond.wait(_dispatch(lanes, cap, clock(), pool, run))
    return run.results


def _lanes(items, lane):
    """``(lanes, lane_of)``: lane key -> [heap of (when, index, push, generator) of started targets, in flight, deque
    of targets not started], and item index -> its lane's entry."""
    lanes = {}
    for index, item in enumerate(items):
        key = lane(item) if lane is not None else None
        lanes.setdefault(key, [[], 0, collections.deque()])[2].append(index)
    lane_of = {}
    for entry in lanes.values():
        for index in entry[2]:
            lane_of[index] = entry
    return lanes, lane_of


def _dispatch(lanes, cap, now, pool, run):
    """Submit ``run.step(index, generator)`` to ``pool`` for every lane's due steps, then its targets not started,
    while the lane has fewer than ``cap`` in flight (called under the pipeline's condition); return how long until
    the next step is due in a lane that has nothing else to start (None: wait for a worker to finish). A heap entry
    that is not its target's last push (the target was woken early: ``_Pipeline.wake``) is dropped."""
    wait = None
    for entry in lanes.values():
        due, fresh = entry[0], entry[2]
        # A started target whose next step is due goes before a target not started yet: otherwise
        # every confirmation waits until the last target of the lane has been written (a lane of 2000
        # VMs wrote for 180 s before its first confirmation read), and the run takes writes + reads
        # instead of the longer of the two.
        while entry[1] < cap:
            if due and due[0][0] <= now:
                _when, index, push, gen = heapq.heappop(due)
                if run.pushes[index] != push:
                    continue
            elif fresh:
                index, gen = fresh.popleft(), None
            else:
                break
            entry[1] += 1
            pool.submit(run.step, index, gen)
        if due and not fresh and entry[1] < cap:
            ahead = max(0.0, due[0][0] - now)
            wait = ahead if wait is None else min(wait, ahead)
    return wait


class _Pipeline:
    """The state one ``run_pipelined`` call shares with its workers: results, targets left, the condition."""

    def __init__(self, start, items, lane_of, clock):
        self.start = start
        self.items = items
        self.lane_of = lane_of
        self.clock = clock
        self.results = [None] * len(items)
        self.pushes = [0] * len(items)  # how often each target went back to its heap: its entries' push number
        self.left = len(items)
        self.cond = threading.Condition()

    def step(self, index, gen):
        """One step of one target (its first when ``gen`` is None), in a worker; then back to its lane."""
        try:
            if gen is None:
                gen = self.start(self.items[index])
                delay = next(gen)
            else:
                delay = gen.send(None)
        except StopIteration as stop:
            outcome = ('done', stop.value)
        except Exception as exc:  # pylint: disable=broad-except
            outcome = ('done', exc)
        else:
            outcome = ('wait', delay)
        with self.cond:
            entry = self.lane_of[index]
            entry[1] -= 1
            if outcome[0] == 'done':
                self.results[index] = outcome[1]
                self.left -= 1
            else:
                self._park(entry, index, gen, outcome[1])
            self.cond.notify()

    def _park(self, entry, index, gen, delay):
        """Back to its lane's heap, due after ``delay``; a ``Wait`` is also due when its signal fires (under cond)."""
        when = self.clock() + max(0.0, float(delay or 0))
        self.pushes[index] += 1
        signal = getattr(delay, 'signal', None)
        if signal is not None and not signal.listen(delay.version, partial(self.wake, index, self.pushes[index], gen)):
            when = self.clock()  # it fired since the step looked: due now
        heapq.heappush(entry[0], (when, index, self.pushes[index], gen))

    def wake(self, index, push, gen):
        """A signal fired for a parked target: due now, unless it moved on since (``push``)."""
        with self.cond:
            if self.pushes[index] != push:
                return
            self.pushes[index] += 1
            heapq.heappush(self.lane_of[index][0], (self.clock(), index, self.pushes[index], gen))
            self.cond.notify()


def summarize(results: list[dict], message: Callable | None = None) -> dict:
    """The task result of a batch from the per-target results (each has id, changed, failed, msg).

    ``message(results)``: the domain's own summary line for these results, or None for the generic count.
    """
    valid = [r for r in results if not r.get('invalid')]
    failed = [r for r in results if r.get('failed')]
    changed = [r for r in results if r.get('changed')]
    out = dict(
        changed=bool(changed),
        results=results,
        total=len(results),
        changed_count=len(changed),
        failed_count=len(failed),
        msg='%d target(s): %d changed, %d failed' % (len(results), len(changed), len(failed)),
    )
    special = message(results) if message is not None and results else None
    if special:
        out['msg'] = special
    if results and not valid:
        out['failed'] = True
        out['msg'] = 'no valid target: ' + '; '.join(r['msg'] for r in results)
    elif not results:
        out['msg'] = 'no targets given: nothing to do'
    diffs = [r['diff'] for r in results if r.get('diff')]
    if diffs:
        out['diff'] = diffs
    warnings = ['%s: %s' % (r.get('id'), w) for r in results for w in (r.get('warnings') or [])]
    if warnings:
        out['warnings'] = warnings
    for r in results:
        r.pop('invalid', None)
    return out
