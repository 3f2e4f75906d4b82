"""Gateway and Microsoft.Compute throttling (azure-facts.md section 3)."""

import json


def test_real_default_limits_in_headers(arm):
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'))
    assert resp.headers['x-ms-ratelimit-remaining-subscription-reads'] == '249'
    assert resp.headers['x-ms-ratelimit-remaining-subscription-global-reads'] == str(250 * 15 - 1)
    assert resp.headers['x-ms-ratelimit-remaining-resource'] == (
        'Microsoft.Compute/LowCostGet1Min;35,Microsoft.Compute/LowCostGetSubscription1Min;23999'
    )
    write = arm.raise_key(arm.vm('rg-linux', 'lin-ok'), 4)
    assert write.headers['x-ms-ratelimit-remaining-subscription-writes'] == '199'
    assert write.headers['x-ms-ratelimit-remaining-resource'].startswith('Microsoft.Compute/UpdateVM1Min;11,')
    listing = arm.get(f'/subscriptions/{arm.sub}/providers/Microsoft.Compute/virtualMachines')
    assert listing.headers['x-ms-ratelimit-remaining-resource'] == 'Microsoft.Compute/HighCostGetSubscription1Min;899'
    poll = arm.get(write.headers['Azure-AsyncOperation'], api=None)
    assert poll.headers['x-ms-ratelimit-remaining-resource'].startswith('Microsoft.Compute/GetOperation1Min;44,')


def test_gateway_429(sim, arm):
    sim.control.config(gw_read_burst=3, gw_read_rate=0.01)
    statuses = [arm.get(f'/subscriptions/{arm.sub}/resourcegroups').status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    resp = arm.get(f'/subscriptions/{arm.sub}/resourcegroups')
    assert resp.json()['error']['code'] == 'SubscriptionRequestsThrottled'
    assert 'Please try again after' in resp.json()['error']['message']
    assert int(resp.headers['Retry-After']) >= 1
    assert sim.control.counters()['throttled'] == 2


def test_gateway_buckets_are_per_principal(sim, arm, readonly_arm):
    sim.control.config(gw_read_burst=2, gw_read_rate=0.01)
    path = f'/subscriptions/{arm.sub}/resourcegroups'
    assert [arm.get(path).status_code for _ in range(3)] == [200, 200, 429]
    assert readonly_arm.get(path).status_code == 200


def test_compute_update_vm_429_per_resource(sim, arm):
    sim.control.config(compute_update_vm_resource_burst=2, busy_conflict=False)
    vm = arm.vm('rg-linux', 'lin-ok')
    assert arm.raise_key(vm, 4).status_code == 200
    assert arm.raise_key(vm, 5).status_code == 200
    resp = arm.raise_key(vm, 6)
    assert resp.status_code == 429
    err = resp.json()['error']
    assert err['code'] == 'OperationNotAllowed'
    detail = err['details'][0]
    assert detail['code'] == 'TooManyRequests' and detail['target'] == 'UpdateVM1Min'
    assert json.loads(detail['message'])['allowedRequestCount'] == 2
    assert resp.headers['Retry-After'] == '15'  # 4 per minute refill
    assert resp.headers['x-ms-ratelimit-remaining-resource'].startswith('Microsoft.Compute/UpdateVM1Min;0')
    assert arm.raise_key(arm.vm('rg-linux', 'lin-audit'), 8).status_code == 200  # another VM has its own bucket


def test_compute_subscription_bucket(sim, arm):
    sim.control.config(compute_low_cost_get_sub_burst=2, compute_low_cost_get_sub_rate=1)
    assert arm.get(arm.vm('rg-linux', 'lin-ok')).status_code == 200
    assert arm.get(arm.vm('rg-linux', 'lin-audit')).status_code == 200
    resp = arm.get(arm.vm('rg-linux', 'lin-aad'))
    assert resp.status_code == 429
    assert resp.json()['error']['details'][0]['target'] == 'LowCostGetSubscription1Min'


def test_throttle_off(sim, arm):
    sim.control.config(throttle=False, compute_low_cost_get_resource_burst=1)
    for _ in range(3):
        resp = arm.get(arm.vm('rg-linux', 'lin-ok'))
        assert resp.status_code == 200 and 'x-ms-ratelimit-remaining-resource' not in resp.headers
