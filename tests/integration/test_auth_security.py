"""Auth settings that weaken security are warned about every time; transient cloud-metadata failures are survived."""

import pytest

from ansible_runner import run_adhoc, run_playbook

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')

MOD = 'vmrescue.azure.proxy_agent_key_reset'
WARNING_WORDS = 'TLS certificates are not checked'


def _one_line(text):
    return ' '.join(text.split())  # ansible-core < 2.19 wraps warnings at 79 columns


def test_certificate_validation_off_warns_in_every_mode(sim, sim_env):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    env = dict(sim_env, AZURE_CERT_VALIDATION_MODE='ignore')
    # ad-hoc, one VM
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'key_incarnation_id': 3}, env)
    assert r.rc == 0, r.text[-2500:]
    assert WARNING_WORDS in _one_line(r.text) and not r.reveals(sim.client_secret)
    # option in a playbook, batch in the background (the batch's own process has no terminal: the task warns)
    r = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {
                        MOD: {
                            'targets': [vm],
                            'key_incarnation_id': 3,
                            'background': True,
                            'cert_validation_mode': 'ignore',
                        },
                        'register': 'batch',
                    },
                    {'vmrescue.azure.batch_result': {'batch': '{{ batch }}', 'index': 0}},
                ],
            }
        ],
        sim_env,
    )
    assert r.rc == 0, r.text[-2500:]
    assert WARNING_WORDS in _one_line(r.text)
    assert r.result(task=0)['warnings'] and r.result(task=1)['id'] == vm
    # the lookup
    r = run_playbook(
        [
            {
                'hosts': 'localhost',
                'gather_facts': False,
                'tasks': [
                    {'ansible.builtin.debug': {'msg': "{{ lookup('vmrescue.azure.key_latch_status', '%s') }}" % vm}}
                ],
            }
        ],
        env,
    )
    assert r.rc == 0, r.text[-2500:]
    assert WARNING_WORDS in _one_line(r.text)
    # validated certificates: no warning
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'key_incarnation_id': 3}, sim_env)
    assert r.rc == 0 and WARNING_WORDS not in _one_line(r.text), r


def test_plain_http_cloud_metadata_is_refused_before_any_request(sim, sim_env):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    sim.control.reset_counters()
    env = dict(sim_env, AZURE_CLOUD_ENVIRONMENT=sim.base_url.replace('https://', 'http://'))
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'state': 'reset'}, env)
    assert r.rc != 0
    assert 'plain http' in r.text and 'allow_unencrypted_cloud_metadata' in r.text
    assert not r.reveals(sim.client_secret)
    c = sim.control.counters()
    assert c['token'] == 0 and c['read'] == 0 and c['write'] == 0, c


def test_a_transient_cloud_metadata_failure_is_retried(sim, sim_env):
    vm = sim.vm_id('rg-linux', 'lin-ok')
    sim.control.fault(method='GET', path_regex='^/metadata/endpoints', kind='status', status=503, count=2)
    r = run_adhoc('localhost', MOD, {'vm_id': vm, 'key_incarnation_id': 3}, sim_env)
    assert r.rc == 0, r.text[-2500:]
