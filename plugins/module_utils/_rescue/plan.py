# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the offline rescue does next for one source VM, and the bodies it sends (private; pure, no I/O).

- ``refusal(vm_model, disk) -> (reason_code, msg) | None``: the disks the rescue refuses before any write.
  Confidential VMs (``securityType`` ``ConfidentialVM*`` on the VM or the disk): their OS disk is bound to the VM's
  vTPM and cannot be read on another VM. Azure Disk Encryption: single pass (1.1) with its key in Key Vault
  (``diskEncryptionKey.secretUrl``) is unlocked on the rescue VM (ade.py, step ``unlock``); dual pass (the VM's
  ``osDisk.encryptionSettings``, or a version other than 1.1) and ADE without a Key Vault secret are refused, each
  with its reason. Encryption at rest (platform or customer key, a disk encryption set) is transparent to the
  guest and is kept on the copy.
- ``copy_body(disk, vm_name)``: the ``disks`` PUT of the copy (``createOption: Copy``) naming every property a copy
  does not keep by itself (Azure and the simulator: hyperVGeneration, supportedCapabilities.architecture /
  diskControllerTypes, securityProfile, encryption.diskEncryptionSetId, zones, sku; SupportArticles-docs #214 / #338).
- ``Facts`` (what ARM shows now) and ``next_step(facts) -> str``: the phase decision. The record only says which
  phases are done when ARM cannot show it (whether the copy was repaired); everything else is read from the
  resources, so a record lost between a write and its record write resumes without a duplicate.

Steps (``restored``): ``copy``, ``wait_copy``, ``attach``, ``unlock`` (an ADE copy only), ``repair``, ``detach``, ``deallocate``, ``swap``, ``start``,
``confirm``, ``done``; (``rolled_back``): ``detach``, ``deallocate``, ``swap_back``, ``start``, ``done``.

``steps_ahead(step, encrypted)``: the steps a restore still takes from ``step`` (check mode shows them).

Public names: ``refusal``, ``copy_body``, ``Facts``, ``next_step``, ``steps_ahead``, ``CONFIDENTIAL``, ``FLOW``.
"""

from __future__ import annotations

import copy
import dataclasses

from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.ade import SINGLE_PASS, dual_pass, settings_of
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.record import COPY_OF_TAG

CONFIDENTIAL = ('confidentialvm', 'confidentialvm_diskencryptedwithcustomerkey', 'confidentialvm_nonpersistedtpm')
KEEP = ('osType', 'hyperVGeneration', 'securityProfile', 'encryptionSettingsCollection')


def _props(doc):
    return (doc or {}).get('properties') or {}


def refusal(vm_model, disk):
    """``(reason_code, msg)`` when the rescue must not touch this VM's OS disk, else None (module docstring)."""
    vm_security = str((_props(vm_model).get('securityProfile') or {}).get('securityType') or '')
    disk_security = str((_props(disk).get('securityProfile') or {}).get('securityType') or '')
    for security in (vm_security, disk_security):
        if security.lower().startswith('confidentialvm'):
            return (
                'unsupported_disk',
                'the VM is a confidential VM (securityType %s): its OS disk is bound to its vTPM and cannot be read '
                'on a rescue VM. Refused before any write; repair it through the serial console instead.' % security,
            )
    if dual_pass(vm_model):
        return (
            'unsupported_disk',
            'the VM uses dual-pass Azure Disk Encryption (its OS disk entry has encryptionSettings): only single-pass '
            'ADE (1.1) with its key in Key Vault can be unlocked on a rescue VM. Refused before any write; migrate it '
            'to single pass or repair it by hand.',
        )
    settings = settings_of(disk)
    if settings is None:
        return None
    if settings.version != SINGLE_PASS:
        return (
            'unsupported_disk',
            'the OS disk uses dual-pass Azure Disk Encryption (encryptionSettingsVersion %s): only single-pass '
            'ADE (1.1) with its key in Key Vault can be unlocked on a rescue VM. Refused before any write.'
            % settings.version,
        )
    if not settings.secret_url or not settings.vault_id:
        return (
            'unsupported_disk',
            'the OS disk uses Azure Disk Encryption without a Key Vault secret in its encryption settings '
            '(diskEncryptionKey.secretUrl and sourceVault.id): the rescue VM could not unlock it. Refused before any write.',
        )
    return None


def copy_body(disk, vm_name):
    """The PUT body of the copy of ``disk`` (its GET body), tagged with the source VM's name."""
    props = _props(disk)
    out = {'creationData': {'createOption': 'Copy', 'sourceResourceId': disk['id']}}
    for key in KEEP:
        if props.get(key) is not None:
            out[key] = copy.deepcopy(props[key])
    capabilities = props.get('supportedCapabilities') or {}
    kept = dict((k, capabilities[k]) for k in ('architecture', 'diskControllerTypes') if capabilities.get(k))
    if kept:
        out['supportedCapabilities'] = kept
    des = (props.get('encryption') or {}).get('diskEncryptionSetId')
    if des:
        out['encryption'] = {'type': props['encryption'].get('type'), 'diskEncryptionSetId': des}
    body = {'location': disk['location'], 'tags': {COPY_OF_TAG: vm_name}, 'properties': out}
    if (disk.get('sku') or {}).get('name'):
        body['sku'] = {'name': disk['sku']['name']}
    if disk.get('zones'):
        body['zones'] = list(disk['zones'])
    return body


@dataclasses.dataclass(frozen=True)
class Facts:
    """What ARM shows for one source VM now (and what the record adds that ARM cannot show).

    ``on_copy``: the VM's OS disk is the copy; ``copy_state``: the copy's provisioningState (None: no copy);
    ``copy_on_rescue``: the copy is a data disk of the rescue VM; ``repaired``: the repair ran (record);
    ``power``: the source VM's power state; ``agent_ready``: its VM agent reports Ready; ``recorded``: the record's
    phase (None: none); ``encrypted``: the copy needs an ADE unlock; ``unlocked``: it was unlocked on the rescue
    VM it is attached to (record).
    """

    state: str
    on_copy: bool = False
    copy_state: str | None = None
    copy_on_rescue: bool = False
    repaired: bool = False
    power: str | None = None
    agent_ready: bool = False
    recorded: str | None = None
    encrypted: bool = False
    unlocked: bool = False


def _restored(f):
    if f.on_copy:
        if f.power != 'running':
            return 'start'
        return 'done' if f.agent_ready else 'confirm'
    if f.copy_state is None:
        return 'copy'
    if f.copy_state != 'Succeeded':
        return 'wait_copy'
    if not f.repaired:
        if not f.copy_on_rescue:
            return 'attach'
        return 'unlock' if f.encrypted and not f.unlocked else 'repair'
    if f.copy_on_rescue:
        return 'detach'
    if f.power != 'deallocated':
        return 'deallocate'
    return 'swap'


def _rolled_back(f):
    if f.copy_on_rescue:
        return 'detach'
    if f.on_copy:
        return 'swap_back' if f.power == 'deallocated' else 'deallocate'
    if f.power in ('deallocated', 'stopped') and f.recorded in ('swapped', 'restored', 'rolled_back'):
        return 'start'
    return 'done'


def next_step(facts):
    """The next step of ``facts.state`` (``restored`` or ``rolled_back``; module docstring)."""
    if facts.state == 'rolled_back':
        return _rolled_back(facts)
    return _restored(facts)


FLOW = ('copy', 'wait_copy', 'attach', 'unlock', 'repair', 'detach', 'deallocate', 'swap', 'start', 'confirm')


def steps_ahead(step, encrypted):
    """The steps of a restore from ``step`` on (``unlock`` only for an encrypted copy; ``wait_copy`` only when it
    is the step now)."""
    if step not in FLOW:
        return []
    return [s for s in FLOW[FLOW.index(step) :] if (s != 'unlock' or encrypted) and (s != 'wait_copy' or s == step)]
