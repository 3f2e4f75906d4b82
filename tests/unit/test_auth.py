"""Auth resolution: source order, env names (azure.azcollection, AWX, azure-identity), clouds. No network."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._auth import cloud as _auth, credential
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.cloud import resolve_cloud
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.credential import resolve_auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import ENTRA_RETRY, AuthError

T = '8c1a4d5e-0000-4000-8000-00000000aaaa'
C = '11111111-1111-4111-8111-111111111111'
SECRET = 'top-secret-value'


@pytest.fixture(autouse=True)
def no_home_no_az(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setattr(credential.shutil, 'which', lambda name: None)
    return tmp_path


def _method(func):
    """A function as a requests.Session method (the metadata fetch uses a session with retries)."""
    return lambda self, *args, **kwargs: func(*args, **kwargs)


def kind(ctx):
    # resolve_auth wraps the azure-identity credential in SerializedCredential (one token request at a time).
    return type(ctx.credential.credential).__name__


def test_options_first():
    ctx = resolve_auth(
        dict(client_id=C, secret=SECRET, tenant=T, subscription_id='5b0c3e2a-0000-4000-8000-00000000bbbb'),
        env={'AZURE_CLIENT_ID': '33333333-1111-4111-8111-111111111111', 'AZURE_SECRET': 'x', 'AZURE_TENANT': T},
    )
    assert kind(ctx) == 'ClientSecretCredential' and ctx.source == 'service principal (options)'
    assert ctx.subscription_id == '5b0c3e2a-0000-4000-8000-00000000bbbb' and ctx.cloud.name == 'AzureCloud'


def test_awx_env_names():
    ctx = resolve_auth(
        {},
        env={
            'AZURE_CLIENT_ID': C,
            'AZURE_SECRET': SECRET,
            'AZURE_TENANT': T,
            'AZURE_SUBSCRIPTION_ID': '5b0c3e2a-0000-4000-8000-00000000bbbc',
        },
    )
    assert kind(ctx) == 'ClientSecretCredential' and ctx.source == 'service principal (environment)'
    assert ctx.get_subscription_id() == '5b0c3e2a-0000-4000-8000-00000000bbbc'


def test_azure_identity_env_names():
    ctx = resolve_auth({}, env={'AZURE_CLIENT_ID': C, 'AZURE_CLIENT_SECRET': SECRET, 'AZURE_TENANT_ID': T})
    assert kind(ctx) == 'ClientSecretCredential'


def test_workload_identity(tmp_path):
    f = tmp_path / 'token'
    f.write_text('jwt')
    ctx = resolve_auth({}, env={'AZURE_CLIENT_ID': C, 'AZURE_TENANT_ID': T, 'AZURE_FEDERATED_TOKEN_FILE': str(f)})
    assert kind(ctx) == 'WorkloadIdentityCredential'


def test_user_password_env():
    ctx = resolve_auth({}, env={'AZURE_AD_USER': 'u@example.com', 'AZURE_PASSWORD': SECRET})
    assert kind(ctx) == 'UsernamePasswordCredential'


def test_credentials_file_profiles(no_home_no_az):
    d = no_home_no_az / '.azure'
    d.mkdir()
    (d / 'credentials').write_text(
        '[default]\nclient_id=%s\nsecret=%s\ntenant=%s\nsubscription_id=5b0c3e2a-0000-4000-8000-00000000d00d\n\n'
        '[other]\nclient_id=%s\nsecret=%s\ntenant=%s\nsubscription_id=5b0c3e2a-0000-4000-8000-00000000d0d0\n'
        'cloud_environment=AzureChinaCloud\n' % (C, SECRET, T, C, SECRET, T)
    )
    ctx = resolve_auth({}, env={})
    assert (
        ctx.source == "service principal (profile 'default')"
        and ctx.subscription_id == '5b0c3e2a-0000-4000-8000-00000000d00d'
    )
    ctx = resolve_auth({'profile': 'other'}, env={})
    assert ctx.subscription_id == '5b0c3e2a-0000-4000-8000-00000000d0d0' and ctx.cloud.name == 'AzureChinaCloud'
    ctx = resolve_auth({}, env={'AZURE_PROFILE': 'other'})
    assert ctx.subscription_id == '5b0c3e2a-0000-4000-8000-00000000d0d0'
    with pytest.raises(AuthError, match="profile 'missing' not found"):
        resolve_auth({'profile': 'missing'}, env={})


def test_cli_then_msi(monkeypatch):
    monkeypatch.setattr(credential.shutil, 'which', lambda name: '/usr/bin/az')
    assert resolve_auth({}, env={}).source == 'Azure CLI'
    monkeypatch.setattr(credential.shutil, 'which', lambda name: None)
    ctx = resolve_auth({}, env={})
    assert kind(ctx) == 'ManagedIdentityCredential'
    with pytest.raises(AuthError, match='no subscription'):
        ctx.get_subscription_id()


def test_explicit_sources():
    assert (
        resolve_auth(
            {'auth_source': 'msi'}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T}
        ).source
        == 'managed identity'
    )
    with pytest.raises(AuthError, match='auth_source=env: no credentials'):
        resolve_auth({'auth_source': 'env', 'client_id': C, 'secret': SECRET, 'tenant': T}, env={})


def test_missing_tenant_message_has_no_secret():
    with pytest.raises(AuthError) as exc:
        resolve_auth(dict(client_id=C, secret=SECRET), env={})
    assert 'needs a tenant' in str(exc.value) and SECRET not in str(exc.value)


def test_named_clouds():
    assert resolve_cloud('AzureUSGovernment').resource_manager == 'https://management.usgovcloudapi.net/'
    assert resolve_cloud(None).scope == 'https://management.core.windows.net/.default'
    assert resolve_cloud('azurechinacloud').is_public
    with pytest.raises(AuthError, match='neither a known cloud'):
        resolve_cloud('Mars')


class _Resp:
    def __init__(self, data):
        self.data = data

    def raise_for_status(self):
        pass

    def json(self):
        return self.data


def test_metadata_url_cloud_disables_instance_discovery(monkeypatch):
    import requests

    seen = {}

    def fake_get(url, **kw):
        seen['url'], seen['verify'] = url, kw.get('verify')
        return _Resp(
            {
                'name': 'sim',
                'resourceManager': 'https://127.0.0.1:9/',
                'authentication': {'loginEndpoint': 'https://127.0.0.1:9/', 'audiences': ['https://sim/arm']},
            }
        )

    monkeypatch.setattr(requests.Session, 'get', _method(fake_get))
    url = 'https://127.0.0.1:9/metadata/endpoints?api-version=2022-09-01'
    ctx = resolve_auth(
        {}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T, 'AZURE_CLOUD_ENVIRONMENT': url}
    )
    assert seen['url'] == url and seen['verify'] is True  # True: requests then honours REQUESTS_CA_BUNDLE
    assert ctx.cloud.resource_manager == 'https://127.0.0.1:9/' and ctx.cloud.scope == 'https://sim/arm/.default'
    assert not ctx.cloud.is_public
    import azure.identity

    captured = {}
    monkeypatch.setattr(azure.identity, 'ClientSecretCredential', lambda *a, **kw: captured.update(kw) or object())
    resolve_auth(
        {}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T, 'AZURE_CLOUD_ENVIRONMENT': url}
    )
    assert captured.pop('cache_persistence_options').name.startswith(
        'vmrescue.azure.'
    )  # the shared token cache (default on)
    assert captured == dict(ENTRA_RETRY, authority='https://127.0.0.1:9', disable_instance_discovery=True)
    captured.clear()
    resolve_auth({'token_cache': False}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T})
    # public cloud: discovery stays on; the token requests get the collection's retries (ENTRA_RETRY)
    assert captured == dict(ENTRA_RETRY, authority='https://login.microsoftonline.com')


def test_metadata_list_and_bad_payload(monkeypatch):
    import requests

    monkeypatch.setattr(
        requests.Session,
        'get',
        _method(
            lambda url, **kw: _Resp(
                [
                    {
                        'name': 'a',
                        'resourceManager': 'https://elsewhere/',
                        'authentication': {'loginEndpoint': 'https://l/', 'audiences': ['x']},
                    },
                    {
                        'name': 'b',
                        'resourceManager': 'https://stack.local/',
                        'authentication': {'loginEndpoint': 'https://l/', 'audiences': ['y']},
                    },
                ]
            )
        ),
    )
    assert resolve_cloud('https://stack.local/metadata/endpoints?api-version=1').name == 'b'
    monkeypatch.setattr(requests.Session, 'get', _method(lambda url, **kw: _Resp({'resourceManager': 'https://x/'})))
    with pytest.raises(AuthError, match='lacks resourceManager'):
        resolve_cloud('https://other.local/metadata/endpoints?api-version=1')


def test_plain_http_authority_refused():
    with pytest.raises(AuthError, match='not https'):
        resolve_auth(
            {'adfs_authority_url': 'http://adfs.local/adfs'}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET}
        )


@pytest.mark.parametrize(
    'given',
    [
        'https://management.local.azurestack.external',
        'https://management.local.azurestack.external/',
        ' https://management.local.azurestack.external/ ',
        'https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01',
    ],
)
def test_cloud_environment_as_resource_manager_endpoint(monkeypatch, given):
    """The ARM endpoint (msrestazure / Azure CLI convention) and the full metadata URL resolve the same cloud."""
    import requests

    from ansible_collections.vmrescue.azure.plugins.module_utils._auth import cloud as _auth

    _auth._cloud_cache.clear()
    seen = []

    def fake_get(url, **kw):
        seen.append(url)
        return _Resp(
            {
                'name': 'stack',
                'resourceManager': 'https://management.local.azurestack.external/',
                'authentication': {
                    'loginEndpoint': 'https://adfs.local.azurestack.external/adfs',
                    'audiences': ['https://management.adfs.azurestack.local/x'],
                },
            }
        )

    monkeypatch.setattr(requests.Session, 'get', _method(fake_get))
    cloud = resolve_cloud(given)
    assert seen == ['https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01']
    assert cloud.resource_manager == 'https://management.local.azurestack.external/' and not cloud.is_public


def test_metadata_url_keeps_its_own_api_version():
    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.cloud import metadata_url

    assert (
        metadata_url('https://h/metadata/endpoints?api-version=2015-01-01')
        == 'https://h/metadata/endpoints?api-version=2015-01-01'
    )
    assert metadata_url('https://h:8443/') == 'https://h:8443/metadata/endpoints?api-version=2022-09-01'
    assert metadata_url('https://h/arm/') == 'https://h/arm/metadata/endpoints?api-version=2022-09-01'


def test_named_cloud_makes_no_request(monkeypatch):
    import requests

    monkeypatch.setattr(
        requests.Session, 'get', _method(lambda *a, **kw: pytest.fail('named clouds need no metadata request'))
    )
    assert resolve_cloud('AzureCloud').resource_manager == 'https://management.azure.com/'
    assert resolve_cloud('AZURE_PUBLIC_CLOUD').name == 'AzureCloud'


def test_plain_http_cloud_metadata_is_refused_before_anything_is_sent(monkeypatch):
    sent = []
    monkeypatch.setattr(_auth, '_fetch_metadata', lambda url, verify: sent.append(url))
    with pytest.raises(AuthError, match='plain http.*allow_unencrypted_cloud_metadata=true'):
        resolve_auth(
            {'cloud_environment': 'http://arm.example.test'},
            env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T},
        )
    assert sent == []


def test_plain_http_cloud_metadata_when_the_risk_is_accepted(monkeypatch):
    meta = {
        'name': 'Lab',
        'resourceManager': 'http://arm.example.test/',
        'authentication': {'loginEndpoint': 'https://login.example.test/', 'audiences': ['https://arm.example.test/']},
    }
    monkeypatch.setattr(_auth, '_fetch_metadata', lambda url, verify: meta)
    for options, env in (
        ({'allow_unencrypted_cloud_metadata': True}, {}),
        ({}, {'VMRESCUE_AZURE_ALLOW_UNENCRYPTED_CLOUD_METADATA': 'true'}),
    ):
        _auth._cloud_cache.clear()
        env = dict(env, AZURE_CLIENT_ID=C, AZURE_SECRET=SECRET, AZURE_TENANT=T)
        ctx = resolve_auth(dict(options, cloud_environment='http://arm.example.test'), env=env)
        assert ctx.cloud.name == 'Lab'


def test_certificate_validation_off_is_always_warned():
    env = {'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': T}
    assert resolve_auth({}, env=env).warnings == []
    for options, extra in (({'cert_validation_mode': 'ignore'}, {}), ({}, {'AZURE_CERT_VALIDATION_MODE': 'ignore'})):
        ctx = resolve_auth(options, env=dict(env, **extra))
        assert ctx.warnings == [_auth.CERT_IGNORE_WARNING]
        assert _auth.security_warnings(options, dict(env, **extra)) == [_auth.CERT_IGNORE_WARNING]
        assert SECRET not in ctx.warnings[0] and 'client secret' in ctx.warnings[0]
    assert _auth.security_warnings({'cert_validation_mode': 'validate'}, {}) == []


def test_cloud_metadata_fetch_retries_transient_failures():
    """One 503 (or a dropped connection) on the metadata URL must not fail the run: urllib3 retries with back-off."""
    import http.server
    import threading

    calls = []
    meta = json_bytes = None
    meta = {
        'name': 'Lab',
        'resourceManager': 'https://arm.example.test/',
        'authentication': {'loginEndpoint': 'https://login.example.test/', 'audiences': ['https://arm.example.test/']},
    }
    import json as _json

    json_bytes = _json.dumps(meta).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            calls.append(self.path)
            if len(calls) < 3:
                self.send_response(503)
                self.send_header('Retry-After', '0')
                self.end_headers()
                return
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.end_headers()
            self.wfile.write(json_bytes)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = 'http://127.0.0.1:%d' % server.server_port
        assert _auth._fetch_metadata(url + '/metadata/endpoints?api-version=2022-09-01', True) == meta
        assert len(calls) == 3
        calls[:] = ['x'] * 10  # from now on every call fails: a clear message, no secret, no traceback
        server.RequestHandlerClass = type(
            'Always503',
            (Handler,),
            {
                'do_GET': lambda self: (
                    self.send_response(503),
                    self.send_header('Retry-After', '0'),
                    self.end_headers(),
                )
            },
        )
        with pytest.raises(AuthError, match=r'could not read cloud metadata .*\(after 4 retries\)'):
            _auth._fetch_metadata(url + '/metadata/endpoints?api-version=2022-09-01', True)
    finally:
        server.shutdown()


# -- issue 12: transient token endpoint failures ----------------------------------------------------------------
def _failing_credential(exc):
    calls = []

    class Cred:
        def get_token(self, *scopes, **kw):
            calls.append(scopes)
            raise exc

    return Cred(), calls


def test_token_endpoint_5xx_after_the_retries_is_named_transient_and_held():
    from azure.core.exceptions import ClientAuthenticationError

    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import TransientSignInError
    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.tokens import (
        TRANSIENT_HOLD_SECONDS,
        SerializedCredential,
    )

    now = [0.0]
    cred, calls = _failing_credential(ClientAuthenticationError(message='Authentication failed: HTTP Error: 503'))
    wrapped = SerializedCredential(cred, authority='https://login.example', clock=lambda: now[0])
    with pytest.raises(TransientSignInError) as err:
        wrapped.get_token('s')
    assert isinstance(err.value, ClientAuthenticationError) and err.value.status == 503
    assert 'token endpoint of https://login.example returned HTTP 503' in str(err.value)
    assert 'transient' in str(err.value) and '401' not in str(err.value)
    with pytest.raises(TransientSignInError):
        wrapped.get_token('s')  # held: the next target of the batch does not run the retries again
    assert len(calls) == 1
    now[0] += TRANSIENT_HOLD_SECONDS + 1
    with pytest.raises(TransientSignInError):
        wrapped.get_token('s')
    assert len(calls) == 2


def test_dropped_connection_to_the_token_endpoint_is_named():
    from azure.core.exceptions import ClientAuthenticationError, ServiceResponseError

    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import TransientSignInError
    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.tokens import SerializedCredential

    try:
        try:
            raise ServiceResponseError('Connection aborted.')
        except ServiceResponseError as inner:
            raise ClientAuthenticationError(message='Authentication failed: Connection aborted.') from inner
    except ClientAuthenticationError as exc:
        outer = exc
    cred, _ = _failing_credential(outer)
    with pytest.raises(TransientSignInError, match='dropped the connection'):
        SerializedCredential(cred).get_token('s')


def test_a_wrong_secret_stays_an_authentication_error():
    from azure.core.exceptions import ClientAuthenticationError

    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import TransientSignInError
    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.tokens import SerializedCredential

    cred, calls = _failing_credential(
        ClientAuthenticationError(message='Authentication failed: AADSTS7000215: Invalid client secret')
    )
    wrapped = SerializedCredential(cred)
    for _ in range(2):
        with pytest.raises(ClientAuthenticationError) as err:
            wrapped.get_token('s')
        assert not isinstance(err.value, TransientSignInError)
    assert len(calls) == 2  # not held
