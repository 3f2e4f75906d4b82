"""Issue 25: AWX job slices launched together. Each slice's pacer starts with the documented full bucket; if each sent
its first burst at once, together they would overdraw the principal's bucket before any header told them of the
others (the CI run of fe42878 met 2 such 429s in test_job_slices.py when its three jobs started within a fraction
of a second). Slow start (``_pacing.SLOW_START``): a client new to a gateway bucket has 1 + 2 x (responses seen)
requests in flight there, so the first headers show each client the level and the others' draws before it bursts.

Real threads and a real clock (a response is what opens the window, and the discrete-event simulation of
test_pacing_shared.py runs one acquire at a time): the clients' threads wait at a barrier and start together."""

import math
import threading
import time

import pytest

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


@pytest.mark.parametrize(
    'burst, clients, workers, each',
    [
        (40, 3, 20, 1),  # test_job_slices.py's world: three slices of 20 VMs, a read bucket of 40
        (250, 4, 64, 1),  # Azure's read burst, four slices of 64 workers each: 256 at once would overdraw it
    ],
)
def test_slices_started_together_do_not_overdraw_the_bucket(burst, clients, workers, each):
    server = Server(burst, 25.0)
    run(server, clients, workers, each)
    assert server.served == clients * workers * each
    assert server.throttled == 0


def test_a_lone_client_opens_its_window_without_seeing_others_or_waiting():
    """Slow start costs a client alone a few round trips, not its burst: 192 reads with 64 workers take no token
    wait, and the requests that waited for the window do not read as another client's draws (numbered in the bucket
    only when they go, so the server counts them in about the order the pacer numbered them)."""
    server = Server(250, 25.0)
    (pacer,) = run(server, 1, 64, 3)
    bucket = pacer._buckets[('gw', SUB, 'read')]  # pylint: disable=protected-access
    assert server.throttled == 0 and bucket.answered == 192
    assert pacer.stats['waits'] == 0 and bucket.others_now == 0 and bucket.shared == 0, (pacer.stats, bucket.others_now)
