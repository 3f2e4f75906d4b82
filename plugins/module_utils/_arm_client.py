# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource Manager client on azure-mgmt-core (private: not a public API, may change without notice).

Raw JSON in and out (see docs/design.md for why not the azure-mgmt-compute models). The api-version and the errors
it raises are in ``_arm`` (``API_VERSION``, ``ArmError``).

Public names (kept stable):

- ``ArmClient(auth, pool_size=10, pacer=None, **kw)``: one per credential; thread-safe (a batch shares one
  client between its workers: one credential, one connection pool of ``pool_size``, one ``_pacing.Pacer``).
  ``get(path, api_version=API_VERSION, params=None, missing_ok=False, resource_id=None) -> dict | None``
  ``get_with_etag(path, ...) -> (dict | None, etag | None)``
  ``patch(path, body, api_version=API_VERSION, lro=True, if_match=None, resource_id=None) -> dict``
  ``put(path, body, ...)``, ``post(path, body=None, ...)``, ``delete(path, ...)``
  ``request(method, path, ...) -> ArmResponse`` (no LRO handling), ``subscription_id`` (lazy).
  ``stats``: dict of ``read``/``write``/``poll`` request counts made through this client.
  ``bound(journal, gate=None) -> ArmClient``: the same client (pipeline, pacer, stats shared) that appends to the list
  ``journal`` one entry per write and per failed call (``journal_entry``: method, path, status, ``request_id`` and
  ``correlation_id`` from ``x-ms-request-id`` / ``x-ms-correlation-request-id``, error code, time): a target's
  record for the run report. ``principal``: ``{object_id, app_id, tenant_id}`` read from the claims of the token
  the client sent (no extra token request; None values before the first request). ``gate(method, path)``: called
  before each request of a bound client; raises to refuse it (``_preflight``).
- ``ArmResponse``: ``status``, ``headers``, ``body``, ``etag``. ``fresh_token_claims(now=None)``.

Retries: azure-core RetryPolicy honouring Retry-After (429, 408, 5xx, connection drops; PATCH and PUT
included because the collection's bodies are absolute values, safe to replay). Pacing: ``_pacing.PacingPolicy``
after the retry policy spaces requests by the throttling buckets' headers. LROs (``lro=True``): ARMPolling
(Azure-AsyncOperation first, then Location, then the body's provisioningState), final GET of the resource;
``lro=False`` returns the accepted response's body and leaves confirmation to the caller.

azure.core, azure.mgmt.core and requests are imported inside the functions that use them (start-up time: see
docs/design.md, "Start-up"; a task refused before its first request does not pay for them).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from urllib.parse import urlencode, urlsplit

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import (
    API_VERSION,
    ArmError,
    journal_entry,
    token_claims,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import TransientSignInError
from ansible_collections.vmrescue.azure.plugins.module_utils._http_transport import transport
from ansible_collections.vmrescue.azure.plugins.module_utils._pacing import Pacer, pacing_policy_class
from ansible_collections.vmrescue.azure.plugins.module_utils._report import COLLECTION_VERSION

USER_AGENT = 'vmrescue.azure/%s' % COLLECTION_VERSION


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
    """The response's JSON body, or None (no body, not JSON). The bytes are parsed as JSON text (RFC 8259: UTF-8, a
    BOM allowed), which Resource Manager sends; azure-core's ``text()``, which works out the charset from the
    Content-Type first (about half of this function's CPU), only when they do not parse."""
    try:
        content = http_response.body()
    except Exception:  # pylint: disable=broad-except
        return None
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        pass
    try:
        return json.loads(http_response.text())
    except Exception:  # pylint: disable=broad-except
        return None


class ArmClient:
    """Resource Manager client bound to one credential and cloud (``_auth.credential.AuthContext``)."""

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
        from azure.mgmt.core import ARMPipelineClient  # lazy: start-up time (see the module docstring)

        self.auth = auth
        self.polling_interval = polling_interval
        self.stats = {'read': 0, 'write': 0, 'poll': 0}
        self.journal = None  # a target's list of entries (``bound``); None: nothing recorded
        self.gate = None  # a target's preflight verdict (``bound``)
        self._identity = {}  # the token's principal, shared by the bound copies (``principal``)
        self.pacer = pacer if pacer is not None else Pacer()
        transport_kwargs = _transport_kwargs(auth.verify)
        self._request_kwargs = dict(transport_kwargs)
        self._request_kwargs['connection_timeout'] = 30
        self._request_kwargs['read_timeout'] = timeout

        pol = self._policies(retry_total, retry_backoff_max)
        kwargs = {}
        if transport is not None:
            kwargs['transport'] = transport
        else:
            kwargs['transport'] = _pooled_transport(pool_size, transport_kwargs)
        self._client = ARMPipelineClient(base_url=auth.cloud.resource_manager.rstrip('/'), policies=pol, **kwargs)

    def _policies(self, retry_total, retry_backoff_max):
        """The pipeline: azure-core's standard policies (no ContentDecodePolicy, see below), retries (PATCH/PUT
        replayed), then pacing, the token (a fresh one after a 401) and the request counts."""
        from azure.core.pipeline import policies  # lazy: start-up time
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        return [
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.UserAgentPolicy(sdk_moniker=USER_AGENT),
            policies.ProxyPolicy(),
            # No ContentDecodePolicy: this client parses each body once itself (``_json_or_none``); the policy's
            # parse per response served only the generated SDK models' deserializers, which are not used.
            policies.RedirectPolicy(),
            _replaying_retry_policy(
                policies,
                retry_total=retry_total,
                retry_connect=5,
                retry_read=5,
                retry_status=retry_total,
                retry_backoff_factor=0.8,
                retry_backoff_max=retry_backoff_max,
            ),
            # After the retry policy: every attempt (retries too) waits for its slot and reports its headers.
            pacing_policy_class()(self.pacer),
            _fresh_token_policy_class(ARMChallengeAuthenticationPolicy)(self.auth.credential, self.auth.cloud.scope),
            _counting_policy(policies, self),
            policies.SensitiveHeaderCleanupPolicy(),
        ]

    # -- low level ---------------------------------------------------------------------------------
    @property
    def subscription_id(self):
        return self.auth.get_subscription_id()

    def bound(self, journal, gate=None):
        """This client recording one target's writes and failed calls in ``journal`` (see the module docstring);
        ``gate(method, path)``, when given, is called before each request and may raise to refuse it (the target's
        preflight verdict)."""
        view = copy.copy(self)  # shares the pipeline, pacer, stats and identity: only these two differ
        view.journal = journal
        view.gate = gate
        return view

    @property
    def principal(self):
        return dict(
            object_id=self._identity.get('oid'), app_id=self._identity.get('appid'), tenant_id=self._identity.get('tid')
        )

    def _record(self, method, path, status, headers=None, code=None, failed=False):
        """One journal entry for a write (any status) or a failed call; nothing without a journal."""
        if self.journal is None:
            return
        if not failed and method in ('GET', 'HEAD') and status is not None and status < 400:
            return
        self.journal.append(journal_entry(method, path, status, headers, code))

    def _url(self, path, api_version, params):
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
        from azure.core.exceptions import (  # lazy: start-up time
            AzureError,
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.rest import HttpRequest

        if self.gate is not None:
            self.gate(method, path)
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
            pr = self._client.send_request(
                request, stream=False, _return_pipeline_response=True, **self._request_kwargs
            )
        except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError, AzureError) as exc:
            self._record(method, path, None, code=exc.__class__.__name__)
            self._raise_for(exc, rid)
        resp = pr.http_response
        code = None
        if resp.status_code >= 400:
            err = (_json_or_none(resp) or {}).get('error') if self.journal is not None else None
            code = err.get('code') if isinstance(err, dict) else None
        self._record(method, path, resp.status_code, resp.headers, code)
        return pr

    def _raise_for(self, exc, rid):
        """Raise the ArmError for an exception of azure-core's pipeline (sign-in, connection, other)."""
        from azure.core.exceptions import (  # lazy: start-up time
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, TransientSignInError):
            raise ArmError(_short(exc), code='TokenEndpointUnavailable', resource_id=rid)
        if isinstance(exc, ClientAuthenticationError):
            raise ArmError(
                'sign-in with %s failed: %s' % (self.auth.source, _short(exc)),
                status=401,
                code='AuthenticationFailed',
                resource_id=rid,
            )
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            raise ArmError(
                'could not reach Resource Manager at %s: %s' % (self.auth.cloud.resource_manager, _short(exc)),
                code='ConnectionError',
                resource_id=rid,
            )
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
        from azure.core.exceptions import AzureError, HttpResponseError  # lazy: start-up time
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
            if resp is not None:  # the status call that said the operation failed
                failure = (body or {}).get('error') if isinstance(body, dict) else None
                code = failure.get('code') if isinstance(failure, dict) else None
                self._record('GET', urlsplit(resp.request.url).path, status, resp.headers, code, failed=True)
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
            return token.expires_on - time.time() < 300

    return FreshTokenOn401Policy


def _pooled_transport(pool_size, transport_kwargs):
    """``_http_transport.transport``: a pool of ``pool_size`` connections per host (one per worker), http.client for
    direct connections and requests (``_http_session``) through a proxy or with netrc credentials."""
    return transport(pool_size, transport_kwargs.get('connection_verify', True))


def _short(exc):
    text = getattr(exc, 'message', None) or str(exc)
    text = ' '.join(str(text).split())
    return text[:600]


def _transport_kwargs(verify):
    """The transport's TLS setting from ``AuthContext.verify`` (False, a CA bundle path, or True: the default)."""
    transport_kwargs = {}
    if verify is False:
        transport_kwargs['connection_verify'] = False
    elif isinstance(verify, str):
        transport_kwargs['connection_verify'] = verify
    return transport_kwargs


def _replaying_retry_policy(policies, **kwargs):
    """azure-core's RetryPolicy (``policies``: azure.core.pipeline.policies) that also replays PATCH and PUT."""

    class _Retry(policies.RetryPolicy):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Our PATCH/PUT bodies carry absolute values: replaying after a dropped connection is safe.
            self._method_whitelist = frozenset(['HEAD', 'GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

    return _Retry(**kwargs)


def _counting_policy(policies, client):
    """A policy that counts every request sent (retries too) in ``client.stats``: read, poll or write."""
    stats_lock = threading.Lock()

    class _Count(policies.SansIOHTTPPolicy):
        def on_request(self, request):
            if not client._identity:  # pylint: disable=protected-access  # who the calls are made as, once
                claims = token_claims(request.http_request.headers.get('Authorization'))
                client._identity.update(  # pylint: disable=protected-access
                    oid=claims.get('oid'), appid=claims.get('appid') or claims.get('azp'), tid=claims.get('tid')
                )
            method = request.http_request.method.upper()
            if method in ('GET', 'HEAD'):
                url = request.http_request.url.split('?', 1)[0].lower()
                kind = 'poll' if 'operation' in url else 'read'
            else:
                kind = 'write'
            with stats_lock:
                client.stats[kind] += 1

    return _Count()
