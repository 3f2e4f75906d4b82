# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side pacing of Resource Manager requests (private: may change without notice).

Azure throttles in token buckets (azure-facts.md section 3): the Resource Manager gateway per subscription and
principal (reads 250 burst + 25/s, writes and deletes 200 + 10/s) and Microsoft.Compute per subscription and per
resource (one-minute buckets such as ``UpdateVM`` 1500 + 500/min). A client that sends as fast as it can drains a
bucket and then collides with 429s and ``Retry-After`` waits. The ``Pacer`` keeps a model of each bucket, spaces
requests of the same kind so that the bucket is not driven below a small reserve, and corrects its model from
the ``x-ms-ratelimit-remaining-subscription-reads|writes|deletes`` and ``x-ms-ratelimit-remaining-resource``
headers of every response. 429s that still happen (another client on the same principal) are handled by
azure-core's RetryPolicy with ``Retry-After``; the pacer only learns from their headers.

Public names (kept stable):

- ``Pacer(reserve=..., clock=time.monotonic, sleep=time.sleep)``: thread-safe; one per ArmClient (shared by all
  threads of a batch). ``acquire(method, url) -> keys`` blocks until the request may go; ``observe(keys, url,
  headers)`` after the response; ``stats`` (``waits``, ``waited_seconds``).
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


class _Bucket:
    """A token-bucket model. ``tokens`` may go below zero: that is the queue of reserved, not yet due, slots."""

    def __init__(self, burst, rate, now):
        self.burst = float(burst)
        self.rate = float(rate)
        self.tokens = float(burst)
        self.stamp = now
        self.pending = 0  # requests admitted whose response has not been observed yet

    def refill(self, now):
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def floor(self, reserve):
        """Tokens kept in reserve: ``reserve`` for the large gateway buckets, 1 for small per-resource ones."""
        return min(float(reserve), max(1.0, self.burst / 50.0))

    def reserve(self, now, reserve):
        """Take one token; return the seconds to wait before the request may be sent."""
        self.refill(now)
        self.tokens -= 1
        self.pending += 1
        floor = self.floor(reserve)
        if self.tokens >= floor:
            return 0.0
        return (floor - self.tokens) / self.rate if self.rate > 0 else 60.0

    def correct(self, remaining, now):
        """The server says ``remaining`` tokens are left after counting this request."""
        self.refill(now)
        self.pending = max(0, self.pending - 1)
        # Requests admitted after this one may not have reached the server yet: count them as spent.
        estimate = remaining - self.pending
        if estimate < self.tokens:
            self.tokens = float(estimate)
        elif self.pending == 0 and remaining > self.tokens:
            self.tokens = min(self.burst, float(remaining))  # nothing in flight: the server's count is exact


class Pacer:
    """Token-bucket models of the throttling buckets a client draws from; see the module docstring."""

    def __init__(self, reserve=5, clock=time.monotonic, sleep=time.sleep):
        self.reserve = reserve
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._buckets = {}
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
        return bucket

    def acquire(self, method, url):
        """Reserve a slot in every bucket the request draws from, sleep until it is due; return its keys."""
        path = url.split('?', 1)[0]
        keys = self._keys(method.upper(), path)
        with self._lock:
            now = self.clock()
            wait = 0.0
            for key in keys:
                # Gateway buckets always exist (documented fallback); Compute buckets once a header showed them.
                bucket = self._bucket(key, now, create=key[0] == 'gw')
                if bucket is not None:
                    wait = max(wait, bucket.reserve(now, self.reserve))
            if wait > 0:
                self.stats['waits'] += 1
                self.stats['waited_seconds'] += wait
        if wait > 0:
            self.sleep(wait)
        return keys

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
                        bucket.tokens = bucket.floor(self.reserve) + 1 - retry_after * bucket.rate

    def _observe(self, keys, url, headers):
        """Correct the models; return the buckets the headers show empty."""
        path = url.split('?', 1)[0]
        get = headers.get if headers is not None else (lambda _k: None)
        emptied = []
        now = self.clock()
        for key in keys:
            if key[0] == 'gw':
                value = get(GATEWAY_HEADERS[key[2]])
                bucket = self._bucket(key, now, create=True)
                remaining = _int(value)
                if remaining is None:
                    bucket.pending = max(0, bucket.pending - 1)
                else:
                    bucket.correct(remaining, now)
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
            if fresh:
                bucket.pending = 1  # this request was not reserved in a bucket that did not exist yet
            bucket.correct(remaining, now)
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
