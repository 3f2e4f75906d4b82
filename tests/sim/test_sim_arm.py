"""Resource Manager basics: metadata, listings, errors, api-version, paging, LROs, etags, conflicts."""

import time

import pytest

KEY_MESSAGE = 'The value `securityProfile.proxyAgentSettings.keyIncarnationId` can only be incremented.'
KEY_TARGET = 'securityProfile.proxyAgentSettings.keyIncarnationId'


def test_metadata_endpoints_is_one_object(sim, arm):
    resp = arm.session.get(sim.metadata_url)
    body = resp.json()
    assert isinstance(body, dict)
    assert body['resourceManager'] == sim.base_url + '/'
    assert body['authentication']['loginEndpoint'].startswith(sim.base_url)
    assert body['authentication']['audiences'][0] == 'https://management.core.windows.net/'
    assert isinstance(body['suffixes'], dict) and body['name']


def test_subscriptions_tenants_and_groups(sim, arm):
    subs = arm.get('/subscriptions').json()['value']
    assert [s['subscriptionId'] for s in subs] == [sim.subscription_id]
    assert subs[0]['tenantId'] == sim.tenant_id and subs[0]['state'] == 'Enabled'
    assert arm.get('/tenants').json()['value'][0]['tenantId'] == sim.tenant_id
    groups = arm.get(f'/subscriptions/{sim.subscription_id}/resourcegroups').json()['value']
    assert {g['name'] for g in groups} == {'rg-linux', 'rg-windows', 'rg-vmss'}
    assert arm.get(f'/subscriptions/{sim.subscription_id}/resourceGroups/RG-LINUX').json()['name'] == 'rg-linux'


def test_missing_and_invalid_api_version(arm):
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), api=None)
    assert resp.status_code == 400 and resp.json()['error']['code'] == 'MissingApiVersionParameter'
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), api='latest')
    assert resp.status_code == 400 and resp.json()['error']['code'] == 'InvalidApiVersionParameter'
    assert arm.get(arm.vm('rg-linux', 'lin-ok'), api='2019-03-01').status_code == 200


def test_not_found_messages(arm):
    resp = arm.get(arm.vm('rg-linux', 'nope'))
    assert resp.status_code == 404
    assert resp.json()['error'] == {
        'code': 'ResourceNotFound',
        'message': "The Resource 'Microsoft.Compute/virtualMachines/nope' under resource group 'rg-linux' was not "
        'found. For more details please go to https://aka.ms/ARMResourceNotFoundFix',
    }
    resp = arm.get(arm.vm('rg-missing', 'lin-ok'))
    assert resp.status_code == 404
    assert resp.json()['error'] == {
        'code': 'ResourceGroupNotFound',
        'message': "Resource group 'rg-missing' could not be found.",
    }


def test_paths_are_case_insensitive_and_responses_canonical(arm):
    path = (
        arm.vm('rg-linux', 'lin-ok')
        .replace('resourceGroups', 'RESOURCEGROUPS')
        .replace('Microsoft.Compute/virtualMachines', 'microsoft.compute/VIRTUALMACHINES')
    )
    body = arm.get(path).json()
    assert body['id'] == arm.vm('rg-linux', 'lin-ok')
    assert body['type'] == 'Microsoft.Compute/virtualMachines'


def test_vm_model_is_complete(arm):
    vm = arm.get(arm.vm('rg-linux', 'lin-ok')).json()
    props = vm['properties']
    assert vm['location'] == 'westeurope' and vm['etag']
    assert props['vmId'] and props['timeCreated'] and props['provisioningState'] == 'Succeeded'
    assert props['storageProfile']['osDisk']['createOption'] == 'FromImage'
    assert 'linuxConfiguration' in props['osProfile']
    assert props['networkProfile']['networkInterfaces']
    pa = props['securityProfile']['proxyAgentSettings']
    assert pa['enabled'] is True and pa['keyIncarnationId'] == 3 and pa['mode'] == 'Enforce'
    assert pa['wireServer']['mode'] == 'Enforce' and pa['imds']['mode'] == 'Enforce'
    win = arm.get(arm.vm('rg-windows', 'win-ok')).json()['properties']
    assert 'windowsConfiguration' in win['osProfile']
    nomsp = arm.get(arm.vm('rg-linux', 'lin-no-msp')).json()['properties']
    assert 'proxyAgentSettings' not in nomsp['securityProfile']


def test_list_vms_pages_with_next_link(sim, arm):
    sim.control.config(page_size=4)
    names, url, pages = (
        [],
        f'/subscriptions/{sim.subscription_id}/resourceGroups/rg-linux/providers/Microsoft.Compute/virtualMachines',
        0,
    )
    while url:
        body = arm.get(url, api=None if 'api-version' in url else '2024-11-01').json()
        names += [v['name'] for v in body['value']]
        url = body.get('nextLink')
        pages += 1
    assert pages == 4 and len(names) == 15 and 'lin-ok' in names
    everything = []
    url = f'/subscriptions/{sim.subscription_id}/providers/Microsoft.Compute/virtualMachines'
    while url:
        body = arm.get(url).json()
        everything += body['value']
        url = body.get('nextLink')
    assert len(everything) == 20  # 15 + 3 Windows + 2 Flexible members; Uniform instances are not VMs


def test_patch_vm_is_a_long_running_operation(sim, arm):
    sim.control.config(lro_seconds=0.5)
    path = arm.vm('rg-linux', 'lin-ok')
    resp = arm.raise_key(path, 4)
    assert resp.status_code == 200
    assert resp.json()['properties']['provisioningState'] == 'Updating'
    assert resp.json()['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 4
    for header in ('Azure-AsyncOperation', 'Location', 'Retry-After'):
        assert header in resp.headers
    assert resp.headers['Retry-After'] == '1'
    status = arm.get(resp.headers['Azure-AsyncOperation'], api=None)
    assert status.status_code == 200 and status.json()['status'] == 'InProgress' and status.json()['startTime']
    location = arm.get(resp.headers['Location'], api=None)
    assert location.status_code == 202
    assert arm.get(path).json()['properties']['provisioningState'] == 'Updating'
    done = arm.wait(resp)
    assert done['status'] == 'Succeeded' and done['endTime'] and done['name']
    final = arm.get(resp.headers['Location'], api=None)
    assert final.status_code == 200 and final.json()['name'] == 'lin-ok'
    assert arm.get(path).json()['properties']['provisioningState'] == 'Succeeded'


def test_second_write_during_an_operation_conflicts(sim, arm):
    sim.control.config(lro_seconds=1)
    path = arm.vm('rg-linux', 'lin-ok')
    first = arm.raise_key(path, 4)
    second = arm.raise_key(path, 5)
    assert second.status_code == 409
    assert second.json()['error'] == {
        'code': 'OperationNotAllowed',
        'message': "Operation 'Update' is not allowed on VM 'lin-ok' since another operation is in progress.",
    }
    assert arm.post(path + '/restart').status_code == 409
    arm.wait(first)
    assert arm.raise_key(path, 5).status_code == 200


def test_busy_conflict_can_be_turned_off(sim, arm):
    sim.control.config(lro_seconds=1, busy_conflict=False)
    path = arm.vm('rg-linux', 'lin-ok')
    assert arm.raise_key(path, 4).status_code == 200
    assert arm.raise_key(path, 6).status_code == 200
    assert arm.raise_key(path, 5).status_code == 400  # still increment-only: the final state is the largest
    assert arm.get(path).json()['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 6


@pytest.mark.parametrize('value', [2, 3])
def test_key_incarnation_can_only_be_raised(arm, value):
    resp = arm.raise_key(arm.vm('rg-linux', 'lin-ok'), value)  # current value is 3
    assert resp.status_code == 400
    assert resp.json()['error'] == {'code': 'InvalidParameter', 'message': KEY_MESSAGE, 'target': KEY_TARGET}


def test_put_vm_roundtrip_keeps_equal_key_and_rejects_lower(arm):
    path = arm.vm('rg-linux', 'lin-ok')
    model = arm.get(path).json()
    model['tags'] = {'touched': 'yes'}
    resp = arm.put(path, model)  # GET + PUT unchanged key (what `az vm update` does): accepted
    assert resp.status_code == 200
    arm.wait(resp)
    model = arm.get(path).json()
    assert model['tags'] == {'touched': 'yes'}
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 9
    arm.wait(arm.put(path, model))
    assert arm.get(path).json()['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 9
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 8
    resp = arm.put(path, model)
    assert resp.status_code == 400 and resp.json()['error']['target'] == KEY_TARGET


def test_put_vm_requires_os_disk_create_option(arm):
    path = arm.vm('rg-linux', 'lin-ok')
    model = arm.get(path).json()
    del model['properties']['storageProfile']['osDisk']['createOption']
    resp = arm.put(path, model)
    assert resp.status_code == 400 and resp.json()['error']['code'] == 'InvalidParameter'


def test_etag_and_if_match(arm):
    path = arm.vm('rg-linux', 'lin-ok')
    resp = arm.get(path)
    etag = resp.headers['ETag']
    assert etag == resp.json()['etag']
    bad = arm.request('PATCH', path, {'tags': {'a': 'b'}}, headers={'If-Match': '"999"'})
    assert bad.status_code == 412 and bad.json()['error']['code'] == 'PreconditionFailed'
    good = arm.request('PATCH', path, {'tags': {'a': 'b'}}, headers={'If-Match': etag})
    assert good.status_code == 200
    assert arm.get(path).headers['ETag'] != etag


def test_patch_tags_replace_the_whole_map(sim, arm):
    """ARM: a PATCH with ``tags`` replaces the tag map (a client must send the merged map); without ``tags`` they stay."""
    sim.control.config(lro_seconds=0)
    path = arm.vm('rg-linux', 'lin-ok')
    arm.wait(arm.patch(path, {'tags': {'owner': 'a', 'cost': 'b'}}))
    assert arm.get(path).json()['tags'] == {'owner': 'a', 'cost': 'b'}
    arm.wait(arm.patch(path, {'tags': {'vmrescue-key-reset': '1@2026-12-04T00:00:00Z'}}))
    assert arm.get(path).json()['tags'] == {'vmrescue-key-reset': '1@2026-12-04T00:00:00Z'}
    arm.wait(arm.raise_key(path, 7))
    assert arm.get(path).json()['tags'] == {'vmrescue-key-reset': '1@2026-12-04T00:00:00Z'}


def test_instance_tags_roundtrip_through_put(sim, arm):
    """Scale-set instances are ARM Resources with tags (VirtualMachineScaleSetVM allOf Resource)."""
    sim.control.config(lro_seconds=0)
    path = arm.instance('rg-vmss', 'ss-uniform', 0)
    resp = arm.get(path)
    model = resp.json()
    model['tags'] = {'vmrescue-key-reset': '2@2026-12-04T00:00:00Z'}
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 2
    arm.wait(arm.request('PUT', path, model, headers={'If-Match': resp.headers['ETag']}))
    assert arm.get(path).json()['tags'] == {'vmrescue-key-reset': '2@2026-12-04T00:00:00Z'}


def test_setting_proxy_agent_on_a_vm_without_it_is_stored(arm):
    path = arm.vm('rg-linux', 'lin-no-msp')
    resp = arm.patch(
        path, {'properties': {'securityProfile': {'proxyAgentSettings': {'enabled': True, 'keyIncarnationId': 1}}}}
    )
    assert resp.status_code == 200
    arm.wait(resp)
    pa = arm.get(path).json()['properties']['securityProfile']['proxyAgentSettings']
    assert pa == {'enabled': True, 'keyIncarnationId': 1}


def test_uniform_instances(sim, arm):
    base = f'/subscriptions/{sim.subscription_id}/resourceGroups/rg-vmss/providers/Microsoft.Compute/virtualMachineScaleSets'
    ss = arm.get(base + '/ss-uniform').json()
    assert ss['properties']['orchestrationMode'] == 'Uniform' and ss['sku']['capacity'] == 3
    instances = arm.get(base + '/ss-uniform/virtualMachines').json()['value']
    assert [i['instanceId'] for i in instances] == ['0', '1', '2']
    inst = arm.get(arm.instance('rg-vmss', 'ss-uniform', 1))
    assert inst.json()['type'] == 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
    assert inst.json()['name'] == 'ss-uniform_1' and inst.headers['ETag']
    assert {s['name'] for s in arm.get(base).json()['value']} == {'ss-uniform', 'ss-flex'}


def test_patch_on_an_instance_is_405(arm):
    resp = arm.raise_key(arm.instance('rg-vmss', 'ss-uniform', 0), 5)
    assert resp.status_code == 405
    assert resp.json()['error']['code'] == 'MethodNotAllowed'
    assert 'PATCH' in resp.json()['error']['message']


def test_put_instance_raises_its_key(sim, arm):
    path = arm.instance('rg-vmss', 'ss-uniform', 0)
    resp = arm.get(path)
    model = resp.json()
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 2
    stale = arm.request('PUT', path, model, headers={'If-Match': '"123"'})
    assert stale.status_code == 412
    put = arm.request('PUT', path, model, headers={'If-Match': resp.headers['ETag']})
    assert put.status_code == 202 and 'Azure-AsyncOperation' in put.headers and 'Location' in put.headers
    assert arm.wait(put)['status'] == 'Succeeded'
    assert arm.get(path).json()['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 2
    other = arm.get(arm.instance('rg-vmss', 'ss-uniform', 1)).json()
    assert other['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 1  # per instance
    model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] = 1
    assert arm.put(path, model).status_code == 400


def test_flexible_members_are_vms(sim, arm):
    vm = arm.get(arm.vm('rg-vmss', 'flex-1')).json()
    assert vm['type'] == 'Microsoft.Compute/virtualMachines'
    assert vm['properties']['virtualMachineScaleSet']['id'].endswith('/virtualMachineScaleSets/ss-flex')
    base = f'/subscriptions/{sim.subscription_id}/resourceGroups/rg-vmss/providers/Microsoft.Compute/virtualMachineScaleSets'
    assert arm.get(base + '/ss-flex').json()['properties']['orchestrationMode'] == 'Flexible'
    assert arm.get(base + '/ss-flex/virtualMachines').status_code == 400
    resp = arm.raise_key(arm.vm('rg-vmss', 'flex-1'), 2)
    assert resp.status_code == 200


def test_power_actions(sim, arm):
    path = arm.vm('rg-linux', 'lin-ok')
    resp = arm.post(path + '/deallocate')
    assert resp.status_code == 202 and 'Azure-AsyncOperation' in resp.headers and not resp.content
    arm.wait(resp)
    assert sim.control.vm(sim.vm_id('rg-linux', 'lin-ok'))['power'] == 'deallocated'
    view = arm.get(path + '/instanceView').json()
    assert view['statuses'][1]['code'] == 'PowerState/deallocated'
    arm.wait(arm.post(path + '/start'))
    assert arm.get(path + '/instanceView').json()['statuses'][1]['code'] == 'PowerState/running'
    arm.wait(arm.post(path + '/powerOff'))
    assert arm.get(path + '/instanceView').json()['statuses'][1]['code'] == 'PowerState/stopped'


def test_operation_failure_shape(sim, arm):
    path = arm.vm('rg-linux', 'lin-vmaccess') + '/extensions/resetaccess'
    resp = arm.put(
        path,
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.OSTCExtensions',
                'type': 'VMAccessForLinux',
                'typeHandlerVersion': '1.5',
                'protectedSettings': {'username': 'ops'},
            },
        },
    )
    done = arm.wait(resp)
    assert done['status'] == 'Failed' and done['error']['code'] == 'VMExtensionProvisioningError'
    location = arm.get(resp.headers['Location'], api=None)
    assert location.status_code >= 400 and location.json()['error']['code'] == 'VMExtensionProvisioningError'


def test_many_concurrent_keep_alive_connections(sim):
    import concurrent.futures

    import requests

    from simarm import Arm

    arm = Arm(sim)
    path = arm.vm('rg-linux', 'lin-ok')

    def worker(_):
        session = requests.Session()
        session.trust_env = False
        statuses = []
        for _ in range(3):
            r = session.get(
                sim.base_url + path,
                params={'api-version': '2024-11-01'},
                verify=sim.ca_file,
                headers={'Authorization': 'Bearer ' + arm.token},
            )
            statuses.append(r.status_code)
        session.close()
        return statuses

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        results = [s for r in pool.map(worker, range(100)) for s in r]
    assert set(results) <= {200, 429} and results.count(200) >= 36
    assert time.monotonic() - start < 20


def test_a_request_cut_off_before_its_body_ends_is_not_processed(sim, arm):
    """A client killed while sending a PATCH (headers out, body not): RFC 9112 section 6.3 calls the message
    incomplete; the simulator, like Resource Manager, acts on nothing and logs nothing (armsim/server.py)."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    vm = arm.vm('rg-linux', 'lin-ok')
    before = arm.get(vm).json()
    sim.control.clear_requests()
    body = b'{"properties": {"securityProfile": {"proxyAgentSettings": {"keyIncarnationId": 99}}}}'
    url = urlsplit(sim.base_url)
    context = ssl.create_default_context(cafile=sim.ca_file)
    with socket.create_connection((url.hostname, url.port)) as raw:
        with context.wrap_socket(raw, server_hostname=url.hostname) as conn:
            head = (
                'PATCH %s?api-version=2024-11-01 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n'
                'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n' % (vm, url.netloc, arm.token, len(body))
            )
            conn.sendall(head.encode() + body[:10])  # then the client dies
    time.sleep(0.5)
    after = arm.get(vm).json()
    assert after['etag'] == before['etag'] and after == before
    assert not [e for e in sim.control.requests() if e['method'] == 'PATCH'], sim.control.requests()
