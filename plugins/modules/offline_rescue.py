#!/usr/bin/python
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
module: offline_rescue
short_description: Repair unbootable Azure VMs offline - copy the OS disk, repair it on a rescue VM, swap it in
version_added: 0.4.0
description:
  - For a VM that does not boot (running, its VM agent not Ready), copies its OS disk, attaches the copy to a rescue
    VM, repairs it there with a named action through Run Command, detaches it, deallocates the VM, swaps the copy in
    as its OS disk (C(storageProfile.osDisk.managedDisk.id), with If-Match), starts it and confirms it booted (VM
    agent Ready; otherwise the serial log from boot diagnostics says what it shows). The original OS disk is kept,
    tagged C(vmrescue-rescue-original-of), for O(state=rolled_back).
  - Runs on the Ansible controller (an action plugin calls Azure Resource Manager from there). O(targets) runs one
    task over many VMs as a paced pipeline; a disk copy, a VM create or a script in progress holds no worker, and
    the targets that use one rescue VM share one write of its data disks (Azure refuses concurrent updates of a VM).
  - "B(Resumable.) After each phase the VM's tag C(vmrescue-rescue) records it (C(copied), C(attached), C(unlocked),
    C(repaired), C(detached), C(swapped), C(restored), C(rolled_back), C(cleaned)) with the names of the copy, the
    original, the rescue VM and the LUN, sealed with O(record_key) when given. Each step also reads the truth from
    Azure (the copy by its deterministic name, where it is attached, the VM's OS disk), so a run killed at any point
    and run again, from any controller, continues where it stopped without a second copy."
  - "B(Left alone.) A running VM whose VM agent is Ready boots: it is not touched (V(vm_boots)). A stopped VM
    with no rescue is skipped (V(not_running)): start it first. Confidential VMs, dual-pass Azure Disk Encryption and
    ADE without a Key Vault secret are refused before any write (V(unsupported_disk)), each with its reason."
  - "B(Azure Disk Encryption, single pass.) An OS disk with single-pass ADE (C(encryptionSettingsVersion) 1.1) whose
    key is a Key Vault secret (wrapped by a key encryption key or not) is rescued as C(az vm repair create
    --unlock-encrypted-vm) does it: the copy keeps its encryption settings; it is attached to a created rescue VM of
    its Key Vault (copies of different vaults never share one); the ADE extension with that Key Vault runs on the
    rescue VM, which brings it a BEK volume holding the copy's key; the collection's unlock script opens the copy
    at its LUN (step C(unlock), recorded C(unlocked)); then the repair, detach and swap as for any disk. The swapped
    copy keeps its encryption settings, so the VM boots with its own key. The key never passes through the
    controller. O(rescue_vm_id) is refused for an encrypted disk (the ADE extension goes only on a rescue VM the
    collection creates)."
  - "B(No public IP, ever.) A created rescue VM gets one NIC in O(rescue_subnet_id) without a public IP; reach it,
    if needed, through Azure Bastion or the serial console."
  - The repair scripts are shipped in the collection (bash for Linux, PowerShell for Windows), never fetched at
    run time. Linux actions follow Azure/ALAR, Windows actions the Azure repair-script-library.
author:
  - vmrescue.azure developers (@vmrescue)
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
attributes:
  check_mode:
    details:
      - Reads the VM, its disks and its record and says which step it would take next (RV(next_step)); writes nothing.
  diff_mode:
    details:
      - The VM's OS disk ID and the recorded phase, before and after.
  idempotent:
    description: A VM already restored (rolled back, cleaned) reports no change; a killed run continues.
    support: full
options:
  state:
    description:
      - V(restored) rescues the VM (the whole flow, or what is left of it).
      - V(rolled_back) puts the original OS disk back (detaching the copy from the rescue VM first when a rescue is
        in progress) and starts the VM.
      - V(cleaned) deletes what the rescue left that nothing uses (the copy after a roll-back, the original after a
        restore with O(keep_original=false), a rescue VM this module created once no copy is attached to it).
    type: str
    choices: [restored, rolled_back, cleaned]
    default: restored
  action:
    description:
      - The repair to run on the copy (O(state=restored)). Linux (Azure/ALAR) V(fstab) (mount options C(nofail) for
        every mount the boot does not need), V(initrd) (regenerate the initramfs), V(kernel) (boot the previous
        kernel), V(grubfix) (reinstall GRUB, Gen1), V(efifix) (reinstall the EFI boot loader, Gen2),
        V(serialconsole) (serial console on ttyS0), V(auditd) (auditd must not halt on a full disk), V(sudo)
        (sudoers owner and mode).
      - Windows (Azure repair-script-library) V(remove_driver) (delete the O(driver_file) driver files),
        V(safemode_off), V(chkdsk), V(sfc), V(lastknowngood), V(sac_on).
      - V(custom) runs O(script) or O(script_file) with the copy's root mounted (C($VMRESCUE_ROOT) on Linux,
        C($VmrescueRoot) on Windows).
      - "A VM of the other OS than the action's is skipped (V(wrong_os)). An action that changes nothing stops the
        rescue before the swap (V(nothing_repaired)): the copy stays attached; run again with another action."
    type: str
    choices: [fstab, initrd, kernel, grubfix, efifix, serialconsole, auditd, sudo, remove_driver, safemode_off, chkdsk, sfc, lastknowngood, sac_on, custom]
  script:
    description: The custom repair script (O(action=custom)), run inside the shipped frame that mounts the copy.
    type: str
  script_file:
    description: A file on the controller holding the custom repair script (O(action=custom)).
    type: path
  driver_file:
    description: The driver file name or glob O(action=remove_driver) deletes, for example C(C-00000291*.sys).
    type: str
  rescue_vm_id:
    description:
      - A running rescue VM to use (its VM agent Ready, in the disk's region and zone, of the disk's OS family).
        Mutually exclusive with O(rescue_subnet_id).
    type: str
  rescue_subnet_id:
    description:
      - The subnet where a rescue VM is created when none exists yet, one per region, zone, OS, generation and
        architecture, named C(vmrescue-<location>-<os>-<gen>-<arch>[-z<zone>]-1), serving many disks on its LUNs.
    type: str
  rescue_resource_group:
    description:
      - The resource group of created rescue VMs (with O(rescue_subnet_id)).
      - Checked once per batch before any write, like the source VMs' groups (the preflight), for a group that does not
        exist (V(invalid_input)), a ReadOnly lock at the group or above it (V(scope_locked)), an action the
        principal lacks there (C(Microsoft.Compute/virtualMachines/write), C(Microsoft.Compute/disks/write),
        C(Microsoft.Compute/virtualMachines/runCommands/write), C(Microsoft.Network/networkInterfaces/write)) or
        C(Microsoft.Network/virtualNetworks/subnets/join/action) at O(rescue_subnet_id) (V(rbac_missing)), or an
        Azure Policy Deny of the rescue VM or its NIC (V(policy_denied)) refuses every target that needs a rescue
        VM, with the fix. A CanNotDelete lock only refuses deletes; a restore warns that O(state=cleaned) cannot
        remove the rescue VMs while it stays, and O(state=cleaned) skips the target that would delete one
        (V(scope_locked)) before any write.
    type: str
  rescue_admin_username:
    description: The administrator of a created rescue VM.
    type: str
    default: rescueadmin
  rescue_admin_ssh_public_key:
    description: The SSH public key of a created Linux rescue VM's administrator.
    type: str
  rescue_admin_password:
    description: The password of a created Windows rescue VM's administrator (Linux without a key too).
    type: str
  rescue_vm_size:
    description:
      - The size of a created rescue VM. Its data-disk limit (the C(skus) list's C(MaxDataDiskCount), read before any
        write) is how many copies one rescue VM holds at once; when the copies of one kind (region, zone, OS,
        generation, architecture) exceed it, they are spread over several rescue VMs named with an index (C(-1),
        C(-2), ...), reused by a re-run and deleted by O(state=cleaned) once no copy is attached.
      - The vCPU quota (C(locations/{location}/usages)) is read first too. When the regional or the size family's
        free vCPUs (or the VM count) hold fewer new rescue VMs than the copies need, the ones that fit are created
        and serve the copies in waves, a warning once per batch with the numbers and RV(rescue_wave) in each
        result. A copy waits, holding no worker, for a LUN that a finished repair frees, at most O(wait_timeout)
        without one freed (then V(rescue_vm_full); a re-run goes on). Only when not one rescue VM of a kind fits
        (and none exists) are its VMs refused before any write (reason code C(quota_exceeded), with the numbers
        and the fix).
    type: str
    default: Standard_D2s_v5
  rescue_image:
    description:
      - The image of a created rescue VM as C(publisher:offer:sku:version). Default per OS, generation and
        architecture (Ubuntu 24.04 LTS, Windows Server 2022 / 2019 for Gen1).
    type: str
  keep_original:
    description: With O(state=cleaned), keep the original OS disk of a restored VM (V(false) deletes it).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each long operation (a copy, a VM create, a boot, a script).
    type: int
    default: 1800
  script_timeout:
    description: Seconds the repair script may run on the rescue VM.
    type: int
    default: 1200
  record_key:
    description:
      - The key that seals the VM's rescue record (HMAC; at least 16 characters), or the environment variable
        C(VMRESCUE_RECORD_KEY). With a key, a record that is not sealed with it is not trusted (RV(record_check));
        the rescue then acts on what Azure shows only.
    type: str
notes:
  - The rescue writes in the source VM's resource group (the copy disk, the VM) and on the rescue VM (its data
    disks, a run command; with O(rescue_subnet_id) a NIC and a VM in O(rescue_resource_group)).
  - "Encrypted disks: encryption at rest (platform or customer keys, disk encryption sets) is kept on the copy;
    single-pass Azure Disk Encryption with its key in Key Vault is unlocked on the rescue VM (the identity running
    the rescue needs to write extensions on the rescue VM, and the Key Vault must allow disk encryption, as for
    C(az vm encryption enable)); dual-pass ADE, ADE without a Key Vault secret and confidential VMs are refused."
"""

EXAMPLES = r"""
- name: Repair the fstab of every unbootable Linux VM of the play on a rescue VM created in a subnet
  vmrescue.azure.offline_rescue:
    targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
    action: fstab
    rescue_subnet_id: /subscriptions/SUB/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/rescue
    rescue_resource_group: rg-rescue
    rescue_admin_ssh_public_key: "{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"
  run_once: true

- name: Remove the 2024 bootloop driver on one Windows VM with an existing rescue VM
  vmrescue.azure.offline_rescue:
    resource_group: rg-app
    name: win-app-01
    action: remove_driver
    driver_file: C-00000291*.sys
    rescue_vm_id: /subscriptions/SUB/resourceGroups/rg-rescue/providers/Microsoft.Compute/virtualMachines/rescue-win

- name: Put the original OS disk back
  vmrescue.azure.offline_rescue:
    resource_group: rg-app
    name: win-app-01
    state: rolled_back
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order, each with the keys
      below plus C(id), C(changed), C(failed) and C(msg).
  returned: with O(targets)
  type: list
  elements: dict
outcome:
  description:
    - What happened to the target (C(status), C(reason_code), C(reason)). Codes of this module include V(changed),
      V(unchanged), V(check_mode), V(vm_boots), V(no_rescue), V(not_running), V(unsupported_disk), V(wrong_os),
      V(rescue_vm_unusable), V(rescue_vm_full), V(unlock_failed), V(repair_failed), V(nothing_repaired), V(not_booted),
      V(in_progress), V(timeout), V(quota_exceeded), V(invalid_input), and the preflight's.
  returned: always
  type: dict
id:
  description: Resource ID of the source VM.
  returned: always
  type: str
rescue_wave:
  description:
    - When the copies were served in waves (the vCPU quota allows fewer rescue VMs than they need, O(rescue_vm_size))
      C(needed) rescue VMs, C(rescue_vms) used, and C(waited) seconds this copy waited for a free LUN.
  returned: when the target's copy was attached to a rescue VM of a kind served in waves
  type: dict
  sample: {needed: 2, rescue_vms: 1, waited: 42}
phase:
  description: The phase recorded on the VM after this run (C(copied) ... C(restored), C(rolled_back), C(cleaned)).
  returned: always
  type: str
copy_disk_id:
  description: Resource ID of the copy disk (its deterministic name, whether or not it exists yet).
  returned: always
  type: str
original_disk_id:
  description: Resource ID of the VM's original OS disk.
  returned: always
  type: str
rescue_vm_id:
  description: Resource ID of the rescue VM the copy is (or was) attached to.
  returned: always
  type: str
lun:
  description: The LUN of the copy on the rescue VM.
  returned: always
  type: int
repair:
  description: The repair run (C(exit_code), C(execution_state), C(run_command_name), tails of C(stdout) and C(stderr)).
  returned: when the repair ran in this run
  type: dict
steps:
  description: The steps this run took, in order (C(copy), C(attach), C(unlock), C(repair), C(detach), C(deallocate),
    C(swap), C(start), C(confirm), C(swap_back)).
  returned: always
  type: list
  elements: str
next_step:
  description: In check mode, the step the rescue would take next (C(done) when none).
  returned: in check mode
  type: str
steps_ahead:
  description: In check mode, the steps a restore still takes from RV(next_step) on (C(unlock) for an encrypted copy).
  returned: in check mode
  type: list
  elements: str
encryption:
  description:
    - The OS disk's Azure Disk Encryption (single pass) as the rescue handles it, null for a disk without ADE
      (never a secret or a secret URL).
  returned: always
  type: dict
  contains:
    type:
      description: C(ade_single_pass).
      type: str
    key_vault_id:
      description: The Key Vault the disk's key is in (the rescue VM's ADE extension names it).
      type: str
    key_encryption_key:
      description: Whether a key encryption key wraps the disk's key.
      type: bool
deleted:
  description: With O(state=cleaned), what was (or in check mode would be) deleted.
  returned: with O(state=cleaned)
  type: list
  elements: str
record_check:
  description: The note of a rescue record that is not trusted under O(record_key) (C(record_untrusted)).
  returned: when the record is untrusted
  type: dict
audit:
  description: When, who, before / after and the journal of the target's writes (the run report reads it).
  returned: always
  type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.engine import task_spec  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule  # noqa: E402


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
