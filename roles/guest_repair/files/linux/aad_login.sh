# vmrescue.azure guest_repair recipe aad_login (Linux, bash).
# Re-enable Microsoft Entra ID login (the AADSSHLoginForLinux extension's aadsshlogin package) after a VMAccess
# change: VMAccess reset_ssh replaces sshd_config with its default, which drops the extension's
# "AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k" and "AuthorizedKeysCommandUser root" lines. They are put
# back (with "UsePAM yes", which Entra ID login needs), and the pam_aad.so account line in /etc/pam.d/sshd when the
# PAM module is installed and the line is missing; the result is tested with "sshd -t" (refused: the previous file
# is put back) and sshd restarted. Not installed: nothing to do. Last line: VMRESCUE recipe=aad_login changed=...
set -u
root="${VMRESCUE_ROOT:-}"
config="$root/etc/ssh/sshd_config"
pam="$root/etc/pam.d/sshd"
handler=/usr/sbin/aad_certhandler
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
changed=false

if [ ! -x "$root$handler" ]; then
  echo "aad_login: AADSSHLoginForLinux is not installed ($handler missing): nothing to do"
  echo "VMRESCUE recipe=aad_login changed=false"
  exit 0
fi
cp -p "$config" "$config.vmrescue-aad.$$"
add_line() {  # add_line KEYWORD LINE: replace the keyword's line (outside Match blocks) or add the line first
  local keyword=$1 line=$2
  if grep -qxF "$line" "$config"; then return 0; fi
  if grep -qiE "^[[:space:]]*$keyword[[:space:]]" "$config"; then
    sed -i -E "0,/^[[:space:]]*$keyword[[:space:]].*/s||$line|" "$config"
  else
    sed -i "1i $line" "$config"
  fi
  echo "aad_login: sshd_config: $line"
  changed=true
}
add_line AuthorizedKeysCommandUser "AuthorizedKeysCommandUser root"
add_line AuthorizedKeysCommand "AuthorizedKeysCommand $handler %u %k"
add_line UsePAM "UsePAM yes"
if ! problem=$("$sshd_bin" -t -f "$config" 2>&1); then
  cp -p "$config.vmrescue-aad.$$" "$config"
  rm -f "$config.vmrescue-aad.$$"
  echo "aad_login: sshd -t refuses the result ($problem): sshd_config left as it was" >&2
  echo "VMRESCUE recipe=aad_login changed=false failed=true"
  exit 1
fi
rm -f "$config.vmrescue-aad.$$"
# [inferred] the account line aadsshlogin adds to /etc/pam.d/sshd
if ls "$root"/lib/*/security/pam_aad.so "$root"/lib64/security/pam_aad.so >/dev/null 2>&1 && [ -f "$pam" ] &&
  ! grep -q 'pam_aad\.so' "$pam"; then
  sed -i '1i account [success=done default=ignore] pam_aad.so' "$pam"
  echo "aad_login: /etc/pam.d/sshd: pam_aad.so account line added"
  changed=true
fi
if [ "$changed" = true ]; then
  systemctl restart ssh 2>/dev/null || systemctl restart sshd || { echo "aad_login: restarting sshd failed" >&2; exit 1; }
  echo "aad_login: sshd restarted"
else
  echo "aad_login: Entra ID login lines present: nothing to repair"
fi
echo "VMRESCUE recipe=aad_login changed=$changed"
