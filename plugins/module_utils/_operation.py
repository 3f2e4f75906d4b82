# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long-running ARM writes as step generators: an operation being waited for holds no worker (private).

``ArmClient``'s own LRO handling (ARMPolling) sleeps in the calling thread; a rescue waits minutes for a copy or a
VM create, a remedy for a redeploy, so their writes go out without it (one request) and the operation is polled
here, yielding the seconds to wait (``Retry-After``, at most ``POLL_MAX``) to ``_batch.run_pipelined`` between
polls. Azure-AsyncOperation first, else Location (the ARM async contract, azure-facts.md section 3). Moved here from
``_rescue/operations.py`` (issue 24) so that a domain package (``_remedy``) shares it.

Public names: ``write_steps(client, method, path, body=None, api_version=..., if_match=None, timeout=1800,
clock=time.monotonic, on_send=None)``, ``wait_operation(client, response, timeout, clock)``, ``POLL_MAX``, ``BUSY_ATTEMPTS``.
"""

from __future__ import annotations

import time

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._vm import busy_delay, is_busy

POLL_MAX = 15.0
BUSY_ATTEMPTS = 8


def _retry_after(headers):
    try:
        value = float((headers or {}).get('Retry-After') or 2)
    except (TypeError, ValueError):
        value = 2.0
    return min(max(value, 0.5), POLL_MAX)


def write_steps(client, method, path, body=None, api_version=API_VERSION, if_match=None, timeout=1800,
                clock=time.monotonic, on_send=None):  # fmt: skip
    """One write, then its operation polled (a step generator); returns the final body (or the write's).

    A write refused because another operation runs on the resource (409, ``_vm.is_busy``: the record's own tag
    write, a concurrent run) is sent again after ``_vm.busy_delay`` (yielded, no worker held), at most
    ``BUSY_ATTEMPTS`` times; a 412 is the caller's (it must decide again on a fresh read). ``on_send()``, when
    given, is called just before each attempt is sent (the last call precedes the write that was accepted)."""
    attempt = 0
    while True:
        if on_send is not None:
            on_send()
        try:
            resp = client.request(method, path, api_version=api_version, body=body, if_match=if_match)
            break
        except ArmError as err:
            attempt += 1
            if not is_busy(err) or attempt >= BUSY_ATTEMPTS:
                raise
            yield busy_delay(attempt)
    return (yield from wait_operation(client, resp, timeout, clock, path))


def wait_operation(client, resp, timeout, clock=time.monotonic, path=None):
    """Poll the operation of ``resp`` (an ``ArmResponse``) until it ends; raise ArmError when it failed."""
    operation = resp.headers.get('Azure-AsyncOperation')
    location = resp.headers.get('Location')
    if not operation and not (location and resp.status == 202):
        return resp.body
    deadline = clock() + max(1, timeout)
    delay = _retry_after(resp.headers)
    while True:
        yield delay
        if operation:
            got = client.request('GET', operation, api_version=None)
            status = str((got.body or {}).get('status', 'InProgress'))
            if status == 'Succeeded':
                return resp.body
            if status in ('Failed', 'Canceled'):
                err = ArmError.from_body(None, got.body, resource_id=path,
                                         default_message='the operation ended with status %s' % status)  # fmt: skip
                err.accepted = True
                raise err
        else:
            got = client.request('GET', location, api_version=None)
            if got.status != 202:
                return got.body
        if clock() > deadline:
            raise TaskError('the operation on %s did not end within %ss' % (path, timeout), reason_code='timeout')
        delay = _retry_after(got.headers)
