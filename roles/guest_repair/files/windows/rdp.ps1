# vmrescue.azure guest_repair recipe rdp (Windows, PowerShell).
# Remote Desktop as Azure's "Reset Remote Desktop" troubleshooting steps set it: connections allowed
# (fDenyTSConnections 0), the RDP-Tcp listener on port 3389, the TermService service automatic and running, the
# "Remote Desktop" firewall rules enabled, and Network Level Authentication (UserAuthentication) as asked by the
# parameter nla: "true" (required, Windows' default), "false" (off: when NLA itself blocks, e.g. a broken domain
# trust), "keep" (left as it is). Only what differs is changed, each change printed.
# Last line: VMRESCUE recipe=rdp changed=true|false. Uses return, never exit (it runs inside the wrapper).
$changed = $false
$ts = 'HKLM:\System\CurrentControlSet\Control\Terminal Server'
$tcp = "$ts\WinStations\RDP-Tcp"
if ((Get-ItemProperty -Path $ts -Name fDenyTSConnections).fDenyTSConnections -ne 0) {
    Set-ItemProperty -Path $ts -Name fDenyTSConnections -Value 0
    Write-Output 'rdp: Remote Desktop connections allowed (fDenyTSConnections 0)'
    $changed = $true
}
if ((Get-ItemProperty -Path $tcp -Name PortNumber).PortNumber -ne 3389) {
    Set-ItemProperty -Path $tcp -Name PortNumber -Value 3389
    Write-Output 'rdp: RDP-Tcp listener back on port 3389'
    $changed = $true
}
$wantNla = if ($Nla) { "$Nla".ToLower() } else { 'true' }
if ($wantNla -ne 'keep') {
    $value = if ($wantNla -eq 'false') { 0 } else { 1 }
    if ((Get-ItemProperty -Path $tcp -Name UserAuthentication).UserAuthentication -ne $value) {
        Set-ItemProperty -Path $tcp -Name UserAuthentication -Value $value
        Write-Output "rdp: Network Level Authentication set to $value (UserAuthentication)"
        $changed = $true
    }
}
$rules = Get-NetFirewallRule -DisplayGroup 'Remote Desktop' | Where-Object { $_.Enabled -ne 'True' }
if ($rules) {
    $rules | Enable-NetFirewallRule
    Write-Output 'rdp: Remote Desktop firewall rules enabled'
    $changed = $true
}
$service = Get-Service -Name TermService
if ($service.StartType -eq 'Disabled') {
    Set-Service -Name TermService -StartupType Automatic
    Write-Output 'rdp: TermService start type Automatic'
    $changed = $true
}
if ($service.Status -ne 'Running' -or $changed) {
    Restart-Service -Name TermService -Force
    Write-Output 'rdp: TermService restarted'
    $changed = $true
}
if (-not $changed) { Write-Output 'rdp: Remote Desktop settings as expected: nothing to repair' }
Write-Output ("VMRESCUE recipe=rdp changed=" + "$changed".ToLower())
