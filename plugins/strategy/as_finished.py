# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The linear strategy's own attributes (iterator._play, tqm._terminated, _workers) are what it uses itself.
# pylint: disable=protected-access

DOCUMENTATION = r"""
name: as_finished
short_description: Linear, with the hosts of a background batch reported as their targets finish
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - The C(ansible.builtin.linear) strategy (every task over all hosts before the next task), with three
    differences. The first is for a task that runs M(vmrescue.azure.batch_result) the way the collection's roles
    do, with O(vmrescue.azure.batch_result#module:index) unset or set to the host's position in C(ansible_play_batch).
  - With the linear strategy Ansible hands the hosts to its workers in inventory order, at most C(forks) at a time,
    and each worker waits for its host's target. A host whose target finished early, late in the inventory, is
    reported only once every host before it has a worker, which can be minutes of silence during a large run.
  - With this strategy, each time a worker is free it gets a host whose target is already done, in the order the
    targets finished, before the next host in inventory order. Hosts are reported as their targets finish.
  - Any other task, and a M(vmrescue.azure.batch_result) task whose batch or index this strategy cannot read, runs
    exactly as with the linear strategy.
  - The implicit end of an imported role (Ansible's C(role_complete) step, which marks the role as done for each host
    that ran a task of it) is done for all hosts at once, without computing each host's variables first; the linear
    strategy computes them for every host (about 1-4 ms per host at 1000 hosts, growing with the play) only to
    record that mark.
  - The main process waits for a free worker, and for the results of a task, with a short back-off (from 5 ms, and
    from the configured C(internal_poll_interval) for results, up to 20 ms while nothing arrives) instead of polling
    at a fixed interval (C(internal_poll_interval) is 1 ms by default, about 0.04 s of CPU per second that a long
    C(run_once) task runs, taken from the task's own worker on a busy controller).
  - The collection's playbooks use it (C(strategy) play keyword). Set it on your own plays that include the
    collection's roles, or with C(ANSIBLE_STRATEGY=vmrescue.azure.as_finished).
notes:
  - Only the order in which hosts are given to the workers changes, and how the role_complete step is done; what
    each host runs and reports is the same.
"""

import collections
import re
import time

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.template import Templar
from ansible.utils.display import Display

from ansible_collections.vmrescue.azure.plugins.plugin_utils._background import FinishedLog

display = Display()

_ACTIONS = ('vmrescue.azure.batch_result', 'batch_result')
_ROLE_INDEX = re.compile(r'^\{\{\s*ansible_play_batch\s*\.\s*index\(\s*inventory_hostname\s*\)\s*\}\}$')
_FREE_WORKER_POLL = 0.005
_POLL_MAX = 0.02  # the longest pause between two looks for a free worker or a result


def _meta_name(task):
    """The meta task's action: ``Task._get_meta()`` on ansible-core 2.19, its ``_raw_params`` before (2.16: the
    linear strategy's ``_execute_meta`` reads it there)."""
    get_meta = getattr(task, '_get_meta', None)
    return get_meta() if callable(get_meta) else (task.args or {}).get('_raw_params')


def _is_role_complete(task):
    """True for Ansible's implicit role_complete step at the end of an imported role."""
    return (
        bool(getattr(task, 'implicit', False))
        and str(task.action) in C._ACTION_META
        and _meta_name(task) == 'role_complete'
    )


class StrategyModule(LinearStrategyModule):
    def run(self, iterator, play_context):
        self._vmrescue_play_context = play_context  # for the role_complete steps done in _get_next_task_lockstep
        return super().run(iterator, play_context)

    def _get_next_task_lockstep(self, hosts, iterator):
        host_tasks = super()._get_next_task_lockstep(hosts, iterator)
        while host_tasks and self._all_role_complete(host_tasks):
            # What the linear strategy would do host by host, without computing each host's variables first
            # (_execute_meta needs none for role_complete): it marks the role done for each host that ran a task of it
            for host, task in host_tasks:
                self._execute_meta(task, self._vmrescue_play_context, iterator, host)
            host_tasks = super()._get_next_task_lockstep(hosts, iterator)
        try:
            plan = self._finish_order_plan(host_tasks, iterator)
        except Exception as exc:  # pylint: disable=broad-except
            display.vvv('vmrescue.azure.as_finished: inventory order for this task (%s)' % exc)
            plan = None
        if plan is None:
            return host_tasks
        return self._as_finished(host_tasks, *plan)

    def _wait_on_pending_results(self, iterator):
        """The linear strategy's wait for the pending results, polling with a back-off while none arrives."""
        ret_results = []
        first = C.DEFAULT_INTERNAL_POLL_INTERVAL
        pause, longest = first, max(first, _POLL_MAX)  # a longer configured interval is kept as it is
        while self._pending_results > 0 and not self._tqm._terminated:
            if self._tqm.has_dead_workers():
                raise AnsibleError('A worker was found in a dead state')
            results = self._process_pending_results(iterator)
            ret_results.extend(results)
            if results:  # more may follow at once: look again soon
                pause = first
            if self._pending_results > 0:
                time.sleep(pause)
                pause = min(longest, pause * 1.5)
        return ret_results

    def _all_role_complete(self, host_tasks):
        """True when every host's next step is the same implicit role_complete (its 'when' is never evaluated)."""
        if getattr(self, '_vmrescue_play_context', None) is None:
            return False
        first = host_tasks[0][1]
        return _is_role_complete(first) and all(t._uuid == first._uuid for _h, t in host_tasks)

    def _finish_order_plan(self, host_tasks, iterator):
        """(FinishedLog, {position in host_tasks: batch index}) for a batch_result task of the roles, else None."""
        if len(host_tasks) < 2:
            return None
        task = host_tasks[0][1]
        if str(task.action) not in _ACTIONS or any(t._uuid != task._uuid for _h, t in host_tasks):
            return None
        index_expr, batch_expr = task.args.get('index'), task.args.get('batch')
        if index_expr is not None and not (isinstance(index_expr, str) and _ROLE_INDEX.match(index_expr.strip())):
            return None
        task_vars = self._variable_manager.get_vars(
            play=iterator._play,
            host=host_tasks[0][0],
            task=task,
            _hosts=self._hosts_cache,
            _hosts_all=self._hosts_cache_all,
        )
        batch = Templar(loader=self._loader, variables=task_vars).template(batch_expr)
        info = batch.get('background') if isinstance(batch, dict) else None
        if not isinstance(info, dict) or not info.get('spool'):
            return None
        hosts_var = task.args.get('hosts_var', 'ansible_play_batch') if index_expr is None else 'ansible_play_batch'
        if not isinstance(hosts_var, str) or '{' in hosts_var:
            return None
        position = dict((name, i) for i, name in enumerate(task_vars.get(hosts_var) or []))
        index_to_pos = {}
        for pos, (host, _task) in enumerate(host_tasks):
            index = position.get(host.get_name())
            if index is not None:
                index_to_pos[index] = pos
        return FinishedLog(info), index_to_pos

    def _free_worker(self):
        """Wait until a worker slot is free (as _queue_task will look for one), so that the host is chosen then.
        Backs off from 5 ms to 20 ms while every worker stays busy: the main process shares the CPU with them."""
        pause = _FREE_WORKER_POLL
        while not self._tqm._terminated:
            for worker in self._workers:
                if worker is None or not worker.is_alive():
                    return
            time.sleep(pause)
            pause = min(_POLL_MAX, pause * 1.5)

    def _as_finished(self, host_tasks, log, index_to_pos):
        """Yield the (host, task) pairs: when a worker is free, the next host whose target finished, else the next
        one in inventory order."""
        given = [False] * len(host_tasks)
        ready = collections.deque()
        next_in_order = 0
        left = len(host_tasks)
        while left:
            self._free_worker()
            ready.extend(log.poll_new())
            pick = None
            while ready and pick is None:
                pos = index_to_pos.get(ready.popleft())
                if pos is not None and not given[pos]:
                    pick = pos
            if pick is None:
                while given[next_in_order]:
                    next_in_order += 1
                pick = next_in_order
            given[pick] = True
            left -= 1
            yield host_tasks[pick]
