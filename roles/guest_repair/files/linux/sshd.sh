# vmrescue.azure guest_repair recipe sshd (Linux, bash).
# Test the sshd configuration with "sshd -t". Broken: restore the newest backup this recipe made that passes the
# test (the broken file is kept beside it), then restart sshd. Valid: start sshd only when it is not running.
# A valid configuration is always kept as a backup (sshd_config.vmrescue-backup.<UTC time>, the newest 3) when it
# differs from the newest one. Last line: VMRESCUE recipe=sshd changed=true|false.
set -u
root="${VMRESCUE_ROOT:-}"
config="$root/etc/ssh/sshd_config"
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
changed=false

unit=ssh
for candidate in ssh sshd; do
  if systemctl cat "$candidate.service" >/dev/null 2>&1; then unit=$candidate; break; fi
done

backups() { ls -1t "$config".vmrescue-backup.* 2>/dev/null; }
valid() { "$sshd_bin" -t -f "$1" 2>&1; }

if problem=$(valid "$config"); then
  newest=$(backups | head -n 1)
  if [ -z "$newest" ] || ! cmp -s "$config" "$newest"; then
    cp -p "$config" "$config.vmrescue-backup.$stamp"
    echo "sshd: kept a backup of the valid sshd_config ($config.vmrescue-backup.$stamp)"
  fi
  if systemctl is-active --quiet "$unit"; then
    echo "sshd: sshd_config valid and $unit running: nothing to repair"
  else
    systemctl restart "$unit" || { echo "sshd: systemctl restart $unit failed" >&2; exit 1; }
    changed=true
    echo "sshd: $unit was not running: restarted"
  fi
else
  echo "sshd: sshd -t refuses sshd_config: $problem"
  restored=''
  for backup in $(backups); do
    if valid "$backup" >/dev/null; then restored=$backup; break; fi
  done
  if [ -z "$restored" ]; then
    echo "sshd: no valid backup made by this recipe; reset sshd_config with VMAccess (reset_ssh)" >&2
    echo "VMRESCUE recipe=sshd changed=false failed=true"
    exit 1
  fi
  cp -p "$config" "$config.vmrescue-broken.$stamp"
  cp -p "$restored" "$config"
  systemctl restart "$unit" || { echo "sshd: systemctl restart $unit failed" >&2; exit 1; }
  changed=true
  echo "sshd: restored $restored (the broken file is $config.vmrescue-broken.$stamp) and restarted $unit"
fi
backups | tail -n +4 | while read -r old; do rm -f -- "$old"; done
echo "VMRESCUE recipe=sshd changed=$changed"
