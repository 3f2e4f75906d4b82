"""The vmrescue.azure.vms inventory plugin, run by real ansible-inventory / ansible-playbook processes."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_runner import (
    REPO_ROOT as REPO,
    VENV_BIN,
    client_env,
    fleet_on_test_principals,
    run_playbook,
    strip_unsafe as _plain,
)

FLEET = fleet_on_test_principals(
    [
        {
            'name': 'RG-Web',
            'location': 'westeurope',
            'vms': [
                {'name': 'web-ok', 'proxy_agent': {'key_incarnation_id': 3}},
                {'name': 'web-lost', 'proxy_agent': {'key_incarnation_id': 2, 'fault': 'key_lost'}},
                {'name': 'web-off', 'power': 'deallocated', 'proxy_agent': {'key_incarnation_id': 1}},
                {'name': 'web-nomsp'},
                {'name': 'web-audit', 'proxy_agent': {'key_incarnation_id': 0, 'fault': 'disabled_channel'}},
                {'name': 'shared', 'proxy_agent': {'key_incarnation_id': 1}},
            ],
            'scale_sets': [
                {
                    'name': 'ss-uni',
                    'orchestration': 'Uniform',
                    'proxy_agent': {'key_incarnation_id': 2},
                    # the guest holds a key of the model's incarnation that does not match the host's: unhealthy (with
                    # a lower incarnation it would be a reset still pending, not a reason to raise again)
                    'instances': [
                        {},
                        {
                            'proxy_agent': {
                                'key_incarnation_id': 2,
                                'fault': 'key_mismatch',
                                'guest_key_incarnation_id': 2,
                            }
                        },
                    ],
                },
                {
                    'name': 'ss-flex',
                    'orchestration': 'Flexible',
                    'vms': [{'name': 'flex-1', 'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}}],
                },
            ],
        },
        {
            'name': 'rg-win',
            'location': 'northeurope',
            'vms': [
                {'name': 'win-ok', 'os': 'windows', 'proxy_agent': {'key_incarnation_id': 2}},
                {'name': 'win-lost', 'os': 'windows', 'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}},
                {'name': 'shared', 'proxy_agent': {'key_incarnation_id': 1}},
            ],
        },
    ]
)
VM_COUNT = 10  # VMs incl. the Flexible member; the 2 Uniform instances come from one list call


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    return sim


@pytest.fixture
def env(fleet):
    return client_env(fleet, ansible_cli=True)


def _config(tmp_path, name='fleet.vms.yml', **options):
    data = dict({'plugin': 'vmrescue.azure.vms'}, **options)
    path = os.path.join(str(tmp_path), name)
    with open(path, 'w') as fh:
        yaml.safe_dump(data, fh)
    return path


def _inventory(env, path, check=True):
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-inventory'), '-i', path, '--list'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert '[WARNING]: Unable to parse' not in proc.stderr, proc.stderr
        return _plain(json.loads(proc.stdout))
    return proc


def _group(inv, name):
    return sorted(inv.get(name, {}).get('hosts', []))


def test_groups_and_host_vars(fleet, env, tmp_path):
    fleet.control.reset_counters()
    inv = _inventory(env, _config(tmp_path))
    hostvars = inv['_meta']['hostvars']
    assert sorted(hostvars) == sorted(
        [
            'web-ok',
            'web-lost',
            'web-off',
            'web-nomsp',
            'web-audit',
            'shared',
            'flex-1',
            'ss-uni_0',
            'ss-uni_1',
            'win-ok',
            'win-lost',
            'shared_rg-win',
        ]
    )
    assert _group(inv, 'key_healthy') == ['shared', 'shared_rg-win', 'ss-uni_0', 'web-ok', 'win-ok']
    assert _group(inv, 'key_unhealthy') == ['flex-1', 'ss-uni_1', 'web-lost', 'win-lost']
    assert _group(inv, 'key_unknown') == ['web-off']
    assert _group(inv, 'msp_disabled') == ['web-audit', 'web-nomsp']
    assert _group(inv, 'os_windows') == ['win-lost', 'win-ok']
    assert len(_group(inv, 'os_linux')) == 10
    assert _group(inv, 'powerstate_deallocated') == ['web-off']
    assert len(_group(inv, 'powerstate_running')) == 11

    vm = hostvars['web-lost']
    assert vm['id'] == vm['azure_vm_id'] == fleet.vm_id('RG-Web', 'web-lost')
    assert vm['azure_name'] == 'web-lost' and vm['resource_group'] == 'rg-web' and vm['azure_tags'] == {}
    # No host var with a name Ansible reserves (ansible-core 2.19 warns about them on every run).
    from ansible.vars.reserved import get_reserved_names

    assert not [k for hv in hostvars.values() for k in hv if k in get_reserved_names()]
    assert vm['os_profile'] == {'system': 'linux'} and vm['powerstate'] == 'running'
    assert vm['proxy_agent']['health'] == 'unhealthy' and vm['proxy_agent']['enabled'] is True
    assert 'vmss' not in vm
    inst = hostvars['ss-uni_1']
    assert inst['id'] == fleet.instance_id('RG-Web', 'ss-uni', 1)
    assert inst['vmss']['name'] == 'ss-uni' and inst['vmss']['id'].lower().endswith('/virtualmachinescalesets/ss-uni')
    assert inst['proxy_agent']['key_latch_status']['status'] == 'RUNNING'
    assert hostvars['win-ok']['os_profile']['system'] == 'windows'
    assert hostvars['shared_rg-win']['resource_group'] == 'rg-win'

    # Bulk reads: one VM list and one scale-set list for the subscription, one instance list (with instance
    # views) for the Uniform scale set, one instance view per VM; nothing else, no writes.
    counters = fleet.control.counters()
    routes = counters['by_route']
    assert routes.get('vm.list') == 1 and routes.get('vmss.list') == 1 and routes.get('instance.list') == 1, routes
    assert routes.get('vm.instance_view') == VM_COUNT, routes
    assert not routes.get('vm.get') and not routes.get('instance.get') and not routes.get('instance.instance_view')
    assert counters['write'] == 0


def test_resource_groups_paging_and_constructed(fleet, env, tmp_path):
    fleet.control.config(page_size=2)
    inv = _inventory(
        env,
        _config(
            tmp_path,
            resource_groups=['rg-web'],
            include_vmss_instances=True,
            keyed_groups=[{'key': 'resource_group', 'prefix': 'rg'}],
            groups={'broken_linux': "proxy_agent.health == 'unhealthy' and os_profile.system == 'linux'"},
            compose={'ansible_host': "name ~ '.example.test'", 'vm_label': "azure_name ~ '@' ~ (tags | length)"},
        ),
    )
    hostvars = inv['_meta']['hostvars']
    assert len(hostvars) == 9
    assert _group(inv, 'rg_rg_web') == sorted(hostvars)
    assert _group(inv, 'broken_linux') == ['flex-1', 'ss-uni_1', 'web-lost']
    assert hostvars['web-ok']['ansible_host'] == 'web-ok.example.test'  # azure_rm-style expression: still works
    assert hostvars['web-ok']['vm_label'] == 'web-ok@0'
    assert 'name' not in hostvars['web-ok'] and 'tags' not in hostvars['web-ok']

    no_instances = _inventory(
        env, _config(tmp_path, name='b.vms.yml', resource_groups=['rg-web'], include_vmss_instances=False)
    )
    assert 'ss-uni_0' not in no_instances['_meta']['hostvars']


def test_missing_resource_group_is_an_error(fleet, env, tmp_path):
    proc = _inventory(env, _config(tmp_path, resource_groups=['rg-nope']), check=False)
    out = proc.stdout + proc.stderr
    assert 'rg-nope' in out and 'vmrescue.azure.vms' in out


def test_reset_every_broken_key_with_limit(fleet, env, tmp_path):
    """'Reset every broken key' is -l key_unhealthy; afterwards the group is empty."""
    path = _config(tmp_path)
    run = run_playbook(
        os.path.join(REPO, 'playbooks', 'reset_proxy_agent_keys.yml'), env, inventory=path, args=['-l', 'key_unhealthy']
    )
    assert run.rc == 0, run
    assert 'reserved name' not in run.text, run.text
    assert sorted(h for h, s in run.stats.items() if s.get('changed')) == ['flex-1', 'ss-uni_1', 'web-lost', 'win-lost']
    inv = _inventory(env, path)
    assert _group(inv, 'key_unhealthy') == []
    assert _group(inv, 'key_healthy') == [
        'flex-1',
        'shared',
        'shared_rg-win',
        'ss-uni_0',
        'ss-uni_1',
        'web-lost',
        'web-ok',
        'win-lost',
        'win-ok',
    ]


@pytest.mark.parametrize(
    'option, value, needle',
    [
        ('include_vmss_instances', 'maybe', "include_vmss_instances: 'maybe' is not a boolean"),
        ('concurrency', 0, 'concurrency must be a whole number from 1 to'),
        ('concurrency', -3, 'concurrency must be a whole number from 1 to'),
    ],
)
def test_bad_option_values_are_refused_before_any_read(fleet, env, tmp_path, option, value, needle):
    """ansible-core's get_option reads 'maybe' as false and takes any number: the plugin checks the values as
    given and reads nothing from Azure."""
    fleet.control.reset_counters()
    proc = _inventory(env, _config(tmp_path, **{option: value}), check=False)
    out = proc.stdout + proc.stderr
    assert needle in ' '.join(out.split()), out
    c = fleet.control.counters()
    assert c['read'] == 0 and c['token'] == 0, c
