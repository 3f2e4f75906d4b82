# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux offline repair scripts (bash), shipped in the collection and pinned with it (private; data only).

Why Python text and not files: the module also runs as a plain AnsibleModule (AnsiballZ ships module_utils as
Python only), and the scripts must be the collection's own, never fetched at run time. ``tests/unit`` checks every
composed script with ``bash -n``.

The frame (``FRAME``) finds the copy at ``/dev/disk/azure/scsi1/lun$VMRESCUE_LUN`` (the Azure udev rules of the
rescue VM's image), mounts the partition that holds ``/etc/fstab`` read-write under a temporary directory (XFS with
``nouuid``: a copy of the rescue VM's own image has the same filesystem UUID), bind-mounts ``/dev``, ``/proc``,
``/sys`` for a chroot, runs the action, unmounts. LVM volume groups are activated only when their names do not
collide with the rescue VM's own (a same-image LVM copy is refused with a message, never renamed: a renamed volume
group would not boot). Each action prints ``VMRESCUE action=<name> lun=<n> changed=true|false``; the last line is
``VMRESCUE changed=<bool> failed=<actions|none>``.

The actions follow Azure/ALAR's (fstab, initrd, kernel, grubfix, efifix, serialconsole, auditd, sudo), each a few
commands; ``custom`` runs the operator's script with ``$VMRESCUE_ROOT`` set to the mounted root.

Public names: ``FRAME``, ``ACTIONS`` (action -> bash body), ``UNLOCK`` (the unlock of a single-pass ADE copy).
"""

from __future__ import annotations

FRAME = r"""#!/bin/bash
# vmrescue.azure offline_rescue
# vmrescue.azure action {action}
set -u
lun="${{VMRESCUE_LUN:?VMRESCUE_LUN is required}}"
action='{action}'
changed=false
report() {{ echo "VMRESCUE action=$action lun=$lun changed=$changed"; echo "VMRESCUE changed=$changed failed=$1"; }}
fail() {{ echo "$*" >&2; report "$action"; exit 1; }}
link="/dev/disk/azure/scsi1/lun$lun"
dev=$(readlink -f "$link") || fail "no disk at LUN $lun ($link)"
[ -b "$dev" ] || fail "no disk at LUN $lun ($link)"
root=$(mktemp -d /tmp/vmrescue.XXXXXX)
mounted=()
cleanup() {{ for ((i=${{#mounted[@]}}-1; i>=0; i--)); do umount -l "${{mounted[$i]}}" 2>/dev/null; done; rmdir "$root"; }}
trap cleanup EXIT
for vg in $(pvs --noheadings -o vg_name $(lsblk -lnpo NAME "$dev") 2>/dev/null | sort -u); do
  if vgs --noheadings -o vg_name 2>/dev/null | grep -qx " *$vg" && [ "$(vgs --noheadings -o pv_count "$vg" | tr -d ' ')" != 1 ]; then
    fail "volume group $vg of the copy has the name of one of the rescue VM: use a rescue VM of another image"
  fi
  vgchange -ay "$vg" >/dev/null 2>&1
done
for part in $(lsblk -lnpo NAME "$dev") $(ls "/dev/mapper/vmrescue-lun$lun" 2>/dev/null); do
  opts=rw; [ "$(blkid -o value -s TYPE "$part" 2>/dev/null)" = xfs ] && opts=rw,nouuid
  mount -o "$opts" "$part" "$root" 2>/dev/null || continue
  if [ -f "$root/etc/fstab" ]; then mounted+=("$root"); break; fi
  umount "$root"
done
[ ${{#mounted[@]}} -eq 1 ] || fail "no Linux root file system found on the disk at LUN $lun (an encrypted disk must be unlocked first)"
for part in $(lsblk -lnpo NAME "$dev"); do
  label=$(blkid -o value -s TYPE "$part" 2>/dev/null)
  if [ "$label" = vfat ] && [ -d "$root/boot/efi" ]; then mount "$part" "$root/boot/efi" && mounted+=("$root/boot/efi"); fi
done
for fs in dev proc sys; do mount --bind "/$fs" "$root/$fs" && mounted+=("$root/$fs"); done
export VMRESCUE_ROOT="$root"
in_root() {{ chroot "$root" /bin/bash -c "$1"; }}
{body}
report none
"""

ACTIONS = {
    'fstab': r"""cp -p "$root/etc/fstab" "$root/etc/fstab.vmrescue"
awk '/^[[:space:]]*#/ || NF < 4 || $2 == "/" || $2 == "/boot" || $2 == "/boot/efi" || $3 == "swap" || $4 ~ /nofail/ {print; next}
     {$4 = $4 ",nofail"; print}' "$root/etc/fstab.vmrescue" > "$root/etc/fstab"
cmp -s "$root/etc/fstab" "$root/etc/fstab.vmrescue" || changed=true""",
    'initrd': r"""if in_root 'command -v dracut' >/dev/null; then in_root 'dracut -f --regenerate-all' || fail 'dracut failed'
else in_root 'update-initramfs -u -k all' || fail 'update-initramfs failed'; fi
changed=true""",
    'kernel': r"""if in_root 'command -v grubby' >/dev/null; then in_root 'grubby --set-default-index=1' || fail 'grubby failed'
else sed -i -E 's/^GRUB_DEFAULT=.*/GRUB_DEFAULT="1>2"/' "$root/etc/default/grub" && in_root 'update-grub' || fail 'update-grub failed'; fi
changed=true""",
    'grubfix': r"""in_root "grub-install $dev || grub2-install $dev" || fail 'grub-install failed'
in_root 'update-grub || grub2-mkconfig -o /boot/grub2/grub.cfg' || fail 'the GRUB configuration could not be written'
changed=true""",
    'efifix': r"""[ -d "$root/boot/efi/EFI" ] || fail 'no EFI system partition on the disk'
in_root 'grub-install --target=x86_64-efi --efi-directory=/boot/efi --no-nvram || dnf -y reinstall shim grub2-efi' \
  || fail 'the EFI boot loader could not be reinstalled'
in_root 'update-grub || grub2-mkconfig -o /boot/efi/EFI/$(ls /boot/efi/EFI | grep -vi boot | head -1)/grub.cfg' \
  || fail 'the GRUB configuration could not be written'
changed=true""",
    'serialconsole': r"""cfg="$root/etc/default/grub"
if ! grep -q 'console=ttyS0' "$cfg"; then
  sed -i -E 's/^GRUB_CMDLINE_LINUX="/GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 earlyprintk=ttyS0 /' "$cfg"
  in_root 'update-grub || grub2-mkconfig -o /boot/grub2/grub.cfg' || fail 'the GRUB configuration could not be written'
  changed=true
fi""",
    'auditd': r"""conf="$root/etc/audit/auditd.conf"
if [ -f "$conf" ] && grep -qiE '^[[:space:]]*(disk_full_action|disk_error_action|admin_space_left_action)[[:space:]]*=[[:space:]]*halt' "$conf"; then
  sed -i -E 's/^([[:space:]]*(disk_full_action|disk_error_action|admin_space_left_action)[[:space:]]*=[[:space:]]*)halt/\1SYSLOG/I' "$conf"
  changed=true
fi""",
    'sudo': r"""for f in "$root/etc/sudoers" "$root"/etc/sudoers.d/*; do
  [ -f "$f" ] || continue
  if [ "$(stat -c '%a %u' "$f")" != '440 0' ]; then chown root:root "$f"; chmod 0440 "$f"; changed=true; fi
done""",
    'custom': r"""changed=true
( set -e
{custom}
) || fail 'the custom script failed'""",
}

# The unlock of a single-pass ADE copy (ade.py), after vm-repair's scripts/linux-mount-encrypted-disk.sh: the BEK
# volume the ADE extension brought (label "BEK VOLUME"), the copy's boot partition holding luks/osluksheader (probed
# read-only), then cryptsetup luksOpen with a key file of the BEK volume, as /dev/mapper/vmrescue-lun<LUN> (FRAME
# mounts it). The key file is read by cryptsetup only: never printed, never copied.
UNLOCK = r"""#!/bin/bash
# vmrescue.azure offline_rescue unlock
set -u
lun="${VMRESCUE_LUN:?VMRESCUE_LUN is required}"
name="vmrescue-lun$lun"
say() { echo "VMRESCUE unlock lun=$lun unlocked=$1"; }
fail() { echo "$*" >&2; say false; exit 1; }
if [ -b "/dev/mapper/$name" ]; then say true; exit 0; fi
command -v cryptsetup >/dev/null || fail "cryptsetup is not installed on the rescue VM"
link="/dev/disk/azure/scsi1/lun$lun"
dev=$(readlink -f "$link") || fail "no disk at LUN $lun ($link)"
[ -b "$dev" ] || fail "no disk at LUN $lun ($link)"
bekdev=$(blkid -t LABEL="BEK VOLUME" -o device | head -n 1)
[ -n "$bekdev" ] || fail "no BEK volume on this rescue VM: the Azure Disk Encryption extension did not bring the key"
work=$(mktemp -d /tmp/vmrescue-unlock.XXXXXX)
mkdir -p "$work/bek" "$work/probe"
cleanup() { umount "$work/probe" 2>/dev/null; umount "$work/bek" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mount -o ro "$bekdev" "$work/bek" || fail "the BEK volume $bekdev could not be mounted"
parts=$(lsblk -lnpo NAME,TYPE "$dev" | awk '$2 == "part" {print $1}')
header=
for part in $parts; do
  mount -o ro,noload "$part" "$work/probe" 2>/dev/null || mount -o ro,norecovery "$part" "$work/probe" 2>/dev/null \
    || mount -o ro "$part" "$work/probe" 2>/dev/null || continue
  if [ -f "$work/probe/luks/osluksheader" ]; then cp "$work/probe/luks/osluksheader" "$work/header"; header="$work/header"; fi
  umount "$work/probe"
  [ -n "$header" ] && break
done
for part in $parts; do
  for key in "$work/bek"/LinuxPassPhraseFileName*; do
    [ -f "$key" ] || continue
    if [ -n "$header" ]; then
      cryptsetup luksOpen --key-file "$key" --header "$header" "$part" "$name" >/dev/null 2>&1 || continue
    else
      cryptsetup luksOpen --key-file "$key" "$part" "$name" >/dev/null 2>&1 || continue
    fi
    udevadm settle >/dev/null 2>&1
    if [ -n "$(blkid -p -s TYPE -o value "/dev/mapper/$name" 2>/dev/null)" ]; then say true; exit 0; fi
    cryptsetup luksClose "$name" >/dev/null 2>&1
  done
done
fail "no key of the BEK volume opens a partition of the disk at LUN $lun (is it the copy of a single-pass ADE disk of this Key Vault?)"
"""
