"""Every changelog fragment is one antsibull-changelog can read: known sections, lists of strings."""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / 'changelogs' / 'config.yaml').read_text())
SECTIONS = {name for name, _title in CONFIG['sections']} | {
    CONFIG['prelude_section_name'],
    CONFIG['trivial_section_name'],
}
FRAGMENTS = sorted((ROOT / 'changelogs' / 'fragments').glob('*.y*ml'))


def test_there_are_fragments():
    assert FRAGMENTS


@pytest.mark.parametrize('path', FRAGMENTS, ids=lambda p: p.name)
def test_fragment_is_valid(path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and data, '%s: empty fragment' % path.name
    for section, entries in data.items():
        assert section in SECTIONS, '%s: unknown section %r (one of %s)' % (path.name, section, sorted(SECTIONS))
        if section == CONFIG['prelude_section_name']:
            assert isinstance(entries, str)
            continue
        assert isinstance(entries, list) and entries, '%s: %s must be a non-empty list' % (path.name, section)
        assert all(isinstance(e, str) and e.strip() for e in entries), '%s: %s entries must be strings' % (
            path.name,
            section,
        )


# Wording that tells the history of the work between releases rather than what a user gets.
ITERATION_HISTORY = [
    r'went from',
    r'\b\d+(\.\d+)? ?s (before|to \d)',
    r'measured with make bench',
    r'\bbench harness\b',
    r'\bin progress\b',
]


@pytest.mark.parametrize('path', FRAGMENTS, ids=lambda p: p.name)
def test_fragment_describes_what_users_get(path):
    data = yaml.safe_load(path.read_text())
    for section, entries in data.items():
        if section == CONFIG['trivial_section_name']:
            continue
        for entry in [entries] if isinstance(entries, str) else entries:
            text = ' '.join(entry.split())
            for pattern in ITERATION_HISTORY:
                assert not __import__('re').search(pattern, text), '%s: %r reads like development history: %s' % (
                    path.name,
                    pattern,
                    text[:200],
                )
