"""Reading a VM's serial log from boot diagnostics (_triage.boot_diagnostics) against a fake ARM client and a fake
Azure Storage session: what is asked of each, what each answer becomes, and that no SAS reaches a message. No
network."""

import pytest
import requests

from ansible_collections.vmrescue.azure.plugins.module_utils import _blob
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmResponse
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._triage import boot_diagnostics as bd
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_log import classify

SUB = '00000000-0000-0000-0000-000000000001'
VM = parse_resource_id('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1' % SUB)
INST = parse_resource_id(
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/2' % SUB
)
SIG = 'sig=SECRETSIGNATURE'
LOG_URI = 'https://md-abc.z1.blob.storage.azure.net/bootdiag/vm1.serialconsole.log?sv=2022-11-02&sr=b&sp=r&' + SIG
SHOT_URI = 'https://md-abc.z1.blob.storage.azure.net/bootdiag/vm1.screenshot.bmp?sv=2022-11-02&sr=b&sp=r&' + SIG
BLOB = LOG_URI.split('?')[0]


def model(enabled=True, storage_uri=None, boot=True):
    props = {'storageProfile': {'osDisk': {'osType': 'Linux'}}}
    if boot:
        diag = {'enabled': enabled}
        if storage_uri:
            diag['storageUri'] = storage_uri
        props['diagnosticsProfile'] = {'bootDiagnostics': diag}
    return {'name': 'vm1', 'properties': props}


class Auth:
    verify = '/etc/ssl/ca.pem'


class FakeClient:
    def __init__(self, vm=None, answer=None, get_error=None):
        self.vm = vm if vm is not None else model()
        self.answer = (
            answer if answer is not None else {'serialConsoleLogBlobUri': LOG_URI, 'consoleScreenshotBlobUri': SHOT_URI}
        )
        self.get_error = get_error
        self.calls = []
        self.auth = Auth()

    def get(self, path, resource_id=None, **kw):
        self.calls.append(('GET', path, None))
        if self.get_error:
            raise self.get_error
        return self.vm

    def request(self, method, path, api_version=API_VERSION, params=None, body=None, resource_id=None, **kw):
        self.calls.append((method, path, dict(params or {}), api_version, body, resource_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return ArmResponse(200, {}, self.answer)


class FakeResponse:
    def __init__(self, status, content=b'', headers=None):
        self.status_code, self.content, self.headers = status, content, headers or {}


class FakeSession:
    """Azure Storage for one blob: HEAD gives its size, GET honours x-ms-range (unless told to ignore it)."""

    def __init__(self, data=b'', head=None, get=None, honour_range=True):
        self.data, self.head_answer, self.get_answer, self.honour_range = data, head, get, honour_range
        self.calls = []

    def head(self, uri, headers=None, timeout=None, verify=None):
        self.calls.append(('HEAD', uri, dict(headers or {}), verify))
        if isinstance(self.head_answer, Exception):
            raise self.head_answer
        return self.head_answer or FakeResponse(200, b'', {'Content-Length': str(len(self.data))})

    def get(self, uri, headers=None, timeout=None, verify=None):
        self.calls.append(('GET', uri, dict(headers or {}), verify))
        if self.get_answer is not None:
            if isinstance(self.get_answer, Exception):
                raise self.get_answer
            return self.get_answer
        rng = (headers or {}).get('x-ms-range')
        if rng and self.honour_range:
            start, end = (int(x) for x in rng.split('=')[1].split('-'))
            part = self.data[start : end + 1]
            return FakeResponse(206, part, {'Content-Range': 'bytes %d-%d/%d' % (start, end, len(self.data))})
        return FakeResponse(200, self.data)


def no_sas(log):
    text = repr(log)
    assert 'SECRETSIGNATURE' not in text and SIG not in text


def test_the_action_and_its_query():
    client = FakeClient()
    uris = bd.retrieve_uris(client, VM, expiry_minutes=10)
    assert uris == {'serial_log_uri': LOG_URI, 'screenshot_uri': SHOT_URI}
    method, path, params, version, body, rid = client.calls[0]
    assert method == 'POST' and path == VM.path + '/retrieveBootDiagnosticsData' and body is None
    assert params == {'sasUriExpirationTimeInMinutes': 10} and version == API_VERSION and rid == VM.id
    bd.retrieve_uris(client, VM, expiry_minutes=0)
    bd.retrieve_uris(client, VM, expiry_minutes=100000)
    assert [c[2]['sasUriExpirationTimeInMinutes'] for c in client.calls[1:]] == [1, 1440]  # the spec's 1 to 1440
    bd.retrieve_uris(client, INST)
    assert client.calls[-1][1].endswith('/virtualMachineScaleSets/ss/virtualMachines/2/retrieveBootDiagnosticsData')
    assert bd.retrieve_uris(FakeClient(answer={}), VM) == {'serial_log_uri': None, 'screenshot_uri': None}


def test_settings_from_the_model():
    assert bd.settings(model()) == {'enabled': True, 'storage': 'managed', 'storage_uri': None}
    custom = bd.settings(model(storage_uri='https://diag.blob.core.windows.net/'))
    assert custom == {'enabled': True, 'storage': 'custom', 'storage_uri': 'https://diag.blob.core.windows.net/'}
    assert bd.settings(model(boot=False))['enabled'] is False and bd.settings(None)['enabled'] is False
    assert bd.settings(model(enabled='true'))['enabled'] is False  # only a JSON true is on


@pytest.mark.parametrize('vm', [model(enabled=False), model(boot=False)], ids=['disabled', 'no-profile'])
def test_boot_diagnostics_off_is_said_before_any_action(vm):
    client = FakeClient(vm=vm)
    got = bd.read_serial_log(client, VM, session=FakeSession(b'x'))
    assert got.reason_code == 'boot_diagnostics_off' and got.text is None and got.storage == 'managed'
    assert 'az vm boot-diagnostics enable' in got.reason and 'restart the VM' in got.reason
    assert [c[0] for c in client.calls] == ['GET']  # the model only: no POST


def test_the_callers_model_saves_the_get():
    client = FakeClient()
    session = FakeSession(b'[    0.000000] Linux version 5.15.0\nweb-01 login: \n')
    got = bd.read_serial_log(client, VM, model=model(), session=session)
    assert got.reason_code is None and [c[0] for c in client.calls] == ['POST']


def test_the_vm_not_found():
    err = ArmError('The Resource vm1 was not found.', status=404, code='ResourceNotFound', resource_id=VM.id)
    got = bd.read_serial_log(FakeClient(get_error=err), VM)
    assert got.reason_code == 'not_found' and 'ResourceNotFound (HTTP 404)' in got.reason


@pytest.mark.parametrize(
    'err, code, words',
    [
        (ArmError('Boot diagnostics are not enabled.', status=409, code='Conflict'), 'boot_diagnostics_off', 'enable'),
        (ArmError('Operation not allowed.', status=409, code='OperationNotAllowed'), 'boot_diagnostics_off', 'enable'),
        (
            ArmError(
                "Operation 'retrieveBootDiagnosticsData' is not allowed on VM 'vm1' since another operation is in "
                'progress.',
                status=409,
                code='OperationNotAllowed',
            ),
            'conflict',
            'another operation is in progress',
        ),
        (ArmError('Conflict.', status=409, code='Conflict'), 'conflict', 'Conflict (HTTP 409)'),
        (
            ArmError(
                "The client 'x' does not have authorization to perform action '%s' over scope '/s'" % bd.ACTION,
                status=403,
                code='AuthorizationFailed',
            ),
            'rbac_missing',
            bd.ACTION,
        ),
        (ArmError('Forbidden', status=403, code='Forbidden'), 'forbidden', bd.ACTION),
        (ArmError('not found', status=404, code='NotFound'), 'not_found', 'NotFound (HTTP 404)'),
        (
            ArmError(
                "The scope '/s' cannot perform write operation because following scope(s) are locked: '/s/rg'. "
                'Please remove the lock and try again.',
                status=409,
                code='ScopeLocked',
            ),
            'scope_locked',
            'Locked scope',
        ),
        (ArmError('Too many requests', status=429, code='TooManyRequests'), 'throttled', 'TooManyRequests'),
    ],
)
def test_arm_refusals_of_the_action(err, code, words):
    got = bd.read_serial_log(FakeClient(answer=err), VM, session=FakeSession(b'x'))
    assert got.reason_code == code and words in got.reason and got.text is None


def test_the_tail_of_a_large_log():
    lines = [b'[ %5d.000000] line %d' % (i, i) for i in range(2000)]
    data = b'\n'.join(lines) + b'\n[ 9999.000000] Kernel panic - not syncing: Attempted to kill init!\n'
    session = FakeSession(data)
    got = bd.read_serial_log(FakeClient(), VM, max_bytes=1000, session=session)
    assert got.reason_code is None and got.size == len(data) and got.truncated is True and got.storage == 'managed'
    head, get = session.calls
    assert head == ('HEAD', LOG_URI, {'x-ms-version': _blob.STORAGE_VERSION}, '/etc/ssl/ca.pem')
    assert get[0] == 'GET' and get[2] == {
        'x-ms-version': _blob.STORAGE_VERSION,
        'x-ms-range': 'bytes=%d-%d' % (len(data) - 1000, len(data) - 1),
    }
    assert get[3] == '/etc/ssl/ca.pem'  # TLS verification is the client's
    assert len(got.text.encode()) < 1000 and got.text.startswith('[ ')  # the partial first line dropped
    assert got.text.endswith('Attempted to kill init!\n')
    assert classify(got.text)['class'] == 'boot_kernel_panic'


def test_a_small_log_is_read_whole():
    data = b'[    0.000000] Linux version 5.15.0-1057-azure (x)\nweb-01 login: \n'
    session = FakeSession(data)
    got = bd.read_serial_log(FakeClient(), VM, session=session)
    assert (got.text, got.size, got.truncated) == (data.decode(), len(data), False)
    assert session.calls[1][2]['x-ms-range'] == 'bytes=0-%d' % (len(data) - 1)
    assert classify(got.text)['class'] == 'boot_ok'


def test_an_empty_log_sends_no_get():
    session = FakeSession(b'')
    got = bd.read_serial_log(FakeClient(), VM, session=session)
    assert (got.text, got.size, got.reason_code) == ('', 0, None) and [c[0] for c in session.calls] == ['HEAD']
    assert classify(got.text)['class'] == 'boot_unknown'


def test_nul_padding_and_a_service_that_ignores_the_range():
    data = b'first\nsecond line\n' + b'\x00' * 50
    got = bd.read_serial_log(FakeClient(), VM, max_bytes=20, session=FakeSession(data, honour_range=False))
    assert got.text == '' and got.truncated is True and got.size == len(data)  # 20 bytes of NULs, no full line
    got = bd.read_serial_log(FakeClient(), VM, max_bytes=1000, session=FakeSession(data, honour_range=False))
    assert got.text == 'first\nsecond line\n' and got.truncated is False


def test_no_log_uri_from_azure():
    got = bd.read_serial_log(FakeClient(answer={'consoleScreenshotBlobUri': SHOT_URI}), VM, session=FakeSession(b'x'))
    assert got.reason_code == 'boot_log_unreadable' and 'restart' in got.reason


@pytest.mark.parametrize(
    'session, storage, words',
    [
        (FakeSession(head=FakeResponse(404, b'', {'x-ms-error-code': 'BlobNotFound'})), None, 'no serial log blob yet'),
        (
            FakeSession(head=FakeResponse(403, b'<Error/>', {'x-ms-error-code': 'AuthorizationFailure'})),
            'https://diag.blob.core.windows.net/',
            'firewall',
        ),
        (
            FakeSession(head=FakeResponse(403, b'', {'x-ms-error-code': 'AuthenticationFailed'})),
            None,
            'AuthenticationFailed (403)',
        ),
        (FakeSession(b'abc', get=FakeResponse(500)), None, 'HTTP 500 (500)'),
        (
            FakeSession(head=requests.ConnectionError('Max retries exceeded with url: ' + LOG_URI)),
            None,
            'ConnectionError',
        ),
        (FakeSession(b'abc', get=requests.ReadTimeout('Read timed out: ' + LOG_URI)), None, 'ReadTimeout'),
    ],
)
def test_storage_failures_name_the_blob_never_its_sas(session, storage, words):
    got = bd.read_serial_log(FakeClient(vm=model(storage_uri=storage)), VM, session=session)
    assert got.reason_code == 'boot_log_unreadable' and words in got.reason and got.text is None
    assert BLOB in got.reason or 'no serial log blob' in got.reason
    assert ('firewall' in got.reason) is (storage is not None)
    no_sas(got)


def test_a_uri_without_sas_is_not_read():
    session = FakeSession(b'x')
    tail = bd.read_tail(BLOB, 100, session=session)
    assert tail.text is None and 'has no SAS' in tail.error and session.calls == []
    got = bd.read_serial_log(FakeClient(answer={'serialConsoleLogBlobUri': BLOB}), VM, session=session)
    assert got.reason_code == 'boot_log_unreadable' and 'has no SAS' in got.reason


def test_verify_false_only_when_the_client_says_so():
    client = FakeClient()
    client.auth.verify = False
    session = FakeSession(b'x\n')
    bd.read_serial_log(client, VM, session=session)
    assert [c[3] for c in session.calls] == [False, False]
    client.auth = None
    session = FakeSession(b'x\n')
    bd.read_serial_log(client, VM, session=session)
    assert [c[3] for c in session.calls] == [True, True]


def test_a_uniform_instance_is_read_the_same_way():
    client = FakeClient()
    got = bd.read_serial_log(client, INST, session=FakeSession(b'Computer is booting, SAC started and initialized.\n'))
    assert got.reason_code is None and client.calls[0][1] == INST.path
    assert client.calls[1][1] == INST.path + '/retrieveBootDiagnosticsData'
