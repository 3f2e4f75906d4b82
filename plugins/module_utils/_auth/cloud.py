# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure clouds and their endpoints (private: not a public API, may change without notice).

Public names (kept stable):

- ``Cloud``: ``name``, ``resource_manager`` (``https://host/``), ``authority`` (``https://login-host``),
  ``audience``, ``scope``, ``authority_host``, ``is_public``. ``KNOWN_CLOUDS``, ``PUBLIC_AUTHORITY_HOSTS``.
- ``resolve_cloud(value, verify=True, allow_http=False) -> Cloud``: a known cloud name, a Resource Manager
  endpoint (``/metadata/endpoints?api-version=...`` appended: ``metadata_url``) or a metadata URL.
- ``security_warnings(options, env=None) -> [str]``: the warnings every task, lookup and inventory run that uses
  these options must show (today: TLS certificate validation turned off, ``CERT_IGNORE_WARNING``);
  ``quiet_insecure_request_warnings()`` silences urllib3's per-request warning that it replaces.
"""

from __future__ import annotations

import os

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import AuthError

PUBLIC_AUTHORITY_HOSTS = ('login.microsoftonline.com', 'login.chinacloudapi.cn', 'login.microsoftonline.us')


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
        return self.authority_host in PUBLIC_AUTHORITY_HOSTS

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


def quiet_insecure_request_warnings():
    """With certificate validation off, urllib3 warns on every request (thousands in a batch, raw on stderr). The
    run shows CERT_IGNORE_WARNING once, as an Ansible warning, instead."""
    try:
        import urllib3  # lazy: start-up time, only runs with certificate validation off need it

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
