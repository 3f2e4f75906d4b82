"""_vm.write's api-version policy: a Uniform instance PUT sends back everything its GET returned (minus etag and
the read-only instance view), fields unknown to the pinned api-version included; a VM PATCH sends only the change.
No network."""

import copy

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

SUB = '00000000-0000-0000-0000-000000000001'
INST = (
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0' % SUB
)
VM = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm' % SUB

MODEL = {
    'id': INST,
    'name': 'ss_0',
    'type': 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
    'instanceId': '0',
    'location': 'westeurope',
    'etag': '"7"',
    'tags': {'owner': 'team-a'},
    'sku': {'name': 'Standard_D2s_v5'},
    'futureTopLevel': {'kept': True},
    'properties': {
        'provisioningState': 'Succeeded',
        'latestModelApplied': True,
        'vmId': 'abc',
        'instanceView': {'statuses': [{'code': 'PowerState/running'}]},
        'securityProfile': {
            'proxyAgentSettings': {
                'enabled': True,
                'keyIncarnationId': 3,
                'wireServer': {'mode': 'Enforce'},
                'addProxyAgentExtension': True,  # api-version 2025-04-01
                'useLocalFileRules': False,
            }
        },  # not in any stable spec of the pack
        'someFutureProfile': {'setting': 1},
    },
}


class Recorder:
    def __init__(self):
        self.calls = []

    def put(self, path, body, lro=True, if_match=None, resource_id=None, **_kw):
        self.calls.append(('PUT', path, body, if_match))
        return {}

    def patch(self, path, body, lro=True, if_match=None, resource_id=None, **_kw):
        self.calls.append(('PATCH', path, body, if_match))
        return {}


def paths(node, prefix=''):
    if isinstance(node, dict):
        out = set()
        for k, v in node.items():
            out |= paths(v, '%s/%s' % (prefix, k)) or {'%s/%s' % (prefix, k)}
        return out
    return set()


def test_instance_put_never_drops_a_field_the_get_returned():
    client = Recorder()
    view = _vm.VmView(parse_resource_id(INST, 'vm_id'), copy.deepcopy(MODEL), '"7"')
    change = _vm.Change(
        properties={'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': 4}}},
        tags={'vmrescue-key-reset': '4@2026-01-01T00:00:00Z'},
    )
    _vm.write(client, view, change)
    method, _path, body, if_match = client.calls[0]
    assert method == 'PUT' and if_match == '"7"'
    sent, read = paths(body), paths(MODEL)
    dropped = read - sent
    assert all(p == '/etag' or p.startswith('/properties/instanceView') for p in dropped), dropped
    settings = body['properties']['securityProfile']['proxyAgentSettings']
    assert settings == dict(MODEL['properties']['securityProfile']['proxyAgentSettings'], keyIncarnationId=4)
    assert body['futureTopLevel'] == {'kept': True} and body['properties']['someFutureProfile'] == {'setting': 1}
    assert body['tags'] == {'owner': 'team-a', 'vmrescue-key-reset': '4@2026-01-01T00:00:00Z'}
    assert view.model == MODEL  # the view is not changed by the write


def test_vm_patch_sends_only_the_change():
    client = Recorder()
    view = _vm.VmView(parse_resource_id(VM, 'vm_id'), dict(copy.deepcopy(MODEL), id=VM), '"7"')
    _vm.write(client, view, _vm.Change(properties={'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': 4}}}))
    assert client.calls[0][2] == {'properties': {'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': 4}}}}
