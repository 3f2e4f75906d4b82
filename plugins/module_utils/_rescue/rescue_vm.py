# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rescue VM: check one the operator gave, create one (NIC without public IP, then the VM, then wait for its
agent), and serialized data-disk changes on it (private).

Azure refuses concurrent updates of one VM (409 "another operation is in progress"), so the targets of a batch
that attach to or detach from the same rescue VM do not write it each: they queue their change in the batch's
``Hub`` and one of them (the writer) sends one PATCH of ``storageProfile.dataDisks`` with If-Match carrying every
queued change; the others wait (yielding delays: no worker held). A change from another process that wins the race
(412, 409 busy) makes the writer read again and decide again. LUNs are the smallest free ones; when Azure answers
the size's data-disk limit (known from the skus list, ``Hub.limits``, else learned from Azure's 409
OperationNotAllowed "The maximum number of data disks ... is <n>."), the writer attaches what fits and the rest
wait for LUNs to free up (copies detach as their repairs end).

The rescue VM is created only after nothing else: the copy is attached after the rescue VM booted (its agent Ready),
so a same-image copy does not collide with the rescue VM's own disk at boot (filesystem UUIDs, LVM names, disk
signatures), as ``az vm repair`` does.

Public names: ``Hub`` (the batch's shared state; ``group_lock(key)``), ``check_given(view, os_type, location) -> msg | None``,
``ensure_created(ctx, hub, spec)`` (step generator -> rescue VM id), ``change_disks(ctx, hub, vm_id, add=None,
remove=None)`` (step generator -> LUN of ``add`` / None), ``vm_body(params, spec, nic_id)``, ``RescueSpec``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._operation import write_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import names
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.operations import NETWORK_API
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.options import image_for
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import RESCUE_VM_TAG
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

LIMIT = re.compile(r'maximum number of data disks allowed to be attached to a VM of this size is (\d+)', re.I)
QUEUE_POLL = 1.0
MAX_LUN = 63


class Hub:
    """Per batch: one creator per rescue VM, one writer per rescue VM's data disks, and their queues."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}  # lower VM id -> 'creating' | 'ready' | TaskError
        self.queues = {}  # lower VM id -> {'writer': bool, 'pending': [dict]}
        self.run_commands = {}  # os type -> the run command engine's BatchState (one script per OS)
        self.fleet = None  # fleet._State: the batch's plan of rescue VMs per kind (fleet.py)
        self.limits = {}  # lower rescue VM id -> its size's data-disk limit (skus, else learned from Azure's 409)
        self.groups = {}  # lower rescue group id -> its clean-up preflight's GroupVerdict (group_check.py)
        self._group_locks = {}

    def group_lock(self, key):
        """The lock that makes one group's preflight read once per batch."""
        with self.lock:
            return self._group_locks.setdefault(key, threading.Lock())


@dataclasses.dataclass(frozen=True)
class RescueSpec:
    """What rescue VM a source disk needs: where, which OS family, generation and architecture, and (an encrypted
    copy) which Key Vault its ADE extension names."""

    subscription_id: str
    resource_group: str
    location: str
    os_type: str
    generation: str
    architecture: str
    zone: str | None = None
    index: int = 1  # the n-th rescue VM of this kind (fleet.py: a kind whose copies exceed one VM's data disks)
    ade: str = ''  # an encrypted copy's Key Vault (ade.kind): such copies share a rescue VM only with their vault's

    @property
    def name(self):
        return names.rescue_vm_name(self.location, self.os_type, self.generation, self.architecture, self.zone,
                                    self.index, self.ade)  # fmt: skip

    @property
    def vm_id(self):
        return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s' % (
            self.subscription_id, self.resource_group, self.name)  # fmt: skip


def agent_ready(instance_view):
    return _vm.agent_status(instance_view)['ready']


def check_given(view, os_type, location, zone=None):
    """Why the operator's rescue VM cannot repair this disk (None: it can)."""
    where = str(view.model.get('location') or '').replace(' ', '').lower()
    if view.power != 'running' or not agent_ready(view.instance_view):
        return 'rescue VM %s is %s with its agent %s: it must be running with its VM agent Ready' % (
            view.target.display, view.power or 'in an unknown state',
            'Ready' if agent_ready(view.instance_view) else 'not Ready')  # fmt: skip
    if where != str(location).replace(' ', '').lower():
        return 'rescue VM %s is in %s, the disk in %s: a disk attaches only in its own region' % (
            view.target.display, where, location)  # fmt: skip
    zones = view.model.get('zones') or []
    if zone and zones and zone not in zones:
        return 'rescue VM %s is in zone %s, the disk in zone %s' % (view.target.display, ','.join(zones), zone)
    if view.os_type and view.os_type != os_type:
        return 'rescue VM %s runs %s: a %s disk is repaired by a %s rescue VM' % (
            view.target.display, view.os_type, os_type, os_type)  # fmt: skip
    return None


def nic_body(params, spec):
    config = {'name': 'ipconfig1', 'properties': {'subnet': {'id': params['rescue_subnet_id']},
                                                  'privateIPAllocationMethod': 'Dynamic'}}  # fmt: skip
    return {'location': spec.location, 'tags': {RESCUE_VM_TAG: 'created'}, 'properties': {'ipConfigurations': [config]}}


def _os_profile(params, spec):
    profile = {'computerName': names.computer_name(spec.name, spec.os_type),
               'adminUsername': params['rescue_admin_username']}  # fmt: skip
    if spec.os_type == 'Windows':
        profile['adminPassword'] = params.get('rescue_admin_password')
        profile['windowsConfiguration'] = {'provisionVMAgent': True}
        return profile
    key = params.get('rescue_admin_ssh_public_key')
    linux = {'provisionVMAgent': True, 'disablePasswordAuthentication': bool(key)}
    if key:
        path = '/home/%s/.ssh/authorized_keys' % params['rescue_admin_username']
        linux['ssh'] = {'publicKeys': [{'path': path, 'keyData': key}]}
    else:
        profile['adminPassword'] = params.get('rescue_admin_password')
    profile['linuxConfiguration'] = linux
    return profile


def vm_body(params, spec, nic_id):
    """The rescue VM's create body: the image of its kind, a NIC without public IP, everything deleted with it."""
    props = {
        'hardwareProfile': {'vmSize': params['rescue_vm_size']},
        'storageProfile': {
            'imageReference': image_for(params, spec.os_type, spec.generation, spec.architecture),
            'osDisk': {
                'createOption': 'FromImage',
                'deleteOption': 'Delete',
                'managedDisk': {'storageAccountType': 'StandardSSD_LRS'},
            },  # fmt: skip
        },
        'osProfile': _os_profile(params, spec),
        'networkProfile': {'networkInterfaces': [{'id': nic_id, 'properties': {'deleteOption': 'Delete'}}]},
        'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}},
    }
    body = {'location': spec.location, 'tags': {RESCUE_VM_TAG: 'created'}, 'properties': props}
    if spec.zone:
        body['zones'] = [spec.zone]
    return body


def ensure_created(ctx, hub, spec, clock=time.monotonic):
    """The rescue VM of ``spec``, created once per batch (others wait for it) and booted; returns its id."""
    key = spec.vm_id.lower()
    while True:
        with hub.lock:
            state = hub.created.get(key)
            if state is None:
                hub.created[key] = 'creating'
        if state is None:
            break
        if state == 'ready':
            return spec.vm_id
        if isinstance(state, Exception):
            raise state
        yield QUEUE_POLL
    try:
        yield from _create(ctx, spec, clock)
    except Exception as exc:
        with hub.lock:
            hub.created[key] = (
                exc if isinstance(exc, TaskError) else TaskError(str(exc), reason_code='rescue_vm_unusable')
            )
        raise
    with hub.lock:
        hub.created[key] = 'ready'
    return spec.vm_id


def _create(ctx, spec, clock):
    client, params = ctx.client, ctx.params
    target = parse_resource_id(spec.vm_id, 'rescue_vm_id')
    existing = client.get(target.path, params={'$expand': 'instanceView'}, missing_ok=True)
    if existing is None:
        nic = '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces/%s' % (
            spec.subscription_id, spec.resource_group, names.nic_name(spec.name))  # fmt: skip
        yield from write_steps(client, 'PUT', nic, nic_body(params, spec), api_version=NETWORK_API, clock=clock)
        yield from write_steps(client, 'PUT', target.path, vm_body(params, spec, nic), clock=clock,
                               timeout=params['wait_timeout'])  # fmt: skip
    deadline = clock() + params['wait_timeout']
    while True:
        view = _vm.read_view(client, target, instance_view=True)
        if view.power == 'running' and agent_ready(view.instance_view):
            return
        if clock() > deadline:
            raise TaskError('rescue VM %s did not report its VM agent Ready within %ss (wait_timeout)'
                            % (target.display, params['wait_timeout']), reason_code='rescue_vm_unusable')  # fmt: skip
        yield 5.0


def change_disks(ctx, hub, vm_id, add=None, remove=None, clock=time.monotonic):
    """Attach ``add`` / detach ``remove`` (disk ids) on rescue VM ``vm_id`` through its queue (module docstring);
    returns the LUN of ``add`` (None for a detach)."""
    key = vm_id.lower()
    request = {'add': add, 'remove': remove, 'lun': None, 'errors': [], 'done': False}
    deadline = clock() + ctx.params['wait_timeout']
    with hub.lock:
        queue = hub.queues.setdefault(key, {'writer': False, 'pending': []})
        queue['pending'].append(request)
    while True:
        with hub.lock:
            if request['done']:
                break
            writer = not queue['writer']
            batch = list(queue['pending']) if writer else []
            if writer:
                queue['writer'], queue['pending'] = True, []
        if not writer:
            if clock() > deadline:
                with hub.lock:
                    if request in queue['pending']:
                        queue['pending'].remove(request)  # no later writer attaches a disk nobody waits for
                raise TaskError('no free LUN on rescue VM %s within %ss (wait_timeout)' % (vm_id, ctx.params['wait_timeout']),
                                reason_code='rescue_vm_full')  # fmt: skip
            yield QUEUE_POLL
            continue
        left = [r for r in batch if not r['done']]
        try:
            left = yield from _write_batch(ctx, hub, vm_id, batch, clock)
        finally:
            with hub.lock:
                queue['writer'] = False
                queue['pending'][:0] = left
        if not request['done']:
            yield QUEUE_POLL * 5  # no LUN free yet: wait for a detach
    for error in request['errors']:
        raise error
    return request['lun']


def _plan(entries, batch, limit):
    """New ``dataDisks`` for ``batch`` over ``entries``; the requests that do not fit stay out (returned)."""
    out = [e for e in entries if not any(_same(e, r['remove']) for r in batch if r['remove'])]
    used = set(e.get('lun') for e in out)
    left = []
    for request in batch:
        if not request['add']:
            continue
        present = [e for e in out if _same(e, request['add'])]
        if present:
            request['lun'] = present[0]['lun']
            continue
        free = [n for n in range(MAX_LUN + 1) if n not in used]
        if not free or (limit is not None and len(out) >= limit):
            left.append(request)
            continue
        request['lun'] = free[0]
        used.add(free[0])
        out.append({'lun': free[0], 'createOption': 'Attach', 'managedDisk': {'id': request['add']}})
    return out, left


def _same(entry, disk_id):
    return bool(disk_id) and str(((entry.get('managedDisk') or {}).get('id')) or '').lower() == disk_id.lower()


def _write_batch(ctx, hub, vm_id, batch, clock):
    """One PATCH of the rescue VM's data disks for ``batch`` (re-decided after a race); returns the requests left."""
    target = parse_resource_id(vm_id, 'rescue_vm_id')
    limit, attempt = hub.limits.get(vm_id.lower()), 0
    while True:
        view = _vm.read_view(ctx.client, target)
        entries = [e for e in (view.properties.get('storageProfile') or {}).get('dataDisks') or ()
                   if e.get('toBeDetached') is not True]  # fmt: skip
        disks, left = _plan(entries, batch, limit)
        if len(left) == len(batch) and not any(r['remove'] for r in batch):
            return left  # nothing fits: no write
        body = {'properties': {'storageProfile': {'dataDisks': disks}}}
        try:
            yield from write_steps(ctx.client, 'PATCH', target.path, body, if_match=view.etag, clock=clock,
                                   timeout=ctx.params['wait_timeout'])  # fmt: skip
        except ArmError as err:
            attempt += 1
            found = LIMIT.search(err.message or '')
            if found and limit != int(found.group(1)):
                limit = hub.limits[vm_id.lower()] = int(found.group(1))
                continue
            if _vm.is_concurrent(err) and attempt < _vm.CONCURRENCY_ATTEMPTS:
                yield 0 if err.status == 412 else _vm.busy_delay(attempt)
                continue
            for request in batch:
                request['errors'].append(err)
                request['done'] = True
            return []
        for request in batch:
            if request not in left:
                request['done'] = True
        return left
