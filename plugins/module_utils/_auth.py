# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential and cloud resolution (private: not a public API, may change without notice).

One code path for modules, action plugins and lookups: callers pass a plain dict of the auth options
(``AUTH_OPTIONS`` keys; ``None`` when unset), whether they come from ``module.params`` or a plugin's
``get_option``, and an environment mapping. Environment variables are read *here* (not through argspec
fallbacks) so every caller resolves them identically.

Public names (kept stable):

- ``AUTH_OPTIONS``: argspec fragment (secrets are ``no_log``). ``AUTH_OPTION_NAMES``.
- ``AuthError(Exception)``: a configuration or sign-in problem; the message never contains a secret.
- ``Cloud``: ``name``, ``resource_manager`` (``https://host/``), ``authority`` (``https://login-host``),
  ``audience``, ``scope``, ``is_public``.
- ``resolve_cloud(value, verify=True) -> Cloud``: a known cloud name, a Resource Manager endpoint
  (``/metadata/endpoints?api-version=...`` appended) or a metadata URL.
- ``AuthContext``: ``credential`` (an azure-identity TokenCredential), ``cloud``, ``source`` (text naming
  where the credential came from), ``verify`` (bool or CA path for the transport), ``subscription_id``
  (may be None), ``get_subscription_id()`` (falls back to ``az account show`` for Azure CLI sign-in only).
- ``resolve_auth(options, env=None) -> AuthContext``: see SOURCE_ORDER_DOC; it is what the doc fragment says.
- ``security_warnings(options, env=None) -> [str]``: the warnings every task, lookup and inventory run that uses
  these options must show (today: TLS certificate validation turned off). ``AuthContext.warnings`` holds the same.

azure.identity is imported lazily, one credential class at a time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError

try:
    import configparser
except ImportError:  # pragma: no cover
    configparser = None  # type: ignore

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

# The Azure CLI's public client ID, used for user name + password sign-in (as azure.azcollection does).
AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

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

_PUBLIC_AUTHORITY_HOSTS = ('login.microsoftonline.com', 'login.chinacloudapi.cn', 'login.microsoftonline.us')


TOKEN_CACHE_NAME = 'vmrescue.azure'


def private_cache_dir():
    """azure-identity's token cache directory (~/.IdentityService), made private (0700), or None.

    azure-identity keeps a persistent cache there (libsecret when available, else the file ``<name>.nocae``,
    created 0600 by msal-extensions; ``<name>`` is ``vmrescue.azure.<digest of the credential>``). The directory
    is created 0700, tightened to 0700 when it is ours and looser, and refused (no shared cache) when it is a
    symlink or owned by another user. Cache files of ours that are readable by others are tightened to 0600.
    """
    import stat

    path = os.path.expanduser(os.path.join('~', '.IdentityService'))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if st.st_mode & 0o077:
            os.chmod(path, 0o700)
        for name in os.listdir(path):
            if not name.startswith(TOKEN_CACHE_NAME + '.'):
                continue
            f = os.path.join(path, name)
            fst = os.lstat(f)
            if not stat.S_ISREG(fst.st_mode) or fst.st_uid != os.getuid():
                return None
            if fst.st_mode & 0o077:
                os.chmod(f, 0o600)
    except OSError:
        return None
    return path


# Retries of the token requests, given to azure-identity's own pipeline (azure-core RetryPolicy; azure-identity
# marks its token POSTs retryable): 408, 429 and 5xx (Retry-After honoured) and dropped connections, five times
# with back-off 0.5 s doubling to at most 8 s (about 15 s in all). azure-core's default is three status retries.
ENTRA_RETRY = dict(
    retry_total=5, retry_connect=5, retry_read=5, retry_status=5, retry_backoff_factor=0.5, retry_backoff_max=8
)
# After a transient token endpoint failure outlasted those retries, the other targets of the same process fail
# with it for this many seconds instead of each running the retries again (a 50-VM batch would wait 50 x 15 s).
TRANSIENT_HOLD_SECONDS = 20

_HTTP_ERROR_RE = re.compile(r'HTTP Error: (\d{3})|\b(5\d\d|429|408) (?:Server Error|Client Error)')


class TransientSignInError(Exception):
    """The token endpoint failed with a transient error (5xx, 429, 408 or a dropped connection) after the retries.

    ``status`` (int or None for a dropped connection), ``authority``; ``str()`` names it as transient. It is a
    subclass of azure-core's ClientAuthenticationError at runtime (see ``transient_sign_in_error``), so callers that
    only know azure-core still see an authentication error.
    """


def _transient_status(exc):
    """(True, status or None) when ``exc`` (an azure-identity error) is a transient token endpoint failure."""
    try:
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
    from azure.core.exceptions import ClientAuthenticationError

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


class SerializedCredential:
    """A TokenCredential wrapper: one token request at a time.

    Threads of one process (a batch) wait for each other, so that the first caller's token lands in the
    credential's cache and the others find it there. With ``lock_path`` (the shared token cache is on) an
    exclusive ``flock`` on that file does the same across the Ansible worker processes of this user: the first
    one asks Entra ID, the others read the token from the persistent cache.

    A transient token endpoint failure (after azure-identity's retries, ENTRA_RETRY) is raised as a
    ``TransientSignInError`` naming it, and held for TRANSIENT_HOLD_SECONDS (the next callers get it at once).
    """

    def __init__(self, credential, lock_path=None, authority=None, clock=None):
        import threading
        import time

        self.credential = credential
        self.lock_path = lock_path
        self.authority = authority or 'Entra ID'
        self._clock = clock or time.monotonic
        self._held = None  # (until, error)
        self._lock = threading.Lock()
        if hasattr(credential, 'get_token_info'):
            self.get_token_info = self._get_token_info

    def _locked(self, func, *args, **kwargs):
        with self._lock:
            if self._held is not None:
                if self._clock() < self._held[0]:
                    raise self._held[1]
                self._held = None
            try:
                return self._flocked(func, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                if isinstance(exc, TransientSignInError):
                    raise
                transient, status = _transient_status(exc)
                if not transient:
                    raise
                err = transient_sign_in_error(self.authority, status)
                self._held = (self._clock() + TRANSIENT_HOLD_SECONDS, err)
                raise err

    def _flocked(self, func, *args, **kwargs):
        fd = None
        if self.lock_path:
            try:
                import fcntl

                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except (OSError, ImportError):
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            return func(*args, **kwargs)
        finally:
            if fd is not None:
                os.close(fd)  # closing releases the flock

    def get_token(self, *scopes, **kwargs):
        return self._locked(self.credential.get_token, *scopes, **kwargs)

    def _get_token_info(self, *scopes, **kwargs):
        return self._locked(self.credential.get_token_info, *scopes, **kwargs)

    def close(self):
        close = getattr(self.credential, 'close', None)
        if close:
            close()

    def __getattr__(self, name):
        return getattr(self.credential, name)


class AuthError(VmrescueError):
    """Authentication configuration or sign-in failed. Messages name options, never their values."""

    reason_code = 'auth_failed'


def auth_setup_error(exc):
    """An error azure-identity raised while the credential was built (a bad option value) as an AuthError."""
    return AuthError(
        'the credential could not be set up from the auth options (tenant, client_id, secret, '
        'x509_certificate_path, ...): %s' % (str(exc) or exc.__class__.__name__)
    )


class Cloud:
    """Endpoints of one Azure cloud."""

    def __init__(self, name, resource_manager, authority, audience):
        self.name = name
        self.resource_manager = resource_manager.rstrip('/') + '/'
        self.authority = authority.rstrip('/')
        self.audience = audience
        aud = audience if audience.endswith('/') else audience + '/'
        self.scope = aud + '.default'

    @property
    def authority_host(self):
        return self.authority.split('://', 1)[-1].split('/', 1)[0].lower()

    @property
    def is_public(self):
        return self.authority_host in _PUBLIC_AUTHORITY_HOSTS

    def __repr__(self):
        return 'Cloud(%s, %s)' % (self.name, self.resource_manager)


KNOWN_CLOUDS = {
    'azurecloud': Cloud(
        'AzureCloud',
        'https://management.azure.com/',
        'https://login.microsoftonline.com',
        'https://management.core.windows.net/',
    ),
    'azurechinacloud': Cloud(
        'AzureChinaCloud',
        'https://management.chinacloudapi.cn/',
        'https://login.chinacloudapi.cn',
        'https://management.core.chinacloudapi.cn/',
    ),
    'azureusgovernment': Cloud(
        'AzureUSGovernment',
        'https://management.usgovcloudapi.net/',
        'https://login.microsoftonline.us',
        'https://management.core.usgovcloudapi.net/',
    ),
}
# azure.azcollection / msrestazure spellings
_CLOUD_ALIASES = {
    'azure_public_cloud': 'azurecloud',
    'public': 'azurecloud',
    'azure_china_cloud': 'azurechinacloud',
    'azure_us_gov_cloud': 'azureusgovernment',
}

_cloud_cache = {}

# What msrestazure's get_cloud_from_metadata_endpoint (used by azure.azcollection) and the Azure CLI append to a
# Resource Manager endpoint given as the cloud.
METADATA_SUFFIX = '/metadata/endpoints?api-version=2022-09-01'


def metadata_url(value):
    """Return the metadata URL for ``value``: a Resource Manager endpoint gets METADATA_SUFFIX, a metadata URL is kept."""
    value = value.strip()
    path = value.split('://', 1)[-1].split('?', 1)[0]
    if '/metadata/endpoints' in path.lower():
        return value
    return value.split('?', 1)[0].rstrip('/') + METADATA_SUFFIX


CERT_IGNORE_WARNING = (
    'cert_validation_mode=ignore (or AZURE_CERT_VALIDATION_MODE=ignore): TLS certificates are not checked for '
    'Entra ID, which receives the client secret, nor for Resource Manager; anyone on the network path can read the '
    'secret and the tokens. To trust a private CA, set REQUESTS_CA_BUNDLE to its certificate instead.'
)


def _quiet_insecure_request_warnings():
    """With certificate validation off, urllib3 warns on every request (thousands in a batch, raw on stderr). The
    run shows CERT_IGNORE_WARNING once, as an Ansible warning, instead."""
    try:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    except Exception:  # pylint: disable=broad-except
        pass


def security_warnings(options, env=None):
    """The warnings a run with these auth options must show every time (see the module docstring)."""
    env = os.environ if env is None else env
    mode = (options or {}).get('cert_validation_mode') or env.get('AZURE_CERT_VALIDATION_MODE')
    return [CERT_IGNORE_WARNING] if str(mode or '').strip().lower() == 'ignore' else []


# The metadata fetch retries what Azure's own clients retry: connection errors, 408, 429 and 5xx, with back-off
# (0.5, 1, 2, 4 s) and Retry-After honoured, so one failed response does not fail every host of a run.
METADATA_RETRIES = 4


def _fetch_metadata(url, verify):
    import requests  # lazy: only clouds given by URL need it
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=METADATA_RETRIES,
        connect=METADATA_RETRIES,
        read=METADATA_RETRIES,
        status=METADATA_RETRIES,
        backoff_factor=0.5,
        status_forcelist=(408, 429, 500, 502, 503, 504),
        allowed_methods=frozenset(['GET']),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    with requests.Session() as session:
        session.mount('https://', HTTPAdapter(max_retries=retry))
        session.mount('http://', HTTPAdapter(max_retries=retry))
        try:
            resp = session.get(url, timeout=30, verify=verify, headers={'Accept': 'application/json'})
            resp.raise_for_status()
            return resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise AuthError(
                'cloud_environment: could not read cloud metadata from %s (after %d retries): %s'
                % (url, METADATA_RETRIES, exc.__class__.__name__ if isinstance(exc, ValueError) else exc)
            )


def resolve_cloud(value, verify=True, allow_http=False):
    """Return the Cloud for a known name (default AzureCloud), a Resource Manager endpoint or a metadata URL.

    A Resource Manager endpoint (``https://management.local.azurestack.external``, with or without a trailing
    slash) gets ``/metadata/endpoints?api-version=...`` appended, as msrestazure and the Azure CLI do. The metadata
    URL is fetched with requests (honouring REQUESTS_CA_BUNDLE unless ``verify`` is a path or False) and must return
    an object (or a list of objects) with ``resourceManager``, ``authentication.loginEndpoint`` and
    ``authentication.audiences``. A plain ``http://`` URL is refused unless ``allow_http``: the metadata decides
    where the client secret and the tokens are sent.
    """
    if not value:
        return KNOWN_CLOUDS['azurecloud']
    key = value.strip().lower()
    key = _CLOUD_ALIASES.get(key, key)
    if key in KNOWN_CLOUDS:
        return KNOWN_CLOUDS[key]
    if not key.startswith('https://') and not key.startswith('http://'):
        raise AuthError(
            'cloud_environment: %r is neither a known cloud (%s) nor a URL (the Resource Manager '
            'endpoint https://management.example, or https://host/metadata/endpoints?api-version=...)'
            % (value, ', '.join(c.name for c in KNOWN_CLOUDS.values()))
        )
    url = metadata_url(value)
    if key.startswith('http://') and not allow_http:
        raise AuthError(
            'cloud_environment: %s is plain http, but the cloud metadata decides where the client secret '
            'and the tokens are sent; use its https URL, or set allow_unencrypted_cloud_metadata=true '
            '(VMRESCUE_AZURE_ALLOW_UNENCRYPTED_CLOUD_METADATA=true) to accept that risk' % url
        )
    cache_key = (url, str(verify))
    if cache_key in _cloud_cache:
        return _cloud_cache[cache_key]
    data = _fetch_metadata(url, verify)
    if isinstance(data, list):
        host = url.split('://', 1)[-1].split('/', 1)[0].lower()
        chosen = [d for d in data if isinstance(d, dict) and host in str(d.get('resourceManager', '')).lower()]
        data = (chosen or data or [None])[0]
    try:
        auth = data['authentication']
        cloud = Cloud(
            data.get('name') or 'custom', data['resourceManager'], auth['loginEndpoint'], auth['audiences'][0]
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise AuthError(
            'cloud_environment: the metadata at %s lacks resourceManager, authentication.loginEndpoint '
            'or authentication.audiences' % url
        )
    if not cloud.authority.startswith('https://'):
        raise AuthError(
            'cloud_environment: the login endpoint %s is not https (Entra ID authorities must be https)'
            % cloud.authority
        )
    _cloud_cache[cache_key] = cloud
    return cloud


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


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
            _quiet_insecure_request_warnings()

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
        allow_http = _truthy(
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
            did = host not in _PUBLIC_AUTHORITY_HOSTS
        else:
            did = _truthy(did)
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
            kwargs['_token_cache'] = True  # turned into cache_persistence_options by _cached()
        return cloud, verify, kwargs

    def token_cache_enabled(self):
        value = self.opt('token_cache', 'VMRESCUE_AZURE_TOKEN_CACHE')
        return True if value in (None, '') else _truthy(value)

    def subscription(self):
        value = self.opt('subscription_id', 'AZURE_SUBSCRIPTION_ID')
        if value not in (None, '') and not is_guid(value):
            raise AuthError(
                'subscription_id (or AZURE_SUBSCRIPTION_ID) is not a subscription ID: give the GUID '
                'shown by az account show (id)'
            )
        return value


def _cached(kw, *identity):
    """``kw`` for an azure-identity credential, with the shared persistent token cache when it is enabled.

    The cache is partitioned per credential: its name carries a digest of the authority and ``identity`` (client
    ID, tenant and the secret, certificate path or user), so a task with a wrong or rotated secret never picks up
    a token that another credential obtained; it signs in (and fails) on its own.
    """
    kw = dict(kw)
    if kw.pop('_token_cache', False):
        import hashlib

        from azure.identity import TokenCachePersistenceOptions

        digest = hashlib.sha256('\0'.join(str(p) for p in (kw.get('authority'),) + identity).encode('utf-8'))
        # Tried first: the platform's encrypted store (libsecret); else a 0600 file in the 0700 directory.
        kw['cache_persistence_options'] = TokenCachePersistenceOptions(
            name='%s.%s' % (TOKEN_CACHE_NAME, digest.hexdigest()[:16]), allow_unencrypted_storage=True
        )
    return kw


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
        from cryptography.hazmat.primitives.serialization import pkcs12

        pkcs12.load_key_and_certificates(data, None)
    except Exception:  # pylint: disable=broad-except  # any parse error: not a usable certificate
        raise AuthError(
            '%s: %s is not a certificate: give a PEM file with the certificate and its private key '
            '(or a PKCS12 file without password)' % (name, path)
        )


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
    from azure.identity import ClientSecretCredential

    return _identity(
        where,
        lambda: ClientSecretCredential(tenant, client_id, secret, **_cached(kw, tenant, client_id, secret)),
        'tenant',
        'client_id',
    )


def _certificate(tenant, client_id, path, kw, where):
    if not tenant:
        raise AuthError('%s: certificate sign-in needs a tenant (tenant / AZURE_TENANT / AZURE_TENANT_ID)' % where)
    check_tenant(tenant, where)
    check_client_id(client_id, where, adfs=tenant == 'adfs')
    check_certificate(path, where)
    from azure.identity import CertificateCredential

    return _identity(
        where,
        lambda: CertificateCredential(
            tenant, client_id, certificate_path=path, **_cached(kw, tenant, client_id, path, os.path.getmtime(path))
        ),
        'x509_certificate_path',
        'tenant',
        'client_id',
    )


def _user_password(tenant, client_id, user, password, kw):
    check_tenant(tenant, 'options')
    check_client_id(client_id, 'options', adfs=tenant == 'adfs')
    from azure.identity import UsernamePasswordCredential

    return _identity(
        'user sign-in',
        lambda: UsernamePasswordCredential(
            client_id or AZURE_CLI_CLIENT_ID,
            user,
            password,
            tenant_id=tenant or 'organizations',
            **_cached(kw, tenant, client_id, user, password),
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
        from azure.identity import WorkloadIdentityCredential

        return (
            WorkloadIdentityCredential(
                tenant_id=tenant,
                client_id=client_id,
                token_file_path=g('AZURE_FEDERATED_TOKEN_FILE'),
                **_cached(kw, tenant, client_id, g('AZURE_FEDERATED_TOKEN_FILE')),
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
    from azure.identity import AzureCliCredential

    return AzureCliCredential()


def _msi(r, kw):
    from azure.identity import ManagedIdentityCredential

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
