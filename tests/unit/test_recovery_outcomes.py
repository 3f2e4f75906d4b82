# -*- coding: utf-8 -*-
"""The recovery_outcomes filter: each host's outcome from a batch task's results, computed once per batch."""

from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import recovery_outcomes

KEY = 'proxy_agent_key_recovery'
LINUX = 'linux_access_recovery'


def _status(out):
    return dict((h, (e['outcome']['status'], e['changed'])) for h, e in out.items())


def test_proxy_agent_key_outcomes():
    results = [
        {'changed': True, 'failed': False, 'previous_key_incarnation_id': 2, 'key_incarnation_id': 3, 'confirmed': True},
        {'changed': False, 'failed': False, 'key_incarnation_id': 3, 'health': {'verdict': 'healthy'}},
        {'changed': False, 'failed': True, 'power_state': 'deallocated', 'msg': 'not running'},
        {'changed': False, 'failed': True, 'proxy_agent_enabled': False, 'msg': 'no agent'},
        {'changed': False, 'failed': True, 'msg': 'Injected failure'},
        {'changed': False, 'failed': False, 'key_incarnation_id': 1,
         'health': {'verdict': 'unknown', 'reason': 'no status'}},
    ]
    hosts = ['a', 'b', 'c', 'd', 'e', 'f', 'g']  # g has no result: failed with the batch message
    out = recovery_outcomes({'results': results, 'msg': 'batch broke'}, hosts, role=KEY, mode='unhealthy')
    assert _status(out) == {'a': ('changed', True), 'b': ('already_fine', False), 'c': ('skipped', False),
                            'd': ('skipped', False), 'e': ('failed', False), 'f': ('skipped', False),
                            'g': ('failed', False)}
    assert out['a']['outcome'] == {'host': 'a', 'status': 'changed', 'reason': 'key incarnation 2 -> 3, confirmed'}
    assert out['b']['outcome']['reason'] == 'key healthy, incarnation 3'
    assert 'deallocated' in out['c']['outcome']['reason'] and 'not enabled' in out['d']['outcome']['reason']
    assert out['e']['outcome']['reason'] == 'Injected failure' and out['g']['outcome']['reason'] == 'batch broke'
    assert out['f']['outcome']['reason'] == ('key health unknown: no status; not reset'
                                             ' (set proxy_agent_key_recovery_reset_unknown=true to reset)')
    assert out['a']['result'] is results[0]
    inc = recovery_outcomes({'results': results[1:2]}, ['b'], role=KEY, mode='incarnation')
    assert inc['b']['outcome']['reason'] == 'key incarnation already 3 (key health: healthy)'


def test_linux_access_outcomes():
    results = [
        {'changed': True, 'failed': False, 'message': 'user rescue created'},
        {'changed': False, 'failed': False},
        {'changed': False, 'failed': True, 'msg': 'the VM runs Windows: use VMAccessAgent'},
        {'changed': False, 'failed': True, 'power_state': 'deallocated', 'msg': 'x'},
        {'changed': False, 'failed': True, 'msg': 'Injected failure'},
    ]
    out = recovery_outcomes({'results': results}, ['a', 'b', 'c', 'd', 'e'], role=LINUX, windows=['w'])
    assert _status(out) == {'a': ('changed', True), 'b': ('already_fine', False), 'c': ('skipped', False),
                            'd': ('skipped', False), 'e': ('failed', False), 'w': ('skipped', False)}
    assert out['a']['outcome']['reason'] == 'user rescue created'
    assert out['c']['outcome']['reason'].startswith('Windows VM') and out['w']['outcome']['reason'].startswith('Windows VM')
    assert out['d']['outcome']['reason'] == 'VM not running (power state deallocated): start it and re-run'
    # No pending host: the batch task was skipped.
    assert _status(recovery_outcomes({'skipped': True}, [], role=LINUX, windows=['w'])) == {'w': ('skipped', False)}
