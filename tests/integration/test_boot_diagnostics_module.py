"""vmrescue.azure.boot_diagnostics as users run it (ansible -m and ansible-playbook against the simulator): boot
diagnostics turned on with managed storage across a small fleet in one batch, idempotent (a second run writes
nothing), a custom storage account left alone, check mode with diff writes nothing, and the serial log readable by
the triage lookup afterwards."""

import pytest

from ansible_runner import fleet_on_test_principals, run_adhoc, run_playbook

RG = 'rg-bootdiag'
OFF = {'diagnosticsProfile': {'bootDiagnostics': {'enabled': False}}}
CUSTOM = {'diagnosticsProfile': {'bootDiagnostics': {'enabled': True,
                                                     'storageUri': 'https://diagacct.blob.core.windows.net/'}}}  # fmt: skip
CUSTOM_OFF = {'diagnosticsProfile': {'bootDiagnostics': {'enabled': False,
                                                         'storageUri': 'https://diagacct.blob.core.windows.net/'}}}  # fmt: skip
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [
                {'name': 'off-1', 'extra_properties': OFF},
                {'name': 'off-2', 'os': 'windows', 'extra_properties': OFF},
                {'name': 'off-broken', 'boot_fault': 'fstab', 'extra_properties': OFF},
                {'name': 'on-managed'},
                {'name': 'custom-on', 'extra_properties': CUSTOM},
                {'name': 'custom-off', 'extra_properties': CUSTOM_OFF},
            ],
        }
    ]
)
NAMES = ['off-1', 'off-2', 'off-broken', 'on-managed', 'custom-on', 'custom-off']

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    return sim


def ids(sim):
    return [sim.vm_id(RG, n) for n in NAMES]


def model_of(sim, name):
    return sim.control.vm(sim.vm_id(RG, name))['model']['properties']['diagnosticsProfile']['bootDiagnostics']


def codes(result):
    return [r['outcome']['reason_code'] for r in result['results']]


def test_check_mode_with_diff_writes_nothing(fleet, sim_env):
    fleet.control.reset_counters()
    r = run_adhoc('localhost', 'vmrescue.azure.boot_diagnostics', {'targets': ids(fleet)}, sim_env, check=True,
                  diff=True)  # fmt: skip
    assert r.rc == 0, r
    res = r.result()
    assert codes(res) == ['check_mode', 'check_mode', 'check_mode', 'unchanged', 'custom_storage', 'custom_storage']
    first = res['results'][0]
    assert first['changed'] and first['diff'] == {'before': {'enabled': False, 'storage': 'managed'},
                                                  'after': {'enabled': True, 'storage': 'managed'}}  # fmt: skip
    assert fleet.control.counters()['write'] == 0
    assert model_of(fleet, 'off-1') == {'enabled': False}


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_turns_it_on_once_and_leaves_custom_storage_alone(fleet, sim_env):
    task = {'name': 'boot diagnostics', 'vmrescue.azure.boot_diagnostics': {'targets': ids(fleet)}}
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]
    r = run_playbook(play, sim_env)
    assert r.rc == 0, r
    res = r.result()
    assert codes(res) == ['changed', 'changed', 'changed', 'unchanged', 'custom_storage', 'custom_storage']
    assert [x['changed'] for x in res['results']] == [True, True, True, False, False, False]
    assert res['results'][4]['outcome']['status'] == 'skipped'
    assert 'diagacct.blob.core.windows.net' in res['results'][4]['outcome']['reason']
    assert res['msg'].startswith('boot diagnostics (managed storage) of 6 target(s): 3 turned on, 1 already on, 2 on')
    for name in ('off-1', 'off-2', 'off-broken'):
        assert model_of(fleet, name) == {'enabled': True}, name
    assert model_of(fleet, 'custom-off') == CUSTOM_OFF['diagnosticsProfile']['bootDiagnostics']
    patches = [e for e in fleet.control.requests() if e['method'] == 'PATCH']
    assert len(patches) == 3 and all(e['if_match'] for e in patches)

    fleet.control.reset_counters()
    again = run_playbook(play, sim_env)
    assert again.rc == 0, again
    assert codes(again.result()) == ['unchanged'] * 4 + ['custom_storage'] * 2
    assert fleet.control.counters()['write'] == 0

    # The triage lookup can read the broken VM's serial log now
    look = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{'name': 'triage', 'ansible.builtin.set_fact': {
        'out': "{{ lookup('vmrescue.azure.boot_triage', '%s') }}" % fleet.vm_id(RG, 'off-broken')}}]}]  # fmt: skip
    t = run_playbook(look, sim_env)
    assert t.rc == 0, t
    assert t.result()['ansible_facts']['out']['class'] == 'boot_emergency_mode'


@pytest.mark.core_agnostic  # the module's engine, not ansible-core's: make compat (ansible-core 2.16) leaves it out
def test_a_locked_vm_is_skipped_by_the_preflight_and_the_others_done(fleet, sim_env):
    fleet.control.add_lock(fleet.vm_id(RG, 'off-1'), 'freeze')
    r = run_adhoc('localhost', 'vmrescue.azure.boot_diagnostics', {'targets': ids(fleet)[:2]}, sim_env)
    assert r.rc == 0, r
    locked, other = r.result()['results']
    assert locked['outcome']['status'] == 'skipped' and locked['outcome']['reason_code'] == 'scope_locked', locked
    assert other['outcome']['reason_code'] == 'changed'
    assert model_of(fleet, 'off-1') == {'enabled': False} and model_of(fleet, 'off-2') == {'enabled': True}
