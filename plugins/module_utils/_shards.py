# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A batch's subscriptions over several processes (private: may change without notice).

Why: a batch runs in one Python process, whose threads take turns on one core (the GIL). At 10,000 VMs over 10
subscriptions the key reset's batch process was busy on that one core for most of its run (333 s for a floor of
185 s, docs/performance.md "Shares of a batch") while the controller's other cores idled: the HTTP stack costs
about 4 ms of CPU per request. Azure throttles per principal and subscription, so a batch's subscriptions can be
split over processes without two pacers sharing a bucket: each subscription goes to exactly one process, whole.

Each share runs in a child forked from the batch's process (``work`` makes what the child needs: the key reset's
runner gives each child a client, a pacer and a preflight gate of its own), streams each target's result back as
soon as it is done, and ends with what the caller wants merged (``work``'s return value). A child that dies leaves its targets without a result: the
caller fails them. A child ends when its parent is gone (the batch cancelled): it never goes on calling Azure for
a run nobody reads.

Public names (kept stable):

- ``MAX_SHARES``: the most processes one batch is split over.
- ``share_count()``: how many processes a batch may use here (the CPUs this process may run on, at most
  ``MAX_SHARES``).
- ``split(items, lane, shares) -> [[item, ...], ...]``: whole lanes (``lane(item)``: the subscription) per share,
  the largest lane first to the share with the fewest items; fewer shares when there are fewer lanes; items keep
  their order within a share.
- ``run_shares(shares, work, deliver) -> [value or None, ...]``: ``work(share, send)`` in one forked child per
  share, ``send(index, result)`` reaching ``deliver(index, result)`` in this process (from this thread) as each
  target is done; returns each child's ``work`` return value (None for a child that died), in the order of
  ``shares``.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Connection, wait

MAX_SHARES = 8
_WATCH_SECONDS = 0.5


def share_count():
    """The CPUs this process may run on (its affinity; else the machine's), at most MAX_SHARES."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_SHARES, cpus))


def split(items, lane, shares):
    """Whole lanes per share, largest first to the least loaded share; empty shares dropped."""
    lanes = {}
    for item in items:
        lanes.setdefault(lane(item), []).append(item)
    count = max(1, min(int(shares), len(lanes)))
    out = [[] for _share in range(count)]
    for members in sorted(lanes.values(), key=len, reverse=True):
        min(out, key=len).extend(members)
    order = dict((id(item), n) for n, item in enumerate(items))
    return [sorted(share, key=lambda item: order[id(item)]) for share in out if share]


def _watch_parent(parent):
    """End this child when the process that forked it is gone."""
    while True:
        time.sleep(_WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(3)


def _child(share, work, conn, parent):
    """The forked child's whole life: ``work``, its results and end sent over ``conn``; never returns."""
    code = 0
    lock = threading.Lock()

    def send(index, result):
        with lock:
            conn.send(('result', index, result))

    try:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
        value = work(share, send)
        with lock:
            conn.send(('end', value))
    except BaseException:  # pylint: disable=broad-except  # the parent fails this share's targets left
        code = 1
    finally:
        os._exit(code)


def run_shares(shares, work, deliver):
    """Run ``work`` over each share in a forked child; see the module docstring."""
    parent = os.getpid()
    ends = [None] * len(shares)
    open_conns = {}
    for n, share in enumerate(shares):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            for other in open_conns:
                other.close()
            _child(share, work, Connection(write_fd, readable=False), parent)
        os.close(write_fd)
        open_conns[Connection(read_fd, writable=False)] = (n, pid)
    while open_conns:
        for conn in wait(list(open_conns)):
            n, pid = open_conns[conn]
            try:
                message = conn.recv()
            except (EOFError, OSError):
                conn.close()
                del open_conns[conn]
                os.waitpid(pid, 0)
                continue
            if message[0] == 'result':
                deliver(message[1], message[2])
            elif message[0] == 'end':
                ends[n] = message[1]
    return ends
