# vmrescue.azure guest_repair recipe proxy_agent_logs (Linux, bash).
# Collect the last LOG_LINES lines (parameter log_lines, default 100) of the Guest Proxy Agent's log and of the
# guest agent's log into the output (changes nothing). Last line: VMRESCUE recipe=proxy_agent_logs changed=false.
set -u
root="${VMRESCUE_ROOT:-}"
lines="${log_lines:-100}"
for log in /var/log/azure-proxy-agent/ProxyAgent.log /var/log/waagent.log; do
  if [ -r "$root$log" ]; then
    echo "==> $log (last $lines lines) <=="
    tail -n "$lines" "$root$log"
  else
    echo "==> $log: not found <=="
  fi
done
echo "VMRESCUE recipe=proxy_agent_logs changed=false"
