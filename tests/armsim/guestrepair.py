"""The effect of the role vmrescue.azure.guest_repair's recipes on a simulated guest (guestscript.py calls it).

The role sends one script per OS: a wrapper that runs the recipes it names (``roles/guest_repair/templates/``),
each from ``roles/guest_repair/files/<os>/<recipe>``. The simulator runs no bash or PowerShell: a script whose
header line is ``# vmrescue.azure guest_repair`` is modelled as a whole, recipe by recipe (each marked by a line
``# vmrescue.azure recipe <name>``), on the guest's state below; the output is what the real scripts print (the
lines that matter: each recipe's ``VMRESCUE recipe=<name> changed=...`` and the wrapper's last line ``VMRESCUE
changed=... failed=...``), exit code 1 when a recipe failed. Every rule here is [inferred]: the simulator's model
of what the collection's own scripts do, written from them; the bash recipes themselves run for real in
tests/unit/test_guest_repair_scripts.py.

Guest state (fleet ``guest`` keys; documented in fleet.py):

- Linux: ``sshd_config_ok: false`` (the sshd_config holds a line ``sshd -t`` refuses, ``BROKEN_LINE``; VMAccess
  reset_ssh, which writes a new file, repairs it too), ``sshd_active: false`` (sshd stopped),
  ``sshd_recipe_backup: true`` (a backup the sshd recipe made earlier: the provisioned, valid config),
  ``ssh_bad_permissions: [path, ...]`` (modes / owners sshd's StrictModes refuses), ``aad_login: true``
  (AADSSHLoginForLinux installed: its two sshd_config lines are added to the config), ``aad_login_lines: false``
  (installed, its lines missing, as after VMAccess reset_ssh), ``aad_login_pam: false`` (its pam_aad.so line
  missing), ``proxy_agent_log`` / ``guest_agent_log``: lists of log lines.
- Windows (on armsim.vmaccess_windows.WindowsGuest): ``rdp_enabled``, ``rdp_service``, ``rdp_port``,
  ``firewall_rdp_enabled`` (already there, VMAccess's reset changes them too), ``rdp_nla: false`` (Network Level
  Authentication off), ``rdp_service_disabled: true`` (TermService start type Disabled); ``proxy_agent_log`` /
  ``guest_agent_log``. The recipe local_admin acts on the guest's local users, the keys VMAccessAgent's reset
  uses too: ``users: {name: {password?, admin? (default true), disabled?}}`` (the first one is the built-in
  administrator) and ``domain_controller: true`` (no local users: the recipe fails).

The effect is applied when the run command is accepted (the output is computed then, as for any script here),
not when the script's simulated run time has passed ([inferred] simplification: a control read during the run
already shows the repaired state).

The recipe local_admin (parameters ``admin_username``, ``admin_password_update``, protected ``admin_password``)
creates the user when it is missing (with the password: refused by the password policy of
``vmaccess_windows.password_policy_ok``, it fails and changes nothing), enables it, puts it in the
Administrators group, and sets the password of an existing user only with ``admin_password_update: always``
(``password_version`` counts the sets). The password is only handed to the guest (kept as a salted digest): never
in the output, the state or the log.

Public names: ``HEADER``, ``BROKEN_LINE``, ``AAD_LINES``, ``equip(machine, spec)``, ``to_json(machine)``,
``run_repair(text, machine, named) -> (exit_code, stdout, stderr) | None``.
"""

import re

from .vmaccess_windows import password_policy_ok, valid_local_name

HEADER = '# vmrescue.azure guest_repair'
RECIPE = re.compile(r'^#\s*vmrescue\.azure recipe (\w+)\s*$', re.MULTILINE)
BROKEN_LINE = 'PasswordAuthentication maybe'  # "Bad yes/no argument": sshd -t refuses it
AAD_HANDLER = '/usr/sbin/aad_certhandler'
AAD_LINES = ('AuthorizedKeysCommand %s %%u %%k' % AAD_HANDLER, 'AuthorizedKeysCommandUser root')
BACKUPS_KEPT = 3
PROXY_LOG = ['2026-01-01T00:00:00Z INFO ProxyAgent started', '2026-01-01T00:00:01Z INFO key latched']
AGENT_LOG = ['2026-01-01T00:00:00Z INFO Agent WALinuxAgent is running as the goal state agent']
# [inferred] the text of the InvalidPasswordException New-LocalUser / Set-LocalUser throw for a password the local
# policy refuses (Windows' message for NERR_PasswordTooShort through the LocalAccounts module)
MSG_LOCAL_PASSWORD_POLICY = (
    'Unable to update the password. The value provided for the new password does not meet the length, '
    'complexity, or history requirements of the domain.'
)
LOG_PATHS = {
    'linux': ('/var/log/azure-proxy-agent/ProxyAgent.log', '/var/log/waagent.log'),
    'windows': (r'C:\WindowsAzure\ProxyAgent\Logs\ProxyAgent.log', r'C:\WindowsAzure\Logs\WaAppAgent.log'),
}


class RepairState:
    """What the recipes read and change beyond the VMAccess guests' own state."""

    def __init__(self, spec):
        spec = dict(spec or {})
        self.sshd_active = bool(spec.get('sshd_active', True))
        self.backups = []  # the sshd recipe's backups, oldest first (config texts)
        self.broken_copies = 0
        self.bad_permissions = [str(p) for p in spec.get('ssh_bad_permissions') or ()]
        self.aad_installed = bool(spec.get('aad_login', False))
        self.aad_pam = bool(spec.get('aad_login_pam', True)) if self.aad_installed else False
        self.rdp_nla = bool(spec.get('rdp_nla', True))
        self.rdp_service_disabled = bool(spec.get('rdp_service_disabled', False))
        self.proxy_log = list(spec.get('proxy_agent_log') or PROXY_LOG)
        self.agent_log = list(spec.get('guest_agent_log') or AGENT_LOG)
        self.restarts = 0
        self.runs = []  # per run: {recipe: changed}


def equip(machine, spec):
    """Fleet ``guest`` keys of the recipes (see the module docstring); the guest itself is already built."""
    guest_spec = dict((spec or {}).get('guest') or {})
    state = RepairState(guest_spec)
    guest = machine.guest
    if machine.os == 'linux' and guest is not None:
        if guest_spec.get('sshd_recipe_backup'):
            state.backups.append(guest.sshd_config)
        if state.aad_installed and guest_spec.get('aad_login_lines', True):
            guest.sshd_config = '\n'.join(AAD_LINES) + '\n' + guest.sshd_config
        if guest_spec.get('sshd_config_ok') is False:
            guest.sshd_config = guest.sshd_config.rstrip('\n') + '\n' + BROKEN_LINE + '\n'
    machine.repair = state


def to_json(machine):
    state = getattr(machine, 'repair', None)
    guest = getattr(machine, 'guest', None)
    if state is None:
        return None
    out = {
        'sshd_active': state.sshd_active,
        'sshd_recipe_backups': len(state.backups),
        'sshd_broken_copies': state.broken_copies,
        'ssh_bad_permissions': list(state.bad_permissions),
        'aad_login_installed': state.aad_installed,
        'aad_login_pam': state.aad_pam,
        'rdp_nla': state.rdp_nla,
        'rdp_service_disabled': state.rdp_service_disabled,
        'restarts': state.restarts,
        'runs': [dict(r) for r in state.runs],
    }
    if machine.os == 'linux' and guest is not None:
        out['sshd_config_ok'] = _valid(guest.sshd_config)
        out['aad_login_lines'] = all(line in guest.sshd_config.splitlines() for line in AAD_LINES)
    return out


def _valid(config):
    return BROKEN_LINE not in config.splitlines()


# -- the recipes: each returns (changed, its stderr line when it failed or False, its output lines) ------------------------------------------------------------
def _sshd(machine, state, named):
    guest, lines = machine.guest, []
    if _valid(guest.sshd_config):
        if not state.backups or state.backups[-1] != guest.sshd_config:
            state.backups.append(guest.sshd_config)
            lines.append('sshd: kept a backup of the valid sshd_config')
        if state.sshd_active:
            lines.append('sshd: sshd_config valid and ssh running: nothing to repair')
            return False, False, lines
        state.sshd_active, state.restarts = True, state.restarts + 1
        return True, False, lines + ['sshd: ssh was not running: restarted']
    lines.append('sshd: sshd -t refuses sshd_config: Bad yes/no argument: maybe')
    good = next((b for b in reversed(state.backups) if _valid(b)), None)
    if good is None:
        return False, 'sshd: no valid backup made by this recipe; reset sshd_config with VMAccess (reset_ssh)', lines
    state.broken_copies += 1
    guest.sshd_config = good
    state.sshd_active, state.restarts = True, state.restarts + 1
    return True, False, lines + ['sshd: restored the newest valid backup and restarted ssh']


def _ssh_permissions(machine, state, named):
    lines = ['ssh_permissions: fixed %s' % path for path in state.bad_permissions]
    changed = bool(state.bad_permissions)
    state.bad_permissions = []
    return changed, False, lines


def _aad_login(machine, state, named):
    guest = machine.guest
    if not state.aad_installed:
        return (
            False,
            False,
            ['aad_login: AADSSHLoginForLinux is not installed (%s missing): nothing to do' % AAD_HANDLER],
        )
    present = guest.sshd_config.splitlines()
    missing = [line for line in AAD_LINES if line not in present]
    lines = ['aad_login: sshd_config: %s' % line for line in missing]
    if missing:
        guest.sshd_config = '\n'.join(missing) + '\n' + guest.sshd_config
    if not state.aad_pam:
        state.aad_pam = True
        lines.append('aad_login: /etc/pam.d/sshd: pam_aad.so account line added')
    if not lines:
        return False, False, ['aad_login: Entra ID login lines present: nothing to repair']
    state.sshd_active, state.restarts = True, state.restarts + 1
    return True, False, lines + ['aad_login: sshd restarted']


def _rdp(machine, state, named):
    guest, lines = machine.guest, []
    want_nla = str(named.get('nla', 'true')).lower()
    if not guest.rdp_enabled:
        guest.rdp_enabled = True
        lines.append('rdp: Remote Desktop connections allowed (fDenyTSConnections 0)')
    if guest.rdp_port != 3389:
        guest.rdp_port = 3389
        lines.append('rdp: RDP-Tcp listener back on port 3389')
    if want_nla != 'keep' and state.rdp_nla != (want_nla != 'false'):
        state.rdp_nla = want_nla != 'false'
        lines.append('rdp: Network Level Authentication set to %d (UserAuthentication)' % int(state.rdp_nla))
    if not guest.firewall_rdp_enabled:
        guest.firewall_rdp_enabled = True
        lines.append('rdp: Remote Desktop firewall rules enabled')
    if state.rdp_service_disabled:
        state.rdp_service_disabled = False
        lines.append('rdp: TermService start type Automatic')
    if guest.rdp_service != 'running' or lines:
        guest.rdp_service = 'running'
        state.restarts += 1
        lines.append('rdp: TermService restarted')
    if not lines:
        return False, False, ['rdp: Remote Desktop settings as expected: nothing to repair']
    return True, False, lines


def _local_admin_refusal(guest, name, user, update, password):
    """Why local_admin fails before changing anything (the script's own checks, then Windows'), or None."""
    if not name:
        return 'no user name given (parameter admin_username)'
    if not valid_local_name(name):
        return (
            "'%s' is not a valid local user name (at most 20 characters, none of "
            '" / \\ [ ] : ; | = , + * ? < > @, no final dot)' % name
        )
    if guest.domain_controller:
        return 'a domain controller has no local users: use a domain account'
    if user is None or update == 'always':
        if not password:
            return 'a password (protected parameter admin_password) is needed to create or reset %s' % name
        if not password_policy_ok(password, name):
            return MSG_LOCAL_PASSWORD_POLICY
    return None


def _local_admin(machine, state, named):
    guest = machine.guest
    name = str(named.get('admin_username') or '').strip()
    update = str(named.get('admin_password_update') or 'on_create').lower()
    password = str(named.get('admin_password') or '')
    user = guest.users.get(name.lower()) if name else None
    refusal = _local_admin_refusal(guest, name, user, update, password)
    if refusal:
        return False, 'local_admin: ' + refusal, []
    lines = []
    if user is None:
        user = guest.add_local_user(name)
        guest.set_password(name, password)
        lines.append('local_admin: created the local user %s' % name)
    elif update == 'always':
        guest.set_password(name, password)
        lines.append('local_admin: password of %s set (admin_password_update always)' % name)
    if user['disabled']:
        user['disabled'] = False
        lines.append('local_admin: %s enabled' % name)
    if name.lower() not in guest.administrators:
        guest.administrators.add(name.lower())
        lines.append('local_admin: %s added to the local Administrators group' % name)
    if not lines:
        return False, False, ['local_admin: %s exists, enabled, in Administrators: nothing to repair' % name]
    return True, False, lines


def _logs(machine, state, named):
    try:
        count = max(0, int(named.get('log_lines', 100)))
    except ValueError:
        count = 100
    lines = []
    for path, log in zip(LOG_PATHS[machine.os], (state.proxy_log, state.agent_log)):
        lines.append('==> %s (last %d lines) <==' % (path, count))
        lines.extend(log[-count:] if count else [])
    return False, False, lines


RECIPES = {
    'linux': {'sshd': _sshd, 'ssh_permissions': _ssh_permissions, 'aad_login': _aad_login, 'proxy_agent_logs': _logs},
    'windows': {'rdp': _rdp, 'local_admin': _local_admin, 'proxy_agent_logs': _logs},
}


def run_repair(text, machine, named):
    """(exit_code, stdout, stderr) of a guest_repair script on ``machine``, or None when ``text`` is not one."""
    if machine is None or not any(line.startswith(HEADER) for line in (text or '').splitlines()[:3]):
        return None
    state = getattr(machine, 'repair', None)
    if state is None:
        equip(machine, {})
        state = machine.repair
    named = dict((str(k).lower(), v) for k, v in (named or {}).items())
    out, err, failed, changed, run = [], [], [], False, {}
    for name in RECIPE.findall(text):
        recipe = RECIPES.get(machine.os, {}).get(name)
        if recipe is None:  # a recipe of the other OS: the wrapper would fail to find its commands
            err.append('%s: not a recipe for %s' % (name, machine.os))
            failed.append(name)
            continue
        did, broke, lines = recipe(machine, state, named)
        out.extend(lines)
        if broke:
            err.append(broke)
            failed.append(name)
            out.append('VMRESCUE recipe=%s changed=false failed=true' % name)
        else:
            out.append('VMRESCUE recipe=%s changed=%s' % (name, 'true' if did else 'false'))
        changed = changed or did
        run[name] = did
    state.runs.append(run)
    out.append('VMRESCUE changed=%s failed=%s' % ('true' if changed else 'false', ','.join(failed) or 'none'))
    return (1 if failed else 0), '\n'.join(out) + '\n', ''.join(line + '\n' for line in err)
