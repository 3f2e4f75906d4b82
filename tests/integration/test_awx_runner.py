"""The collection playbooks run the way AWX / Automation Controller runs them: ansible-runner with a private data
dir whose ``env/envvars`` is exactly what AWX's "Microsoft Azure Resource Manager" credential injects
(awx/main/models/credential/injectors.py ``azure_rm``: AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_TENANT,
AZURE_SECRET and, when the credential has one, AZURE_CLOUD_ENVIRONMENT), and nothing else from the credential.

The two cloud forms users put in that credential: the full metadata URL, and the Azure Stack Hub form (the
Resource Manager endpoint, with or without a trailing slash, which azure.azcollection also accepts). What an
execution environment provides (the collection, its trust store) comes from the process environment here:
ANSIBLE_COLLECTIONS_PATH and REQUESTS_CA_BUNDLE (the simulator's CA).
"""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_runner import COLLECTIONS_DIR, VENV_BIN, fleet_on_test_principals

FLEET = fleet_on_test_principals(
    [
        {
            'name': 'rg-awx',
            'location': 'westeurope',
            'vms': [
                {'name': 'awx-ok', 'proxy_agent': {'key_incarnation_id': 2}},
                {'name': 'awx-broken', 'proxy_agent': {'key_incarnation_id': 1, 'fault': 'key_lost'}},
            ],
        },
    ]
)
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'


def awx_azure_rm_injector(subscription, client, tenant, secret, cloud_environment=None):
    """What AWX's azure_rm injector puts in the job environment for a service principal credential."""
    env = {
        'AZURE_SUBSCRIPTION_ID': subscription,
        'AZURE_CLIENT_ID': client,
        'AZURE_TENANT': tenant,
        'AZURE_SECRET': secret,
    }
    if cloud_environment is not None:
        env['AZURE_CLOUD_ENVIRONMENT'] = cloud_environment
    return env


def _private_data_dir(tmp_path, sim, playbook, cloud_environment, extravars=None):
    pdd = tmp_path / 'pdd'
    for sub in ('env', 'project', 'inventory'):
        (pdd / sub).mkdir(parents=True)
    (pdd / 'env' / 'envvars').write_text(
        yaml.safe_dump(
            awx_azure_rm_injector(
                sim.subscription_id, sim.client_id, sim.tenant_id, sim.client_secret, cloud_environment
            )
        )
    )
    if extravars:
        (pdd / 'env' / 'extravars').write_text(yaml.safe_dump(extravars))
    # A project playbook as an AWX project would have it: the collection playbook by its FQCN.
    (pdd / 'project' / 'site.yml').write_text(yaml.safe_dump([{'ansible.builtin.import_playbook': playbook}]))
    hosts = {
        'awx-ok': {'azure_vm_id': sim.vm_id('rg-awx', 'awx-ok')},
        'awx-broken': {'azure_vm_id': sim.vm_id('rg-awx', 'awx-broken')},
    }
    (pdd / 'inventory' / 'hosts.yml').write_text(
        yaml.safe_dump({'all': {'hosts': hosts, 'vars': {'ansible_python_interpreter': sys.executable}}})
    )
    return pdd


def _run(pdd, sim):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('AZURE_'))
    env.update(
        {
            'PATH': VENV_BIN + os.pathsep + env.get('PATH', ''),
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS_DIR,
            'REQUESTS_CA_BUNDLE': sim.ca_file,
            'ANSIBLE_NOCOLOR': '1',
        }
    )
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-runner'), 'run', str(pdd), '-p', 'site.yml', '--ident', 'job'],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    events = []
    for path in sorted(glob.glob(str(pdd / 'artifacts' / 'job' / 'job_events' / '*.json'))):
        with open(path) as fh:
            events.append(json.load(fh))
    rc = (pdd / 'artifacts' / 'job' / 'rc').read_text().strip()
    return proc, events, rc


def _artifact_data(events):
    """What AWX shows as the job's artifacts: set_stats data, from the playbook_on_stats event."""
    stats = [e for e in events if e.get('event') == 'playbook_on_stats']
    assert stats, 'no playbook_on_stats event'
    return stats[-1]['event_data'].get('artifact_data') or {}


@pytest.mark.parametrize('form', ['metadata_url', 'arm_endpoint', 'arm_endpoint_slash'])
def test_reset_proxy_agent_keys_under_ansible_runner_with_awx_credential(sim, tmp_path, form):
    sim.control.reset(FLEET)
    cloud = {'metadata_url': sim.metadata_url, 'arm_endpoint': sim.base_url, 'arm_endpoint_slash': sim.base_url + '/'}[
        form
    ]
    pdd = _private_data_dir(tmp_path, sim, 'vmrescue.azure.reset_proxy_agent_keys', cloud)
    proc, events, rc = _run(pdd, sim)
    assert rc == '0', proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = _artifact_data(events)['proxy_agent_key_recovery_summary']
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['failed']) == (2, 1, 1, 0)
    assert list(summary['changed_hosts']) == ['awx-broken']
    assert sim.client_secret not in proc.stdout + proc.stderr


def test_regain_linux_access_under_ansible_runner_azure_stack_credential(sim, tmp_path):
    """The Azure Stack Hub case: AZURE_CLOUD_ENVIRONMENT is the Resource Manager endpoint."""
    sim.control.reset(FLEET)
    pdd = _private_data_dir(
        tmp_path,
        sim,
        'vmrescue.azure.regain_linux_access',
        sim.base_url,
        extravars={'linux_access_recovery_username': 'rescue', 'linux_access_recovery_ssh_key': KEY},
    )
    proc, events, rc = _run(pdd, sim)
    assert rc == '0', proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = _artifact_data(events)['linux_access_recovery_summary']
    assert (summary['checked'], summary['changed'], summary['failed']) == (2, 2, 0), summary
    assert KEY.split()[1] in str(sim.control.guest(sim.vm_id('rg-awx', 'awx-ok')))
    assert sim.client_secret not in proc.stdout + proc.stderr
