# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmrescue.azure.batch_result: one host's result of a background batch (see plugin_utils/_background.py)."""

from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.plugin_utils._background import BackgroundError, collect
from ansible_collections.vmrescue.azure.plugins.plugin_utils._controller import PlainAction, failed_result

_display = Display()  # in a worker process, display() goes to the controller's output

ARGUMENT_SPEC = dict(
    batch=dict(type='dict', required=True),
    index=dict(type='int'),
    hosts_var=dict(type='str', default='ansible_play_batch'),
    timeout=dict(type='int', default=0),
    fail_on_failure=dict(type='bool', default=True),
)


def host_index(task_vars, hosts_var='ansible_play_batch'):
    """The position of the task's host in the list of hosts ``task_vars[hosts_var]``, or None."""
    hosts, name = task_vars.get(hosts_var), task_vars.get('inventory_hostname')
    if isinstance(hosts, (str, bytes, dict)):
        return None
    try:
        return list(hosts).index(name)
    except (TypeError, ValueError):
        return None


def _index_or_result(task_vars, hosts_var):
    """(the host's index in the list ``task_vars[hosts_var]``, None) or (None, the result when it has none)."""
    # Found here in Python: the template ansible_play_batch.index(inventory_hostname) costs O(hosts) per host under
    # ansible-core 2.19's lazy templating (it wraps the whole list for every host), which made a 5000-host play
    # quadratic.
    index = host_index(task_vars, hosts_var)
    if index is not None:
        return index, None
    if hosts_var not in task_vars:
        return None, failed_result(
            'hosts_var: there is no variable %s; give the name of the variable that '
            "lists the hosts in the order of the batch task's targets, or index" % hosts_var
        )
    msg = '%s is not in %s: its target is not in this batch' % (task_vars.get('inventory_hostname'), hosts_var)
    return None, dict(
        changed=False, skipped=True, failed_target=False, msg=msg, outcome=outcome('skipped', 'skipped', msg)
    )


def _not_started(batch, index, fail_on_failure):
    """The host's result when the batch task did not start a background batch (skipped, failed, no_log), else None."""
    if batch.get('skipped'):
        msg = 'the batch task was skipped: %s' % (
            batch.get('skip_reason') or batch.get('false_condition') or 'no reason given'
        )
        return dict(
            changed=False,
            skipped=True,
            index=index,
            failed_target=False,
            msg=msg,
            outcome=outcome('skipped', 'skipped', msg),
        )
    if 'background' in batch:
        return None
    if 'censored' in batch:
        return failed_result(
            'batch: the batch task ran with no_log: true, which hides the result this module '
            'needs; its secret options (password, client secret, ...) are masked in its result '
            'anyway, so run the batch task without no_log'
        )
    if not batch.get('failed'):
        return failed_result(
            'batch: expected the registered result of a task run with background: true (it has no background key)'
        )
    # the batch task failed before it started (invalid arguments, sign-in): every host gets its message
    msg = batch.get('msg') or 'the batch task failed'
    result = dict(
        changed=False,
        failed_target=True,
        index=index,
        msg=msg,
        outcome=batch.get('outcome') or outcome('failed', 'error', msg),
    )
    if fail_on_failure:
        result['failed'] = True
    return result


class ActionModule(PlainAction):
    NAME = 'vmrescue.azure.batch_result'
    SPEC = ARGUMENT_SPEC

    def run_checked(self, params, task_vars):
        batch, index = params['batch'], params['index']
        if index is None:
            index, result = _index_or_result(task_vars, params['hosts_var'])
            if result is not None:
                return result
        result = _not_started(batch, index, params['fail_on_failure'])
        if result is not None:
            return result
        return self._collect(batch, index, params)

    def _collect(self, batch, index, params):
        """This host's result from the background batch, as the host reports it."""
        try:
            result = collect(
                batch['background'], index, timeout=params['timeout'] or None, on_progress=_display.display
            )
        except BackgroundError as exc:
            result = failed_result(str(exc), reason_code='internal_error')
        result = dict(result)
        result['index'] = index
        result['failed_target'] = bool(result.get('failed'))
        if not params['fail_on_failure']:
            result.pop('failed', None)
        if not self._task.diff:
            result.pop('diff', None)
        if batch.get('check_mode'):
            result['check_mode'] = True
        return result
