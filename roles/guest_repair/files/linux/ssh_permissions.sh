# vmrescue.azure guest_repair recipe ssh_permissions (Linux, bash).
# The modes and owners sshd insists on (StrictModes): /etc/ssh 755 root, sshd_config and public host keys 644
# root, private host keys 600 root (640 root:ssh_keys where that group exists, as on RHEL); for every user with a
# ~/.ssh: the home not writable by group or others, ~/.ssh 700 and authorized_keys 600, both owned by the user.
# Only what differs is changed, each change printed. Last line: VMRESCUE recipe=ssh_permissions changed=true|false.
set -u
root="${VMRESCUE_ROOT:-}"
changed=false

fix() {  # fix PATH MODE OWNER[:GROUP]
  local path=$1 mode=$2 owner=$3 now
  [ -e "$path" ] || return 0
  now="$(stat -c '%a %U:%G' "$path")"
  local want_owner=$owner
  case "$owner" in *:*) ;; *) want_owner="$owner:$(stat -c '%G' "$path")" ;; esac
  if [ "$now" != "$mode $want_owner" ]; then
    chmod "$mode" "$path" && chown "$owner" "$path" || { echo "ssh_permissions: cannot fix $path" >&2; return 1; }
    echo "ssh_permissions: fixed $path ($now -> $mode $want_owner)"
    changed=true
  fi
}

key_group=root
key_mode=600
if getent group ssh_keys >/dev/null 2>&1; then key_group=ssh_keys; key_mode=640; fi
fix "$root/etc/ssh" 755 root:root
fix "$root/etc/ssh/sshd_config" 644 root:root
for key in "$root"/etc/ssh/ssh_host_*_key; do fix "$key" "$key_mode" "root:$key_group"; done
for pub in "$root"/etc/ssh/ssh_host_*_key.pub; do fix "$pub" 644 root:root; done

while IFS=: read -r user _ _ _ _ home _; do
  dir="$root$home"
  [ -d "$dir/.ssh" ] || continue
  mode=$(stat -c '%a' "$dir")
  if [ $((8#$mode & 8#022)) -ne 0 ]; then
    chmod go-w "$dir" && echo "ssh_permissions: fixed $dir (mode $mode -> go-w)" && changed=true
  fi
  fix "$dir/.ssh" 700 "$user"
  fix "$dir/.ssh/authorized_keys" 600 "$user"
done < <(getent passwd)
echo "VMRESCUE recipe=ssh_permissions changed=$changed"
