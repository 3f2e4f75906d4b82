"""Run one command and measure it: wall time, CPU seconds of its whole process tree, peak memory.

How each number is taken (Linux only):

- wall: ``time.monotonic()`` from ``Popen`` to the reaping of the command's process.
- CPU: user + system seconds from ``os.wait4()`` on the command's process. Linux accounts into it the process's
  own time plus every descendant it (or its descendants) reaped: ansible-playbook's forked workers, the module
  processes they run, ``xargs``' ``az`` processes. It is the same figure as the delta of
  ``getrusage(RUSAGE_CHILDREN)`` around one child, without other children (the simulator) in it.
  Descendants that outlive their parent (the collection's background batch process, forked by a worker that exits
  at once) would escape that count: while a command runs, this process is a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), so such orphans are re-parented to it; they are sampled with the tree, reaped with
  ``wait4()`` after the command ends (killed if still alive 15 s later) and their CPU is added.
- max RSS: ``ru_maxrss`` from the same ``wait4()``: the largest resident set any single process of the tree had.
- peak tree PSS / RSS: a sampler thread walks ``/proc`` every ``interval`` seconds, finds every descendant of the
  command, and sums their PSS (``/proc/PID/smaps_rollup``: shared pages split between the processes that share
  them, so forked workers are not counted twice) and their RSS; the peak of each sum is kept. Sampling can miss a
  process that lives less than ``interval``.

On timeout the command's whole process group (it runs in a session of its own) gets SIGTERM, then SIGKILL.
"""

import os
import signal
import subprocess
import threading
import time

PAGE = os.sysconf('SC_PAGE_SIZE')


def _children_map():
    kids = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat', 'rb') as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: the fields after the last ')' are safe
        fields = stat[stat.rfind(b')') + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants that exist now."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def _memory(pid):
    """(rss_bytes, pss_bytes) of one process, (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f'/proc/{pid}/statm', 'rb') as fh:
            rss = int(fh.read().split()[1]) * PAGE
        with open(f'/proc/{pid}/smaps_rollup', 'rb') as fh:
            for line in fh:
                if line.startswith(b'Pss:'):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


def cpu_seconds(pid):
    """user + system CPU seconds a running process (not its children) used so far; None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b')') + 2 :].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return (int(fields[11]) + int(fields[12])) / ticks


class Result:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def as_dict(self):
        return dict(self.__dict__)


def _subreaper(on):
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1 if on else 0, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _adopted(known):
    """Children of this process that it did not start itself (orphans re-parented to it), as a list."""
    return [p for p in _children_map().get(os.getpid(), ()) if p not in known]


def _reap_adopted(known, deadline):
    """wait4() every adopted orphan (SIGKILL after ``deadline``); returns their summed (user, sys) CPU seconds."""
    user = system = 0.0
    while True:
        pending = _adopted(known)
        if not pending:
            return user, system
        for p in pending:
            try:
                pid, _status, usage = os.wait4(p, os.WNOHANG)
            except ChildProcessError:
                known.add(p)
                continue
            if pid == p:
                user += usage.ru_utime
                system += usage.ru_stime
                known.add(p)
        if time.monotonic() > deadline:
            for p in _adopted(known):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = float('inf')
        time.sleep(0.05)


def run(cmd, env=None, cwd=None, log_path=None, timeout=None, interval=0.2):
    """Run ``cmd`` (a list, no shell) to completion or ``timeout`` seconds; return a :class:`Result`."""
    subreaper = _subreaper(True)
    known = set(_children_map().get(os.getpid(), ()))  # e.g. the simulator: never reaped here
    log = open(log_path, 'wb') if log_path else subprocess.DEVNULL
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log_path:
            log.close()
    peak = {'rss': 0, 'pss': 0, 'procs': 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss = pss = 0
            pids = tree(proc.pid)
            for orphan in _adopted(known | {proc.pid}):
                pids.extend(tree(orphan))
            for p in pids:
                r, s = _memory(p)
                rss += r
                pss += s
            peak['rss'] = max(peak['rss'], rss)
            peak['pss'] = max(peak['pss'], pss)
            peak['procs'] = max(peak['procs'], len(pids))
            done.wait(interval)

    timed_out = threading.Event()

    def on_timeout():
        timed_out.set()
        _kill_group(proc.pid, signal.SIGTERM)
        if not done.wait(5):
            _kill_group(proc.pid, signal.SIGKILL)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(timeout, on_timeout) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    known.add(proc.pid)
    orphan_user, orphan_sys = _reap_adopted(known, time.monotonic() + 15) if subreaper else (0.0, 0.0)
    if subreaper:
        _subreaper(False)
    done.set()
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(proc.pid, signal.SIGKILL)  # leftovers (e.g. az processes still running after a timeout)
    sampler.join()
    return Result(
        returncode=proc.returncode,
        timed_out=timed_out.is_set(),
        wall=wall,
        cpu_user=usage.ru_utime + orphan_user,
        cpu_sys=usage.ru_stime + orphan_sys,
        cpu=usage.ru_utime + usage.ru_stime + orphan_user + orphan_sys,
        orphan_cpu=orphan_user + orphan_sys,
        max_rss_mb=usage.ru_maxrss / 1024.0,  # Linux: kilobytes
        peak_tree_pss_mb=peak['pss'] / 2**20,
        peak_tree_rss_mb=peak['rss'] / 2**20,
        peak_procs=peak['procs'],
    )


def _kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_many(cmds, envs, cwd=None, log_paths=None, timeout=None, interval=0.5):
    """Start every command of ``cmds`` at once (each with its env of ``envs``), as AWX starts the jobs of a sliced
    job template, and wait for all; return ``(results, total)``: one :class:`Result` per command (its own wall, its
    tree's CPU by ``wait4()``, its max RSS) and a :class:`Result` of the whole: wall to the last end, CPU summed
    (orphans re-parented to this process included, not attributed to one command), peak PSS of every tree at once."""
    subreaper = _subreaper(True)
    known = set(_children_map().get(os.getpid(), ()))
    started = time.monotonic()
    procs = []
    for i, cmd in enumerate(cmds):
        log = open(log_paths[i], 'wb') if log_paths else subprocess.DEVNULL
        try:
            procs.append(
                subprocess.Popen(
                    cmd,
                    env=envs[i],
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        finally:
            if log_paths:
                log.close()
    mine = set(p.pid for p in procs)
    peak = {'pss': 0, 'rss': 0, 'procs': 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            pids = []
            for p in list(mine) + _adopted(known | mine):
                pids.extend(tree(p))
            mem = [_memory(p) for p in pids]
            peak['rss'] = max(peak['rss'], sum(m[0] for m in mem))
            peak['pss'] = max(peak['pss'], sum(m[1] for m in mem))
            peak['procs'] = max(peak['procs'], len(pids))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline = started + timeout if timeout else None
    ends, usages, timed_out = {}, {}, False
    while len(ends) < len(procs):
        for p in procs:
            if p.pid in ends:
                continue
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                ends[p.pid] = time.monotonic() - started
                usages[p.pid] = (os.waitstatus_to_exitcode(status), usage)
        if deadline and time.monotonic() > deadline and not timed_out:
            timed_out = True
            for p in procs:
                _kill_group(p.pid, signal.SIGKILL)
        time.sleep(0.1)
    known |= mine
    orphan_user, orphan_sys = _reap_adopted(known, time.monotonic() + 15) if subreaper else (0.0, 0.0)
    if subreaper:
        _subreaper(False)
    done.set()
    sampler.join()
    results = []
    for p in procs:
        rc, usage = usages[p.pid]
        _kill_group(p.pid, signal.SIGKILL)
        cpu = usage.ru_utime + usage.ru_stime
        results.append(
            Result(
                returncode=rc,
                timed_out=timed_out,
                wall=ends[p.pid],
                cpu=cpu,
                cpu_user=usage.ru_utime,
                cpu_sys=usage.ru_stime,
                orphan_cpu=0.0,
                max_rss_mb=usage.ru_maxrss / 1024.0,
                peak_tree_pss_mb=None,
                peak_tree_rss_mb=None,
                peak_procs=None,
            )
        )
    total = Result(
        returncode=max(r.returncode for r in results) if results else 0,
        timed_out=timed_out,
        wall=max(ends.values()) if ends else 0.0,
        cpu=sum(r.cpu for r in results) + orphan_user + orphan_sys,
        cpu_user=sum(r.cpu_user for r in results) + orphan_user,
        cpu_sys=sum(r.cpu_sys for r in results) + orphan_sys,
        orphan_cpu=orphan_user + orphan_sys,
        max_rss_mb=max((r.max_rss_mb for r in results), default=0.0),
        peak_tree_pss_mb=peak['pss'] / 2**20,
        peak_tree_rss_mb=peak['rss'] / 2**20,
        peak_procs=peak['procs'],
    )
    return results, total
