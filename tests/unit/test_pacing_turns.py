"""Issue 25: requests of one client waiting for their turn in a shared bucket (``Pacer._take_turn``) wait one at a
time per gateway bucket; the others block on the bucket's lock instead of each polling the same turn (with 64
workers that polling was about 1 ms of controller CPU per request). The pace itself is the bucket's, unchanged."""

import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _pacing

SUB = '00000000-0000-0000-0000-000000000001'
VM = 'https://arm.example/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d'
GAP = 0.03  # seconds between two turns in the test's bucket


def test_waiting_requests_take_their_turns_one_at_a_time(monkeypatch):
    # a bucket shared with other clients: the next turn is one GAP after the last one taken
    monkeypatch.setattr(_pacing._Bucket, 'turn', lambda self, now, reserve: max(0.0, self._last_slot + GAP - now))
    monkeypatch.setattr(_pacing._Bucket, 'opening', lambda self: True)  # past slow start (test_pacing_slow_start.py)
    sleeps = []
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            sleeps.append(seconds)
        time.sleep(seconds)

    pacer = _pacing.Pacer(sleep=sleep)
    started = time.monotonic()  # the pacer's clock
    tickets = [pacer.acquire('GET', VM % (SUB, 0))]  # the bucket exists, its last turn is now
    taken = []

    def request(i):
        keys = pacer.acquire('GET', VM % (SUB, i))
        with lock:
            taken.append(keys.sent)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken.sort()
    assert len(taken) == 8 and len(tickets) == 1
    # the pace holds: eight more turns take at least eight gaps. A bound from below only: on a busy machine a thread
    # may note its send time late, so the gap between two noted times is not the pace (it failed so under make test)
    assert taken[-1] - started >= 8 * GAP * 0.99, (started, taken)
    # one sleep per turn at most (the first request's included): only the request whose turn is next waits on the
    # clock; eight requests each polling the same turn slept 8 + 7 + ... + 1 = 36 times
    assert len(sleeps) <= 9, sleeps


def test_buckets_of_other_subscriptions_do_not_wait_behind_each_other(monkeypatch):
    monkeypatch.setattr(_pacing._Bucket, 'turn', lambda self, now, reserve: 0.0)
    pacer = _pacing.Pacer(sleep=lambda s: None)
    other = '00000000-0000-0000-0000-000000000002'
    a = pacer.acquire('GET', VM % (SUB, 1))
    b = pacer.acquire('GET', VM % (other, 1))
    assert a[0] != b[0] and len(pacer._turn_locks) == 2
