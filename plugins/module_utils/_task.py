# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task is, as data: ``TaskSpec`` (private: may change without notice).

The base layer's description of a module: its own options and constraints plus the domain function that does the
work. A domain package builds its spec from this file; the task runner (``_runner``) and the controller action
(``plugin_utils/_controller``) take a spec and run it. So no domain imports the runner above it.

Public names (kept stable):

- ``TaskSpec(argument_spec, run, mutually_exclusive=(), required_together=(), required_one_of=(),
  required_if=(), required_by=None, target=True, supports_check_mode=True, shared=None, validate=None,
  steps=None)``; ``.full_argument_spec()`` (the shared auth, target and batch options merged with the spec's
  own) and ``.constraints()`` (dict of kwargs for AnsibleModule / ArgumentSpecValidator). A spec with
  ``target=True`` also gets the batch options ``targets``/``concurrency`` (``_batch``).
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import BATCH_MUTUALLY_EXCLUSIVE, BATCH_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_OPTIONS,
    TARGET_REQUIRED_BY,
    TARGET_REQUIRED_TOGETHER,
)


class TaskSpec:
    """What one module is: its options, constraints and run function.

    ``shared``: optional zero-argument factory of per-batch state handed to every ``run`` of one task as
    ``shared=`` (for example what earlier targets of the batch taught about timings). A spec with
    ``target=True`` accepts ``targets``/``concurrency`` (batch mode, ``_batch``). ``validate``: optional
    ``validate(params)`` raising ``TaskError`` for bad option values; ``execute`` calls it before any call.
    ``steps``: optional generator form of ``run`` (same arguments; yields the seconds until its next request,
    returns the result): ``execute`` then runs the targets as a pipeline (``_batch.run_pipelined``), so a target
    waiting between two requests holds none of the ``concurrency`` workers.
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

    def full_argument_spec(self):
        spec = {}
        spec.update(AUTH_OPTIONS)
        if self.target:
            spec.update(TARGET_OPTIONS)
            spec.update(BATCH_OPTIONS)
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
