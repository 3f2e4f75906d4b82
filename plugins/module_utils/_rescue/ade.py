# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure Disk Encryption (ADE) in the offline rescue: which encrypted OS disks it unlocks and how (private; pure).

What is supported is what ``az vm repair create --unlock-encrypted-vm`` unlocks (Azure/azure-cli-extensions,
src/vm-repair/azext_vm_repair/repair_utils.py ``_fetch_encryption_settings`` / ``_unlock_singlepass_encrypted_disk``):
single-pass ADE (the disk's ``encryptionSettingsCollection``, ``encryptionSettingsVersion`` 1.1) whose disk
encryption key is a Key Vault secret (``diskEncryptionKey.secretUrl`` in ``sourceVault``), wrapped by a key
encryption key (``keyEncryptionKey.keyUrl``) or not. The rescue VM gets the ADE extension with that Key Vault (and
KEK), as ``az vm encryption enable --disk-encryption-keyvault <vault> [--key-encryption-key <kek>] --volume-type
DATA`` (Windows ``ALL``) does: run after the copy is attached, it brings the VM a BEK volume holding the copy's key
(MicrosoftDocs SupportArticles-docs, unlock-encrypted-linux-disk-offline-repair.md, "Re-enable Azure Disk Encryption
on the disk": "This procedure will trigger the VM to create and attach the BEK volume"). The collection's unlock
script then opens the copy at its LUN with that key (``scripts_linux.UNLOCK`` / ``scripts_windows.UNLOCK``); the
secret never passes through the controller. One ADE extension per VM means one Key Vault (and KEK) per rescue VM:
``kind(settings)`` is part of the rescue VM's kind and name.

The extension's settings (azure-cli ``vm/disk_encryption.py`` ``encrypt_vm``): ``EncryptionOperation``
``EnableEncryption``, ``KeyVaultURL``, ``KeyVaultResourceId``, ``KeyEncryptionKeyURL`` / ``KekVaultResourceId`` /
``KeyEncryptionAlgorithm`` with a KEK, ``VolumeType``, ``SequenceVersion`` (here derived from the copy disk's ID: a
new copy runs the extension again, a resumed run of the same copy does not).

The swap keeps the copy's ``encryptionSettingsCollection`` (``plan.copy_body`` names it, the copy keeps it): the
source VM boots the repaired copy with its own key, as ``az vm repair restore`` (``az vm update --os-disk``) does.

Public names: ``Settings`` (secret_url, vault_id, kek_url, version), ``settings_of(disk) -> Settings | None``,
``dual_pass(vm_model) -> bool``, ``kind(settings) -> str``, ``vault_url(settings)``, ``EXTENSION``,
``extension_name(os_type)``, ``extension_body(settings, os_type, location, copy_id)``, ``describe(settings)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

SINGLE_PASS = '1.1'
PUBLISHER = 'Microsoft.Azure.Security'
EXTENSION = {'Linux': ('AzureDiskEncryptionForLinux', '1.1', 'Data'), 'Windows': ('AzureDiskEncryption', '2.2', 'All')}
_NAMESPACE = uuid.UUID('6c1f5a3e-3b1c-4c59-9d0e-6a1e2f0d7a23')  # the SequenceVersion's namespace (any fixed UUID)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One disk's ADE settings as its ``encryptionSettingsCollection`` shows them (the first entry)."""

    secret_url: str | None
    vault_id: str | None
    kek_url: str | None
    version: str
    enabled: bool = True


def _props(doc):
    return (doc or {}).get('properties') or {}


def settings_of(disk):
    """The disk's ADE settings, or None when ADE is not enabled on it."""
    ade = _props(disk).get('encryptionSettingsCollection') or {}
    if not ade.get('enabled'):
        return None
    first = (ade.get('encryptionSettings') or [{}])[0] or {}
    key = first.get('diskEncryptionKey') or {}
    kek = first.get('keyEncryptionKey') or {}
    return Settings(secret_url=key.get('secretUrl'), vault_id=(key.get('sourceVault') or {}).get('id'),
                    kek_url=kek.get('keyUrl'), version=str(ade.get('encryptionSettingsVersion') or '1.0'))  # fmt: skip


def dual_pass(vm_model):
    """Dual-pass ADE keeps its settings on the VM's OS disk entry (vm-repair: ``os_disk.encryption_settings``)."""
    os_disk = (_props(vm_model).get('storageProfile') or {}).get('osDisk') or {}
    settings = os_disk.get('encryptionSettings') or {}
    return bool(settings.get('enabled') or settings.get('diskEncryptionKey'))


def kind(settings):
    """The part of a rescue VM's kind an encrypted copy adds: 8 hex of its Key Vault and KEK ('' when plain)."""
    if settings is None:
        return ''
    text = '%s\n%s' % (str(settings.vault_id or '').lower(), str(settings.kek_url or '').lower())
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]


def vault_url(settings):
    """``https://<vault host>/`` of the secret (the host of its URL: the vault's DNS name in any cloud)."""
    parts = str(settings.secret_url or '').split('/')
    return '%s//%s/' % (parts[0], parts[2]) if len(parts) > 2 else None


def extension_name(os_type):
    return EXTENSION['Windows' if os_type == 'Windows' else 'Linux'][0]


def extension_body(settings, os_type, location, copy_id):
    """The PUT body of the ADE extension on the rescue VM for the copy ``copy_id`` (module docstring)."""
    handler, version, volumes = EXTENSION['Windows' if os_type == 'Windows' else 'Linux']
    public = {
        'EncryptionOperation': 'EnableEncryption',
        'KeyVaultURL': vault_url(settings),
        'KeyVaultResourceId': settings.vault_id,
        'VolumeType': volumes,
        'SequenceVersion': str(uuid.uuid5(_NAMESPACE, str(copy_id).lower())),
    }
    if settings.kek_url:
        public.update(KeyEncryptionKeyURL=settings.kek_url, KekVaultResourceId=settings.vault_id,
                      KeyEncryptionAlgorithm='RSA-OAEP')  # fmt: skip
    props = {'publisher': PUBLISHER, 'type': handler, 'typeHandlerVersion': version,
             'autoUpgradeMinorVersion': True, 'settings': public}  # fmt: skip
    return {'location': location, 'properties': props}


def describe(settings):
    """What a result shows of a disk's encryption (never a secret: the vault's ID and whether a KEK wraps the key)."""
    if settings is None:
        return None
    return {'type': 'ade_single_pass', 'key_vault_id': settings.vault_id, 'key_encryption_key': bool(settings.kek_url)}
