"""vmrescue.azure.as_finished: the order in which hosts are handed to Ansible's workers (issue 11)."""

from ansible_collections.vmrescue.azure.plugins.strategy.as_finished import StrategyModule


class _Tqm:
    _terminated = False


class _Log:
    """A FinishedLog whose targets finish in the order given, one batch of indexes per poll."""

    def __init__(self, batches):
        self.batches = list(batches)

    def poll_new(self):
        return self.batches.pop(0) if self.batches else []


def _strategy():
    strategy = StrategyModule.__new__(StrategyModule)  # no TaskQueueManager: only the ordering is under test
    strategy._tqm = _Tqm()
    strategy._workers = [None]  # a free worker slot
    return strategy


def test_a_free_worker_gets_a_finished_host_first_else_the_next_in_inventory_order():
    host_tasks = [('h%d' % i, 'task') for i in range(6)]
    index_to_pos = dict((i, i) for i in range(6))  # host i is target i
    # nothing done at first; then target 5 finishes; then 3 and 5 again (already given); then nothing new
    log = _Log([[], [5], [3], [], []])
    order = [host for host, _task in _strategy()._as_finished(host_tasks, log, index_to_pos)]
    assert order == ['h0', 'h5', 'h3', 'h1', 'h2', 'h4']


def test_every_host_is_given_once_even_when_indexes_are_unknown_or_repeated():
    host_tasks = [('h%d' % i, 'task') for i in range(4)]
    log = _Log([[9, 2, 2], [1], [0, 3]])  # 9: not a host of this task
    order = [host for host, _task in _strategy()._as_finished(host_tasks, log, {0: 0, 1: 1, 2: 2, 3: 3})]
    assert order == ['h2', 'h1', 'h0', 'h3']
    assert sorted(order) == ['h0', 'h1', 'h2', 'h3']
