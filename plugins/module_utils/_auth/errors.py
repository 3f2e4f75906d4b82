# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors of sign-in and auth configuration (private: not a public API, may change without notice).

Public names (kept stable):

- ``AuthError(VmrescueError)``: a configuration or sign-in problem; the message names options, never their values.
- ``auth_setup_error(exc) -> AuthError``: azure-identity's ValueError/TypeError for a bad option value.
- ``TransientSignInError``: the token endpoint failed transiently after the retries (``status``, ``authority``);
  ``transient_sign_in_error(authority, status)`` builds one (also azure-core's ClientAuthenticationError),
  ``transient_status(exc) -> (bool, status)`` tells one from an azure-identity error.
- ``ENTRA_RETRY``: the retries of the token requests (azure-identity's pipeline) that the message counts.
"""

from __future__ import annotations

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError

# Retries of the token requests, given to azure-identity's own pipeline (azure-core RetryPolicy; azure-identity
# marks its token POSTs retryable): 408, 429 and 5xx (Retry-After honoured) and dropped connections, five times
# with back-off 0.5 s doubling to at most 8 s (about 15 s in all). azure-core's default is three status retries.
ENTRA_RETRY = dict(
    retry_total=5, retry_connect=5, retry_read=5, retry_status=5, retry_backoff_factor=0.5, retry_backoff_max=8
)

_HTTP_ERROR_RE = re.compile(r'HTTP Error: (\d{3})|\b(5\d\d|429|408) (?:Server Error|Client Error)')


class TransientSignInError(Exception):
    """The token endpoint failed with a transient error (5xx, 429, 408 or a dropped connection) after the retries.

    ``status`` (int or None for a dropped connection), ``authority``; ``str()`` names it as transient. It is a
    subclass of azure-core's ClientAuthenticationError at runtime (see ``transient_sign_in_error``), so callers that
    only know azure-core still see an authentication error.
    """


def transient_status(exc):
    """(True, status or None) when ``exc`` (an azure-identity error) is a transient token endpoint failure."""
    try:  # lazy: azure-core costs start-up time, and only a failed sign-in gets here
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    except ImportError:  # pragma: no cover
        return False, None
    seen = 0
    cur = exc
    while cur is not None and seen < 8:
        if isinstance(cur, (ServiceRequestError, ServiceResponseError)):
            return True, None
        resp = getattr(cur, 'response', None)
        status = getattr(resp, 'status_code', None)
        if isinstance(status, int) and (status >= 500 or status in (408, 429)):
            return True, status
        m = _HTTP_ERROR_RE.search(str(getattr(cur, 'message', None) or cur))
        if m:
            code = int(m.group(1) or m.group(2))
            if code >= 500 or code in (408, 429):
                return True, code
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False, None


_TRANSIENT_CLASS = {}


def transient_sign_in_error(authority, status):
    """A TransientSignInError (also a ClientAuthenticationError) with the message users see."""
    from azure.core.exceptions import ClientAuthenticationError  # lazy: start-up time (see transient_status)

    what = 'returned HTTP %s' % status if status else 'dropped the connection'
    msg = (
        'the token endpoint of %s %s on every attempt (%d retries with back-off): a transient Entra ID failure, not a '
        'credential problem; nothing was changed by this request: re-run'
        % (authority, what, ENTRA_RETRY['retry_total'])
    )

    if 'cls' not in _TRANSIENT_CLASS:
        _TRANSIENT_CLASS['cls'] = type('TransientSignInError', (TransientSignInError, ClientAuthenticationError), {})
    err = _TRANSIENT_CLASS['cls'](message=msg)
    err.status = status
    err.authority = authority
    return err


class AuthError(VmrescueError):
    """Authentication configuration or sign-in failed. Messages name options, never their values."""

    reason_code = 'auth_failed'


def auth_setup_error(exc):
    """An error azure-identity raised while the credential was built (a bad option value) as an AuthError."""
    return AuthError(
        'the credential could not be set up from the auth options (tenant, client_id, secret, '
        'x509_certificate_path, ...): %s' % (str(exc) or exc.__class__.__name__)
    )
