# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side pacing of Resource Manager requests (private: may change without notice).

Azure throttles in token buckets (azure-facts.md section 3): the Resource Manager gateway per subscription and
principal (reads 250 burst + 25/s, writes and deletes 200 + 10/s) and Microsoft.Compute per subscription and per
resource (one-minute buckets such as ``UpdateVM`` 1500 + 500/min). A client that sends as fast as it can drains a
bucket and then collides with 429s and ``Retry-After`` waits. The ``Pacer`` keeps a model of each bucket, spaces
requests of the same kind so that the bucket is not driven below a small reserve, and corrects its model from
the ``x-ms-ratelimit-remaining-subscription-reads|writes|deletes`` and ``x-ms-ratelimit-remaining-resource``
headers of every response. 429s that still happen are handled by azure-core's RetryPolicy with ``Retry-After``;
the pacer only learns from their headers.

Several controllers on one principal (AWX job slices, issue 25) draw from the same buckets: the headers are the
shared truth. Each request is numbered as it is sent; a response's remaining count, less this client's requests sent
(or reserved) after it, plus the refill since it was sent, is the bucket now, whatever order the responses come back
in: the model is set to it, up or down. What the model expected and the header shows differ by what other clients
took: per response it sizes the reserve (what they take in ``REACTION`` seconds); summed over a window (the
differences telescope: the rounding of the header does not add up) it gives their rate (``shared``), which the
model's refill leaves to them (additive increase, multiplicative decrease of this client's part). While others draw,
each client also paces itself from the level the last header showed (the whole rate ``LEVEL_SPAN`` of the bucket
above its reserve, less below): the same rule from the same level, so N clients settle at equal paces whose sum is
the rate, and the part of a client that finishes goes to the others as soon as the level rises (no turn is booked
ahead: a waiting request re-reads the pace). Only the gateway's and Compute's per-subscription buckets are shared; a
per-resource (VM) bucket is one client's. Alone, a client takes the whole rate as before.

Public names (kept stable):

- ``Pacer(reserve=..., clock=time.monotonic, sleep=time.sleep)``: thread-safe; one per ArmClient (shared by all
  threads of a batch). ``acquire(method, url) -> keys`` blocks until the request may go; ``observe(keys, url,
  headers)`` after the response; ``stats`` (``waits``, ``waited_seconds``).
- ``SHARE_WINDOW``, ``MIN_SHARE``, ``REACTION``, ``INCREASE``, ``DECREASE``, ``LEVEL_SPAN``, ``TURN_CHECK``: how the rate other
  clients draw is learned and left to them.
- ``SLOW_START``, ``SLOW_START_WAIT``, ``SLOW_START_POLL``: first contact with a gateway bucket (one request alone).
- ``PacingPolicy(pacer)``: the azure-core pipeline policy (placed after the RetryPolicy so that every attempt is
  paced).
- ``GATEWAY_LIMITS``, ``COMPUTE_LIMITS``: the documented fallback (burst, refill per second) values.
- ``parse_compute_header(value) -> [(policy_name, remaining)]``.
"""

from __future__ import annotations

import re
import threading
import time

# Resource Manager gateway, per subscription + principal: kind -> (burst, refill per second).
GATEWAY_LIMITS = {'read': (250, 25.0), 'write': (200, 10.0), 'delete': (200, 10.0)}
GATEWAY_HEADERS = {
    'read': 'x-ms-ratelimit-remaining-subscription-reads',
    'write': 'x-ms-ratelimit-remaining-subscription-writes',
    'delete': 'x-ms-ratelimit-remaining-subscription-deletes',
}
COMPUTE_HEADER = 'x-ms-ratelimit-remaining-resource'
# Microsoft.Compute one-minute buckets (header policy name -> (burst, refill per second)). A name ending in
# "Subscription1Min" is per subscription, "1Min" alone per resource (VM / instance).
COMPUTE_LIMITS = {
    'UpdateVM1Min': (12, 4 / 60.0),
    'UpdateVMSubscription1Min': (1500, 500 / 60.0),
    'LowCostGet1Min': (36, 12 / 60.0),
    'LowCostGetSubscription1Min': (24000, 8000 / 60.0),
    'HighCostGetSubscription1Min': (900, 300 / 60.0),
    'GetOperation1Min': (45, 15 / 60.0),
    'GetOperationSubscription1Min': (15000, 5000 / 60.0),
}
# Which Compute policy a request is charged to (by method and URL), for the buckets learned from headers.
_OPERATION_RE = re.compile(r'/providers/microsoft\.compute/locations/[^/]+/operations/', re.I)
_LIST_RE = re.compile(
    r'/providers/microsoft\.compute/(virtualmachines|virtualmachinescalesets(/[^/]+/virtualmachines)?)/?$', re.I
)
_SUB_RE = re.compile(r'/subscriptions/([^/?]+)', re.I)
_RESOURCE_RE = re.compile(
    r'^.*?/providers/microsoft\.compute/(?:virtualmachinescalesets/[^/]+/virtualmachines/[^/]+|'
    r'virtualmachines/[^/]+)',
    re.I,
)
_COMPUTE_ITEM_RE = re.compile(r'Microsoft\.Compute/([A-Za-z]+?)(Subscription)?(1Min|30Min)\s*;\s*(\d+)', re.I)


def parse_compute_header(value):
    """'Microsoft.Compute/LowCostGet1Min;35,Microsoft.Compute/LowCostGetSubscription1Min;23999' ->
    [('LowCostGet1Min', 35), ('LowCostGetSubscription1Min', 23999)]."""
    out = []
    for m in _COMPUTE_ITEM_RE.finditer(value or ''):
        out.append(('%s%s%s' % (m.group(1), m.group(2) or '', m.group(3)), int(m.group(4))))
    return out


def compute_policy(method, path):
    """The Compute throttling policy a request is charged to, or None (not a Compute request)."""
    low = path.lower()
    if '/providers/microsoft.compute/' not in low:
        return None
    if method in ('GET', 'HEAD'):
        if _OPERATION_RE.search(low):
            return 'GetOperation'
        if _LIST_RE.search(low):
            return 'HighCostGet'
        return 'LowCostGet'
    return 'UpdateVM'


# Other clients of the same principal (job slices): their rate is learned over windows of SHARE_WINDOW seconds; at
# least MIN_SHARE of a bucket's rate stays this client's; the reserve grows by what they take in REACTION seconds.
SHARE_WINDOW = 2.0
MIN_SHARE = 0.05
REACTION = 2.0
# Sharing: a client's pace is the whole rate with the bucket LEVEL_SPAN of its size above the reserve, less below.
LEVEL_SPAN = 0.3
TURN_CHECK = 0.5  # seconds: a request waiting for its turn re-reads the pace at least this often
INCREASE, DECREASE = 0.05, 0.5  # per window: this client's part grows by 5% of the rate, or is halved
# First contact: a client new to a gateway bucket has 1 + 2 x (responses seen) requests in flight in it until
# SLOW_START responses came back: with 1, its first request goes alone and its response shows the bucket's level
# before the client bursts. A longer slow start (32: doubling to 64 in flight) also kept four slices of 64 workers
# launched at once from the 10-20 429s they meet at Azure's burst of 250, but then each slice took the sharing pace
# before it spent the burst: 3.1-3.4x the floor instead of 1.6-2.2x (bench/pacing_probe.py --clients 4 --reads
# 1200 --slow-start 32 / 1, docs/performance.md). A request waits at most SLOW_START_WAIT seconds for a response
# (one that never comes does not stall the others), re-checking every SLOW_START_POLL.
SLOW_START, SLOW_START_WAIT, SLOW_START_POLL = 1, 1.0, 0.01


class _Bucket:
    """A token-bucket model. ``tokens`` may go below zero: that is the queue of reserved, not yet due, slots."""

    def __init__(self, burst, rate, now):
        self.burst = float(burst)
        self.rate = float(rate)
        self.tokens = float(burst)
        self.stamp = now
        self.pending = 0  # requests admitted whose response has not been observed yet
        self.seq = 0  # reservations made so far (a request's number, given as it goes, is ``sent_now``'s)
        self.shared = 0.0  # tokens per second other clients draw from this bucket (learned from the headers)
        self._drift, self._drift_since, self._drift_seen, self._seq_since = 0.0, now, 0, 0
        self.others_now, self._seen_at = 0.0, now  # the others' rate from the last observations (fast, for the reserve)
        self.shared_by_others = True  # Pacer._bucket: False for a per-resource bucket
        self.level, self._last_slot = float(burst), now  # what the last header showed; this client's last slot
        self.answered = 0  # responses seen (slow start)
        self.sent_count = 0  # requests sent so far (``sent_now``); those reserved and not sent: seq - sent_count

    def opening(self):
        """Whether one more request may go now at first contact (always once SLOW_START responses came back)."""
        return self.answered >= SLOW_START or self.pending < 1 + 2 * self.answered

    def rate_now(self):
        """The refill left to this client: the bucket's rate less what the others draw."""
        return max(self.rate * MIN_SHARE, self.rate - self.shared)

    def refill(self, now):
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_now())
            self.stamp = now

    def floor(self, reserve):
        """Tokens kept in reserve: ``reserve`` for the large gateway buckets, 1 for small per-resource ones; more
        when other clients draw from the bucket (what they take while this one reacts, at most a fifth of it)."""
        base = min(float(reserve), max(1.0, self.burst / 50.0))
        others = max(self.shared, self.others_now)
        if others > 0:
            base = min(max(base, self.burst / 5.0), base + others * REACTION)
        return base

    def reserve(self, now, reserve):
        """Take one token; return the seconds to wait before the request may be sent (its number is given as it goes:
        ``sent_now``)."""
        self.refill(now)
        self.tokens -= 1
        self.pending += 1
        self.seq += 1
        floor = self.floor(reserve)
        rate = self.rate_now()
        return 0.0 if self.tokens >= floor else ((floor - self.tokens) / rate if rate > 0 else 60.0)

    def turn(self, now, reserve):
        """While other clients draw from the bucket: this client's pace from the level all of them see, the same
        rule for each, so k clients settle at the same pace (the level where k paces make the rate) and one that
        finishes leaves its part to the others at once. Seconds until the next request's turn (0: now); no slot is
        booked ahead, so a faster pace applies to requests already waiting."""
        if self.others_now < 1.0 / SHARE_WINDOW and self.shared <= 0:
            return 0.0  # alone: the token model paces
        span = max(1.0, self.burst * LEVEL_SPAN)
        pace = self.rate * min(1.0, max(MIN_SHARE, (self.level - self.floor(reserve)) / span))
        return max(0.0, self._last_slot + 1.0 / pace - now)

    def correct(self, remaining, now, seq=None, sent=None):
        """The server says ``remaining`` tokens were left after counting request number ``seq`` (sent at ``sent``;
        None: a request this model did not number)."""
        self.refill(now)
        self.pending = max(0, self.pending - 1)
        if seq is None:
            # Requests admitted after this one may not have reached the server yet: count them as spent.
            estimate = remaining - self.pending
            if estimate < self.tokens:
                self.tokens = float(estimate)
            elif self.pending == 0 and remaining > self.tokens:
                self.tokens = min(self.burst, float(remaining))  # nothing in flight: the server's count is exact
            return
        # ours sent after it, and those reserved and not sent yet, count after it; the bucket refilled since it was sent
        estimate = remaining - (self.seq - seq) + self.rate_now() * max(0.0, now - (sent if sent is not None else now))
        estimate = min(self.burst, estimate)
        self.level = float(remaining)
        if self.shared_by_others:
            self._sense(self.tokens - estimate, now)
            self._learn(self.tokens - estimate, now)
        self.tokens = estimate

    def sent_now(self):
        """Number a request as it goes (about the order the server counts in): reservations wait different times for
        their slot and turn, so the order they were reserved in is not the order they go in; numbered by reservation,
        the server's counts read as far out of order, and the differences as other clients' draws (a client alone
        then paced itself as one of several: bench/pacing_probe.py, docs/performance.md)."""
        self.sent_count += 1
        return self.sent_count

    def hold(self, tokens):
        """Set the model to ``tokens`` on purpose (the wait a 429 asks for): not a sign of what others took."""
        self._drift += self.tokens - tokens
        self.tokens = tokens

    def _sense(self, drift, now):
        """The others' rate now, from each observation (beyond the header's rounding of one token), smoothed over
        about a second: it sizes the reserve at once, before a window has taught ``shared``."""
        span = now - self._seen_at
        self._seen_at = now
        rate = max(0.0, drift - 1.0) / max(span, 0.01)
        self.others_now += (rate - self.others_now) * min(1.0, span / REACTION)

    def _learn(self, drift, now):
        """Once per window: what the model expected less what the server shows, summed, is what the others took
        beyond ``shared``; with this client's own reservations, it says whether the clients together ask more than
        the rate. Additive increase, multiplicative decrease of this client's part (``rate - shared``): the same
        signal for every client, so their parts converge to equal ones (AIMD) and their sum to the rate."""
        self._drift += drift
        self._drift_seen += 1
        span = now - self._drift_since
        if span < SHARE_WINDOW or self._drift_seen < 3:
            return
        others = max(0.0, self.shared + self._drift / span) if abs(self._drift) >= 1.0 else self.shared
        own = (self.seq - self._seq_since) / span
        mine = self.rate - self.shared
        if others >= 1.0 / SHARE_WINDOW and others + own > self.rate * (1 + MIN_SHARE):
            mine *= DECREASE  # together over the rate: every client gives up the same fraction
        elif others < 1.0 / SHARE_WINDOW:
            mine = self.rate  # alone on the bucket (the others finished): the whole rate at once
        else:
            mine += self.rate * INCREASE  # every client takes the same step
        self.shared = self.rate - min(self.rate, max(self.rate * MIN_SHARE, mine))
        self._drift, self._drift_since, self._drift_seen, self._seq_since = 0.0, now, 0, self.seq


def _shareable(key):
    """Whether other clients can draw from the bucket ``key``: the gateway's and Compute's per subscription; a
    per-resource bucket (one VM) is one slice's alone, so its differences are not others' use."""
    return key[0] == 'gw' or key[2].endswith('Subscription1Min')


class _Ticket(list):
    """The keys of one request (a list, as before), with the number it has in each bucket and when it was sent."""

    seqs = None
    sent = None


class Pacer:
    """Token-bucket models of the throttling buckets a client draws from; see the module docstring."""

    def __init__(self, reserve=5, clock=time.monotonic, sleep=time.sleep):
        self.reserve = reserve
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._buckets = {}
        self._turn_locks = {}  # gateway bucket key -> the lock of the requests waiting for a turn in it
        self._opening_locks = {}  # gateway bucket key -> the lock of the requests waiting in its slow start
        self.stats = {'waits': 0, 'waited_seconds': 0.0}

    @staticmethod
    def _gateway_kind(method):
        return {'GET': 'read', 'HEAD': 'read', 'DELETE': 'delete'}.get(method, 'write')

    def _keys(self, method, path):
        m = _SUB_RE.search(path)
        sub = m.group(1).lower() if m else ''
        kind = self._gateway_kind(method)
        keys = [('gw', sub, kind)]
        policy = compute_policy(method, path)
        if policy:
            keys.append(('compute', sub, policy + 'Subscription1Min'))
            r = _RESOURCE_RE.match(path)
            if r:
                keys.append(('compute', r.group(0).lower(), policy + '1Min'))
        return keys

    def _bucket(self, key, now, create):
        bucket = self._buckets.get(key)
        if bucket is None and create:
            limits = GATEWAY_LIMITS.get(key[2]) if key[0] == 'gw' else COMPUTE_LIMITS.get(key[2])
            if limits is None:
                return None
            bucket = self._buckets[key] = _Bucket(limits[0], limits[1], now)
            bucket.shared_by_others = _shareable(key)
        return bucket

    def acquire(self, method, url):
        """Reserve a slot in every bucket the request draws from, sleep until it is due; return its keys.

        First contact (``SLOW_START``): several controllers of one principal starting at once (AWX job slices
        launched together) each start with the documented full bucket in their model; a client new to a gateway
        bucket learns its level from a response first (and, in a bucket smaller or emptier than the model, that
        others draw from it)."""
        path = url.split('?', 1)[0]
        keys = _Ticket(self._keys(method.upper(), path))
        keys.seqs = {}
        gateway = self._buckets.get(keys[0])
        if gateway is not None and gateway.answered >= SLOW_START:
            with self._lock:
                wait = self._reserve(keys, self.clock())
        else:
            wait = self._slow_start(keys)
        if wait > 0:
            self.sleep(wait)
        self._take_turn(keys)
        keys.sent = self.clock()
        return keys

    def _slow_start(self, keys):
        """``_reserve`` once the gateway bucket's window opens (``_Bucket.opening``) or ``SLOW_START_WAIT`` passed;
        one request at a time polls it (as one at a time waits for a turn in ``_take_turn``)."""
        with self._lock:
            # not the turn's lock: a request numbered in the bucket must not wait behind one still waiting to open
            opening_lock = self._opening_locks.setdefault(keys[0], threading.Lock())
        with opening_lock:
            waited = 0.0
            while True:
                with self._lock:
                    now = self.clock()
                    if self._bucket(keys[0], now, create=True).opening() or waited >= SLOW_START_WAIT:
                        return self._reserve(keys, now)
                self.sleep(SLOW_START_POLL)
                waited += SLOW_START_POLL

    def _reserve(self, keys, now):
        """Take the request's slot in each of its buckets (under the lock); return the seconds to wait for it."""
        wait = 0.0
        for key in keys:
            # Gateway buckets always exist (documented fallback); Compute buckets once a header showed them.
            bucket = self._bucket(key, now, create=key[0] == 'gw')
            if bucket is not None:
                wait = max(wait, bucket.reserve(now, self.reserve))
                keys.seqs[key] = None  # reserved here; numbered as it goes (``_take_turn``)
        if wait > 0:
            self.stats['waits'] += 1
            self.stats['waited_seconds'] += wait
        return wait

    def _take_turn(self, keys):
        """Wait for this client's turn in every bucket that paces it (``_Bucket.turn``), re-checked at least every
        ``TURN_CHECK`` seconds as the level changes; then mark the turn taken.

        One request at a time waits per gateway bucket (``keys[0]``), the others of that bucket block on its lock:
        the turn is the same for all of them (the bucket's last slot plus one pace) and only one can take it, so
        the others polling it as well cost CPU for nothing (about 1 ms per request with 64 workers waiting,
        docs/performance.md "Lean mode")."""
        with self._lock:
            turn_lock = self._turn_locks.setdefault(keys[0], threading.Lock())
        with turn_lock:
            while True:
                with self._lock:
                    now = self.clock()
                    buckets = [self._buckets[k] for k in keys.seqs if k in self._buckets]
                    wait = max([b.turn(now, self.reserve) for b in buckets] or [0.0])
                    if wait <= 0:
                        for key in list(keys.seqs):
                            bucket = self._buckets.get(key)
                            if bucket is not None:
                                bucket._last_slot = now
                                keys.seqs[key] = bucket.sent_now()
                        return
                self.sleep(min(wait, TURN_CHECK))

    def observe(self, keys, url, headers, status=None):
        """Correct the models from a response's rate-limit headers (also call it for failed attempts).

        After a 429, the buckets that the headers show empty are set so that the retry, which azure-core's
        RetryPolicy sends after ``Retry-After``, finds its slot free: the pacer does not add its own wait to the
        server's.
        """
        with self._lock:
            emptied = self._observe(keys, url, headers)
            if status == 429 and headers is not None:
                retry_after = _seconds(headers.get('Retry-After'))
                if retry_after is not None:
                    now = self.clock()
                    for bucket in emptied:
                        bucket.refill(now)
                        bucket.hold(bucket.floor(self.reserve) + 1 - retry_after * bucket.rate_now())

    def _observe(self, keys, url, headers):
        """Correct the models; return the buckets the headers show empty."""
        path = url.split('?', 1)[0]
        get = headers.get if headers is not None else (lambda _k: None)
        emptied = []
        now = self.clock()
        seqs = getattr(keys, 'seqs', None) or {}
        sent = getattr(keys, 'sent', None)
        for key in keys:
            if key[0] == 'gw':
                value = get(GATEWAY_HEADERS[key[2]])
                bucket = self._bucket(key, now, create=True)
                bucket.answered += 1
                remaining = _int(value)
                if remaining is None:
                    bucket.pending = max(0, bucket.pending - 1)
                else:
                    bucket.correct(remaining, now, seqs.get(key), sent)
                    if remaining <= 0:
                        emptied.append(bucket)
        compute = parse_compute_header(get(COMPUTE_HEADER))
        if not compute:
            for key in keys:
                if key[0] == 'compute' and key in self._buckets:
                    self._buckets[key].pending = max(0, self._buckets[key].pending - 1)
            return emptied
        m = _SUB_RE.search(path)
        sub = m.group(1).lower() if m else ''
        r = _RESOURCE_RE.match(path)
        for name, remaining in compute:
            if name.endswith('Subscription1Min'):
                key = ('compute', sub, name)
            elif r:
                key = ('compute', r.group(0).lower(), name)
            else:
                continue
            fresh = key not in self._buckets
            bucket = self._bucket(key, now, create=True)
            if bucket is None:  # a policy without documented limits: assume a one-minute bucket
                bucket = self._buckets[key] = _Bucket(max(remaining, 1), max(remaining, 1) / 60.0, now)
                bucket.shared_by_others = _shareable(key)
            if fresh:
                bucket.pending = 1  # this request was not reserved in a bucket that did not exist yet
            bucket.correct(remaining, now, None if fresh else seqs.get(key), sent)
            if remaining <= 0:
                emptied.append(bucket)
        return emptied


def _seconds(value):
    try:
        return max(0.0, float(str(value).strip()))
    except (TypeError, ValueError):
        return None  # an HTTP-date: azure-core honours it; the model keeps its own estimate


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def pacing_policy_class():
    """The azure-core policy class (built on first use so that importing this module stays cheap)."""
    from azure.core.pipeline.policies import HTTPPolicy

    class PacingPolicy(HTTPPolicy):
        """Waits for the pacer before each attempt and feeds it the response headers."""

        def __init__(self, pacer):
            super().__init__()
            self.pacer = pacer

        def send(self, request):
            http_request = request.http_request
            keys = self.pacer.acquire(http_request.method, http_request.url)
            headers = status = None
            try:
                response = self.next.send(request)
                headers = response.http_response.headers
                status = response.http_response.status_code
                return response
            finally:
                self.pacer.observe(keys, http_request.url, headers, status)

    return PacingPolicy
