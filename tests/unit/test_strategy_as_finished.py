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


class _Task:
    def __init__(self, uuid, meta=None, implicit=False, action='ansible.builtin.meta'):
        self._uuid, self._meta, self.implicit, self.action = uuid, meta, implicit, action

    def _get_meta(self):
        return self._meta


def test_role_complete_is_done_for_all_hosts_at_once_without_their_variables():
    """Issue 25: the implicit role_complete of an imported role goes to _execute_meta for every host (as the linear
    strategy does), but the linear loop never sees it, so it computes no host's variables for it."""
    strategy = _strategy()
    strategy._vmrescue_play_context = 'play context'
    done = []
    strategy._execute_meta = lambda task, ctx, iterator, host: done.append((host, task._uuid, ctx))
    end = _Task('end', 'role_complete', implicit=True)
    nxt = _Task('next', action='vmrescue.azure.batch_result')
    steps = [[('h0', end), ('h1', end)], [('h0', nxt), ('h1', nxt)]]
    from ansible.plugins.strategy.linear import StrategyModule as Linear

    original = Linear._get_next_task_lockstep
    Linear._get_next_task_lockstep = lambda self, hosts, iterator: steps.pop(0)
    try:
        strategy._finish_order_plan = lambda host_tasks, iterator: None
        assert strategy._get_next_task_lockstep(['h0', 'h1'], None) == [('h0', nxt), ('h1', nxt)]
    finally:
        Linear._get_next_task_lockstep = original
    assert done == [('h0', 'end', 'play context'), ('h1', 'end', 'play context')]


def test_other_meta_steps_and_mixed_steps_are_left_to_the_linear_strategy():
    strategy = _strategy()
    strategy._vmrescue_play_context = 'play context'
    end = _Task('end', 'role_complete', implicit=True)
    assert strategy._all_role_complete([('h0', end), ('h1', end)])
    assert not strategy._all_role_complete([('h0', end), ('h1', _Task('noop', 'noop', implicit=True))])
    assert not strategy._all_role_complete([('h0', _Task('x', 'role_complete', implicit=False))])
    assert not strategy._all_role_complete([('h0', _Task('f', 'flush_handlers', implicit=True))])
    strategy._vmrescue_play_context = None  # run() not called: nothing to pass to _execute_meta
    assert not strategy._all_role_complete([('h0', end)])


def test_waiting_for_results_backs_off_while_none_arrives(monkeypatch):
    """The main process polls for a running task's result with a back-off up to 20 ms, back to the configured
    interval when results arrive (the linear strategy sleeps internal_poll_interval, 1 ms, every time)."""
    from ansible_collections.vmrescue.azure.plugins.strategy import as_finished

    strategy = _strategy()
    strategy._tqm.has_dead_workers = lambda: False
    arrivals = [[]] * 12 + [['r1']] + [[]] * 3 + [['r2']]
    strategy._pending_results = 2

    def process(iterator):
        got = arrivals.pop(0)
        strategy._pending_results -= len(got)
        return got

    strategy._process_pending_results = process
    pauses = []
    monkeypatch.setattr(as_finished.time, 'sleep', pauses.append)
    monkeypatch.setattr(as_finished.C, 'DEFAULT_INTERNAL_POLL_INTERVAL', 0.001)
    assert strategy._wait_on_pending_results(None) == ['r1', 'r2']
    assert pauses[0] == 0.001 and max(pauses) == 0.02
    assert pauses[12] == 0.001  # right after r1 arrived
    assert all(b >= a for a, b in zip(pauses[:12], pauses[1:12]))
