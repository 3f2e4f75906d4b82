"""proxy_agent_settings (break-glass and restore) through real ansible-playbook / ansible processes, on the mixed
fleet tests/armsim/fleets/msp.yaml (VMs and Uniform instances, Linux and Windows, no agent, a guest that never
applies a mode, MSP off, MSP unsupported)."""

import json
import os

import pytest

from ansible_runner import run_adhoc, run_playbook

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')

MOD = 'vmrescue.azure.proxy_agent_settings'
TAG = 'vmrescue-msp-previous'
AUDIT = {'wire_server_mode': 'Audit', 'imds_mode': 'Audit'}


def play(*tasks):
    return [{'name': 'test', 'hosts': 'localhost', 'gather_facts': False, 'tasks': list(tasks)}]


def task(**args):
    return {'name': 'msp', MOD: args, 'register': 'out', 'ignore_errors': True}


def model(sim, vm_id):
    return sim.control.vm(vm_id)['model']


def pa(sim, vm_id):
    return model(sim, vm_id)['properties']['securityProfile'].get('proxyAgentSettings')


def ids(sim):
    return {
        'lin': sim.vm_id('rg-msp', 'msp-lin'),
        'win': sim.vm_id('rg-msp', 'msp-win'),
        'profile': sim.vm_id('rg-msp', 'msp-profile'),
        'no_agent': sim.vm_id('rg-msp', 'msp-no-agent'),
        'never': sim.vm_id('rg-msp', 'msp-never'),
        'off': sim.vm_id('rg-msp', 'msp-off'),
        'inst': sim.instance_id('rg-msp', 'ss-msp', 0),
        'inst_win': sim.instance_id('rg-msp', 'ss-msp-win', 0),
    }


def test_break_glass_and_restore_mixed_fleet(msp, sim_env):
    t = ids(msp)
    fleet = ['lin', 'win', 'profile', 'no_agent', 'never', 'inst', 'inst_win']
    before = {k: pa(msp, t[k]) for k in fleet}
    tags_before = {k: model(msp, t[k]).get('tags') or {} for k in fleet}
    targets = [t[k] for k in fleet]

    r = run_playbook(play(task(targets=targets, wait_timeout=8, **AUDIT)), sim_env, diff=True)
    assert r.rc == 0, r
    res = dict(zip(fleet, r.result()['results']))
    for k in ('lin', 'win', 'profile', 'inst', 'inst_win'):
        assert res[k]['changed'] and res[k]['confirmed'] and not res[k]['failed'], res[k]
        assert res[k]['outcome']['status'] == 'done', (k, res[k]['outcome'], res[k].get('msg'))
        assert res[k]['secure_channel_state'].startswith('WireServer Audit -  IMDS Audit')
        assert res[k]['after']['wire_server'] == {'mode': 'Audit', 'profile_reference_id': None}
        assert json.loads(res[k]['recorded'])['b']['e'] == 1  # version 2: the settings before ('b'), written ('s')
    assert res['no_agent']['outcome'] == {
        'status': 'pending',
        'reason_code': 'no_agent',
        'reason': 'no proxy agent status in the instance view',
    }
    assert not res['no_agent']['failed'] and res['no_agent']['changed']
    assert res['never']['failed'] and res['never']['outcome']['reason_code'] == 'confirm_timeout'
    assert res['never']['changed'] and 'did not report' in res['never']['msg']
    # the model says Audit everywhere, and the record of what was there sits in a tag next to the user's tags
    for k in fleet:
        settings = pa(msp, t[k])
        assert settings['wireServer'] == {'mode': 'Audit'} and settings['imds'] == {'mode': 'Audit'}
        tags = model(msp, t[k])['tags']
        assert TAG in tags and {n: v for n, v in tags.items() if n != TAG} == tags_before[k]
    assert model(msp, t['lin'])['tags']['owner'] == 'team-a'
    assert res['profile']['before']['wire_server']['profile_reference_id'].endswith('/versions/1.0.0')

    # second run: nothing changes, no write; the record of the state before break-glass is kept
    msp.control.reset_counters()
    r = run_playbook(play(task(targets=targets, wait_timeout=8, **AUDIT)), sim_env)
    assert r.rc == 0, r
    for item in r.result()['results']:
        assert not item['changed'] and item['outcome']['status'] == 'unchanged', item
    assert msp.control.counters()['write'] == 0

    # a later change (Disabled on IMDS) keeps the settings from before in the record, and records what it wrote
    # (issue 26: a restore runs only where the VM has the settings the record says were written)
    record = json.loads(model(msp, t['lin'])['tags'][TAG])
    r = run_playbook(play(task(vm_id=t['lin'], imds_mode='Disabled', wait_timeout=8)), sim_env)
    assert r.rc == 0 and r.result()['changed'], r
    now = json.loads(model(msp, t['lin'])['tags'][TAG])
    assert now['b'] == record['b'] and now['s'] == {'e': 1, 'i': 'Disabled', 'w': 'Audit'}, now
    assert json.loads(r.result()['recorded']) == now

    # restore: exactly what was there, tag removed, other tags kept (check mode first: no write)
    msp.control.reset_counters()
    r = run_playbook(play(task(targets=targets, state='restored', wait_timeout=8)), sim_env, check=True)
    assert r.rc == 0 and all(i['changed'] for i in r.result()['results']), r
    assert msp.control.counters()['write'] == 0
    r = run_playbook(play(task(targets=targets, state='restored', wait_timeout=8)), sim_env)
    assert r.rc == 0, r
    res = dict(zip(fleet, r.result()['results']))
    for k in fleet:
        assert pa(msp, t[k]) == before[k], k
        assert (model(msp, t[k]).get('tags') or {}) == tags_before[k], k
    for k in ('lin', 'win', 'profile', 'inst', 'inst_win'):
        assert res[k]['outcome']['status'] == 'done' and res[k]['confirmed'], (k, res[k]['outcome'], res[k].get('msg'))
    assert res['profile']['secure_channel_state'] is not None

    # restore again: no record, ok, says so, no write
    msp.control.reset_counters()
    r = run_adhoc('localhost', MOD, {'vm_id': t['lin'], 'state': 'restored'}, sim_env)
    assert r.rc == 0, r
    out = r.result()
    assert (
        not out['changed'] and out['outcome']['reason_code'] == 'no_record' and 'no vmrescue-msp-previous' in out['msg']
    )
    assert msp.control.counters()['write'] == 0


def test_check_mode_and_diff_write_nothing(msp, sim_env):
    t = ids(msp)
    r = run_adhoc('localhost', MOD, dict(vm_id=t['lin'], **AUDIT), sim_env, check=True, diff=True)
    assert r.rc == 0, r
    out = r.result()
    assert out['changed'] and out['outcome']['status'] == 'skipped' and out['outcome']['reason_code'] == 'check_mode'
    assert out['diff']['before']['wire_server']['mode'] == 'Enforce'
    assert out['diff']['after']['wire_server']['mode'] == 'Audit'
    c = msp.control.counters()
    # 1 read of the VM, and the preflight of the promised change (permissions, locks, Resource Health of the group;
    # one checkPolicyRestrictions, counted as an action): check mode says whether Azure would refuse it
    assert c['write'] == 0 and c['read'] == 1 + 3 and c['action'] == 1, c
    assert out['preflight']['evaluated'] and out['preflight']['refused'] is None, out['preflight']
    assert not any(e['method'] in ('PUT', 'PATCH') for e in msp.control.requests())


@pytest.mark.parametrize(
    'args,words',
    [
        (dict(name='msp-off', resource_group='rg-msp', **AUDIT), 'not enabled'),
        (dict(name='msp-win', resource_group='rg-msp', add_proxy_agent_extension=True), 'Linux only'),
        (
            dict(
                name='msp-lin',
                resource_group='rg-msp',
                wire_server_mode='Audit',
                wire_server_profile_reference_id='/subscriptions/x/resourceGroups/r/providers/Microsoft.Compute/galleries/g/'
                'inVMAccessControlProfiles/p/versions/1',
            ),
            'mutually exclusive',
        ),
        (dict(name='msp-lin', resource_group='rg-msp', state='restored', imds_mode='Audit'), 'leave out imds_mode'),
        (dict(name='msp-lin', resource_group='rg-msp'), 'needs at least one'),
        (
            dict(name='msp-lin', resource_group='rg-msp', imds_profile_reference_id='profile-1'),
            'InVMAccessControlProfile',
        ),
        (dict(name='msp-lin', resource_group='rg-msp', imds_mode='audit'), 'value of imds_mode must be one of'),
        (dict(name='msp-lin', resource_group='rg-msp', enabled='maybe'), 'enabled'),
    ],
)
def test_refusals_before_any_write(msp, sim_env, args, words):
    r = run_adhoc('localhost', MOD, args, sim_env)
    assert r.rc != 0 and words in r.text, r
    assert msp.control.counters()['write'] == 0


def test_enable_and_install_agent_linux(msp, sim_env):
    vm = msp.vm_id('rg-msp', 'msp-no-agent')
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'add_proxy_agent_extension': True, 'wait_timeout': 5}, sim_env)
    assert r.rc == 0, r
    out = r.result()
    assert out['changed'] and out['after']['add_proxy_agent_extension'] is True
    assert any(
        'api-version=2025-04-01' in e['path'] or e.get('api_version') == '2025-04-01'
        for e in msp.control.requests()
        if e['method'] == 'PATCH'
    ), msp.control.requests()[-3:]
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'add_proxy_agent_extension': True}, sim_env)
    assert r.rc == 0 and not r.result()['changed'], r


def test_request_bodies_conform_to_the_spec(msp, sim_env):
    """Every PATCH / PUT body the module sent validates against the official definitions (api-version 2024-11-01;
    addProxyAgentExtension is a 2025-04-01 member, checked against the 2025-04-01 excerpt's ProxyAgentSettings)."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'sim'))
    import specconf

    t = ids(msp)
    targets = [t['lin'], t['profile'], t['inst'], t['inst_win']]
    r = run_playbook(
        play(
            task(targets=targets, wait_timeout=8, **AUDIT),
            task(targets=targets, state='restored', wait_timeout=8),
            task(vm_id=t['no_agent'], add_proxy_agent_extension=True, wait=False),
        ),
        sim_env,
    )
    assert r.rc == 0, r
    writes = [e for e in msp.control.requests() if e['method'] in ('PUT', 'PATCH') and '/_sim/' not in e['path']]
    assert len(writes) == 9
    for e in writes:
        body = json.loads(json.dumps(e['body']))
        settings = body['properties']['securityProfile']['proxyAgentSettings']
        add = settings.pop('addProxyAgentExtension', None)
        assert add in (None, True) and ('2025-04-01' in e['path']) == (add is not None)
        if e['method'] == 'PATCH':
            assert specconf.errors(body, specconf.VM_PATH, 'patch') == [], e
        else:
            assert specconf.errors(body, specconf.INSTANCE_PATH, 'put', swagger=specconf.VMSS_SWAGGER) == [], e


def test_two_runs_at_once_record_the_state_before_break_glass(msp, sim_env):
    """Two controllers switch the same VMs at once: one write lands per target, the loser re-reads (412) and decides
    again on what the winner wrote, and the record keeps the settings from before (never 'Audit')."""
    import threading

    t = ids(msp)
    targets = [t['lin'], t['inst'], t['win']]
    results = []

    def one():
        results.append(run_adhoc('localhost', MOD, dict(targets=targets, wait_timeout=8, **AUDIT), sim_env))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(r.rc == 0 for r in results), results
    landed = [e for e in msp.control.requests() if e['method'] in ('PATCH', 'PUT') and e['status'] < 300]
    assert len(landed) == 3, landed
    for k in ('lin', 'inst', 'win'):
        record = json.loads(model(msp, t[k])['tags'][TAG])['b']
        assert record['w'] == 'Enforce' and record['i'] == 'Enforce', record
    changed = [sum(1 for i in r.result()['results'] if i['changed']) for r in results]
    assert sorted(changed) == [0, 3] or sum(changed) == 3, changed


def test_lost_race_412_is_decided_again(msp, sim_env):
    vm = ids(msp)['lin']
    msp.control.fault(
        method='PATCH',
        path_regex='/virtualMachines/msp-lin$',
        status=412,
        code='PreconditionFailed',
        count=1,
        message='The specified precondition failed (injected).',
    )
    r = run_adhoc('localhost', MOD, dict(vm_id=vm, wait_timeout=8, **AUDIT), sim_env)
    assert r.rc == 0 and r.result()['changed'] and r.result()['confirmed'], r
    patches = [e for e in msp.control.requests() if e['method'] == 'PATCH']
    assert [e['status'] for e in patches] == [412, 200]
    assert json.loads(model(msp, vm)['tags'][TAG])['b']['w'] == 'Enforce'


def test_failures_carry_an_outcome(msp, sim_env):
    missing = msp.vm_id('rg-msp', 'no-such-vm')
    r = run_adhoc('localhost', MOD, dict(targets=[missing, ids(msp)['off']], **AUDIT), sim_env)
    assert r.rc == 0, r
    gone, off = r.result()['results']
    assert gone['failed'] and gone['outcome']['status'] == 'failed' and 'not found' in gone['msg']
    assert off['failed'] and (off['outcome']['status'], off['outcome']['reason_code']) == ('failed', 'msp_not_enabled')
    assert off['outcome']['reason'] == off['msg']  # a failure's reason is its (scrubbed) message
    assert msp.control.counters()['write'] == 0


def test_msp_off_then_restored(msp, sim_env):
    """The runbook's other escape: turn MSP off (enabled: false), then put it back on with its modes."""
    vm = ids(msp)['win']
    before = pa(msp, vm)
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'enabled': False}, sim_env)
    assert r.rc == 0, r
    out = r.result()
    assert out['changed'] and out['outcome']['reason_code'] == 'msp_disabled' and pa(msp, vm)['enabled'] is False
    recorded = json.loads(out['recorded'])
    assert recorded['v'] == 2 and recorded['b'] == {'e': 1, 'i': 'Enforce', 'w': 'Enforce'}, recorded
    assert recorded['s'] == {'e': 0, 'i': '=', 'w': '='}, recorded  # written: MSP off, the endpoints as they were
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'state': 'restored', 'wait_timeout': 8}, sim_env)
    assert r.rc == 0 and r.result()['changed'] and r.result()['confirmed'], r
    assert pa(msp, vm) == before and TAG not in (model(msp, vm).get('tags') or {})
