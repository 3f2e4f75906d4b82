# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM-extension engine shared by the VMAccess profiles (VMAccessForLinux, VMAccessAgent) (private).

A *handler profile* (``Handler``) says what is specific to one extension handler: its identity (publisher, type,
default version, the name the Azure CLI gives it), its options and their validation, the payload
(``ExtensionPlan``: public and protected settings) and which protected keys are secrets. Everything else lives
here, once:

* the salted scrypt fingerprint of the whole request, recorded in ``forceUpdateTag`` (ARM never returns
  ``protectedSettings``; a new tag is also what makes the handler run again), and its per-task cache;
* scrubbing of secrets from every message and return value, and diffs with the secrets masked;
* find-or-reuse of the extension by handler type (Azure allows one extension per handler type: an existing one is
  updated under its own name; a "Multiple VMExtensions per handler" refusal means the VM GET did not show it, so
  the extensions are listed and the decision made again);
* the write (``lro=False``) and the read-back confirmation through ``_confirm.wait_for``, paced by the batch's
  ``ConfirmTiming``; ``BatchState`` is what the targets of one task share;
* the handler-failure message, refusal of a VM of the other OS or one that is not running;
* ``run_task``: the TaskSpec ``run`` of a profile.
"""

import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, scrub, scrub_obj
from ansible_collections.vmrescue.azure.plugins.module_utils._vm import (
    CONCURRENCY_ATTEMPTS,
    busy_delay,
    is_busy,
    os_type,
    vm_power_state,
)

# Waiting for the handler: Azure ends an extension run after 90 minutes (the operation then fails), so a run still
# going after that is not coming back on its own.
EXTENSION_WAIT_SECONDS = 5400
FINAL_PROVISIONING_STATES = ('succeeded', 'failed', 'canceled')

# What Ansible itself prints for a no_log value; used wherever a password would otherwise appear.
MASK = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'

# --------------------------------------------------------------------------------------------------------------
# Fingerprint parameters. scrypt (RFC 7914) is memory-hard: each guess costs 128 * r * n bytes = 16 MiB and about
# 50 ms of one CPU core here. Changing any of them needs a new FINGERPRINT_SCHEME so old tags stay verifiable.
FINGERPRINT_SCHEME = 'vmrescue1'
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES = 16
# Length of "vmrescue1$" + 22 chars of salt + "$" + 43 chars of hash. forceUpdateTag is a free-form string; the
# tag stays well under the 256 characters we allow ourselves (checked in fingerprint()).
FINGERPRINT_LENGTH = len(FINGERPRINT_SCHEME) + 1 + 22 + 1 + 43
MAX_TAG_LENGTH = 256


class ExtensionError(VmrescueError):
    """A request the module refuses before (or instead of) any write; the message names the options."""

    reason_code = 'invalid_input'


class ExtensionFailure(VmrescueError):
    """The task fails: ``msg`` (no secret in it), extra return values in ``result``, ``reason_code``."""


# --------------------------------------------------------------------------------------------------------------
# Secrets: scrub() and scrub_obj() live in _errors (one place for every failure path); re-exported here.


def mask_protected(protected, secret_keys):
    """A copy of protectedSettings safe to show: the values of ``secret_keys`` replaced by the no_log mask."""
    out = {}
    for k, v in (protected or {}).items():
        out[k] = MASK if k in secret_keys else v
    return out


# --------------------------------------------------------------------------------------------------------------
# Fingerprint


def canonical_config(
    publisher,
    ext_type,
    settings,
    protected,
    type_handler_version,
    auto_upgrade_minor_version,
    include_password=True,
    secret_keys=('password',),
):
    """The bytes the fingerprint covers: extension identity + public + protected settings, canonical JSON.
    ``include_password=False`` leaves the ``secret_keys`` out (and says so in the document)."""
    prot = dict(protected)
    if not include_password:
        for k in secret_keys:
            prot.pop(k, None)
    doc = {
        'publisher': publisher,
        'type': ext_type,
        'typeHandlerVersion': type_handler_version,
        'autoUpgradeMinorVersion': bool(auto_upgrade_minor_version),
        'settings': settings,
        'protectedSettings': prot,
        'passwordInFingerprint': bool(include_password),
    }
    return json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def _b64(data):
    return base64.urlsafe_b64encode(data).decode('ascii').rstrip('=')


def _unb64(text):
    return base64.urlsafe_b64decode((text + '=' * (-len(text) % 4)).encode('ascii'))


def _scrypt(data, salt):
    return hashlib.scrypt(data, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=SCRYPT_DKLEN)


class FingerprintCache:
    """Per task (one batch): one random salt for the task's writes, and each scrypt computed once per (salt,
    request). A batch sends the same request to every target, so a 1000-VM batch pays one scrypt (about 25-50 ms
    of CPU and 16 MiB) instead of one per VM, both when it writes and when a re-run verifies the tags it wrote.
    Keys are (salt, SHA-256 of the request): the request itself (which holds the secrets) is not kept."""

    def __init__(self):
        self.salt = os.urandom(SALT_BYTES)
        self._lock = threading.Lock()
        self._entries = {}

    def scrypt(self, canonical, salt):
        key = (bytes(salt), hashlib.sha256(canonical).digest())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [threading.Lock(), None]
        with entry[0]:
            if entry[1] is None:
                entry[1] = _scrypt(canonical, salt)
            return entry[1]


class BatchState:
    """What the targets of one task share (the TaskSpec's ``shared`` factory): the fingerprint cache and the
    learned time a handler run takes to show as finished (``_confirm.ConfirmTiming``)."""

    def __init__(self):
        from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming

        self.fingerprints = FingerprintCache()
        self.timing = ConfirmTiming()


def fingerprint(canonical, salt=None, cache=None):
    """Return ``vmrescue1$<salt>$<hash>`` (unpadded URL-safe base64) for the canonical configuration bytes.
    Without ``salt``: the ``cache``'s salt (one per task), else a fresh random one."""
    if salt is None:
        salt = cache.salt if cache is not None else os.urandom(SALT_BYTES)
    digest = cache.scrypt(canonical, salt) if cache is not None else _scrypt(canonical, salt)
    tag = '%s$%s$%s' % (FINGERPRINT_SCHEME, _b64(salt), _b64(digest))
    if len(tag) > MAX_TAG_LENGTH:  # pragma: no cover - fixed by the parameters above
        raise ExtensionError('internal error: fingerprint longer than %d characters' % MAX_TAG_LENGTH)
    return tag


def fingerprint_matches(tag, canonical, cache=None):
    """True when ``tag`` is one of our fingerprints and was computed over exactly ``canonical``."""
    if not isinstance(tag, str):
        return False
    parts = tag.split('$')
    if len(parts) != 3 or parts[0] != FINGERPRINT_SCHEME:
        return False
    try:
        salt = _unb64(parts[1])
        expected = _unb64(parts[2])
    except (binascii.Error, ValueError):
        return False
    if len(salt) != SALT_BYTES or len(expected) != SCRYPT_DKLEN:
        return False
    digest = cache.scrypt(canonical, salt) if cache is not None else _scrypt(canonical, salt)
    return hmac.compare_digest(digest, expected)


# --------------------------------------------------------------------------------------------------------------
# Reading what ARM returns


def _lower(v):
    return (v or '').lower() if isinstance(v, str) else ''


def is_extension(ext, publisher, ext_type):
    props = (ext or {}).get('properties') or {}
    return _lower(props.get('publisher')) == publisher.lower() and _lower(props.get('type')) == ext_type.lower()


def extension_name(ext):
    name = (ext or {}).get('name') or ''
    # The VM GET lists extensions by name; a full id may also be there.
    if not name and ext and ext.get('id'):
        name = ext['id'].rstrip('/').split('/')[-1]
    return name.split('/')[-1]


def _status_fields(st):
    return dict((k, st.get(k)) for k in ('code', 'level', 'displayStatus', 'message', 'time') if st.get(k) is not None)


def handler_status(ext):
    """The first status of the extension's instance view: {code, level, displayStatus, message} or None."""
    props = (ext or {}).get('properties') or {}
    iv = props.get('instanceView') or {}
    statuses = iv.get('statuses') or []
    if not statuses:
        return None
    return _status_fields(statuses[0])


def instance_view_extension_status(vm, name):
    """Status of extension ``name`` from the VM instance view (``instanceView.extensions[]``), or None."""
    props = (vm or {}).get('properties') or {}
    iv = props.get('instanceView') or {}
    for ext in iv.get('extensions') or []:
        if (ext.get('name') or '').lower() == (name or '').lower():
            statuses = ext.get('statuses') or []
            if statuses:
                return _status_fields(statuses[0])
    return None


def last_run_succeeded(ext, status=None):
    """True when ARM says the extension is provisioned and the handler did not report an error."""
    props = (ext or {}).get('properties') or {}
    if _lower(props.get('provisioningState')) != 'succeeded':
        return False
    status = status or handler_status(ext)
    if status:
        if _lower(status.get('level')) == 'error':
            return False
        code = _lower(status.get('code'))
        if code and 'failed' in code:
            return False
    return True


def visible(ext):
    """The parts of an existing extension ARM shows (for diff 'before')."""
    if not ext:
        return {}
    props = ext.get('properties') or {}
    out = {'name': extension_name(ext)}
    for k in ('publisher', 'type', 'typeHandlerVersion', 'autoUpgradeMinorVersion', 'settings', 'provisioningState'):
        if k in props:
            out[k] = props[k]
    out['protectedSettings'] = '(never returned by Azure)'
    return out


# --------------------------------------------------------------------------------------------------------------
# Handler profile and the request


class Handler:
    """One extension handler. Subclasses set the identity and implement ``validate`` and ``plan``."""

    publisher = None
    type = None
    default_type_handler_version = None
    # The name the Azure CLI and the portal use (azure-cli vm/custom.py: _ACCESS_EXT_HANDLER_NAME = 'enablevmaccess').
    default_extension_name = 'enablevmaccess'
    module = None  # the module name, for messages
    os = None  # 'linux' or 'windows': the OS the handler runs on
    secret_params = ('password',)  # options whose values are secrets
    secret_keys = ('password',)  # protectedSettings keys whose values are secrets

    @property
    def label(self):
        return self.type

    def is_own(self, ext):
        return is_extension(ext, self.publisher, self.type)

    def validate(self, params):  # pragma: no cover - abstract
        """Raise ExtensionError (option names in the message); return a list of warnings. No network."""
        raise NotImplementedError

    def plan(self, params, base_dir=None):  # pragma: no cover - abstract
        """The ExtensionPlan for ``params`` (already validated); may read controller files (base_dir)."""
        raise NotImplementedError

    def wrong_os_message(self, display):  # pragma: no cover - abstract
        raise NotImplementedError

    def present_warnings(self, display, extensions, plan):
        """Warnings to give before the handler runs, from the VM's other extensions."""
        return []


class ExtensionPlan:
    """What to send for one target: settings, protected settings, fingerprint input. No network."""

    def __init__(self, handler, params, settings, protected):
        self.handler = handler
        self.params = params
        self.settings, self.protected = settings, protected
        self.type_handler_version = params.get('type_handler_version') or handler.default_type_handler_version
        auto = params.get('auto_upgrade_minor_version')
        self.auto_upgrade_minor_version = True if auto is None else bool(auto)
        fp = params.get('fingerprint_password')
        self.include_password = True if fp is None else bool(fp)
        self.canonical = canonical_config(
            handler.publisher,
            handler.type,
            self.settings,
            self.protected,
            self.type_handler_version,
            self.auto_upgrade_minor_version,
            self.include_password,
            handler.secret_keys,
        )
        self.secrets = [self.protected[k] for k in handler.secret_keys if self.protected.get(k)]

    def properties(self, settings, protected, force_update_tag=None):
        props = {
            'publisher': self.handler.publisher,
            'type': self.handler.type,
            'typeHandlerVersion': self.type_handler_version,
            'autoUpgradeMinorVersion': bool(self.auto_upgrade_minor_version),
            'settings': settings,
            'protectedSettings': protected,
        }
        if force_update_tag is not None:
            props['forceUpdateTag'] = force_update_tag
        return props

    def matches(self, existing_ext, cache=None):
        tag = ((existing_ext or {}).get('properties') or {}).get('forceUpdateTag')
        return fingerprint_matches(tag, self.canonical, cache)

    def body(self, location, force_update_tag):
        props = self.properties(self.settings, self.protected, force_update_tag)
        if location:
            return {'location': location, 'properties': props}
        return {'properties': props}

    def shown(self, name=None):
        """What would be sent, secrets masked: for diff and return values."""
        props = self.properties(copy.deepcopy(self.settings), mask_protected(self.protected, self.handler.secret_keys))
        if name:
            props = dict(name=name, **props)
        return props


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
        if api_version is None:
            from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION as api_version
        self.api_version = api_version
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
        self._fail(
            '%s %s failed: %s' % (what, self.target.display, _error_text(err)), reason_code=err.reason_code, **result
        )

    # -- reads ---------------------------------------------------------------------------------------------
    def _read_vm(self):
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        try:
            return self.arm.get(self.target.path, params={'$expand': 'instanceView'}, api_version=self.api_version)
        except ArmError as e:
            self._arm_error('reading', e)

    def _list_extensions(self, vm, always=False):
        """The VM's extensions. The VM GET has them in ``resources`` (full objects); Resource Manager leaves
        ``resources`` out when the VM has none, so that costs no read. Only ID stubs (scale-set instances), or
        ``always``, make a list call."""
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

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
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        try:
            return self.arm.get(
                self._ext_path(name), params={'$expand': 'instanceView'}, api_version=self.api_version, missing_ok=True
            )
        except ArmError as e:
            self._arm_error("reading the extension '%s' of" % name, e)

    def _ext_path(self, name):
        try:
            from urllib.parse import quote
        except ImportError:  # pragma: no cover
            from urllib import quote
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
        result['changed'] = True
        result['diff'] = dict(before=visible(current), after={})
        if self.check_mode:
            return result
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        try:
            self.arm.delete(self._ext_path(name), api_version=self.api_version)
        except ArmError as e:
            self._arm_error("removing the extension '%s' from" % name, e, **result)
        return result

    def _present(self, vm, current, name, extensions):
        plan = self.plan
        status = None
        if (
            current is not None
            and plan.matches(current, self.fingerprints)
            and _lower((current.get('properties') or {}).get('provisioningState')) not in FINAL_PROVISIONING_STATES
        ):
            # This very request is still running on the VM (a run that was cancelled or lost its result after Azure
            # accepted it): wait for its outcome rather than run the handler a second time.
            current = self._wait_for_handler(name, {})
            props = dict(vm.get('properties') or {})
            props['instanceView'] = dict(props.get('instanceView') or {}, extensions=[])  # statuses before the wait
            vm = dict(vm, properties=props)
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
        if matched and not self.params.get('force'):
            return result

        self._check_running(vm, name)
        result['changed'] = True
        result['diff'] = dict(before=visible(current), after=plan.shown(name))
        for k in ('handler_status', 'message', 'provisioning_state'):
            result.pop(k, None)
        for w in self.handler.present_warnings(self.target.display, extensions, plan):
            self._warn(w)
        if self.check_mode:
            return result

        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        body = plan.body(vm.get('location'), fingerprint(plan.canonical, cache=self.fingerprints))
        attempt = 0
        while True:
            attempt += 1
            try:
                # lro=False: no operation-status polls and no final GET; the handler's outcome is read from the
                # extension itself (_wait_for_handler), which is also where its message is.
                self.arm.put(self._ext_path(name), body, api_version=self.api_version, lro=False)
                break
            except ArmError as e:
                if current is None and not self._listed and _is_duplicate_handler(e):
                    raise _UnseenHandler()
                if is_busy(e) and attempt < CONCURRENCY_ATTEMPTS:
                    # another operation runs on the VM (409): the same PUT succeeds once it is done, as the key
                    # reset's write path does (_vm.update)
                    self.sleep(busy_delay(attempt))
                    continue
                self._arm_error("writing the extension '%s' on" % name, e, **result)

        after = self._wait_for_handler(name, result)
        props = after.get('properties') or {}
        st = handler_status(after)
        if st:
            result['handler_status'] = st
            if st.get('message'):
                result['message'] = self._scrub(st['message'])
        result['provisioning_state'] = props.get('provisioningState')
        if _lower(props.get('provisioningState')) != 'succeeded' or (st and _lower(st.get('level')) == 'error'):
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
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
        from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import wait_for

        def probe():
            try:
                ext = self.arm.get(
                    self._ext_path(name), params={'$expand': 'instanceView'}, api_version=self.api_version
                )
            except ArmError as e:  # throttling and transient errors were retried by the client: this one is final
                self._arm_error("reading the extension '%s' of" % name, e, **result)
            state = _lower(((ext or {}).get('properties') or {}).get('provisioningState'))
            return state in FINAL_PROVISIONING_STATES, ext or {}

        # (done, value); indexed, not unpacked: wait_for returns what _confirm.drive returns, which pylint cannot infer
        outcome = wait_for(probe, EXTENSION_WAIT_SECONDS, timing=self.timing, sleep=self.sleep, clock=self.clock)
        done, after = outcome[0], outcome[1]
        if not done:
            state = ((after or {}).get('properties') or {}).get('provisioningState')
            self._fail(
                "the %s extension '%s' on %s was accepted but did not finish within %d seconds "
                "(provisioningState %s); Azure ends a handler run after 90 minutes: look at the extension's status "
                "in the portal or with 'az vm extension show', then run the task again"
                % (self.handler.label, name, self.target.display, EXTENSION_WAIT_SECONDS, state),
                reason_code='timeout',
                **dict(result, provisioning_state=state),
            )
        return after


# --------------------------------------------------------------------------------------------------------------
# TaskSpec: what the module file and the controller action run

# The shared auth options have ``password`` for ``ad_user`` sign-in; in these modules ``password`` is the VM user's
# password (the extension's key). ad_user is refused together with it, so the two can never be confused (a
# ``module_defaults`` group that sets ad_user + password would otherwise set the VM password to the sign-in one).
MUTUALLY_EXCLUSIVE = [['ad_user', 'password']]


def run_task(handler, client, target, params, check_mode=False, diff=False, shared=None, base_dir=None):
    """TaskSpec.run of a profile: validate (no network), then ExtensionRunner. Raises _arm.TaskError on failure.
    ``shared``: the task's BatchState (TaskSpec ``shared``), or None."""
    from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError

    secrets = [params.get(k) for k in handler.secret_params if params.get(k)]
    warnings = []
    if params.get('ad_user'):
        raise TaskError(
            "ad_user is not supported by %s: its password option is the VM user's password. Sign in with "
            'AZURE_AD_USER and AZURE_PASSWORD in the environment, or another credential' % handler.module,
            reason_code='invalid_input',
        )
    try:
        warnings.extend(handler.validate(params))
        runner = ExtensionRunner(
            handler,
            client,
            target,
            params,
            check_mode=check_mode,
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
    if warnings:
        result['warnings'] = [scrub(w, secrets) for w in warnings]
    if not diff:
        result.pop('diff', None)
    result['outcome'] = success_outcome(result, check_mode)
    return result


def success_outcome(result, check_mode):
    """The outcome of a target that did not fail: done (changed), pending (check mode: would change) or
    unchanged."""
    from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome

    if result.get('changed'):
        if check_mode:
            return outcome('pending', 'check_mode', 'would change (check mode)')
        return outcome('done', 'changed', result.get('message') or 'applied')
    return outcome('unchanged', 'unchanged', 'already applied: nothing to change')


def task_spec(handler, argument_spec):
    """The TaskSpec of a profile (imported lazily so nothing loads AnsibleModule before it is needed)."""
    from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

    def run(client, target, params, check_mode=False, diff=False, shared=None):
        return run_task(handler, client, target, params, check_mode=check_mode, diff=diff, shared=shared)

    def validate(params):
        """Every option checked once, before sign-in and before any call (the action runs it on the raw task)."""
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError

        secrets = [params.get(k) for k in handler.secret_params if params.get(k)]
        try:
            handler.validate(params)
            if (params.get('state') or 'present') == 'present':
                handler.plan(params)  # e.g. ssh_key: read and parsed (no network)
        except ExtensionError as e:
            raise TaskError(scrub(str(e), secrets))

    return TaskSpec(argument_spec, run, mutually_exclusive=MUTUALLY_EXCLUSIVE, shared=BatchState, validate=validate)
