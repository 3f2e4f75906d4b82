# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows offline repair scripts (PowerShell), shipped in the collection and pinned with it (private; data).

The frame (``FRAME``) takes the named parameters ``VMRESCUE_LUN`` (and ``VMRESCUE_DRIVER``), finds the data disk
at that LUN of the rescue VM (``Get-Disk``'s ``Location`` ends in ``LUN <n>``), brings it online (a copy of the
rescue VM's own image has the same disk signature: Windows keeps it offline until told, and ``Set-Disk`` gives it a
new one in memory only), gives its partitions drive letters and finds the one holding ``\\Windows\\System32\\config``
and the boot store (``\\Boot\\BCD`` on a BIOS disk, ``\\EFI\\Microsoft\\Boot\\BCD`` on a UEFI one). Actions after
Azure/repair-script-library (map.json): ``remove_driver`` (delete the driver files matching ``VMRESCUE_DRIVER``
below ``Windows\\System32\\drivers``, the July 2024 fix), ``safemode_off`` (``bcdedit /deletevalue safeboot``),
``chkdsk`` (``chkdsk /f`` on the Windows volume), ``sfc`` (``sfc /scannow`` offline), ``lastknowngood`` (the offline
SYSTEM hive's ``Select\\Current`` set to ``LastKnownGood``), ``sac_on`` (EMS on the serial console);
``custom`` runs the operator's script with ``$VmrescueRoot`` the Windows volume's root.

Public names: ``FRAME``, ``ACTIONS`` (action -> PowerShell body), ``UNLOCK`` (the unlock of a single-pass ADE copy).
"""

from __future__ import annotations

FRAME = r"""# vmrescue.azure offline_rescue
# vmrescue.azure action {action}
param([string]$VMRESCUE_LUN, [string]$VMRESCUE_DRIVER)
$ErrorActionPreference = 'Stop'
$action = '{action}'
$changed = $false
function Report($failed) {{
  Write-Output ("VMRESCUE action=$action lun=$VMRESCUE_LUN changed=" + "$changed".ToLower())
  Write-Output ("VMRESCUE changed=" + "$changed".ToLower() + " failed=$failed")
}}
function Fail($why) {{ [Console]::Error.WriteLine($why); Report $action; exit 1 }}
$disk = Get-Disk | Where-Object {{ $_.Location -match "LUN $VMRESCUE_LUN$" -and -not $_.IsBoot }} | Select-Object -First 1
if (-not $disk) {{ Fail "no disk at LUN $VMRESCUE_LUN" }}
if ($disk.IsOffline) {{ Set-Disk -Number $disk.Number -IsOffline $false }}
if ($disk.IsReadOnly) {{ Set-Disk -Number $disk.Number -IsReadOnly $false }}
foreach ($p in Get-Partition -DiskNumber $disk.Number) {{
  if (-not $p.DriveLetter -and $p.Size -gt 50MB) {{ Add-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $p.PartitionNumber -AssignDriveLetter }}
}}
$letters = (Get-Partition -DiskNumber $disk.Number | Where-Object DriveLetter).DriveLetter
$root = $null; $bcd = $null
foreach ($l in $letters) {{
  if (Test-Path "$($l):\Windows\System32\config\SYSTEM") {{ $root = "$($l):" }}
  foreach ($store in "$($l):\Boot\BCD", "$($l):\EFI\Microsoft\Boot\BCD") {{ if (Test-Path $store) {{ $bcd = $store }} }}
}}
if (-not $root) {{ Fail "no Windows volume on the disk at LUN $VMRESCUE_LUN" }}
$VmrescueRoot = $root
try {{
{body}
}} catch {{ Fail $_.Exception.Message }}
Report 'none'
"""

ACTIONS = {
    'remove_driver': r"""  if (-not $VMRESCUE_DRIVER) { Fail 'remove_driver needs VMRESCUE_DRIVER (the driver file to delete)' }
  $found = Get-ChildItem -Path "$root\Windows\System32\drivers" -Recurse -Filter $VMRESCUE_DRIVER -File -ErrorAction SilentlyContinue
  foreach ($f in $found) { Remove-Item -LiteralPath $f.FullName -Force; $changed = $true }""",
    'safemode_off': r"""  if (-not $bcd) { Fail 'no boot configuration store on the disk' }
  $entry = bcdedit /store $bcd /enum '{default}'
  if ($entry -match 'safeboot') { bcdedit /store $bcd /deletevalue '{default}' safeboot | Out-Null; $changed = $true }""",
    'chkdsk': r"""  chkdsk $root /f | Write-Output
  $changed = $LASTEXITCODE -ne 0""",
    'sfc': r"""  sfc /scannow /offbootdir="$root\" /offwindir="$root\Windows" | Write-Output
  $changed = $true""",
    'lastknowngood': r"""  reg load HKLM\VMRESCUE_SYSTEM "$root\Windows\System32\config\SYSTEM" | Out-Null
  try {
    $select = 'HKLM:\VMRESCUE_SYSTEM\Select'
    $good = (Get-ItemProperty $select).LastKnownGood
    if ((Get-ItemProperty $select).Current -ne $good) { Set-ItemProperty $select -Name Current -Value $good; $changed = $true }
  } finally { [gc]::Collect(); reg unload HKLM\VMRESCUE_SYSTEM | Out-Null }""",
    'sac_on': r"""  if (-not $bcd) { Fail 'no boot configuration store on the disk' }
  $entry = bcdedit /store $bcd /enum '{default}'
  if (-not ($entry -match 'ems\s+Yes')) {
    bcdedit /store $bcd /ems '{default}' on | Out-Null
    bcdedit /store $bcd /emssettings EMSPORT:1 EMSBAUDRATE:115200 | Out-Null
    $changed = $true
  }""",
    'custom': r"""  $changed = $true
{custom}""",
}

# The unlock of a single-pass ADE copy (ade.py), after vm-repair's scripts/win-mount-encrypted-disk.ps1: the volume
# labelled 'Bek Volume' the ADE extension brought, its *.BEK files, Unlock-BitLocker -RecoveryKeyPath on each locked
# volume of the disk at the LUN. The key files are read by BitLocker only: never printed, never copied.
UNLOCK = r"""# vmrescue.azure offline_rescue unlock
param([string]$VMRESCUE_LUN)
$ErrorActionPreference = 'Stop'
function Say($ok) { Write-Output ("VMRESCUE unlock lun=$VMRESCUE_LUN unlocked=" + "$ok".ToLower()) }
function Fail($why) { [Console]::Error.WriteLine($why); Say $false; exit 1 }
$bek = Get-Volume | Where-Object { $_.FileSystemLabel -eq 'Bek Volume' } | Select-Object -First 1
if (-not $bek) { Fail "no 'Bek Volume' on this rescue VM: the Azure Disk Encryption extension did not bring the key" }
$bekPart = $bek | Get-Partition
if (-not $bekPart.DriveLetter) { $bekPart | Add-PartitionAccessPath -AssignDriveLetter; $bekPart = $bek | Get-Partition }
$keys = @(Get-ChildItem -Path "$($bekPart.DriveLetter):\*.BEK" -Hidden -Force -ErrorAction SilentlyContinue)
if ($keys.Count -eq 0) { Fail "no *.BEK file on the Bek Volume" }
$disk = Get-Disk | Where-Object { $_.Location -match "LUN $VMRESCUE_LUN$" -and -not $_.IsBoot } | Select-Object -First 1
if (-not $disk) { Fail "no disk at LUN $VMRESCUE_LUN" }
if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
foreach ($p in Get-Partition -DiskNumber $disk.Number) {
  if (-not $p.DriveLetter -and $p.Size -gt 50MB) { Add-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $p.PartitionNumber -AssignDriveLetter }
}
$open = 0
foreach ($p in Get-Partition -DiskNumber $disk.Number | Where-Object DriveLetter) {
  $volume = Get-BitLockerVolume -MountPoint "$($p.DriveLetter):" -ErrorAction SilentlyContinue
  if (-not $volume -or $volume.LockStatus -ne 'Locked') { continue }
  foreach ($key in $keys) {
    $result = Unlock-BitLocker -MountPoint "$($p.DriveLetter):" -RecoveryKeyPath $key.FullName -ErrorAction SilentlyContinue
    if ($result -and $result.LockStatus -eq 'Unlocked') { $open += 1; break }
  }
}
if ($open -eq 0) { Fail "no key of the Bek Volume unlocks a volume of the disk at LUN $VMRESCUE_LUN" }
Say $true
exit 0
"""
