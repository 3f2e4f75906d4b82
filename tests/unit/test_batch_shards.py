"""module_utils/_shards: a batch's subscriptions split over forked processes, whole; results streamed back to the
parent; a share whose process dies leaves its targets to the caller; a share ends when its parent is gone."""

import os
import signal
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _shards


def _lane(item):
    return item[0]


def test_split_keeps_each_lane_whole_balances_and_keeps_order():
    items = [('a', 1), ('b', 2), ('a', 3), ('c', 4), ('a', 5), ('b', 6), ('d', 7)]
    shares = _shards.split(items, _lane, 2)
    assert len(shares) == 2
    for share in shares:
        assert share == sorted(share, key=items.index)  # the batch's order within a share
    lanes = [set(_lane(i) for i in share) for share in shares]
    assert not lanes[0] & lanes[1]  # a subscription is in one share only
    assert sorted(len(s) for s in shares) == [3, 4]  # 'a' (3) alone, the others together
    assert sorted(i for share in shares for i in share) == sorted(items)


def test_split_never_makes_more_shares_than_lanes():
    items = [('a', n) for n in range(5)]
    assert _shards.split(items, _lane, 8) == [items]
    assert _shards.split([], _lane, 4) == []


def test_share_count_is_at_least_one_and_at_most_the_cap():
    assert 1 <= _shards.share_count() <= _shards.MAX_SHARES


def test_results_stream_to_the_parent_and_each_share_ends_with_its_value():
    seen = []

    def work(share, send):
        for index, item in share:
            send(index, {'item': item, 'pid': os.getpid()})
        return {'pid': os.getpid(), 'count': len(share)}

    shares = [[(0, 'x'), (2, 'z')], [(1, 'y')]]
    ends = _shards.run_shares(shares, work, lambda index, res: seen.append((index, res)))
    assert sorted((i, r['item']) for i, r in seen) == [(0, 'x'), (1, 'y'), (2, 'z')]
    assert [e['count'] for e in ends] == [2, 1]
    pids = set(e['pid'] for e in ends)
    assert len(pids) == 2 and os.getpid() not in pids  # each share in a process of its own
    by_item = dict((r['item'], r['pid']) for _, r in seen)
    assert by_item['x'] == by_item['z'] == ends[0]['pid'] and by_item['y'] == ends[1]['pid']


def test_a_share_whose_process_dies_or_raises_leaves_its_end_empty():
    seen = []

    def work(share, send):
        if share[0] == 'dies':
            os._exit(9)
        if share[0] == 'raises':
            raise RuntimeError('boom')
        send(0, {'ok': True})
        return 'done'

    ends = _shards.run_shares([['dies'], ['raises'], ['fine']], work, lambda i, r: seen.append(i))
    assert ends == [None, None, 'done'] and seen == [0]


def test_a_share_ends_when_the_process_that_forked_it_is_gone(tmp_path):
    pid_file = tmp_path / 'share.pid'
    middle = os.fork()
    if middle == 0:  # the batch's process: one share that would run for a minute
        try:

            def work(share, send):
                pid_file.write_text(str(os.getpid()))
                time.sleep(60)

            _shards.run_shares([['only']], work, lambda i, r: None)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pid_file.exists():
        time.sleep(0.02)
    share_pid = int(pid_file.read_text())
    os.kill(middle, signal.SIGKILL)  # the batch cancelled: its process gone at once
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(share_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(share_pid, signal.SIGKILL)
        raise AssertionError('the share went on after its parent was gone')
