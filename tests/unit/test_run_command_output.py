"""run_command's output handling: the VMRESCUE report lines a script prints (script_reports_change) and the blob
read (what it asks Azure Storage for, what it makes of each answer, and that no SAS reaches a message)."""

import pytest
import requests

from ansible_collections.vmrescue.azure.plugins.module_utils import _blob
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command import blobs
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.results import apply_report, parse_report


@pytest.mark.parametrize(
    'stdout, changed',
    [
        ('fixing\nVMRESCUE changed=true\n', True),
        ('VMRESCUE changed=false failed=none\n\n', False),
        ('VMRESCUE changed=true\nmore output after it\n', None),  # not the last line: no report
        ('VMRESCUE changed=maybe\n', None),
        ('vmrescue changed=false\n', None),  # the prefix is case-sensitive
        ('', None),
        ('VMRESCUE recipe=sshd changed=true\n', True),
    ],
)
def test_the_last_line_decides(stdout, changed):
    assert parse_report(stdout)[1] is changed


def test_every_report_line_is_parsed_in_order():
    out = (
        'sshd: kept a backup\nVMRESCUE recipe=sshd changed=false\nnoise = x\n'
        'VMRESCUE recipe=rdp changed=true port=3389 odd\nVMRESCUE changed=true failed=none\n'
    )
    entries, changed = parse_report(out)
    assert changed is True
    assert entries == [
        {'recipe': 'sshd', 'changed': False},
        {'recipe': 'rdp', 'changed': True, 'port': '3389'},
        {'changed': True, 'failed': 'none'},
    ]


def test_apply_report_sets_changed_and_prefers_the_whole_output():
    result = {'changed': True, 'stdout': 'VMRESCUE changed=false\n'}
    apply_report(result, 'vm1')
    assert result['changed'] is False and result['script_reports_change'] is True
    assert 'reports nothing to change' in result['msg']
    whole = 'VMRESCUE recipe=a changed=true\n' + 'x\n' * 3000 + 'VMRESCUE changed=true\n'
    result = {'changed': True, 'stdout': whole[-4096:], 'stdout_full': whole, 'stdout_size': len(whole)}
    apply_report(result, 'vm1')
    assert result['changed'] is True and result['script_report'][0] == {'recipe': 'a', 'changed': True}
    cut = {'changed': True, 'stdout': 'VMRESCUE changed=false\n', 'stdout_full': 'head\n', 'stdout_size': 9999}
    apply_report(cut, 'vm1')  # a capped blob lacks the last line: the tail decides
    assert cut['changed'] is False
    silent = {'changed': True, 'stdout': 'done\n'}
    apply_report(silent, 'vm1')
    assert silent['changed'] is True and silent['script_reports_change'] is False


class FakeResponse:
    def __init__(self, status, content=b'', headers=None):
        self.status_code, self.content, self.headers = status, content, headers or {}


class FakeSession:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def get(self, uri, headers=None, timeout=None, verify=None):
        self.calls.append((uri, headers, verify))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


URI = 'https://acct.blob.core.windows.net/c/out.txt?sv=2022-11-02&sr=b&sp=r&sig=SECRETSIG'


def test_one_ranged_get_with_the_storage_version():
    session = FakeSession(FakeResponse(206, b'hello', {'Content-Range': 'bytes 0-4/20'}))
    got = blobs.fetch(URI, 5, verify='/ca.pem', session=session)
    assert got == blobs.BlobText('hello', 20, True, None)
    uri, headers, verify = session.calls[0]
    assert uri == URI and verify == '/ca.pem'
    assert headers == {'x-ms-version': _blob.STORAGE_VERSION, 'x-ms-range': 'bytes=0-4'}


@pytest.mark.parametrize(
    'answer, expected',
    [
        (FakeResponse(206, b'all', {'Content-Range': 'bytes 0-2/3'}), ('all', 3, False)),
        (FakeResponse(200, b'whole'), ('whole', 5, False)),  # a service that ignores the range
        (FakeResponse(416, b'', {'x-ms-error-code': 'InvalidRange'}), ('', 0, False)),  # an empty blob
        (FakeResponse(206, 'é'.encode() * 3, {'Content-Range': 'bytes 0-5/6'}), ('éé', 6, True)),
    ],
)
def test_answers(answer, expected):
    got = blobs.fetch(URI, 5, session=FakeSession(answer))
    assert (got.text, got.size, got.truncated) == expected and got.error is None


@pytest.mark.parametrize(
    'answer, words',
    [
        (FakeResponse(403, b'<Error/>', {'x-ms-error-code': 'AuthenticationFailed'}), 'AuthenticationFailed (403)'),
        (FakeResponse(404, b'', {'x-ms-error-code': 'BlobNotFound'}), 'BlobNotFound (404)'),
        (FakeResponse(500), 'HTTP 500 (500)'),
        (requests.ConnectionError('HTTPSConnectionPool: Max retries exceeded with url: ' + URI), 'ConnectionError'),
    ],
)
def test_failures_name_the_blob_never_its_sas(answer, words):
    got = blobs.fetch(URI, 100, session=FakeSession(answer))
    assert got.text is None and words in got.error
    assert 'https://acct.blob.core.windows.net/c/out.txt' in got.error and 'SECRETSIG' not in got.error


def test_a_uri_without_sas_is_not_read():
    session = FakeSession(FakeResponse(200, b'x'))
    got = blobs.fetch('https://acct.blob.core.windows.net/c/out.txt', 100, session=session)
    assert got.text is None and 'has no SAS' in got.error and session.calls == []
