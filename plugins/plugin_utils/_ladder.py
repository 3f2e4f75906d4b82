# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The escalation ladder's bookkeeping for the role recovery_ladder (private: may change without notice).

The role applies one rung at a time (``vm_remedy``) to the hosts not back yet; after each it folds the rung's batch
result and the hosts' key reads (the ``proxy_agent_diagnostics`` lookup) into one state (a dict host -> entry, a
fact of the play), from which the next rung's hosts, the summary by rung and each host's outcome (the
``recovery_outcomes`` filter, role ``recovery_ladder``) are read. Back means: running, VM agent Ready, provisioning
state not Failed (``vm_remedy``'s ``recovered``), and, for a VM with the Metadata Security Protocol enabled, its key
healthy (latched) by the key reset's own classification.

Public names: ``RUNGS``, ``initial(hosts, check, keys)``, ``step(state, rung, hosts, batch, keys)``,
``refuse(state, rung, hosts, reason)``, ``down(state)``, ``by_rung(state)``, ``entries(state, hosts, last_rung)``,
``key_problem(diagnosis)``, ``from_hostvars(hostvars, hosts, var='recovery_ladder_state')``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome

RUNGS = ('restart', 'reapply', 'redeploy')
RESCUE = (
    'offline rescue: the guest does not come up on any host (VM agent not Ready); read its serial log '
    '(boot triage) and run the role vmrescue.azure.offline_rescue with the repair it points to'
)
BREAK_GLASS = (
    'MSP break-glass: the Guest Proxy Agent key does not latch; switch its endpoints to Audit with the role '
    'vmrescue.azure.proxy_agent_key_recovery and proxy_agent_key_recovery_break_glass=true, then repair the agent'
)


def _text(value):
    return '' if value is None else str(value)


def _map(value):
    return value if isinstance(value, Mapping) else {}


def key_problem(diagnosis):
    """Why the VM's key is not latched (a proxy_agent_diagnostics entry), or '' when MSP is off or the key healthy."""
    diagnosis = _map(diagnosis)
    if not diagnosis.get('enabled'):
        return ''
    key = _map(diagnosis.get('key'))
    if key.get('verdict') == 'healthy':
        return ''
    return 'key %s: %s' % (_text(key.get('verdict')) or 'unknown', _text(key.get('reason')) or 'not latched')


def _results(batch, hosts):
    results = _map(batch).get('results') or []
    return dict((h, _map(results[i]) if i < len(results) else {}) for i, h in enumerate(hosts))


def initial(hosts, check, keys):
    """The state before any rung: from vm_remedy's check-mode read (``recovered`` now) and the hosts' key reads."""
    state = {}
    for host, res in _results(check, hosts).items():
        agent_back = bool(res.get('recovered'))
        key = key_problem(_map(keys).get(host))
        failed = bool(res.get('failed')) and 'recovered' not in res
        state[host] = dict(back=agent_back and not key and not failed, agent_back=agent_back, key=key, rungs=[],
                           error=_text(res.get('msg')) if failed else '', result=res)  # fmt: skip
    return state


def _rung_entry(rung, res):
    found = _map(res.get('outcome'))
    return dict(rung=rung, reason_code=_text(found.get('reason_code')) or ('error' if res.get('failed') else 'done'),
                recovered=bool(res.get('recovered')), held=bool(res.get('held')), changed=bool(res.get('changed')),
                reason=_text(found.get('reason') or res.get('msg')))  # fmt: skip


def step(state, rung, hosts, batch, keys):
    """``state`` after ``rung`` was applied to ``hosts`` (``batch``: the registered vm_remedy result, targets in the
    order of ``hosts``; ``keys``: host -> proxy_agent_diagnostics entry read after it)."""
    out = dict((h, dict(e)) for h, e in _map(state).items())
    for host, res in _results(batch, hosts).items():
        entry = out.setdefault(host, dict(back=False, agent_back=False, key='', rungs=[], error='', result={}))
        entry['rungs'] = list(entry.get('rungs') or []) + [_rung_entry(rung, res)]
        entry['agent_back'] = bool(res.get('recovered'))
        entry['key'] = key_problem(_map(keys).get(host)) if host in _map(keys) else entry.get('key', '')
        entry['back'] = entry['agent_back'] and not entry['key']
        entry['result'] = res
    return out


def refuse(state, rung, hosts, reason):
    """``state`` with ``rung`` refused for ``hosts`` (redeploy without the opt-in), before any call."""
    out = dict((h, dict(e)) for h, e in _map(state).items())
    for host in hosts:
        entry = out.setdefault(host, dict(back=False, agent_back=False, key='', rungs=[], error='', result={}))
        entry['rungs'] = list(entry.get('rungs') or []) + [
            dict(rung=rung, reason_code='disruptive_refused', recovered=False, held=False, changed=False, reason=reason)
        ]
    return out


def down(state):
    """The hosts not back, in the state's order (not those whose first read failed: no rung would reach them)."""
    return [h for h, e in _map(state).items() if not _map(e).get('back') and not _map(e).get('error')]


def _back_at(entry):
    rungs = entry.get('rungs') or []
    return _text(rungs[-1].get('rung')) if entry.get('back') and rungs else ''


def by_rung(state):
    """Counts: already back, back at each rung, refused, not back."""
    counts = dict(already_back=0, restart=0, reapply=0, redeploy=0, refused=0, not_back=0)
    for entry in _map(state).values():
        entry = _map(entry)
        rungs = entry.get('rungs') or []
        if entry.get('back'):
            counts[_back_at(entry) or 'already_back'] += 1
        elif rungs and rungs[-1].get('reason_code') == 'disruptive_refused':
            counts['refused'] += 1
        else:
            counts['not_back'] += 1
    return counts


def _next_remedy(entry, last_rung):
    tried = [r.get('rung') for r in entry.get('rungs') or []]
    if (entry.get('rungs') or [{}])[-1].get('reason_code') == 'not_running':
        return 'start the VM (it does not run; a start is itself the first remedy), then run the ladder again'

    if last_rung in RUNGS and RUNGS.index(last_rung) < len(RUNGS) - 1 and last_rung in tried:
        following = RUNGS[RUNGS.index(last_rung) + 1]
        return 'the next rung, %s (recovery_ladder_max_rung stops at %s)' % (following, last_rung)
    return RESCUE if not entry.get('agent_back') else BREAK_GLASS


def _tried(entry):
    return ', '.join('%s (%s)' % (r.get('rung'), 'held' if r.get('held') else r.get('reason_code'))
                     for r in entry.get('rungs') or [])  # fmt: skip


def _host_outcome(entry, last_rung):
    """(outcome, rung) of one host."""
    rungs = entry.get('rungs') or []
    if entry.get('error') and not rungs:
        return outcome('failed', 'error', entry['error']), ''
    if entry.get('back') and not rungs:
        return outcome('unchanged', 'unchanged', 'back already (VM agent Ready, key latched or no MSP): no rung'), ''
    if entry.get('back'):
        rung = _back_at(entry)
        return outcome('done', 'recovered', 'back after %s (%s)' % (rung, _tried(entry))), rung
    last = rungs[-1] if rungs else {}
    why = entry.get('key') if entry.get('agent_back') else 'VM agent not Ready'
    text = 'not back after %s: %s; next remedy: %s' % (_tried(entry) or 'no rung', why, _next_remedy(entry, last_rung))
    if last.get('reason_code') == 'disruptive_refused':
        return outcome('skipped', 'disruptive_refused', '%s; %s' % (last.get('reason'), text)), last.get('rung')
    return outcome('failed', 'not_recovered', text), _text(last.get('rung'))


def entries(state, hosts, last_rung='redeploy'):
    """host -> the recovery_report entry (``outcome`` with ``host``, ``status`` as the summary counts it, ``rung``)."""
    summary_status = {'done': 'changed', 'unchanged': 'already_fine', 'skipped': 'skipped', 'failed': 'failed'}
    out = {}
    for host in hosts or ():
        entry = _map(_map(state).get(host))
        if not entry:
            continue
        found, rung = _host_outcome(entry, last_rung)
        out[host] = {
            'outcome': {
                'host': host,
                'status': summary_status[found['status']],
                'reason': found['reason'],
                'reason_code': found['reason_code'],
                'rung': rung,
            },  # fmt: skip
            'changed': any(r.get('changed') for r in entry.get('rungs') or []),
            'result': _map(entry.get('result')),
            'rungs': list(entry.get('rungs') or []),
        }
    return out


def from_hostvars(hostvars, hosts, var='recovery_ladder_state'):
    """The state of every host of ``hosts`` from ``hostvars[host][var][host]`` (each play batch records its own)."""
    out = {}
    for host in hosts or ():
        try:
            state = hostvars[host][var]
        except Exception:  # pylint: disable=broad-except  # KeyError, AnsibleUndefinedVariable, ...
            continue
        if isinstance(state, Mapping) and isinstance(state.get(host), Mapping):
            out[host] = state[host]
    return out
