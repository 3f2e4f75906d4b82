# vmrescue.azure guest_repair recipe proxy_agent_logs (Windows, PowerShell).
# Collect the last log_lines lines (parameter, default 100) of the Guest Proxy Agent's log and of the guest agent's
# log into the output (changes nothing). Last line: VMRESCUE recipe=proxy_agent_logs changed=false.
$lines = if ($Log_lines) { [int]$Log_lines } else { 100 }
foreach ($log in @('C:\WindowsAzure\ProxyAgent\Logs\ProxyAgent.log', 'C:\WindowsAzure\Logs\WaAppAgent.log')) {
    if (Test-Path -Path $log) {
        Write-Output "==> $log (last $lines lines) <=="
        Get-Content -Path $log -Tail $lines
    } else {
        Write-Output "==> ${log}: not found <=="
    }
}
Write-Output 'VMRESCUE recipe=proxy_agent_logs changed=false'
