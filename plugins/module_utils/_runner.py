# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task runner shared by every vmrescue.azure module (private: may change without notice).

A module is described by a ``_task.TaskSpec`` (base layer; each domain builds its own): its own argspec and constraints plus a ``run(client, target,
params, check_mode=..., diff=...) -> dict`` function kept in module_utils. The shared auth and target options
are merged in. The same spec runs two ways:

- ``AzureModule(spec).main()`` in the module file (an AnsibleModule subclass), and
- ``execute(spec, params, check_mode, diff)`` from the controller action plugin (plugin_utils/_controller.py),
  after the action validated the arguments with the same merged argspec.

Public names (kept stable):

- ``execute(spec, params, check_mode=False, diff=False, env=None, client=None, on_result=None) -> dict``:
  validates the target(s) (no network), resolves auth, builds one ArmClient, runs ``spec.run`` per target (a
  single target is a batch of one); failures become ``failed: true`` results with one clear ``msg`` (never a
  secret); ``on_result(index, result)`` gets each target's result as soon as it is done.
- ``client_for(params, env=None, pool_size=10) -> ArmClient``: the auth options of ``params`` -> client.
- ``AzureModule(spec)``: ``.main()`` runs and exits.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.credential import resolve_auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import auth_setup_error
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTION_NAMES, SECRET_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import (
    DEFAULT_CONCURRENCY,
    concurrency_error,
    parse_targets,
    run_ordered,
    run_pipelined,
    summarize,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import drive
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, outcome, secret_values
from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TargetError,
    target_from_params,
)


def client_for(params, env=None, pool_size=10):
    """Resolve auth from the auth options in ``params`` and return an ArmClient."""
    auth = resolve_auth(dict((k, params.get(k)) for k in AUTH_OPTION_NAMES), env=env)
    return ArmClient(auth, pool_size=pool_size)


def task_secrets(params):
    """The values scrubbed from every result of a task: its secret options and any private key it was given."""
    return secret_values(params, [params.get(k) for k in SECRET_OPTIONS if isinstance(params.get(k), str)])


def _failed(exc, params):
    """The failed result of a VmrescueError raised before any target ran (validation, sign-in)."""
    return exc.to_result(task_secrets(params))


def _run_one(spec, client, target, params, check_mode, diff, shared):
    """One target: ``spec.run`` with failures turned into a ``failed`` result (never raised)."""
    return drive(_steps_one(spec, client, target, params, check_mode, diff, shared))


def _steps_one(spec, client, target, params, check_mode, diff, shared):
    """One target as a step generator (``spec.steps``, else ``spec.run`` in one step); failures become results."""
    try:
        if target is not None and not target.subscription_id:
            target = target.with_subscription(client.subscription_id)
        kwargs = dict(check_mode=check_mode, diff=diff)
        if spec.shared is not None:
            kwargs['shared'] = shared
        if spec.steps is not None:
            result = yield from spec.steps(client, target, params, **kwargs)
        else:
            result = spec.run(client, target, params, **kwargs)
    except VmrescueError as exc:  # TaskError, ArmError, AuthError, TargetError, ...: one failed result
        out = exc.to_result(task_secrets(params))
        if target is not None and target.subscription_id and not out.get('id'):
            out['id'] = target.id
        return out
    return result


def execute(spec, params, check_mode=False, diff=False, env=None, client=None, on_result=None):
    """Run ``spec`` for ``params`` (already validated by an argspec). Returns a result dict (may be failed).

    With ``targets``, a batch (see ``_batch``): one client shared by ``concurrency`` workers, ``results`` per
    target. Otherwise the single target is a batch of one and its result is the task result.
    ``on_result(index, result)``, when given, is called with each target's final result as soon as that target is
    done (from the worker thread; ``index`` is the position in ``targets``); the background mode streams with it.
    """
    if spec.validate is not None:
        try:
            spec.validate(params)
        except VmrescueError as exc:
            return _failed(exc, params)
    batch = spec.target and params.get('targets') is not None
    if batch and concurrency_error(params.get('concurrency')):
        return _failed(TaskError(concurrency_error(params.get('concurrency')), reason_code='invalid_input'), params)
    concurrency = max(1, int(params.get('concurrency') or DEFAULT_CONCURRENCY)) if batch else 1
    if batch:
        parsed = parse_targets(params['targets'])
    elif spec.target:
        try:
            parsed = [(target_from_params(params), None, None)]
        except TargetError as exc:
            return _failed(exc, params)
    else:
        parsed = [(None, None, None)]

    def finish(index, target, res):
        if isinstance(res, Exception):  # a bug, not an Azure failure: still only this target fails
            res = _internal_error(res, params)
        if target is not None and not res.get('id'):
            res['id'] = target.id if target.subscription_id else None
        if batch:
            res['changed'] = bool(res.get('changed'))
            res['failed'] = bool(res.get('failed'))
            res.setdefault('msg', '')
        if on_result is not None:
            on_result(index, res)
        return res

    def work_lane(item):
        """Azure throttles per principal per subscription: each subscription is paced on its own workers."""
        return (item[1].subscription_id or '').lower()

    results = [None] * len(parsed)
    for index, (_target, err, label) in enumerate(parsed):
        if err is not None:
            results[index] = dict(
                id=label,
                changed=False,
                failed=True,
                msg=err,
                invalid=True,
                outcome=outcome('failed', 'invalid_target', err),
            )
            if on_result is not None:
                on_result(index, dict((k, v) for k, v in results[index].items() if k != 'invalid'))
    pending = [(index, target) for index, (target, err, _label) in enumerate(parsed) if err is None]
    if pending:
        try:
            if client is None:
                # one connection per worker: ``concurrency`` per subscription (see work_lane)
                lanes = len(set(work_lane(item) for item in pending))
                client = client_for(params, env=env, pool_size=min(concurrency * lanes, len(pending)) + 2)
        except (VmrescueError, ValueError, TypeError) as exc:
            if not isinstance(exc, VmrescueError):  # azure-identity refuses an option value (an invalid tenant, ...)
                exc = auth_setup_error(exc)
            failed = _failed(exc, params)
            failed.pop('arm_error', None)
            if on_result is not None:
                for index, target in pending:
                    finish(index, target, dict(failed))
            return failed
    shared = spec.shared() if spec.shared is not None else None

    def work(item):
        index, target = item
        try:
            res = _run_one(spec, client, target, params, check_mode, diff, shared)
        except Exception as exc:  # pylint: disable=broad-except
            res = exc
        return finish(index, target, res)

    def work_steps(item):
        index, target = item
        res = yield from _steps_one(spec, client, target, params, check_mode, diff, shared)
        return finish(index, target, res)

    if spec.steps is not None:
        done = run_pipelined(work_steps, pending, concurrency, lane=work_lane)
    else:
        done = run_ordered(work, pending, concurrency)
    for (index, _target), res in zip(pending, done):
        if isinstance(res, Exception):  # finish() itself failed (on_result raised): report it on that target
            res = _internal_error(res, params)
        results[index] = res
    out = results[0] if not batch else summarize(results)
    for warning in getattr(getattr(client, 'auth', None), 'warnings', None) or []:
        if warning not in (out.get('warnings') or []):
            out.setdefault('warnings', []).append(warning)
    return out


def _internal_error(exc, params):
    """A bug, not an Azure failure: a failed result naming the exception (scrubbed), never raised."""
    return TaskError('internal error: %s: %s' % (exc.__class__.__name__, exc), reason_code='internal_error').to_result(
        task_secrets(params)
    )


class AzureModule(AnsibleModule):
    """AnsibleModule with the shared auth + target options merged into ``spec``'s own."""

    def __init__(self, spec, **kwargs):
        self.spec = spec
        kw = spec.constraints()
        kw.update(kwargs)
        super().__init__(argument_spec=spec.full_argument_spec(), supports_check_mode=spec.supports_check_mode, **kw)

    def main(self):
        if self.params.get('background'):
            self.fail_json(
                msg="background: true runs only through the collection's action plugin (on the "
                'controller); call the module by its name vmrescue.azure.<module>'
            )
        result = execute(self.spec, self.params, check_mode=self.check_mode, diff=self._diff)
        if result.pop('failed', False):
            msg = result.pop('msg', 'failed')
            self.fail_json(msg=msg, **result)
        self.exit_json(**result)
