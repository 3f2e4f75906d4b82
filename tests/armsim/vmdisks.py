"""A VM's disks through its model: data disk attach / detach by LUN, the OS disk swap, what a VM delete does to them.

compute.py calls ``plan(world, machine, new_model, body)`` on every VM PUT / PATCH (after If-Match, before the
busy check) and ``apply(world, machine, plan)`` once the write is accepted. The rules and their sources:

- Attach (``storageProfile.dataDisks[]`` with ``createOption: Attach``, ``lun``, ``managedDisk.id``): a disk
  attached to another VM is refused with 409 ``ConflictingUserInput`` "Cannot attach the disk <name> to VM <vm id>
  because it is already attached to VM <other id>. A disk can be attached to only one VM at a time." with the
  disk id as target (kubernetes-sigs/azuredisk-csi-driver #1378 quotes the body).
- Two disks at one LUN: 400 ``InvalidParameter`` "A disk at LUN <n> already exists." (Azure/azure-sdk-for-go #678,
  openshift/openshift-azure #83); a LUN outside 0..63: 400 ``InvalidParameter`` "The value of parameter
  'dataDisk.lun' is out of range." (Azure/azure-cli #6965 quotes "parameter 'dataDisk.lun' is out of range"; the
  64-LUN range from Azure/azure-cli PR #7406).
- More data disks than the size allows: 409 ``OperationNotAllowed`` "The maximum number of data disks allowed to
  be attached to a VM of this size is <n>." target ``dataDisks`` (kubernetes-sigs/azuredisk-csi-driver #879 and PR
  #2883). The per-size maxima (``MAX_DATA_DISKS``) are capacity.SIZES' (the published size tables, also what
  the skus list answers as ``MaxDataDiskCount``); any other size gets 16 [inferred].
- ``createOption: Empty`` with ``diskSizeGB`` creates the disk and attaches it (the spec's DataDisk; the example
  VirtualMachine_Update_DetachDataDiskUsingToBeDetachedProperty); ``toBeDetached: true`` detaches: the entry is
  still in the answer (as in that example) and leaves the model, and the disk becomes Unattached, when the
  update's operation ends. A data disk left out of a PATCH / PUT list is detached the same way; a PUT that has
  no ``dataDisks`` key keeps them [inferred].
- OS disk swap (a new ``storageProfile.osDisk.managedDisk.id``): only on a deallocated VM, otherwise 409
  ``PropertyChangeNotAllowed`` "Changing property 'osDisk.managedDisk.id' is not allowed." (the error family of
  MicrosoftDocs/azure-docs #11611 "Changing property 'osDisk.name' is not allowed." 409 and
  Azure/azure-sdk-for-net #37285, resolved by deallocating first; the property named is [inferred]). A disk of
  another generation: 409 ``PropertyChangeNotAllowed`` "Swapping OS Disk is not supported since HyperVisor property
  on the OSDisk and VM do not match. Please make sure the HyperVisor property on the OSDisk is HyperVisor
  Generation 'V2'" (MicrosoftDocs/SupportArticles-docs #214, quoting az vm repair restore); a disk without
  ``hyperVGeneration`` counts as V1 (same issue, #338). Another architecture, OS type or a confidential security
  type on one side only: the same code, texts [inferred]. The swapped-in disk's name becomes ``osDisk.name``
  [inferred]. ``osDisk.createOption`` keeps the VM's (``FromImage`` for a VM made from an image): another value is
  409 ``PropertyChangeNotAllowed`` "Changing property 'osDisk.createOption' is not allowed." (Azure/azure-sdk-for-net
  #37285, solved by sending ``FromImage`` on the deallocated VM; Azure/azure-powershell #7621).
- VM delete: the OS disk, data disks and NICs follow their ``deleteOption`` (spec: Delete / Detach; data disks
  default Detach) [the defaults of the spec's descriptions].

Public names: ``MAX_DATA_DISKS``, ``max_data_disks(size)``, ``Plan``, ``plan(world, machine, new_model, body)``,
``apply(world, machine, plan)``, ``release(world, machine)`` (a VM delete), ``data_disk_views(machine)``.
"""

import copy

from . import ade, disks as disk_store, errors
from .capacity import SIZES
from .disks import Disk, by_id, os_disk
from .errors import ArmError
from .util import dig, find_key, iso_now

MAX_DATA_DISKS = {name.lower(): size[3] for name, size in SIZES.items()}  # capacity.py: the published size tables
CONFIDENTIAL = ('confidentialvm', 'confidentialvm_diskencryptedwithcustomerkey')


def max_data_disks(size):
    return MAX_DATA_DISKS.get(str(size or '').lower(), 16)


class Plan:
    """What an accepted VM write does to disks: attach, create + attach, detach, swap the OS disk."""

    def __init__(self):
        self.attach, self.create, self.detach = [], [], []
        self.swap = None  # (old disk or None, new disk)


def _swap_refused(message):
    return ArmError(409, 'PropertyChangeNotAllowed', message)


def _check_swap(machine, disk):
    if disk.kind != 'disks':
        raise ArmError(400, 'InvalidParameter', "The value of parameter 'osDisk.managedDisk.id' is invalid.")
    if disk.owner is not None and disk.owner is not machine:
        raise _attached_elsewhere(machine, disk)
    generation = str(disk.generation or 'V1').upper()
    if generation != machine.generation.upper():
        raise _swap_refused(
            'Swapping OS Disk is not supported since HyperVisor property on the OSDisk and VM do not match. Please '
            f"make sure the HyperVisor property on the OSDisk is HyperVisor Generation '{machine.generation}'"
        )
    if str(disk.architecture or 'x64').lower() != machine.architecture.lower():
        raise _swap_refused(  # [inferred] text, after the generation one
            'Swapping OS Disk is not supported since Architecture property on the OSDisk and VM do not match. Please '
            f"make sure the Architecture property on the OSDisk is '{machine.architecture}'"
        )
    os_type = str(disk.props.get('osType') or '').lower()
    if os_type and os_type != machine.os:
        raise _swap_refused("Changing property 'osDisk.osType' is not allowed.")  # [inferred]
    vm_security = str(dig(machine.model, 'properties', 'securityProfile', 'securityType') or '').lower()
    disk_security = str(dig(disk.props, 'securityProfile', 'securityType') or '').lower()
    if (vm_security in CONFIDENTIAL or disk_security in CONFIDENTIAL) and vm_security != disk_security:
        raise _swap_refused(  # [inferred] text
            'Swapping OS Disk is not supported since the security type of the OSDisk and VM do not match.'
        )


def _attached_elsewhere(machine, disk):
    return ArmError(
        409,
        'ConflictingUserInput',
        f'Cannot attach the disk {disk.name} to VM {machine.id} because it is already attached to VM '
        f'{disk.owner.id}. A disk can be attached to only one VM at a time.',
        target=disk.id,
    )


def _plan_os_disk(world, machine, old, new, out):
    old_id = dig(old, 'osDisk', 'managedDisk', 'id')
    new_os = new.get('osDisk') if isinstance(new.get('osDisk'), dict) else None
    old_option, new_option = dig(old, 'osDisk', 'createOption'), dig(new_os or {}, 'createOption')
    if old_option and new_option and str(old_option).lower() != str(new_option).lower():
        raise _swap_refused("Changing property 'osDisk.createOption' is not allowed.")
    new_id = dig(new_os or {}, 'managedDisk', 'id')
    if new_os is not None and not new_id and old_id:
        new_os.setdefault('managedDisk', {})['id'] = old_id  # a model without the id keeps the disk [inferred]
        return
    if not new_id or (old_id or '').lower() == new_id.lower():
        return
    if machine.power != 'deallocated':
        raise _swap_refused("Changing property 'osDisk.managedDisk.id' is not allowed.")
    disk = by_id(world, new_id)
    if disk is None:
        raise _missing(new_id)
    _check_swap(machine, disk)
    _ready(disk)
    new_os['name'] = disk.name
    new_os['managedDisk']['id'] = disk.id
    out.swap = (os_disk(machine), disk)


def _missing(disk_id):
    parts = disk_store.parse_id(disk_id)
    if parts is None:
        return ArmError(400, 'InvalidParameter', f"The value '{disk_id}' of parameter 'managedDisk.id' is invalid.")
    return errors.resource_not_found(disk_store.KINDS[parts[2]], parts[3], parts[1])


def _ready(disk):
    if disk.state != 'Succeeded':  # [inferred] code and text
        raise ArmError(
            409, 'OperationNotAllowed', f'Disk {disk.name} cannot be attached: its provisioning state is {disk.state}.'
        )


def _lun(entry):
    lun = find_key(entry, 'lun')
    if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= 63:
        raise ArmError(400, 'InvalidParameter', "The value of parameter 'dataDisk.lun' is out of range.",
                       target='dataDisk.lun')  # fmt: skip
    return lun


def _attach_entry(world, machine, entry, old_ids, out):
    option = str(entry.get('createOption') or '').lower()
    if option == 'empty':
        size = int(entry.get('diskSizeGB') or 0)
        if size <= 0:
            raise ArmError(400, 'InvalidParameter', "Required parameter 'dataDisk.diskSizeGB' is missing (null).")
        name = entry.get('name') or f'{machine.name}_DataDisk_{entry["lun"]}'
        disk = Disk('disks', machine.rg, name, machine.location)
        disk.props = {'diskSizeGB': size, 'creationData': {'createOption': 'Empty'}}
        disk.sku = dig(entry, 'managedDisk', 'storageAccountType', default='Premium_LRS')
        out.create.append(disk)
    elif option == 'attach':
        disk_id = dig(entry, 'managedDisk', 'id')
        disk = by_id(world, disk_id) if disk_id else None
        if disk is None:
            raise _missing(disk_id or '')
        if disk.owner is not None and disk.owner is not machine:
            raise _attached_elsewhere(machine, disk)
        if disk.owner is machine and disk.id.lower() not in old_ids:
            raise ArmError(409, 'ConflictingUserInput',  # [inferred] text: the VM's own OS disk as a data disk
                           f'Disk {disk.name} is already attached to VM {machine.id}.', target=disk.id)  # fmt: skip
        if disk.id.lower() not in old_ids:
            _ready(disk)
            _same_place(machine, disk)
            out.attach.append(disk)
    else:
        raise ArmError(400, 'InvalidParameter',  # [inferred] text
                       f"The value '{entry.get('createOption')}' of parameter 'dataDisk.createOption' is not supported "
                       'here.')  # fmt: skip
    entry['name'] = disk.name
    entry.setdefault('caching', 'None')
    entry.setdefault('toBeDetached', False)
    entry.setdefault('deleteOption', 'Detach')
    entry['diskSizeGB'] = int(disk.props.get('diskSizeGB') or 0)
    entry['managedDisk'] = dict(entry.get('managedDisk') or {}, id=disk.id, storageAccountType=disk.sku)


def _same_place(machine, disk):
    if disk.location.replace(' ', '').lower() != machine.location.replace(' ', '').lower():
        raise ArmError(400, 'BadRequest',  # [inferred] text
                       f'Disk {disk.name} is in location {disk.location}, the VM in {machine.location}.')  # fmt: skip
    vm_zones = machine.model.get('zones') or []
    if vm_zones and disk.zones and sorted(disk.zones) != sorted(vm_zones):
        raise ArmError(400, 'BadRequest',  # [inferred] text
                       f'Disk {disk.name} in zone {",".join(disk.zones)} cannot be attached to a VM in zone '
                       f'{",".join(vm_zones)}.')  # fmt: skip


def _plan_data_disks(world, machine, old, new, out):
    old_entries = [e for e in old.get('dataDisks') or () if dig(e, 'managedDisk', 'id')]
    old_ids = {dig(e, 'managedDisk', 'id').lower() for e in old_entries}
    luns, kept = set(), set()
    entries = new.get('dataDisks') or []
    for entry in entries:
        lun = _lun(entry)
        if lun in luns:
            raise ArmError(400, 'InvalidParameter', f'A disk at LUN {lun} already exists.')
        luns.add(lun)
        disk_id = (dig(entry, 'managedDisk', 'id') or '').lower()
        if entry.get('toBeDetached') is True:
            continue  # detached when the update's operation ends (old entries not kept below)
        _attach_entry(world, machine, entry, old_ids, out)
        kept.add((dig(entry, 'managedDisk', 'id') or disk_id).lower())
    active = [e for e in entries if e.get('toBeDetached') is not True]
    limit = max_data_disks(dig(machine.model, 'properties', 'hardwareProfile', 'vmSize'))
    if len(active) > limit:
        raise ArmError(409, 'OperationNotAllowed',
                       f'The maximum number of data disks allowed to be attached to a VM of this size is {limit}.',
                       target='dataDisks')  # fmt: skip
    for entry in old_entries:
        disk_id = dig(entry, 'managedDisk', 'id')
        if disk_id.lower() not in kept:
            disk = by_id(world, disk_id)
            if disk is not None and disk.owner is machine:
                out.detach.append(disk)


def plan(world, machine, new_model, body):
    """Check the disk changes of a VM write (raise the error Azure answers) and return what to do, or None."""
    sent = dig(body, 'properties', 'storageProfile')
    new = dig(new_model, 'properties', 'storageProfile')
    if not isinstance(sent, dict) or not isinstance(new, dict):
        return None
    old = dig(machine.model, 'properties', 'storageProfile', default={}) or {}
    out = Plan()
    _plan_os_disk(world, machine, old, new, out)
    if 'dataDisks' in sent:
        _plan_data_disks(world, machine, old, new, out)
    else:
        new['dataDisks'] = copy.deepcopy(old.get('dataDisks') or [])
    return out


def apply(world, machine, todo):
    """The accepted write's effect on disks: attachments now, detachments when its operation ends."""
    if todo is None:
        return
    for disk in todo.create:
        machine.rg.disks[disk.name.lower()] = disk
    for disk in todo.create + todo.attach:
        disk.owner = machine
    if todo.swap is not None:
        old, new = todo.swap
        if old is not None and old.owner is machine:
            old.owner = None
        new.owner = machine
    detached = list(todo.detach)

    def finish(_when):
        for disk in detached:
            if disk.owner is machine:
                disk.owner = None
            ade.forget(machine, disk)  # an unlocked encrypted disk's mapping goes with it
        storage = dig(machine.model, 'properties', 'storageProfile')
        if isinstance(storage, dict) and storage.get('dataDisks'):
            storage['dataDisks'] = [e for e in storage['dataDisks'] if e.get('toBeDetached') is not True]

    world.scheduler.at(world.now() + float(world.config['lro_seconds']), finish)


def release(world, machine):
    """A VM delete: each disk follows its deleteOption (Delete: the disk goes; Detach: it stays, Unattached)."""
    storage = dig(machine.model, 'properties', 'storageProfile', default={}) or {}
    entries = [(storage.get('osDisk') or {}, 'Delete')] + [(e, 'Detach') for e in storage.get('dataDisks') or ()]
    for entry, default in entries:
        disk_id = dig(entry, 'managedDisk', 'id')
        disk = by_id(world, disk_id) if disk_id else None
        if disk is None or disk.owner is not machine:
            continue
        disk.owner = None
        if str(entry.get('deleteOption') or default).lower() == 'delete':
            disk.rg.disks.pop(disk.name.lower(), None)


def data_disk_views(machine):
    """Instance-view ``disks`` entries of the data disks."""
    entries = dig(machine.model, 'properties', 'storageProfile', 'dataDisks', default=[]) or []
    ok = {'code': 'ProvisioningState/succeeded', 'level': 'Info', 'displayStatus': 'Provisioning succeeded'}
    return [{'name': e.get('name'), 'statuses': [dict(ok, time=iso_now())]} for e in entries if e.get('name')]
