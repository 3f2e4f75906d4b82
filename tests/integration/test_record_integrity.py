"""Records on VMs are claims (issue 26), through real ansible-playbook runs on fleets/records.yaml: a principal with
the built-in Tag Contributor role only plants each kind of record through the Tags API (weaker settings, a foreign
profile, MSP off, a false pending reset, a garbled one, one replayed from another VM). Nothing is weakened, nothing
is skipped on a false record, each is reported with its reason code; the restores and re-runs the collection itself
recorded still work from another controller (with the record key, and without it when they weaken nothing)."""

import datetime
import json
import os
import subprocess

import pytest
import yaml

from ansible_runner import VENV_BIN, client_env, run_playbook, strip_unsafe
from armsim.harness import FLEETS_DIR

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = [pytest.mark.usefixtures('no_global_ca_bundle'), pytest.mark.core_agnostic]

RECORDS_FLEET = os.path.join(FLEETS_DIR, 'records.yaml')
TAGGER = ('55555555-5555-4555-8555-555555555555', 'armsim-records-secret-5')
KEY = 'rk-9f3Kq2-record-key-for-tests-only-77Zp'
SETTINGS = 'vmrescue.azure.proxy_agent_settings'
KEY_RESET = 'vmrescue.azure.proxy_agent_key_reset'
TAG, KEY_TAG = 'vmrescue-msp-previous', 'vmrescue-key-reset'
OTHER_SUB = '00000000-0000-4000-8000-00000000ffff'
FOREIGN = (
    '/subscriptions/%s/resourceGroups/rg-evil/providers/Microsoft.Compute/galleries/g/inVMAccessControlProfiles/open/'
    'versions/1.0.0' % OTHER_SUB
)
ENFORCE = {'e': 1, 'w': 'Enforce', 'i': 'Enforce'}
AUDIT = {'wire_server_mode': 'Audit', 'imds_mode': 'Audit'}


@pytest.fixture
def rec(sim):
    sim.control.reset(RECORDS_FLEET)
    yield sim
    sim.control.reset()


def _stamp(minutes_ago=0):
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def v2(before, written=ENFORCE):
    return json.dumps({'v': 2, 'b': before, 's': written, 't': _stamp()}, separators=(',', ':'))


def play(*tasks):
    return [{'name': 'records', 'hosts': 'localhost', 'gather_facts': False, 'tasks': list(tasks)}]


def task(module, **args):
    return {'name': module, module: args, 'register': 'out', 'ignore_errors': True}


def controller(sim_env, home, key=None):
    """The environment of one controller: its own HOME (token cache), the record key from its credential."""
    env = dict(sim_env, HOME=str(home))
    os.makedirs(home, exist_ok=True)
    env.pop('VMRESCUE_RECORD_KEY', None)
    if key:
        env['VMRESCUE_RECORD_KEY'] = key
    return env


def settings(sim, vm):
    return sim.control.vm(vm)['model']['properties']['securityProfile']['proxyAgentSettings']


def modes(sim, vm):
    pa = settings(sim, vm)
    return pa.get('enabled'), (pa.get('wireServer') or {}).get('mode'), (pa.get('imds') or {}).get('mode')


def vms(sim, *names):
    return {n: sim.vm_id('rg-rec', 'rec-' + n) for n in names}


def restore(env, targets, **more):
    r = run_playbook(play(task(SETTINGS, targets=list(targets), state='restored', wait_timeout=8, **more)), env)
    return r, r.result()['results']


def plant_settings(sim, t):
    """What the tag writer plants (it may not even read the VMs: it guesses Enforce, the default)."""
    tagger = sim.as_principal(*TAGGER)
    tagger.patch_tags(t['weaker'], 'Merge', {TAG: v2({'e': 1, 'w': 'Disabled', 'i': 'Audit'})})
    tagger.patch_tags(
        t['foreign'], 'Merge', {TAG: v2({'e': 1, 'wr': '!%s/rg-evil/g/open/1.0.0' % OTHER_SUB, 'i': 'Enforce'})}
    )
    tagger.patch_tags(t['off'], 'Merge', {TAG: '{"v":1,"e":0}'})
    tagger.patch_tags(t['garbled'], 'Merge', {TAG: 'not a record {'})


def test_planted_records_without_a_key_weaken_nothing(rec, sim_env, tmp_path):
    t = vms(rec, 'weaker', 'foreign', 'off', 'garbled', 'a', 'b', 'ok')
    a_env, b_env = controller(sim_env, tmp_path / 'a'), controller(sim_env, tmp_path / 'b')
    # the collection's own break-glass on rec-a and rec-ok (controller A), then rec-a's record replayed onto rec-b
    r = run_playbook(play(task(SETTINGS, targets=[t['a'], t['ok']], wait_timeout=8, **AUDIT)), a_env)
    assert r.rc == 0 and all(x['changed'] for x in r.result()['results']), r
    written = json.loads(rec.control.vm(t['a'])['model']['tags'][TAG])
    assert written['v'] == 2 and written['b']['w'] == 'Enforce' and written['s']['w'] == 'Audit' and 'm' not in written
    rec.as_principal(*TAGGER).patch_tags(t['b'], 'Merge', {TAG: rec.control.vm(t['a'])['model']['tags'][TAG]})
    plant_settings(rec, t)
    before = {k: settings(rec, v) for k, v in t.items()}

    r, res = restore(b_env, t.values())  # controller B, no key
    out = dict(zip(t, res))
    codes = {k: (v['outcome']['status'], v['outcome']['reason_code']) for k, v in out.items()}
    assert codes == {
        'weaker': ('skipped', 'weaker_restore_refused'),
        'foreign': ('skipped', 'weaker_restore_refused'),
        'off': ('skipped', 'weaker_restore_refused'),
        'garbled': ('failed', 'bad_record'),
        'a': ('done', 'confirmed'),
        'b': ('skipped', 'record_mismatch'),
        'ok': ('done', 'confirmed'),
    }, codes
    assert 'wire_server: mode Enforce -> Disabled' in out['weaker']['msg'], out['weaker']['msg']
    assert FOREIGN in out['foreign']['msg'] and 'outside' in out['foreign']['msg']
    assert 'MSP enabled: true -> false' in out['off']['msg'] and 'version 1' in out['off']['msg']
    for k in ('weaker', 'foreign', 'off', 'garbled', 'b'):
        assert settings(rec, t[k]) == before[k], k  # nothing weakened, nothing written
        assert not out[k]['changed'], k
    for k in ('a', 'ok'):  # the collection's own restores, from another controller, without a key
        assert modes(rec, t[k]) == (True, 'Enforce', 'Enforce') and TAG not in (rec.control.vm(t[k])['model']['tags'])
    writes = [e for e in rec.control.requests() if e['method'] in ('PATCH', 'PUT') and 'rec-' in e['path']]
    assert not any(e['principal'] == rec.client_id and '/tags/default' in e['path'] for e in writes)

    # an operator who checked the record may still weaken, on purpose, and is told what
    r, res = restore(b_env, [t['weaker']], allow_weaker_restore=True)
    assert res[0]['outcome']['status'] == 'done' and modes(rec, t['weaker']) == (True, 'Disabled', 'Audit')
    assert any('lowers protection' in w and 'Enforce -> Disabled' in w for w in r.result()['warnings']), r


def test_planted_records_under_a_key_are_untrusted(rec, sim_env, tmp_path):
    t = vms(rec, 'weaker', 'foreign', 'off', 'garbled', 'a', 'b', 'ok')
    a_env, b_env = controller(sim_env, tmp_path / 'a', KEY), controller(sim_env, tmp_path / 'b', KEY)
    r = run_playbook(play(task(SETTINGS, targets=[t['a'], t['ok']], wait_timeout=8, **AUDIT)), a_env)
    assert r.rc == 0, r
    sealed = rec.control.vm(t['a'])['model']['tags'][TAG]
    assert len(json.loads(sealed)['m']) == 22 and len(sealed) <= 256
    rec.as_principal(*TAGGER).patch_tags(t['b'], 'Merge', {TAG: sealed})  # replayed: bound to rec-a
    plant_settings(rec, t)
    before = {k: settings(rec, v) for k, v in t.items()}

    r, res = restore(b_env, t.values())
    out = dict(zip(t, res))
    for k in ('weaker', 'foreign', 'off', 'garbled', 'b'):
        assert (out[k]['outcome']['status'], out[k]['outcome']['reason_code']) == ('skipped', 'record_untrusted'), (
            k,
            out[k]['outcome'],
        )
        assert settings(rec, t[k]) == before[k], k
    assert 'copied from another VM' in out['b']['msg']
    for k in ('a', 'ok'):
        assert out[k]['outcome']['status'] == 'done' and modes(rec, t[k]) == (True, 'Enforce', 'Enforce'), out[k]
    assert not r.reveals(KEY) and not any(json.loads(sealed)['m'] in json.dumps(x) for x in res)


def test_a_false_pending_record_does_not_hold_the_vm_back(rec, sim_env, tmp_path):
    vm = rec.vm_id('rg-rec', 'rec-pending')  # key_lost: the guest cannot use its key; the model says 2
    tagger = rec.as_principal(*TAGGER)
    healthy = task(KEY_RESET, vm_id=vm, state='healthy', wait_timeout=20)
    # without a key: a record dated 10 minutes ago, which the guest contradicts (a key failure since)
    tagger.patch_tags(vm, 'Merge', {KEY_TAG: '2@' + _stamp(10)})
    r = run_playbook(play(healthy), controller(sim_env, tmp_path / 'a'))
    out = r.result()
    assert out['changed'] and out['outcome']['reason_code'] == 'latched', out
    assert out['record_check']['reason_code'] == 'record_contradicted', out
    assert settings(rec, vm)['keyIncarnationId'] == 3
    # under a key: a record dated now (the guest cannot contradict it yet) is untrusted, not pending
    rec.control.set_agent_fault(vm, 'key_lost')
    tagger.patch_tags(vm, 'Merge', {KEY_TAG: '3@' + _stamp()})
    r = run_playbook(play(healthy), controller(sim_env, tmp_path / 'b', KEY))
    out = r.result()
    assert out['changed'] and out['outcome']['reason_code'] == 'latched', out
    assert out['record_check']['reason_code'] == 'record_untrusted', out
    recorded = rec.control.vm(vm)['model']['tags'][KEY_TAG]
    assert recorded.startswith('4@') and '#' in recorded and out['key_reset_record'].endswith('#sealed')
    assert not r.reveals(KEY) and not r.reveals(recorded.split('#')[1])


def test_a_reset_the_collection_recorded_is_still_pending_for_another_controller(rec, sim_env, tmp_path):
    vm = rec.vm_id('rg-rec', 'rec-pending')
    rec.control.config(relatch_seconds=900)  # the guest takes its time: the reset stays pending through both runs
    reset = task(KEY_RESET, vm_id=vm, state='reset', wait=False)
    r = run_playbook(play(reset), controller(sim_env, tmp_path / 'a', KEY))
    assert r.result()['changed'], r
    r = run_playbook(
        play(task(KEY_RESET, vm_id=vm, state='healthy', wait=False)), controller(sim_env, tmp_path / 'b', KEY)
    )
    out = r.result()
    assert not out['changed'] and out['outcome']['status'] == 'pending' and 'record_check' not in out, out


def test_restore_from_the_run_report(rec, sim_env, tmp_path):
    t = vms(rec, 'a', 'ok')
    report = str(tmp_path / 'break-glass.json')
    a_env, b_env = controller(sim_env, tmp_path / 'a'), controller(sim_env, tmp_path / 'b')
    r = run_playbook(play(task(SETTINGS, targets=list(t.values()), wait_timeout=8, report=report, **AUDIT)), a_env)
    assert r.rc == 0, r
    with open(report) as fh:
        entries = {e['name']: e for e in json.load(fh)['targets']}
    assert json.loads(entries['rec-a']['recorded'])['b']['w'] == 'Enforce'
    # the tag writer rewrites rec-a's record to something weaker: the report is the source, the tag a cross-check
    rec.as_principal(*TAGGER).patch_tags(t['a'], 'Merge', {TAG: v2({'e': 0}, {'e': 1, 'w': 'Audit', 'i': 'Audit'})})
    r, res = restore(b_env, t.values(), restore_from=report)
    out = dict(zip(t, res))
    assert all(v['outcome']['status'] == 'done' for v in out.values()), out
    assert modes(rec, t['a']) == modes(rec, t['ok']) == (True, 'Enforce', 'Enforce')
    assert any('record_cross_check: mismatch' in w for w in r.result()['warnings']), r
    # a VM changed since the report: left alone
    run_playbook(play(task(SETTINGS, vm_id=t['ok'], wait_timeout=8, imds_mode='Audit')), a_env)
    r, res = restore(b_env, [t['ok']], restore_from=report)
    assert res[0]['outcome']['reason_code'] == 'record_mismatch' and modes(rec, t['ok'])[2] == 'Audit', res


def test_the_inventory_holds_no_host_back_on_an_unsealed_record(rec, tmp_path):
    """A fresh planted key-reset record (the guest cannot contradict it yet) makes a host's key pending (group
    key_unknown) without a key; with the record key the inventory ignores it (key_unhealthy: the guest cannot use its
    key, so the key-recovery role resets it)."""
    vm = rec.vm_id('rg-rec', 'rec-pending')
    rec.as_principal(*TAGGER).patch_tags(vm, 'Merge', {KEY_TAG: '2@' + _stamp()})
    path = str(tmp_path / 'rec.vms.yml')
    with open(path, 'w') as fh:
        yaml.safe_dump({'plugin': 'vmrescue.azure.vms', 'resource_groups': ['rg-rec']}, fh)

    def groups(key=None):
        env = dict(client_env(rec, ansible_cli=True), HOME=str(tmp_path))
        env.pop('VMRESCUE_RECORD_KEY', None)
        if key:
            env['VMRESCUE_RECORD_KEY'] = key
        proc = subprocess.run(
            [os.path.join(VENV_BIN, 'ansible-inventory'), '-i', path, '--list'],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and KEY not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        inv = strip_unsafe(json.loads(proc.stdout))
        found = {g for g, v in inv.items() if 'rec-pending' in (v.get('hosts') or [])}
        return found, inv['_meta']['hostvars']['rec-pending']['proxy_agent']['verdict']

    found, verdict = groups()
    assert 'key_unknown' in found and verdict == 'pending', (found, verdict)
    found, verdict = groups(KEY)
    assert 'key_unhealthy' in found and verdict == 'unhealthy', (found, verdict)
