"""Azure Storage Get Blob of the run commands' output blobs (armsim/storage.py): a signed SAS reads, ranges answer
206 with the blob's size, and each refusal has Azure Storage's status and error code."""

import json

import pytest
import requests
from test_sim_run_command import body, finished, rc_path


@pytest.fixture
def fast(sim):
    sim.control.config(script_time_scale=0.01)
    return sim


def get(sim, uri, **headers):
    return requests.get(uri, headers=headers, timeout=10, verify=sim.ca_file)


def run_to_blob(sim, arm, name='big', script='echo first\n# armsim: output 10000\necho last'):
    uri = sim.control.blob_sas('out', name + '.txt')
    arm.wait(arm.put(rc_path(arm, name), body(script, outputBlobUri=uri)))
    finished(arm, rc_path(arm, name))
    return uri


def test_a_signed_sas_reads_the_whole_blob_and_a_range(fast, arm, sim):
    uri = run_to_blob(sim, arm)
    whole = get(sim, uri, **{'x-ms-version': '2021-08-06'})
    assert whole.status_code == 200 and whole.text.startswith('first\n') and whole.text.endswith('last\n')
    assert whole.headers['x-ms-blob-type'] == 'AppendBlob' and whole.headers['x-ms-version'] == '2021-08-06'
    part = get(sim, uri, **{'x-ms-range': 'bytes=0-99', 'Range': 'bytes=5-6'})  # x-ms-range wins
    size = len(whole.content)
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers['Content-Range'] == 'bytes 0-99/%d' % size
    tail = get(sim, uri, Range='bytes=%d-' % (size - 5))
    assert tail.status_code == 206 and tail.text == 'last\n'
    past = get(sim, uri, Range='bytes=%d-' % size)
    assert past.status_code == 416 and past.headers['x-ms-error-code'] == 'InvalidRange'
    assert 'sig=' not in json.dumps(sim.control.requests())


@pytest.mark.parametrize(
    'change, status, code',
    [
        (lambda u: u.replace('sig=', 'sig=x'), 403, 'AuthenticationFailed'),
        (lambda u: u.split('?')[0], 404, 'ResourceNotFound'),
    ],
)
def test_a_wrong_or_missing_sas_is_refused(fast, arm, sim, change, status, code):
    uri = run_to_blob(sim, arm)
    resp = get(sim, change(uri))
    assert (resp.status_code, resp.headers['x-ms-error-code']) == (status, code)
    assert resp.text.startswith('<?xml') and '<Code>%s</Code>' % code in resp.text


def test_expired_write_only_and_missing_blobs(fast, arm, sim):
    uri = run_to_blob(sim, arm)
    expired = sim.control.blob_sas('out', 'big.txt', expires_in=-60)
    assert get(sim, expired).headers['x-ms-error-code'] == 'AuthenticationFailed'
    write_only = sim.control.blob_sas('out', 'big.txt', permissions='acw')
    assert get(sim, write_only).headers['x-ms-error-code'] == 'AuthorizationPermissionMismatch'
    other = sim.control.blob_sas('out', 'never.txt')
    resp = get(sim, other)
    assert (resp.status_code, resp.headers['x-ms-error-code']) == (404, 'BlobNotFound')
    assert get(sim, uri).status_code == 200


def test_head_says_the_blob_size_without_a_body(fast, arm, sim):
    """Get Blob Properties (HEAD): Content-Length is the blob's size (RFC 9110 9.3.2; the boot log reader's first
    request), and no body follows."""
    uri = run_to_blob(sim, arm, name='sized')
    size = len(get(sim, uri).content)
    head = requests.head(uri, headers={'x-ms-version': '2021-08-06'}, timeout=10, verify=sim.ca_file)
    assert head.status_code == 200 and int(head.headers['Content-Length']) == size > 0
    assert head.content == b''
