"""The two throttling layers of azure-facts.md section 3: the ARM gateway and Microsoft.Compute."""

import datetime
import json
import math

from .config import COMPUTE_POLICIES, compute_keys
from .errors import ArmError


class TokenBucket:
    def __init__(self, burst, rate_per_second, now):
        self.burst = burst
        self.rate = rate_per_second
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self, now):
        self._refill(now)
        return self.tokens >= 1

    def take(self, now):
        self._refill(now)
        self.tokens -= 1

    def remaining(self):
        return max(0, int(self.tokens))

    def wait_seconds(self):
        """Seconds until one token is available again (at least 1, as Azure never says 0)."""
        if self.rate <= 0:
            return 60
        return max(1, math.ceil((1 - self.tokens) / self.rate))


GATEWAY_HEADERS = {
    'read': 'x-ms-ratelimit-remaining-subscription-reads',
    'write': 'x-ms-ratelimit-remaining-subscription-writes',
    'delete': 'x-ms-ratelimit-remaining-subscription-deletes',
}


class Throttle:
    """All buckets of one simulator run. Callers hold the world lock."""

    def __init__(self, config):
        self.config = config
        self.buckets = {}

    def reset(self):
        self.buckets.clear()

    def _bucket(self, key, burst, rate, now):
        bucket = self.buckets.get(key)
        if bucket is None or bucket.burst != burst or bucket.rate != rate:
            bucket = self.buckets[key] = TokenBucket(burst, rate, now)
        return bucket

    # -- Resource Manager gateway -------------------------------------------------------------
    def gateway(self, sub, principal_id, kind, now):
        """Charge one ``kind`` (read/write/delete) request. Returns headers; raises ArmError 429."""
        if not self.config['throttle']:
            return {}
        burst, rate = self.config[f'gw_{kind}_burst'], self.config[f'gw_{kind}_rate']
        factor = self.config['gw_global_factor']
        mine = self._bucket(('gw', sub.lower(), principal_id, kind), burst, rate, now)
        shared = self._bucket(('gw-global', sub.lower(), kind), burst * factor, rate * factor, now)
        for bucket, who in ((mine, f"actor '{principal_id}'"), (shared, 'all actors')):
            if not bucket.available(now):
                wait = bucket.wait_seconds()
                raise ArmError(
                    429,
                    'SubscriptionRequestsThrottled',
                    f"Number of '{kind}' requests for subscription '{sub}' {who} exceeded. Please try again after "
                    f"'{wait}' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling",
                    headers={'Retry-After': str(wait), GATEWAY_HEADERS[kind]: '0'},
                )
        mine.take(now)
        shared.take(now)
        headers = {GATEWAY_HEADERS[kind]: str(mine.remaining())}
        if kind == 'read':
            headers['x-ms-ratelimit-remaining-subscription-global-reads'] = str(shared.remaining())
        return headers

    # -- Microsoft.Compute ----------------------------------------------------------------------
    def compute(self, policy, sub, resource_id, now):
        """Charge one call of a compute ``policy``. Returns headers; raises the Compute 429."""
        if not self.config['throttle']:
            return {}
        scopes = []
        for scope, defaults in COMPUTE_POLICIES[policy].items():
            if defaults is None:
                continue
            rate_key, burst_key = compute_keys(policy, scope)
            burst, per_minute = self.config[burst_key], self.config[rate_key]
            name = f'{policy}1Min' if scope == 'resource' else f'{policy}Subscription1Min'
            key = ('compute', policy, scope, (resource_id if scope == 'resource' else sub).lower())
            scopes.append((name, self._bucket(key, burst, per_minute / 60.0, now)))
        for name, bucket in scopes:
            if not bucket.available(now):
                raise self._compute_429(name, bucket, scopes, now)
        for _, bucket in scopes:
            bucket.take(now)
        return {'x-ms-ratelimit-remaining-resource': _remaining_header(scopes)}

    @staticmethod
    def _compute_429(name, bucket, scopes, now_unused):
        wait = bucket.wait_seconds()
        start = datetime.datetime.now(datetime.UTC)
        detail = {
            'operationGroup': name,
            'startTime': start.isoformat(),
            'endTime': (start + datetime.timedelta(seconds=wait)).isoformat(),
            'allowedRequestCount': int(bucket.burst),
            'measuredRequestCount': int(bucket.burst) + 1,
        }
        return ArmError(
            429,
            'OperationNotAllowed',
            'The server rejected the request because too many requests have been received for this subscription.',
            details=[{'code': 'TooManyRequests', 'target': name, 'message': json.dumps(detail)}],
            headers={'Retry-After': str(wait), 'x-ms-ratelimit-remaining-resource': _remaining_header(scopes)},
        )


def _remaining_header(scopes):
    return ','.join(f'Microsoft.Compute/{name};{bucket.remaining()}' for name, bucket in scopes)
