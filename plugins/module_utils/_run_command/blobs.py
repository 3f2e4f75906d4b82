# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole output of a run command from its output / error blob, fetched by the controller (private).

Azure keeps only the last 4 KB of each stream in the run command's instance view; the whole streams go to the
append blobs ``outputBlobUri`` / ``errorBlobUri`` when they are given. After the run the controller reads them with
Azure Storage's Get Blob (``GET <blob URI>`` with its SAS query, header ``x-ms-version``; learn.microsoft.com
"Get Blob" REST reference): one request per blob, at most ``max_output_bytes`` of it (``x-ms-range: bytes=0-N``;
the answer 206 says the blob's size in ``Content-Range: bytes 0-N/SIZE``, so ``truncated`` is known without a
second request). An empty blob answers 416 to a range (nothing to read); a blob the handler never created 404.

A URI without a SAS query (the VM's managed identity writes it) is not read: the controller has no storage
credential of its own here, and the result says so. The SAS is never shown: messages name the blob by its URI
without the query, and never carry the text of an HTTP library exception (it holds the request URL).

Public names: ``fetch(uri, max_bytes, verify=True, timeout=60) -> BlobText``, ``BlobText(text, size,
truncated, error)``. The request itself (headers, the SAS never shown) is the base layer's ``_blob.send``.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.vmrescue.azure.plugins.module_utils._blob import error_code, has_sas, send, without_sas

BlobText = namedtuple('BlobText', 'text size truncated error')
_RANGE = re.compile(r'bytes\s+\d+-\d+/(\d+)')


def _cut(data, max_bytes):
    """``data`` (bytes) cut to ``max_bytes`` without splitting a UTF-8 character, decoded."""
    return data[:max_bytes].decode('utf-8', 'ignore')


def fetch(uri, max_bytes, verify=True, timeout=60, session=None):
    """Read the first ``max_bytes`` of the blob at ``uri`` (a SAS URI) -> BlobText; never raises for the blob."""
    name = without_sas(uri)
    if not has_sas(uri):
        return BlobText(None, None, False, '%s has no SAS: the controller does not read it (read it in Azure)' % name)
    resp, error = send('GET', uri, (0, max(1, max_bytes) - 1), verify=verify, timeout=timeout, session=session)
    if error is not None:
        return BlobText(None, None, False, error)
    if resp.status_code == 416:  # an empty blob has no byte 0
        return BlobText('', 0, False, None)
    if resp.status_code not in (200, 206):
        return BlobText(None, None, False, 'could not read %s: %s (%d)' % (name, error_code(resp), resp.status_code))
    data = resp.content or b''
    found = _RANGE.match(resp.headers.get('Content-Range') or '')
    size = int(found.group(1)) if found else len(data)
    return BlobText(_cut(data, max_bytes), size, size > max_bytes, None)
