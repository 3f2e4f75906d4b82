# -*- coding: utf-8 -*-
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: recovery_outcomes
short_description: Each host's outcome from the result of a recovery role's batch task
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Used by the C(proxy_agent_key_recovery) and C(linux_access_recovery) roles, once per play batch (C(run_once)),
    to turn the registered result of their batch task (one result per target, in the order of the targets) into
    one small entry per host, so that each host then only reads its own entry.
  - Each entry is a dict with C(outcome) (a dict with C(host), C(status) and C(reason); C(status) is one of
    V(changed), V(already_fine), V(skipped), V(failed)), C(changed) (the module's own change flag for that host)
    and C(result) (the module's result for that host).
  - A host without a result (the batch task failed as a whole) is failed with the batch task's message.
options:
  _input:
    description: The registered result of the batch task (its C(results) list is in the order of O(hosts)).
    type: dict
    required: true
  hosts:
    description: The inventory hostnames the batch task worked on, in the order of its targets.
    type: list
    elements: str
    required: true
  role:
    description: Which role's rules to apply.
    type: str
    choices: [proxy_agent_key_recovery, linux_access_recovery]
    required: true
  mode:
    description: The C(proxy_agent_key_recovery_mode) (V(unhealthy), V(all), V(incarnation)); proxy_agent_key_recovery only.
    type: str
  windows:
    description:
      - Hosts that were not sent to the batch task because their host vars say they run Windows; they are skipped
        with that reason. linux_access_recovery only.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Compute the outcome of every host of the batch once
  ansible.builtin.set_fact:
    proxy_agent_key_recovery_outcomes: >-
      {{ proxy_agent_key_recovery_batch | vmrescue.azure.recovery_outcomes(ansible_play_batch,
           role='proxy_agent_key_recovery', mode=proxy_agent_key_recovery_mode) }}
  run_once: true
'''

RETURN = r'''
_value:
  description: A dict host -> entry (see the description).
  type: dict
'''

import re

from collections.abc import Mapping  # controller-side plugin: Python 3 only

from ansible.errors import AnsibleFilterError

WINDOWS_REASON = 'Windows VM: VMAccessForLinux does not apply (use the VMAccessAgent extension)'


def _text(value):
    return '' if value is None else str(value)


def _proxy_agent_key(host, res, mode):
    failed = bool(res.get('failed'))
    changed = bool(res.get('changed'))
    health = res.get('health')
    verdict = _text(health.get('verdict')) if isinstance(health, Mapping) else 'not read'
    # A failure that is a reason to skip the host, not an error: no proxy agent, or a VM that is not running.
    power_state = res.get('power_state') or 'running'
    if not res.get('proxy_agent_enabled', True):
        skip_reason = 'the Guest Proxy Agent is not enabled on this VM: there is no key to reset'
    elif power_state != 'running' and not res.get('changed', False):
        skip_reason = ('the VM is %s: a new key cannot be confirmed until it runs;'
                       ' not reset (start it, or set proxy_agent_key_recovery_wait=false to only raise the model value)'
                       % _text(power_state))
    else:
        skip_reason = ''
    if failed:
        status = 'skipped' if skip_reason else 'failed'
        reason = skip_reason or _text(res.get('msg')) or 'unknown error'
    elif changed:
        status = 'changed'
        reason = 'key incarnation %s -> %s%s' % (
            _text(res.get('previous_key_incarnation_id')), _text(res.get('key_incarnation_id')),
            ', confirmed' if res.get('confirmed') else ', not confirmed (wait: false)')
    elif mode == 'incarnation':
        status = 'already_fine'
        reason = 'key incarnation already %s (key health: %s)' % (_text(res.get('key_incarnation_id')), verdict)
    elif verdict == 'healthy':
        status = 'already_fine'
        reason = 'key healthy, incarnation %s' % _text(res.get('key_incarnation_id'))
    else:
        status = 'skipped'
        reason = 'key health %s: %s; not reset%s' % (
            verdict, _text((health if isinstance(health, Mapping) else {}).get('reason')),
            ' (set proxy_agent_key_recovery_reset_unknown=true to reset)' if verdict == 'unknown' else '')
    return status, reason


def _linux_access(host, res):
    failed = bool(res.get('failed'))
    changed = bool(res.get('changed'))
    power_state = res.get('power_state') or 'running'
    if re.search('runs Windows', _text(res.get('msg'))):
        skip_reason = WINDOWS_REASON
    elif power_state != 'running':
        skip_reason = 'VM not running (power state %s): start it and re-run' % _text(power_state)
    else:
        skip_reason = ''
    if failed:
        status = 'skipped' if skip_reason else 'failed'
        reason = skip_reason or _text(res.get('msg')) or 'unknown error'
    elif changed:
        status = 'changed'
        reason = _text(res.get('message')) or 'done'
    else:
        status = 'already_fine'
        reason = 'already applied (the same request succeeded last time)'
    return status, reason


def recovery_outcomes(batch, hosts, role, mode=None, windows=None):
    if role not in ('proxy_agent_key_recovery', 'linux_access_recovery'):
        raise AnsibleFilterError('recovery_outcomes: unknown role %r' % (role,))
    batch = batch if isinstance(batch, Mapping) else {}
    results = batch.get('results') or []
    missing = {'changed': False, 'failed': True, 'msg': batch.get('msg', 'the batch task returned no result')}
    out = {}
    for host in windows or []:
        out[host] = {'outcome': {'host': host, 'status': 'skipped', 'reason': WINDOWS_REASON},
                     'changed': False, 'result': {}}
    for index, host in enumerate(hosts or []):
        res = results[index] if index < len(results) else missing
        res = res if isinstance(res, Mapping) else missing
        if role == 'proxy_agent_key_recovery':
            status, reason = _proxy_agent_key(host, res, mode)
        else:
            status, reason = _linux_access(host, res)
        out[host] = {'outcome': {'host': host, 'status': status, 'reason': reason},
                     'changed': bool(res.get('changed')), 'result': res}
    return out


class FilterModule(object):
    def filters(self):
        return {'recovery_outcomes': recovery_outcomes}
