# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a VM's serial console log from boot diagnostics: the ARM call, then the tail of the blob (private).

The ARM side (Compute spec 2024-11-01, virtualMachine.json / virtualMachineScaleSet.json, vendored in
tests/specs/compute): ``POST {vm}/retrieveBootDiagnosticsData?api-version=...&sasUriExpirationTimeInMinutes=N``
(``VirtualMachines_RetrieveBootDiagnosticsData``; a Uniform scale-set instance has the same action under
``virtualMachineScaleSets/{ss}/virtualmachines/{id}``), not long-running, answers
``{consoleScreenshotBlobUri, serialConsoleLogBlobUri}``: SAS URIs valid for N minutes (1 to 1440; Azure's default
120). The collection asks for ``SAS_MINUTES``: it reads the blob at once. The action needs
``Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action``.

Boot diagnostics off: the model's ``diagnosticsProfile.bootDiagnostics.enabled`` is read first (the caller's model,
or one GET), so the answer is ``boot_diagnostics_off`` with its fix before any action is sent. Should the action
answer 409 all the same (the model changed in between), that is read as boot diagnostics off too, unless the 409
is one the collection knows as something else (another operation in progress, a lock, a deletion): pycloudlib
(canonical/pycloudlib, azure/instance.py) catches the SDK's ResourceExistsError (409) of this call as "Boot
diagnostics not enabled" (a version of its azure/instance.py); the words of Azure's message are not relied on
[inferred].

Storage: with ``storageUri`` unset the logs are in a storage account Azure manages (the spec: "If storageUri is not
specified while enabling boot diagnostics, managed storage will be used"); with it set, in the customer's account
(same region and subscription). The action is documented for both: the spec makes no exception, and the instance
view's own blob URIs are the ones "not set if boot diagnostics is currently enabled with managed storage", i.e.
the action is the way to the managed account's blobs. For a custom account it hands out a SAS as well: the
operation's description makes no exception, and microsoft/lisa's Azure orchestrator reads through it a SAS URI on a
named account's ``bootdiagnostics-<vm>-<id>`` container (its code comment shows one), the layout of a custom
account [inferred: not measured on a custom account here]. A custom
account behind a storage firewall refuses the controller unless its network is allowed (learn
virtual-machines/boot-diagnostics): that answer is ``boot_log_unreadable`` with the fix.

The blob (Azure Storage "Get Blob" / "Get Blob Properties", header ``x-ms-version``): the serial log can reach
1 GB before Azure overwrites it (learn boot-diagnostics, Limitations), so only its tail is read. Blob storage has
no suffix range (learn "Specifying the range header for Blob service operations": ``bytes=start-`` and
``bytes=start-end`` only), so a HEAD gives the size, then one ranged GET ``bytes=(size-N)-(size-1)`` the last N
bytes. The partial first line and NUL padding are dropped. The SAS is never shown: messages name the blob by its
URI without the query and never carry an HTTP library exception's text (it holds the URL). TLS verification is
the client's (``client.auth.verify``: a CA bundle path, or False only when the user turned it off).

Public names: ``read_serial_log(client, target, model=None, max_bytes=TAIL_BYTES, expiry_minutes=SAS_MINUTES,
session=None, timeout=60) -> BootLog``; ``BootLog(text, size, truncated, storage, reason_code, reason)``
(``reason_code`` None when the log was read); ``retrieve_uris(client, target, expiry_minutes=SAS_MINUTES) ->
dict``; ``read_tail(uri, max_bytes, verify=True, timeout=60, session=None) -> BlobTail(text, size, truncated,
status, error)``; ``settings(model) -> dict``; ``SAS_MINUTES``, ``TAIL_BYTES``, ``ACTION``, ``ENABLE_FIX``. The
requests themselves (headers, the SAS never shown, TLS verification) are the base layer's ``_blob``.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError, is_final
from ansible_collections.vmrescue.azure.plugins.module_utils._blob import (
    error_code,
    has_sas,
    send,
    verify_of,
    without_sas,
)

SAS_MINUTES = 5
TAIL_BYTES = 256 * 1024
ACTION = 'Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action'
ENABLE_FIX = (
    "turn boot diagnostics on with managed storage (the VM model's diagnosticsProfile.bootDiagnostics.enabled: "
    'true; az vm boot-diagnostics enable), then restart the VM: the log holds only what the guest printed while it '
    'was on'
)

BootLog = namedtuple('BootLog', 'text size truncated storage reason_code reason')
BlobTail = namedtuple('BlobTail', 'text size truncated status error')


def settings(model):
    """``{enabled, storage ('managed' / 'custom'), storage_uri}`` from a VM / instance model."""
    props = (model or {}).get('properties') or {}
    boot = (props.get('diagnosticsProfile') or {}).get('bootDiagnostics') or {}
    uri = boot.get('storageUri') or None
    return dict(enabled=boot.get('enabled') is True, storage='custom' if uri else 'managed', storage_uri=uri)


def retrieve_uris(client, target, expiry_minutes=SAS_MINUTES):
    """The action's SAS URIs: ``{serial_log_uri, screenshot_uri}`` (None when Azure gives none). Raises ArmError."""
    minutes = min(1440, max(1, int(expiry_minutes)))
    resp = client.request(
        'POST',
        target.path + '/retrieveBootDiagnosticsData',
        API_VERSION,
        params={'sasUriExpirationTimeInMinutes': minutes},
        resource_id=target.id,
    )
    body = resp.body or {}
    return dict(serial_log_uri=body.get('serialConsoleLogBlobUri'), screenshot_uri=body.get('consoleScreenshotBlobUri'))


def _size_of(resp):
    try:
        return int(resp.headers.get('Content-Length'))
    except (TypeError, ValueError):
        return None


def _decode(data, cut):
    """Bytes -> text without NUL padding; when ``cut``, without the (partial) first line."""
    text = data.decode('utf-8', 'replace').replace('\x00', '')
    if cut:
        text = text[text.find('\n') + 1 :] if '\n' in text else ''
    return text


def read_tail(uri, max_bytes, verify=True, timeout=60, session=None):
    """The last ``max_bytes`` of the blob at ``uri`` (a SAS URI): one HEAD, then one ranged GET. Never raises for
    the blob: ``error`` (without the SAS) and ``status`` (the storage answer's HTTP status) say what went wrong."""
    name = without_sas(uri)
    if not has_sas(uri):
        return BlobTail(None, None, False, None, '%s has no SAS: the controller does not read it' % name)
    head, error = send('HEAD', uri, verify=verify, timeout=timeout, session=session)
    if error is not None:
        return BlobTail(None, None, False, None, error)
    if head.status_code != 200:
        return BlobTail(None, None, False, head.status_code, _storage_error(head, name))
    size = _size_of(head)
    if size == 0:
        return BlobTail('', 0, False, 200, None)
    start = max(0, size - max_bytes) if size is not None else 0
    span = (start, size - 1) if size is not None else None
    resp, error = send('GET', uri, span, verify=verify, timeout=timeout, session=session)
    if error is not None:
        return BlobTail(None, None, False, None, error)
    if resp.status_code not in (200, 206):
        return BlobTail(None, None, False, resp.status_code, _storage_error(resp, name))
    data = resp.content or b''
    if size is None or resp.status_code == 200:  # no size, or a service that ignored the range: cut here
        size = len(data) if size is None else size
        start = max(0, len(data) - max_bytes)
        data = data[start:]
    return BlobTail(_decode(data, start > 0), size, start > 0, resp.status_code, None)


def _storage_error(resp, name):
    return '%s answered %s (%d)' % (name, error_code(resp), resp.status_code)


def _off(storage):
    return BootLog(None, None, False, storage, 'boot_diagnostics_off', 'boot diagnostics is off: ' + ENABLE_FIX)


def _arm_failure(err, storage):
    """A refused action: boot diagnostics off for a 409 that names boot diagnostics or that no retry can pass
    (and none of the known refusals: a lock, a deletion, ...); otherwise the ARM error's own reason code."""
    named = 'boot diagnostic' in (err.message or '').lower()
    if err.status == 409 and (named or (is_final(err) and err.reason_code == 'conflict')):
        return _off(storage)
    reason = err.describe()
    if err.reason_code in ('rbac_missing', 'forbidden'):
        reason += ' Reading the boot log needs %s.' % ACTION
    return BootLog(None, None, False, storage, err.reason_code, reason)


def _unreadable(storage, why):
    fix = ''
    if storage == 'custom':
        fix = (
            " With a custom boot diagnostics storage account behind a firewall, allow the controller's network "
            'on it, or switch the VM to managed storage.'
        )
    return BootLog(None, None, False, storage, 'boot_log_unreadable', why + '.' + fix)


def _read_model(client, target):
    """The VM / instance model (one GET), or a BootLog saying why it could not be read."""
    try:
        return client.get(target.path, resource_id=target.id), None
    except ArmError as err:
        return None, BootLog(None, None, False, None, err.reason_code, err.describe())


def read_serial_log(
    client, target, model=None, max_bytes=TAIL_BYTES, expiry_minutes=SAS_MINUTES, session=None, timeout=60
):
    """The tail of the VM's serial console log: ``BootLog`` (``reason_code`` None when ``text`` was read).

    ``model``: the VM / instance model the caller already holds (saves a GET). Reason codes: ``boot_diagnostics_off``
    (with the fix), ``boot_log_unreadable`` (no URI, no blob yet, or storage refused), or the ARM error's
    (``not_found``, ``rbac_missing``, ``scope_locked``, ``throttled``, ...)."""
    if model is None:
        model, failed = _read_model(client, target)
        if failed is not None:
            return failed
    conf = settings(model)
    if not conf['enabled']:
        return _off(conf['storage'])
    try:
        uri = retrieve_uris(client, target, expiry_minutes)['serial_log_uri']
    except ArmError as err:
        return _arm_failure(err, conf['storage'])
    if not uri:
        return _unreadable(
            conf['storage'],
            'Azure gave no serial log URI (the VM has not booted since boot '
            'diagnostics was turned on: restart it to capture a boot)',
        )
    tail = read_tail(uri, max(1, int(max_bytes)), verify=verify_of(client), timeout=timeout, session=session)
    if tail.error is None:
        return BootLog(tail.text, tail.size, tail.truncated, conf['storage'], None, '')
    if tail.status == 404:
        return _unreadable(
            conf['storage'], 'no serial log blob yet (%s): restart the VM to capture a boot' % tail.error
        )
    return _unreadable(conf['storage'], 'could not read the serial log: %s' % tail.error)
