"""The break-glass escalation of proxy_agent_key_recovery and the playbook restore_proxy_agent_settings, through real
ansible-playbook processes on tests/armsim/fleets/msp.yaml."""

import pytest

from ansible_runner import (
    client_env,
    collection_playbook as _playbook,
    published_stats as _published,
    run_playbook,
    write_inventory,
)

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')

TAG = 'vmrescue-msp-previous'


@pytest.fixture
def env(msp):
    return client_env(msp)


def _hosts(sim):
    return {
        'lin': {'azure_vm_id': sim.vm_id('rg-msp', 'msp-lin')},
        'stuck': {'azure_vm_id': sim.vm_id('rg-msp', 'msp-key-stuck')},
        'inst': {'azure_vm_id': sim.instance_id('rg-msp', 'ss-msp', 0)},
        'win': {'azure_vm_id': sim.vm_id('rg-msp', 'msp-win')},
    }


def _model(sim, vm_id):
    return sim.control.vm(vm_id)['model']


def test_break_glass_then_restore(msp, env, tmp_path):
    hosts = _hosts(msp)
    inventory = write_inventory(tmp_path, hosts)
    before = {h: _model(msp, v['azure_vm_id']) for h, v in hosts.items()}
    extra = {
        'proxy_agent_key_recovery_mode': 'all',
        'proxy_agent_key_recovery_wait_timeout': 6,
        'proxy_agent_key_recovery_break_glass': True,
        'proxy_agent_key_recovery_break_glass_wait_timeout': 2,
        'proxy_agent_key_recovery_fail_hosts': False,
    }
    run = run_playbook(_playbook('reset_proxy_agent_keys'), env, inventory=inventory, extra_vars=extra)
    assert run.rc == 0, run
    summary = _published(run, 'proxy_agent_key_recovery_summary')
    assert list(summary['break_glass_hosts']) == ['stuck'], summary
    assert 'in break-glass now (WireServer Audit, IMDS Audit)' in summary['break_glass_hosts']['stuck']
    assert list(summary['failed_hosts']) == ['stuck'] and 'break-glass' in summary['failed_hosts']['stuck']
    assert 'in break-glass now' in run.text
    stuck = _model(msp, hosts['stuck']['azure_vm_id'])
    pa = stuck['properties']['securityProfile']['proxyAgentSettings']
    assert pa['wireServer'] == {'mode': 'Audit'} and pa['imds'] == {'mode': 'Audit'}
    assert TAG in stuck['tags'] and 'vmrescue-key-reset' in stuck['tags']
    for h in ('lin', 'inst', 'win'):
        assert TAG not in (_model(msp, hosts[h]['azure_vm_id']).get('tags') or {}), h

    # the guest is repaired; the restore puts back exactly what was there, and only there
    msp.control.set_agent_fault(hosts['stuck']['azure_vm_id'], None)
    msp.control.reset_counters()
    restore = run_playbook(
        _playbook('restore_proxy_agent_settings'),
        env,
        inventory=inventory,
        extra_vars={'vmrescue_restore_wait_timeout': 8},
    )
    assert restore.rc == 0, restore
    assert msp.control.counters()['write'] == 1
    after = _model(msp, hosts['stuck']['azure_vm_id'])
    assert (
        after['properties']['securityProfile']['proxyAgentSettings']['wireServer']
        == before['stuck']['properties']['securityProfile']['proxyAgentSettings']['wireServer']
    )
    assert after['properties']['securityProfile']['proxyAgentSettings']['imds'] == {'mode': 'Enforce'}
    assert TAG not in after['tags'] and 'vmrescue-key-reset' in after['tags']
    assert sorted(h for h, s in restore.stats.items() if s.get('changed')) == ['stuck']

    msp.control.reset_counters()
    again = run_playbook(_playbook('restore_proxy_agent_settings'), env, inventory=inventory)
    assert again.rc == 0 and not any(s.get('changed') for s in again.stats.values()), again
    assert msp.control.counters()['write'] == 0
