# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential chain: auth options + environment -> an azure-identity credential (private: not a public API, may
change without notice).

Public names (kept stable):

- ``resolve_auth(options, env=None) -> AuthContext``: ``options`` is a dict of ``options.AUTH_OPTIONS`` names
  (``None`` when unset), ``env`` defaults to ``os.environ``; the order is ``options.SOURCE_ORDER_DOC`` (what the
  doc fragment says). The credential is wrapped in ``tokens.SerializedCredential``.
- ``AuthContext``: ``credential`` (an azure-identity TokenCredential), ``cloud`` (``cloud.Cloud``), ``source``
  (text naming where the credential came from), ``verify`` (bool or CA path for the transport),
  ``subscription_id`` (may be None), ``get_subscription_id()`` (falls back to ``az account show`` for Azure CLI
  sign-in only), ``warnings`` (``cloud.security_warnings``' for the resolved settings).
- ``read_credentials_profile(name, path=None) -> dict | None``: one section of ~/.azure/credentials.
- ``AZURE_CLI_CLIENT_ID``: the client ID of user name + password sign-in when none is given.

azure.identity is imported lazily, one credential class at a time (start-up time).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.cloud import (
    CERT_IGNORE_WARNING,
    PUBLIC_AUTHORITY_HOSTS,
    quiet_insecure_request_warnings,
    resolve_cloud,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import ENTRA_RETRY, AuthError
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import (
    AUTH_OPTION_NAMES,
    AUTH_SOURCES,
    check_certificate,
    check_client_id,
    check_tenant,
    is_guid,
    truthy,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.tokens import (
    TOKEN_CACHE_NAME,
    SerializedCredential,
    private_cache_dir,
    with_token_cache,
)

# The Azure CLI's public client ID, used for user name + password sign-in (as azure.azcollection does).
AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'


def read_credentials_profile(name, path=None):
    """Return the dict of one section of ~/.azure/credentials, or None when the file or section is missing."""
    path = path or os.path.expanduser('~/.azure/credentials')
    if not os.path.isfile(path):
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise AuthError('~/.azure/credentials cannot be parsed: %s' % exc.__class__.__name__)
    if not parser.has_section(name):
        return None
    return dict(parser.items(name))


class AuthContext:
    """A resolved credential plus the cloud and default subscription. See the module docstring."""

    def __init__(self, credential, cloud, source, subscription_id=None, verify=True, cli=False):
        self.credential = credential
        self.cloud = cloud
        self.source = source
        self.subscription_id = subscription_id
        self.verify = verify
        self._cli = cli
        self.warnings = [CERT_IGNORE_WARNING] if verify is False else []
        if verify is False:
            quiet_insecure_request_warnings()

    def get_subscription_id(self):
        """The default subscription; for Azure CLI sign-in only, falls back to ``az account show``."""
        if self.subscription_id:
            return self.subscription_id
        if self._cli:
            self.subscription_id = _az_account_subscription()
            return self.subscription_id
        raise AuthError(
            'no subscription: set subscription_id (or AZURE_SUBSCRIPTION_ID, or subscription_id in the '
            'credentials profile), or address the VM by its full resource ID (vm_id)'
        )


def _az_account_subscription():
    az = shutil.which('az')
    if not az:
        raise AuthError('no subscription: subscription_id is not set and the Azure CLI (az) is not on PATH')
    try:
        out = subprocess.run(
            [az, 'account', 'show', '-o', 'json'], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AuthError('az account show failed: %s' % exc.__class__.__name__)
    if out.returncode != 0:
        raise AuthError(
            'az account show failed (run az login, or set subscription_id): %s' % (out.stderr or '').strip()[:300]
        )
    try:
        return json.loads(out.stdout)['id']
    except (ValueError, KeyError, TypeError):
        raise AuthError('az account show returned no subscription id')


class _Resolver:
    def __init__(self, options, env):
        self.o = dict((k, options.get(k)) for k in AUTH_OPTION_NAMES)
        self.env = env
        self.profile_data = None
        self.lock_path = None  # set when the shared token cache is in use

    def opt(self, name, *env_names):
        value = self.o.get(name)
        if value not in (None, ''):
            return value
        for e in env_names:
            if self.env.get(e):
                return self.env[e]
        if self.profile_data and self.profile_data.get(name):
            return self.profile_data[name]
        return None

    def load_profile(self, name, required):
        data = read_credentials_profile(name)
        if data is None and required:
            raise AuthError("profile '%s' not found in ~/.azure/credentials" % name)
        self.profile_data = data
        return data

    # ---- shared settings ----------------------------------------------------------------------
    def settings(self):
        mode = self.opt('cert_validation_mode', 'AZURE_CERT_VALIDATION_MODE') or 'validate'
        if mode not in ('validate', 'ignore'):
            raise AuthError('cert_validation_mode must be validate or ignore')
        verify = False if mode == 'ignore' else True
        allow_http = truthy(
            self.opt('allow_unencrypted_cloud_metadata', 'VMRESCUE_AZURE_ALLOW_UNENCRYPTED_CLOUD_METADATA') or False
        )
        cloud = resolve_cloud(
            self.opt('cloud_environment', 'AZURE_CLOUD_ENVIRONMENT'), verify=verify, allow_http=allow_http
        )
        authority = self.opt('adfs_authority_url', 'AZURE_ADFS_AUTHORITY_URL') or cloud.authority
        if not str(authority).startswith('https://'):
            raise AuthError('the authority %s is not https (Entra ID authorities must be https)' % authority)
        did = self.opt('disable_instance_discovery', 'AZURE_DISABLE_INSTANCE_DISCOVERY')
        host = str(authority).split('://', 1)[-1].split('/', 1)[0].lower()
        if did is None:
            did = host not in PUBLIC_AUTHORITY_HOSTS
        else:
            did = truthy(did)
        kwargs = {'authority': str(authority).rstrip('/')}
        kwargs.update(ENTRA_RETRY)
        if did:
            kwargs['disable_instance_discovery'] = True
        if not verify:
            kwargs['connection_verify'] = False
        if self.lock_path is None and self.token_cache_enabled():
            self.lock_path = private_cache_dir()
            if self.lock_path:
                self.lock_path = os.path.join(self.lock_path, TOKEN_CACHE_NAME + '.lock')
        if self.lock_path:
            kwargs['_token_cache'] = True  # turned into cache_persistence_options by with_token_cache()
        return cloud, verify, kwargs

    def token_cache_enabled(self):
        value = self.opt('token_cache', 'VMRESCUE_AZURE_TOKEN_CACHE')
        return True if value in (None, '') else truthy(value)

    def subscription(self):
        value = self.opt('subscription_id', 'AZURE_SUBSCRIPTION_ID')
        if value not in (None, '') and not is_guid(value):
            raise AuthError(
                'subscription_id (or AZURE_SUBSCRIPTION_ID) is not a subscription ID: give the GUID '
                'shown by az account show (id)'
            )
        return value


def _identity(where, build, *options):
    """Build an azure-identity credential; its ValueError (bad tenant, client ID, certificate) becomes an
    AuthError naming the option(s) instead of a bare ValueError."""
    try:
        return build()
    except ValueError as exc:
        text = str(exc).lower()
        named = [o for o in options if o.split('_')[0] in text] or list(options)
        raise AuthError(
            '%s: azure-identity refused %s: %s' % (where, ' / '.join(named), str(exc).split('. ', maxsplit=1)[0])
        )


def _tenant_for(authority, tenant):
    if tenant:
        return tenant
    if authority.rstrip('/').lower().endswith('/adfs'):
        return 'adfs'
    return None


def _client_secret(tenant, client_id, secret, kw, where):
    if not tenant:
        raise AuthError('%s: a service principal needs a tenant (tenant / AZURE_TENANT / AZURE_TENANT_ID)' % where)
    check_tenant(tenant, where)
    check_client_id(client_id, where, adfs=tenant == 'adfs')
    if not isinstance(secret, str):
        raise AuthError('%s: the client secret must be a string' % where)
    from azure.identity import ClientSecretCredential  # lazy: start-up time

    return _identity(
        where,
        lambda: ClientSecretCredential(tenant, client_id, secret, **with_token_cache(kw, tenant, client_id, secret)),
        'tenant',
        'client_id',
    )


def _certificate(tenant, client_id, path, kw, where):
    if not tenant:
        raise AuthError('%s: certificate sign-in needs a tenant (tenant / AZURE_TENANT / AZURE_TENANT_ID)' % where)
    check_tenant(tenant, where)
    check_client_id(client_id, where, adfs=tenant == 'adfs')
    check_certificate(path, where)
    from azure.identity import CertificateCredential  # lazy: start-up time

    return _identity(
        where,
        lambda: CertificateCredential(
            tenant,
            client_id,
            certificate_path=path,
            **with_token_cache(kw, tenant, client_id, path, os.path.getmtime(path)),
        ),
        'x509_certificate_path',
        'tenant',
        'client_id',
    )


def _user_password(tenant, client_id, user, password, kw):
    check_tenant(tenant, 'options')
    check_client_id(client_id, 'options', adfs=tenant == 'adfs')
    from azure.identity import UsernamePasswordCredential  # lazy: start-up time

    return _identity(
        'user sign-in',
        lambda: UsernamePasswordCredential(
            client_id or AZURE_CLI_CLIENT_ID,
            user,
            password,
            tenant_id=tenant or 'organizations',
            **with_token_cache(kw, tenant, client_id, user, password),
        ),
        'tenant',
        'client_id',
        'ad_user',
    )


def _from_values(r, values, kw, where):
    """Build a credential from a dict with client_id/secret/tenant/ad_user/password/x509 keys, or None."""
    tenant = _tenant_for(kw['authority'], values.get('tenant'))
    if values.get('client_id') and values.get('secret'):
        return _client_secret(
            tenant, values['client_id'], values['secret'], kw, where
        ), 'service principal (%s)' % where
    if values.get('client_id') and values.get('x509_certificate_path'):
        return (
            _certificate(tenant, values['client_id'], values['x509_certificate_path'], kw, where),
            'certificate service principal (%s)' % where,
        )
    if values.get('ad_user') and values.get('password'):
        return _user_password(
            tenant, values.get('client_id'), values['ad_user'], values['password'], kw
        ), 'user (%s)' % where
    return None


def _from_env(r, env, kw):
    g = env.get
    tenant = _tenant_for(kw['authority'], r.o.get('tenant') or g('AZURE_TENANT') or g('AZURE_TENANT_ID'))
    client_id = g('AZURE_CLIENT_ID')
    secret = g('AZURE_SECRET') or g('AZURE_CLIENT_SECRET')
    if client_id and secret:
        return _client_secret(tenant, client_id, secret, kw, 'environment'), 'service principal (environment)'
    if client_id and g('AZURE_CLIENT_CERTIFICATE_PATH'):
        return _certificate(
            tenant, client_id, g('AZURE_CLIENT_CERTIFICATE_PATH'), kw, 'environment'
        ), 'certificate service principal (environment)'
    if g('AZURE_AD_USER') and g('AZURE_PASSWORD'):
        return _user_password(tenant, client_id, g('AZURE_AD_USER'), g('AZURE_PASSWORD'), kw), 'user (environment)'
    if g('AZURE_FEDERATED_TOKEN_FILE') and client_id:
        if not tenant:
            raise AuthError('environment: workload identity needs AZURE_TENANT_ID (or AZURE_TENANT)')
        from azure.identity import WorkloadIdentityCredential  # lazy: start-up time

        return (
            WorkloadIdentityCredential(
                tenant_id=tenant,
                client_id=client_id,
                token_file_path=g('AZURE_FEDERATED_TOKEN_FILE'),
                **with_token_cache(kw, tenant, client_id, g('AZURE_FEDERATED_TOKEN_FILE')),
            ),
            'workload identity (environment)',
        )
    return None


def _from_profile(r, name, kw, required):
    data = r.load_profile(name, required)
    if data is None:
        return None
    # cloud/cert settings may come from the profile: recompute with it loaded
    cloud, verify, kw = r.settings()
    found = _from_values(r, data, kw, "profile '%s'" % name)
    if found is None:
        if required:
            raise AuthError(
                "profile '%s' in ~/.azure/credentials has neither client_id + secret, client_id + "
                'x509_certificate_path, nor ad_user + password' % name
            )
        return None
    return found + (cloud, verify)


def _cli(kw):
    from azure.identity import AzureCliCredential  # lazy: start-up time

    return AzureCliCredential()


def _msi(r, kw):
    from azure.identity import ManagedIdentityCredential  # lazy: start-up time

    client_id = r.o.get('client_id') or r.env.get('AZURE_CLIENT_ID')
    extra = {}
    if kw.get('connection_verify') is False:
        extra['connection_verify'] = False
    if client_id:
        check_client_id(client_id, 'managed identity')
        return ManagedIdentityCredential(client_id=client_id, **extra)
    return ManagedIdentityCredential(**extra)


def resolve_auth(options, env=None):
    """Resolve credential, cloud and default subscription from auth options + environment.

    ``options``: mapping of AUTH_OPTIONS names (missing/None = unset). ``env``: defaults to os.environ.
    Raises AuthError. No network call is made except fetching cloud metadata given as a URL.
    The credential is wrapped in ``SerializedCredential`` (one token request at a time, across the threads of
    this process and, with the shared token cache, across the processes of this user).
    """
    env = os.environ if env is None else env
    r = _Resolver(options, env)
    ctx = _resolve(r, env)
    authority = r.opt('adfs_authority_url', 'AZURE_ADFS_AUTHORITY_URL') or ctx.cloud.authority
    ctx.credential = SerializedCredential(ctx.credential, r.lock_path, authority=str(authority).rstrip('/'))
    return ctx


def _resolve(r, env):
    source = r.o.get('auth_source') or env.get('ANSIBLE_AZURE_AUTH_SOURCE') or 'auto'
    if source not in AUTH_SOURCES:
        raise AuthError('auth_source must be one of %s' % ', '.join(AUTH_SOURCES))
    profile_name = r.o.get('profile')

    if source == 'credential_file' or (source == 'auto' and profile_name):
        name = profile_name or env.get('AZURE_PROFILE') or 'default'
        cred, desc, cloud, verify = _from_profile(r, name, r.settings()[2], True)
        return AuthContext(cred, cloud, desc, r.subscription(), verify)

    cloud, verify, kw = r.settings()
    if source == 'env':
        found = _from_env(r, env, kw)
        if found is None and env.get('AZURE_PROFILE'):
            cred, desc, cloud, verify = _from_profile(r, env['AZURE_PROFILE'], kw, True)
            return AuthContext(cred, cloud, desc, r.subscription(), verify)
        if found is None:
            raise AuthError(
                'auth_source=env: no credentials in the environment (AZURE_CLIENT_ID with AZURE_SECRET or '
                'AZURE_CLIENT_SECRET and AZURE_TENANT, AZURE_AD_USER with AZURE_PASSWORD, '
                'AZURE_FEDERATED_TOKEN_FILE, or AZURE_PROFILE)'
            )
        return AuthContext(found[0], cloud, found[1], r.subscription(), verify)
    if source == 'cli':
        return AuthContext(_cli(kw), cloud, 'Azure CLI', r.subscription(), verify, cli=True)
    if source == 'msi':
        return AuthContext(_msi(r, kw), cloud, 'managed identity', r.subscription(), verify)

    # auto
    found = _from_values(r, r.o, kw, 'options')
    if found is not None:
        return AuthContext(found[0], cloud, found[1], r.subscription(), verify)
    found = _from_env(r, env, kw)
    if found is not None:
        return AuthContext(found[0], cloud, found[1], r.subscription(), verify)
    if env.get('AZURE_PROFILE'):
        cred, desc, cloud, verify = _from_profile(r, env['AZURE_PROFILE'], kw, True)
        return AuthContext(cred, cloud, desc, r.subscription(), verify)
    prof = _from_profile(r, 'default', kw, False)
    if prof is not None:
        cred, desc, cloud, verify = prof
        return AuthContext(cred, cloud, desc, r.subscription(), verify)
    r.profile_data = None
    if shutil.which('az'):
        return AuthContext(_cli(kw), cloud, 'Azure CLI', r.subscription(), verify, cli=True)
    return AuthContext(_msi(r, kw), cloud, 'managed identity (no other credentials found)', r.subscription(), verify)
