"""Auth option checks before any credential is built: bad values become messages naming the option. No network."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._auth import credential as _auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.credential import resolve_auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import AuthError

T = '8c1a4d5e-0000-4000-8000-00000000aaaa'
C = '11111111-1111-4111-8111-111111111111'
SECRET = 'Zq7-auth-check-secret-0042'


@pytest.fixture(autouse=True)
def no_home_no_az(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setattr(_auth.shutil, 'which', lambda name: None)


def _refused(options, env=None):
    with pytest.raises(AuthError) as e:
        resolve_auth(options, env=env or {})
    assert SECRET not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize('tenant', ['bad tenant!', 'a/b', '-x', 'ten ant', 'tenant@x', '\u00e9t'])
def test_invalid_tenant(tenant):
    msg = _refused(dict(client_id=C, secret=SECRET, tenant=tenant))
    assert 'tenant is not a tenant' in msg and tenant not in msg


def test_invalid_tenant_from_environment_names_the_variable():
    msg = _refused({}, env={'AZURE_CLIENT_ID': C, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': 'no good'})
    assert 'AZURE_TENANT / AZURE_TENANT_ID is not a tenant' in msg


@pytest.mark.parametrize('client_id', ['not-a-guid', '1234', C + 'x', ' ' + C])
def test_invalid_client_id(client_id):
    assert 'client_id is not an application (client) ID' in _refused(dict(client_id=client_id, secret=SECRET, tenant=T))


def test_subscription_id_must_be_a_guid():
    assert 'subscription_id (or AZURE_SUBSCRIPTION_ID) is not a subscription ID' in _refused(
        dict(client_id=C, secret=SECRET, tenant=T, subscription_id='my-subscription')
    )


@pytest.mark.parametrize(
    'content,words',
    [
        (b'not a certificate at all', 'is not a certificate'),
        (b'-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'without its private key'),
        (b'-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n', 'without the certificate'),
        (b'', 'is not a certificate'),
    ],
)
def test_certificate_file_checked(tmp_path, content, words):
    path = tmp_path / 'sp.pem'
    path.write_bytes(content)
    msg = _refused(dict(client_id=C, x509_certificate_path=str(path), tenant=T))
    assert msg.startswith('x509_certificate_path: ') and words in msg


def test_missing_certificate_and_directory(tmp_path):
    assert 'does not exist or is not a file' in _refused(
        dict(client_id=C, tenant=T, x509_certificate_path=str(tmp_path / 'nope.pem'))
    )
    assert 'does not exist or is not a file' in _refused(
        dict(client_id=C, tenant=T, x509_certificate_path=str(tmp_path))
    )


def test_pem_with_both_parts_is_accepted_as_far_as_azure_identity(tmp_path):
    # a structurally complete PEM passes our check; azure-identity's own ValueError is still named
    path = tmp_path / 'sp.pem'
    path.write_bytes(
        b'-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n'
        b'-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
    )
    msg = _refused(dict(client_id=C, x509_certificate_path=str(path), tenant=T))
    assert 'azure-identity refused' in msg and 'x509_certificate_path' in msg


def test_adfs_client_id_may_be_a_word():
    ctx = resolve_auth(
        dict(
            client_id='ansible-adfs',
            secret=SECRET,
            tenant='adfs',
            adfs_authority_url='https://adfs.contoso.example/adfs',
        ),
        env={},
    )
    assert ctx.source == 'service principal (options)'


def test_managed_identity_client_id():
    assert 'client_id is not an application (client) ID' in _refused(dict(auth_source='msi', client_id='x y'))
