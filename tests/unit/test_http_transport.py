"""_http_transport (issue 25): the ArmClient's transport sends direct requests over kept-alive http.client connections
and gives azure-core what its RequestsTransport gives (status, headers, body; the same error classes), and hands to
requests whatever needs requests (a proxy, netrc credentials, a streamed response, an option it does not know).

The server here speaks raw HTTP/1.1 over a socket, so each test says byte for byte what the wire carries."""

import os
import socket
import ssl
import threading
import time

import pytest
from azure.core.exceptions import (
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest
from test_arm_errors import _Auth

from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient
from ansible_collections.vmrescue.azure.plugins.module_utils._http_transport import transport

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


class RawServer:
    """Accepts connections on 127.0.0.1; ``reply(request_bytes, n)`` gives the bytes to answer the n-th request with
    (None: close the connection without answering). Requests are read up to the end of their headers plus their
    Content-Length."""

    def __init__(self, reply, tls=None):
        self.reply = reply
        self.tls = tls  # a server-side ssl.SSLContext, or None: plain HTTP
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = []
        self.open = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.tls else 'http', self.port)

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused the certificate
                conn.close()
                return
            self.open.append(conn)
        data = b''
        while True:
            while b'\r\n\r\n' not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    conn.close()
                    return
                data += chunk
            head, _sep, rest = data.partition(b'\r\n\r\n')
            length = 0
            for line in head.split(b'\r\n')[1:]:
                name, _colon, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            while len(rest) < length:
                rest += conn.recv(65536)
            self.requests.append(head + b'\r\n\r\n' + rest[:length])
            data = rest[length:]
            answer = self.reply(self.requests[-1], len(self.requests))
            if answer is None:
                conn.close()
                return
            conn.sendall(answer)

    def drop_idle(self):
        """Close every connection from the server's side (as a server's idle timeout does)."""
        for conn in self.open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.open = []

    def close(self):
        self.drop_idle()
        self.sock.close()


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.lower().endswith('_proxy') or name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NETRC'):
            monkeypatch.delenv(name)
    monkeypatch.setenv('HOME', '/nonexistent-home-for-netrc')
    return monkeypatch


@pytest.fixture(scope='module')
def tls(tmp_path_factory):
    """(server-side TLS context, CA file): the simulator's throw-away CA and certificate for 127.0.0.1."""
    from armsim.certs import generate

    ca_file, cert_file, key_file = generate(str(tmp_path_factory.mktemp('tls')))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file


@pytest.fixture
def served(clean_env):
    servers = []

    def start(reply, tls=None):
        server = RawServer(reply, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _send(t, method, url, content=None, headers=None, **kw):
    kw.setdefault('connection_timeout', 5)
    kw.setdefault('read_timeout', 5)
    return t.send(HttpRequest(method, url, headers=headers or {}, content=content), **kw)


def test_connections_are_kept_alive_and_reused(served):
    server = served(lambda req, n: OK)
    t = transport(4)
    for _i in range(3):
        response = _send(t, 'GET', server.url + '/a?api-version=1')
        assert response.status_code == 200
        assert response.json() == {'ok': True}
        assert response.headers['content-type'] == 'application/json'
    assert server.connections == 1 and t.connects == 1
    assert server.requests[0].startswith(b'GET /a?api-version=1 HTTP/1.1\r\n')


def test_a_connection_the_server_closed_while_idle_is_not_reused(served):
    server = served(lambda req, n: OK)
    t = transport(4)
    assert _send(t, 'GET', server.url + '/a').status_code == 200
    server.drop_idle()
    time.sleep(0.1)
    assert _send(t, 'GET', server.url + '/a').status_code == 200  # no error: a new connection
    assert server.connections == 2


def test_connection_close_is_honoured(served):
    closing = b'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'
    server = served(lambda req, n: closing)
    t = transport(4)
    assert _send(t, 'DELETE', server.url + '/a').status_code == 204
    assert _send(t, 'DELETE', server.url + '/a').status_code == 204
    assert server.connections == 2


def test_chunked_body_and_repeated_headers(served):
    chunked = (
        b'HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nx-ms-a: 1\r\nX-MS-A: 2\r\nRetry-After: 10\r\n\r\n'
        b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    server = served(lambda req, n: chunked)
    response = _send(transport(4), 'GET', server.url + '/op')
    assert response.status_code == 202 and response.reason == 'Accepted'
    assert response.json() == {'a': 1}
    assert response.headers['X-Ms-A'] == '1, 2'  # as urllib3 joins them
    assert response.headers['retry-after'] == '10'


def test_bodies_carry_their_length_and_utf8(served):
    server = served(lambda req, n: OK)
    t = transport(4)
    _send(t, 'PATCH', server.url + '/vm', content='{"name": "vm-\u00e9"}', headers={'Content-Type': 'application/json'})
    _send(t, 'POST', server.url + '/vm/deallocate')
    _send(t, 'GET', server.url + '/vm')
    patch, post, get = server.requests
    body = '{"name": "vm-\u00e9"}'.encode()
    assert patch.endswith(b'\r\n\r\n' + body)
    assert b'\r\nContent-Length: %d\r\n' % len(body) in patch
    assert b'\r\nContent-Length: 0\r\n' in post  # Resource Manager answers 411 to a POST without one
    assert b'content-length' not in get.lower()
    assert b'\r\nAccept-Encoding: identity\r\n' in get  # no body ever needs decoding


def test_a_short_body_is_an_incomplete_read(served):
    server = served(lambda req, n: b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"cut": ')
    t = transport(4)

    def close_soon():
        time.sleep(0.3)
        server.drop_idle()

    threading.Thread(target=close_soon, daemon=True).start()
    with pytest.raises(IncompleteReadError):
        _send(t, 'GET', server.url + '/a')


def test_no_answer_before_the_read_timeout(served):
    server = served(lambda req, n: b'')  # reads the request, never answers
    with pytest.raises(ServiceResponseTimeoutError):
        _send(transport(4), 'GET', server.url + '/a', read_timeout=0.3)


def test_a_connection_closed_without_an_answer(served):
    server = served(lambda req, n: None)
    with pytest.raises(ServiceResponseError) as exc:
        _send(transport(4), 'GET', server.url + '/a')
    assert not isinstance(exc.value, ServiceResponseTimeoutError)


def test_connection_refused(served):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ServiceRequestError) as exc:
        _send(transport(4), 'GET', 'http://127.0.0.1:%d/a' % port)
    assert '127.0.0.1:%d' % port in str(exc.value)


def test_tls_to_a_plain_server_fails_as_a_request_error(served):
    server = served(lambda req, n: OK)
    with pytest.raises(ServiceRequestError):
        _send(transport(4), 'GET', 'https://127.0.0.1:%d/a' % server.port, connection_timeout=0.5)


@pytest.mark.parametrize('how', ['proxy', 'netrc', 'stream', 'unknown option', 'own accept-encoding'])
def test_what_needs_requests_goes_to_requests(served, clean_env, tmp_path, how):
    server = served(lambda req, n: OK)
    t = transport(4)
    sent = []
    t.fallback.send = lambda request, **kw: sent.append(request.url) or 'from requests'
    kw = {}
    if how == 'proxy':
        clean_env.setenv('HTTP_PROXY', 'http://proxy.corp:3128')
    elif how == 'netrc':
        (tmp_path / '.netrc').write_text('machine 127.0.0.1 login u password p\n')
        os.chmod(tmp_path / '.netrc', 0o600)
        clean_env.setenv('NETRC', str(tmp_path / '.netrc'))
    elif how == 'stream':
        kw['stream'] = True
    elif how == 'unknown option':
        kw['connection_cert'] = '/some/cert.pem'
    else:
        kw['headers'] = {'Accept-Encoding': 'gzip'}
    assert _send(t, 'GET', server.url + '/a', **kw) == 'from requests'
    assert sent == [server.url + '/a'] and server.connections == 0


def test_tls_verified_against_the_ca_given_or_the_environment(served, clean_env, tls):
    context, ca_file = tls
    server = served(lambda req, n: OK, tls=context)
    assert _send(transport(4, ca_file), 'GET', server.url + '/a').json() == {'ok': True}
    assert _send(transport(4, False), 'GET', server.url + '/a').json() == {'ok': True}
    with pytest.raises(ServiceRequestError) as exc:  # certifi's bundle does not hold the throw-away CA
        _send(transport(4), 'GET', server.url + '/a')
    assert 'CERTIFICATE_VERIFY_FAILED' in str(exc.value)
    clean_env.setenv('REQUESTS_CA_BUNDLE', ca_file)
    t = transport(4)
    assert _send(t, 'GET', server.url + '/a').json() == {'ok': True}
    assert _send(t, 'GET', server.url + '/a', connection_verify=False).json() == {'ok': True}
    clean_env.delenv('REQUESTS_CA_BUNDLE')
    t = transport(4)
    assert _send(t, 'GET', server.url + '/a', connection_verify=False).json() == {'ok': True}
    with pytest.raises(ServiceRequestError):  # None is azure-core's "not set": verified, never False's pool
        _send(t, 'GET', server.url + '/a', connection_verify=None)


def test_the_arm_client_retries_over_it(served, tls):
    """A connection closed without an answer, then a 503 with Retry-After, then the answer: azure-core's retry policy
    drives the retries, the transport only reports what happened."""
    answers = {1: None, 2: b'HTTP/1.1 503 Busy\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n'}
    server = served(lambda req, n: answers.get(n, OK), tls=tls[0])

    class Cloud:
        resource_manager = server.url + '/'
        scope = server.url + '/.default'

    auth = _Auth()
    auth.cloud = Cloud()
    auth.verify = tls[1]
    client = ArmClient(auth, retry_total=3, retry_backoff_max=0, timeout=5)
    assert client.get('/subscriptions/s/resourceGroups/rg') == {'ok': True}
    assert len(server.requests) == 3
    assert all(b'\r\nAuthorization: Bearer ' in req for req in server.requests)


def test_interim_responses_folded_and_odd_header_lines(served):
    answer = (
        b'HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n'
        b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Folded: one\r\n  two\r\nnot a header line\r\n'
        b'x-ms-ratelimit-remaining-resource: Microsoft.Compute/LowCostGet3Min;23999\r\n\r\n{}'
    )
    server = served(lambda req, n: answer)
    t = transport(4)
    for _i in range(2):  # the connection is still in step after the interim response
        response = _send(t, 'GET', server.url + '/a')
        assert response.status_code == 200 and response.json() == {}
        assert 'X-Interim' not in response.headers
        assert response.headers['x-folded'] == 'one two'
        assert response.headers['X-MS-RateLimit-Remaining-Resource'] == 'Microsoft.Compute/LowCostGet3Min;23999'
    assert server.connections == 1


def test_a_head_response_has_no_body_to_wait_for(served):
    server = served(lambda req, n: b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: "e"\r\n\r\n')
    t = transport(4)
    for _i in range(2):
        response = _send(t, 'HEAD', server.url + '/a', read_timeout=2)
        assert response.status_code == 200 and response.headers['etag'] == '"e"' and response.content == b''
    assert server.connections == 1
