# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background batches: start a batch once, collect each host's result from its own task (private).

Why: Ansible pays about 10-16 ms of controller CPU per host for every per-host task (the strategy computes the
host's vars, forks a worker, processes the result), one host after the other. A batch task followed by a per-host
reporting task therefore costs ``batch time + N x 15 ms``: 15 s at 1000 hosts, on top of the throttling floor.
With ``background: true`` the batch task returns as soon as the batch has started, and each host's reporting task
(``vmrescue.azure.batch_result``) waits for its own target's result while the batch is still working: the
per-host cost overlaps with the time the batch spends waiting for Azure (paced writes, guest relatch), and each
host is reported as soon as its target is done.

How:

- ``start(run, total)`` (in the action plugin's worker process, after every argument was validated): makes a
  private spool directory (mode 0700) inside Ansible's per-run local temporary directory, which
  ``ansible-playbook`` removes when it exits, then forks. The child detaches its standard streams, takes an
  exclusive lock on ``<spool>/lock`` for its whole life (collectors use it to tell "still working" from "died"),
  and calls ``run(on_result)``; ``on_result(index, result)`` writes ``<spool>/<index>.json`` atomically
  (write + rename, mode 0600) and appends ``index`` to ``<spool>/finished`` (``FinishedLog`` reads it: the
  strategy ``vmrescue.azure.as_finished`` queues the hosts whose targets are done first). Then it writes
  ``<spool>/done`` and exits. A watcher thread ends the child as soon
  as the ``ansible-playbook`` process is gone (Ctrl-C, a cancelled AWX job): no orphan keeps calling Azure.
- ``collect(info, index, timeout, on_progress=None)`` (in each host's worker process): waits for
  ``<index>.json``; fails clearly if the batch process died without writing it, or after ``timeout`` seconds.
  While it waits, ``on_progress(line)`` gets a progress line (done / pending / failed of N) every
  ``PROGRESS_SECONDS``, from one waiting collector only (the first to create ``<spool>/tick-<n>`` for the period):
  the batch process keeps the counts in ``<spool>/progress`` as each target finishes. A waiting worker ends at
  once when the ``ansible-playbook`` process that started the batch is gone: ansible-core puts each worker in a
  session of its own, so a cancelled AWX job (a signal to ``ansible-playbook`` or its process group) does not
  reach them, and without this check they would wait for results nobody reads.

Nothing secret is written: the results are the module results, with the task's ``no_log`` values masked by the
caller before ``on_result`` is called.

Public names (kept stable): ``start``, ``collect``, ``watch_controller(pid)``, ``BackgroundError``, ``INFO_KEYS``, ``PROGRESS_SECONDS``,
``progress_line(info)``, ``FinishedLog(info)`` (``.poll_new() -> [index]`` finished since the last call, in
finishing order; ``.poll() -> set`` of all so far; read incrementally).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError

INFO_KEYS = ('spool', 'total', 'pid', 'controller_pid', 'started')
FINISHED = 'finished'  # the indexes of the targets done so far, one per line, in the order they finished
_POLL_SECONDS = 0.05
PROGRESS_SECONDS = 15


class BackgroundError(VmrescueError):
    """The background batch could not be started or its results read (a collection error: _errors)."""

    reason_code = 'internal_error'


def _local_tmp():
    try:
        from ansible import constants as C

        path = C.DEFAULT_LOCAL_TMP  # the per-run directory ansible-playbook removes at exit (0700)
    except Exception:  # pylint: disable=broad-except
        path = None
    if not path or not os.path.isdir(path):
        path = tempfile.gettempdir()
    return path


def _write_json(spool, name, data):
    tmp = os.path.join(spool, '.%s.tmp' % name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as fh:
        json.dump(data, fh, separators=(',', ':'), default=str)
    os.replace(tmp, os.path.join(spool, name))


def watch_controller(controller_pid):
    """End this process (a background batch, or the worker of a foreground batch task) when the ansible-playbook
    process is gone. ansible-core starts each worker in a session of its own, so a SIGKILL of ansible-playbook's
    process group (an AWX node's container ended, the OOM killer, ``kill -9 -PGID``) does not reach the worker, and a
    batch would otherwise go on calling Azure for a run nobody reads. Run it in a daemon thread."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(controller_pid, 0)
        except ProcessLookupError:
            os._exit(3)
        except PermissionError:
            pass


def _detach_stdio():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


def start(run, total):
    """Fork a process that calls ``run(on_result)``; return the info dict the collectors need."""
    spool = tempfile.mkdtemp(prefix='vmrescue-batch-', dir=_local_tmp())  # mkdtemp: mode 0700
    controller_pid = os.getppid()  # the worker's parent: the ansible-playbook / ansible process
    lock_path = os.path.join(spool, 'lock')
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the background process
        code = 0
        try:
            os.close(ready_r)
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C ends ansible-playbook; the watcher ends us
            lock_fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            os.write(ready_w, b'1')
            os.close(ready_w)
            _detach_stdio()
            threading.Thread(target=watch_controller, args=(controller_pid,), daemon=True).start()

            counts = dict(done=0, failed=0, total=int(total))
            counts_lock = threading.Lock()

            finished_fd = os.open(os.path.join(spool, FINISHED), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

            def on_result(index, result):
                _write_json(spool, '%d.json' % index, result)
                with counts_lock:
                    counts['done'] += 1
                    counts['failed'] += 1 if result.get('failed') else 0
                    _write_json(spool, 'progress', counts)
                    os.write(finished_fd, b'%d\n' % index)  # after the result file: a listed index is readable

            try:
                summary = run(on_result)
                done = dict(failed=bool(summary.get('failed')), msg=summary.get('msg', ''))
            except Exception as exc:  # pylint: disable=broad-except
                done = dict(
                    failed=True, msg='internal error in the background batch: %s: %s' % (exc.__class__.__name__, exc)
                )
                code = 1
            _write_json(spool, 'done', done)
        except BaseException:  # pylint: disable=broad-except
            code = 2
        finally:
            os._exit(code)  # never return into Ansible's worker code
    os.close(ready_w)
    try:
        ok = os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    if ok != b'1':
        raise BackgroundError('the background batch process did not start')
    return dict(spool=spool, total=int(total), pid=pid, controller_pid=controller_pid, started=time.time())


def _alive(spool):
    """True while the background process holds its lock."""
    try:
        fd = os.open(os.path.join(spool, 'lock'), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def _controller_gone(controller_pid):
    """True when this worker's parent is no longer the ansible-playbook process that started the batch."""
    return bool(controller_pid) and os.getppid() != controller_pid


def progress_line(info):
    """'vmrescue.azure batch: D done (F failed), P pending of N, after S s' from the batch's progress file."""
    total = int(info.get('total') or 0)
    try:
        counts = _read(os.path.join(info['spool'], 'progress'))
    except (OSError, ValueError, KeyError):
        counts = {}
    done, failed = int(counts.get('done') or 0), int(counts.get('failed') or 0)
    return 'vmrescue.azure batch: %d done (%d failed), %d pending of %d, after %ds' % (
        done,
        failed,
        total - done,
        total,
        max(0, time.time() - float(info.get('started') or time.time())),
    )


def _claim_tick(spool, started):
    """True for exactly one caller per PROGRESS_SECONDS period of the batch (the first to create its tick file)."""
    period = int(max(0, time.time() - started) // PROGRESS_SECONDS)
    if period < 1:
        return False
    try:
        os.close(os.open(os.path.join(spool, 'tick-%d' % period), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    return True


def collect(info, index, timeout=None, clock=time.monotonic, sleep=time.sleep, on_progress=None, exit_=os._exit):
    """The result of target ``index`` of the background batch ``info``: waits for it. Raises BackgroundError.

    ``on_progress(line)``: called with ``progress_line(info)`` about every PROGRESS_SECONDS while this collector
    waits, by one collector of the batch at a time. Called in a host's worker process (a child of
    ansible-playbook): when ansible-playbook is gone while it waits (cancelled, killed), the worker ends itself with
    ``exit_(3)`` instead of waiting on.
    """
    spool = info.get('spool') if isinstance(info, dict) else None
    if not spool or not isinstance(spool, str):
        raise BackgroundError('not a background batch (expected the registered result of a task with background: true)')
    total = int(info.get('total') or 0)
    if not 0 <= index < total:
        raise BackgroundError('index %d is outside the batch (0 to %d)' % (index, total - 1))
    if not os.path.isdir(spool):
        raise BackgroundError(
            'the spool directory of the background batch is gone (%s): results are only kept '
            'while the ansible-playbook run that started it is running' % spool
        )
    path = os.path.join(spool, '%d.json' % index)
    deadline = None if not timeout else clock() + float(timeout)
    controller_pid = info.get('controller_pid')
    next_check = clock()
    while True:
        if clock() >= next_check:
            if _controller_gone(controller_pid):
                exit_(3)
            next_check = clock() + 0.5
        if os.path.exists(path):
            return _read(path)
        done = os.path.join(spool, 'done')
        if not _alive(spool) or os.path.exists(done):
            if os.path.exists(path):  # written just before the process ended
                return _read(path)
            reason = ''
            if os.path.exists(done):
                try:
                    reason = ': ' + str(_read(done).get('msg') or '')
                except (OSError, ValueError):
                    pass
            raise BackgroundError('the background batch ended without a result for target %d%s' % (index, reason))
        if deadline is not None and clock() > deadline:
            raise BackgroundError('no result for target %d after %s seconds (timeout)' % (index, timeout))
        if on_progress is not None and _claim_tick(spool, float(info.get('started') or time.time())):
            on_progress(progress_line(info))
        sleep(_POLL_SECONDS)


class FinishedLog:
    """The indexes of a background batch's targets that are done, read incrementally from ``<spool>/finished``."""

    def __init__(self, info):
        self.path = os.path.join(info['spool'], FINISHED)
        self.offset = 0
        self.done = set()
        self._partial = b''

    def poll_new(self):
        """The indexes finished since the last call, in the order they finished."""
        try:
            with open(self.path, 'rb') as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        self.offset += len(data)
        lines = (self._partial + data).split(b'\n')
        self._partial = lines.pop()
        new = [int(line) for line in lines if line.strip().isdigit() and int(line) not in self.done]
        self.done.update(new)
        return new

    def poll(self):
        """Every index finished so far (a set)."""
        self.poll_new()
        return self.done
