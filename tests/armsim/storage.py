"""Azure Storage Get Blob for the run commands' output / error blobs, served by the simulator over HTTPS.

A run command writes its whole stdout / stderr to the append blobs ``outputBlobUri`` / ``errorBlobUri``
(runcommand.py keeps them in ``world.blobs``, keyed by the URI without its SAS). A client reads such a blob with
Get Blob (learn.microsoft.com/rest/api/storageservices/get-blob): ``GET https://<account>.blob.core.windows.net/
<container>/<blob>`` authorised by a SAS query. The simulator has no DNS names, so its blobs have path-style URIs
as the Azurite emulator does (``https://127.0.0.1:PORT/<account>/<container>/<blob>``; account ``armsimblobs``,
the only one, so no ARM or Entra path is ever taken for a blob). ``POST /_sim/blobs/sas`` hands out a URI with a
service SAS signed by the account's key (control.py).

What is modelled, with its source:

- Service SAS (learn.microsoft.com/rest/api/storageservices/create-service-sas): query ``sv``, ``sr=b``,
  ``sp`` (permissions, ``r`` to read), ``st`` / ``se`` (start / expiry, ISO 8601 UTC), ``spr``, ``sig`` = base64
  HMAC-SHA256 with the account key of the string-to-sign of version 2020-12-06 and later: signedPermissions,
  signedStart, signedExpiry, canonicalizedResource (``/blob/<account>/<container>/<blob>``), signedIdentifier,
  signedIP, signedProtocol, signedVersion, signedResource, signedSnapshotTime, signedEncryptionScope, rscc, rscd,
  rsce, rscl, rsct, joined by newlines.
- Errors (Blob service error codes; XML body ``<Error><Code/><Message/></Error>`` and header ``x-ms-error-code``):
  a wrong signature or a SAS out of its time window 403 ``AuthenticationFailed``; a SAS without ``r`` 403
  ``AuthorizationPermissionMismatch``; a missing blob 404 ``BlobNotFound``; no SAS at all (anonymous access to a
  private container) 404 ``ResourceNotFound`` ([inferred]: the status Azure gives anonymous reads of a private
  container); a range that starts at or past the blob's end 416 ``InvalidRange``.
- Ranges (specifying-the-range-header-for-blob-service-operations): ``x-ms-range`` (wins) or ``Range``,
  ``bytes=N-`` or ``bytes=N-M``: 206 with ``Content-Range: bytes N-M/SIZE``; without one 200 and the whole blob.
  Headers: ``x-ms-blob-type: AppendBlob``, ``ETag``, ``Last-Modified``, ``Accept-Ranges: bytes``, ``x-ms-version``
  (the request's, else the SAS's ``sv``), ``x-ms-request-id``.
- The handler's own writes are not authorised against the SAS ([inferred]: the simulator models reading only).

Public names: ``Storage(world)`` (``register(router)``), ``ACCOUNT``, ``sign(world, container, blob, permissions,
expiry, version)``, ``blob_key(world, container, blob)``.
"""

import base64
import datetime
import hashlib
import hmac
import uuid
from email.utils import formatdate
from urllib.parse import quote, urlencode

from .errors import ArmError
from .routing import Response

ACCOUNT = 'armsimblobs'
SAS_VERSION = '2022-11-02'


def _key(world):
    if getattr(world, 'storage_key', None) is None:
        world.storage_key = uuid.uuid4().bytes + uuid.uuid4().bytes
    return world.storage_key


def blob_key(world, container, blob):
    """The key of a blob in ``world.blobs``: its URI without the SAS."""
    return f'{world.base_url}/{ACCOUNT}/{container}/{blob}'


def _string_to_sign(q, container, blob):
    fields = [
        q.get('sp', ''),
        q.get('st', ''),
        q.get('se', ''),
        f'/blob/{ACCOUNT}/{container}/{blob}',
        q.get('si', ''),
        q.get('sip', ''),
        q.get('spr', ''),
        q.get('sv', ''),
        q.get('sr', ''),
        q.get('snapshot', ''),
        q.get('ses', ''),
        q.get('rscc', ''),
        q.get('rscd', ''),
        q.get('rsce', ''),
        q.get('rscl', ''),
        q.get('rsct', ''),
    ]
    return '\n'.join(fields)


def _signature(world, q, container, blob):
    digest = hmac.new(_key(world), _string_to_sign(q, container, blob).encode('utf-8'), hashlib.sha256).digest()
    return base64.b64encode(digest).decode('ascii')


def sign(world, container, blob, permissions='racw', expiry=None, version=SAS_VERSION):
    """A blob URI with a service SAS signed by the account key (the control API's ``POST /_sim/blobs/sas``)."""
    now = datetime.datetime.now(datetime.UTC)
    expiry = expiry or now + datetime.timedelta(hours=1)
    q = {'sv': version, 'sr': 'b', 'sp': permissions, 'se': expiry.strftime('%Y-%m-%dT%H:%M:%SZ'), 'spr': 'https'}
    q['sig'] = _signature(world, q, container, blob)
    return blob_key(world, container, blob) + '?' + urlencode(q, quote_via=quote)


def _error(status, code, message):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s</Message>'
        '</Error>' % (code, message, uuid.uuid4(), datetime.datetime.now(datetime.UTC).isoformat())
    )
    err = ArmError(status, code, message, headers={'x-ms-error-code': code})
    err.xml = body
    return err


def _parse_time(text):
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def _authorise(world, req, container, blob):
    q = req.query
    if not q.get('sig'):
        raise _error(404, 'ResourceNotFound', 'The specified resource does not exist.')
    if not hmac.compare_digest(q['sig'], _signature(world, q, container, blob)):
        raise _error(
            403,
            'AuthenticationFailed',
            'Server failed to authenticate the request. Make sure the value of Authorization header is formed '
            'correctly including the signature.',
        )
    now = datetime.datetime.now(datetime.UTC)
    start, expiry = _parse_time(q.get('st') or '') if q.get('st') else None, _parse_time(q.get('se') or '')
    if expiry is None or now > expiry or (start is not None and now < start):
        raise _error(403, 'AuthenticationFailed', 'Signature not valid in the specified time frame')
    if 'r' not in (q.get('sp') or ''):
        raise _error(
            403,
            'AuthorizationPermissionMismatch',
            'This request is not authorized to perform this operation using this permission.',
        )


def _range(req, size):
    """(start, end) inclusive of the request's range, or None for the whole blob."""
    text = req.header('x-ms-range') or req.header('Range')
    if not text:
        return None
    unit, _, spec = text.strip().partition('=')
    first, _, last = spec.partition('-')
    if unit.strip().lower() != 'bytes' or not first.strip().isdigit():
        return None  # [inferred] a range the service cannot read is ignored (the whole blob)
    start = int(first)
    if start >= size:
        raise _error(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.')
    end = min(int(last), size - 1) if last.strip().isdigit() else size - 1
    return start, end


class Storage:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        pattern = rf'/(?P<account>{ACCOUNT})/(?P<container>[a-z0-9](?:[a-z0-9-]{{1,61}}[a-z0-9]))/(?P<blob>.+)'
        for method in ('GET', 'HEAD'):
            router.add(method, pattern, self.get, 'storage.blob.get', auth=False, counter='storage')

    def get(self, req, account, container, blob):
        try:
            return self._get(req, container, blob)
        except ArmError as err:
            return Response(err.status, getattr(err, 'xml', ''), err.headers, content_type='application/xml')

    def _get(self, req, container, blob):
        world = self.world
        _authorise(world, req, container, blob)
        text = world.blobs.get(blob_key(world, container, blob))
        if text is None:
            raise _error(404, 'BlobNotFound', 'The specified blob does not exist.')
        data = text if isinstance(text, bytes) else text.encode('utf-8')  # a screenshot is bytes (bootdiag.py)
        headers = {
            'x-ms-blob-type': 'AppendBlob',
            'ETag': '"0x%s"' % hashlib.sha256(data).hexdigest()[:15].upper(),
            'Last-Modified': formatdate(usegmt=True),
            'Accept-Ranges': 'bytes',
            'x-ms-version': req.header('x-ms-version') or req.query.get('sv') or SAS_VERSION,
            'x-ms-request-id': str(uuid.uuid4()),
        }
        span = _range(req, len(data))
        if span is None:
            return Response(200, data, headers, content_type='application/octet-stream')
        start, end = span
        headers['Content-Range'] = f'bytes {start}-{end}/{len(data)}'
        return Response(206, data[start : end + 1], headers, content_type='application/octet-stream')
