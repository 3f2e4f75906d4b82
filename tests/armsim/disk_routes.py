"""Routes of managed disks and snapshots: PUT (create / update), PATCH, GET, DELETE, list by group / subscription.

The rules and their sources are in disks.py's docstring (the DiskRP OpenAPI files, DiskState, the error texts).
What the request bodies may hold is ``Disk`` / ``DiskUpdate`` / ``Snapshot`` / ``SnapshotUpdate``; create options
modelled: ``Empty`` (disks), ``Copy`` (a disk or snapshot), ``FromImage`` (a platform image: a healthy OS);
others answer 400 InvalidParameter (``Import``, ``Upload``, ``Restore``, ... are not simulated) [inferred text].

Public names: ``Disks(world)`` (``register(router)``).
"""

import copy

from . import errors
from .boot import GuestDisk
from .disks import NOT_INHERITED, WRITABLE, Disk, by_id, find, group_disks, lro, not_found, refuse_attached_delete
from .errors import ArmError
from .routing import RG, SUB, Response
from .util import deep_merge, dig

SNAPSHOT_KEEPS = (
    'osType',
    'hyperVGeneration',
    'supportedCapabilities',
    'securityProfile',
    'diskSizeGB',
    'encryptionSettingsCollection',
)  # ade.py


class Disks:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        for kind in ('disks', 'snapshots'):
            act = f'Microsoft.Compute/{kind}'
            one = RG + rf'/providers/microsoft\.compute/(?P<kind>{kind})/(?P<name>[^/]+)'
            router.add('PUT', one, self.put, f'{kind[:-1]}.put', action=f'{act}/write')
            router.add('PATCH', one, self.patch, f'{kind[:-1]}.patch', action=f'{act}/write')
            router.add('GET', one, self.get, f'{kind[:-1]}.get', action=f'{act}/read')
            router.add('DELETE', one, self.delete, f'{kind[:-1]}.delete', action=f'{act}/delete')
            for prefix in (RG, SUB):
                router.add('GET', prefix + rf'/providers/microsoft\.compute/(?P<kind>{kind})', self.list,
                           f'{kind[:-1]}.list', action=f'{act}/read')  # fmt: skip

    @property
    def config(self):
        return self.world.config

    def _one(self, sub, rg, kind, name):
        group = self.world.group(sub, rg)
        disk = find(group, kind.lower(), name)
        if disk is None:
            raise not_found(kind.lower(), name, group)
        return disk

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, req, sub, rg, kind, name):
        return Response(200, self._one(sub, rg, kind, name).to_arm())

    def list(self, req, sub, kind, rg=None):
        groups = [self.world.group(sub, rg)] if rg is not None else self.world.subscription(sub).groups.values()
        items = [d.to_arm() for g in groups for d in group_disks(g, kind.lower())]
        return self.world.compute._page(req, items)

    # -- writes -----------------------------------------------------------------------------------------
    def put(self, req, sub, rg, kind, name):
        kind = kind.lower()
        group = self.world.group(sub, rg)
        body = req.json()
        existing = find(group, kind, name)
        if existing is not None:
            return self._update(req, existing, body, creation=True)
        if not body.get('location'):
            raise errors.invalid_parameter("Required parameter 'location' is missing (null).", 'location')
        props = body.get('properties') or {}
        option = str(dig(props, 'creationData', 'createOption') or '')
        if not option:
            raise errors.invalid_parameter(
                "Required parameter 'creationData.createOption' is missing (null).", 'creationData.createOption'
            )
        disk = Disk(kind, group, name, body['location'])
        seconds = float(self.config['lro_seconds'])
        if option.lower() == 'copy':
            self._copy(disk, props)
            seconds = float(self.config['disk_copy_seconds'])
        elif option.lower() == 'empty' and kind == 'disks':
            if not props.get('diskSizeGB'):
                raise errors.invalid_parameter(  # [inferred] text
                    "Required parameter 'diskSizeGB' is missing (null): an empty disk needs a size.", 'diskSizeGB'
                )
        elif option.lower() == 'fromimage' and kind == 'disks':
            self._from_image(disk, props)
        else:
            raise errors.invalid_parameter(  # [inferred] text: the simulator models Empty, Copy, FromImage only
                f"The value '{option}' of parameter 'creationData.createOption' is not supported here.",
                'creationData.createOption',
            )
        disk.props['creationData'] = copy.deepcopy(props['creationData'])
        if option.lower() == 'copy':
            disk.props['creationData']['sourceUniqueId'] = self._source(props).unique_id
        self._apply(disk, body, props)
        disk.state = 'Updating'
        (group.disks if kind == 'disks' else group.snapshots)[name.lower()] = disk
        return self._run(req, disk, seconds, 202)

    def _source(self, props):
        source_id = dig(props, 'creationData', 'sourceResourceId')
        if not source_id:
            raise errors.invalid_parameter(  # [inferred] text
                "Required parameter 'creationData.sourceResourceId' is missing (null).",
                'creationData.sourceResourceId',
            )
        source = by_id(self.world, source_id)
        if source is None:
            name = source_id.rstrip('/').rsplit('/', 1)[-1]
            parts = source_id.split('/')
            group = parts[4] if len(parts) > 4 else ''
            raise errors.resource_not_found('Microsoft.Compute/disks', name, group)
        return source

    def _copy(self, disk, props):
        source = self._source(props)
        disk.content = source.content.copy() if source.content is not None else None
        keep = SNAPSHOT_KEEPS if disk.kind == 'snapshots' else ('osType', 'diskSizeGB', 'encryptionSettingsCollection')
        if disk.kind == 'disks' and self.config['disk_copy_keeps_properties']:
            keep = keep + NOT_INHERITED
        for key in keep:
            if key in source.props:
                disk.props[key] = copy.deepcopy(source.props[key])
        if disk.kind == 'disks' and self.config['disk_copy_keeps_properties'] and source.zones:
            disk.zones = list(source.zones)
        size = props.get('diskSizeGB')
        if size is not None and int(size) < int(source.props.get('diskSizeGB') or 0):
            raise errors.invalid_parameter(  # [inferred] text
                f'The specified disk size {size} GB is smaller than the size of the source '
                f'{source.name}: {source.props.get("diskSizeGB")} GB.',
                'diskSizeGB',
            )

    @staticmethod
    def _from_image(disk, props):
        image = dig(props, 'creationData', 'imageReference', 'id') or ''
        os_type = str(props.get('osType') or ('Windows' if 'windows' in image.lower() else 'Linux')).lower()
        distro = 'rhel' if 'redhat' in image.lower() else None
        disk.content = GuestDisk(os_type, distro)
        disk.props.setdefault('osType', os_type.capitalize())
        disk.props.setdefault('diskSizeGB', 127 if os_type == 'windows' else 30)

    @staticmethod
    def _apply(disk, body, props):
        for key in WRITABLE:
            if props.get(key) is not None:
                disk.props[key] = copy.deepcopy(props[key])
        if dig(body, 'sku', 'name'):
            disk.sku = body['sku']['name']
        if 'tags' in body:
            disk.tags = dict(body.get('tags') or {})
        if body.get('zones'):
            disk.zones = list(body['zones'])

    def patch(self, req, sub, rg, kind, name):
        return self._update(req, self._one(sub, rg, kind, name), req.json(), creation=False)

    def _update(self, req, disk, body, creation):
        props = body.get('properties') or {}
        if creation:
            sent = props.get('creationData')
            if (
                sent
                and str(sent.get('createOption', '')).lower()
                != str(disk.props.get('creationData', {}).get('createOption', '')).lower()
            ):
                raise ArmError(409, 'PropertyChangeNotAllowed', "Changing property 'creationData' is not allowed.")
        if props.get('hyperVGeneration') and not creation:
            raise errors.invalid_parameter(  # DiskUpdateProperties has no hyperVGeneration [inferred text]
                "Could not find member 'hyperVGeneration' on object of type 'DiskUpdateProperties'.",
                'properties.hyperVGeneration',
            )
        self._check_resize(disk, props)
        merged = {k: v for k, v in props.items() if k in WRITABLE}
        deep_merge(disk.props, merged)
        if dig(body, 'sku', 'name'):
            disk.sku = body['sku']['name']
        if 'tags' in body:
            disk.tags = dict(body.get('tags') or {})
        disk.state = 'Updating'
        return self._run(req, disk, float(self.config['lro_seconds']), 200)

    @staticmethod
    def _check_resize(disk, props):
        size = props.get('diskSizeGB')
        if size is None or int(size) == int(disk.props.get('diskSizeGB') or 0):
            return
        if int(size) < int(disk.props.get('diskSizeGB') or 0):
            raise errors.invalid_parameter(  # [inferred] text
                f'Disk {disk.name} cannot be shrunk from {disk.props.get("diskSizeGB")} GB to {size} GB.', 'diskSizeGB'
            )
        if disk.owner is not None and disk.owner.power == 'running':
            raise ArmError(
                409,
                'OperationNotAllowed',
                f'Cannot resize disk {disk.name} while it is attached to running VM {disk.owner.id}.',
            )

    def _run(self, req, disk, seconds, status):
        def finish(_when):
            disk.state = 'Succeeded'
            return None

        due = self.world.now() + seconds
        return lro(self.world, req, disk.rg.sub.id, disk.location, due, finish, disk.to_arm, status, disk.to_arm())

    def delete(self, req, sub, rg, kind, name):
        group = self.world.group(sub, rg)
        disk = find(group, kind.lower(), name)
        if disk is None:
            return Response(204)
        refuse_attached_delete(disk)
        store = group.disks if disk.kind == 'disks' else group.snapshots
        disk.state = 'Deleting'

        def finish(_when):
            if store.get(name.lower()) is disk:
                del store[name.lower()]
            return None

        due = self.world.now() + float(self.config['lro_seconds'])
        return lro(self.world, req, group.sub.id, disk.location, due, finish, None, 202, None)
