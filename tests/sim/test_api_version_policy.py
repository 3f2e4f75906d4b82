"""The api-version policy (docs/design.md, "api-version policy"): the collection pins 2024-11-01 and preserves
what it does not know. A Uniform instance's GET + PUT sends back every field its GET returned, fields of a newer
api-version (addProxyAgentExtension, 2025-04-01) and made-up future ones included, so a key reset never drops them.

The simulator here returns those fields at 2024-11-01 (Azure serialises by api-version and would not): the
stronger case for the client, which must round-trip whatever it reads.
"""

import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))

from test_spec_conformance import problems  # noqa: E402

NEWER = {
    'securityProfile': {'proxyAgentSettings': {'addProxyAgentExtension': True}},
    'futureProfile': {'setting': 'kept'},
}


@pytest.fixture
def newer_sim(sim):
    test_fleet = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'test.yaml'
    )
    with open(test_fleet) as fh:
        fleet = yaml.safe_load(fh)
    fleet.pop('subscriptions', None)
    fleet['resource_groups'] = [
        {
            'name': 'rg-newer',
            'location': 'westeurope',
            'scale_sets': [
                {
                    'name': 'ss-newer',
                    'orchestration': 'Uniform',
                    'proxy_agent': {'key_incarnation_id': 1},
                    'instances': [{'extra_properties': NEWER}],
                }
            ],
            'vms': [{'name': 'vm-newer', 'proxy_agent': {'key_incarnation_id': 1}, 'extra_properties': NEWER}],
        }
    ]
    sim.control.reset(fleet)
    return sim


def paths(node, prefix=''):
    """Every leaf path of a JSON object ('/properties/securityProfile/...')."""
    if isinstance(node, dict) and node:
        return set().union(*(paths(v, '%s/%s' % (prefix, k)) for k, v in node.items()))
    return {prefix}


@pytest.mark.usefixtures('no_global_ca_bundle')  # the control client verifies with the sim's CA
def test_key_reset_keeps_fields_of_newer_api_versions(newer_sim, sim_env, monkeypatch):
    from ansible_runner import run_playbook
    from simarm import Arm

    inst = newer_sim.instance_id('rg-newer', 'ss-newer', 0)
    vm = newer_sim.vm_id('rg-newer', 'vm-newer')
    before = Arm(newer_sim).get(inst).json()  # what a GET at the collection's api-version returns
    newer_sim.control.clear_requests()
    tasks = [
        {'name': 'reset %s' % t, 'vmrescue.azure.proxy_agent_key_reset': {'vm_id': t, 'state': 'reset'}}
        for t in (inst, vm)
    ]
    r = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], sim_env)
    assert r.rc == 0, r.text[-3000:]

    put = [e for e in newer_sim.control.requests() if e['method'] == 'PUT']
    assert len(put) == 1
    # The PUT drops nothing its GET returned (etag and the read-only instance view aside).
    sent = paths(put[0]['body'])
    dropped = {
        p
        for p in paths(before) - sent
        if p != '/etag'
        and not p.startswith('/properties/instanceView')
        and not any(q.startswith(p + '/') for q in sent)
    }  # an empty map the write filled (tags)
    assert dropped == set(), dropped
    assert put[0]['body']['properties']['futureProfile'] == {'setting': 'kept'}
    # Whether the GET showed the 2025-04-01 field or not (Azure shows it from 2025-04-01 on and keeps it on an
    # older-version PUT), both the instance and the VM still hold both fields after the reset.
    for target in (inst, vm):
        props = newer_sim.control.vm(target)['model']['properties']
        settings = props['securityProfile']['proxyAgentSettings']
        assert settings['addProxyAgentExtension'] is True and settings['keyIncarnationId'] == 2
        assert props['futureProfile'] == {'setting': 'kept'}

    # the allow-list knows the 2025-04-01 field; the made-up one is named
    found = problems(put[0]['body'], put[0]['path'], 'put')
    assert len(found) == 1 and found[0].endswith(
        "/properties/futureProfile: not in the 2024-11-01 definition (a newer api-version's field? add it to "
        'NEWER_FIELDS with its source)'
    ), found
