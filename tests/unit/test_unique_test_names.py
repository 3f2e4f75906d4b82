"""pytest runs tests/unit, tests/sim, tests/integration, ... in one session (make test) with the default import mode:
two test files with the same name in different directories break the collection of the whole run."""

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]


def test_every_test_file_name_is_unique_across_the_tiers():
    seen = collections.defaultdict(list)
    for path in TESTS.rglob('test_*.py'):
        seen[path.name].append(str(path.relative_to(TESTS)))
    assert not [paths for paths in seen.values() if len(paths) > 1]
