# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side action base for vmrescue.azure modules (private: may change without notice).

The VMs these modules repair are usually unreachable, so the modules never run on them. The action plugin
runs the module's logic *in the controller's worker process* (the controller's Python, no connection to the
host is ever opened), whatever ``ansible_connection``/``ansible_host``/``ansible_python_interpreter``/become the
host has. That is also the cheapest way to run it: no AnsiballZ payload, no second interpreter start.

Arguments are validated with the module's own merged argspec (ArgumentSpecValidator, the same spec as the
module file), ``no_log`` values are masked in the result, check mode and diff pass through, and the task's
``environment:`` is applied to the auth environment (as it would be for a module process).

With ``targets`` (batch mode, module_utils/_batch.py) the whole list is processed in this one worker process,
with one credential, one connection pool and one pacer; ``run_once: true`` makes that one task for a play batch.
With ``background: true`` as well, the batch runs in a background process and the task returns at once; each
host then collects its own result with ``vmrescue.azure.batch_result`` (plugin_utils/_background.py).

When the task gives no target option, the target comes from the host's vars: ``azure_vm_id``, else the
``id`` host var that the azure.azcollection ``azure_rm`` inventory plugin sets, when it is a Compute VM or
Uniform scale-set instance ID.

Public names (kept stable):

- ``ControllerAction(ActionBase)``: subclass it in ``plugins/action/<module>.py`` and set ``SPEC`` (a
  ``_task.TaskSpec``, or a zero-argument callable returning one, evaluated lazily); ``FILE_OPTION`` names an
  option that may name a file on the controller (looked up like a ``files/`` lookup of the task, see
  ``names_file``).
- ``failed_result(msg, secrets=(), reason_code='invalid_input', **fields)``: a scrubbed failed task result.
- ``PlainAction(ActionBase)``: a controller-side action with a small argument spec of its own and no Azure task
  (``run_report``, ``batch_result``): set ``NAME`` and ``SPEC`` (its argument spec), implement
  ``run_checked(params, task_vars)``.

The host-vars target is ``_hostvars.target_id_from_hostvars``; what a worker needs whatever its plugin type
(``release_inherited_display_lock``, ``redact_task_source``) is in ``_worker``.
"""

from __future__ import annotations

import os
import threading

from ansible.errors import AnsibleActionSkip, AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.cloud import security_warnings
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, holds_secret, secret_values
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import run_task
from ansible_collections.vmrescue.azure.plugins.module_utils._target import TARGET_OPTION_NAMES
from ansible_collections.vmrescue.azure.plugins.module_utils._task import prepare
from ansible_collections.vmrescue.azure.plugins.plugin_utils._background import BackgroundError, start, watch_controller
from ansible_collections.vmrescue.azure.plugins.plugin_utils._hostvars import target_id_from_hostvars
from ansible_collections.vmrescue.azure.plugins.plugin_utils._options import raw_arg_errors
from ansible_collections.vmrescue.azure.plugins.plugin_utils._worker import (
    redact_task_source,
    release_inherited_display_lock,
)


def failed_result(msg, secrets=(), reason_code='invalid_input', **fields):
    """A failed task result (scrubbed) for an error found in the action: returned, never raised, so ansible-core
    attaches no task arguments to an exception."""
    return VmrescueError(msg, reason_code=reason_code, **fields).to_result(secrets)


class PlainAction(ActionBase):
    """The prologue of a plain controller-side action: the task's source redacted, its arguments checked against
    ``SPEC`` (wrong ones are a returned failed result, never raised), then ``run_checked``."""

    TRANSFERS_FILES = False
    _requires_connection = False
    NAME = None  # the module's full name, for the message about invalid arguments
    SPEC = None  # the argument spec
    # Options of type raw that may be large (run_report's results of 1000 targets): checked for presence only and
    # passed through as given, because the validator deep-copies what it checks (~0.4 s per 1000 results, profiled)
    PASS_THROUGH = ()

    def run(self, tmp=None, task_vars=None):
        redact_task_source()
        super().run(tmp, task_vars)
        args = dict(self._task.args)
        given = dict((k, args[k]) for k in self.PASS_THROUGH if k in args)
        validation = ArgumentSpecValidator(self.SPEC).validate(dict(args, **dict.fromkeys(given)))
        if validation.error_messages:  # returned, not raised (see failed_result)
            return failed_result('Invalid arguments for %s: %s' % (self.NAME, '; '.join(validation.error_messages)))
        return self.run_checked(dict(validation.validated_parameters, **given), task_vars or {})

    def run_checked(self, params, task_vars):
        """The action itself, with the validated parameters."""
        raise NotImplementedError


class ControllerAction(ActionBase):
    """Run a vmrescue.azure TaskSpec on the controller (see the module docstring)."""

    TRANSFERS_FILES = False
    _requires_connection = False  # no connection is ever opened: run() never touches self._connection
    SPEC = None
    # An option that may name a file on the controller (run_command script_file, vmaccess_linux ssh_key)
    FILE_OPTION = None

    def _spec(self):
        spec = self.SPEC
        if callable(spec) and not hasattr(spec, 'full_argument_spec'):
            spec = spec()
        return spec

    def _environment(self):
        env = dict(os.environ)
        try:
            raw = {}
            self._compute_environment_string(raw)
            env.update(dict((str(k), str(v)) for k, v in raw.items() if v is not None))
        except Exception:  # pylint: disable=broad-except
            pass  # an odd shell plugin on the (unused) host connection must not break a controller-side task
        return env

    def run(self, tmp=None, task_vars=None):
        """Every failure is a returned, scrubbed failed result: nothing raises through ansible-core (which would
        attach the task's arguments to the error)."""
        redact_task_source()
        try:
            return self._run(tmp, task_vars)
        except AnsibleActionSkip:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # a bug: still a scrubbed failed result
            args = dict(self._task.args or {})
            secrets = secret_values(
                args, [v for k, v in args.items() if k in ('password', 'secret') and isinstance(v, str)]
            )
            return failed_result(
                'internal error: %s: %s' % (exc.__class__.__name__, exc), secrets, reason_code='internal_error'
            )

    def _run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        super().run(tmp, task_vars)
        release_inherited_display_lock()
        spec = self._spec()
        checked = self._checked_args(spec, self._args(spec, task_vars))
        if isinstance(checked, dict):  # refused: a failed result, before any call
            return checked
        params, validation, no_log_values = checked
        try:  # the one validation of the task (the spec's rules, batch concurrency), background or not
            task = prepare(spec, params, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
        except VmrescueError as exc:
            return self._clean_failure(exc.to_result(no_log_values), no_log_values)
        env = self._environment()

        def clean(result):
            # remove_values copies the whole result (a batch's thousands of targets) even when there is nothing to
            # mask: at 2000 targets it was most of the batch task's own CPU (profiled, issue 25)
            if holds_secret(result, no_log_values):
                result = remove_values(result, no_log_values)
            if not task.diff:
                result.pop('diff', None)
            return result

        if params.get('background'):
            try:
                result = self._start_background(task, env, clean)
            except VmrescueError as exc:
                return self._clean_failure(exc.to_result(no_log_values), no_log_values)
            result['warnings'] = list(security_warnings(params, env))  # the batch's own process cannot warn
        else:
            # the foreground batch ends with ansible-playbook, as the background one does (see watch_controller)
            threading.Thread(target=watch_controller, args=(os.getppid(),), daemon=True).start()
            result = run_task(task, env=env)
        if task.check_mode:
            result['check_mode'] = True
        for w in getattr(validation, '_warnings', []) or []:
            result.setdefault('warnings', []).append(w.get('warning') if isinstance(w, dict) else str(w))
        result['invocation'] = {'module_args': params}
        return clean(result)

    def names_file(self, value):
        """Hook: whether the value of ``FILE_OPTION`` names a file (vmaccess_linux: not when it is the key itself)."""
        return True

    def _controller_file(self, args):
        """``args`` with ``FILE_OPTION`` looked up like a ``files/`` lookup of the task (role ``files/``, playbook
        dir), so that a relative path does not depend on the worker's current directory; unchanged when not found
        (the module then says what is wrong with the path)."""
        value = args.get(self.FILE_OPTION) if self.FILE_OPTION else None
        if not (isinstance(value, str) and value.strip() and self.names_file(value)):
            return args
        try:
            found = self._find_needle('files', os.path.expanduser(value.strip()))
        except AnsibleError:
            found = None
        return dict(args, **{self.FILE_OPTION: found}) if found else args

    def _args(self, spec, task_vars):
        """The task's arguments (``FILE_OPTION`` looked up), with the host's target (host vars) when the task names
        none."""
        args = self._controller_file(dict(self._task.args))
        if spec.target and not any(args.get(k) not in (None, '') for k in TARGET_OPTION_NAMES + ('targets',)):
            vm_id = target_id_from_hostvars(task_vars)
            if vm_id:
                args['vm_id'] = vm_id
        return args

    def _checked_args(self, spec, args):
        """The arguments through the argument spec: ``(params, validation, no_log_values)``, or a failed result.

        Raw values first, before the argument spec coerces them (a list given as a password would become its text):
        refused naming the option, never echoing the value; then the action's own checks of raw values.
        """
        full_spec = spec.full_argument_spec()
        raw_secrets = secret_values(
            args,
            set(v for k, v in args.items() if isinstance(v, str) and v and (full_spec.get(k) or {}).get('no_log')),
        )
        refusal = self.refuse_raw_args(args)
        if refusal:
            return self._refused(refusal[0], raw_secrets | set(refusal[1]))
        problems = raw_arg_errors(full_spec, args)
        if problems:
            return self._refused('Invalid arguments for %s: %s' % (self._task.action, '; '.join(problems)), raw_secrets)
        validation = ArgumentSpecValidator(full_spec, **spec.constraints()).validate(args)
        # the no_log option values, plus any private key given (by mistake) in a plain option such as ssh_key
        no_log_values = secret_values(args, set(getattr(validation, '_no_log_values', set())) | raw_secrets)
        if validation.error_messages:
            msg = 'Invalid arguments for %s: %s' % (self._task.action, '; '.join(validation.error_messages))
            # returned, not raised: the result is scrubbed and carries no task arguments (no invocation)
            return self._refused(msg, no_log_values)
        return validation.validated_parameters, validation, no_log_values

    def refuse_raw_args(self, args):
        """Hook: ``(message, [values to mask])`` to refuse the task from its raw arguments, or None.

        Runs before anything else reads the arguments; a value named here is masked wherever the result could
        show it (a private key given as ``ssh_key``)."""
        return None

    @staticmethod
    def _refused(msg, secrets):
        """A failed result for bad input, before any call: scrubbed, no ``invocation`` (the values may be secrets)."""
        secrets = set(s for s in secrets if s)
        return remove_values(failed_result(msg, secrets), secrets)

    @staticmethod
    def _clean_failure(result, no_log_values):
        return remove_values(result, no_log_values)

    def _start_background(self, task, env, clean):
        """``background: true``: start the batch in a background process and return at once (see _background)."""
        if task.params.get('targets') is None:
            raise VmrescueError(
                'background: true needs targets (the batch mode); for one VM, leave it out', reason_code='invalid_input'
            )
        total = len(task.params['targets'])

        def run(on_result):
            return run_task(task, env=env, on_result=lambda index, res: on_result(index, clean(res)))

        try:
            info = start(run, total)
        except (BackgroundError, OSError) as exc:
            raise VmrescueError('could not start the background batch: %s' % exc, reason_code='internal_error')
        return dict(
            changed=False,
            background=info,
            msg='%d target(s) started in the background; collect each with vmrescue.azure.batch_result' % total,
        )
