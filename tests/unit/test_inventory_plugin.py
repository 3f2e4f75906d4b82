# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the vmrescue.azure.vms inventory plugin's pure parts and its lister (no network)."""

import json

from ansible_collections.vmrescue.azure.plugins.inventory import vms
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

SUB = '00000000-0000-0000-0000-000000000001'
RG_ID = '/subscriptions/%s/resourceGroups/RG-One' % SUB
VM1 = RG_ID + '/providers/Microsoft.Compute/virtualMachines/vm1'
SS = RG_ID + '/providers/Microsoft.Compute/virtualMachineScaleSets/ss'


def _vm(rid, os_type='Linux', enabled=True, incarnation=3):
    props = {'storageProfile': {'osDisk': {'osType': os_type}}}
    if enabled is not None:
        props['securityProfile'] = {'proxyAgentSettings': {'enabled': enabled, 'keyIncarnationId': incarnation}}
    return {'id': rid, 'name': rid.rsplit('/', 1)[-1], 'location': 'westeurope', 'properties': props}


def _view(power='running', message='Found key details from local and ready to use. - 12', latched='3', guid='g-1'):
    states = {'secureChannelState': 'WireServer Enforce -  IMDS Enforce', 'keyIncarnationId': latched}
    if guid:
        states['keyGuid'] = guid
    status = {
        'version': '1.0.47',
        'status': 'SUCCESS',
        'keyLatchStatus': {'status': 'RUNNING', 'message': message, 'states': states},
    }
    return {
        'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/' + power}],
        'extensions': [
            {
                'name': 'AzureProxyAgentExtension',
                'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux',
                'statuses': [{'code': 'ProvisioningState/succeeded'}],
                'substatuses': [{'code': 'ComponentStatus/ProxyAgentStatus/succeeded', 'message': json.dumps(status)}],
            }
        ],
    }


def test_key_health_uses_the_shared_classification():
    assert vms.key_health(_vm(VM1), _view())['health'] == 'healthy'
    lost = vms.key_health(_vm(VM1), _view(message='Failed to attest the key: 401 - 5', guid=None))
    assert lost['health'] == 'unhealthy' and lost['verdict'] == 'unhealthy'
    assert vms.key_health(_vm(VM1), _view(power='deallocated'))['health'] == 'unknown'
    # a reset the guest has not latched yet: model 4, guest 3
    assert vms.key_health(_vm(VM1, incarnation=4), _view())['verdict'] == 'pending'
    assert vms.key_health(_vm(VM1, incarnation=4), _view())['health'] == 'unknown'
    assert vms.key_health(_vm(VM1, enabled=None), _view())['health'] == 'disabled'
    assert vms.key_health(_vm(VM1, enabled=False), {})['health'] == 'disabled'
    not_enforced = _view(message='Customer has not enforce the secure channel state. - 3', guid=None)
    assert vms.key_health(_vm(VM1), not_enforced)['health'] == 'disabled'
    assert vms.key_health(_vm(VM1), {'_error': 'boom'})['health'] == 'unknown'


def test_host_vars_like_azure_rm():
    vm = _vm(VM1)
    vm['properties']['instanceView'] = _view()
    hv = vms.host_vars('vm', vm)
    assert hv['id'] == hv['azure_vm_id'] == VM1
    assert hv['resource_group'] == 'rg-one' and hv['subscription_id'] == SUB
    assert hv['os_profile'] == {'system': 'linux'} and hv['powerstate'] == 'running'
    assert 'vmss' not in hv
    inst = _vm(SS + '/virtualMachines/0', os_type='Windows')
    inst.update(name='ss_0', instanceId='0', _vmss={'id': SS, 'name': 'ss'})
    inst['properties']['instanceView'] = _view(power='stopped')
    hv = vms.host_vars('vmss_instance', inst)
    assert hv['vmss'] == {'id': SS, 'name': 'ss'} and hv['instance_id'] == '0'
    assert hv['os_profile'] == {'system': 'windows'} and hv['powerstate'] == 'stopped'


class FakeClient:
    """Serves paged lists (2 per page) and instance views; records every path read."""

    def __init__(self, vms_, sets, instances, fail_view=None):
        self.vms, self.sets, self.instances, self.fail_view = vms_, sets, instances, fail_view
        self.reads = []

    def _page(self, items, path, start):
        body = {'value': items[start : start + 2]}
        if start + 2 < len(items):
            body['nextLink'] = 'https://arm.test%s?api-version=x&$skiptoken=%d' % (path, start + 2)
        return body

    def get(self, path, api_version='default', params=None, missing_ok=False, resource_id=None):
        self.reads.append((path, params))
        start = 0
        if path.startswith('https://'):
            path, query = path[len('https://arm.test') :].split('?', 1)
            start = int(query.rsplit('=', 1)[1])
            assert api_version is None
        if path.endswith('/instanceView'):
            if self.fail_view and path.startswith(self.fail_view):
                raise ArmError('gone', status=404, code='NotFound')
            return _view()
        if path.endswith('/virtualMachineScaleSets'):
            return self._page(self.sets, path, start)
        if '/virtualMachineScaleSets/' in path:
            assert params == {'$expand': 'instanceView'}
            return self._page(self.instances, path, start)
        return self._page(self.vms, path, start)


def test_lister_pages_and_bulk_reads():
    vm_list = [_vm(RG_ID + '/providers/Microsoft.Compute/virtualMachines/vm%d' % i) for i in range(5)]
    sets = [
        {'id': SS, 'name': 'ss', 'properties': {'orchestrationMode': 'Uniform'}},
        {'id': SS + 'flex', 'name': 'ssflex', 'properties': {'orchestrationMode': 'Flexible'}},
    ]
    instances = []
    for i in range(5):
        inst = _vm(SS + '/virtualMachines/%d' % i)
        inst['properties']['instanceView'] = _view()
        instances.append(inst)
    client = FakeClient(vm_list, sets, instances, fail_view=vm_list[4]['id'])
    found = vms.Lister(client, [SUB], [], True, 4).fetch()
    assert [k for k, _ in found].count('vm') == 5 and [k for k, _ in found].count('vmss_instance') == 5
    records = [vms.host_vars(k, r) for k, r in found]
    assert records[4]['proxy_agent']['health'] == 'unknown'  # its instance view could not be read
    assert all(r['proxy_agent']['health'] == 'healthy' for i, r in enumerate(records) if i != 4)
    # no instance view read per Uniform instance, nothing for the Flexible set (its VMs are in the VM list)
    assert not [p for p, _ in client.reads if '/virtualMachineScaleSets/ss/virtualMachines/' in p]
    assert not [p for p, _ in client.reads if 'ssflex' in p]
    assert len([p for p, _ in client.reads if p.endswith('/instanceView')]) == 5


def test_lister_resource_group_scopes():
    client = FakeClient([], [], [])
    vms.Lister(client, [SUB, 'sub2'], ['rg-a', 'rg-b'], False, 1).fetch()
    paths = [p for p, _ in client.reads]
    assert paths == [
        '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines' % (s, g)
        for s in (SUB, 'sub2')
        for g in ('rg-a', 'rg-b')
    ]


def test_no_sideways_import_of_the_vmaccess_profiles():
    import inspect

    source = inspect.getsource(vms)
    assert '_vmaccess' not in source and 'module_utils._proxy_agent' in source


def test_diagnostic_groups():
    assert vms.diagnostic_groups(None) == [] and vms.diagnostic_groups({'enabled': False}) == []
    assert vms.diagnostic_groups({'enabled': None, 'problems': ['instance view not read']}) == []
    health = {
        'enabled': True,
        'modes': {'wireserver': 'Enforce', 'imds': 'Audit', 'hostga': 'Enforce'},
        'denials': 2,
        'missing': False,
        'unhealthy': True,
        'stale': False,
    }
    assert vms.diagnostic_groups(health) == ['msp_enforce', 'msp_audit', 'msp_denials', 'proxy_agent_unhealthy']


def test_host_vars_carry_the_compact_health_and_survive_an_unread_view():
    hv = vms.host_vars('vm', dict(_vm(VM1), properties=dict(_vm(VM1)['properties'], instanceView=_view())))
    assert hv['proxy_agent_health']['problems'] == [] and hv['proxy_agent_health']['ebpf'] is None
    err = vms.host_vars('vm', dict(_vm(VM1), properties=dict(_vm(VM1)['properties'], instanceView={'_error': 'boom'})))
    assert err['proxy_agent_health'] == {'enabled': None, 'problems': ['instance view not read: boom']}
    assert vms.diagnostic_groups(err['proxy_agent_health']) == []
