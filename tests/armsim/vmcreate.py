"""VM create (PUT on a VM that does not exist) and VM delete: what a rescue VM's life needs.

Sources: the spec pack's ``VirtualMachines_CreateOrUpdate`` (200 / 201, long-running) and ``VirtualMachines_Delete``
(200 / 202 / 204, long-running) in virtualMachine.json 2024-11-01, and its definitions (``OSDisk.deleteOption``:
"The default value is set to Detach" for a managed OS disk; ``DataDisk.deleteOption`` likewise;
``NetworkInterfaceReferenceProperties.deleteOption``).

- Create: ``storageProfile.osDisk.createOption`` ``FromImage`` (with ``imageReference``) makes the OS disk resource
  (``osDisk.name``, or ``<vm>_OsDisk_1_<32 hex>`` as Azure names it) with a healthy guest of the image's OS, or
  ``Attach`` (``osDisk.managedDisk.id``, an Unattached disk, whose generation the VM takes). The VM's
  hyperVGeneration comes from the image (a SKU marked generation 2: V2; otherwise V1: see ``GEN2_MARKS``) and its
  architecture from the SKU (``arm64``) [inferred]. ``networkProfile.networkInterfaces`` must name existing NICs
  that no other VM uses (400 ``NicInUse``, network.py's text); ``osProfile.adminUsername`` is required with an
  image (400 InvalidParameter, Compute's "Required parameter ... is missing (null)." form). Data disks in the
  create body follow vmdisks.py's rules. The VM is ``Creating`` for ``vm_create_seconds`` (config), then boots.
- Quota: a create that would exceed the subscription's regional or family vCPU quota in the location is refused
  with 409 OperationNotAllowed (capacity.check_quota: Azure's text and its sources there).
- Delete: 409 while another operation runs; the operation takes ``lro_seconds``; then disks (vmdisks.release) and
  NICs follow their deleteOption; the VM disappears. A VM that does not exist: 204.
- Scale-set members are not created or deleted here [inferred: out of the simulator's scope].

Public names: ``create_vm(world, req, sub, rg, vm)``, ``VmLifecycle(world)`` (``register(router)``: the DELETE route).
"""

import copy
import uuid

from . import capacity, errors, network, vmdisks
from .boot import GuestDisk
from .disks import Disk, by_id
from .errors import ArmError
from .lro import lro_headers
from .model import Machine
from .routing import VM, Response
from .util import dig, iso_now

# Marketplace SKUs name their generation 2 images: Windows Server '2022-datacenter-g2', '2019-datacenter-gensecond',
# the Azure Edition SKUs (generation 2 only); Ubuntu '22_04-lts-gen2', RHEL '8-lvm-gen2'; Ubuntu 24.04's 'server'
# is generation 2 and 'server-gen1' is not; Arm64 images are generation 2 only (learn.microsoft.com "Support for
# generation 2 VMs on Azure", its image list; "Azure VMs with Ampere Altra Arm-based processors"). An unmarked SKU
# ('2022-datacenter', '22_04-lts') is generation 1.
GEN2_MARKS = ('gen2', '-g2', 'gensecond', 'azure-edition', 'arm64')
GEN2_SKUS = ('server',)


def _image_traits(image):
    """(os, distro, generation, architecture) of an image reference [inferred from publisher and SKU]."""
    publisher, sku = str(image.get('publisher') or '').lower(), str(image.get('sku') or '').lower()
    os_type = 'windows' if 'windows' in publisher else 'linux'
    distro = 'rhel' if 'redhat' in publisher else ('ubuntu' if os_type == 'linux' else None)
    gen2 = (any(mark in sku for mark in GEN2_MARKS) or sku in GEN2_SKUS) and 'gen1' not in sku
    generation = 'V2' if gen2 else 'V1'
    return os_type, distro, generation, 'Arm64' if 'arm64' in sku else 'x64'


def _required(value, name):
    if not value:
        raise errors.invalid_parameter(f"Required parameter '{name}' is missing (null).", name)
    return value


def _os_disk(world, group, name, body, model):
    """The OS disk of a new VM: (Disk, os, generation, architecture, created)."""
    storage = dig(model, 'properties', 'storageProfile')
    os_spec = storage['osDisk']
    option = str(os_spec.get('createOption') or '').lower()
    if option == 'attach':
        disk = by_id(world, _required(dig(os_spec, 'managedDisk', 'id'), 'osDisk.managedDisk.id'))
        if disk is None or disk.kind != 'disks':
            raise errors.resource_not_found('Microsoft.Compute/disks', os_spec['managedDisk']['id'].rsplit('/', 1)[-1],
                                            group.name)  # fmt: skip
        if disk.owner is not None:
            raise ArmError(409, 'ConflictingUserInput', f'Disk {disk.name} is already attached to VM '
                           f'{disk.owner.id}. A disk can be attached to only one VM at a time.', target=disk.id)  # fmt: skip
        os_type = str(disk.props.get('osType') or os_spec.get('osType') or 'Linux').lower()
        return disk, os_type, disk.generation or 'V1', disk.architecture or 'x64', False
    image = _required(storage.get('imageReference'), 'storageProfile.imageReference')
    _required(dig(model, 'properties', 'osProfile', 'adminUsername'), 'osProfile.adminUsername')
    os_type, distro, generation, arch = _image_traits(image)
    disk = Disk('disks', group, os_spec.get('name') or f'{name}_OsDisk_1_{uuid.uuid4().hex}', model['location'])
    disk.sku = dig(os_spec, 'managedDisk', 'storageAccountType', default='Premium_LRS')
    disk.zones = list(model['zones']) if model.get('zones') else None
    disk.content = GuestDisk(os_type, distro)
    disk.props = {
        'osType': os_type.capitalize(),
        'hyperVGeneration': generation,
        'supportedCapabilities': {'architecture': arch},
        'creationData': {'createOption': 'FromImage', 'imageReference': {'id': str(image.get('id') or '')}},
        'diskSizeGB': int(os_spec.get('diskSizeGB') or (127 if os_type == 'windows' else 30)),
    }
    security = dig(model, 'properties', 'securityProfile', 'securityType')
    if security:
        disk.props['securityProfile'] = {'securityType': security}
    return disk, os_type, generation, arch, True


def _nics(world, model):
    refs = _required(dig(model, 'properties', 'networkProfile', 'networkInterfaces'), 'networkProfile')
    nics = []
    for ref in refs:
        nic = network.by_id(world, ref.get('id') or '')
        if nic is None or nic.kind != 'nics':
            raise errors.resource_not_found('Microsoft.Network/networkInterfaces', str(ref.get('id')).rsplit('/', 1)[-1],
                                            str(ref.get('id')).split('/')[4] if str(ref.get('id')).count('/') > 4 else '')  # fmt: skip
        network.refuse_in_use(nic)
        nics.append(nic)
    return nics


def _model(body, group, name):
    model = {k: copy.deepcopy(v) for k, v in body.items() if k not in ('id', 'name', 'type', 'etag', 'resources')}
    _required(model.get('location'), 'location')
    props = model.setdefault('properties', {})
    for key in ('provisioningState', 'instanceView', 'vmId', 'timeCreated'):
        props.pop(key, None)
    _required(dig(props, 'hardwareProfile', 'vmSize'), 'hardwareProfile.vmSize')
    props.get('osProfile', {}).pop('adminPassword', None)
    props['vmId'] = str(uuid.uuid5(uuid.NAMESPACE_URL, f'{group.id}/{name}/{uuid.uuid4()}'))
    props['timeCreated'] = iso_now()
    return model


def create_vm(world, req, sub, rg, vm):
    """PUT of a VM that does not exist: 201 and a long-running create (see the module docstring)."""
    group = world.group(sub, rg)
    body = req.json()
    model = _model(body, group, vm)
    storage = model['properties'].setdefault('storageProfile', {})
    _required(dig(storage, 'osDisk', 'createOption'), 'osDisk.createOption')
    capacity.check_quota(world, sub, model['location'], dig(model, 'properties', 'hardwareProfile', 'vmSize'))
    disk, os_type, generation, arch, created = _os_disk(world, group, vm, body, model)
    nics = _nics(world, model)
    os_spec = storage['osDisk']
    os_spec.update(osType=os_type.capitalize(), name=disk.name, diskSizeGB=int(disk.props.get('diskSizeGB') or 30))
    os_spec.setdefault('caching', 'ReadWrite')
    os_spec.setdefault('deleteOption', 'Detach')
    os_spec['managedDisk'] = dict(os_spec.get('managedDisk') or {}, id=disk.id, storageAccountType=disk.sku)
    machine = Machine(group, vm, os_type, copy.deepcopy(model), power='deallocated')
    machine.model['properties']['storageProfile']['dataDisks'] = []
    machine.generation, machine.architecture, machine.creating = generation, arch, True
    todo = vmdisks.plan(world, machine, model, body)
    machine.model = model
    world.fleet._equip(
        machine, {'os': os_type, 'admin_username': dig(model, 'properties', 'osProfile', 'adminUsername')}
    )
    if created:
        group.disks[disk.name.lower()] = disk
    disk.owner = machine
    for nic in nics:
        nic.owner = machine
    group.vms[vm.lower()] = machine
    world.fleet.machines[machine.id.lower()] = machine
    vmdisks.apply(world, machine, todo)

    def finish(when):
        machine.busy = machine.busy_kind = None
        machine.creating = False
        world.compute.boot(machine, when)
        return None

    due = world.now() + float(world.config['vm_create_seconds'])
    op = world.ops.start('Create', group.sub.id, machine.location, due, finish, final=machine.to_arm)
    machine.busy, machine.busy_kind = op, 'Create'
    headers = lro_headers(op, world.base_url, req.api_version, world.config['lro_retry_after'])
    return Response(201, machine.to_arm(), headers)


class VmLifecycle:
    """``DELETE .../virtualMachines/{vm}``."""

    def __init__(self, world):
        self.world = world

    def register(self, router):
        router.add('DELETE', VM, self.delete, 'vm.delete', action='Microsoft.Compute/virtualMachines/delete',
                   policy='UpdateVM')  # fmt: skip

    def delete(self, req, sub, rg, vm):
        world = self.world
        group = world.group(sub, rg)
        machine = group.vms.get(vm.lower())
        if machine is None:
            return Response(204)
        if machine.scale_set is not None:  # [inferred] out of scope
            raise ArmError(400, 'OperationNotAllowed', 'Deleting scale-set members is not simulated.')
        world.compute._check_busy(machine, 'Delete')
        machine.deleting = True

        def finish(_when):
            machine.busy = machine.busy_kind = None
            machine.power = 'deallocated'
            vmdisks.release(world, machine)
            _release_nics(world, machine)
            group.vms.pop(vm.lower(), None)
            world.fleet.machines.pop(machine.id.lower(), None)
            return None

        op = world.ops.start('Delete', group.sub.id, machine.location, world.now() + float(world.config['lro_seconds']),
                             finish)  # fmt: skip
        machine.busy, machine.busy_kind = op, 'Delete'
        return Response(202, None, lro_headers(op, world.base_url, req.api_version, world.config['lro_retry_after']))


def _release_nics(world, machine):
    for ref in dig(machine.model, 'properties', 'networkProfile', 'networkInterfaces', default=[]) or []:
        nic = network.by_id(world, ref.get('id') or '')
        if nic is None or nic.owner is not machine:
            continue
        nic.owner = None
        if str(dig(ref, 'properties', 'deleteOption') or 'Detach').lower() == 'delete':
            network.remove(nic)
