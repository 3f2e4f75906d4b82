# vmrescue.azure guest_repair recipe local_admin (Windows, PowerShell).
# A local administrator to sign in with when the VMAccessAgent extension fails: the local user admin_username
# (parameter) exists, is enabled and is a member of the local Administrators group (its well-known SID
# S-1-5-32-544, whatever the group is called in the VM's language). Its password comes in the protected parameter
# admin_password and is never printed. It is set when this recipe creates the user, and on every run when the
# parameter admin_password_update is "always" (a password cannot be compared: "always" is a change each run);
# with "on_create" (the default) an existing user's password is left as it is. Only what differs is changed, each
# change printed. Not on a domain controller (it has no local users).
# Last line: VMRESCUE recipe=local_admin changed=true|false. Uses return, never exit (it runs inside the wrapper).
$changed = $false
$name = "$Admin_username".Trim()
$update = if ($Admin_password_update) { "$Admin_password_update".ToLower() } else { 'on_create' }
if (-not $name) { throw 'no user name given (parameter admin_username)' }
if ($name.Length -gt 20 -or $name -match '["/\\\[\]:;|=,+*?<>@]' -or $name.EndsWith('.')) {
    throw ("'$name' is not a valid local user name (at most 20 characters, none of " + '" / \ [ ] : ; | = , + * ? < > @, no final dot)')
}
if ((Get-CimInstance -ClassName Win32_ComputerSystem).DomainRole -ge 4) {
    throw 'a domain controller has no local users: use a domain account'
}
$user = Get-LocalUser -Name $name -ErrorAction SilentlyContinue
if (-not $user -or $update -eq 'always') {
    if (-not $Admin_password) { throw "a password (protected parameter admin_password) is needed to create or reset $name" }
    $secure = ConvertTo-SecureString -String $Admin_password -AsPlainText -Force
}
if (-not $user) {
    $user = New-LocalUser -Name $name -Password $secure -Description 'Administrator (vmrescue.azure guest_repair)'
    Write-Output "local_admin: created the local user $name"
    $changed = $true
} elseif ($update -eq 'always') {
    Set-LocalUser -Name $name -Password $secure
    Write-Output "local_admin: password of $name set (admin_password_update always)"
    $changed = $true
}
if (-not $user.Enabled) {
    Enable-LocalUser -Name $name
    Write-Output "local_admin: $name enabled"
    $changed = $true
}
try {
    Add-LocalGroupMember -SID 'S-1-5-32-544' -Member $user -ErrorAction Stop
    Write-Output "local_admin: $name added to the local Administrators group"
    $changed = $true
} catch [Microsoft.PowerShell.Commands.MemberExistsException] {
    # already a member: nothing to do
}
if (-not $changed) { Write-Output "local_admin: $name exists, enabled, in Administrators: nothing to repair" }
Write-Output ("VMRESCUE recipe=local_admin changed=" + "$changed".ToLower())
