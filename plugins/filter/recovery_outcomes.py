# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: recovery_outcomes
short_description: Each host's outcome from the result of a recovery role's batch task
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Used by the C(proxy_agent_key_recovery) and C(linux_access_recovery) roles, once (C(run_once)), to turn the
    results of their batch into one small entry per host, from either the registered result of a batch task (one result
    per target, in the order of the targets), or the list of each host's own result
    (M(vmrescue.azure.batch_result)), in the order of O(hosts).
  - Each entry is a dict with C(outcome) (a dict with C(host), C(status), C(reason) and C(reason_code); C(status) is
    one of V(changed), V(already_fine), V(skipped), V(failed)), C(changed) (the module's own change flag for that
    host) and C(result) (the module's result for that host).
  - What a host's result means is read from the module's C(outcome.reason_code) (for example V(wrong_os),
    V(deallocated), V(msp_not_enabled)) and its fields, never from message text. C(reason_code) is the module's
    code, V(pending_confirmation) for a key reset pending from an earlier run, else derived from C(status).
  - A host without a result (the batch task failed as a whole) is failed with the batch task's message.
options:
  _input:
    description:
      - The registered result of the batch task (its C(results) list is in the order of O(hosts)), or a list with
        each host's own result in the order of O(hosts) (a V(null) entry is a host without a result, left out), or
        C(hostvars) with O(result_var).
    type: raw
    required: true
  hosts:
    description: The inventory hostnames the batch task worked on, in the order of its targets.
    type: list
    elements: str
    required: true
  role:
    description: Which role's rules to apply.
    type: str
    choices: [proxy_agent_key_recovery, linux_access_recovery, windows_access_recovery]
    required: true
  mode:
    description: The C(proxy_agent_key_recovery_mode) (V(unhealthy), V(all), V(incarnation)); proxy_agent_key_recovery only.
    type: str
  windows:
    description:
      - Hosts that were not sent to the batch task because their host vars say they run Windows; they are skipped
        with that reason. The access roles only (for windows_access_recovery, the Linux hosts). With a list of
        per-host results, a skipped result (the role does not report the hosts of the other OS) is such a host too.
    type: list
    elements: str
  result_var:
    description:
      - With C(hostvars) as the input, the name of the variable that holds each host's own result (the registered
        result of M(vmrescue.azure.batch_result)); a host without it is left out.
    type: str
  break_glass_var:
    description:
      - proxy_agent_key_recovery only, with O(result_var). The name of the variable that holds, on each host, a dict
        host -> the M(vmrescue.azure.proxy_agent_settings) result of the break-glass switch to Audit (the role's
        C(proxy_agent_key_recovery_break_glass)). A host found there gets C(break_glass) in its entry (C(status)
        C(audit) when the switch was written, C(failed) when it was not, and C(reason)), and its reason says so.
    type: str
  proof_var:
    description:
      - With O(result_var), the name of the variable that holds each host's SSH proof (see O(proofs)).
    type: str
  proofs:
    description:
      - linux_access_recovery only. A list in the order of O(hosts) with each host's SSH proof (a dict with C(ok) and
        C(msg)) or V(null) where none was made. A failed proof fails the host.
    type: list
    elements: raw
"""

EXAMPLES = r"""
- name: Compute the outcome of every host once, from each host's own result (vmrescue.azure.batch_result)
  ansible.builtin.set_fact:
    proxy_agent_key_recovery_outcomes: >-
      {{ hostvars | vmrescue.azure.recovery_outcomes(ansible_play_hosts_all, role='proxy_agent_key_recovery',
                                                     mode=proxy_agent_key_recovery_mode,
                                                     result_var='proxy_agent_key_recovery_result') }}
  run_once: true
"""

RETURN = r"""
_value:
  description: A dict host -> entry (see the description).
  type: dict
"""


from collections.abc import Mapping  # controller-side plugin: Python 3 only

from ansible.errors import AnsibleFilterError

WINDOWS_REASON = 'Windows VM: VMAccessForLinux does not apply (use the VMAccessAgent extension)'
LINUX_REASON = 'Linux VM: VMAccessAgent does not apply (use the VMAccessForLinux extension)'
# The access roles: the skip reason of a host of the other OS (the module's outcome reason_code wrong_os)
OTHER_OS = {
    'linux_access_recovery': ('wrong_os', WINDOWS_REASON),
    'windows_access_recovery': ('wrong_os', LINUX_REASON),
}

# Module outcome reason codes that make a failed target a skipped host (not an error of the run)
SKIP_CODES = ('wrong_os', 'msp_not_enabled', 'deallocated', 'not_running')


def _reason_code(res):
    """The module's ``outcome.reason_code`` for this target ('' when the result has no outcome)."""
    found = res.get('outcome')
    return _text(found.get('reason_code')) if isinstance(found, Mapping) else ''


def _text(value):
    return '' if value is None else str(value)


def _failed(res):
    # vmrescue.azure.batch_result with fail_on_failure=false reports the target's failure as failed_target
    return bool(res.get('failed') or res.get('failed_target'))


def _proxy_agent_key(host, res, mode):
    """(status, reason, reason_code or None: the module's own)."""
    code = None
    failed = _failed(res)
    changed = bool(res.get('changed'))
    health = res.get('health')
    verdict = _text(health.get('verdict')) if isinstance(health, Mapping) else 'not read'
    # A failure that is a reason to skip the host, not an error: no proxy agent, or a VM that is not running.
    power_state = res.get('power_state') or 'running'
    module_code = _reason_code(res)
    if module_code in ('deallocated', 'not_running') and power_state == 'running':
        power_state = 'deallocated' if module_code == 'deallocated' else 'not running'
    if module_code == 'msp_not_enabled' or not res.get('proxy_agent_enabled', True):
        skip_reason = 'the Guest Proxy Agent is not enabled on this VM: there is no key to reset'
    elif power_state != 'running' and not res.get('changed', False):
        skip_reason = (
            'the VM is %s: a new key cannot be confirmed until it runs;'
            ' not reset (start it, or set proxy_agent_key_recovery_wait=false to only raise the model value)'
            % _text(power_state)
        )
    else:
        skip_reason = ''
    if failed:
        status = 'skipped' if skip_reason else 'failed'
        reason = skip_reason or _text(res.get('msg')) or 'unknown error'
    elif changed:
        status = 'changed'
        reason = 'key incarnation %s -> %s%s' % (
            _text(res.get('previous_key_incarnation_id')),
            _text(res.get('key_incarnation_id')),
            ', would reset (check mode)'
            if res.get('check_mode')
            else ', confirmed'
            if res.get('confirmed')
            else ', not confirmed (wait: false)',
        )
    elif mode == 'incarnation':
        status = 'already_fine'
        reason = 'key incarnation already %s (key health: %s)' % (_text(res.get('key_incarnation_id')), verdict)
    elif verdict == 'healthy':
        status = 'already_fine'
        reason = 'key healthy, incarnation %s' % _text(res.get('key_incarnation_id'))
    elif verdict == 'pending':
        status, code = 'skipped', 'pending_confirmation'
        reason = (
            'a key reset is pending since %s: %s; not raised again (re-run later to see it latched, or set '
            'proxy_agent_key_recovery_reset_unknown=true to raise it anyway)'
            % (
                _text(res.get('pending_since') or health.get('pending_since')) or 'an unknown time',
                _text(health.get('reason')),
            )
        )
    else:
        status = 'skipped'
        reason = 'key health %s: %s; not reset%s' % (
            verdict,
            _text((health if isinstance(health, Mapping) else {}).get('reason')),
            ' (set proxy_agent_key_recovery_reset_unknown=true to reset)' if verdict == 'unknown' else '',
        )
    return status, reason, code


def _linux_access(host, res, role='linux_access_recovery'):
    failed = _failed(res)
    changed = bool(res.get('changed'))
    power_state = res.get('power_state') or 'running'
    other_os_code, other_os_reason = OTHER_OS[role]
    code = _reason_code(res)
    if code == other_os_code:
        skip_reason = other_os_reason
    elif power_state != 'running' or code in ('deallocated', 'not_running'):
        skip_reason = 'VM not running (power state %s): start it and re-run' % _text(power_state)
    else:
        skip_reason = ''
    if failed:
        status = 'skipped' if skip_reason else 'failed'
        reason = skip_reason or _text(res.get('msg')) or 'unknown error'
    elif changed:
        status = 'changed'
        reason = _vmaccess_change(res)
    else:
        status = 'already_fine'
        reason = 'already applied (the same request succeeded last time)'
    return status, reason


def _vmaccess_change(res):
    """What a VMAccessForLinux run changed, from the extension settings it sent (the password is only named)."""
    ext = res.get('extension')
    if not isinstance(ext, Mapping):
        # state=absent returns no extension; a result without either keeps the handler's message
        what = (
            'VMAccessForLinux extension %s removed' % _text(res.get('extension_name'))
            if res.get('extension_name')
            else _text(res.get('message')) or 'done'
        )
    else:
        props = ext.get('properties') if isinstance(ext.get('properties'), Mapping) else ext
        settings = props.get('settings') if isinstance(props.get('settings'), Mapping) else {}
        protected = props.get('protectedSettings') if isinstance(props.get('protectedSettings'), Mapping) else {}
        parts = []
        user = protected.get('username')
        if user:
            creds = [n for k, n in (('ssh_key', 'SSH key'), ('password', 'password')) if protected.get(k)]
            parts.append(
                'user %s: %s set%s%s'
                % (
                    _text(user),
                    ' and '.join(creds) or 'account',
                    ' (other keys removed)' if protected.get('remove_prior_keys') else '',
                    ', sudo without password' if protected.get('enable_passwordless_access') else '',
                )
            )
        for key, text in (
            ('remove_user', 'user %s removed'),
            ('reset_ssh', 'sshd_config reset'),
            ('restore_backup_ssh', 'sshd_config restored from its backup'),
            ('check_disk', 'disks checked'),
            ('repair_disk', 'disk %s repaired'),
        ):
            value = protected.get(key, settings.get(key))
            if value:
                arg = settings.get('disk_name') if key == 'repair_disk' else value
                parts.append(text % _text(arg) if '%s' in text else text)
        what = ', '.join(parts) or _text(res.get('message')) or 'done'
    return ('would apply: ' + what) if res.get('check_mode') else what


def _status_code(status):
    return {'changed': 'changed', 'already_fine': 'unchanged', 'skipped': 'skipped'}.get(status, 'error')


def _host_var(hostvars, host, name):
    """``hostvars[host][name]`` or None (HostVarsVars has no working ``default`` in a Jinja map on 2.19)."""
    try:
        value = hostvars[host][name]
    except Exception:  # pylint: disable=broad-except  # KeyError, AnsibleUndefinedVariable, ...
        return None
    return None if value is None or type(value).__name__.endswith('Undefined') else value


def _break_glass(res):
    """(status, reason) of a host's break-glass switch from its proxy_agent_settings result."""
    outcome = res.get('outcome') if isinstance(res.get('outcome'), Mapping) else {}
    written = bool(res.get('changed')) or outcome.get('status') in ('done', 'unchanged', 'pending')
    if res.get('failed') and not res.get('changed'):
        return 'failed', 'break-glass switch to Audit failed: %s' % (_text(res.get('msg')) or 'unknown error')
    if not written:
        return 'failed', 'break-glass switch to Audit not made'
    after = res.get('after') if isinstance(res.get('after'), Mapping) else {}
    modes = ', '.join(
        '%s %s' % (name, _text((after.get(key) or {}).get('mode')))
        for key, name in (('wire_server', 'WireServer'), ('imds', 'IMDS'))
        if isinstance(after.get(key), Mapping)
    )
    state = (
        'confirmed by the guest'
        if res.get('confirmed')
        else 'not confirmed by the guest (%s)' % _text(outcome.get('reason') or outcome.get('reason_code'))
    )
    return 'audit', 'in break-glass now (%s), %s; restore with vmrescue.azure.restore_proxy_agent_settings' % (
        modes,
        state,
    )


def recovery_outcomes(
    batch, hosts, role, mode=None, windows=None, proofs=None, result_var=None, proof_var=None, break_glass_var=None
):
    if role not in ('proxy_agent_key_recovery', 'linux_access_recovery', 'windows_access_recovery'):
        raise AnsibleFilterError('recovery_outcomes: unknown role %r' % (role,))
    hosts = list(hosts or [])
    break_glass = {}
    if result_var and break_glass_var:
        for h in hosts:
            by_host = _host_var(batch, h, break_glass_var)
            if isinstance(by_host, Mapping) and isinstance(by_host.get(h), Mapping):
                break_glass[h] = by_host[h]
    if result_var:  # _input is hostvars: each host's own result is its variable result_var
        hostvars = batch
        batch = [_host_var(hostvars, h, result_var) for h in hosts]
        if proof_var:
            proofs = [_host_var(hostvars, h, proof_var) for h in hosts]
    if isinstance(batch, Mapping):
        results = batch.get('results') or []
        missing = {'changed': False, 'failed': True, 'msg': batch.get('msg', 'the batch task returned no result')}
        per_host = [results[i] if i < len(results) else missing for i in range(len(hosts))]
    elif isinstance(batch, (list, tuple)):
        missing = {'changed': False, 'failed': True, 'msg': 'no result'}
        per_host = [batch[i] if i < len(batch) else None for i in range(len(hosts))]
    else:
        raise AnsibleFilterError(
            'recovery_outcomes: expected a batch result (dict) or a list of results, got %s' % type(batch).__name__
        )
    windows = list(windows or [])
    proofs = list(proofs or [])
    other_os_reason = OTHER_OS.get(role, (None, WINDOWS_REASON))[1]
    out = {}
    for host in windows:
        if host not in hosts:  # not sent to the batch (the batch task form): reported first, as skipped
            out[host] = {
                'outcome': {'host': host, 'status': 'skipped', 'reason': other_os_reason, 'reason_code': 'wrong_os'},
                'changed': False,
                'result': {},
            }
    for index, host in enumerate(hosts):
        if host in windows:
            out[host] = {
                'outcome': {'host': host, 'status': 'skipped', 'reason': other_os_reason, 'reason_code': 'wrong_os'},
                'changed': False,
                'result': {},
            }
            continue
        res = per_host[index]
        if res is None:
            continue  # not part of this run (no result recorded)
        res = res if isinstance(res, Mapping) else missing
        if res.get('skipped') and not res.get('failed_target'):
            if role in OTHER_OS:  # an access role reports only the hosts of its OS: skipped = the other OS
                out[host] = {
                    'outcome': {
                        'host': host,
                        'status': 'skipped',
                        'reason': other_os_reason,
                        'reason_code': 'wrong_os',
                    },
                    'changed': False,
                    'result': {},
                }
            continue  # its reporting task was skipped: nothing was done for it
        if role == 'proxy_agent_key_recovery':
            status, reason, code = _proxy_agent_key(host, res, mode)
        else:
            code = None
            status, reason = _linux_access(host, res, role)
            proof = proofs[index] if index < len(proofs) else None
            if isinstance(proof, Mapping) and status in ('changed', 'already_fine'):
                if proof.get('ok'):
                    reason += '; SSH proof ok'
                else:
                    status = 'failed'
                    reason += ', but the SSH proof failed: %s' % (_text(proof.get('msg')) or 'no answer')
        out[host] = {
            'outcome': {
                'host': host,
                'status': status,
                'reason': reason,
                'reason_code': code or _reason_code(res) or _status_code(status),
            },
            'changed': bool(res.get('changed')),
            'result': res,
        }
        if host in break_glass:
            bg_status, bg_reason = _break_glass(break_glass[host])
            out[host]['break_glass'] = {'status': bg_status, 'reason': bg_reason}
            out[host]['outcome']['reason'] = '%s; %s' % (reason, bg_reason)
            out[host]['changed'] = out[host]['changed'] or bool(break_glass[host].get('changed'))
    return out


class FilterModule:
    def filters(self):
        return {'recovery_outcomes': recovery_outcomes}
