# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task is, as data: ``TaskSpec`` (private: may change without notice).

The base layer's description of a module: its own options and constraints plus the domain function that does the
work. A domain package builds its spec from this file; the task runner (``_runner``) and the controller action
(``plugin_utils/_controller``) take a spec and run it. So no domain imports the runner above it.

Public names (kept stable):

- ``TaskSpec(argument_spec, run, mutually_exclusive=(), required_together=(), required_one_of=(),
  required_if=(), required_by=None, target=True, supports_check_mode=True, shared=None, validate=None,
  steps=None, summary=None, preflight=None, name=None)``; ``.full_argument_spec()`` (the shared auth, target and batch options merged with the spec's
  own) and ``.constraints()`` (dict of kwargs for AnsibleModule / ArgumentSpecValidator). A spec with
  ``target=True`` also gets the batch options ``targets``/``concurrency`` (``_batch``).
- ``prepare(spec, params, check_mode=False, diff=False) -> Task``: the one validation of a task (the spec's rules,
  batch concurrency), at its edge; raises a ``VmrescueError`` before any call.
- ``Task(spec, params, check_mode, diff, warnings)``: frozen; ``.batch``, ``.context(client, target, shared)``.
- ``RunContext(client, target, params, check_mode, diff, shared, warnings, preflight)``: frozen; what a domain's
  ``run(ctx)`` / ``steps(ctx)`` gets for one target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import (
    BATCH_MUTUALLY_EXCLUSIVE,
    BATCH_OPTIONS,
    concurrency_error,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_OPTIONS,
    TARGET_REQUIRED_BY,
    TARGET_REQUIRED_TOGETHER,
    Target,
)

# The opt-out of the automatic preflight (a spec with ``preflight``): docs in doc_fragments/preflight.py
PREFLIGHT_OPTIONS = dict(preflight=dict(type='bool', default=True))


class TaskSpec:
    """What one module is: its options, constraints and run function.

    ``shared``: optional zero-argument factory of per-batch state handed to every ``run`` of one task as
    ``shared=`` (for example what earlier targets of the batch taught about timings). A spec with
    ``target=True`` accepts ``targets``/``concurrency`` (batch mode, ``_batch``). ``validate``: optional
    ``validate(params)`` raising ``TaskError`` for bad option values (it may return warnings); ``prepare`` calls
    it once per task, before any call. ``run(ctx)`` gets a ``RunContext`` and returns the target's result.
    ``steps``: optional generator form of ``run`` (same argument; yields the seconds until its next request,
    returns the result): ``execute`` then runs the targets as a pipeline (``_batch.run_pipelined``), so a target
    waiting between two requests holds none of the ``concurrency`` workers. ``summary``: optional
    ``summary(results) -> str | None``, the domain's own line for a batch's ``msg`` (else the counts). ``name``:
    the module's full name (the run report's ``kind``). ``shardable``: a batch over several subscriptions may run
    each subscription's targets in a process of its own (``_shards``): for a spec whose per-batch ``shared`` state
    and targets do not reach across subscriptions.
    """

    def __init__(
        self,
        argument_spec,
        run,
        mutually_exclusive=(),
        required_together=(),
        required_one_of=(),
        required_if=(),
        required_by=None,
        target=True,
        supports_check_mode=True,
        shared=None,
        validate=None,
        steps=None,
        summary=None,
        preflight=None,
        name=None,
        shardable=False,
    ):
        self.argument_spec = argument_spec
        self.run = run
        self.mutually_exclusive = list(mutually_exclusive)
        self.required_together = list(required_together)
        self.required_one_of = list(required_one_of)
        self.required_if = list(required_if)
        self.required_by = dict(required_by or {})
        self.target = target
        self.supports_check_mode = supports_check_mode
        self.shared = shared
        self.validate = validate
        self.steps = steps
        self.summary = summary
        self.preflight = preflight
        self.name = name
        self.shardable = shardable

    def full_argument_spec(self):
        spec = {}
        spec.update(AUTH_OPTIONS)
        if self.target:
            spec.update(TARGET_OPTIONS)
            spec.update(BATCH_OPTIONS)
        if self.preflight is not None:
            spec.update(PREFLIGHT_OPTIONS)
        spec.update(self.argument_spec)
        return spec

    def constraints(self):
        me = list(self.mutually_exclusive)
        rt = list(self.required_together)
        rb = dict(self.required_by)
        if self.target:
            me += TARGET_MUTUALLY_EXCLUSIVE + BATCH_MUTUALLY_EXCLUSIVE
            rt += TARGET_REQUIRED_TOGETHER
            for k, v in TARGET_REQUIRED_BY.items():
                rb.setdefault(k, v)
        return dict(
            mutually_exclusive=me,
            required_together=rt,
            required_one_of=list(self.required_one_of),
            required_if=list(self.required_if),
            required_by=rb,
        )


@dataclasses.dataclass(frozen=True)
class Task:
    """One task, validated once at its edge (the action plugin or the module): what every target's run shares.

    Built by ``prepare``; ``params`` is read-only. ``warnings`` are the validation's own (an expiry date in the
    past, ...), added to every target's result.
    """

    spec: TaskSpec
    params: Mapping[str, Any]
    check_mode: bool = False
    diff: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def batch(self) -> bool:
        """The task names ``targets`` (batch mode; a single target is then a batch of one)."""
        return bool(self.spec.target and self.params.get('targets') is not None)

    def context(self, client, target, shared=None, preflight=None) -> RunContext:
        """The run context of one target of this task."""
        return RunContext(
            client=client,
            target=target,
            params=self.params,
            check_mode=self.check_mode,
            diff=self.diff,
            shared=shared,
            warnings=self.warnings,
            preflight=preflight,
        )


@dataclasses.dataclass(frozen=True)
class RunContext:
    """One target's run: what a domain's ``run(ctx)`` / ``steps(ctx)`` is given, built by the runner, never changed.

    ``client``: the batch's one ``_arm.ArmClient``; ``target``: a ``_target.Target`` with its subscription (None for
    a spec without target); ``params``: the task's validated options (read-only); ``shared``: the spec's per-batch
    state (``TaskSpec.shared``); ``warnings``: the task's validation warnings, for the target's result;
    ``preflight``: the target's ``_preflight`` verdict (None without one); the client already applies it to writes.
    """

    client: Any
    target: Target | None
    params: Mapping[str, Any]
    check_mode: bool = False
    diff: bool = False
    shared: Any = None
    warnings: tuple[str, ...] = ()
    preflight: Any = None


def prepare(spec: TaskSpec, params: Mapping[str, Any], check_mode: bool = False, diff: bool = False) -> Task:
    """Validate ``params`` (already through the argument spec) once for the whole task and return the ``Task``.

    The spec's own rules (``TaskSpec.validate``, which may return warnings), then ``concurrency`` for a batch. Raises
    a ``VmrescueError`` (reason ``invalid_input``) naming the option and the fix, before any call.
    """
    warnings = tuple(spec.validate(params) or ()) if spec.validate is not None else ()
    if spec.target and params.get('targets') is not None:
        problem = concurrency_error(params.get('concurrency'))
        if problem:
            raise TaskError(problem, reason_code='invalid_input')
    return Task(spec, MappingProxyType(dict(params)), bool(check_mode), bool(diff), warnings)
