# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One source VM's rescue as the steps see it: what ARM shows now, the record, and the record write (private).

``Job.read()`` reads the truth each time a step ended: the source VM with its instance view, its OS disk, and either
the copy by its deterministic name (the VM still on its original disk) or, when the OS disk is a copy this
collection made for the VM (tag ``vmrescue-rescue-of``), the original from the copy's ``creationData.sourceResourceId``.
Where the copy is attached is the copy's ``managedBy``. So a record lost between a write and its record write
changes nothing: only whether the repair ran is the record's word (and a repeated repair is the same run command,
which its fingerprint keeps from running twice).

Public names: ``Job(ctx, hub, key)`` (``read()``, ``facts(state)``, ``next_record(phase, **fields)``, ``write_record(phase, **fields)``,
``fields()``, ``snapshot()``, ``disk_path(name)``, ``encryption``), ``disk_id_path(disk_id)``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import ade, names
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.operations import DISK_API
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.plan import Facts
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import (
    COPY_OF_TAG,
    RECORD_TAG,
    Record,
    check,
    encode,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import agent_ready


def disk_id_path(disk_id):
    return '/' + str(disk_id).lstrip('/')


def _name(resource_id):
    return str(resource_id or '').rstrip('/').rsplit('/', 1)[-1] or None


class Job:
    """The state of one target's rescue between steps (module docstring)."""

    def __init__(self, ctx, hub, key):
        self.ctx, self.hub, self.key = ctx, hub, key
        self.client, self.params, self.target = ctx.client, ctx.params, ctx.target
        self.view = self.record = self.untrusted = None
        self.original = self.copy = None
        self.on_copy = False
        self.copy_name = None
        self.changed = False
        self.repair = None
        self.lun = None
        self.done_steps = []
        self.warnings = []
        self.wave = None  # fleet.assign: {needed, rescue_vms, waited} when copies are served in waves

    def disk_path(self, name):
        return '%s/providers/Microsoft.Compute/disks/%s' % (self.target.resource_group_id, name)

    def _disk(self, disk_id):
        if not disk_id:
            return None
        return self.client.get(disk_id_path(disk_id), api_version=DISK_API, missing_ok=True)

    def read(self):
        """Read the truth (module docstring)."""
        self.view = _vm.read_view(self.client, self.target, instance_view=True)
        self.record, self.untrusted = check(self.view.tags, self.key, self.target.id)
        os_disk = (self.view.properties.get('storageProfile') or {}).get('osDisk') or {}
        current = self._disk((os_disk.get('managedDisk') or {}).get('id'))
        copy_of = _vm.get_tag((current or {}).get('tags'), COPY_OF_TAG)
        self.on_copy = bool(current) and str(copy_of or '').lower() == self.target.name.lower()
        if self.on_copy:
            self.copy = current
            self.copy_name = current['name']
            source = ((current.get('properties') or {}).get('creationData') or {}).get('sourceResourceId')
            self.original = self._disk(source) or {'id': source, 'name': _name(source)}
        else:
            self.original = current
            if current is not None:
                self.copy_name = names.copy_disk_name(self.target.name, self.target.id, current['id'])
                self.copy = self._disk(self.disk_path(self.copy_name))
        return self

    @property
    def copy_state(self):
        return ((self.copy or {}).get('properties') or {}).get('provisioningState') if self.copy else None

    @property
    def rescue_vm_id(self):
        """The VM the copy is attached to when it is not the source VM (the rescue VM), else None."""
        owner = (self.copy or {}).get('managedBy')
        if owner and owner.lower() != self.target.id.lower():
            return owner
        return None

    @property
    def encryption(self):
        """The copy's (else the original's) ADE settings (``ade.settings_of``), None for a plain disk."""
        return ade.settings_of(self.copy) or ade.settings_of(self.original)

    def _recorded(self, phase):
        record = self.record
        return bool(record and record.at_least(phase) and (record.copy or '').lower() == (self.copy_name or '').lower())

    def _unlocked(self):
        """The record says the copy was unlocked on the rescue VM (and LUN) it is attached to now."""
        record, vm_id = self.record, self.rescue_vm_id
        if not self._recorded('unlocked') or not vm_id or not record.rescue_vm:
            return False
        return _name(vm_id).lower() == record.rescue_vm.lower() and (self.lun is None or record.lun == self.lun)

    def facts(self, state):
        record = self.record
        repaired = self._recorded('repaired')
        return Facts(
            state=state,
            on_copy=self.on_copy,
            copy_state=self.copy_state,
            copy_on_rescue=self.rescue_vm_id is not None,
            repaired=repaired,
            power=self.view.power,
            agent_ready=agent_ready(self.view.instance_view),
            recorded=record.phase if record else None,
            encrypted=self.encryption is not None,
            unlocked=self._unlocked(),
        )

    def next_record(self, phase, **fields):
        """The record of ``phase`` over the current one (copy and original names as ARM shows them now)."""
        base = self.record or Record(phase=phase, when='')
        return base.with_phase(phase, copy=self.copy_name, original=(self.original or {}).get('name'), **fields)

    def write_record(self, phase, **fields):
        """The record tag after a phase's write (PATCH with If-Match: re-read and re-decided on a race)."""
        base = self.next_record(phase, **fields)
        value = encode(base, self.key, self.target.id)

        def decide(view):
            return _vm.Change(tags={RECORD_TAG: value}) if _vm.get_tag(view.tags, RECORD_TAG) != value else None

        self.view, _change, _resp = _vm.update(self.client, self.view, decide, lro=False, instance_view=True)
        self.record = base
        self.changed = True

    def fields(self):
        """The result fields every outcome carries."""
        record = self.record
        return dict(
            id=self.target.id,
            phase=record.phase if record else None,
            copy_disk_id=(self.copy or {}).get('id') or (self.disk_path(self.copy_name) if self.copy_name else None),
            original_disk_id=(self.original or {}).get('id'),
            rescue_vm_id=self.rescue_vm_id or self._recorded_rescue_vm(),
            lun=self.lun if self.lun is not None else (record.lun if record else None),
            repair=self.repair,
            steps=list(self.done_steps),
            encryption=ade.describe(self.encryption),
        )

    def _recorded_rescue_vm(self):
        record = self.record
        if not record or not record.rescue_vm:
            return None
        group = record.rescue_group or self.target.resource_group
        return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s' % (
            self.target.subscription_id, group, record.rescue_vm)  # fmt: skip

    def snapshot(self):
        """The diff side of now: the VM's OS disk and the recorded phase."""
        os_disk = (self.view.properties.get('storageProfile') or {}).get('osDisk') or {}
        return dict(os_disk_id=(os_disk.get('managedDisk') or {}).get('id'),
                    phase=self.record.phase if self.record else None)  # fmt: skip
