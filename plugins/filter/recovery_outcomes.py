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
  - Used by the C(proxy_agent_key_recovery), C(linux_access_recovery), C(windows_access_recovery),
    C(guest_repair) and C(offline_rescue) roles, once
    (C(run_once)), to turn the results of their batch into one small entry per host, from either the registered
    result of a batch task (one result per target, in the order of the targets), or the list of each host's own
    result (M(vmrescue.azure.batch_result)), in the order of O(hosts).
  - Each entry is a dict with C(outcome) (a dict with C(host), C(status), C(reason) and C(reason_code); C(status) is
    one of V(changed), V(already_fine), V(skipped), V(failed)), C(changed) (the module's own change flag for that
    host) and C(result) (the module's result for that host).
  - The status is read from the module's C(outcome) alone, by one table for every role (V(done) and V(pending) ->
    V(changed), V(unchanged) -> V(already_fine), V(skipped) -> V(skipped), V(failed) -> V(failed)), never from
    message text. A failed outcome whose C(reason_code) is V(wrong_os), V(msp_not_enabled), V(deallocated) or
    V(not_running) on a target where nothing was written is V(skipped); a key reset found pending from an earlier
    run (not written by this one) is V(skipped), and so is one that is stuck (reason code V(key_stuck), it has not reached
    the guest long after it was recorded or first observed; the reason gives the likely cause and the next step); with
    O(mode=incarnation) a key already at the asked incarnation is
    V(already_fine). C(reason_code) is the module's code.
  - For C(recovery_ladder), O(_input) is the ladder's state (P(vmrescue.azure.recovery_ladder#filter)) and O(mode)
    the last rung allowed; each entry's C(outcome) also has C(rung) (the rung that brought the host back, or the
    last one tried) and the entry C(rungs) (each rung's result).
  - For C(offline_rescue), a host whose result tasks were all skipped (the run had no action for its OS) is
    V(skipped) with reason code V(wrong_os).
  - The C(reason) is worded by the role from the module's result (key incarnations, what VMAccess changed, the
    module's message for a failure).
  - A host without a result (the batch task failed as a whole) is failed with the batch task's message. A result
    without an C(outcome) (recorded by an older version) gets the one its fields imply.
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
    choices: [proxy_agent_key_recovery, linux_access_recovery, windows_access_recovery, guest_repair, offline_rescue, recovery_ladder]
    required: true
  mode:
    description: The C(proxy_agent_key_recovery_mode) (V(unhealthy), V(all), V(incarnation)); for C(recovery_ladder) the
      last rung allowed.
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
      - A list of names (C(guest_repair) and C(offline_rescue), with their Linux and their Windows result) takes, per host, the first of them that
        holds a result of a task that ran (a task skipped by its C(when) leaves a result without an C(outcome)).
    type: raw
  break_glass_var:
    description:
      - proxy_agent_key_recovery only, with O(result_var). The name of the variable that holds, on each host, a dict
        host -> the M(vmrescue.azure.proxy_agent_settings) result of the break-glass switch to Audit (the role's
        C(proxy_agent_key_recovery_break_glass)). A host found there gets C(break_glass) in its entry (C(status)
        C(audit) when the switch was written, C(failed) when it was not, and C(reason)), and its reason says so.
      - With a batch task's result as the input (the role's lean mode), that dict host -> result itself.
    type: raw
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

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import STATUSES, outcome, outcome_of
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.stuck import stuck_summary
from ansible_collections.vmrescue.azure.plugins.plugin_utils._access_reasons import (
    mapping as _mapping,
    text as _text,
    vmaccess_change as _vmaccess_change,
)
from ansible_collections.vmrescue.azure.plugins.plugin_utils._hostvars import host_var
from ansible_collections.vmrescue.azure.plugins.plugin_utils._ladder import entries as ladder_entries
from ansible_collections.vmrescue.azure.plugins.plugin_utils._rescue_reasons import NO_ACTION_REASON, rescue_reason

ROLES = (
    'proxy_agent_key_recovery',
    'linux_access_recovery',
    'windows_access_recovery',
    'guest_repair',
    'offline_rescue',
    'recovery_ladder',
)
WINDOWS_REASON = 'Windows VM: VMAccessForLinux does not apply (use the VMAccessAgent extension)'
LINUX_REASON = 'Linux VM: VMAccessAgent does not apply (use the VMAccessForLinux extension)'
# The access roles: the skip reason of a host of the other OS (the module's outcome reason_code wrong_os)
OTHER_OS = {
    'linux_access_recovery': ('wrong_os', WINDOWS_REASON),
    'windows_access_recovery': ('wrong_os', LINUX_REASON),
}


# The summary's status of a host from its module outcome's status, for every role: the one table.
SUMMARY_STATUS = {
    'done': 'changed',
    'pending': 'changed',  # written, not confirmed yet (wait: false; check mode: would write)
    'unchanged': 'already_fine',
    'skipped': 'skipped',
    'failed': 'failed',
}
# A failed outcome with one of these reason codes, on a target where nothing was written, leaves the host alone:
# skipped, not an error of the run.
SKIP_CODES = ('wrong_os', 'msp_not_enabled', 'deallocated', 'not_running')
POWER_TEXT = {'deallocated': 'deallocated', 'not_running': 'not running'}


def _failed(res):
    # vmrescue.azure.batch_result with fail_on_failure=false reports the target's failure as failed_target
    return bool(res.get('failed') or res.get('failed_target'))


# -- the outcome ---------------------------------------------------------------------------------------------------
def target_outcome(res):
    """The module's ``outcome`` of a target. A result without one (recorded before outcomes existed, or written
    by hand) gets the outcome its fields imply, as the modules set it (see _errors.outcome_of)."""
    found = res.get('outcome')
    if isinstance(found, Mapping) and found.get('status') in STATUSES:
        return found
    if _failed(res):
        return outcome('failed', _failure_code(res), _text(res.get('msg')))
    verdict = _mapping(res.get('health')).get('verdict')
    if res.get('changed') or verdict in (None, 'healthy'):
        return outcome_of(res)
    if verdict == 'pending':
        return outcome('pending', 'pending_confirmation', _text(res.get('msg')))
    if verdict == 'stuck':
        return outcome('skipped', 'key_stuck', _text(res.get('msg')))
    return outcome('skipped', 'key_not_latched', _text(res.get('msg')))


def _failure_code(res):
    """The reason code of a failed result without an outcome, from its fields."""
    if not res.get('proxy_agent_enabled', True):
        return 'msp_not_enabled'
    power = _text(res.get('power_state')) or 'running'
    if power == 'running':
        return 'error'
    return 'deallocated' if power == 'deallocated' else 'not_running'


def summary_status(found, changed, mode=None):
    """The summary's status (changed, already_fine, skipped, failed) of a host from its module outcome."""
    status = found['status']
    if status == 'failed':
        return 'skipped' if found.get('reason_code') in SKIP_CODES and not changed else 'failed'
    if not changed and mode == 'incarnation':
        return 'already_fine'  # the ask is "at least N": a model already there is as asked, whatever the guest says
    if status in ('done', 'pending') and not changed:
        return 'skipped'  # a reset pending from an earlier run: not raised again
    return SUMMARY_STATUS[status]


# -- the reason, as each role words it -----------------------------------------------------------------------------
def _power_state(res, code):
    return _text(res.get('power_state')) or POWER_TEXT.get(code, 'not running')


def _failed_reason(found, res):
    return _text(found.get('reason')) or _text(res.get('msg')) or 'unknown error'


def _key_reason(status, found, res, mode):
    """The reason of a key reset host (proxy_agent_key_recovery)."""
    code, health = found.get('reason_code'), _mapping(res.get('health'))
    if found['status'] == 'failed':
        if status == 'skipped' and code == 'msp_not_enabled':
            return 'the Guest Proxy Agent is not enabled on this VM: there is no key to reset'
        if status == 'skipped' and code in POWER_TEXT:
            return (
                'the VM is %s: a new key cannot be confirmed until it runs;'
                ' not reset (start it, or set proxy_agent_key_recovery_wait=false to only raise the model value)'
                % _power_state(res, code)
            )
        return _failed_reason(found, res)
    if status == 'changed':
        return 'key incarnation %s -> %s, %s' % (
            _text(res.get('previous_key_incarnation_id')),
            _text(res.get('key_incarnation_id')),
            'would reset (check mode)'
            if res.get('check_mode')
            else 'confirmed'
            if res.get('confirmed')
            else 'not confirmed (wait: false)',
        )
    verdict = _text(health.get('verdict')) if isinstance(res.get('health'), Mapping) else 'not read'
    if mode == 'incarnation':
        return 'key incarnation already %s (key health: %s)' % (_text(res.get('key_incarnation_id')), verdict)
    if status == 'already_fine':
        return 'key healthy, incarnation %s' % _text(res.get('key_incarnation_id'))
    if code == 'pending_confirmation':
        return (
            'a key reset is pending since %s: %s; not raised again (re-run later to see it latched, or set '
            'proxy_agent_key_recovery_reset_unknown=true to raise it anyway)'
            % (pending_since(res) or 'an unknown time', _text(health.get('reason')))
        )
    if code == 'key_stuck':
        stuck = _mapping(res.get('stuck')) or _mapping(health.get('stuck'))
        return stuck_summary(health.get('model_key_incarnation_id') or res.get('key_incarnation_id'), stuck)
    return 'key health %s: %s; not reset%s' % (
        verdict,
        _text(health.get('reason')),
        ' (set proxy_agent_key_recovery_reset_unknown=true to reset)' if verdict == 'unknown' else '',
    )


def pending_since(res):
    """When the key reset a result found pending was written ('' when unknown)."""
    res = _mapping(res)
    return _text(res.get('pending_since') or _mapping(res.get('health')).get('pending_since'))


def _access_reason(status, found, res, role):
    """The reason of a VMAccess host (linux_access_recovery, windows_access_recovery)."""
    code = found.get('reason_code')
    if status == 'failed':
        return _failed_reason(found, res)
    if status == 'skipped' and code == 'wrong_os':
        return OTHER_OS[role][1]
    if status == 'skipped' and code in POWER_TEXT:
        return 'VM not running (power state %s): start it and re-run' % _power_state(res, code)
    if status == 'skipped':
        return _failed_reason(found, res)
    if status == 'changed':
        return _vmaccess_change(res)
    return 'already applied (the same request succeeded last time)'


def _recipes(res, changed):
    """The recipes a guest_repair script reported (``script_report``), those that changed or not."""
    entries = res.get('script_report') if isinstance(res.get('script_report'), (list, tuple)) else []
    return [
        _text(e.get('recipe'))
        for e in entries
        if isinstance(e, Mapping) and e.get('recipe') and bool(e.get('changed')) == changed
    ]


def _repair_reason(status, found, res):
    """The reason of a guest_repair host: which recipes repaired something, or that none needed to."""
    code = found.get('reason_code')
    if status == 'failed':
        return _failed_reason(found, res)
    if status == 'skipped' and code in POWER_TEXT:
        return 'VM not running (power state %s): start it and re-run' % _power_state(res, code)
    if status == 'skipped':
        return _failed_reason(found, res)
    if found.get('status') == 'pending':
        return _failed_reason(found, res)
    if status == 'changed':
        done, fine = _recipes(res, True), _recipes(res, False)
        return 'repaired: %s%s' % (
            ', '.join(done) or 'see the output',
            '; nothing to repair: %s' % ', '.join(fine) if fine else '',
        )
    checked = _recipes(res, False)
    return 'nothing to repair (%s)' % (', '.join(checked) or 'the recipes found the guest as expected')


def _break_glass(res):
    """(status, reason) of a host's break-glass switch from its proxy_agent_settings result."""
    found = _mapping(res.get('outcome'))
    written = bool(res.get('changed')) or found.get('status') in ('done', 'unchanged', 'pending')
    if res.get('failed') and not res.get('changed'):
        return 'failed', 'break-glass switch to Audit failed: %s' % (_text(res.get('msg')) or 'unknown error')
    if not written:
        return 'failed', 'break-glass switch to Audit not made'
    after = _mapping(res.get('after'))
    modes = ', '.join(
        '%s %s' % (name, _text((after.get(key) or {}).get('mode')))
        for key, name in (('wire_server', 'WireServer'), ('imds', 'IMDS'))
        if isinstance(after.get(key), Mapping)
    )
    state = (
        'confirmed by the guest'
        if res.get('confirmed')
        else 'not confirmed by the guest (%s)' % _text(found.get('reason') or found.get('reason_code'))
    )
    return 'audit', 'in break-glass now (%s), %s; restore with vmrescue.azure.restore_proxy_agent_settings' % (
        modes,
        state,
    )


# -- one entry per host --------------------------------------------------------------------------------------------
def _entry(host, status, reason, code, changed=False, result=None):
    return {
        'outcome': {'host': host, 'status': status, 'reason': reason, 'reason_code': code},
        'changed': changed,
        'result': {} if result is None else result,
    }


def _other_os_entry(host, role):
    return _entry(host, 'skipped', OTHER_OS.get(role, (None, WINDOWS_REASON))[1], 'wrong_os')


def _host_entry(host, res, role, mode=None, proof=None, break_glass=None):
    """The entry of a host that has a result: its status from the module outcome, its reason as the role says it."""
    found = target_outcome(res)
    changed = bool(res.get('changed'))
    # A write Azure refused changed nothing, yet was attempted: failed, not skipped (a VM deallocated mid-run)
    attempted = changed or bool(res.get('write_refused'))
    status = summary_status(found, attempted, mode if role == 'proxy_agent_key_recovery' else None)
    if role == 'proxy_agent_key_recovery':
        reason = _key_reason(status, found, res, mode)
    elif role == 'guest_repair':
        reason = _repair_reason(status, found, res)
    elif role == 'offline_rescue':
        reason = rescue_reason(status, found, res)
    else:
        reason = _access_reason(status, found, res, role)
    if isinstance(proof, Mapping) and status in ('changed', 'already_fine'):
        if proof.get('ok'):
            reason += '; SSH proof ok'
        else:
            status = 'failed'
            reason += ', but the SSH proof failed: %s' % (_text(proof.get('msg')) or 'no answer')
    entry = _entry(host, status, reason, _text(found.get('reason_code')) or 'error', changed, res)
    if isinstance(break_glass, Mapping):
        bg_status, bg_reason = _break_glass(break_glass)
        entry['break_glass'] = {'status': bg_status, 'reason': bg_reason}
        entry['outcome']['reason'] = '%s; %s' % (reason, bg_reason)
        entry['changed'] = changed or bool(break_glass.get('changed'))
    return entry


# -- the input forms -----------------------------------------------------------------------------------------------
def _host_var(hostvars, host, name):
    """``hostvars[host][name]`` or None; a registered or set_fact variable read cheaply (_hostvars.host_var)."""
    return host_var(hostvars, host, name)


def _first_result(hostvars, host, names):
    """The host's result in the variable ``names`` or, for a list, the first of them whose task ran."""
    if isinstance(names, str):
        return _host_var(hostvars, host, names)
    found = [_host_var(hostvars, host, name) for name in names or ()]
    ran = [r for r in found if isinstance(r, Mapping) and not (r.get('skipped') and 'outcome' not in r)]
    return ran[0] if ran else next((r for r in found if r is not None), None)


def _break_glass_by_host(hostvars, hosts, var):
    """host -> the proxy_agent_settings result of its break-glass switch (each host holds a dict host -> result)."""
    found = {}
    for host in hosts:
        by_host = _host_var(hostvars, host, var)
        if isinstance(by_host, Mapping) and isinstance(by_host.get(host), Mapping):
            found[host] = by_host[host]
    return found


def _per_host(batch, hosts):
    """(each host's result or None, the result of a host without one) from a batch task's result or a list."""
    if isinstance(batch, Mapping):
        results = batch.get('results') or []
        missing = {'changed': False, 'failed': True, 'msg': batch.get('msg', 'the batch task returned no result')}
        return [results[i] if i < len(results) else missing for i in range(len(hosts))], missing
    if not isinstance(batch, (list, tuple)):
        raise AnsibleFilterError(
            'recovery_outcomes: expected a batch result (dict) or a list of results, got %s' % type(batch).__name__
        )
    missing = {'changed': False, 'failed': True, 'msg': 'no result'}
    return [batch[i] if i < len(batch) else None for i in range(len(hosts))], missing


def recovery_outcomes(
    batch, hosts, role, mode=None, windows=None, proofs=None, result_var=None, proof_var=None, break_glass_var=None
):
    if role not in ROLES:
        raise AnsibleFilterError('recovery_outcomes: unknown role %r' % (role,))
    if role == 'recovery_ladder':  # the ladder's state already holds each host's rungs (plugin_utils/_ladder.py)
        return ladder_entries(batch, hosts, mode or 'redeploy')
    hosts, windows = list(hosts or []), list(windows or [])
    break_glass = _break_glass_by_host(batch, hosts, break_glass_var) if result_var and break_glass_var else {}
    break_glass = dict(break_glass_var) if not result_var and isinstance(break_glass_var, Mapping) else break_glass
    if result_var:  # _input is hostvars: each host's own result is its variable result_var
        hostvars = batch
        batch = [_first_result(hostvars, h, result_var) for h in hosts]
        if proof_var:
            proofs = [_host_var(hostvars, h, proof_var) for h in hosts]
    per_host, missing = _per_host(batch, hosts)
    proofs = list(proofs or [])
    # Hosts not sent to the batch (the batch task form) because of their OS: reported first, as skipped
    out = dict((h, _other_os_entry(h, role)) for h in windows if h not in hosts)
    for index, host in enumerate(hosts):
        res = per_host[index]
        if host in windows:
            out[host] = _other_os_entry(host, role)
        elif res is None:
            continue  # not part of this run (no result recorded)
        elif isinstance(res, Mapping) and res.get('skipped') and not res.get('failed_target'):
            # its reporting task was skipped: nothing was done for it; an access role reports only the hosts of
            # its OS, so for it a skipped host is one of the other OS
            if role in OTHER_OS:
                out[host] = _other_os_entry(host, role)
            elif role in ('guest_repair', 'offline_rescue') and res.get('outcome'):  # skipped by the module
                out[host] = _host_entry(host, res, role)
            elif role == 'offline_rescue':  # in no batch: no action for its OS
                out[host] = _entry(host, 'skipped', NO_ACTION_REASON, 'wrong_os')
        else:
            proof = proofs[index] if index < len(proofs) else None
            res = res if isinstance(res, Mapping) else missing
            out[host] = _host_entry(host, res, role, mode, proof if role in OTHER_OS else None, break_glass.get(host))
    return out


class FilterModule:
    def filters(self):
        return {'recovery_outcomes': recovery_outcomes}
