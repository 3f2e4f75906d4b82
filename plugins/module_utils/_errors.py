# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's error base, secret scrubbing and per-target outcome (private: may change without notice).

One place for three things every failure path needs:

- ``VmrescueError(msg, **result)``: base of every error the collection raises for the user (``_arm.ArmError``,
  ``_arm.TaskError``, ``_auth.errors.AuthError``, ``_target.TargetError``, the extension engine's errors). ``msg``
  is the final user-facing message; ``result`` holds extra result keys; ``reason_code`` is the stable code of the
  ``outcome``; ``to_result(secrets=())`` -> a failed result dict (``failed``, ``changed: false``, ``msg``, the
  extra keys, ``outcome``) with every secret value scrubbed from the message and the fields.
- ``scrub(text, secrets)``, ``scrub_obj(obj, secrets)``: every occurrence of a secret value replaced by
  ``********``; ``secret_values(params, no_log_values=())``: the values to scrub for a task (its ``no_log`` option
  values, the options in ``SECRET_TASK_OPTIONS``, and anything that holds a private key, such as a private key
  given by mistake as ``ssh_key``). ``holds_secret(obj, secrets)``: whether any string or number inside ``obj``
  holds one of them (a cheap check before a costly masking pass).
  ``looks_like_private_key(text)``.
- ``outcome(status, reason_code, reason='')`` -> ``{status, reason_code, reason}``; ``STATUSES``;
  ``outcome_of(result)``: the outcome a result has, or the one derived from its ``failed``/``changed``.

Outcome statuses: ``done`` (this run changed what was asked and it is confirmed), ``pending`` (accepted, not yet
confirmed), ``unchanged`` (already as asked: nothing written), ``skipped`` (deliberately left alone: wrong OS,
not enabled, not running, check mode that found nothing to do), ``failed``. Reason codes are stable snake_case
words (see ``REASON_CODES``); summaries and roles branch on them, never on message text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = '********'
# Task options whose every value is a secret whatever the module (run_command: protected parameters, the run-as
# password, the blob URIs with their SAS): ``secret_values`` scrubs them from every result and error.
SECRET_TASK_OPTIONS = ('protected_parameters', 'run_as_password', 'output_blob_uri', 'error_blob_uri')

STATUSES = ('done', 'pending', 'unchanged', 'skipped', 'failed')

# Stable codes (add, never rename): what the roles' summaries branch on.
REASON_CODES = (
    # success and no-op
    'changed',
    'unchanged',
    'check_mode',
    'latched',
    'pending_confirmation',
    # target state
    'not_found',
    'wrong_os',
    'deallocated',
    'not_running',
    'msp_not_enabled',
    'no_agent',
    'agent_unhealthy',
    'key_not_latched',
    'custom_storage',
    # Azure and the network
    'timeout',
    'throttled',
    'conflict',
    'forbidden',
    'auth_failed',
    'connection_error',
    'arm_error',
    'provisioning_failed',
    'handler_failed',
    # run_command
    'script_failed',
    'script_timed_out',
    'in_progress',
    'not_ours',
    # refusals no retry can pass (Azure's own errors, or the VM's model and instance view read before a write)
    'scope_locked',
    'policy_denied',
    'rbac_missing',
    'extensions_disabled',
    'agent_not_ready',
    'extension_failed',
    'platform_unavailable',
    # boot triage: reading a VM's serial log (boot diagnostics)
    'boot_diagnostics_off',
    'boot_log_unreadable',
    # the task's input
    'invalid_input',
    'invalid_target',
    # endpoint modes (proxy_agent_settings)
    'confirmed',
    'confirm_timeout',
    'in_state',
    'no_record',
    'bad_record',
    'record_too_long',
    'too_many_tags',
    'linux_only',
    'msp_disabled',
    'not_waited',
    'update_failed',
    'written_by_another_run',
    # records on VMs (issue 26): claims, checked before acting on them
    'record_untrusted',
    'record_mismatch',
    'weaker_restore_refused',
    'record_contradicted',
    # offline rescue (issue 23)
    'vm_boots',
    'no_rescue',
    'unsupported_disk',
    'rescue_vm_unusable',
    'rescue_vm_full',
    'unlock_failed',
    'repair_failed',
    'nothing_repaired',
    'not_booted',
    # platform remedies (issue 24: vm_remedy, the recovery_ladder role)
    'recovered',
    'not_recovered',
    'held',
    'disruptive_refused',
    # anything else
    'internal_error',
    'error',
)


def outcome(status: str, reason_code: str, reason: str = '') -> dict:
    """The per-target outcome: ``status`` (one of STATUSES), ``reason_code`` (snake_case), ``reason`` (text)."""
    if status not in STATUSES:
        raise ValueError('outcome status %r is not one of %s' % (status, ', '.join(STATUSES)))
    return dict(status=status, reason_code=reason_code, reason=reason or '')


def outcome_of(result: Mapping) -> dict:
    """The result's ``outcome``, or the one its ``failed``/``changed``/``skipped`` imply (for results built
    before outcomes existed)."""
    found = (result or {}).get('outcome')
    if isinstance(found, dict) and found.get('status') in STATUSES:
        return found
    result = result or {}
    msg = str(result.get('msg') or '')
    if result.get('failed'):
        return outcome('failed', 'error', msg)
    if result.get('skipped'):
        return outcome('skipped', 'skipped', msg)
    if result.get('changed'):
        return outcome('done', 'changed', msg)
    return outcome('unchanged', 'unchanged', msg)


def looks_like_private_key(text: object) -> bool:
    return isinstance(text, str) and 'PRIVATE KEY' in text


def secret_values(params: Mapping, no_log_values: Iterable = ()) -> set:
    """The values to scrub for a task: ``no_log_values``, the task options that are always secret
    (``SECRET_TASK_OPTIONS``: each string in them, and a URI's SAS query) and every string option that holds a
    private key."""
    out = set(v for v in no_log_values if v)
    for name in SECRET_TASK_OPTIONS:
        out.update(_secret_strings((params or {}).get(name)))
    for value in (params or {}).values():
        if looks_like_private_key(value):
            out.add(value)
            # a key pasted with other line endings or indentation: scrub each line of its body too
            out.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    return out


def _secret_strings(value: Any) -> set:
    """Each secret string in an option's value (a dict's values, a list's items); a URI's SAS query too."""
    if isinstance(value, Mapping):
        return set().union(*(_secret_strings(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_secret_strings(v) for v in value)) if value else set()
    if value is None or isinstance(value, bool) or str(value) == '':
        return set()
    text = str(value)
    found = {text}
    if text.startswith('https://') and '?' in text and len(text.split('?', 1)[1]) >= 8:
        found.add(text.split('?', 1)[1])
    return found


def scrub(text: str, secrets: Iterable) -> str:
    """Replace every occurrence of a secret value in ``text`` by ``********`` (longest first)."""
    if text is None:
        return text
    text = str(text)
    for s in sorted((str(s) for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


def scrub_obj(obj: Any, secrets: Iterable) -> Any:
    """scrub() every string (keys too) inside dicts, lists and tuples."""
    if isinstance(obj, dict):
        return dict((scrub(k, secrets) if isinstance(k, str) else k, scrub_obj(val, secrets)) for k, val in obj.items())
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(val, secrets) for val in obj]
    if isinstance(obj, str):
        return scrub(obj, secrets)
    return obj


def holds_secret(obj: Any, secrets: Iterable) -> bool:
    """Whether a string or number (not a bool) inside dicts, lists and tuples (values, not keys) holds a secret value:
    what ansible-core's ``remove_values`` would mask. Iterative: a batch's results are thousands of nested dicts."""
    wanted = [str(x) for x in secrets if x not in (None, '')]
    if not wanted:
        return False
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = value if isinstance(value, str) else str(value)
            if any(w in text for w in wanted):
                return True
        elif isinstance(value, bytes) and any(w.encode('utf-8', 'surrogateescape') in value for w in wanted):
            return True
    return False


class VmrescueError(Exception):
    """Base of the collection's errors: a user-facing ``msg`` and extra result fields (``result``).

    Subclasses set ``reason_code`` (or pass ``reason_code=`` / compute it) for the failed ``outcome``.
    """

    reason_code = 'error'

    def __init__(self, msg='', reason_code=None, **result):
        super().__init__(msg)
        self._msg = msg
        self.result = result
        if reason_code:
            self.reason_code = reason_code

    @property
    def msg(self):
        return self._msg

    @msg.setter
    def msg(self, value):
        self._msg = value

    def __str__(self):
        return str(self.msg)

    def to_result(self, secrets=()):
        """A failed result: ``changed: false``, the extra fields, ``failed``, ``msg`` and ``outcome``, scrubbed."""
        out = dict(changed=False)
        out.update(self.result)
        msg = scrub(self.msg, secrets)
        out.update(failed=True, msg=msg)
        out['outcome'] = outcome('failed', self.reason_code, msg)
        return scrub_obj(out, secrets)
