# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task runner shared by every vmrescue.azure module (private: may change without notice).

A module is described by a ``_task.TaskSpec`` (base layer; each domain package builds its own): its own argspec
and constraints plus a ``run(ctx) -> dict`` (or ``steps(ctx)``) function, ``ctx`` being a ``_task.RunContext``.
The task is validated once at its edge (``_task.prepare``: the module here, the controller action in
plugin_utils/_controller.py), then every target runs with one immutable context.

Public names (kept stable):

- ``execute(spec, params, check_mode=False, diff=False, env=None, client=None, on_result=None) -> dict``:
  ``prepare`` then ``run_task`` (for the module file and tests; the action calls the two itself).
- ``run_task(task, env=None, client=None, on_result=None) -> dict``: validates the target(s) (no network),
  resolves auth, builds one ArmClient, runs the spec per target (a single target is a batch of one); failures
  become ``failed: true`` results with one clear ``msg`` (never a secret); ``on_result(index, result)`` gets each
  target's result as soon as it is done.
- ``client_for(params, env=None, pool_size=10) -> ArmClient``: the auth options of ``params`` -> client.
- ``task_secrets(params)``: the values scrubbed from every result of a task.
- ``with_audit(result, task, started, journal=(), principal=None) -> result``: adds the target's ``audit``
  (docs/docsite/rst/guide_run_report.rst) and drops the ``diff`` unless the task asked for one; every target result
  gets it.
- ``write_report(task, out)``: the ``report`` option's hook at the end of ``run_task`` (``_report.attach``).
- ``AzureModule(spec)``: ``.main()`` runs and exits.
"""

from __future__ import annotations

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.credential import resolve_auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import auth_setup_error
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTION_NAMES, SECRET_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import (
    DEFAULT_CONCURRENCY,
    parse_targets,
    run_ordered,
    run_pipelined,
    summarize,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import drive
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, outcome, secret_values
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.gate import Gate, PreflightSkip
from ansible_collections.vmrescue.azure.plugins.module_utils._report import attach, mask_options
from ansible_collections.vmrescue.azure.plugins.module_utils._shards import run_shares, share_count, split
from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TargetError,
    target_from_params,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._task import prepare


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


def _steps_one(task, client, target, shared, gate=None):
    """One target as a step generator (``spec.steps``, else ``spec.run`` in one step); failures become results.

    The target's calls go through a client bound to its own journal (``ArmClient.bound``): its ``audit``; and to its
    preflight verdict (``gate``: the task's ``_preflight.gate.Gate`` or None), which refuses a write Azure would
    refuse: the target is then skipped with the verdict's reason code, and in check mode a promised change it
    refuses is that skip too."""
    started = time.time()
    journal = []
    verdict = None
    try:
        if target is not None and not target.subscription_id:
            target = target.with_subscription(client.subscription_id)
        verdict = gate.verdict(target) if gate is not None and target is not None else None
        bound = client.bound(journal, gate=verdict.guard if verdict else None) if hasattr(client, 'bound') else client
        ctx = task.context(bound, target, shared, preflight=verdict)
        if task.spec.steps is not None:
            result = yield from task.spec.steps(ctx)
        else:
            result = task.spec.run(ctx)
    except PreflightSkip as exc:  # before its first write: Azure would refuse it
        result = dict(verdict.skip_result(exc.reason_code, exc.msg, exc.result), id=target.id)
    except VmrescueError as exc:  # TaskError, ArmError, AuthError, TargetError, ...: one failed result
        result = exc.to_result(task_secrets(task.params))
        if target is not None and target.subscription_id and not result.get('id'):
            result['id'] = target.id
    if verdict is not None:
        if task.check_mode:
            result = verdict.check_mode_skip(result) or result
        result.setdefault('preflight', verdict.as_dict())
    return with_audit(result, task, started, journal, getattr(client, 'principal', None))


def _gate(task, client):
    """The task's preflight gate (``_preflight.gate.Gate``), or None when the spec has no plan or the task says
    ``preflight: false``. It reads nothing until a target is about to be written."""
    if task.spec.preflight is None or not task.params.get('preflight', True):
        return None
    plan = task.spec.preflight(task.params)
    return Gate(client, plan) if plan is not None else None


def _utc(when):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(when))


def with_audit(result, task, started, journal=(), principal=None):
    """``result`` with its ``audit`` (what the run report keeps of a target: when, who, before / after from its
    diff, the journal of its writes and failed calls); the ``diff`` is kept only when the task asked for one."""
    finished = time.time()
    diff = result.get('diff') if isinstance(result.get('diff'), dict) else {}
    result['audit'] = dict(
        started=_utc(started),
        finished=_utc(finished),
        duration_s=round(finished - started, 3),
        principal=principal,
        before=diff.get('before'),
        after=diff.get('after'),
        requests=list(journal),
    )
    if not task.diff:
        result.pop('diff', None)
    return result


def execute(spec, params, check_mode=False, diff=False, env=None, client=None, on_result=None):
    """Validate ``params`` (already through the argument spec) once, then run the task: ``prepare`` + ``run_task``."""
    try:
        task = prepare(spec, params, check_mode=check_mode, diff=diff)
    except VmrescueError as exc:
        return _failed(exc, params)
    return run_task(task, env=env, client=client, on_result=on_result)


def _parse_targets(task):
    """``[(Target | None, error | None, label)]`` of the task, no network; raises TargetError for a bad single target."""
    if task.batch:
        return parse_targets(task.params['targets'])
    if task.spec.target:
        return [(target_from_params(task.params), None, None)]
    return [(None, None, None)]


def _lane(item):
    """Azure throttles per principal per subscription: each subscription is paced on its own workers."""
    return (item[1].subscription_id or '').lower()


def _invalid_results(parsed, on_result):
    """The results of the targets refused by their address (no network), in place; None where a target is valid."""
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
    return results


class _Finisher:
    """Completes each target's result the same way (id, batch fields) and streams it to ``on_result``."""

    def __init__(self, task, on_result):
        self.task = task
        self.on_result = on_result

    def __call__(self, index, target, res):
        if isinstance(res, Exception):  # a bug, not an Azure failure: still only this target fails
            res = _internal_error(res, self.task.params)
        if target is not None and not res.get('id'):
            res['id'] = target.id if target.subscription_id else None
        if self.task.batch:
            res['changed'] = bool(res.get('changed'))
            res['failed'] = bool(res.get('failed'))
            res.setdefault('msg', '')
        if self.on_result is not None:
            self.on_result(index, res)
        return res


def _sign_in_failure(exc, task, pending, finish):
    """The task's failed result when no client could be made (every pending target gets it too)."""
    if not isinstance(exc, VmrescueError):  # azure-identity refuses an option value (an invalid tenant, ...)
        exc = auth_setup_error(exc)
    failed = _failed(exc, task.params)
    failed.pop('arm_error', None)
    if finish.on_result is not None:
        for index, target in pending:
            finish(index, target, dict(failed))
    return failed


def _run_pending(task, client, pending, concurrency, finish, gate):
    """Every valid target through the spec (a pipeline for a step spec); results or exceptions in input order."""
    shared = task.spec.shared() if task.spec.shared is not None else None

    def work(item):
        index, target = item
        try:
            res = drive(_steps_one(task, client, target, shared, gate))
        except Exception as exc:  # pylint: disable=broad-except
            res = exc
        return finish(index, target, res)

    def work_steps(item):
        index, target = item
        res = yield from _steps_one(task, client, target, shared, gate)
        return finish(index, target, res)

    if task.spec.steps is not None:
        return run_pipelined(work_steps, pending, concurrency, lane=_lane)
    return run_ordered(work, pending, concurrency)


def _run_in_shares(task, pending, shares, run):
    """``_run_pending`` over the shares of a batch's subscriptions, each in a process of its own (``_shards``: one
    process's threads use one core); results in the order of ``pending``. ``run``: (concurrency, finish, gate, env).
    Each share signs in and reads its preflight on its own: what its gate read is added to ``gate``'s summary. A
    target whose share's process died without its result fails with that reason."""
    concurrency, finish, gate, env = run
    found = {}

    def work(share, send):
        # a client and a gate of its own: nothing pooled (a connection, a token) is shared with the other processes
        lanes = len(set(_lane(item) for item in share))
        mine = client_for(task.params, env=env, pool_size=min(concurrency * lanes, len(share)) + 2)
        own_gate = _gate(task, mine)
        _run_pending(task, mine, share, concurrency, _Finisher(task, send), own_gate)
        return own_gate.summary().as_dict() if own_gate is not None else None

    def deliver(index, res):
        found[index] = res
        if finish.on_result is not None:
            finish.on_result(index, res)

    for summary in run_shares(shares, work, deliver):
        if summary is not None and gate is not None:
            gate.summary().absorb(summary)
    lost = RuntimeError('the process of its share of the batch (its subscription) ended without its result')
    return [found[index] if index in found else finish(index, target, lost) for index, target in pending]


def run_task(task, env=None, client=None, on_result=None):
    """Run a prepared ``Task``. Returns a result dict (may be failed).

    With ``targets``, a batch (see ``_batch``): one client shared by ``concurrency`` workers, ``results`` per
    target. Otherwise the single target is a batch of one and its result is the task result.
    ``on_result(index, result)``, when given, is called with each target's final result as soon as that target is
    done (from the worker thread; ``index`` is the position in ``targets``); the background mode streams with it.
    """
    concurrency = max(1, int(task.params.get('concurrency') or DEFAULT_CONCURRENCY)) if task.batch else 1
    try:
        parsed = _parse_targets(task)
    except TargetError as exc:
        return _failed(exc, task.params)
    finish = _Finisher(task, on_result)
    results = _invalid_results(parsed, on_result)
    pending = [(index, target) for index, (target, err, _label) in enumerate(parsed) if err is None]
    built = pending and client is None
    if built:
        try:
            # one connection per worker: ``concurrency`` per subscription (see _lane)
            lanes = len(set(_lane(item) for item in pending))
            client = client_for(task.params, env=env, pool_size=min(concurrency * lanes, len(pending)) + 2)
        except (VmrescueError, ValueError, TypeError) as exc:
            return _sign_in_failure(exc, task, pending, finish)
    gate = _gate(task, client) if pending else None
    shares = split(pending, _lane, share_count()) if pending and built and task.spec.shardable else [pending]
    if len(shares) > 1:
        done = _run_in_shares(task, pending, shares, (concurrency, finish, gate, env))
    else:
        done = _run_pending(task, client, pending, concurrency, finish, gate) if pending else []
    for (index, _target), res in zip(pending, done):
        if isinstance(res, Exception):  # finish() itself failed (on_result raised): report it on that target
            res = _internal_error(res, task.params)
        results[index] = res
    out = summarize(results, message=task.spec.summary) if task.batch else results[0]
    notes = gate.summary().warnings() if gate is not None else []
    if gate is not None and task.batch:
        out['preflight'] = gate.summary().as_dict()
    for warning in (getattr(getattr(client, 'auth', None), 'warnings', None) or []) + notes:
        if warning not in (out.get('warnings') or []):
            out.setdefault('warnings', []).append(warning)
    if task.params.get('report'):
        write_report(task, out)
    return out


def write_report(task, out):
    """The ``report`` option: the run report of the task's results written, ``out['report']`` set (a failure to
    write it is a warning of ``out``, never a lost run)."""
    options = mask_options(task.params, task.spec.full_argument_spec(), SECRET_OPTIONS)
    results = (out.get('results') or []) if task.batch else [out]
    run = dict(check_mode=task.check_mode)
    return attach(out, task.params['report'], results, task.spec.name, options, run, task_secrets(task.params))


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
