"""A fleet spread over several subscriptions: each subscription has its own throttle buckets (azure-facts.md
section 3: the gateway throttles per principal per subscription, Microsoft.Compute per subscription)."""

import os

import pytest
import yaml

from armsim.fleet import subscription_ids

TEST_FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'test.yaml')


@pytest.fixture
def spread(sim):
    """The session simulator reset to 9 generated VMs over 3 subscriptions (same tenant and principals)."""
    with open(TEST_FLEET) as fh:
        base = yaml.safe_load(fh)
    fleet = {k: base[k] for k in ('tenant_id', 'subscription_id', 'principals')}
    fleet['generate'] = {'count': 9, 'subscriptions': 3, 'resource_group': 'rg-spread', 'prefix': 'sp'}
    sim.control.reset(fleet)
    yield subscription_ids(3, base['subscription_id'])
    sim.control.reset(TEST_FLEET)


def _vm(sub, name):
    return f'/subscriptions/{sub}/resourceGroups/rg-spread/providers/Microsoft.Compute/virtualMachines/{name}'


def test_generated_fleet_spreads_vms_round_robin(sim, arm, spread):
    ids = sim.control.vms()
    assert len(ids) == 9
    for i in range(9):
        assert any(vm.lower() == _vm(spread[i % 3], f'sp-{i:05d}').lower() for vm in ids)
    assert arm.get(_vm(spread[1], 'sp-00001')).status_code == 200
    assert arm.get(_vm(spread[0], 'sp-00001')).status_code == 404  # each VM lives in one subscription only
    listing = arm.get(f'/subscriptions/{spread[2]}/providers/Microsoft.Compute/virtualMachines').json()
    assert sorted(v['name'] for v in listing['value']) == ['sp-00002', 'sp-00005', 'sp-00008']


def test_gateway_buckets_are_per_subscription(sim, arm, spread):
    sim.control.config(gw_read_burst=2, gw_read_rate=0.01)
    a, b = _vm(spread[0], 'sp-00000'), _vm(spread[1], 'sp-00001')
    assert [arm.get(a).status_code for _ in range(3)] == [200, 200, 429]
    first_b = arm.get(b)
    assert first_b.status_code == 200  # subscription B's bucket is full
    assert first_b.headers['x-ms-ratelimit-remaining-subscription-reads'] == '1'
    assert arm.get(a).status_code == 429


def test_compute_subscription_buckets_are_per_subscription(sim, arm, spread):
    sim.control.config(compute_low_cost_get_sub_burst=2, compute_low_cost_get_sub_rate=1)
    a = [_vm(spread[0], 'sp-00000'), _vm(spread[0], 'sp-00003'), _vm(spread[0], 'sp-00006')]
    assert [arm.get(vm).status_code for vm in a] == [200, 200, 429]
    resp = arm.get(_vm(spread[2], 'sp-00002'))
    assert resp.status_code == 200
    assert 'LowCostGetSubscription1Min;1' in resp.headers['x-ms-ratelimit-remaining-resource']
