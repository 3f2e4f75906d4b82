"""The escalation ladder's bookkeeping (plugin_utils/_ladder.py through the recovery_ladder and recovery_outcomes
filters): who is back, who gets the next rung, the outcome by rung and the next remedy."""

from ansible_collections.vmrescue.azure.plugins.filter.recovery_ladder import recovery_ladder
from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import recovery_outcomes

HOSTS = ['ok', 'hung', 'boot', 'key']
LATCHED = {'enabled': True, 'key': {'verdict': 'healthy'}}
STUCK = {'enabled': True, 'key': {'verdict': 'unhealthy', 'reason': 'keyLatchStatus STOPPED'}}


def batch(*recovered, held=False):
    return {'results': [{'recovered': r, 'held': held, 'changed': not held,
                         'outcome': {'status': 'done' if r else 'failed',
                                     'reason_code': 'held' if held else 'recovered' if r else 'not_recovered'}}
                        for r in recovered]}  # fmt: skip


def climb(allow_disruptive=True):
    state = recovery_ladder(batch(True, False, False, True), 'initial', hosts=HOSTS,
                            keys={'ok': LATCHED, 'key': STUCK, 'hung': {'enabled': False}})  # fmt: skip
    assert recovery_ladder(state, 'down') == ['hung', 'boot', 'key']
    assert recovery_ladder({'ok': LATCHED, 'key': STUCK}, 'key_pending') == ['key']
    state = recovery_ladder(state, 'step', rung='restart', hosts=['hung', 'boot', 'key'], batch=batch(True, False, True),
                            keys={'key': STUCK})  # fmt: skip
    assert recovery_ladder(state, 'down') == ['boot', 'key']
    state = recovery_ladder(state, 'step', rung='reapply', hosts=['boot', 'key'], batch=batch(False, True))
    if allow_disruptive:
        return recovery_ladder(state, 'step', rung='redeploy', hosts=['boot', 'key'], batch=batch(False, True))
    return recovery_ladder(state, 'refuse', rung='redeploy', hosts=['boot', 'key'], reason='redeploy refused: ...')


def test_each_host_by_the_rung_that_brought_it_back_or_its_next_remedy():
    state = climb()
    assert recovery_ladder(state, 'by_rung') == dict(already_back=1, restart=1, reapply=0, redeploy=0, refused=0,
                                                     not_back=2)  # fmt: skip
    out = recovery_outcomes(state, HOSTS, role='recovery_ladder')
    assert out['ok']['outcome']['status'] == 'already_fine' and out['ok']['changed'] is False
    assert out['hung']['outcome']['status'] == 'changed' and out['hung']['outcome']['rung'] == 'restart'
    assert (
        out['boot']['outcome']['reason_code'] == 'not_recovered'
        and 'offline_rescue' in out['boot']['outcome']['reason']
    )
    assert (
        'break_glass' in out['key']['outcome']['reason'] and 'keyLatchStatus STOPPED' in out['key']['outcome']['reason']
    )
    assert out['key']['outcome']['rung'] == 'redeploy' and len(out['key']['rungs']) == 3


def test_a_refused_redeploy_is_skipped_with_its_reason():
    out = recovery_outcomes(climb(allow_disruptive=False), HOSTS, role='recovery_ladder')
    assert out['boot']['outcome']['status'] == 'skipped'
    assert out['boot']['outcome']['reason_code'] == 'disruptive_refused'
    assert out['boot']['outcome']['reason'].startswith('redeploy refused')


def test_the_cap_names_the_next_rung():
    state = recovery_ladder(batch(False), 'initial', hosts=['h'], keys={})
    state = recovery_ladder(state, 'step', rung='restart', hosts=['h'], batch=batch(False))
    out = recovery_outcomes(state, ['h'], role='recovery_ladder', mode='restart')
    assert 'the next rung, reapply' in out['h']['outcome']['reason']


def test_held_rungs_are_named():
    state = recovery_ladder(batch(False), 'initial', hosts=['h'], keys={})
    state = recovery_ladder(state, 'step', rung='restart', hosts=['h'], batch=batch(False, held=True))
    assert 'restart (held)' in recovery_outcomes(state, ['h'], role='recovery_ladder')['h']['outcome']['reason']


def test_from_hostvars_takes_each_hosts_own_batch_state():
    hostvars = {'a': {'recovery_ladder_state': {'a': {'back': True}, 'b': {'back': False}}},
                'b': {'recovery_ladder_state': {'b': {'back': True}}}, 'c': {}}  # fmt: skip
    assert recovery_ladder(hostvars, 'from_hostvars', hosts=['a', 'b', 'c']) == {
        'a': {'back': True},
        'b': {'back': True},
    }
