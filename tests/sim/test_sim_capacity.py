"""VM sizes and vCPU quotas in the simulator (armsim/capacity.py): the skus list (ResourceSkus_List, 2021-07-01) and
the usages (Usage_List) against the official definitions, usage following the fleet's VMs, and a VM create over
the quota refused with Azure's text; the data-disk limit of a size as the skus list says it."""

import pytest
from rescuekit import done, vm_path
from test_sim_rescue_vm import make_nic, vm_body

import specconf

SKUS_SWAGGER = (
    specconf.SPECS / 'specification/compute/resource-manager/Microsoft.Compute/Skus/stable/2021-07-01/skus.json'
)
COMMON_SWAGGER = specconf.VM_SWAGGER.parent / 'computeRPCommon.json'
SKUS_PATH = '/subscriptions/{subscriptionId}/providers/Microsoft.Compute/skus'
USAGES_PATH = '/subscriptions/{subscriptionId}/providers/Microsoft.Compute/locations/{location}/usages'


def skus(arm, location='westeurope'):
    resp = arm.get(f'/subscriptions/{arm.sub}/providers/Microsoft.Compute/skus', api='2021-07-01',
                   query={'$filter': f"location eq '{location}'"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert specconf.errors(resp.json(), SKUS_PATH, 'get', '200', swagger=SKUS_SWAGGER) == []
    return {s['name']: {c['name']: c['value'] for c in s['capabilities']} | {'family': s['family']}
            for s in resp.json()['value']}  # fmt: skip


def usages(arm, location='westeurope'):
    resp = arm.get(f'/subscriptions/{arm.sub}/providers/Microsoft.Compute/locations/{location}/usages')
    assert resp.status_code == 200, resp.text
    assert specconf.errors(resp.json(), USAGES_PATH, 'get', '200', swagger=COMMON_SWAGGER) == []
    return {u['name']['value']: (u['currentValue'], u['limit']) for u in resp.json()['value']}


def test_skus_list_the_sizes_with_their_data_disk_limits_and_vcpus(rescue):
    got = skus(rescue)
    assert got['Standard_B1s']['MaxDataDiskCount'] == '2' and got['Standard_B1s']['vCPUs'] == '1'
    assert got['Standard_D2s_v5'] == dict(got['Standard_D2s_v5'], MaxDataDiskCount='4', vCPUs='2',
                                          family='standardDSv5Family')  # fmt: skip
    assert got['Standard_D2ps_v5']['CpuArchitectureType'] == 'Arm64'
    assert skus(rescue, 'nowhere') == {}
    bad = rescue.get(f'/subscriptions/{rescue.sub}/providers/Microsoft.Compute/skus', api='2021-07-01',
                     query={'$filter': "name eq 'x'"})  # fmt: skip
    assert bad.status_code == 400


def test_usages_count_running_vms_and_a_create_over_the_quota_is_refused(sim, rescue):
    before = usages(rescue)
    assert before['cores'][0] > 0 and before['cores'][1] == 2000
    vm = vm_path(rescue, 'lin-fstab')
    done(rescue, rescue.post(vm + '/deallocate'))
    after = usages(rescue)
    assert after['cores'][0] == before['cores'][0] - 2
    assert after['standardDSv5Family'][0] == before['standardDSv5Family'][0] - 2
    sim.control.config(vcpu_quota_family=after['standardDSv5Family'][0] + 1)
    nic = make_nic(rescue, 'over-nic')
    refused = rescue.put(vm_path(rescue, 'over'), vm_body(rescue, nic))
    assert refused.status_code == 409, refused.text
    err = refused.json()['error']
    assert err['code'] == 'OperationNotAllowed'
    assert 'exceeding approved standardDSv5Family Cores quota' in err['message']
    assert 'Additional Required: 2' in err['message']
    assert sim.control.nics() and 'over' not in [v.rsplit('/', 1)[-1] for v in sim.control.vms()]


@pytest.mark.parametrize('size,limit', [('Standard_B1s', 2), ('Standard_D2s_v5', 4)])
def test_an_attach_beyond_the_sizes_data_disk_limit_is_refused(sim, rescue, size, limit):
    assert skus(rescue)[size]['MaxDataDiskCount'] == str(limit)
    body = vm_body(rescue, make_nic(rescue, 'r-nic'))
    body['properties']['hardwareProfile']['vmSize'] = size
    vm = vm_path(rescue, 'r')
    done(rescue, rescue.put(vm, body))
    entries = [{'lun': n, 'createOption': 'Empty', 'diskSizeGB': 4} for n in range(limit + 1)]
    refused = rescue.patch(vm, {'properties': {'storageProfile': {'dataDisks': entries}}})
    assert refused.status_code == 409, refused.text
    assert refused.json()['error']['code'] == 'OperationNotAllowed'
    assert refused.json()['error']['message'] == (
        'The maximum number of data disks allowed to be attached to a VM of this size is %d.' % limit
    )
