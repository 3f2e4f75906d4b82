# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM-extension engine shared by the VMAccess profiles (VMAccessForLinux, VMAccessAgent) (private).

A profile (``profile.Handler``) says what is specific to one handler; everything else is here, once:

* find-or-reuse of the extension by handler type (Azure allows one extension per handler type: an existing one is
  updated under its own name; a "Multiple VMExtensions per handler" refusal means the VM GET did not show it, so
  the extensions are listed and the decision made again);
* the decision from the fingerprint in ``forceUpdateTag`` (``fingerprint.py``), scrubbing of secrets from every
  message and return value, and diffs with the secrets masked;
* the write (``lro=False``) and the read-back confirmation through ``_confirm.wait_for``, paced by the batch's
  ``ConfirmTiming``; ``BatchState`` is what the targets of one task share;
* the handler-failure message, refusal of a VM of the other OS or one that is not running, and the skip of a
  target whose read shows the write cannot pass (``gates.py``: extensions disabled, agent Not Ready, a failed
  extension of another handler), in check mode too;
* how long to wait for the handler's final state: the task's ``wait_timeout`` (default ``EXTENSION_WAIT_SECONDS``);
* ``run_task`` / ``task_spec``: the TaskSpec of a profile.

Public names: ``ExtensionRunner``, ``BatchState``, ``run_task``, ``success_outcome``, ``task_spec``,
``MUTUALLY_EXCLUSIVE``, ``EXTENSION_WAIT_SECONDS``, ``FINAL_PROVISIONING_STATES``.
"""

import time
from urllib.parse import quote

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming, wait_for
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome, scrub, scrub_obj
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError, ExtensionFailure
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.gates import ExtensionSkip, check_write
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.status import (
    extension_name,
    handler_status,
    instance_view_extension_status,
    last_run_succeeded,
    lower_or_empty,
    visible,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._fingerprint import FingerprintCache, fingerprint
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec
from ansible_collections.vmrescue.azure.plugins.module_utils._vm import (
    CONCURRENCY_ATTEMPTS,
    busy_delay,
    is_busy,
    os_type,
    vm_power_state,
)

# Waiting for the handler (the default of wait_timeout): Azure ends an extension run after 90 minutes (the operation
# then fails), so a run still going after that is not coming back on its own.
EXTENSION_WAIT_SECONDS = 5400
FINAL_PROVISIONING_STATES = ('succeeded', 'failed', 'canceled')


class BatchState:
    """What the targets of one task share (the TaskSpec's ``shared`` factory): the fingerprint cache and the
    learned time a handler run takes to show as finished (``_confirm.ConfirmTiming``)."""

    def __init__(self):
        self.fingerprints = FingerprintCache()
        self.timing = ConfirmTiming()


# --------------------------------------------------------------------------------------------------------------
# Apply: the Resource Manager calls


class _UnseenHandler(Exception):
    """The PUT was refused because the VM has an extension of this handler its GET did not show."""


def _is_duplicate_handler(err):
    return (
        getattr(err, 'status', None) == 400
        and 'multiple vmextensions per handler' in (getattr(err, 'message', '') or '').lower()
    )


def _error_text(err):
    if hasattr(err, 'describe'):
        return err.describe()
    msg = getattr(err, 'message', None) or str(err)
    code = getattr(err, 'code', None)
    if code and code not in msg:
        return '%s: %s' % (code, msg)
    return msg


class ExtensionRunner:
    """Read the target, decide, write (unless check mode), wait for the handler, report.

    ``handler`` is the profile (``Handler``); ``arm`` the shared ``_arm.ArmClient`` (or a test double) with
    ``get``, ``put`` and ``delete`` that take a URL path and return parsed JSON and raise ``ArmError``; ``target``
    a ``_target.Target``. ``warn`` is called with each warning text.
    """

    def __init__(
        self,
        handler,
        arm,
        target,
        params,
        check_mode=False,
        warn=None,
        base_dir=None,
        api_version=None,
        fingerprints=None,
        timing=None,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        self.handler = handler
        self.arm = arm
        self.fingerprints = fingerprints  # FingerprintCache shared by the targets of one task, or None
        self.timing = timing  # _confirm.ConfirmTiming shared by the targets of one task, or None (a fresh one)
        self.sleep, self.clock = sleep, clock
        self.target = target
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.base_dir = base_dir
        self.api_version = API_VERSION if api_version is None else api_version
        self.plan = None
        self._listed = False
        self.secrets = [params.get(k) for k in handler.secret_params if params.get(k)]

    # -- small helpers ------------------------------------------------------------------------------------
    def _scrub(self, text):
        return scrub(text, self.secrets)

    def _warn(self, text):
        self.warn(self._scrub(text))

    def _fail(self, msg, reason_code='error', **result):
        raise ExtensionFailure(self._scrub(msg), reason_code=reason_code, **scrub_obj(result, self.secrets))

    def _arm_error(self, what, err, **result):
        if result.get('changed') and getattr(err, 'refused', False):  # answered with a 4xx: nothing written
            result = dict(result, changed=False, write_refused=True)
            result.pop('diff', None)
        result.update(err.result_fields() if hasattr(err, 'result_fields') else {})  # arm_error, locked_scope, ...
        self._fail(
            '%s %s failed: %s' % (what, self.target.display, _error_text(err)), reason_code=err.reason_code, **result
        )

    # -- reads ---------------------------------------------------------------------------------------------
    def _read_vm(self):
        try:
            return self.arm.get(self.target.path, params={'$expand': 'instanceView'}, api_version=self.api_version)
        except ArmError as e:
            self._arm_error('reading', e)

    def _list_extensions(self, vm, always=False):
        """The VM's extensions. The VM GET has them in ``resources`` (full objects); Resource Manager leaves
        ``resources`` out when the VM has none, so that costs no read. Only ID stubs (scale-set instances), or
        ``always``, make a list call."""
        resources = vm.get('resources')
        if not always:
            if resources is None:
                return []
            if isinstance(resources, list) and all(isinstance(r, dict) and r.get('properties') for r in resources):
                return resources
        try:
            listed = self.arm.get(self.target.path + '/extensions', api_version=self.api_version)
        except ArmError as e:
            self._arm_error('listing the extensions of', e)
        return (listed or {}).get('value') or []

    def _read_extension(self, name):
        """The extension resource itself (with its instance view), or None when it is gone."""
        try:
            return self.arm.get(
                self._ext_path(name), params={'$expand': 'instanceView'}, api_version=self.api_version, missing_ok=True
            )
        except ArmError as e:
            self._arm_error("reading the extension '%s' of" % name, e)

    def _ext_path(self, name):
        return self.target.path + '/extensions/' + quote(name, safe='')

    # -- checks -------------------------------------------------------------------------------------------
    def _check_os(self, vm):
        found = (os_type(vm) or '').lower() or None
        if found is not None and found != self.handler.os:
            self._fail(
                self.handler.wrong_os_message(self.target.display),
                reason_code='wrong_os',
                vm_id=self.target.id,
                os_type=found,
            )

    def _check_running(self, vm, extension_name_):
        state = vm_power_state(vm)
        if state is not None and state != 'running':
            self._fail(
                "%s is not running (power state '%s'): the VM agent must be running to run the %s "
                'handler, and Azure refuses to change extensions of a VM that is not running. Start it first. '
                'Nothing was changed.' % (self.target.display, state, self.handler.label),
                reason_code='deallocated' if state == 'deallocated' else 'not_running',
                vm_id=self.target.id,
                extension_name=extension_name_,
                power_state=state,
            )

    # -- the run ------------------------------------------------------------------------------------------
    def run(self):
        state = self.params.get('state') or 'present'
        if state == 'present':
            self.plan = self.handler.plan(self.params, self.base_dir)
        try:
            return self._run(state)
        except _UnseenHandler:
            # Azure refused a second extension of this handler: the VM has one that its GET did not show. Decide
            # again from the listed extensions (that one is then updated under its own name).
            return self._run(state, list_extensions=True)

    def _run(self, state, list_extensions=False):
        params = self.params
        vm = self._read_vm()
        self._check_os(vm)
        extensions = self._list_extensions(vm, always=list_extensions)
        self._listed = list_extensions
        existing = [e for e in extensions if self.handler.is_own(e)]
        current = existing[0] if existing else None
        if current is not None and 'forceUpdateTag' not in (current.get('properties') or {}):
            # The VM GET's resources entry may leave forceUpdateTag out (the official VirtualMachines_Get example
            # does): read the extension itself rather than take the absence for "never run by us" and re-run it.
            current = self._read_extension(extension_name(current)) or current

        if current is not None:
            name = extension_name(current)
            wanted = params.get('extension_name')
            if wanted and wanted.lower() != name.lower():
                self._warn(
                    "extension_name '%s' ignored: %s already has the %s extension '%s' and Azure allows "
                    "one per handler type; updating '%s'"
                    % (wanted, self.target.display, self.handler.label, name, name)
                )
        else:
            name = params.get('extension_name') or self.handler.default_extension_name

        if state == 'absent':
            return self._absent(vm, current, name)
        return scrub_obj(self._present(vm, current, name, extensions), self.secrets)

    def _absent(self, vm, current, name):
        result = dict(changed=False, vm_id=self.target.id, extension_name=name)
        if current is None:
            return result
        self._check_running(vm, name)
        check_write(vm, self.handler, self.target.display, vm_id=self.target.id, extension_name=name)
        result['changed'] = True
        result['diff'] = dict(before=visible(current), after={})
        if self.check_mode:
            return result
        try:
            self.arm.delete(self._ext_path(name), api_version=self.api_version)
        except ArmError as e:
            self._arm_error("removing the extension '%s' from" % name, e, **result)
        return result

    def _present(self, vm, current, name, extensions):
        plan = self.plan
        if (
            current is not None
            and plan.matches(current, self.fingerprints)
            and lower_or_empty((current.get('properties') or {}).get('provisioningState'))
            not in FINAL_PROVISIONING_STATES
        ):
            current, vm = self._wait_for_same_request(vm, name)
        result = self._state_result(vm, current, name)
        if result['fingerprint_matched'] and not self.params.get('force'):
            return result

        self._check_running(vm, name)
        force = bool(self.params.get('force'))
        check_write(vm, self.handler, self.target.display, extensions, force, vm_id=self.target.id, extension_name=name)
        result['changed'] = True
        result['diff'] = dict(before=visible(current), after=plan.shown(name))
        for k in ('handler_status', 'message', 'provisioning_state'):
            result.pop(k, None)
        for w in self.handler.present_warnings(self.target.display, extensions, plan):
            self._warn(w)
        if self.check_mode:
            return result
        self._write(vm, current, name, result)
        return self._handler_outcome(name, result)

    def _wait_for_same_request(self, vm, name):
        """This very request is still running on the VM (a run that was cancelled or lost its result after Azure
        accepted it): wait for its outcome rather than run the handler a second time. Returns (extension, vm), the
        VM without the instance view's extension statuses (they are from before the wait)."""
        current = self._wait_for_handler(name, {})
        props = dict(vm.get('properties') or {})
        props['instanceView'] = dict(props.get('instanceView') or {}, extensions=[])  # statuses before the wait
        return current, dict(vm, properties=props)

    def _state_result(self, vm, current, name):
        """The result when nothing is written: what is there and whether it is this request, run successfully."""
        plan = self.plan
        status = None
        if current is not None:
            status = instance_view_extension_status(vm, name) or handler_status(current)
        matched = bool(
            current is not None and plan.matches(current, self.fingerprints) and last_run_succeeded(current, status)
        )
        result = dict(
            changed=False,
            vm_id=self.target.id,
            extension_name=name,
            extension=plan.shown(name),
            fingerprint_matched=matched,
        )
        if status:
            result['handler_status'] = status
            if status.get('message'):
                result['message'] = status['message']
        if current is not None:
            result['provisioning_state'] = (current.get('properties') or {}).get('provisioningState')
        return result

    def _write(self, vm, current, name, result):
        """PUT the extension with a new fingerprint. A busy VM (409) is waited for; a refused second extension of
        this handler raises _UnseenHandler (run() decides again from the listed extensions)."""
        plan = self.plan
        body = plan.body(vm.get('location'), fingerprint(plan.canonical, cache=self.fingerprints))
        attempt = 0
        while True:
            attempt += 1
            try:
                # lro=False: no operation-status polls and no final GET; the handler's outcome is read from the
                # extension itself (_wait_for_handler), which is also where its message is.
                self.arm.put(self._ext_path(name), body, api_version=self.api_version, lro=False)
                return
            except ArmError as e:
                if current is None and not self._listed and _is_duplicate_handler(e):
                    raise _UnseenHandler()
                if is_busy(e) and attempt < CONCURRENCY_ATTEMPTS:
                    # another operation runs on the VM (409): the same PUT succeeds once it is done, as the key
                    # reset's write path does (_vm.update)
                    self.sleep(busy_delay(attempt))
                    continue
                self._arm_error("writing the extension '%s' on" % name, e, **result)

    def _handler_outcome(self, name, result):
        """Wait for the handler run the write started; its status and message into ``result``, or the failure."""
        after = self._wait_for_handler(name, result)
        props = after.get('properties') or {}
        st = handler_status(after)
        if st:
            result['handler_status'] = st
            if st.get('message'):
                result['message'] = self._scrub(st['message'])
        result['provisioning_state'] = props.get('provisioningState')
        if lower_or_empty(props.get('provisioningState')) != 'succeeded' or (
            st and lower_or_empty(st.get('level')) == 'error'
        ):
            reason = (st or {}).get('message') or 'provisioningState %s, no handler status' % props.get(
                'provisioningState'
            )
            self._fail(
                'the %s handler failed on %s: %s' % (self.handler.label, self.target.display, reason),
                reason_code='handler_failed',
                **result,
            )
        return result

    def _wait_for_handler(self, name, result):
        """Read the extension (with its instance view) until its provisioningState is final; return it."""

        def probe():
            try:
                ext = self.arm.get(
                    self._ext_path(name), params={'$expand': 'instanceView'}, api_version=self.api_version
                )
            except ArmError as e:  # throttling and transient errors were retried by the client: this one is final
                self._arm_error("reading the extension '%s' of" % name, e, **result)
            state = lower_or_empty(((ext or {}).get('properties') or {}).get('provisioningState'))
            return state in FINAL_PROVISIONING_STATES, ext or {}

        # (done, value); indexed, not unpacked: wait_for returns what _confirm.drive returns, which pylint cannot infer
        timeout = self.params.get('wait_timeout') or EXTENSION_WAIT_SECONDS
        outcome = wait_for(probe, timeout, timing=self.timing, sleep=self.sleep, clock=self.clock)
        done, after = outcome[0], outcome[1]
        if not done:
            state = ((after or {}).get('properties') or {}).get('provisioningState')
            last = handler_status(after) or {}
            seen = last.get('message') or last.get('displayStatus') or 'none yet'
            self._fail(
                "the %s extension '%s' on %s was accepted but did not finish within %d seconds (wait_timeout; last "
                "provisioningState %s, handler status '%s'): the handler may still be running (Azure ends a run "
                "after 90 minutes). Look at the extension's status in the portal or with 'az vm extension show'; "
                'running the same task again waits for that run rather than starting another'
                % (self.handler.label, name, self.target.display, timeout, state, seen),
                reason_code='timeout',
                **dict(result, provisioning_state=state, handler_status=last or None),
            )
        return after


# --------------------------------------------------------------------------------------------------------------
# TaskSpec: what the module file and the controller action run

# The shared auth options have ``password`` for ``ad_user`` sign-in; in these modules ``password`` is the VM user's
# password (the extension's key). ad_user is refused together with it, so the two can never be confused (a
# ``module_defaults`` group that sets ad_user + password would otherwise set the VM password to the sign-in one).
MUTUALLY_EXCLUSIVE = [['ad_user', 'password']]


def run_task(handler, ctx, base_dir=None):
    """``TaskSpec.run`` of a profile for one target (``ctx``: a ``_task.RunContext``; the task was validated once,
    by ``validate_task``): the ExtensionRunner. Raises _arm.TaskError on failure. ``ctx.shared``: the task's
    BatchState (TaskSpec ``shared``), or None."""
    params = ctx.params
    secrets = [params.get(k) for k in handler.secret_params if params.get(k)]
    warnings = list(ctx.warnings)
    shared = ctx.shared
    try:
        runner = ExtensionRunner(
            handler,
            ctx.client,
            ctx.target,
            params,
            check_mode=ctx.check_mode,
            warn=warnings.append,
            base_dir=base_dir,
            fingerprints=shared and shared.fingerprints,
            timing=shared and shared.timing,
        )
        result = runner.run()
    except (ExtensionError, ExtensionFailure) as e:
        result = scrub_obj(dict(e.result), secrets)
        if warnings:
            result['warnings'] = [scrub(w, secrets) for w in warnings]
        raise TaskError(scrub(e.msg, secrets), reason_code=e.reason_code, **result)
    except ExtensionSkip as e:  # the read shows the write cannot pass: nothing written, not an error of the run
        result = dict(scrub_obj(dict(e.result), secrets), changed=False, msg=scrub(e.msg, secrets))
        result['outcome'] = outcome('skipped', e.reason_code, result['msg'])
    if warnings:
        result['warnings'] = [scrub(w, secrets) for w in warnings]
    result.setdefault('outcome', success_outcome(result, ctx.check_mode))
    return result


def validate_task(handler, params):
    """Every option of a profile's task checked once, before sign-in and before any call (``TaskSpec.validate``):
    returns the profile's warnings (an expiry date in the past, ...); raises _arm.TaskError naming the option."""
    secrets = [params.get(k) for k in handler.secret_params if params.get(k)]
    if params.get('ad_user'):
        raise TaskError(
            "ad_user is not supported by %s: its password option is the VM user's password. Sign in with "
            'AZURE_AD_USER and AZURE_PASSWORD in the environment, or another credential' % handler.module,
            reason_code='invalid_input',
        )
    timeout = params.get('wait_timeout')
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        raise TaskError(
            'wait_timeout must be a whole number of seconds more than 0 (got %r): how long to wait for the %s '
            "handler's final state" % (timeout, handler.label),
            reason_code='invalid_input',
        )
    try:
        warnings = list(handler.validate(params))
        if (params.get('state') or 'present') == 'present':
            handler.plan(params)  # e.g. ssh_key: read and parsed (no network)
    except ExtensionError as e:
        raise TaskError(scrub(str(e), secrets))
    return warnings


def success_outcome(result, check_mode):
    """The outcome of a target that did not fail: done (changed), pending (check mode: would change) or
    unchanged."""
    if result.get('changed'):
        if check_mode:
            return outcome('pending', 'check_mode', 'would change (check mode)')
        return outcome('done', 'changed', result.get('message') or 'applied')
    return outcome('unchanged', 'unchanged', 'already applied: nothing to change')


def task_spec(handler, argument_spec, name=None):
    """The TaskSpec of a profile (``name``: the module's full name)."""

    def validate(params):
        return validate_task(handler, params)

    return TaskSpec(
        argument_spec,
        lambda ctx: run_task(handler, ctx),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        shared=BatchState,
        validate=validate,
        preflight=handler.write_plan,
        name=name,
    )
