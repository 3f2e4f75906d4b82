"""The pacer alone against one gateway bucket: how much of the burst and the refill it spends (a probe, not a test).

K clients (one ``_pacing.Pacer`` each, as K controllers or AWX job slices), W threads each, send N reads in all at a
bucket as tests/armsim/throttle.py charges it (250 burst + 25/s, Azure's read limits); each request reaches the
server after a random delay of up to ``--jitter`` seconds (HTTP send, scheduling: the server counts requests in
about, not exactly, the order the pacer numbered them) and its response comes ``--latency`` seconds later. Prints
the wall against the bucket's floor ((N - burst) / rate), the reads the server counted in the first second, the
429s, and what each pacer believes the other clients draw (``others_now``, ``shared``).

    .venv/bin/python bench/pacing_probe.py                     # one client alone, 600 reads, 64 threads
    .venv/bin/python bench/pacing_probe.py --clients 4 --reads 2000

Run from the repository root after ``make collection-link``.
"""

import argparse
import math
import os
import random
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.tmp', 'collections'))

from ansible_collections.vmrescue.azure.plugins.module_utils import _pacing  # noqa: E402

SUB = '00000000-0000-0000-0000-000000000001'
URL = 'https://arm.example/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%%d' % SUB
HEADER = 'x-ms-ratelimit-remaining-subscription-reads'


class Server:
    def __init__(self, burst, rate):
        self.burst, self.rate, self.tokens, self.stamp = float(burst), float(rate), float(burst), time.monotonic()
        self.lock = threading.Lock()
        self.counted, self.throttled = [], 0

    def charge(self):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1:
                self.throttled += 1
                return 429, {'Retry-After': str(max(1, math.ceil((1 - self.tokens) / self.rate))), HEADER: '0'}
            self.tokens -= 1
            self.counted.append(now)
            return 200, {HEADER: str(int(self.tokens))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clients', type=int, default=1)
    parser.add_argument('--workers', type=int, default=64, help='threads per client (a batch has 64)')
    parser.add_argument('--reads', type=int, default=600, help='reads in all, shared out among the clients')
    parser.add_argument('--latency', type=float, default=0.1, help='seconds from the server count to the response')
    parser.add_argument('--jitter', type=float, default=0.005, help='seconds, at most, from the pacer to the server')
    parser.add_argument('--slow-start', type=int, default=None, help='_pacing.SLOW_START for this probe (responses)')
    args = parser.parse_args()
    if args.slow_start is not None:
        _pacing.SLOW_START = args.slow_start
    server = Server(*_pacing.GATEWAY_LIMITS['read'])
    pacers = [_pacing.Pacer(reserve=5) for _c in range(args.clients)]
    left = [args.reads // args.clients] * args.clients
    lock = threading.Lock()

    def worker(c, index):
        while True:
            with lock:
                if left[c] <= 0:
                    return
                left[c] -= 1
            keys = pacers[c].acquire('GET', URL % index)
            while True:
                time.sleep(random.uniform(0, args.jitter))
                status, headers = server.charge()
                time.sleep(args.latency)
                pacers[c].observe(keys, URL % index, headers, status)
                if status != 429:
                    break
                time.sleep(float(headers['Retry-After']))  # azure-core's RetryPolicy, then a paced attempt
                keys = pacers[c].acquire('GET', URL % index)

    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(c, c * 1000 + w))
        for c in range(args.clients)
        for w in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    burst, rate = _pacing.GATEWAY_LIMITS['read']
    floor = max(0.0, (args.clients * (args.reads // args.clients) - burst) / rate)
    first = sum(1 for at in server.counted if at - started < 1.0)
    print('%d client(s) x %d threads, %d reads, latency %.3f s, jitter %.3f s, slow start %d' % (
        args.clients, args.workers, len(server.counted), args.latency, args.jitter, _pacing.SLOW_START))  # fmt: skip
    print('wall %.1f s, floor %.1f s (%.2fx), %d reads counted in the first second (burst %d), %d 429s' % (
        wall, floor, wall / floor if floor else float('nan'), first, burst, server.throttled))  # fmt: skip
    for c, pacer in enumerate(pacers):
        bucket = pacer._buckets[('gw', SUB, 'read')]  # pylint: disable=protected-access
        print('client %d: others_now %.1f/s, shared %.1f/s, waits %d (%.1f s)' % (
            c, bucket.others_now, bucket.shared, pacer.stats['waits'], pacer.stats['waited_seconds']))  # fmt: skip


if __name__ == '__main__':
    main()
