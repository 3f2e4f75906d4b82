# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource Manager client on azure-mgmt-core (private: not a public API, may change without notice).

Raw JSON in and out (see docs/design.md for why not the azure-mgmt-compute models).

Public names (kept stable):

- ``API_VERSION``: Microsoft.Compute api-version used by the collection (has keyIncarnationId and the
  host endpoint settings).
- ``ArmError(Exception)``: ``status`` (HTTP status or None), ``code``, ``message``, ``target``,
  ``resource_id``, ``action`` (for 403: the missing permission), ``details``, ``accepted`` (True: Azure took
  the write and its long-running operation failed afterwards); ``describe()`` -> one clear message; ``as_dict()`` -> JSON-safe dict for results.
  ``is_not_found``, ``is_conflict``.
- ``TaskError(msg, **result)``: a failure with a final user-facing message and extra result keys.
- ``ArmClient(auth, pool_size=10, pacer=None, **kw)``: one per credential; thread-safe (a batch shares one
  client between its workers: one credential, one connection pool of ``pool_size``, one ``_pacing.Pacer``).
  ``get(path, api_version=API_VERSION, params=None, missing_ok=False, resource_id=None) -> dict | None``
  ``get_with_etag(path, ...) -> (dict | None, etag | None)``
  ``patch(path, body, api_version=API_VERSION, lro=True, if_match=None, resource_id=None) -> dict``
  ``put(path, body, ...)``, ``post(path, body=None, ...)``, ``delete(path, ...)``
  ``request(method, path, ...) -> ArmResponse`` (no LRO handling), ``subscription_id`` (lazy).
  ``stats``: dict of ``read``/``write``/``poll`` request counts made through this client.

Retries: azure-core RetryPolicy honouring Retry-After (429, 408, 5xx, connection drops; PATCH and PUT
included because the collection's bodies are absolute values, safe to replay). Pacing: ``_pacing.PacingPolicy``
after the retry policy spaces requests by the throttling buckets' headers. LROs (``lro=True``): ARMPolling
(Azure-AsyncOperation first, then Location, then the body's provisioningState), final GET of the resource;
``lro=False`` returns the accepted response's body and leaves confirmation to the caller.
"""

from __future__ import annotations

import json
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError

API_VERSION = '2024-11-01'
USER_AGENT = 'vmrescue.azure/0.1.0'

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
        from ansible_collections.vmrescue.azure.plugins.module_utils._errors import scrub_obj

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


class ArmResponse:
    """Status, headers (case-insensitive) and parsed JSON body (or None) of one response."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def etag(self):
        if isinstance(self.body, dict) and self.body.get('etag'):
            return self.body['etag']
        return self.headers.get('ETag')


def _json_or_none(http_response):
    try:
        text = http_response.text()
    except Exception:  # pylint: disable=broad-except
        return None
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class ArmClient:
    """Resource Manager client bound to one credential and cloud (``_auth.AuthContext``)."""

    def __init__(
        self,
        auth,
        retry_total=10,
        retry_backoff_max=60,
        polling_interval=5,
        transport=None,
        timeout=120,
        pool_size=10,
        pacer=None,
    ):
        import threading

        from azure.core.pipeline import policies
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        from ansible_collections.vmrescue.azure.plugins.module_utils._pacing import Pacer, pacing_policy_class

        self.auth = auth
        self.polling_interval = polling_interval
        self.stats = {'read': 0, 'write': 0, 'poll': 0}
        self.pacer = pacer if pacer is not None else Pacer()
        stats_lock = threading.Lock()

        class _Retry(policies.RetryPolicy):
            def __init__(self, **kwargs):
                super(_Retry, self).__init__(**kwargs)
                # Our PATCH/PUT bodies carry absolute values: replaying after a dropped connection is safe.
                self._method_whitelist = frozenset(['HEAD', 'GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

        client = self

        class _Count(policies.SansIOHTTPPolicy):
            def on_request(self, request):
                method = request.http_request.method.upper()
                if method in ('GET', 'HEAD'):
                    url = request.http_request.url.split('?', 1)[0].lower()
                    kind = 'poll' if 'operation' in url else 'read'
                else:
                    kind = 'write'
                with stats_lock:
                    client.stats[kind] += 1

        transport_kwargs = {}
        if auth.verify is False:
            transport_kwargs['connection_verify'] = False
        elif isinstance(auth.verify, str):
            transport_kwargs['connection_verify'] = auth.verify
        self._request_kwargs = dict(transport_kwargs)
        self._request_kwargs['connection_timeout'] = 30
        self._request_kwargs['read_timeout'] = timeout

        pol = [
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.UserAgentPolicy(sdk_moniker=USER_AGENT),
            policies.ProxyPolicy(),
            policies.ContentDecodePolicy(),
            policies.RedirectPolicy(),
            _Retry(
                retry_total=retry_total,
                retry_connect=5,
                retry_read=5,
                retry_status=retry_total,
                retry_backoff_factor=0.8,
                retry_backoff_max=retry_backoff_max,
            ),
            # After the retry policy: every attempt (retries too) waits for its slot and reports its headers.
            pacing_policy_class()(self.pacer),
            _fresh_token_policy_class(ARMChallengeAuthenticationPolicy)(auth.credential, auth.cloud.scope),
            _Count(),
            policies.SensitiveHeaderCleanupPolicy(),
        ]
        kwargs = {}
        if transport is not None:
            kwargs['transport'] = transport
        else:
            kwargs['transport'] = _pooled_transport(pool_size, transport_kwargs)
        self._client = ARMPipelineClient(base_url=auth.cloud.resource_manager.rstrip('/'), policies=pol, **kwargs)

    # -- low level ---------------------------------------------------------------------------------
    @property
    def subscription_id(self):
        return self.auth.get_subscription_id()

    def _url(self, path, api_version, params):
        from urllib.parse import urlencode

        if path.startswith('https://'):
            url = path
        else:
            url = self._client._base_url.rstrip('/') + '/' + path.lstrip('/')  # pylint: disable=protected-access
        query = [('api-version', api_version)] if api_version else []
        for k, v in (params or {}).items():
            if v is not None:
                query.append((k, v))
        if query:
            url += ('&' if '?' in url else '?') + urlencode(query)
        return url

    def _send(self, method, path, api_version, params=None, body=None, headers=None, if_match=None, resource_id=None):
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.rest import HttpRequest

        hdrs = {'Accept': 'application/json'}
        hdrs.update(headers or {})
        if if_match:
            hdrs['If-Match'] = if_match
        content = None
        if body is not None:
            hdrs['Content-Type'] = 'application/json'
            content = json.dumps(body)
        request = HttpRequest(method, self._url(path, api_version, params), headers=hdrs, content=content)
        rid = resource_id or (path.split('?', 1)[0] if not path.startswith('https://') else None)
        try:
            return self._client.send_request(
                request, stream=False, _return_pipeline_response=True, **self._request_kwargs
            )
        except ClientAuthenticationError as exc:
            from ansible_collections.vmrescue.azure.plugins.module_utils._auth import TransientSignInError

            if isinstance(exc, TransientSignInError):
                raise ArmError(_short(exc), code='TokenEndpointUnavailable', resource_id=rid)
            raise ArmError(
                'sign-in with %s failed: %s' % (self.auth.source, _short(exc)),
                status=401,
                code='AuthenticationFailed',
                resource_id=rid,
            )
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise ArmError(
                'could not reach Resource Manager at %s: %s' % (self.auth.cloud.resource_manager, _short(exc)),
                code='ConnectionError',
                resource_id=rid,
            )
        except AzureError as exc:
            raise ArmError(_short(exc), code=exc.__class__.__name__, resource_id=rid)

    def request(
        self,
        method,
        path,
        api_version=API_VERSION,
        params=None,
        body=None,
        headers=None,
        if_match=None,
        resource_id=None,
    ):
        """One request (retries included, no LRO handling). Raises ArmError for status >= 400."""
        pr = self._send(method, path, api_version, params, body, headers, if_match, resource_id)
        resp = pr.http_response
        parsed = _json_or_none(resp)
        if resp.status_code >= 400:
            raise ArmError.from_body(
                resp.status_code, parsed, resource_id=resource_id or path.split('?', 1)[0], headers=resp.headers
            )
        return ArmResponse(resp.status_code, resp.headers, parsed)

    # -- convenience --------------------------------------------------------------------------------
    def get_with_etag(self, path, api_version=API_VERSION, params=None, missing_ok=False, resource_id=None):
        """GET a resource: (body, etag). With ``missing_ok``, a 404 gives (None, None)."""
        try:
            resp = self.request('GET', path, api_version, params=params, resource_id=resource_id)
        except ArmError as err:
            if missing_ok and err.status == 404:
                return None, None
            raise
        return resp.body, resp.etag

    def get(self, path, api_version=API_VERSION, params=None, missing_ok=False, resource_id=None):
        """GET a resource's JSON. With ``missing_ok``, a 404 returns None instead of raising."""
        return self.get_with_etag(path, api_version, params, missing_ok, resource_id)[0]

    def patch(self, path, body, api_version=API_VERSION, lro=True, if_match=None, resource_id=None):
        return self._write('PATCH', path, body, api_version, lro, if_match, resource_id)

    def put(self, path, body, api_version=API_VERSION, lro=True, if_match=None, resource_id=None):
        return self._write('PUT', path, body, api_version, lro, if_match, resource_id)

    def post(self, path, body=None, api_version=API_VERSION, lro=True, resource_id=None):
        return self._write('POST', path, body, api_version, lro, None, resource_id)

    def delete(self, path, api_version=API_VERSION, lro=True, resource_id=None):
        return self._write('DELETE', path, None, api_version, lro, None, resource_id)

    def _write(self, method, path, body, api_version, lro, if_match, resource_id):
        rid = resource_id or path.split('?', 1)[0]
        pr = self._send(method, path, api_version, body=body, if_match=if_match, resource_id=rid)
        resp = pr.http_response
        if resp.status_code >= 400:
            raise ArmError.from_body(resp.status_code, _json_or_none(resp), resource_id=rid, headers=resp.headers)
        if not lro:
            return _json_or_none(resp)
        try:
            return self._poll(pr, rid)
        except ArmError as err:
            err.accepted = True  # Resource Manager took the write; the operation failed afterwards
            raise

    def _poll(self, pipeline_response, rid):
        """Drive an LRO with ARMPolling from its initial response; return the final JSON (or None)."""
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.mgmt.core.polling.arm_polling import ARMPolling

        method = ARMPolling(self.polling_interval, **self._request_kwargs)
        try:
            method.initialize(self._client, pipeline_response, lambda pr: _json_or_none(pr.http_response))
            method.run()
            return method.resource()
        except HttpResponseError as exc:
            resp = exc.response
            body = _json_or_none(resp) if resp is not None else None
            status = resp.status_code if resp is not None else None
            if isinstance(body, dict) and str(body.get('status', '')).lower() in ('failed', 'canceled'):
                err = ArmError.from_body(
                    None,
                    body,
                    resource_id=rid,
                    headers=resp.headers,
                    default_message='the operation ended with status %s' % body.get('status'),
                )
                if not err.code:
                    err.code = 'Operation' + str(body.get('status'))
                raise err
            if (
                isinstance(body, dict)
                and isinstance(body.get('properties'), dict)
                and str(body['properties'].get('provisioningState', '')).lower() in ('failed', 'canceled')
            ):
                raise ArmError(
                    'the operation ended with provisioningState %s' % body['properties']['provisioningState'],
                    code='ProvisioningState' + body['properties']['provisioningState'],
                    resource_id=rid,
                )
            if status and status >= 400:
                raise ArmError.from_body(status, body, resource_id=rid, headers=resp.headers)
            raise ArmError('long-running operation failed: %s' % _short(exc), code='OperationFailed', resource_id=rid)
        except AzureError as exc:
            raise ArmError(
                'long-running operation failed: %s' % _short(exc), code=exc.__class__.__name__, resource_id=rid
            )


def fresh_token_claims(now=None):
    """The claims of a token request that must not be answered from a cache: a token issued from now on (the
    ``nbf`` claim Resource Manager itself sends in a continuous access evaluation challenge). MSAL sends a request
    with claims to Entra ID instead of answering it from its (shared, persistent) token cache, and replaces the
    cached token with the new one."""
    import time

    return json.dumps(
        {'access_token': {'nbf': {'essential': True, 'value': str(int(now if now is not None else time.time()))}}}
    )


def _fresh_token_policy_class(base):
    """``base`` (ARMChallengeAuthenticationPolicy) plus: after a 401 that is not a claims challenge (the token was
    revoked, its signing key rotated, or it is otherwise no longer accepted), one fresh token from Entra ID,
    bypassing every token cache, and one retry of the request. A 401 for a token obtained that way is final.

    azure-core only forgets its own copy of the token after a 401; the credential would answer the next request
    from the shared token cache (~/.IdentityService) with the same rejected token until it expires.
    """
    import threading

    class FreshTokenOn401Policy(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._fresh_lock = threading.Lock()
            self._fresh = None  # the last token obtained bypassing the caches

        def on_challenge(self, request, response):
            if super().on_challenge(request, response):
                return True
            used = (request.http_request.headers.get('Authorization') or '')[len('Bearer ') :]
            with self._fresh_lock:
                fresh = self._fresh
                if fresh is not None and fresh.token == used:
                    return False  # the fresh token was refused too: a real failure
                if fresh is None or self._need_new_token_for(fresh):
                    try:
                        self._request_token(*self._scopes, claims=fresh_token_claims())
                    except Exception as exc:  # pylint: disable=broad-except
                        from ansible_collections.vmrescue.azure.plugins.module_utils._auth import TransientSignInError

                        if isinstance(exc, TransientSignInError):
                            raise
                        # a credential that takes no claims (the Azure CLI's keeps no token of ours): the 401 stands
                        return False
                    fresh = self._fresh = self._token
                else:  # another request of this client already fetched a fresh one
                    self._token = fresh
            self._update_headers(request.http_request.headers, fresh.token)
            return True

        @staticmethod
        def _need_new_token_for(token):
            import time

            return token.expires_on - time.time() < 300

    return FreshTokenOn401Policy


def _pooled_transport(pool_size, transport_kwargs):
    """A RequestsTransport whose connection pool holds ``pool_size`` connections per host (one per worker)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    # Like azure-core's own adapter: no urllib3 retries (the RetryPolicy retries), but a pool per concurrency.
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4,
        pool_maxsize=max(1, int(pool_size)),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount('https://', adapter)
    session.mount('http://', adapter)
    return RequestsTransport(session=session, session_owner=True, **transport_kwargs)


def _short(exc):
    text = getattr(exc, 'message', None) or str(exc)
    text = ' '.join(str(text).split())
    return text[:600]
