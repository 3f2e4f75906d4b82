# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Resource Manager answers, as the collection names it (private: not a public API, may change without notice).

The api-version every request uses and the errors every domain raises and catches. The client that sends the
requests is ``_arm_client.ArmClient``: a domain is handed a client and only needs the names here.

Public names (kept stable):

- ``API_VERSION``: Microsoft.Compute api-version used by the collection (has keyIncarnationId and the
  host endpoint settings).
- ``ArmError(VmrescueError)``: ``status`` (HTTP status or None), ``code``, ``message``, ``target``,
  ``resource_id``, ``action`` (for 403: the missing permission), ``details``, ``accepted`` (True: Azure took
  the write and its long-running operation failed afterwards); ``from_body(status, body, ...)`` (an ARM error
  body); ``describe()`` -> one clear message; ``as_dict()`` -> JSON-safe dict for results; ``is_not_found``,
  ``is_conflict``; ``reason_code`` (``arm_reason_code(status, code)``).
- ``TaskError(msg, **result)``: a failure with a final user-facing message and extra result keys.
"""

from __future__ import annotations

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, scrub_obj

API_VERSION = '2024-11-01'

_ACTION_RE = re.compile(r"perform action '([^']+)'(?: over scope '([^']+)')?", re.I)


class ArmError(VmrescueError):
    """A failed Resource Manager request, an LRO that failed, or a sign-in failure.

    ``msg`` is ``describe()``; ``to_result()`` adds ``arm_error`` (``as_dict()``) and the ``reason_code`` of the
    status/code (throttled, conflict, not_found, forbidden, auth_failed, timeout, connection_error, arm_error).
    """

    def __init__(
        self,
        message,
        status=None,
        code=None,
        target=None,
        resource_id=None,
        details=None,
        action=None,
        scope=None,
        request_id=None,
    ):
        super().__init__(message)
        self.message = message or ''
        self.status = status
        self.code = code
        self.target = target
        self.resource_id = resource_id
        self.details = details or []
        self.action = action
        self.scope = scope
        self.request_id = request_id
        self.accepted = False  # True when Azure accepted the write and the long-running operation failed
        if self.action is None and self.message:
            m = _ACTION_RE.search(self.message)
            if m:
                self.action = m.group(1)
                self.scope = self.scope or m.group(2)

    @classmethod
    def from_body(cls, status, body, resource_id=None, headers=None, default_message=None):
        """Build from an ARM error body ``{"error": {...}}`` (or an LRO status body)."""
        err = None
        if isinstance(body, dict):
            err = body.get('error') if isinstance(body.get('error'), dict) else None
            if err is None and 'code' in body and 'message' in body:
                err = body
        err = err or {}
        request_id = None
        if headers is not None:
            request_id = headers.get('x-ms-correlation-request-id') or headers.get('x-ms-request-id')
        message = err.get('message') or default_message or ('HTTP %s' % status if status else 'request failed')
        return cls(
            message,
            status=status,
            code=err.get('code'),
            target=err.get('target'),
            resource_id=resource_id,
            details=err.get('details') or [],
            request_id=request_id,
        )

    @property
    def is_not_found(self):
        return self.status == 404

    @property
    def is_conflict(self):
        return self.status in (409, 412)

    def describe(self):
        """One message: ARM code (HTTP status), the resource, what went wrong, and for 403 the missing action."""
        head = self.code or 'Error'
        if self.status:
            head += ' (HTTP %s)' % self.status
        where = (' on %s' % self.resource_id) if self.resource_id else ''
        parts = ['%s%s: %s' % (head, where, self.message.rstrip())]
        if self.status == 403 or (self.code or '').lower() in ('authorizationfailed', 'linkedauthorizationfailed'):
            if self.action:
                parts.append(
                    "The credential lacks permission for action '%s'%s; grant a role that includes it "
                    '(for example Virtual Machine Contributor).'
                    % (self.action, (" on scope '%s'" % self.scope) if self.scope else '')
                )
        if self.target and self.target not in self.message:
            parts.append('Target: %s.' % self.target)
        codes = []
        for d in self.details:
            if isinstance(d, dict) and d.get('code'):
                text = d['code']
                if d.get('message') and d['message'] not in self.message:
                    text += ': ' + str(d['message'])[:300]
                codes.append(text)
        if codes:
            parts.append('Details: %s.' % '; '.join(codes))
        return ' '.join(parts)

    def as_dict(self):
        return dict(
            status=self.status,
            code=self.code,
            message=self.message,
            target=self.target,
            resource_id=self.resource_id,
            action=self.action,
            request_id=self.request_id,
        )

    @property
    def msg(self):
        return self.describe()

    @msg.setter
    def msg(self, value):
        self.message = value or ''

    @property
    def reason_code(self):
        return arm_reason_code(self.status, self.code)

    def to_result(self, secrets=()):
        """The failed result of this error: ``msg``, ``outcome``, ``arm_error`` and ``id`` (the resource), scrubbed."""
        out = super().to_result(secrets)
        out['arm_error'] = scrub_obj(self.as_dict(), secrets)
        return out

    def __str__(self):
        return self.describe()


def arm_reason_code(status, code):
    """The outcome reason_code of an ARM status/code."""
    code = (code or '').lower()
    if status == 429 or 'toomanyrequests' in code or 'throttl' in code:
        return 'throttled'
    if status == 401 or code in ('authenticationfailed', 'invalidauthenticationtoken', 'expiredauthenticationtoken'):
        return 'auth_failed'
    if status == 403 or 'authorizationfailed' in code:
        return 'forbidden'
    if status == 404 or code in ('resourcenotfound', 'notfound', 'resourcegroupnotfound'):
        return 'not_found'
    if status in (409, 412) or 'conflict' in code:
        return 'conflict'
    if status in (408, 504) or 'timeout' in code or 'timedout' in code:
        return 'timeout'
    if code == 'connectionerror':
        return 'connection_error'
    if code.startswith('provisioningstate') or code in ('operationfailed', 'operationcanceled'):
        return 'provisioning_failed'
    return 'arm_error'


class TaskError(VmrescueError):
    """A failure a plugin reports as-is: ``msg`` (already clear), extra result keys (``result``) and
    ``reason_code`` (keyword, for the outcome; default ``error``)."""
