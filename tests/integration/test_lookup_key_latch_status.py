"""key_latch_status lookup through real ansible-playbook processes against the ARM simulator."""

import pytest

from ansible_runner import run_playbook

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')


def lookup_play(expr, **vars_):
    return [
        {
            'name': 'lookup',
            'hosts': 'localhost',
            'gather_facts': False,
            'vars': vars_,
            'tasks': [{'name': 'read', 'ansible.builtin.set_fact': {'out': '{{ %s }}' % expr}}],
        }
    ]


def test_many_terms_concurrently(sim, sim_env):
    ids = [
        sim.vm_id('rg-linux', 'lin-ok'),
        sim.vm_id('rg-windows', 'win-ok'),
        sim.instance_id('rg-vmss', 'ss-uniform', 0),
        sim.vm_id('rg-vmss', 'flex-1'),
        sim.vm_id('rg-linux', 'lin-old-agent'),
        sim.vm_id('rg-linux', 'lin-key-lost'),
    ]
    sim.control.reset_counters()
    r = run_playbook(lookup_play("query('vmrescue.azure.key_latch_status', *ids)", ids=ids), sim_env)
    assert r.rc == 0, r
    out = r.result()['ansible_facts']['out']
    assert len(out) == 6
    assert out[0]['states']['keyIncarnationId'] == '3' and out[0]['status'] == 'RUNNING'
    assert out[1]['states']['keyIncarnationId'] == '2'
    assert out[4]['message'].startswith('Got key status successfully')
    assert out[5]['message'].startswith('Failed to check the key')
    c = sim.control.counters()
    assert c['write'] == 0 and c['token'] == 1 and c['read'] == 6, c


def test_by_name_options(sim, sim_env):
    r = run_playbook(
        lookup_play("lookup('vmrescue.azure.key_latch_status', resource_group='rg-linux', name='lin-audit')"), sim_env
    )
    assert r.rc == 0, r
    assert r.result()['ansible_facts']['out']['states']['keyIncarnationId'] == '7'


@pytest.mark.parametrize(
    'name, which',
    [
        ('lin-no-msp', 'disabled'),
        ('lin-deallocated', 'deallocated'),
        ('lin-stale', 'stale'),
        ('lin-no-agent', 'no status'),
    ],
)
def test_on_missing_error_says_which(sim, sim_env, name, which):
    vm = sim.vm_id('rg-linux', name)
    r = run_playbook(lookup_play("lookup('vmrescue.azure.key_latch_status', vm)", vm=vm), sim_env)
    assert r.rc != 0
    msg = r.result()['msg']
    assert 'no key latch status (%s)' % which in msg, msg
    assert vm in msg


def test_on_missing_warn_and_skip(sim, sim_env):
    ids = [
        sim.vm_id('rg-linux', 'lin-ok'),
        sim.vm_id('rg-linux', 'lin-stale'),
        sim.vm_id('rg-linux', 'lin-deallocated'),
    ]
    r = run_playbook(lookup_play("query('vmrescue.azure.key_latch_status', *ids, on_missing='warn')", ids=ids), sim_env)
    assert r.rc == 0, r
    out = r.result()['ansible_facts']['out']
    # Positions kept: one entry per term, null where there is no usable status.
    assert len(out) == 3 and out[0]['status'] == 'RUNNING' and out[1] is None and out[2] is None, out
    text = ' '.join(r.text.split())  # ansible-core < 2.19 wraps warnings at 79 columns
    assert 'no key latch status (stale)' in text and 'no key latch status (deallocated)' in text
    r = run_playbook(lookup_play("query('vmrescue.azure.key_latch_status', *ids, on_missing='skip')", ids=ids), sim_env)
    assert r.rc == 0 and [x is None for x in r.result()['ansible_facts']['out']] == [False, True, True]
    assert 'no key latch status' not in ' '.join(r.text.split())


def test_missing_vm_and_bad_term_fail(sim, sim_env):
    vm = sim.vm_id('rg-linux', 'nope')
    r = run_playbook(lookup_play("lookup('vmrescue.azure.key_latch_status', vm, on_missing='skip')", vm=vm), sim_env)
    assert r.rc != 0 and "VM 'nope' not found" in r.result()['msg']
    r = run_playbook(lookup_play("lookup('vmrescue.azure.key_latch_status', 'lin-ok')"), sim_env)
    assert r.rc != 0 and 'term: expected' in r.result()['msg']


@pytest.mark.parametrize(
    'kwargs, needle',
    [
        ('concurrency=0', 'concurrency must be a whole number from 1 to'),
        ('concurrency=-3', 'concurrency must be a whole number from 1 to'),
        ("token_cache='perhaps'", "token_cache: 'perhaps' is not a boolean"),
    ],
)
def test_bad_option_values_are_refused_before_any_read(sim, sim_env, kwargs, needle):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    sim.control.reset_counters()
    r = run_playbook(lookup_play("query('vmrescue.azure.key_latch_status', vm, %s)" % kwargs, vm=vm), sim_env)
    assert r.rc != 0
    assert needle in ' '.join(r.text.split()), r.text[-2000:]
    c = sim.control.counters()
    assert c['read'] == 0 and c['token'] == 0, c
