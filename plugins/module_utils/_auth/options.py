# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The auth options and their checks (private: not a public API, may change without notice).

Public names (kept stable):

- ``AUTH_OPTIONS``: argspec fragment (secrets are ``no_log``); ``AUTH_OPTION_NAMES``; ``SECRET_OPTIONS`` (the
  options whose values are scrubbed everywhere); ``AUTH_SOURCES`` (the ``auth_source`` choices).
- ``SOURCE_ORDER_DOC``: what ``auth_source=auto`` tries, in order (the ``vmrescue.azure.auth`` doc fragment says
  the same; ``credential.resolve_auth`` does it).
- ``is_guid(value)``; ``check_tenant``, ``check_client_id``, ``check_certificate``: refuse a value before
  azure-identity sees it, with an ``AuthError`` naming the option (or the environment variable, or the profile key)
  it came from, never the value of a secret. ``truthy(value)``: an option or environment value as a bool.
"""

from __future__ import annotations

import os
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import AuthError

AUTH_SOURCES = ['auto', 'cli', 'env', 'credential_file', 'msi']

AUTH_OPTIONS = dict(
    auth_source=dict(type='str', choices=AUTH_SOURCES),
    profile=dict(type='str'),
    subscription_id=dict(type='str'),
    client_id=dict(type='str'),
    secret=dict(type='str', no_log=True),
    tenant=dict(type='str'),
    ad_user=dict(type='str'),
    password=dict(type='str', no_log=True),
    cloud_environment=dict(type='str'),
    cert_validation_mode=dict(type='str', choices=['validate', 'ignore']),
    adfs_authority_url=dict(type='str'),
    x509_certificate_path=dict(type='path'),
    thumbprint=dict(type='str'),
    disable_instance_discovery=dict(type='bool'),
    token_cache=dict(type='bool'),
    allow_unencrypted_cloud_metadata=dict(type='bool'),
)
AUTH_OPTION_NAMES = tuple(AUTH_OPTIONS)
SECRET_OPTIONS = ('secret', 'password')

SOURCE_ORDER_DOC = """\
auth_source=auto tries, in this order, and uses the first that is configured:
1. options: client_id + secret + tenant (service principal), client_id + x509_certificate_path + tenant
   (certificate), ad_user + password (user);
2. the profile option: that section of ~/.azure/credentials;
3. environment: AZURE_CLIENT_ID + AZURE_SECRET|AZURE_CLIENT_SECRET + AZURE_TENANT|AZURE_TENANT_ID,
   AZURE_CLIENT_ID + AZURE_CLIENT_CERTIFICATE_PATH + tenant, AZURE_AD_USER + AZURE_PASSWORD,
   AZURE_CLIENT_ID + AZURE_FEDERATED_TOKEN_FILE + tenant (workload identity), AZURE_PROFILE (a profile);
4. the [default] section of ~/.azure/credentials, when the file exists;
5. the Azure CLI login, when az is on PATH;
6. managed identity (client_id selects a user-assigned identity).
"""


def truthy(value):
    """An option or environment value as a bool ('1', 'true', 'yes', 'on', any case, are true)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


_GUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
# azure-identity's own rule (VALID_TENANT_ID_CHARACTERS): a GUID or a domain such as contoso.onmicrosoft.com.
_TENANT_RE = re.compile(r'^[A-Za-z0-9.-]{1,253}$')
_CERT_MAX_BYTES = 1024 * 1024


def _named(where, option, env_names=None):
    """How a message names a value: the option, the environment variable(s) or the profile key it came from."""
    if where == 'environment' and env_names:
        return env_names
    if where.startswith('profile'):
        return '%s in %s' % (option, where)
    return option


def is_guid(value):
    return isinstance(value, str) and bool(_GUID_RE.match(value))


def check_tenant(tenant, where='options'):
    """Refuse a tenant azure-identity would refuse with a bare ValueError; the message names the option."""
    if tenant is None:
        return
    if not isinstance(tenant, str) or not _TENANT_RE.match(tenant) or tenant.startswith(('.', '-')):
        raise AuthError(
            '%s is not a tenant: give the directory (tenant) ID, a GUID, or its domain name such as '
            'contoso.onmicrosoft.com (letters, digits, "-" and "." only)'
            % _named(where, 'tenant', 'AZURE_TENANT / AZURE_TENANT_ID')
        )


def check_client_id(client_id, where='options', adfs=False):
    """An Entra application or managed identity client ID is a GUID (AD FS client IDs may be any word)."""
    if client_id is None:
        return
    any_word = (
        adfs and isinstance(client_id, str) and client_id and client_id.strip() == client_id and client_id.isprintable()
    )
    ok = isinstance(client_id, str) and (is_guid(client_id) or any_word)
    if not ok:
        raise AuthError(
            '%s is not an application (client) ID: give the GUID shown as "Application (client) ID" '
            'for the app registration or managed identity' % _named(where, 'client_id', 'AZURE_CLIENT_ID')
        )


def check_certificate(path, where='options'):
    """``x509_certificate_path`` must name a readable PEM file with the certificate and its private key (what
    azure-identity's CertificateCredential reads), or a PKCS12 file without password."""
    name = _named(where, 'x509_certificate_path', 'AZURE_CLIENT_CERTIFICATE_PATH')
    if not os.path.isfile(path):
        raise AuthError('%s: %s does not exist or is not a file' % (name, path))
    try:
        with open(path, 'rb') as fh:
            data = fh.read(_CERT_MAX_BYTES + 1)
    except OSError as exc:
        raise AuthError('%s: cannot read %s: %s' % (name, path, exc.strerror or exc.__class__.__name__))
    if len(data) > _CERT_MAX_BYTES:
        raise AuthError('%s: %s is larger than 1 MiB: not a certificate file' % (name, path))
    if b'-----BEGIN' in data:
        missing = [
            what
            for what, marker in (('the certificate', b'CERTIFICATE-----'), ('its private key', b'PRIVATE KEY-----'))
            if marker not in data
        ]
        if missing:
            raise AuthError(
                '%s: %s is a PEM file without %s; certificate sign-in needs one PEM file holding both '
                'the certificate and its private key' % (name, path, ' and '.join(missing))
            )
        return
    try:
        from cryptography.hazmat.primitives.serialization import pkcs12  # lazy: start-up time, PKCS12 files only

        pkcs12.load_key_and_certificates(data, None)
    except Exception:  # pylint: disable=broad-except  # any parse error: not a usable certificate
        raise AuthError(
            '%s: %s is not a certificate: give a PEM file with the certificate and its private key '
            '(or a PKCS12 file without password)' % (name, path)
        )
