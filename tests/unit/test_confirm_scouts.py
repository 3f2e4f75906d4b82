"""_confirm: a scout that ends unconfirmed (its VM was deallocated mid-flow) hands its place to a waiting target."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _confirm as c


class Stopped(Exception):
    pass


def test_a_failed_scout_hands_its_place_on():
    timing = c.ConfirmTiming()
    assert timing.scout() and timing.scout() and not timing.scout()
    timing.release_scout()
    assert timing.scout() and not timing.scout()


def test_targets_read_once_the_scouts_failed_not_after_learn_wait_max():
    now = [0.0]
    timing = c.ConfirmTiming(initial=1.0)

    def stopped():
        raise Stopped('the VM stopped while waiting')

    scouts = [c.wait_steps(stopped, 100, timing=timing, clock=lambda: now[0]) for _ in range(c.SCOUTS)]
    waiter = c.wait_steps(lambda: (True, 'latched'), 100, timing=timing, clock=lambda: now[0])
    for steps in scouts:
        next(steps)
    wait = next(waiter)  # waits for what the scouts learn, at most LEARN_CHECK, woken by the batch's timing
    assert wait == c.LEARN_CHECK and wait.signal is timing.changed
    now[0] += 1.0
    for steps in scouts:
        with pytest.raises(Stopped):
            steps.send(None)
    assert timing.changed.version != wait.version  # a scout's place was given back: the wait is over at once
    delay = waiter.send(None)  # took a scout's place: reads now rather than after LEARN_WAIT_MAX
    assert delay <= c.LEARN_CHECK
    now[0] += delay
    with pytest.raises(StopIteration) as done:
        waiter.send(None)
    assert done.value.value == (True, 'latched')
    assert now[0] < 10 < c.LEARN_WAIT_MAX
