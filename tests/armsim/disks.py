"""Microsoft.Compute managed disks and snapshots: the resources, their guest content, and their routes.

Sources: the DiskRP OpenAPI files of azure-rest-api-specs (``DiskRP/stable/2024-03-02/disk.json``,
``snapshot.json``, ``diskRPCommon.json``: ``Disks_CreateOrUpdate`` / ``Disks_Update`` / ``Disks_Delete`` are
long-running with 200 / 202 (delete also 204), ``Disks_Get``, ``Disks_ListByResourceGroup`` / ``Disks_List``
pageable; the same for snapshots; the example ``Disk_Create_FromAnExistingManagedDisk`` answers 202 with
``provisioningState: Updating``; ``Disk_Delete`` a 202 with a Location header), and the same definitions as
generated into azure-mgmt-compute (``Disk``, ``DiskProperties``, ``DiskUpdate``, ``Snapshot``, ``DiskState``).

Rules, each with its source:

- ``diskState`` (DiskState enum descriptions): ``Unattached`` "not being used and can be attached to a VM",
  ``Attached`` "attached to a running VM", ``Reserved`` "attached to a stopped-deallocated VM"; a stopped (not
  deallocated) VM's disk shows ``Attached`` [inferred]. ``managedBy`` is the VM's id (``Disk_Get`` example).
- Deleting an attached disk: 409 ``OperationNotAllowed`` "Disk <name> is attached to VM <vm id>." (the Azure error
  quoted in ansible/ansible PR #54644's integration test output).
- Resizing a disk attached to a running VM: 409 ``OperationNotAllowed`` "Cannot resize disk <name> while it is
  attached to running VM <vm id>." (Azure/azure-libraries-for-net #748 quotes "Cannot resize disk ... while it is
  attached to running.."; the end of the text is [inferred]); shrinking is refused [inferred text].
- ``createOption: Copy`` (``sourceResourceId`` a disk or snapshot) copies the guest content, ``osType`` and the
  size. A disk made from a copy does **not** inherit ``hyperVGeneration`` (nor the architecture, security type,
  controller types, encryption set or zone) unless the request gives them: a Gen2 disk copied without
  ``hyperVGeneration`` cannot be swapped back (MicrosoftDocs/SupportArticles-docs #214 and #338: ``az vm repair``
  copies became V1; jrudlin/Azure PR #1 "Add -HyperVGeneration $Disk.HyperVGeneration in New-AzDiskConfig.
  Otherwise might get error when swap the OS disk"). Which of the other properties Azure carries over is
  [inferred]; config ``disk_copy_keeps_properties: true`` carries them all. A snapshot of a disk keeps them
  [inferred]. A copy keeps ``encryptionSettingsCollection`` (Azure Disk Encryption, ade.py): ``az vm repair create``
  copies an ADE disk with ``az disk create --source`` and no encryption argument, then unlocks the copy with the
  key its settings name (Azure/azure-cli-extensions vm-repair custom.py / repair_utils.py) [inferred from that].
- Times: a create or update runs ``lro_seconds``, a copy ``disk_copy_seconds`` (config) [inferred].
- A fleet VM's OS disk (``<vm>_OsDisk_1``, the id fleet.py writes) is a real disk resource, made on first use
  (GET, list, attach, swap, copy, a boot fault): a fleet of healthy VMs costs nothing until then.

Public names: ``DISK_TYPE``, ``SNAPSHOT_TYPE``, ``Disk``, ``parse_id(id)``, ``find(rg, kind, name,
materialize=True)``, ``by_id(world, id, materialize=True)``, ``os_disk(machine, materialize=True)``,
``group_disks(rg, kind)``, ``os_disk_id(machine)``, ``lro(...)``, ``not_found(kind, name, rg)``,
``refuse_attached_delete(disk)``. The routes are disk_routes.py's.
"""

import copy
import re
import uuid

from . import errors
from .boot import GuestDisk
from .errors import ArmError
from .lro import lro_headers
from .routing import Response
from .util import dig, iso_now

DISK_TYPE = 'Microsoft.Compute/disks'
SNAPSHOT_TYPE = 'Microsoft.Compute/snapshots'
KINDS = {'disks': DISK_TYPE, 'snapshots': SNAPSHOT_TYPE}
_ID = re.compile(
    r'^/?subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/'
    r'(?P<kind>disks|snapshots)/(?P<name>[^/]+)$',
    re.IGNORECASE,
)
# What a request may set on a disk (DiskProperties / DiskUpdateProperties minus the read-only ones).
WRITABLE = (
    'osType',
    'hyperVGeneration',
    'supportedCapabilities',
    'securityProfile',
    'encryption',
    'diskSizeGB',
    'networkAccessPolicy',
    'publicNetworkAccess',
    'supportsHibernation',
    'burstingEnabled',
    'tier',
    'optimizedForFrequentAttach',
    'dataAccessAuthMode',
    'diskIOPSReadWrite',
    'diskMBpsReadWrite',
    'maxShares',
    'encryptionSettingsCollection',
)
NOT_INHERITED = ('hyperVGeneration', 'supportedCapabilities', 'securityProfile', 'encryption')


class Disk:
    """A managed disk or snapshot. ``owner``: the Machine it is attached to (disks only)."""

    __slots__ = ('kind', 'rg', 'name', 'location', 'sku', 'zones', 'tags', 'props', 'owner', 'content', 'state',
                 'unique_id', 'created')  # fmt: skip

    def __init__(self, kind, rg, name, location):
        self.kind, self.rg, self.name, self.location = kind, rg, name, location
        self.sku = 'Standard_LRS'
        self.zones, self.tags, self.props = None, None, {}
        self.owner = None
        self.content = None  # boot.GuestDisk (None: an empty disk)
        self.state = 'Succeeded'
        self.unique_id = str(uuid.uuid4())
        self.created = iso_now()

    @property
    def id(self):
        return f'{self.rg.id}/providers/{KINDS[self.kind]}/{self.name}'

    @property
    def generation(self):
        return self.props.get('hyperVGeneration')

    @property
    def architecture(self):
        return dig(self.props, 'supportedCapabilities', 'architecture')

    def disk_state(self):
        if self.kind == 'snapshots' or self.owner is None:
            return 'Unattached'
        return 'Reserved' if self.owner.power == 'deallocated' else 'Attached'

    @classmethod
    def from_machine(cls, machine, name):
        """The OS disk a fleet VM was created with (its model's osDisk, the VM's generation and architecture)."""
        model = machine.model
        os_disk = dig(model, 'properties', 'storageProfile', 'osDisk', default={})
        disk = cls('disks', machine.rg, name, machine.location)
        disk.sku = dig(os_disk, 'managedDisk', 'storageAccountType', default='Premium_LRS')
        disk.zones = list(model['zones']) if model.get('zones') else None
        image = dig(model, 'properties', 'storageProfile', 'imageReference', default={})
        capabilities = {'architecture': machine.architecture, 'acceleratedNetwork': True}
        controller = dig(model, 'properties', 'storageProfile', 'diskControllerType')
        if controller:
            capabilities['diskControllerTypes'] = 'SCSI, NVMe' if controller == 'NVMe' else 'SCSI'
        disk.props = {
            'osType': 'Windows' if machine.os == 'windows' else 'Linux',
            'hyperVGeneration': machine.generation,
            'supportedCapabilities': capabilities,
            'creationData': {'createOption': 'FromImage', 'imageReference': {'id': _image_id(machine, image)}},
            'diskSizeGB': int(os_disk.get('diskSizeGB') or 30),
            'encryption': {'type': 'EncryptionAtRestWithPlatformKey'},
        }
        des = dig(os_disk, 'managedDisk', 'diskEncryptionSet', 'id')
        if des:
            disk.props['encryption'] = {'type': 'EncryptionAtRestWithCustomerKey', 'diskEncryptionSetId': des}
        security = dig(model, 'properties', 'securityProfile', 'securityType')
        if security:
            disk.props['securityProfile'] = {'securityType': security}
        seed = machine.boot_seed or {}
        disk.content = GuestDisk(machine.os, seed.get('distro'), seed.get('faults') or (), seed.get('driver'))
        disk.owner = machine
        return disk

    def to_arm(self):
        props = copy.deepcopy(self.props)
        size = int(props.get('diskSizeGB') or 0)
        props.update(
            provisioningState=self.state,
            diskState=self.disk_state(),
            uniqueId=self.unique_id,
            timeCreated=self.created,
            diskSizeBytes=size * 1024**3,
        )
        props.setdefault('networkAccessPolicy', 'AllowAll')
        props.setdefault('publicNetworkAccess', 'Enabled')
        if self.kind == 'snapshots':
            props.setdefault('incremental', False)
        body = {
            'id': self.id,
            'name': self.name,
            'type': KINDS[self.kind],
            'location': self.location,
            'sku': {'name': self.sku, 'tier': 'Premium' if self.sku.startswith('Premium') else 'Standard'},
            'properties': props,
        }
        if self.tags is not None:
            body['tags'] = dict(self.tags)
        if self.zones:
            body['zones'] = list(self.zones)
        if self.owner is not None and self.kind == 'disks':
            body['managedBy'] = self.owner.id
        return body


def _image_id(machine, image):
    return (
        f'/Subscriptions/{machine.sub.id}/Providers/Microsoft.Compute/Locations/{machine.location}/Publishers/'
        f'{image.get("publisher", "")}/ArtifactTypes/VMImage/Offers/{image.get("offer", "")}/Skus/'
        f'{image.get("sku", "")}/Versions/{image.get("exactVersion") or "1.0.0"}'
    )


def parse_id(disk_id):
    """(subscription, resource group, kind, name) of a disk or snapshot id, or None."""
    m = _ID.match((disk_id or '').strip())
    return (m['sub'], m['rg'], m['kind'].lower(), m['name']) if m else None


def os_disk_id(machine):
    return dig(machine.model, 'properties', 'storageProfile', 'osDisk', 'managedDisk', 'id')


def _born_with(rg, name):
    """The fleet machine whose model still names ``name`` as its OS disk and has no disk resource yet."""
    candidates = []
    if name.lower().endswith('_osdisk_1'):
        vm = rg.vms.get(name[: -len('_OsDisk_1')].lower())
        if vm is not None:
            candidates.append(vm)
    for scale_set in rg.scale_sets.values():
        candidates.extend(scale_set.instances.values())
    for machine in candidates:
        parts = parse_id(os_disk_id(machine))
        if parts and parts[3].lower() == name.lower() and parts[1].lower() == rg.name.lower():
            return machine
    return None


def find(rg, kind, name, materialize=True):
    """The disk or snapshot ``name`` of resource group ``rg`` (a fleet VM's OS disk is made now), or None."""
    store = rg.disks if kind == 'disks' else rg.snapshots
    disk = store.get(name.lower())
    if disk is None and kind == 'disks':
        machine = _born_with(rg, name)
        if machine is not None:
            disk = Disk.from_machine(machine, dig(machine.model, 'properties', 'storageProfile', 'osDisk', 'name',
                                                  default=name))  # fmt: skip
            if materialize:
                store[name.lower()] = disk
    return disk


def by_id(world, disk_id, materialize=True):
    parts = parse_id(disk_id)
    if parts is None:
        return None
    sub = world.fleet.subscriptions.get(parts[0].lower())
    rg = sub.groups.get(parts[1].lower()) if sub is not None else None
    return find(rg, parts[2], parts[3], materialize) if rg is not None else None


def os_disk(machine, materialize=True):
    """The OS disk resource of ``machine`` (None when its model names none that exists)."""
    parts = parse_id(os_disk_id(machine))
    if parts is None:
        return None
    rg = machine.rg.sub.groups.get(parts[1].lower()) if parts[0].lower() == machine.sub.id.lower() else None
    return find(rg, 'disks', parts[3], materialize) if rg is not None else None


def group_disks(rg, kind):
    """Every disk (or snapshot) of ``rg``, a fleet VM's OS disk included, without storing the ones not yet made."""
    store = rg.disks if kind == 'disks' else rg.snapshots
    items = list(store.values())
    if kind == 'disks':
        machines = list(rg.vms.values()) + [m for s in rg.scale_sets.values() for m in s.instances.values()]
        for machine in machines:
            parts = parse_id(os_disk_id(machine))
            if parts and parts[1].lower() == rg.name.lower() and parts[3].lower() not in store:
                disk = find(rg, 'disks', parts[3], materialize=False)
                if disk is not None:
                    items.append(disk)
    return items


def lro(world, req, sub, location, due, finish, final, status, body):
    """Start an operation of the disk resource provider (Microsoft.Compute operations)."""
    op = world.ops.start('DiskOperation', sub, location, due, finish, final=final)
    return Response(status, body, lro_headers(op, world.base_url, req.api_version, world.config['lro_retry_after']))


def not_found(kind, name, rg):
    return errors.resource_not_found(KINDS[kind], name, rg.name)


def refuse_attached_delete(disk):
    if disk.owner is not None:
        raise ArmError(409, 'OperationNotAllowed', f'Disk {disk.name} is attached to VM {disk.owner.id}.')
