"""_http_session: the ArmClient's requests session reads the environment once per origin (issue 25) and still gives
every request what a plain requests.Session would: the proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), the CA
bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, unless ``verify`` is a path or False) and ~/.netrc credentials. The
reference is requests' own Session in the same environment."""

import socketserver
import threading

import pytest
import requests
from test_arm_errors import _Auth

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient
from ansible_collections.vmrescue.azure.plugins.module_utils._http_session import env_once_session

ENV_NAMES = (
    'HTTPS_PROXY',
    'HTTP_PROXY',
    'ALL_PROXY',
    'NO_PROXY',
    'REQUESTS_CA_BUNDLE',
    'CURL_CA_BUNDLE',
    'NETRC',
)
URLS = (
    'https://management.azure.com/subscriptions/s/resourceGroups/rg?api-version=1',
    'https://management.usgovcloudapi.net/subscriptions/s?api-version=1',
    'http://127.0.0.1:8443/x',
)
CASES = [
    {},
    {'HTTPS_PROXY': 'http://proxy.corp:3128'},
    {'https_proxy': 'http://user:pw@proxy.corp:3128', 'no_proxy': 'management.azure.com'},
    {'HTTPS_PROXY': 'http://proxy.corp:3128', 'NO_PROXY': '.azure.com,127.0.0.1'},
    {'HTTP_PROXY': 'http://p:1', 'ALL_PROXY': 'socks5://s:2', 'NO_PROXY': '*'},
    {'REQUESTS_CA_BUNDLE': '/etc/corp/ca.pem'},
    {'CURL_CA_BUNDLE': '/etc/curl/ca.pem'},
    {'REQUESTS_CA_BUNDLE': '/etc/corp/ca.pem', 'CURL_CA_BUNDLE': '/etc/curl/ca.pem', 'HTTPS_PROXY': 'http://p:3'},
]


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.upper() in ENV_NAMES or name.lower().endswith('_proxy'):
            monkeypatch.delenv(name)
    monkeypatch.setenv('HOME', '/nonexistent-home-for-netrc')
    return monkeypatch


@pytest.mark.parametrize('env', CASES, ids=lambda e: ','.join(sorted(e)) or 'none')
@pytest.mark.parametrize('verify', [True, None, False, '/own/bundle.pem'])
def test_environment_settings_as_requests_gives_them(clean_env, env, verify):
    for name, value in env.items():
        clean_env.setenv(name, value)
    ours, plain = env_once_session(4), requests.Session()
    for url in URLS:
        for _attempt in range(2):  # the second answer comes from the per-origin cache
            assert ours.merge_environment_settings(url, {}, False, verify, None) == plain.merge_environment_settings(
                url, {}, False, verify, None
            ), url


def test_a_callers_own_proxies_and_no_proxy_win_as_in_requests(clean_env):
    clean_env.setenv('HTTPS_PROXY', 'http://env-proxy:1')
    ours, plain = env_once_session(4), requests.Session()
    for proxies in ({'https': 'http://own:2'}, {'no_proxy': 'management.azure.com'}, {'no_proxy': 'other.example'}):
        got = ours.merge_environment_settings(URLS[0], dict(proxies), False, True, None)
        assert got == plain.merge_environment_settings(URLS[0], dict(proxies), False, True, None)


def test_netrc_credentials_as_requests_applies_them(clean_env, tmp_path):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine proxy-auth.example login someone password not-a-real-one\n')
    clean_env.setenv('NETRC', str(netrc))
    ours, plain = env_once_session(4), requests.Session()
    for url in ('https://proxy-auth.example/x', 'https://management.azure.com/x'):
        for _attempt in range(2):
            a = ours.prepare_request(requests.Request('GET', url)).headers.get('Authorization')
            b = plain.prepare_request(requests.Request('GET', url)).headers.get('Authorization')
            assert a == b
    assert ours.prepare_request(requests.Request('GET', 'https://proxy-auth.example/x')).headers['Authorization']
    own = requests.Request('GET', 'https://proxy-auth.example/x', auth=('me', 'mine'))
    assert ours.prepare_request(own).headers['Authorization'] == plain.prepare_request(own).headers['Authorization']


def test_the_environment_is_read_once_per_origin(clean_env, monkeypatch):
    from requests import utils

    calls = []
    real = utils.get_environ_proxies
    monkeypatch.setattr(
        utils, 'get_environ_proxies', lambda url, no_proxy=None: calls.append(url) or real(url, no_proxy)
    )
    ours = env_once_session(4)
    for _attempt in range(5):
        ours.merge_environment_settings(URLS[0], {}, False, True, None)
        ours.merge_environment_settings(URLS[1], {}, False, True, None)
    assert calls == [URLS[0], URLS[1]]


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        line = self.request.recv(4096).split(b'\r\n', 1)[0].decode()
        self.server.lines.append(line)
        self.request.sendall(b'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')


@pytest.fixture
def proxy_server():
    server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), _ProxyHandler)
    server.daemon_threads = True
    server.lines = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _client():
    class Cloud:
        resource_manager = 'https://arm.proxy-test.example/'
        scope = 'https://arm.proxy-test.example/.default'

    auth = _Auth()
    auth.cloud = Cloud()
    return ArmClient(auth, retry_total=0, retry_backoff_max=0, timeout=5)


def test_arm_client_requests_go_through_https_proxy(clean_env, proxy_server):
    clean_env.setenv('HTTPS_PROXY', 'http://127.0.0.1:%d' % proxy_server.server_address[1])
    client = _client()
    for _attempt in range(2):
        with pytest.raises(ArmError) as exc:
            client.get('/subscriptions/s/resourceGroups/rg')
        assert exc.value.code == 'ConnectionError'
    assert len(proxy_server.lines) == 2  # one tunnel asked for per request, the first and the cached way
    assert all(line.startswith('CONNECT arm.proxy-test.example:443 HTTP/') for line in proxy_server.lines)


def test_arm_client_no_proxy_bypasses_the_proxy(clean_env, proxy_server, monkeypatch):
    clean_env.setenv('HTTPS_PROXY', 'http://127.0.0.1:%d' % proxy_server.server_address[1])
    clean_env.setenv('NO_PROXY', 'proxy-test.example')
    # no name resolution in the test: the direct connection fails at once, without the proxy
    import socket

    def refuse(*args, **kwargs):
        raise socket.gaierror(-2, 'Name or service not known')

    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    with pytest.raises(ArmError) as exc:
        _client().get('/subscriptions/s/resourceGroups/rg')
    assert exc.value.code == 'ConnectionError'
    assert proxy_server.lines == []
