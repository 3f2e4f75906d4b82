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
  - The C(ansible.builtin.linear) strategy (every task over all hosts before the next task), with one difference
    for a task that runs M(vmrescue.azure.batch_result) the way the collection's roles do, with
    O(vmrescue.azure.batch_result#module:index) unset or set to the host's position in C(ansible_play_batch).
  - With the linear strategy Ansible hands the hosts to its workers in inventory order, at most C(forks) at a time,
    and each worker waits for its host's target. A host whose target finished early, late in the inventory, is
    reported only once every host before it has a worker, which can be minutes of silence during a large run.
  - With this strategy, each time a worker is free it gets a host whose target is already done, in the order the
    targets finished, before the next host in inventory order. Hosts are reported as their targets finish.
  - Any other task, and a M(vmrescue.azure.batch_result) task whose batch or index this strategy cannot read, runs
    exactly as with the linear strategy.
  - The collection's playbooks use it (C(strategy) play keyword). Set it on your own plays that include the
    collection's roles, or with C(ANSIBLE_STRATEGY=vmrescue.azure.as_finished).
notes:
  - Only the order in which hosts are given to the workers changes; what each host runs and reports is the same.
"""

import collections
import re
import time

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.template import Templar
from ansible.utils.display import Display

from ansible_collections.vmrescue.azure.plugins.plugin_utils._background import FinishedLog

display = Display()

_ACTIONS = ('vmrescue.azure.batch_result', 'batch_result')
_ROLE_INDEX = re.compile(r'^\{\{\s*ansible_play_batch\s*\.\s*index\(\s*inventory_hostname\s*\)\s*\}\}$')
_FREE_WORKER_POLL = 0.005


class StrategyModule(LinearStrategyModule):
    def _get_next_task_lockstep(self, hosts, iterator):
        host_tasks = super()._get_next_task_lockstep(hosts, iterator)
        try:
            plan = self._finish_order_plan(host_tasks, iterator)
        except Exception as exc:  # pylint: disable=broad-except
            display.vvv('vmrescue.azure.as_finished: inventory order for this task (%s)' % exc)
            plan = None
        if plan is None:
            return host_tasks
        return self._as_finished(host_tasks, *plan)

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
        """Wait until a worker slot is free (as _queue_task will look for one), so that the host is chosen then."""
        while not self._tqm._terminated:
            for worker in self._workers:
                if worker is None or not worker.is_alive():
                    return
            time.sleep(_FREE_WORKER_POLL)

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
