"""The vendored Microsoft.Compute definitions (tests/specs/compute) are the upstream files, unedited: every file
there is listed in its SHA256SUMS (the README, our own text, excepted), every listed file exists, and each checksum
matches. An edit to a vendored file, or a file added without its checksum, fails here."""

import hashlib
import os

import pytest

SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'specs', 'compute')
NOT_LISTED = {'SHA256SUMS', 'README.md'}


def _listed():
    with open(os.path.join(SPECS, 'SHA256SUMS'), encoding='utf-8') as fh:
        rows = [line.split('  ', 1) for line in fh.read().splitlines() if line.strip()]
    return {name: digest for digest, name in rows}


def _present():
    found = set()
    for root, _dirs, files in os.walk(SPECS):
        for name in files:
            found.add(os.path.relpath(os.path.join(root, name), SPECS).replace(os.sep, '/'))
    return found - NOT_LISTED


def test_every_vendored_file_is_listed_and_every_listed_file_is_there():
    assert sorted(_present()) == sorted(_listed())


@pytest.mark.parametrize('name', sorted(_listed()))
def test_vendored_file_matches_its_checksum(name):
    with open(os.path.join(SPECS, name), 'rb') as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    assert digest == _listed()[name], '%s was edited: vendored files stay as upstream wrote them' % name


def test_the_licence_and_the_schemas_are_vendored():
    names = _listed()
    assert 'LICENSE-MIT-Microsoft.txt' in names
    assert any(n.endswith('/2024-11-01/virtualMachine.json') for n in names)
    assert any(n.endswith('/2024-11-01/virtualMachineScaleSet.json') for n in names)
