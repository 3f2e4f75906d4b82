"""Conformance to the official Microsoft.Compute 2024-11-01 definitions (vendored in tests/specs/compute, via specconf):

- every response the simulator gives for a VM (GET with and without the instance view, its instance view, its
  extensions, the lists) and for a Uniform scale-set instance (the same), over the test fleet and the MSP fleet;
- the responses of the writes (VM PATCH, extension PUT);
- every request body the collection sends, captured from the simulator's request log during one small
  ansible-playbook run of each writing module (proxy_agent_key_reset on a VM and an instance, vmaccess_linux,
  vmaccess_windows, and proxy_agent_settings on a VM and an instance when the collection has it).

Both schema errors and undeclared fields count: jsonschema lets an object carry properties its definition does not
name, so a field of a newer api-version than the one the collection pins would pass unnoticed. Such fields go on
NEWER_FIELDS, with where they come from.
"""

import os
import re
import sys

import pytest

import specconf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))

# Fields of a newer api-version the simulator or the collection may carry: (path regex, source). Empty today: the
# simulator answers only what 2024-11-01 defines. tests/sim/test_api_version_policy.py adds fields of its own.
NEWER_FIELDS = (
    (
        r'/properties/securityProfile/proxyAgentSettings/addProxyAgentExtension$',
        'api-version 2025-04-01 (ProxyAgentSettings.addProxyAgentExtension, Linux; azure-facts.md section 1, '
        "the spec pack's 2025-04-01 scale-set ProxyAgent example)",
    ),
)

SUB = r'/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute'
PREFIX = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute'
ROUTES = (  # request path -> (swagger, definition path)
    (
        r'/virtualMachineScaleSets/[^/]+/virtualMachines/[^/]+/extensions/[^/]+$',
        specconf.VMSS_SWAGGER,
        '/virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}/extensions/{vmExtensionName}',
    ),
    (
        r'/virtualMachineScaleSets/[^/]+/virtualMachines/[^/]+/extensions$',
        specconf.VMSS_SWAGGER,
        '/virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}/extensions',
    ),
    (
        r'/virtualMachineScaleSets/[^/]+/virtualMachines/[^/]+/instanceView$',
        specconf.VMSS_SWAGGER,
        '/virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}/instanceView',
    ),
    (
        r'/virtualMachineScaleSets/[^/]+/virtualMachines/[^/]+$',
        specconf.VMSS_SWAGGER,
        '/virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}',
    ),
    (
        r'/virtualMachineScaleSets/[^/]+/virtualMachines$',
        specconf.VMSS_SWAGGER,
        '/virtualMachineScaleSets/{virtualMachineScaleSetName}/virtualMachines',
    ),
    (r'/virtualMachineScaleSets$', specconf.VMSS_SWAGGER, '/virtualMachineScaleSets'),
    (
        r'/virtualMachines/[^/]+/extensions/[^/]+$',
        specconf.VM_SWAGGER,
        '/virtualMachines/{vmName}/extensions/{vmExtensionName}',
    ),
    (r'/virtualMachines/[^/]+/extensions$', specconf.VM_SWAGGER, '/virtualMachines/{vmName}/extensions'),
    (r'/virtualMachines/[^/]+/instanceView$', specconf.VM_SWAGGER, '/virtualMachines/{vmName}/instanceView'),
    (r'/virtualMachines/[^/]+$', specconf.VM_SWAGGER, '/virtualMachines/{vmName}'),
    (r'/virtualMachines$', specconf.VM_SWAGGER, '/virtualMachines'),
)


def definition(path):
    """(swagger, definition path) of a request path (query string ignored), or None."""
    path = path.split('?', 1)[0]
    m = re.match(SUB + r'(/.*)$', path)
    if not m:
        return None
    for rx, swagger, tail in ROUTES:
        if re.search('^' + rx[:-1] + '$', m.group(1)):
            return swagger, PREFIX + tail
    return None


def problems(body, path, method, code=None, allowed=NEWER_FIELDS):
    """Schema errors plus undeclared fields not on the allow-list, for one body."""
    swagger, spec_path = definition(path)
    out = specconf.errors(body, spec_path, method, code, swagger=swagger)
    for field in specconf.unknown_fields(body, spec_path, method, code, swagger=swagger):
        if not any(re.search(rx, field) for rx, _source in allowed):
            out.append(
                "%s: not in the 2024-11-01 definition (a newer api-version's field? add it to "
                'NEWER_FIELDS with its source)' % field
            )
    return ['%s %s: %s' % (method.upper(), path, p) for p in out]


def sweep(arm, sim):
    """GET every VM / instance, its instance view and extensions, and the lists; validate each response."""
    found, ids = [], sim.control.vms()
    rgs = sorted(set(i.split('/providers/')[0] for i in ids))
    for rg in rgs:
        base = rg + '/providers/Microsoft.Compute'
        for kind in ('virtualMachines', 'virtualMachineScaleSets'):
            resp = arm.get(base + '/' + kind)
            assert resp.status_code == 200, resp.text
            found += problems(resp.json(), base + '/' + kind, 'get', 200)
            if kind == 'virtualMachineScaleSets':
                for ss in resp.json()['value']:
                    if ss['properties'].get('orchestrationMode') == 'Uniform':
                        listing = arm.get(ss['id'] + '/virtualMachines', query={'$expand': 'instanceView'})
                        found += problems(listing.json(), ss['id'] + '/virtualMachines', 'get', 200)
    for rid in ids:
        for query in (None, {'$expand': 'instanceView'}):
            found += problems(arm.get(rid, query=query).json(), rid, 'get', 200)
        found += problems(arm.get(rid + '/instanceView').json(), rid + '/instanceView', 'get', 200)
        listing = arm.get(rid + '/extensions').json()
        found += problems(listing, rid + '/extensions', 'get', 200)
        for ext in listing.get('value', []):
            path = rid + '/extensions/' + ext['name']
            found += problems(arm.get(path, query={'$expand': 'instanceView'}).json(), path, 'get', 200)
    return found, ids


def test_definition_routes():
    vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v'
    assert definition(vm)[1].endswith('/virtualMachines/{vmName}')
    assert definition(vm + '/extensions/x?api-version=1')[1].endswith('/extensions/{vmExtensionName}')
    inst = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0'
    assert (
        definition(inst)[1].endswith('/virtualMachines/{instanceId}') and definition(inst)[0] == specconf.VMSS_SWAGGER
    )
    assert definition('/subscriptions/s/providers/Microsoft.Authorization/roleAssignments') is None


def test_undeclared_fields_are_named():  # the check really looks
    vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v'
    body = {
        'location': 'x',
        'tags': {'any': 'thing'},
        'properties': {
            'securityProfile': {
                'proxyAgentSettings': {'enabled': True, 'futureField': 1, 'addProxyAgentExtension': True}
            },
            'storageProfile': {'osDisk': {'createOption': 'FromImage', 'madeUp': 2}},
        },
    }
    assert problems(body, vm, 'get', 200) == [
        'GET %s: /properties/securityProfile/proxyAgentSettings/futureField: not in the 2024-11-01 definition (a '
        "newer api-version's field? add it to NEWER_FIELDS with its source)" % vm,
        "GET %s: /properties/storageProfile/osDisk/madeUp: not in the 2024-11-01 definition (a newer api-version's "
        'field? add it to NEWER_FIELDS with its source)' % vm,
    ]


def test_every_read_response_conforms(sim, arm):
    found, ids = sweep(arm, sim)
    assert any('/virtualMachineScaleSets/' in i for i in ids) and any('windows' in i.lower() for i in ids)
    assert found == [], '\n'.join(found)


def test_msp_fleet_read_responses_conform(diag_sim):
    from simarm import Arm

    found, _ids = sweep(Arm(diag_sim), diag_sim)
    assert found == [], '\n'.join(found)


def test_write_responses_conform(sim, arm):
    vm = arm.vm('rg-linux', 'lin-ok')
    resp = arm.raise_key(vm, 4)
    assert resp.status_code == 200
    found = problems(resp.json(), vm, 'patch', 200)
    arm.wait(resp)
    ext = vm + '/extensions/conformance'
    resp = arm.put(
        ext,
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.OSTCExtensions',
                'type': 'VMAccessForLinux',
                'typeHandlerVersion': '1.5',
                'autoUpgradeMinorVersion': True,
                'settings': {'check_disk': True},
            },
        },
    )
    assert resp.status_code in (200, 201), resp.text
    found += problems(resp.json(), ext, 'put', resp.status_code)
    inst_ext = arm.instance('rg-vmss', 'ss-uniform', 1) + '/extensions/conformance'
    resp = arm.put(
        inst_ext,
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.OSTCExtensions',
                'type': 'VMAccessForLinux',
                'typeHandlerVersion': '1.5',
                'autoUpgradeMinorVersion': True,
                'settings': {'check_disk': True},
            },
        },
    )
    assert resp.status_code in (200, 201), resp.text
    found += problems(resp.json(), inst_ext, 'put', resp.status_code)
    inst = arm.instance('rg-vmss', 'ss-uniform', 0)
    model = arm.get(inst).json()
    model['properties'].pop('instanceView', None)
    resp = arm.put(inst, model)  # Azure answers 202 Accepted without a body; the final model is read back
    assert resp.status_code == 202, resp.text
    arm.wait(resp)
    found += problems(arm.get(inst).json(), inst, 'get', 200)
    assert found == [], '\n'.join(found)


@pytest.mark.usefixtures('no_global_ca_bundle')  # the control client verifies with the sim's CA
def test_every_request_body_the_collection_sends_conforms(sim, sim_env, monkeypatch):
    from ansible_runner import run_playbook

    inst = sim.instance_id('rg-vmss', 'ss-uniform', 0)
    tasks = [
        {
            'name': 'key reset, VM (PATCH)',
            'vmrescue.azure.proxy_agent_key_reset': {
                'vm_id': sim.vm_id('rg-linux', 'lin-ok'),
                'state': 'reset',
                'wait': False,
            },
        },
        {
            'name': 'key reset, Uniform instance (GET + PUT)',
            'vmrescue.azure.proxy_agent_key_reset': {'vm_id': inst, 'state': 'reset', 'wait': False},
        },
        {
            'name': 'vmaccess_linux',
            'vmrescue.azure.vmaccess_linux': {
                'vm_id': sim.vm_id('rg-linux', 'lin-ok'),
                'username': 'rescue',
                'password': 'Zq7-Conformance-4711',
            },
        },
        {
            'name': 'vmaccess_windows',
            'vmrescue.azure.vmaccess_windows': {
                'vm_id': sim.vm_id('rg-windows', 'win-ok'),
                'username': 'rescue',
                'password': 'Zq7-Conformance-4711',
            },
        },
    ]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.exists(os.path.join(repo, 'plugins', 'modules', 'proxy_agent_settings.py')):  # the mode switch
        tasks += [
            {
                'name': 'endpoint mode, VM (PATCH)',
                'vmrescue.azure.proxy_agent_settings': {
                    'vm_id': sim.vm_id('rg-linux', 'lin-audit'),
                    'wire_server_mode': 'Enforce',
                    'wait': False,
                },
            },
            {
                'name': 'endpoint mode, Uniform instance (GET + PUT)',
                'vmrescue.azure.proxy_agent_settings': {
                    'vm_id': sim.instance_id('rg-vmss', 'ss-uniform', 1),
                    'imds_mode': 'Audit',
                    'wait': False,
                },
            },
        ]
    sim.control.clear_requests()
    r = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], sim_env)
    assert r.rc == 0, r.text[-3000:]
    writes = [e for e in sim.control.requests() if e['method'] in ('PUT', 'PATCH') and definition(e['path'])]
    kinds = sorted(set((e['method'], definition(e['path'])[1].rsplit('/', 1)[-1]) for e in writes))
    assert kinds == [('PATCH', '{vmName}'), ('PUT', '{instanceId}'), ('PUT', '{vmExtensionName}')], kinds
    assert len([e for e in writes if '/extensions/' in e['path']]) == 2  # Linux and Windows VMAccess
    found = []
    for e in writes:
        found += problems(e['body'], e['path'], e['method'].lower())
    assert found == [], '\n'.join(found)
