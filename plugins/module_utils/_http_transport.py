# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP transport of ``_arm_client``: http.client for direct connections, requests for the rest (private: may
change without notice).

Why (docs/performance.md, "A lighter HTTP transport"): at Azure's pace a batch's controller is bound by CPU, and
about two thirds of its CPU per request went to requests and urllib3 (preparing and merging each request, cookie
extraction, two response objects per request) around the http.client exchange that does the work. Measured with
``bench/http_cpu.py``.

``transport(pool_size, verify)`` returns an azure-core ``HttpTransport`` that sends a request itself, over a pool of
kept-alive ``http.client`` connections, when nothing about it needs requests, and hands it to a ``RequestsTransport``
on ``_http_session.env_once_session`` (the collection's transport before this one, unchanged) otherwise:

- a proxy applies to the URL (``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` outside ``NO_PROXY``, as requests works
  it out), or ``~/.netrc`` has credentials for its host: requests' proxy tunnels and netrc handling;
- the caller streams the response, asks for a content coding (``Accept-Encoding``), passes proxies, a client
  certificate or any option this transport does not know;
- the request is azure-core's legacy ``pipeline.transport.HttpRequest``, or carries files or a streamed body.

What a direct request gets is what requests would do: TLS from urllib3's own context factory (the same protocol
floor and options), verified against ``connection_verify`` (a CA file or directory), else ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``, else certifi's bundle (requests' default), or not verified when ``connection_verify`` is False;
``Content-Length`` for every body (0 for a body-less POST, PUT or PATCH, which Resource Manager requires),
``Accept-Encoding: identity`` (http.client's: a body never needs decoding); no
redirects followed (azure-core's RedirectPolicy follows them); repeated response headers joined with ", ". A pooled
connection the server has closed while idle is not reused (checked before each reuse, as urllib3 does). Errors map
to azure-core's as its RequestsTransport maps them: no connection (refused, DNS, TLS handshake) ->
``ServiceRequestError``, connect timeout -> ``ServiceRequestTimeoutError``, read timeout ->
``ServiceResponseTimeoutError``, a body shorter than its Content-Length -> ``IncompleteReadError``, any other
failure once connected -> ``ServiceResponseError``; the connection is dropped after any of them. The environment
(proxies, netrc, CA bundle) is read once per origin, as ``_http_session`` reads it.

Public names (kept stable): ``transport(pool_size, verify=True)``.

requests, urllib3 and azure.core are imported inside the functions (start-up time, as in ``_arm_client``).
"""

from __future__ import annotations

import http.client
import os
import select
import threading
from urllib.parse import urlsplit

from ansible_collections.vmrescue.azure.plugins.module_utils._http_session import env_once_session, origin_environment

# options of azure-core's transports this one serves itself; any other sends the request through requests
_OWN_OPTIONS = frozenset(['connection_timeout', 'read_timeout', 'connection_verify', 'stream'])
_BODY_METHODS = frozenset(['POST', 'PUT', 'PATCH'])


def transport(pool_size, verify=True):
    """An azure-core ``HttpTransport`` (see the module docstring): ``pool_size`` kept-alive connections per origin;
    ``verify``: True (the environment's CA bundle or certifi's), a CA file or directory, or False."""
    from azure.core.pipeline.transport import HttpTransport, RequestsTransport  # lazy: start-up time

    kwargs = {} if verify is True else {'connection_verify': verify}
    fallback = RequestsTransport(session=env_once_session(pool_size), session_owner=True, **kwargs)
    return _transport_class(HttpTransport)(pool_size, verify, fallback)


def _transport_class(base):
    class DirectTransport(base):
        """http.client for direct connections; ``fallback`` (a RequestsTransport) for the rest."""

        def __init__(self, pool_size, verify, fallback):
            self.fallback = fallback
            self._verify = verify
            self.pool_size = max(1, int(pool_size))
            self.origins = {}  # (scheme, netloc, verify) -> _Origin, or None when requests sends its requests
            self.contexts = {}  # CA location or False -> ssl.SSLContext
            self.lock = threading.Lock()
            self.connects = 0  # new connections made (tests, the benchmark)

        def __enter__(self):
            self.open()
            return self

        def __exit__(self, *args):
            self.close()

        def open(self):
            self.fallback.open()

        def close(self):
            with self.lock:
                origins, self.origins = list(self.origins.values()), {}
            for origin in origins:
                if origin is not None:
                    origin.close()
            self.fallback.close()

        def send(self, request, *, proxies=None, **kwargs):
            from azure.core.pipeline._tools import is_rest  # lazy: start-up time

            origin = None
            if (
                not proxies
                and not kwargs.get('stream')
                and _OWN_OPTIONS.issuperset(kwargs)
                and is_rest(request)
                and 'Accept-Encoding' not in request.headers  # a caller's own: requests decodes what it asked for
            ):
                body = request.content
                if body is None or isinstance(body, (bytes, str)):
                    origin = _origin(self, request.url, kwargs.get('connection_verify', self._verify))
            if origin is None:
                return self.fallback.send(request, proxies=proxies, **kwargs)
            if isinstance(body, str):
                body = body.encode('utf-8')
            timeouts = (kwargs.get('connection_timeout', 300), kwargs.get('read_timeout', 300))
            return _response(request, *origin.exchange(request, body, timeouts))

    return DirectTransport


def _origin(owner, url, verify):
    """The pool of ``owner`` (a DirectTransport) for ``url``'s origin and ``verify``, or None when requests should
    send to it (a proxy applies, or netrc has credentials for the host)."""
    if verify is None:  # azure-core's "not set": verified, as with True
        verify = True
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, verify if isinstance(verify, str) else bool(verify))
    if key in owner.origins:
        return owner.origins[key]
    origin = None
    if parts.scheme in ('https', 'http') and parts.hostname:
        proxies, netrc, ca = origin_environment(url)
        if not proxies and netrc is None:
            context = _context(owner, ca if verify is True else verify) if parts.scheme == 'https' else None
            origin = _Origin(parts.scheme, parts.hostname, parts.port, context, owner)
    with owner.lock:
        return owner.origins.setdefault(key, origin)


def _context(owner, verify):
    """``owner``'s TLS context for ``verify`` (a CA file or directory, False, or None: certifi's bundle), made once."""
    if verify is None:
        verify = _certifi()
    if verify not in owner.contexts:
        owner.contexts[verify] = _ssl_context(verify)
    return owner.contexts[verify]


def _certifi():
    from requests.utils import DEFAULT_CA_BUNDLE_PATH  # lazy: start-up time (certifi's bundle, requests' default)

    return DEFAULT_CA_BUNDLE_PATH


def _ssl_context(verify):
    """urllib3's TLS context (as requests builds it) verifying against ``verify`` (a CA file or directory) or not
    verifying at all (False)."""
    import ssl

    from urllib3.util.ssl_ import create_urllib3_context  # lazy: start-up time

    if verify is False:
        context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
        context.check_hostname = False
        return context
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.check_hostname = True
    if os.path.isdir(verify):
        context.load_verify_locations(capath=verify)
    else:
        context.load_verify_locations(cafile=verify)
    return context


class _Origin:
    """Kept-alive connections to one scheme://host:port, at most ``size`` idle."""

    def __init__(self, scheme, host, port, context, owner):
        self.scheme = scheme
        self.host = host
        self.port = port or (443 if scheme == 'https' else 80)
        self.context = context
        self.size = owner.pool_size
        self.owner = owner
        self.idle = []
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    def _take(self):
        while True:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                return None
            if conn.sock is not None and not _dropped(conn.sock):
                return conn
            conn.close()

    def _give(self, conn):
        with self.lock:
            if len(self.idle) < self.size:
                self.idle.append(conn)
                return
        conn.close()

    def _connect(self, timeout):
        from azure.core.exceptions import ServiceRequestError, ServiceRequestTimeoutError  # lazy: start-up time

        if self.context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.response_class = _Response
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise ServiceRequestTimeoutError(_text('connecting to', self, exc), error=exc) from exc
        except (OSError, ValueError) as exc:  # refused, DNS, TLS handshake and certificate (ssl errors are OSError)
            conn.close()
            raise ServiceRequestError(_text('connecting to', self, exc), error=exc) from exc
        self.owner.connects += 1
        return conn

    def exchange(self, request, body, timeouts):
        """(http.client response, its body) of ``request`` over a pooled or new connection."""
        from azure.core.exceptions import (  # lazy: start-up time
            IncompleteReadError,
            ServiceResponseError,
            ServiceResponseTimeoutError,
        )

        conn = self._take() or self._connect(timeouts[0])
        try:
            conn.sock.settimeout(timeouts[1])
            _write(conn, request, body)
            resp = conn.getresponse()
            content = resp.read()
        except TimeoutError as exc:
            conn.close()
            raise ServiceResponseTimeoutError(_text('reading from', self, exc), error=exc) from exc
        except http.client.IncompleteRead as exc:
            conn.close()
            raise IncompleteReadError(_text('reading from', self, exc), error=exc) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            conn.close()
            raise ServiceResponseError(_text('talking to', self, exc), error=exc) from exc
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._give(conn)
        return resp, content


class _Headers:
    """A response's header fields, in order, looked up without regard to case: what ``http.client`` reads from its
    ``HTTPMessage`` (``get``, ``get_all``, ``items``), parsed without the ``email`` package (a fifth of the transport's
    CPU per request)."""

    def __init__(self, lines):
        self.fields = []
        for line in lines:
            text = line.decode('iso-8859-1').rstrip('\r\n')
            if text[:1] in (' ', '\t') and self.fields:  # an obsolete folded line continues the field before it
                name, value = self.fields[-1]
                self.fields[-1] = (name, value + ' ' + text.strip())
                continue
            name, colon, value = text.partition(':')
            if colon and name and name == name.strip():
                self.fields.append((name, value.strip()))
        self.index = {}
        for name, value in self.fields:
            self.index.setdefault(name.lower(), []).append(value)

    def get(self, name, default=None):
        values = self.index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name, default=None):
        return list(self.index.get(name.lower(), ())) or default

    def items(self):
        return list(self.fields)


class _Response(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` with its header block parsed by ``_Headers``. ``begin`` is http.client's own
    (Python 3.11), but for that parse and the interim responses' headers being read by the same function."""

    def begin(self):
        if self.headers is not None:
            return
        while True:  # until a final (not 100 Continue) response
            version, status, reason = self._read_status()
            lines = _header_lines(self.fp)
            if status != http.client.CONTINUE:
                break
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ('HTTP/1.0', 'HTTP/0.9'):
            self.version = 10
        elif version.startswith('HTTP/1.'):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _Headers(lines)
        self.chunked = (self.headers.get('transfer-encoding') or '').lower() == 'chunked'
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get('content-length')
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            if self.length is not None and self.length < 0:
                self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == 'HEAD'
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def _header_lines(fp):
    """The header lines up to the blank line, with http.client's limits on their length and number."""
    lines = []
    while True:
        line = fp.readline(http.client._MAXLINE + 1)  # pylint: disable=protected-access
        if len(line) > http.client._MAXLINE:  # pylint: disable=protected-access
            raise http.client.LineTooLong('header line')
        if line in (b'\r\n', b'\n', b''):
            return lines
        lines.append(line)
        if len(lines) > http.client._MAXHEADERS:  # pylint: disable=protected-access
            raise http.client.HTTPException('got more than %d headers' % http.client._MAXHEADERS)  # pylint: disable=protected-access


def _write(conn, request, body):
    """The request line, the request's headers (a Content-Length for every body) and the body."""
    parts = urlsplit(request.url)
    target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    conn.putrequest(request.method, target)  # with http.client's Accept-Encoding: identity (no body to decode)
    for name, value in request.headers.items():
        if name.lower() != 'content-length':  # counted here, in bytes (azure-core counts a str body's characters)
            conn.putheader(name, value)
    if body is not None or request.method in _BODY_METHODS:
        conn.putheader('Content-Length', str(len(body or b'')))
    conn.endheaders(body)


def _dropped(sock):
    """True when a kept-alive connection's socket is readable while idle: the server closed it (or sent what it
    should not have); urllib3's own check before reusing a pooled connection."""
    try:
        poller = select.poll()  # not select.select: a batch may hold more than FD_SETSIZE descriptors
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _text(doing, origin, exc):
    return '%s %s:%s failed: %s: %s' % (doing, origin.host, origin.port, exc.__class__.__name__, exc)


def _response(request, raw, content):
    """An azure-core rest response holding the whole body, already read and closed (``raw``: http.client's)."""
    from azure.core.rest._http_response_impl import HttpResponseImpl  # lazy: start-up time
    from azure.core.utils import CaseInsensitiveDict

    headers = CaseInsensitiveDict()
    for name, value in raw.msg.items():
        if name in headers:
            headers[name] = headers[name] + ', ' + value
        else:
            headers[name] = value
    response = HttpResponseImpl(
        request=request,
        internal_response=raw,
        status_code=raw.status,
        reason=raw.reason,
        headers=headers,
        content_type=headers.get('Content-Type'),
        stream_download_generator=None,
    )
    response._content = content  # pylint: disable=protected-access
    response._is_stream_consumed = True  # pylint: disable=protected-access
    response._is_closed = True  # pylint: disable=protected-access
    return response
