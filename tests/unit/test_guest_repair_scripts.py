"""The guest_repair role's Linux recipes, run for real by bash against a fake root (VMRESCUE_ROOT), with sshd and
systemctl replaced by stubs on PATH: each recipe repairs its fault, reports changed=true, and reports
changed=false on the second run; the generated wrapper joins them and ends with the run's own line. (The
simulator models the same effects on its guests: tests/armsim/guestrepair.py.)"""

import os
import shutil
import stat
import subprocess

import jinja2
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, 'roles', 'guest_repair')
BASH = shutil.which('bash')
pytestmark = pytest.mark.skipif(BASH is None, reason='no bash')

SSHD = """#!/bin/bash
# stub: sshd -t -f FILE refuses a file with an invalid yes/no value
while [ $# -gt 0 ]; do case $1 in -f) file=$2; shift ;; esac; shift; done
if grep -q 'PasswordAuthentication maybe' "$file"; then echo "Bad yes/no argument: maybe" >&2; exit 255; fi
"""
SYSTEMCTL = """#!/bin/bash
# stub: the ssh unit's state in $VMRESCUE_ROOT/run/ssh.state
state="$VMRESCUE_ROOT/run/ssh.state"
case $1 in
  cat) [ "$2" = ssh.service ] ;;
  is-active) [ "$(cat "$state" 2>/dev/null)" = active ] ;;
  restart) echo active >"$state"; echo restart >>"$VMRESCUE_ROOT/run/restarts" ;;
esac
"""
GOOD = 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n'


@pytest.fixture
def guest(tmp_path):
    root = tmp_path / 'root'
    for sub in ('etc/ssh', 'run', 'usr/sbin', 'etc/pam.d', 'tmp'):
        (root / sub).mkdir(parents=True)
    (root / 'etc/ssh/sshd_config').write_text(GOOD)
    (root / 'run/ssh.state').write_text('active')
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    for name, text in (('sshd', SSHD), ('systemctl', SYSTEMCTL)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    env = dict(os.environ, VMRESCUE_ROOT=str(root), PATH='%s:%s' % (stubs, os.environ['PATH']))
    return root, env


def run(script_text, env):
    proc = subprocess.run([BASH, '-s'], input=script_text, env=env, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def recipe(name):
    with open(os.path.join(ROLE, 'files', 'linux', name + '.sh')) as fh:
        return fh.read()


def last(stdout):
    return stdout.strip().splitlines()[-1]


def test_sshd_keeps_a_backup_restores_it_when_broken_and_restarts_a_stopped_sshd(guest):
    root, env = guest
    rc, out, _err = run(recipe('sshd'), env)
    assert rc == 0 and last(out) == 'VMRESCUE recipe=sshd changed=false' and 'kept a backup' in out
    assert len(list((root / 'etc/ssh').glob('sshd_config.vmrescue-backup.*'))) == 1
    rc, out, _err = run(recipe('sshd'), env)
    assert last(out) == 'VMRESCUE recipe=sshd changed=false' and 'kept a backup' not in out  # same file: no copy

    (root / 'etc/ssh/sshd_config').write_text(GOOD + 'PasswordAuthentication maybe\n')
    rc, out, _err = run(recipe('sshd'), env)
    assert rc == 0 and last(out) == 'VMRESCUE recipe=sshd changed=true', out
    assert (root / 'etc/ssh/sshd_config').read_text() == GOOD
    assert len(list((root / 'etc/ssh').glob('sshd_config.vmrescue-broken.*'))) == 1
    assert (root / 'run/restarts').read_text().count('restart') == 1

    (root / 'run/ssh.state').write_text('inactive')
    rc, out, _err = run(recipe('sshd'), env)
    assert last(out) == 'VMRESCUE recipe=sshd changed=true' and 'was not running' in out
    assert last(run(recipe('sshd'), env)[1]) == 'VMRESCUE recipe=sshd changed=false'


def test_sshd_without_a_valid_backup_fails_and_leaves_the_file(guest):
    root, env = guest
    (root / 'etc/ssh/sshd_config').write_text('PasswordAuthentication maybe\n')
    rc, out, err = run(recipe('sshd'), env)
    assert rc == 1 and 'no valid backup' in err and last(out).endswith('failed=true')
    assert (root / 'etc/ssh/sshd_config').read_text() == 'PasswordAuthentication maybe\n'


def test_aad_login_puts_its_lines_back_once(guest):
    root, env = guest
    assert last(run(recipe('aad_login'), env)[1]) == 'VMRESCUE recipe=aad_login changed=false'  # not installed
    handler = root / 'usr/sbin/aad_certhandler'
    handler.write_text('#!/bin/sh\n')
    handler.chmod(0o755)
    rc, out, _err = run(recipe('aad_login'), env)
    assert rc == 0 and last(out) == 'VMRESCUE recipe=aad_login changed=true', out
    config = (root / 'etc/ssh/sshd_config').read_text().splitlines()
    assert 'AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k' in config
    assert 'AuthorizedKeysCommandUser root' in config and config.count('UsePAM yes') == 1
    assert last(run(recipe('aad_login'), env)[1]) == 'VMRESCUE recipe=aad_login changed=false'


@pytest.mark.skipif(os.geteuid() != 0, reason='chown to root needs root')
def test_ssh_permissions_fixes_modes_then_is_fine(guest):
    root, env = guest
    config = root / 'etc/ssh/sshd_config'
    config.chmod(0o666)
    rc, out, _err = run(recipe('ssh_permissions'), env)
    assert rc == 0 and last(out) == 'VMRESCUE recipe=ssh_permissions changed=true', out
    assert stat.S_IMODE(config.stat().st_mode) == 0o644 and 'fixed %s' % config in out
    assert last(run(recipe('ssh_permissions'), env)[1]) == 'VMRESCUE recipe=ssh_permissions changed=false'


def test_the_wrapper_joins_the_recipes_and_ends_with_the_run_line(guest):
    root, env = guest
    (root / 'etc/ssh/sshd_config').write_text('PasswordAuthentication maybe\n')
    with open(os.path.join(ROLE, 'templates', 'linux.sh.j2')) as fh:
        template = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True).from_string(fh.read())
    text = template.render(
        guest_repair_os_recipes=['sshd', 'proxy_agent_logs'],
        lookup=lambda _kind, path: open(os.path.join(ROLE, 'files', path)).read().rstrip('\n'),
    )
    assert text.splitlines()[1].startswith('# vmrescue.azure guest_repair')  # what the simulator recognises
    rc, out, _err = run(text, env)
    assert rc == 1 and last(out) == 'VMRESCUE changed=false failed=sshd', out
    assert 'VMRESCUE recipe=proxy_agent_logs changed=false' in out  # a failed recipe does not stop the others
    (root / 'etc/ssh/sshd_config').write_text(GOOD)
    (root / 'run/ssh.state').write_text('inactive')
    rc, out, _err = run(text, env)
    assert rc == 0 and last(out) == 'VMRESCUE changed=true failed=none', out
