"""Control API of the disk and boot model (issue 23): arrange unbootable VMs, read disks, NICs and public IPs.

Routes (under ``/_sim/``, no token, JSON; ``{id}`` is a URL-encoded resource id):

- ``GET /_sim/disks`` -> ``[disk state]`` (every disk and snapshot of every group, a fleet VM's OS disk included);
  ``GET /_sim/disks/{id}`` -> one disk state; ``POST /_sim/disks/{id}/fault {fault, driver?}`` sets the disk's guest
  fault (``null``: healthy). A disk state: ``{id, name, kind: disks|snapshots, resource_group, location, sku,
  zones, diskState, managedBy, provisioningState, osType, hyperVGeneration, architecture, securityType,
  diskEncryptionSetId, diskSizeGB, createOption, sourceResourceId, tags, content: {os, distro, faults, driver,
  repairs: [{action, lun, changed}]} | null}``.
- ``POST /_sim/vms/{id}/ade {secret_url, vault_id, version?: '1.1', kek_url?, passphrase?}``: what Azure Disk Encryption left on
  the VM's OS disk (ade.py): its ``encryptionSettingsCollection`` and encrypted guest content; version ``1.0``
  (dual pass) also sets the VM model's ``storageProfile.osDisk.encryptionSettings`` (where dual pass keeps them:
  vm-repair's ``_fetch_encryption_settings``).
- ``POST /_sim/vms/{id}/boot_fault {fault, driver?}`` sets the fault on the VM's OS disk (it boots from it at its
  next boot; a running VM's agent goes Not Ready at once [inferred simplification]); ``GET
  /_sim/vms/{id}/serial_log`` -> ``{text}`` (what retrieveBootDiagnosticsData's blob would hold).
- ``GET /_sim/nics`` / ``GET /_sim/public_ips`` / ``GET /_sim/vnets`` -> ``[{id, name, resource_group, location,
  managedBy (NIC: the VM's id; public IP: the IP configuration's id), properties}]``.
- The VM state (``GET /_sim/vms/{id}``) gains ``boot``: ``{os_disk, fault, agent_blocked, boots, generation,
  architecture, data_disks: [{lun, id, toBeDetached}]}``.

Public names: ``DiskControl(world)`` (``register(router)``, registered before control.Control's routes),
``machine_state(machine)``, ``disk_state(disk)``.
"""

import copy
from urllib.parse import unquote

from . import ade, bootdiag, disks, network
from .boot import DEFAULT_DRIVER, check_fault
from .errors import ArmError
from .routing import Response
from .util import dig


def disk_state(disk):
    props = disk.props
    return {
        'id': disk.id,
        'name': disk.name,
        'kind': disk.kind,
        'resource_group': disk.rg.name,
        'location': disk.location,
        'sku': disk.sku,
        'zones': disk.zones,
        'diskState': disk.disk_state(),
        'managedBy': disk.owner.id if disk.owner is not None and disk.kind == 'disks' else None,
        'provisioningState': disk.state,
        'osType': props.get('osType'),
        'hyperVGeneration': props.get('hyperVGeneration'),
        'architecture': disk.architecture,
        'securityType': dig(props, 'securityProfile', 'securityType'),
        'diskEncryptionSetId': dig(props, 'encryption', 'diskEncryptionSetId'),
        'diskSizeGB': props.get('diskSizeGB'),
        'createOption': dig(props, 'creationData', 'createOption'),
        'sourceResourceId': dig(props, 'creationData', 'sourceResourceId'),
        'tags': disk.tags,
        'content': disk.content.to_json() if disk.content is not None else None,
    }


def machine_state(machine):
    entries = dig(machine.model, 'properties', 'storageProfile', 'dataDisks', default=[]) or []
    return {
        'boot': {
            'os_disk': disks.os_disk_id(machine),
            'fault': bootdiag.fault(machine),
            'agent_blocked': bootdiag.agent_blocked(machine),
            'boots': list(machine.boots),
            'generation': machine.generation,
            'architecture': machine.architecture,
            'data_disks': [
                {'lun': e.get('lun'), 'id': dig(e, 'managedDisk', 'id'), 'toBeDetached': e.get('toBeDetached')}
                for e in entries
            ],
        }
    }


def _net_state(item):
    owner = item.owner.id if item.kind == 'nics' and item.owner is not None else item.owner
    return {
        'id': item.id,
        'name': item.name,
        'resource_group': item.rg.name,
        'location': item.location,
        'managedBy': owner,
        'properties': item.to_arm()['properties'],
    }


class DiskControl:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        add('GET', r'/_sim/disks', self.list_disks, 'control')
        add('GET', r'/_sim/disks/(?P<rid>.+?)', self.get_disk, 'control')
        add('POST', r'/_sim/disks/(?P<rid>.+?)/fault', self.disk_fault, 'control')
        add('POST', r'/_sim/vms/(?P<rid>.+?)/boot_fault', self.vm_fault, 'control')
        add('POST', r'/_sim/vms/(?P<rid>.+?)/ade', self.vm_ade, 'control')
        add('GET', r'/_sim/vms/(?P<rid>.+?)/serial_log', self.serial_log, 'control')
        for kind in ('nics', 'public_ips', 'vnets'):
            add('GET', rf'/_sim/{kind}', self.list_network, 'control')

    def _groups(self):
        return [g for s in self.world.fleet.subscriptions.values() for g in s.groups.values()]

    def list_disks(self, req):
        items = [d for g in self._groups() for kind in ('disks', 'snapshots') for d in disks.group_disks(g, kind)]
        return Response(200, [disk_state(d) for d in items])

    def _disk(self, rid):
        disk = disks.by_id(self.world, unquote(rid).rstrip('/'))
        if disk is None:
            raise ArmError(404, 'NotFound', f'no disk or snapshot {unquote(rid)!r}')
        return disk

    def get_disk(self, req, rid):
        return Response(200, disk_state(self._disk(rid)))

    @staticmethod
    def _set_fault(disk, body):
        if disk.content is None or disk.content.os is None:
            raise ArmError(400, 'InvalidRequest', f'disk {disk.name} holds no operating system')
        try:
            fault = check_fault(disk.content.os, body.get('fault'))
        except ValueError as exc:
            raise ArmError(400, 'InvalidRequest', str(exc)) from None
        disk.content.faults = [fault] if fault else []
        disk.content.driver = (body.get('driver') or DEFAULT_DRIVER) if fault == 'bootloop_driver' else None

    def disk_fault(self, req, rid):
        disk = self._disk(rid)
        self._set_fault(disk, req.json())
        return Response(200, disk_state(disk))

    def _machine(self, rid):
        machine = self.world.fleet.machines.get(unquote(rid).rstrip('/').lower())
        if machine is None:
            raise ArmError(404, 'NotFound', f'no VM or instance {unquote(rid)!r} in the fleet')
        return machine

    def vm_fault(self, req, rid):
        machine = self._machine(rid)
        disk = disks.os_disk(machine)
        if disk is None:
            raise ArmError(400, 'InvalidRequest', f'VM {machine.name} has no OS disk resource')
        self._set_fault(disk, req.json())
        return Response(200, self.world.machine_state(machine))

    def vm_ade(self, req, rid):
        machine = self._machine(rid)
        disk = disks.os_disk(machine)
        body = req.json()
        if disk is None or not body.get('secret_url') or not body.get('vault_id'):
            raise ArmError(400, 'InvalidRequest', 'an OS disk resource, secret_url and vault_id are required')
        version = str(body.get('version') or '1.1')
        ade.make_encrypted(
            disk, body['secret_url'], body['vault_id'], version, body.get('kek_url'), body.get('passphrase')
        )
        if version != '1.1':
            settings = disk.props['encryptionSettingsCollection']['encryptionSettings'][0]
            os_disk = machine.model['properties']['storageProfile']['osDisk']
            os_disk['encryptionSettings'] = dict(copy.deepcopy(settings), enabled=True)
        return Response(200, self.world.machine_state(machine))

    def serial_log(self, req, rid):
        return Response(200, {'text': bootdiag.serial_log(self._machine(rid))})

    def list_network(self, req):
        kind = req.path.rstrip('/').rsplit('/', 1)[-1]
        items = [i for g in self._groups() for i in network.group_items(g, kind)]
        return Response(200, [_net_state(i) for i in items])
