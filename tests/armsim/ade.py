"""Azure Disk Encryption (ADE) single pass, as an offline rescue meets it: the ADE extension on a rescue VM, the BEK
volume it brings, the unlock script, and what a locked disk does to a repair or a boot (issue 23).

Sources (each rule below names its own):

- [vmrepair] Azure/azure-cli-extensions ``src/vm-repair/azext_vm_repair/repair_utils.py``:
  ``_fetch_encryption_settings`` (dual pass when the VM's ``storageProfile.osDisk.encryptionSettings`` is set;
  single pass from the disk's ``encryptionSettingsCollection.encryptionSettings[].diskEncryptionKey.sourceVault.id``
  and ``keyEncryptionKey.keyUrl``), ``_unlock_singlepass_encrypted_disk`` (``az vm encryption enable
  --disk-encryption-keyvault <that vault> [--key-encryption-key <kek>] --volume-type DATA`` (Windows ``ALL``) on the
  *repair* VM, then, on Linux, ``scripts/linux-mount-encrypted-disk.sh`` through ``az vm run-command invoke``);
  ``custom.py`` ``create``: the copy is made with ``az disk create --source`` (no encryption argument) and unlocked
  on the repair VM; ``restore`` swaps the copy in with ``az vm update --os-disk`` (nothing else about encryption).
- [script] ``scripts/linux-mount-encrypted-disk.sh``: the volume labelled ``BEK VOLUME`` mounted at
  ``/mnt/azure_bek_disk``, the boot partition of the copy holding ``luks/osluksheader``, ``cryptsetup luksOpen
  --key-file /mnt/azure_bek_disk/LinuxPassPhraseFileName --header <it> <root> osencrypt``; ``exit 1`` with "No BEK
  disk found, cannot continue" / "None of the root candidates could be unlocked". ``win-mount-encrypted-disk.ps1``:
  the ``Bek Volume``, its ``*.BEK`` file, ``Unlock-BitLocker -RecoveryKeyPath``; "No volume found with 'Bek Volume'
  file system label".
- [docs] MicrosoftDocs/SupportArticles-docs ``support/azure/virtual-machines/unlock-encrypted-linux-disk-offline-repair.md``:
  an ADE disk cannot be mounted on a repair VM until it is unlocked ("mount: unknown filesystem type
  'LVM2_member'"); the BEK volume holding the key file comes when ADE is (re)applied to the repair VM's data disks
  "with the same key vault, key, and version as those used to encrypt the disk": "This procedure will trigger the
  VM to create and attach the BEK volume."
- [cli] azure-cli ``vm/disk_encryption.py`` ``encrypt_vm`` (the same body in saltstack's idem-azurerm
  ``virtual_machine`` state): extension ``Microsoft.Azure.Security`` ``AzureDiskEncryptionForLinux`` 1.1 /
  ``AzureDiskEncryption`` 2.2, settings ``EncryptionOperation: EnableEncryption``, ``KeyVaultURL``,
  ``KeyVaultResourceId``, ``KeyEncryptionKeyURL`` + ``KekVaultResourceId`` with a KEK, ``VolumeType``,
  ``SequenceVersion``.

The model:

- A disk's guest content may be encrypted (``GuestDisk.ade``: the Key Vault secret URL of its passphrase); a copy
  keeps it, with the disk's ``encryptionSettingsCollection`` (disk_routes.py).
- The ADE extension run on a VM (``enable``) puts in that VM's BEK volume the secrets of the data disks attached
  *then* whose encryption settings name the extension's ``KeyVaultResourceId`` (and, with a KEK, its
  ``KeyEncryptionKeyURL``) [docs; which disks: inferred]. One extension per VM, so one vault per rescue VM; a disk
  attached after the run is in the BEK volume only once the extension runs again (a new ``SequenceVersion``).
- The collection's unlock script (header ``# vmrescue.azure offline_rescue unlock``, ``VMRESCUE_LUN``) opens the
  disk at that LUN with a key of the BEK volume [script] (``machine.ade_open``: disk id -> LUN, forgotten when the
  disk detaches (vmdisks.py) [inferred: the device mapping goes with the device]); exit 1 without a key for it.
- A repair script on a locked encrypted disk finds no root file system: exit 1 with a message that says so [docs].
- A VM boots an encrypted OS disk only when the disk's own encryption settings name its secret (the platform
  brings the BEK volume from them [docs, inferred for the boot]); else its boot stops at the passphrase
  (``bootdiag.fault``: ``ade_locked``).

Public names: ``UNLOCK_HEADER``, ``settings_of(disk)``, ``is_ade(ext)``, ``enable(machine, settings)``,
``run_unlock(text, machine, named) -> (exit_code, stdout, stderr) | None``, ``locked(machine, disk)``,
``boots(disk)``, ``forget(machine, disk)``, ``make_encrypted(disk, secret_url, vault_id, version, kek_url=None,
passphrase=None)``.
"""

from .disks import parse_id
from .util import dig

UNLOCK_HEADER = '# vmrescue.azure offline_rescue unlock'
HANDLERS = {
    ('microsoft.azure.security', 'azurediskencryptionforlinux'),
    ('microsoft.azure.security', 'azurediskencryption'),
}


def settings_of(disk):
    """``(secret_url, vault_id, kek_url)`` of the disk's single-pass encryption settings, or None."""
    ade = dig(disk.props, 'encryptionSettingsCollection') or {}
    if not ade.get('enabled'):
        return None
    first = (ade.get('encryptionSettings') or [{}])[0] or {}
    secret = dig(first, 'diskEncryptionKey', 'secretUrl')
    vault = dig(first, 'diskEncryptionKey', 'sourceVault', 'id')
    return (secret, vault, dig(first, 'keyEncryptionKey', 'keyUrl')) if secret else None


def make_encrypted(disk, secret_url, vault_id, version='1.1', kek_url=None, passphrase=None):
    """What ADE leaves on an OS disk (control API): its settings and its encrypted guest content."""
    key = {'secretUrl': secret_url, 'sourceVault': {'id': vault_id}}
    entry = {'diskEncryptionKey': key}
    if kek_url:
        entry['keyEncryptionKey'] = {'keyUrl': kek_url, 'sourceVault': {'id': vault_id}}
    disk.props['encryptionSettingsCollection'] = {'enabled': True, 'encryptionSettings': [entry],
                                                  'encryptionSettingsVersion': version}  # fmt: skip
    if disk.content is not None:
        disk.content.ade, disk.content.ade_key = secret_url, passphrase  # the key: never in any response


def is_ade(ext):
    return (ext.props.get('publisher', '').lower(), ext.props.get('type', '').lower()) in HANDLERS


def _attached(machine):
    """(lun, Disk) of the machine's data disks (as offline_repair.py finds them)."""
    for entry in dig(machine.model, 'properties', 'storageProfile', 'dataDisks', default=[]) or []:
        parts = parse_id(dig(entry, 'managedDisk', 'id'))
        if entry.get('toBeDetached') is True or parts is None:
            continue
        group = machine.rg.sub.groups.get(parts[1].lower())
        disk = group.disks.get(parts[3].lower()) if group is not None else None
        if disk is not None:
            yield entry.get('lun'), disk


def enable(machine, settings):
    """The ADE handler's run: (ok, status message). The BEK volume then holds the keys of the attached data disks
    of the extension's vault (module docstring)."""
    settings = settings or {}
    vault = str(settings.get('KeyVaultResourceId') or '').lower()
    if (
        str(settings.get('EncryptionOperation') or '') != 'EnableEncryption'
        or not vault
        or not settings.get('KeyVaultURL')
    ):
        return False, 'EncryptionOperation EnableEncryption with KeyVaultURL and KeyVaultResourceId is required'
    kek = str(settings.get('KeyEncryptionKeyURL') or '').lower()
    bek = set()
    for _lun, disk in _attached(machine):
        found = settings_of(disk)
        if found and str(found[1] or '').lower() == vault and str(found[2] or '').lower() == kek:
            bek.add(found[0])
    machine.ade_bek = bek
    return True, 'Encryption succeeded for data volumes'


def _lun(named):
    try:
        return int(str(named.get('vmrescue_lun', '')).strip())
    except ValueError:
        return None


def _disk_at(machine, lun):
    for at, disk in _attached(machine):
        if at == lun:
            return disk
    return None


def run_unlock(text, machine, named):
    """(exit_code, stdout, stderr) of the collection's unlock script on ``machine``, or None when ``text`` is not it."""
    if machine is None or not any(line.strip() == UNLOCK_HEADER for line in (text or '').splitlines()[:3]):
        return None
    named = {str(k).lower(): str(v) for k, v in (named or {}).items()}
    lun = _lun(named)
    disk = _disk_at(machine, lun) if lun is not None else None
    if disk is None or disk.content is None:
        return 1, 'VMRESCUE unlock lun=%s unlocked=false\n' % lun, 'no disk at LUN %s\n' % lun
    if not disk.content.ade:
        return 0, 'VMRESCUE unlock lun=%s unlocked=false (not encrypted)\n' % lun, ''
    if disk.content.ade not in (getattr(machine, 'ade_bek', None) or set()):
        why = ('no key in the BEK volume opens the disk at LUN %s: run the Azure Disk Encryption extension on this VM '
               'with the disk\'s Key Vault after the disk was attached\n' % lun)  # fmt: skip
        return 1, 'VMRESCUE unlock lun=%s unlocked=false\n' % lun, why
    machine.ade_open = dict(getattr(machine, 'ade_open', None) or {}, **{disk.id.lower(): lun})
    return 0, 'VMRESCUE unlock lun=%s unlocked=true\n' % lun, ''


def locked(machine, disk):
    """Whether an encrypted disk is still locked on ``machine`` (a plain disk never is)."""
    if disk.content is None or not disk.content.ade:
        return False
    return disk.id.lower() not in (getattr(machine, 'ade_open', None) or {})


def forget(machine, disk):
    """The disk left ``machine``: its opened mapping is gone."""
    opened = getattr(machine, 'ade_open', None)
    if opened:
        opened.pop(disk.id.lower(), None)


def boots(disk):
    """Whether the platform can bring this OS disk's key at boot (its own settings name its secret)."""
    if disk is None or disk.content is None or not disk.content.ade:
        return True
    found = settings_of(disk)
    return bool(found) and found[0] == disk.content.ade
