"""Helpers of the disk / boot / rescue simulator tests (tests/sim/test_sim_disks*.py, test_sim_boot.py,
test_sim_rescue_vm.py): resource paths in the rescue fleet, and waiting for an operation.

Public names: RG, DISK_API, disk_path(arm, name, kind='disks', rg=RG), nic_path, subnet_id, vm_path,
done(arm, resp) (wait for the operation of ``resp`` and assert it succeeded), copy_body(arm, source, **props).
"""

RG = 'rg-rescue'
DISK_API = '2024-03-02'
NET_API = '2024-05-01'


def disk_path(arm, name, kind='disks', rg=RG):
    return f'/subscriptions/{arm.sub}/resourceGroups/{rg}/providers/Microsoft.Compute/{kind}/{name}'


def vm_path(arm, name, rg=RG):
    return arm.vm(rg, name)


def nic_path(arm, name, rg=RG):
    return f'/subscriptions/{arm.sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/{name}'


def subnet_id(arm, vnet='rescue-vnet', subnet='rescue', rg=RG):
    return (
        f'/subscriptions/{arm.sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}/'
        f'subnets/{subnet}'
    )


def done(arm, resp, timeout=15):
    status = arm.wait(resp, timeout)
    assert status['status'] == 'Succeeded', status
    return status


def copy_body(arm, source, **props):
    """A disk PUT body copying ``source`` (a disk name in the rescue group) with extra ``properties``."""
    properties = {'creationData': {'createOption': 'Copy', 'sourceResourceId': disk_path(arm, source)}}
    properties.update(props)
    return {'location': 'westeurope', 'properties': properties}
