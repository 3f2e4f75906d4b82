# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The requests session of ``_arm_client``: the environment read once per origin (private: may change without notice).

A plain ``requests.Session`` reads the environment for every request: the proxy variables and ``NO_PROXY`` (two walks
over ``os.environ``), ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, and ``~/.netrc`` (file checks). At a few thousand
requests per batch that was the largest part of requests' CPU per request (docs/performance.md, "Lean mode"). This
session asks requests' own functions (``get_environ_proxies``, ``get_netrc_auth``) the same questions once per
origin (scheme and host:port) and answers every later request from that: the same proxies, ``NO_PROXY`` bypass, CA
bundle and netrc credentials as before, as long as the environment does not change while the client lives (one task).
A caller that passes its own ``no_proxy`` gets requests' per-request proxy look-up.

Public names (kept stable):

- ``env_once_session(pool_size) -> requests.Session``: the session with one ``HTTPAdapter`` whose pool holds
  ``pool_size`` connections per host, without urllib3 retries (azure-core's RetryPolicy retries).
- ``origin_environment(url) -> (proxies, netrc credentials or None, CA bundle or None)``: what requests would work
  out from the environment for ``url`` (the session's and ``_http_transport``'s one look-up per origin).

requests and urllib3 are imported inside the function (start-up time, as in ``_arm_client``).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit


def origin_environment(url):
    """(proxies from the environment, ~/.netrc credentials, CA bundle from the environment) for ``url``: what requests
    works out for it on every request."""
    from requests.utils import get_environ_proxies, get_netrc_auth  # lazy: start-up time

    ca = os.environ.get('REQUESTS_CA_BUNDLE') or os.environ.get('CURL_CA_BUNDLE')
    return get_environ_proxies(url, no_proxy=None), get_netrc_auth(url), ca


def env_once_session(pool_size):
    """A ``requests.Session`` reading the environment once per origin (see the module docstring)."""
    import requests  # lazy: start-up time
    from requests.utils import get_environ_proxies
    from urllib3.util.retry import Retry

    class EnvOnceSession(requests.Session):
        def __init__(self):
            super().__init__()
            # requests' per-request look-ups are made here instead (``_origin``); with trust_env False the
            # base class reads nothing from the environment itself.
            self.trust_env = False
            # No session-wide params or proxies to merge into each request (requests' merge_setting walks both
            # with typing Protocol checks): the URLs carry their query, the proxies come from ``_origin``.
            self.params = None
            self.proxies = None
            self._origins = {}
            self._origins_lock = threading.Lock()

        def _origin(self, url):
            """(proxies from the environment, netrc credentials, CA bundle from the environment) for ``url``'s
            origin: what requests would work out for it on every request."""
            key = urlsplit(url)[:2]
            found = self._origins.get(key)
            if found is None:
                found = origin_environment(url)
                with self._origins_lock:
                    self._origins[key] = found
            return found

        def prepare_request(self, request):
            # requests: "Set environment's basic authentication if not explicitly set" (Session.prepare_request)
            if not request.auth and not self.auth:
                netrc = self._origin(request.url)[1]
                if netrc:
                    request.auth = netrc
            return super().prepare_request(request)

        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            env_proxies, _netrc, ca = self._origin(url)
            no_proxy = proxies.get('no_proxy') if proxies is not None else None
            if no_proxy is not None:  # a caller's own no_proxy: requests' look-up for this request
                env_proxies = get_environ_proxies(url, no_proxy=no_proxy)
            if proxies is not None:
                for k, v in env_proxies.items():
                    proxies.setdefault(k, v)
            if verify is True or verify is None:
                verify = ca or verify
            return super().merge_environment_settings(url, proxies, stream, verify, cert)

    session = EnvOnceSession()
    # Like azure-core's own adapter: no urllib3 retries (the RetryPolicy retries), but a pool per concurrency.
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4,
        pool_maxsize=max(1, int(pool_size)),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount('https://', adapter)
    session.mount('http://', adapter)
    return session
