"""Issue 25: several controllers on one principal (AWX job slices) share ARM's buckets. Each client's pacer follows
the remaining-count headers (the shared truth), not only its own count: together they send at the bucket's rate,
with no 429 the pacing did not see coming, and a lone client still gets the whole rate. A discrete-event
simulation of N clients' pacers against one token bucket as the simulator (tests/armsim/throttle.py) keeps it."""

import heapq
import math

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _pacing

SUB = '00000000-0000-0000-0000-000000000001'
URL = 'https://arm.example/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%%d' % SUB
HEADER = 'x-ms-ratelimit-remaining-subscription-reads'


@pytest.fixture(autouse=True)
def _no_first_contact(monkeypatch):
    """The simulation runs one acquire at a time, so it cannot deliver the response a first-contact wait is for
    (the waiting request would sleep SLOW_START_WAIT, which real threads do not): test_pacing_slow_start.py tests
    first contact with threads."""
    monkeypatch.setattr(_pacing, 'SLOW_START', 0)


class Bucket:
    """The gateway's bucket for one principal and subscription, as tests/armsim/throttle.py charges it."""

    def __init__(self, burst, rate):
        self.burst, self.rate, self.tokens, self.stamp = float(burst), float(rate), float(burst), 0.0

    def charge(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return 429, {'Retry-After': str(max(1, math.ceil((1 - self.tokens) / self.rate))), HEADER: '0'}
        self.tokens -= 1
        return 200, {HEADER: str(int(self.tokens))}


class Client:
    """One controller: its own pacer (its own clock view), ``workers`` threads each sending back to back."""

    def __init__(self, index, start=0.0, stop=float('inf')):
        self.now = 0.0
        self.pacer = _pacing.Pacer(reserve=5, clock=lambda: self.now, sleep=self._sleep)
        self.index, self.start, self.stop = index, start, stop
        self.ok = self.throttled = 0

    def _sleep(self, seconds):
        self.now += seconds


def simulate(clients, seconds, workers=5, burst=250, rate=25.0, latency=0.08):
    """Run ``clients`` for ``seconds`` against one bucket; returns it (what it served is in the clients)."""
    bucket = Bucket(burst, rate)
    events, order = [], 0
    for client in clients:
        for _worker in range(workers):
            heapq.heappush(events, (client.start, order, 'acquire', client, None))
            order += 1
    while events:
        at, _o, what, client, keys = heapq.heappop(events)
        if at > seconds:
            break
        client.now = at
        if what == 'acquire':
            if at >= client.stop:
                continue
            keys = client.pacer.acquire('GET', URL % order)
            heapq.heappush(events, (client.now, order, 'send', client, keys))
        elif what == 'send':
            status, headers = bucket.charge(at)
            keys.result = (status, headers)
            heapq.heappush(events, (at + latency, order, 'response', client, keys))
        else:
            status, headers = keys.result
            client.pacer.observe(keys, URL % 0, headers, status)
            if status == 429:
                client.throttled += 1
                heapq.heappush(events, (at + float(headers['Retry-After']), order, 'acquire', client, None))
            else:
                client.ok += 1
                heapq.heappush(events, (at, order, 'acquire', client, None))
        order += 1
    return bucket


# least: the share of the burst + refill the clients get together. The simulation runs a waiting request's sleep
# ahead of the other clients' events (acquire blocks), which understates it when many requests wait for their turn
# at long round trips (20 workers at 0.5 s).
@pytest.mark.parametrize(
    'n, latency, workers, least',
    [(2, 0.08, 5, 0.85), (4, 0.08, 5, 0.85), (4, 0.3, 5, 0.85), (8, 0.1, 5, 0.85), (3, 0.5, 20, 0.65)],
)
def test_slices_on_one_principal_send_at_the_buckets_rate_without_a_429(n, latency, workers, least):
    clients = [Client(i) for i in range(n)]
    simulate(clients, 60.0, workers=workers, latency=latency)
    served = sum(c.ok for c in clients)
    most = 250 + 25.0 * 60
    assert sum(c.throttled for c in clients) == 0, [(c.ok, c.throttled) for c in clients]
    assert served >= least * most, (served, most)  # the burst and most of the refill, shared
    assert min(c.ok for c in clients) >= 0.5 * served / n, [c.ok for c in clients]  # nobody starved


def test_a_lone_client_still_gets_the_whole_rate():
    (client,) = clients = [Client(0)]
    simulate(clients, 60.0)
    assert client.throttled == 0 and client.ok >= 0.97 * (250 + 25.0 * 60), client.ok
    bucket = client.pacer._buckets[('gw', SUB.lower(), 'read')]
    assert bucket.shared == 0.0


def test_when_the_other_slices_finish_the_last_one_takes_the_whole_rate_again():
    clients = [Client(0)] + [Client(i, stop=20.0) for i in range(1, 4)]
    simulate(clients, 60.0)
    assert sum(c.throttled for c in clients) == 0, [(c.ok, c.throttled) for c in clients]
    served = sum(c.ok for c in clients)
    assert served >= 0.9 * (250 + 25.0 * 60), served
    bucket = clients[0].pacer._buckets[('gw', SUB.lower(), 'read')]
    assert bucket.shared < 2.5, bucket.shared  # what it leaves to others fell back near nothing


def test_a_slice_joining_late_is_absorbed_without_a_429():
    clients = [Client(0), Client(1), Client(2, start=25.0)]
    simulate(clients, 60.0)
    assert sum(c.throttled for c in clients) == 0, [(c.ok, c.throttled) for c in clients]
    assert sum(c.ok for c in clients) >= 0.9 * (250 + 25.0 * 60)


class Job(Client):
    """A slice with ``work`` requests to make: it stops when they are done, and says when."""

    def __init__(self, index, work, start=0.0):
        super().__init__(index, start=start)
        self.work, self.done_at = work, None


def run_jobs(jobs, workers=5, latency=0.1, burst=250, rate=25.0):
    bucket, events, order, inflight = Bucket(burst, rate), [], 0, {}
    for job in jobs:
        for _worker in range(workers):
            heapq.heappush(events, (job.start, order, 'acquire', job, None))
            order += 1
    while events:
        at, _o, what, job, keys = heapq.heappop(events)
        job.now = at
        if what == 'acquire':
            if job.ok + inflight.get(job.index, 0) >= job.work:
                continue
            inflight[job.index] = inflight.get(job.index, 0) + 1
            keys = job.pacer.acquire('GET', URL % order)
            heapq.heappush(events, (job.now, order, 'send', job, keys))
        elif what == 'send':
            keys.result = bucket.charge(at)
            heapq.heappush(events, (at + latency, order, 'response', job, keys))
        else:
            status, headers = keys.result
            job.pacer.observe(keys, URL % 0, headers, status)
            inflight[job.index] -= 1
            if status == 429:
                job.throttled += 1
                heapq.heappush(events, (at + float(headers['Retry-After']), order, 'acquire', job, None))
            else:
                job.ok += 1
                job.done_at = at if job.ok >= job.work else None
                heapq.heappush(events, (at, order, 'acquire', job, None))
        order += 1


@pytest.mark.parametrize(
    'works, starts', [([400] * 4, [0, 0, 0, 0]), ([400] * 4, [0, 1, 1, 1]), ([100, 400, 400, 700], [0] * 4)]
)
def test_slices_with_work_to_do_finish_together_near_the_floor(works, starts):
    """The wall of a sliced job is its last slice's: equal paces, and the part of a finished slice goes to the
    others at once, so the last one ends close to the floor of all the work through one bucket."""
    jobs = [Job(i, w, s) for i, (w, s) in enumerate(zip(works, starts))]
    run_jobs(jobs)
    floor = (sum(works) - 250) / 25.0
    assert sum(j.throttled for j in jobs) == 0, [(j.ok, j.throttled) for j in jobs]
    assert all(j.done_at for j in jobs) and max(j.done_at for j in jobs) <= 1.2 * floor, [j.done_at for j in jobs]
