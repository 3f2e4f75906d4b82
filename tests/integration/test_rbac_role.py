"""The least-privilege custom role in docs/docsite/vmrescue-azure-role.json holds exactly the RBAC actions the
collection calls: representative runs of every entry point (both playbooks on VMs and Uniform scale-set
instances, check mode, VMAccess removal, the inventory plugin, the lookup) against the simulator, whose request log
gives method + route of every call; nothing missing, nothing extra. The integration tier as a whole is checked
too: tests/integration/conftest.py collects the actions of every test that used the session simulator and fails
the session when one is not in the role."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_runner import (
    COLLECTIONS_DIR,
    REPO_ROOT,
    VENV_BIN,
    fleet_on_test_principals,
    run_adhoc,
    run_playbook,
    write_inventory,
)
from rbac import ROLE_FILE, actions_of, linked_actions, role_actions

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = pytest.mark.core_agnostic

FLEET = fleet_on_test_principals(
    [
        {
            'name': 'rg-rbac',
            'location': 'westeurope',
            'vms': [
                {
                    'name': 'vm-broken',
                    'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'},
                    'run_command_managed': False,  # run_command falls back to the action form here
                },
                {'name': 'vm-ok', 'proxy_agent': {'key_incarnation_id': 2}},
                {'name': 'vm-off', 'power': 'deallocated', 'proxy_agent': {'key_incarnation_id': 1}},
            ],
            'scale_sets': [
                {
                    'name': 'ss',
                    'orchestration': 'Uniform',
                    'proxy_agent': {'key_incarnation_id': 1},
                    'instances': [
                        {'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}},
                        {'run_command_managed': False},
                    ],
                }
            ],
        },
    ]
)
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'


def _env(sim):
    out = dict(os.environ)
    out.update(sim.env())
    return out


def test_role_json_is_an_azure_custom_role():
    with open(ROLE_FILE) as fh:
        role = json.load(fh)
    assert set(role) == {
        'Name',
        'IsCustom',
        'Description',
        'Actions',
        'NotActions',
        'DataActions',
        'NotDataActions',
        'AssignableScopes',
    }
    assert role['IsCustom'] is True and role['Actions'] == sorted(set(role['Actions']))
    assert not role['NotActions'] and not role['DataActions'] and not [a for a in role['Actions'] if '*' in a]


def test_role_holds_exactly_the_actions_the_collection_calls(sim, tmp_path):
    sim.control.reset(FLEET)
    env = _env(sim)
    hosts = {
        'vm-broken': {'azure_vm_id': sim.vm_id('rg-rbac', 'vm-broken')},
        'vm-ok': {'azure_vm_id': sim.vm_id('rg-rbac', 'vm-ok')},
        'vm-off': {'azure_vm_id': sim.vm_id('rg-rbac', 'vm-off')},
        'ss_0': {'azure_vm_id': sim.instance_id('rg-rbac', 'ss', 0)},
        'ss_1': {'azure_vm_id': sim.instance_id('rg-rbac', 'ss', 1)},
    }
    inv = write_inventory(tmp_path, hosts)
    pb = os.path.join(REPO_ROOT, 'playbooks')
    intent = {'linux_access_recovery_username': 'rescue', 'linux_access_recovery_ssh_key': KEY}
    runs = [
        run_playbook(os.path.join(pb, 'reset_proxy_agent_keys.yml'), env, inventory=inv, check=True),
        run_playbook(os.path.join(pb, 'reset_proxy_agent_keys.yml'), env, inventory=inv),
        run_playbook(
            os.path.join(pb, 'reset_proxy_agent_keys.yml'),
            env,
            inventory=inv,
            extra_vars={'proxy_agent_key_recovery_mode': 'all', 'proxy_agent_key_recovery_wait': False},
        ),
        run_playbook(os.path.join(pb, 'regain_linux_access.yml'), env, inventory=inv, extra_vars=intent, check=True),
        run_playbook(os.path.join(pb, 'regain_linux_access.yml'), env, inventory=inv, extra_vars=intent),
        run_playbook(
            os.path.join(pb, 'regain_linux_access.yml'),
            env,
            inventory=inv,
            extra_vars={'linux_access_recovery_state': 'absent'},
        ),
        run_playbook(
            [
                {
                    'hosts': 'localhost',
                    'gather_facts': False,
                    'tasks': [
                        {
                            'ansible.builtin.debug': {
                                'msg': "{{ query('vmrescue.azure.key_latch_status', *ids, on_missing='skip') }}"
                            }
                        }
                    ],
                    'vars': {'ids': [h['azure_vm_id'] for h in hosts.values()]},
                }
            ],
            env,
        ),
        run_adhoc('vm-ok', 'vmrescue.azure.vmaccess_linux', {'reset_ssh': True}, env, inventory=inv),
        # run_command: managed on vm-ok and ss_0 (then removed), the action form on vm-broken and ss_1
        run_adhoc('vm-ok:vm-broken:ss_0:ss_1', 'vmrescue.azure.run_command', {'script': 'echo hi'}, env, inventory=inv),
        run_adhoc('vm-ok:ss_0', 'vmrescue.azure.run_command', {'state': 'absent'}, env, inventory=inv),
        # vm_remedy: every rung on a VM, restart and redeploy on a Uniform instance (no reapply there)
        run_adhoc(
            'vm-ok:ss_0', 'vmrescue.azure.vm_remedy', {'rung': 'restart', 'wait_timeout': 30}, env, inventory=inv
        ),
        run_adhoc('vm-ok', 'vmrescue.azure.vm_remedy', {'rung': 'reapply', 'wait_timeout': 30}, env, inventory=inv),
        run_adhoc(
            'vm-ok:ss_0',
            'vmrescue.azure.vm_remedy',
            {'rung': 'redeploy', 'allow_disruptive': True, 'wait_timeout': 30},
            env,
            inventory=inv,
        ),  # fmt: skip
    ]
    for run in runs:
        assert run.rc in (0, 2), run  # 2: hosts skipped or failed by the role on purpose (vm-off), not an error
    cfg = tmp_path / 'rbac.vms.yml'
    cfg.write_text(yaml.safe_dump({'plugin': 'vmrescue.azure.vms'}))
    inv_env = dict(env, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR, PATH=VENV_BIN + os.pathsep + env.get('PATH', ''))
    inv_env.pop('PYTHONPATH', None)
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-inventory'), '-i', str(cfg), '--list'],
        env=inv_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr

    log = sim.control.requests() + _offline_rescue_log(sim, env)
    seen = actions_of(log) | linked_actions(log)
    denied = [e for e in log if e.get('status') == 403]
    assert not denied, denied
    role = role_actions()
    assert seen - role == set(), 'the role lacks actions the collection calls: %s' % sorted(seen - role)
    unseen = role - seen - set(ONLY_ON_PATHS_NOT_RUN_HERE)
    assert unseen == set(), 'the role grants actions the collection never calls: %s' % sorted(unseen)


# Actions the role holds for a path this test does not take, each with the path
ONLY_ON_PATHS_NOT_RUN_HERE = {
    'Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action': (
        'offline_rescue reads the serial log of a VM that did not boot on its repaired disk'
    ),
}
RESCUE_FLEET = fleet_on_test_principals(
    [
        {
            'name': 'rg-rescue',
            'location': 'westeurope',
            'network': {'vnet': 'rescue-vnet', 'subnets': [{'name': 'rescue', 'address_prefix': '10.0.1.0/24'}]},
            'vms': [{'name': 'lin-fstab', 'boot_fault': 'fstab'}],
        }
    ]
)


def _offline_rescue_log(sim, env):
    """The requests of an offline rescue (a rescue VM created in a subnet), its rollback and its clean-up."""
    sim.control.reset(RESCUE_FLEET)
    sim.control.config(script_time_scale=0.01)
    subnet = '/subscriptions/%s/resourceGroups/rg-rescue/providers/Microsoft.Network/virtualNetworks/rescue-vnet/' % (
        sim.subscription_id
    )
    common = dict(vm_id=sim.vm_id('rg-rescue', 'lin-fstab'), wait_timeout=120)
    tasks = [
        dict(
            common,
            action='fstab',
            rescue_subnet_id=subnet + 'subnets/rescue',
            rescue_resource_group='rg-rescue',
            rescue_admin_ssh_public_key=KEY,
        ),  # fmt: skip
        dict(common, state='rolled_back'),
        dict(common, state='cleaned', keep_original=False),
    ]
    play = [{'hosts': 'localhost', 'gather_facts': False,
             'tasks': [{'vmrescue.azure.offline_rescue': t} for t in tasks]}]  # fmt: skip
    run = run_playbook(play, env)
    assert run.rc == 0, run
    return sim.control.requests()


def test_guide_shows_the_role_file():
    """The user guide's copy of the role (antsibull-docs ships only rst) is the JSON file, parsed the same."""
    path = os.path.join(REPO_ROOT, 'docs', 'docsite', 'rst', 'guide_authentication.rst')
    with open(path) as fh:
        text = fh.read()
    block = text.split('.. code-block:: json\n\n', 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith('    '):
            break
        lines.append(line[4:])
    with open(ROLE_FILE) as fh:
        assert json.loads('\n'.join(lines)) == json.load(fh)
