# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading an Azure Storage blob through its SAS URI, from the controller (private: may change without notice).

Base layer, shared by the Run Command output blobs (``_run_command/blobs.py``) and the boot diagnostics serial
log (``_triage/boot_diagnostics.py``). Azure Storage "Get Blob" / "Get Blob Properties" (learn.microsoft.com REST
reference): ``GET`` / ``HEAD <blob URI>`` with its SAS query and the header ``x-ms-version``; a range is the header
``x-ms-range: bytes=start-end`` (Blob storage has no suffix range); a refusal names its code in ``x-ms-error-code``.

The SAS is never shown: a blob is named by its URI without the query, and an HTTP library exception is reported by
its type only (its text holds the request URL, SAS included). TLS verification is the ARM client's
(``verify_of(client)``: a CA bundle path, or False only when the user turned it off).

Public names: ``STORAGE_VERSION``, ``without_sas(uri)``, ``has_sas(uri)``, ``verify_of(client)``,
``send(method, uri, byte_range=None, verify=True, timeout=60, session=None) -> (response | None, error | None)``,
``error_code(response)``, ``new_session(pool_size)`` (one connection pool for many blob reads of a batch: their TLS
connections are reused; requests' pool is thread-safe and Storage sets no cookies).
"""

from __future__ import annotations

STORAGE_VERSION = '2021-08-06'


def without_sas(uri):
    """The blob URI without its query (the SAS)."""
    return str(uri or '').split('?', 1)[0]


def has_sas(uri):
    """True when the URI carries a query (the SAS that authorises the read)."""
    return '?' in str(uri or '')


def verify_of(client):
    """The TLS verification of the ARM ``client``'s credential context: a CA bundle path, False, or True."""
    verify = getattr(getattr(client, 'auth', None), 'verify', True)
    return verify if verify is False or isinstance(verify, str) else True


def error_code(response):
    """Storage's error code of a refused request, or ``HTTP <status>``."""
    return response.headers.get('x-ms-error-code') or 'HTTP %d' % response.status_code


def send(method, uri, byte_range=None, verify=True, timeout=60, session=None):
    """One request to the blob at ``uri``: ``(response, None)``, or ``(None, message)`` when it could not be sent
    (the message names the blob without its SAS and the exception's type only). ``byte_range``: ``(start, end)``,
    both inclusive. ``session``: a ``requests`` session (or anything with ``get`` / ``head``)."""
    import requests  # lazy: start-up time (azure-core imports it anyway once a client is made)

    http = session if session is not None else requests
    headers = {'x-ms-version': STORAGE_VERSION}
    if byte_range is not None:
        headers['x-ms-range'] = 'bytes=%d-%d' % tuple(byte_range)
    try:
        return getattr(http, method.lower())(uri, headers=headers, timeout=timeout, verify=verify), None
    except requests.RequestException as exc:  # its text holds the URL, SAS included: name the type only
        return None, 'could not read %s (%s)' % (without_sas(uri), type(exc).__name__)


def new_session(pool_size=10):
    """A ``requests`` session whose connection pool keeps ``pool_size`` connections per host (close it after)."""
    import requests  # lazy: start-up time
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, int(pool_size)))
    session.mount('https://', adapter)
    session.mount('http://', adapter)
    return session
