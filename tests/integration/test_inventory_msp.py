"""The inventory's Metadata Security Protocol diagnostics groups and the proxy_agent_diagnostics lookup, through
real ansible-inventory / ansible-playbook processes against the simulator's MSP fleet (fleets/msp_diagnostics.yaml)."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_runner import VENV_BIN, client_env, run_playbook, strip_unsafe as _plain

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')


@pytest.fixture
def env(diag_sim):
    return client_env(diag_sim, ansible_cli=True)


@pytest.fixture
def config(tmp_path):
    path = os.path.join(str(tmp_path), 'msp.vms.yml')
    with open(path, 'w') as fh:
        yaml.safe_dump({'plugin': 'vmrescue.azure.vms', 'resource_groups': ['rg-mspdiag']}, fh)
    return path


def _inventory(env, path):
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-inventory'), '-i', path, '--list'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return _plain(json.loads(proc.stdout))


def _group(inv, name):
    return sorted(inv.get(name, {}).get('hosts', []))


def test_msp_groups_and_health_host_var(diag_sim, env, config):
    diag_sim.control.reset_counters()
    inv = _inventory(env, config)
    assert _group(inv, 'msp_audit') == ['msp-audit', 'msp-mixed']
    assert _group(inv, 'msp_enforce') == [
        'msp-denied',
        'msp-ebpf',
        'msp-mixed',
        'msp-no-agent',
        'msp-ok',
        'msp-stale',
        'msp-win-listener',
        'ss-msp_0',
        'ss-msp_1',
    ]
    assert _group(inv, 'msp_disabled') == ['msp-endpoints-off', 'msp-off']
    assert _group(inv, 'msp_denials') == ['msp-audit', 'msp-denied', 'ss-msp_1']
    assert _group(inv, 'proxy_agent_missing') == ['msp-no-agent']
    assert _group(inv, 'proxy_agent_unhealthy') == ['msp-ebpf', 'msp-win-listener']
    assert _group(inv, 'proxy_agent_stale') == ['msp-stale']

    hv = inv['_meta']['hostvars']
    denied = hv['msp-denied']['proxy_agent_health']
    assert denied['denials'] == 2 and denied['blocked'] == 2 and denied['modes_source'] == 'guest'
    assert denied['denied_callers'][0] == 'IMDS /usr/bin/curl (app) x7'
    assert denied['modes'] == {'wireserver': 'Enforce', 'imds': 'Enforce', 'hostga': 'Enforce'}
    audit = hv['msp-audit']['proxy_agent_health']
    assert audit['denials'] == 1 and audit['blocked'] == 0
    ebpf = hv['msp-ebpf']['proxy_agent_health']
    assert ebpf['ebpf'] == 'STOPPED' and ebpf['agent_status'] == 'ERROR' and ebpf['unhealthy'] is True
    assert hv['msp-ebpf']['proxy_agent']['health'] == 'healthy'  # the key is fine, the agent is not
    missing = hv['msp-no-agent']['proxy_agent_health']
    assert (
        missing['missing'] is True
        and missing['modes_source'] == 'model'
        and 'ProxyAgentLinux' in missing['problems'][0]
    )
    assert hv['msp-stale']['proxy_agent_health']['stale_reasons'][0].endswith('s old')
    assert hv['msp-ok']['proxy_agent_health']['problems'] == []
    assert hv['msp-off']['proxy_agent_health']['enabled'] is False
    # still only bulk reads: the diagnostics come from the instance views already read
    c = diag_sim.control.counters()
    assert c['write'] == 0 and not c['by_route'].get('vm.get'), c


def test_lookup_names_the_denied_callers_of_the_group(diag_sim, env, config):
    play = [
        {
            'name': 'why',
            'hosts': 'msp_denials',
            'gather_facts': False,
            'tasks': [
                {
                    'name': 'diagnose',
                    'ansible.builtin.set_fact': {
                        'diag': "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', azure_vm_id) }}"
                    },
                }
            ],
        }
    ]
    diag_sim.control.reset_counters()
    r = run_playbook(play, env, inventory=config)
    assert r.rc == 0, r
    hosts = r.host_results()
    assert sorted(hosts) == ['msp-audit', 'msp-denied', 'ss-msp_1']
    denied = hosts['msp-denied']['ansible_facts']['diag']
    curl = denied['denied_callers'][0]
    assert (curl['endpoint'], curl['user'], curl['process'], curl['count'], curl['blocked'], curl['mode']) == (
        'IMDS',
        'app',
        '/usr/bin/curl',
        7,
        True,
        'Enforce',
    )
    assert curl['user_groups'] == ['app', 'docker'] and curl['cmdline'].startswith('curl -H Metadata:true')
    assert 'inVMAccessControlProfile' in curl['action'] and 'imds_mode: Audit' in curl['action']
    java = hosts['msp-audit']['ansible_facts']['diag']['denied_callers'][0]
    assert java['blocked'] is False and java['endpoint'] == 'WireServer' and 'before switching' in java['action']
    inst = hosts['ss-msp_1']['ansible_facts']['diag']
    assert inst['id'] == diag_sim.instance_id('rg-mspdiag', 'ss-msp', 1) and inst['denied_callers'][0]['count'] == 4
    assert diag_sim.control.counters()['write'] == 0


def test_lookup_by_name_for_missing_unhealthy_and_disabled(diag_sim, env):
    play = [
        {
            'name': 'lookup',
            'hosts': 'localhost',
            'gather_facts': False,
            'tasks': [
                {
                    'name': 'read',
                    'ansible.builtin.set_fact': {'out': "{{ query('vmrescue.azure.proxy_agent_diagnostics', *ids) }}"},
                }
            ],
            'vars': {
                'ids': [
                    diag_sim.vm_id('rg-mspdiag', n) for n in ('msp-no-agent', 'msp-win-listener', 'msp-off', 'msp-ok')
                ]
            },
        }
    ]
    r = run_playbook(play, env)
    assert r.rc == 0, r
    missing, listener, off, ok = r.result()['ansible_facts']['out']
    assert missing['missing'] is True and missing['present'] is False and missing['os_type'] == 'Linux'
    assert listener['components']['listener']['status'] == 'STOPPED' and listener['unhealthy'] is True
    assert listener['os_type'] == 'Windows' and listener['agent_status'] == 'ERROR'
    assert off['enabled'] is False and off['problems'] == [] and off['modes']['wireserver'] == 'Disabled'
    assert ok['problems'] == [] and ok['key']['verdict'] == 'healthy' and ok['agent_version']

    r = run_playbook(
        [
            {
                'name': 'by name',
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        'name': 'read',
                        'ansible.builtin.set_fact': {
                            'out': "{{ lookup('vmrescue.azure.proxy_agent_diagnostics', "
                            "resource_group='rg-mspdiag', name='msp-nope') }}"
                        },
                    }
                ],
            }
        ],
        env,
    )
    assert r.rc != 0 and "VM 'msp-nope' not found" in r.result()['msg']
