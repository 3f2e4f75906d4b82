"""Long-running operations: a time-ordered scheduler and the async-operation records ARM exposes."""

import heapq
import itertools
import uuid

from .errors import ArmError
from .util import iso_now


class Scheduler:
    """Events run lazily: ``run_due`` is called (under the world lock) before each request is served.

    An event receives its own due time so that chained events (e.g. a relatch after an operation)
    are timed from when the first one was due, not from when somebody happened to look.
    """

    def __init__(self):
        self._heap = []
        self._seq = itertools.count()

    def at(self, due, fn):
        heapq.heappush(self._heap, (due, next(self._seq), fn))

    def run_due(self, now):
        while self._heap and self._heap[0][0] <= now:
            due, _, fn = heapq.heappop(self._heap)
            fn(due)

    def clear(self):
        self._heap.clear()


class Operation:
    def __init__(self, name, sub, location, final=None, provider='Microsoft.Compute'):
        self.id = str(uuid.uuid4())
        self.provider = provider
        self.name = name
        self.sub = sub
        self.location = location
        self.final = final  # callable -> the resource body the Location URL returns when done (None for actions)
        self.start_time = iso_now()
        self.end_time = None
        self.status = 'InProgress'
        self.error = None

    @property
    def done(self):
        return self.status != 'InProgress'

    def status_body(self):
        body = {'startTime': self.start_time, 'status': self.status, 'name': self.id}
        if self.end_time:
            body['endTime'] = self.end_time
        if self.error:
            body['error'] = self.error
        return body

    def path(self):
        return f'/subscriptions/{self.sub}/providers/{self.provider}/locations/{self.location}/operations/{self.id}'


class Operations:
    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.ops = {}

    def clear(self):
        self.ops.clear()

    def start(self, name, sub, location, due, finish, final=None, provider='Microsoft.Compute'):
        """Register an operation; at ``due`` call ``finish(due)``, which returns None or an error dict."""
        op = Operation(name, sub, location, final, provider)
        self.ops[op.id] = op

        def complete(when):
            error = finish(when)
            op.end_time = iso_now()
            op.status = 'Failed' if error else 'Succeeded'
            op.error = error

        self.scheduler.at(due, complete)
        return op

    def get(self, sub, op_id):
        op = self.ops.get(op_id.lower())
        if op is None or op.sub.lower() != sub.lower():
            raise ArmError(404, 'NotFound', f"The operation '{op_id}' could not be found.")
        return op


def lro_headers(op, base_url, api_version, retry_after):
    """Azure-AsyncOperation + Location (+ Retry-After) for an operation's 200/201/202 response."""
    url = f'{base_url}{op.path()}?p={op.id[:8]}&api-version={api_version}'
    headers = {'Azure-AsyncOperation': url, 'Location': url + '&monitor=true'}
    if retry_after is not None:
        headers['Retry-After'] = format_seconds(retry_after)
    return headers


def format_seconds(value):
    return str(int(value)) if float(value).is_integer() else str(value)
