"""Addressing: parse/validate vm_id, name-based targets, host vars. No network."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    KIND_VM,
    KIND_VMSS_INSTANCE,
    Target,
    TargetError,
    is_compute_target_id,
    parse_resource_id,
    target_from_params,
)

SUB = '00000000-0000-0000-0000-000000000001'
VM = '/subscriptions/%s/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines/vm-1' % SUB
INST = (
    '/subscriptions/%s/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3'
    % SUB
)


def test_vm_id():
    t = parse_resource_id(VM)
    assert (t.kind, t.subscription_id, t.resource_group, t.name) == (KIND_VM, SUB, 'rg-1', 'vm-1')
    assert t.id == VM and t.path == VM


def test_instance_id():
    t = parse_resource_id(INST)
    assert (t.kind, t.vmss_name, t.instance_id) == (KIND_VMSS_INSTANCE, 'ss', '3')
    assert t.id == INST
    assert 'ss/3' in t.display


def test_case_insensitive_like_arm():
    t = parse_resource_id(VM.upper().replace(SUB.upper(), SUB))
    assert t.kind == KIND_VM
    assert t.id.startswith('/subscriptions/%s/resourceGroups/RG-1/providers/Microsoft.Compute/virtualMachines/' % SUB)
    assert t == parse_resource_id(VM)  # equality is case-insensitive


def test_lenient_forms():
    assert parse_resource_id('  %s/  ' % VM) == parse_resource_id(VM)
    assert parse_resource_id('https://management.azure.com%s?api-version=1' % VM) == parse_resource_id(VM)


def test_path_is_encoded():
    t = Target(KIND_VM, SUB, 'rg 1', name='vm%1')
    assert t.path.endswith('/resourceGroups/rg%201/providers/Microsoft.Compute/virtualMachines/vm%251')


@pytest.mark.parametrize(
    'bad, words',
    [
        ('vm-1', 'starts with /subscriptions/'),
        (
            '/subscription/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v' % SUB,
            'does not start with',
        ),
        ('/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v', 'is not a GUID'),
        ('/subscriptions/%s/providers/Microsoft.Compute/virtualMachines/v' % SUB, 'no /resourceGroups/'),
        (
            '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n' % SUB,
            'not Microsoft.Compute',
        ),
        (
            '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss' % SUB,
            'scale set, not one of its instances',
        ),
        (
            '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v/extensions/x' % SUB,
            'child resource',
        ),
        ('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/d' % SUB, "'disks' is not a VM"),
        ('/subscriptions/%s/resourceGroups/rg' % SUB, 'no /providers/'),
    ],
)
def test_bad_ids_name_the_problem(bad, words):
    with pytest.raises(TargetError) as exc:
        parse_resource_id(bad)
    msg = str(exc.value)
    assert msg.startswith('vm_id: expected /subscriptions/{subscriptionId}/resourceGroups/')
    assert words in msg
    assert repr(bad) in msg


def test_non_string():
    with pytest.raises(TargetError, match='expected a resource ID string'):
        parse_resource_id(12)


def p(**kw):
    base = dict(vm_id=None, resource_group=None, name=None, vmss_name=None, instance_id=None)
    base.update(kw)
    return base


def test_params_forms():
    assert target_from_params(p(vm_id=VM)).name == 'vm-1'
    t = target_from_params(p(resource_group='rg', name='v'))
    assert t.kind == KIND_VM and t.subscription_id is None
    assert t.with_subscription(SUB).id.startswith('/subscriptions/%s/resourceGroups/rg/' % SUB)
    t = target_from_params(p(resource_group='rg', vmss_name='ss', instance_id=0))
    assert t.kind == KIND_VMSS_INSTANCE and t.instance_id == '0'


@pytest.mark.parametrize(
    'kw, words',
    [
        (dict(vm_id=VM, name='x'), 'mutually exclusive with name'),
        (dict(vm_id=VM, resource_group='x'), 'mutually exclusive with resource_group'),
        (dict(name='x'), 'name requires resource_group'),
        (dict(resource_group='rg'), 'resource_group alone'),
        (dict(resource_group='rg', vmss_name='ss'), 'missing instance_id'),
        (dict(resource_group='rg', name='v', vmss_name='ss', instance_id='1'), 'mutually exclusive'),
        (dict(), 'no target'),
        (dict(resource_group='rg', name='a/b'), 'cannot appear in a resource name'),
    ],
)
def test_params_errors(kw, words):
    with pytest.raises(TargetError, match=words):
        target_from_params(p(**kw))


def test_name_target_without_subscription_needs_one():
    t = target_from_params(p(resource_group='rg', name='v'))
    with pytest.raises(TargetError, match='no subscription'):
        _ = t.id


def test_is_compute_target_id():
    assert is_compute_target_id(VM) and is_compute_target_id(INST)
    assert not is_compute_target_id('/subscriptions/%s/resourceGroups/rg' % SUB)
    assert not is_compute_target_id('web-01')
    assert not is_compute_target_id(None)


def test_hostvars_target():
    from ansible_collections.vmrescue.azure.plugins.plugin_utils._hostvars import target_id_from_hostvars

    assert target_id_from_hostvars({'azure_vm_id': VM, 'id': INST}) == VM
    assert target_id_from_hostvars({'id': INST}) == INST
    assert (
        target_id_from_hostvars({'id': '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Network/x/y' % SUB})
        is None
    )
    assert target_id_from_hostvars({'id': 42}) is None
    assert target_id_from_hostvars({}) is None
