"""plugin_utils/_background: a batch started in a forked process, each target's result collected on its own."""

import os
import signal
import stat
import time

import pytest

from ansible_collections.vmrescue.azure.plugins.plugin_utils import _background as bg


@pytest.fixture(autouse=True)
def _local_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(bg, '_local_tmp', lambda: str(tmp_path))


def _wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        time.sleep(0.02)
    raise AssertionError('background process %d still running' % pid)


def test_results_stream_in_any_order_and_the_spool_is_private():
    def run(on_result):
        on_result(2, {'id': 'c', 'changed': True})
        time.sleep(0.3)
        on_result(0, {'id': 'a', 'changed': False})
        on_result(1, {'id': 'b', 'failed': True, 'msg': 'broken'})
        return {'msg': '3 target(s)'}

    info = bg.start(run, 3)
    assert sorted(info) == sorted(bg.INFO_KEYS) and info['total'] == 3
    assert stat.S_IMODE(os.stat(info['spool']).st_mode) == 0o700
    t0 = time.monotonic()
    assert bg.collect(info, 2)['id'] == 'c'
    assert bg.collect(info, 0) == {'id': 'a', 'changed': False}
    assert time.monotonic() - t0 >= 0.25  # target 0 was waited for, not missing
    assert bg.collect(info, 1)['msg'] == 'broken'
    _wait_gone(info['pid'])
    assert bg.collect(info, 1)['msg'] == 'broken'  # still there after the process ended
    assert stat.S_IMODE(os.stat(os.path.join(info['spool'], '0.json')).st_mode) == 0o600


def test_a_target_without_result_fails_clearly_when_the_batch_ends():
    info = bg.start(lambda on_result: on_result(0, {'id': 'a'}) or {'msg': 'stopped early'}, 2)
    with pytest.raises(bg.BackgroundError, match='ended without a result for target 1: stopped early'):
        bg.collect(info, 1)
    _wait_gone(info['pid'])


def test_a_killed_batch_is_noticed_not_waited_for_forever():
    info = bg.start(lambda on_result: time.sleep(60), 1)
    os.kill(info['pid'], signal.SIGKILL)
    _wait_gone(info['pid'])
    with pytest.raises(bg.BackgroundError, match='ended without a result for target 0'):
        bg.collect(info, 0)


def test_an_exception_in_the_batch_is_reported_to_every_waiting_host():
    def run(on_result):
        raise RuntimeError('bug')

    info = bg.start(run, 1)
    with pytest.raises(bg.BackgroundError, match='internal error in the background batch: RuntimeError: bug'):
        bg.collect(info, 0)
    _wait_gone(info['pid'])


def test_timeout_and_bad_input():
    info = bg.start(lambda on_result: time.sleep(5), 1)
    with pytest.raises(bg.BackgroundError, match=r'no result for target 0 after 0.2 seconds \(timeout\)'):
        bg.collect(info, 0, timeout=0.2)
    with pytest.raises(bg.BackgroundError, match='index 1 is outside the batch'):
        bg.collect(info, 1)
    with pytest.raises(bg.BackgroundError, match='not a background batch'):
        bg.collect({}, 0)
    os.kill(info['pid'], signal.SIGKILL)
    _wait_gone(info['pid'])


def _subreaper(on):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0


@pytest.fixture
def subreaper():
    if not _subreaper(True):
        pytest.skip('prctl(PR_SET_CHILD_SUBREAPER) not available')
    yield
    _subreaper(False)


def test_the_batch_process_ends_when_the_controller_is_gone(subreaper):
    """Ctrl-C or a cancelled AWX job ends ansible-playbook: the background batch must not go on calling Azure.

    test -> controller (stands in for ansible-playbook) -> worker (calls start) -> background process. The
    background process watches the worker's parent; once worker and controller are gone it must end by itself
    (this test is its subreaper, so it can reap it)."""
    r, w = os.pipe()
    controller = os.fork()
    if controller == 0:
        try:
            worker = os.fork()
            if worker == 0:
                try:
                    info = bg.start(lambda on_result: time.sleep(60), 1)
                    os.write(w, str(info['pid']).encode())
                finally:
                    os._exit(0)
            os.waitpid(worker, 0)
        finally:
            os._exit(0)
    os.close(w)
    pid = int(os.read(r, 32) or b'0')
    os.close(r)
    os.waitpid(controller, 0)
    assert pid > 0
    t0 = time.monotonic()
    _wait_gone(pid, timeout=10)  # reparented to this test (subreaper)
    assert time.monotonic() - t0 < 5


def test_a_waiting_host_worker_ends_when_the_controller_is_gone(subreaper):
    """A cancelled AWX job kills ansible-playbook; its host workers (each in a session of their own, so a
    process-group signal misses them) wait in collect() for a result: they must end by themselves, not wait on.

    test -> controller (stands in for ansible-playbook) -> worker that collects a result the batch never writes."""
    r, w = os.pipe()
    controller = os.fork()
    if controller == 0:
        try:
            # the batch belongs to this controller: started here, so its controller_pid is this process
            info = dict(bg.start(lambda on_result: time.sleep(60), 1), controller_pid=os.getpid())
            worker = os.fork()
            if worker == 0:
                try:
                    os.write(w, ('%d %d' % (os.getpid(), info['pid'])).encode())
                    bg.collect(info, 0)
                finally:
                    os._exit(0)
            time.sleep(0.3)
        finally:
            os._exit(0)  # the controller dies while its worker waits
    os.close(w)
    worker_pid, batch_pid = (int(x) for x in os.read(r, 64).split())
    os.close(r)
    os.waitpid(controller, 0)
    t0 = time.monotonic()
    _wait_gone(worker_pid, timeout=10)  # reparented to this test (subreaper)
    assert time.monotonic() - t0 < 5
    os.kill(batch_pid, signal.SIGKILL)
    _wait_gone(batch_pid)


def test_collect_ends_the_worker_when_its_parent_changed(tmp_path):
    info = bg.start(lambda on_result: time.sleep(60), 1)
    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    with pytest.raises(SystemExit):
        bg.collect(dict(info, controller_pid=os.getppid() + 999999), 0, exit_=fake_exit)
    assert exits == [3]
    os.kill(info['pid'], signal.SIGKILL)
    _wait_gone(info['pid'])


def test_progress_line_every_period_from_one_waiting_collector(monkeypatch):
    """Issue 11: a long run says how far it is (done / pending / failed of N) about every PROGRESS_SECONDS, once
    per period however many hosts wait."""
    monkeypatch.setattr(bg, 'PROGRESS_SECONDS', 0.3)

    def run(on_result):
        on_result(0, {'id': 'a', 'changed': True})
        on_result(1, {'id': 'b', 'failed': True, 'msg': 'broken'})
        time.sleep(1.0)
        on_result(2, {'id': 'c'})
        return {'msg': 'done'}

    info = bg.start(run, 3)
    lines = []
    started = time.monotonic()
    assert bg.collect(info, 2, on_progress=lines.append)['id'] == 'c'
    waited = time.monotonic() - started
    assert lines and all(
        line.startswith('vmrescue.azure batch: 2 done (1 failed), 1 pending of 3, after ') for line in lines
    ), lines
    # one per period, not one per poll: the bound follows how long the wait really took (a loaded machine
    # stretches the batch's 1 s sleep; CI saw 5 lines then)
    assert len(lines) <= waited / 0.3 + 1, (lines, waited)
    again = []
    bg.collect(info, 0, on_progress=again.append)  # a result already there: no waiting, no line
    assert again == []
    _wait_gone(info['pid'])
    assert bg.progress_line(info).startswith('vmrescue.azure batch: 3 done (1 failed), 0 pending of 3')


def test_finished_log_reads_the_indexes_incrementally_in_finishing_order(tmp_path):
    from ansible_collections.vmrescue.azure.plugins.plugin_utils._background import FINISHED, FinishedLog

    log = FinishedLog({'spool': str(tmp_path)})
    assert log.poll_new() == [] and log.poll() == set()  # nothing finished yet (no file)
    path = tmp_path / FINISHED
    path.write_bytes(b'5\n2\n1')  # the last line is still being written
    assert log.poll_new() == [5, 2]
    with open(path, 'ab') as fh:
        fh.write(b'0\n3\n')
    assert log.poll_new() == [10, 3]
    assert log.poll() == {5, 2, 10, 3}
