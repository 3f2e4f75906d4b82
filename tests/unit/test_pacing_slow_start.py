"""Issue 25: AWX job slices launched together. Each slice's pacer starts with the documented full bucket in its model;
in a bucket smaller or emptier than that (the simulator's small bursts in test_job_slices.py, or a principal other
jobs already drew from), each slice sending its first requests at once would overdraw it before any header told it
so: the CI run of fe42878 met 2 such 429s in test_job_slices.py when its three jobs started within a fraction of a
second. First contact (``_pacing.SLOW_START``): a client's first request in a gateway bucket goes alone, and its
response's remaining-count header shows the level (and the others' use: far below the model) before it bursts.

Real threads and a real clock (a response is what lets the others go, and the discrete-event simulation of
test_pacing_shared.py runs one acquire at a time): the clients' threads wait at a barrier and start together.
How far slow start should go (doubling to 64 in flight measured slower for slices: the pacer's sharing pace then
starts before the burst is spent) is bench/pacing_probe.py's to measure, not a test's.
"""

import math
import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _pacing

SUB = '00000000-0000-0000-0000-000000000001'
URL = 'https://arm.example/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%%d' % SUB
HEADER = 'x-ms-ratelimit-remaining-subscription-reads'


class Server:
    """The gateway's read bucket for one principal and subscription, as tests/armsim/throttle.py charges it."""

    def __init__(self, burst, rate):
        self.burst, self.rate, self.tokens, self.stamp = float(burst), float(rate), float(burst), time.monotonic()
        self.lock = threading.Lock()
        self.served = self.throttled = 0

    def charge(self):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1:
                self.throttled += 1
                return 429, {'Retry-After': str(max(1, math.ceil((1 - self.tokens) / self.rate))), HEADER: '0'}
            self.tokens -= 1
            self.served += 1
            return 200, {HEADER: str(int(self.tokens))}


def run(server, clients, workers, each, latency=0.02):
    """``clients`` pacers (one per job slice), ``workers`` threads each sending ``each`` reads, all started at once;
    a 429 is retried after its Retry-After, as azure-core's RetryPolicy does."""
    pacers = [_pacing.Pacer(reserve=5) for _c in range(clients)]
    barrier = threading.Barrier(clients * workers)

    def worker(pacer, index):
        barrier.wait()
        sent = 0
        while sent < each:
            keys = pacer.acquire('GET', URL % index)
            status, headers = server.charge()
            time.sleep(latency)
            pacer.observe(keys, URL % index, headers, status)
            if status == 429:
                time.sleep(float(headers['Retry-After']))
            else:
                sent += 1

    threads = [
        threading.Thread(target=worker, args=(pacer, c * workers + w))
        for c, pacer in enumerate(pacers)
        for w in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pacers


def test_slices_started_together_in_a_bucket_smaller_than_the_model_do_not_overdraw_it():
    """test_job_slices.py's world: three slices of 20 VMs, a read bucket of 40 (the model starts at Azure's 250)."""
    server = Server(40, 25.0)
    run(server, 3, 20, 1)
    assert server.served == 60
    assert server.throttled == 0


def test_the_first_request_in_a_new_bucket_goes_alone_until_its_response():
    pacer = _pacing.Pacer(reserve=5)
    sent = []
    threads = [threading.Thread(target=lambda i=i: sent.append(pacer.acquire('GET', URL % i))) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # no response yet: one request went, seven wait (at most SLOW_START_WAIT = 1 s)
    assert len(sent) == 1, len(sent)
    pacer.observe(sent[0], URL % 0, {HEADER: '240'}, 200)
    for thread in threads:
        thread.join()
    assert len(sent) == 8


def test_a_lone_client_is_not_held_back():
    """First contact costs a client alone one round trip: 192 reads with 64 workers, no token wait, no 429."""
    server = Server(250, 25.0)
    (pacer,) = run(server, 1, 64, 3)
    assert server.throttled == 0 and server.served == 192
    assert pacer.stats['waits'] == 0, pacer.stats


def test_requests_are_numbered_in_the_order_they_go_not_the_order_they_were_reserved():
    """Reservations wait different times for their slot and turn: the one reserved second may go first. The server
    counts in the order they go; numbered so, its remaining counts match the model and show no other client."""
    bucket = _pacing._Bucket(250, 25.0, 0.0)
    bucket.reserve(0.0, 5)
    bucket.reserve(0.0, 5)  # two reserved: 248 left in the model
    second = bucket.sent_now()  # the second reservation goes first...
    first = bucket.sent_now()  # ...and the first one a moment later
    bucket.correct(249, 0.010, second, 0.0)  # counted first: 249 left then
    bucket.correct(248, 0.012, first, 0.001)
    assert (bucket.others_now, bucket.shared) == (0.0, 0.0)
