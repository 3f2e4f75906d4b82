"""make test's lanes: the integration tier's files, on both ansible-core versions, dealt over N lanes by duration.

Each lane runs its share of the integration tier on the venv's ansible-core, then its share of the compat tier (the
same files on the oldest supported ansible-core, less the suites marked ``core_agnostic`` module-wide). The files
are dealt longest first to the lane with the least work so far (LPT), by the seconds each took in an earlier
``make test`` (tests/lane_durations.json, measured under make test's own load); a file not measured yet counts as
the median. Dealing by name put the slowest suites on one lane and left a 2.16 lane running alone for minutes.

    python3 tests/lanes.py files TIER LANE LANES    the files of lane LANE (1..LANES) of TIER (integration|compat)
    python3 tests/lanes.py show LANES               every lane's files and its estimated seconds
    python3 tests/lanes.py learn JUNIT_XML...       refresh the table from make test's JUnit files (.tmp/junit)

Standard library only: make runs it with the system Python before any virtualenv exists.
"""

import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, 'tests', 'lane_durations.json')
TIERS = ('integration', 'compat')
_AGNOSTIC = re.compile(r'^pytestmark\s*=.*core_agnostic', re.M)


def _files(tier):
    files = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'tests', 'integration', 'test_*.py')))
    if tier == 'compat':
        files = [f for f in files if not _AGNOSTIC.search(open(os.path.join(ROOT, f)).read())]
    return files


def _table():
    try:
        with open(TABLE) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def deal(lanes):
    """{(tier, lane): [files]} with every file of both tiers on exactly one lane."""
    table = _table()
    jobs = []
    for tier in TIERS:
        known = table.get(tier, {})
        measured = sorted(known.values()) or [60.0]
        median = measured[len(measured) // 2]
        jobs += [(known.get(f, median), tier, f) for f in _files(tier)]
    load = [0.0] * lanes
    out = dict(((tier, lane), []) for tier in TIERS for lane in range(1, lanes + 1))
    for seconds, tier, name in sorted(jobs, key=lambda j: (-j[0], j[1], j[2])):
        lane = load.index(min(load))
        load[lane] += seconds
        out[(tier, lane + 1)].append(name)
    return out, load


def learn(paths):
    """Seconds per file per tier from JUnit files named ``<lane>-<tier>.xml``; files not in them keep their entry."""
    table = _table()
    for path in paths:
        tier = os.path.basename(path).rsplit('.', 1)[0].rsplit('-', 1)[-1]
        if tier not in TIERS:
            continue
        seconds = {}
        for case in ET.parse(path).getroot().iter('testcase'):
            name = case.get('classname', '').split('.')
            if len(name) >= 3 and name[0] == 'tests' and name[1] == 'integration':
                key = 'tests/integration/%s.py' % name[2]
                seconds[key] = seconds.get(key, 0.0) + float(case.get('time') or 0)
        table.setdefault(tier, {}).update((k, round(v, 1)) for k, v in seconds.items())
    for tier in TIERS:
        current = set(_files(tier))
        table[tier] = dict(sorted((k, v) for k, v in table.get(tier, {}).items() if k in current))
    with open(TABLE, 'w') as handle:
        json.dump(table, handle, indent=1)
        handle.write('\n')


def main(argv):
    if argv[:1] == ['files'] and len(argv) == 4 and argv[1] in TIERS:
        out, _load = deal(int(argv[3]))
        print(' '.join(out[(argv[1], int(argv[2]))]))
    elif argv[:1] == ['show'] and len(argv) == 2:
        out, load = deal(int(argv[1]))
        for lane, seconds in enumerate(load, 1):
            print('lane %d: %.0f s' % (lane, seconds))
            for tier in TIERS:
                print('  %s: %s' % (tier, ' '.join(os.path.basename(f) for f in out[(tier, lane)])))
    elif argv[:1] == ['learn'] and len(argv) > 1:
        learn(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
