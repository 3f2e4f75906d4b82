#!/usr/bin/env python3
"""`make demo`: the whole recovery job, end to end, on the embedded ARM simulator.

1. starts the simulator with tests/armsim/fleets/demo.yaml (fast timings: the demo takes well under a minute);
2. shows the fleet as the collection's inventory plugin vmrescue.azure.vms sees it (broken keys, a locked-out host);
3. runs `ansible-playbook vmrescue.azure.reset_proxy_agent_keys` and `... regain_linux_access` (real processes);
4. shows each run's summary and recap, then the fleet again;
5. runs both playbooks a second time: nothing changes, and the two key resets someone raised long ago that never
   reached their guests (no record: the first run recorded when it first saw them pending) are reported stuck, with
   the likely cause from the agent's status and the next step, instead of pending for ever;
6. takes that next step for the inventory group key_stuck (one more recorded reset, break-glass if it does not latch).

Exit status 0 when every step did what is expected, 1 otherwise (the reason is printed). Full logs: .tmp/demo/.
"""

import json
import os
import re
import subprocess
import sys
import time

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS_DIR)
COLLECTIONS = os.path.join(REPO, '.tmp', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'vmrescue', 'azure')
WORK = os.path.join(REPO, '.tmp', 'demo')
BIN = os.path.dirname(sys.executable)
FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'demo.yaml')
# Simulated Azure, but fast: ARM operations 0.2 s, the guest relatches a new key 0.5 s after a reset, the VMAccess
# handler runs in 0.2 s. Throttling stays on with Azure's real limits.
FAST = {'lro_seconds': 0.2, 'lro_retry_after': 1, 'relatch_seconds': 0.5, 'extension_seconds': 0.2}
RESCUE_USER = 'rescue'
# How long a key reset may take to reach the guest before it is reported stuck (the collection's default is 30 minutes;
# the demo's guests latch in 0.5 s).
STUCK_AFTER = 8
STUCK_VARS = ['-e', 'proxy_agent_key_recovery_stuck_after=%d' % STUCK_AFTER]

sys.path.insert(0, TESTS_DIR)
sys.path.insert(0, os.path.join(TESTS_DIR, 'integration'))
from ansible_runner import strip_unsafe as _plain  # noqa: E402
from armsim.harness import Simulator  # noqa: E402

HEADLINE = re.compile(r'"(\w+): (\d+) checked, (\d+) changed, (\d+) already fine, (\d+) skipped, (\d+) failed"')
RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


class DemoFailure(Exception):
    pass


def say(text=''):
    print(text, flush=True)


def banner(text):
    say()
    say('=' * 100)
    say(text)
    say('=' * 100)


def expect(condition, what):
    if not condition:
        raise DemoFailure(what)


def ensure_collection_link():
    if not os.path.lexists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(REPO, LINK)


def child_env(sim):
    env = dict(os.environ)
    env.update(sim.env())
    env.update(
        {
            'PATH': BIN + os.pathsep + env.get('PATH', ''),
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
            'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
            'ANSIBLE_LOCAL_TEMP': os.path.join(WORK, 'ansible-tmp'),
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORKS': '20',
            'ANSIBLE_SHOW_CUSTOM_STATS': 'true',
            'ANSIBLE_DISPLAY_SKIPPED_HOSTS': 'false',
        }
    )
    env.pop('PYTHONPATH', None)
    return env


def write_files(sim):
    os.makedirs(WORK, exist_ok=True)
    inventory = os.path.join(WORK, 'fleet.vms.yml')
    with open(inventory, 'w') as fh:
        fh.write(
            '# The collection inventory plugin: every VM and Uniform scale-set instance of the subscription,\n'
            '# grouped by OS, power state and proxy agent key health. Credentials: the AZURE_* environment.\n'
            'plugin: vmrescue.azure.vms\n'
            '# a key reset that has not reached its guest this many seconds after it was recorded or first seen\n'
            '# pending is in the group key_stuck (the default is 1800; the demo runs fast)\n'
            'stuck_after: %d\n' % STUCK_AFTER
        )
    # A fresh key pair for the rescue user (only the public half goes to Azure).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = os.path.join(WORK, 'rescue_ed25519')
    with open(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'wb') as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
        )
    public = (
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        + ' rescue@demo'
    )
    intent = os.path.join(WORK, 'intent.yml')
    with open(intent, 'w') as fh:
        fh.write('# What regain_linux_access applies to every Linux host: a sudo user with a key, and sshd reset.\n')
        fh.write('linux_access_recovery_username: %s\n' % RESCUE_USER)
        fh.write('linux_access_recovery_ssh_key: "%s"\n' % public)
        fh.write('linux_access_recovery_reset_ssh: true\n')
    return inventory, intent, public


def read_inventory(env, inventory):
    proc = subprocess.run(
        [os.path.join(BIN, 'ansible-inventory'), '-i', inventory, '--list'],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    expect(
        proc.returncode == 0 and 'Unable to parse' not in proc.stderr,
        'ansible-inventory failed:\n' + proc.stdout + proc.stderr,
    )
    return _plain(json.loads(proc.stdout))


def key_tag(sim, vm_id):
    """The vmrescue-key-reset tag on a VM (the record of a reset, or the first observation of a pending one)."""
    return (sim.control.vm(vm_id)['model'].get('tags') or {}).get('vmrescue-key-reset')


def login_state(guest):
    """Who can log in to a simulated Linux guest, in words."""
    if not guest:
        return '-'
    ways = []
    for user, info in sorted((guest.get('users') or {}).items()):
        if user == 'root':
            continue
        how = []
        if info.get('authorized_keys'):
            how.append('%d key%s' % (len(info['authorized_keys']), '' if len(info['authorized_keys']) == 1 else 's'))
        if info.get('password_set'):
            how.append('password')
        if how:
            ways.append('%s (%s%s)' % (user, ', '.join(how), ', sudo' if info.get('sudo') else ''))
    return ', '.join(ways) if ways else 'LOCKED OUT: no user has a key or a password'


def show_fleet(sim, inv, title):
    say()
    say(title)
    hostvars = inv['_meta']['hostvars']
    rows = []
    for name in sorted(hostvars, key=lambda h: (hostvars[h]['resource_group'], h)):
        hv = hostvars[name]
        pa = hv.get('proxy_agent') or {}
        guest = None
        if hv['os_profile']['system'] == 'linux':
            guest = sim.control.guest(hv['id'])
        rows.append(
            (
                name,
                hv['resource_group'],
                'instance' if hv.get('vmss') else 'vm',
                hv['os_profile']['system'],
                hv['powerstate'],
                str(pa.get('key_incarnation_id', '-')),
                pa.get('health', '-'),
                login_state(guest) if guest is not None else '(Windows)',
            )
        )
    head = ('HOST', 'RESOURCE GROUP', 'KIND', 'OS', 'POWER', 'KEY#', 'KEY HEALTH', 'WHO CAN LOG IN')
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = '  '.join('%%-%ds' % w for w in widths)
    say(fmt % head)
    say(fmt % tuple('-' * w for w in widths))
    for row in rows:
        say(fmt % row)
    groups = ', '.join(
        '%s=%d' % (g, len(inv.get(g, {}).get('hosts', [])))
        for g in ('key_healthy', 'key_unhealthy', 'key_unknown', 'key_stuck', 'msp_disabled')
    )
    say('inventory groups: ' + groups)
    return hostvars


def run_playbook(env, name, inventory, extra=(), log=None):
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'vmrescue.azure.%s' % name] + list(extra)
    shown = ' '.join(
        ['ansible-playbook', '-i', os.path.relpath(inventory, REPO), 'vmrescue.azure.%s' % name]
        + [a.replace(WORK, os.path.relpath(WORK, REPO)) for a in extra]
    )
    say()
    say('$ ' + shown)
    started = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=WORK)
    elapsed = time.time() - started
    out = proc.stdout + proc.stderr
    with open(os.path.join(WORK, log or name + '.log'), 'w') as fh:
        fh.write(out)
    # The summary task and the recap, as Ansible printed them.
    match = re.search(r'^TASK \[[^\]]*Show the summary\].*?(?=^\s*$)', proc.stdout, re.M | re.S)
    if match:
        say(match.group(0).rstrip())
    recap = proc.stdout[proc.stdout.find('PLAY RECAP') :] if 'PLAY RECAP' in proc.stdout else ''
    recap = recap.split('\nCUSTOM STATS')[0].rstrip()
    say()
    say(recap)
    say(
        '(exit status %d, %.1f s; full log: %s)'
        % (proc.returncode, elapsed, os.path.relpath(os.path.join(WORK, log or name + '.log'), REPO))
    )
    head = HEADLINE.search(proc.stdout)
    expect(head is not None, '%s printed no summary:\n%s' % (name, out[-3000:]))
    summary = dict(zip(('checked', 'changed', 'already_fine', 'skipped', 'failed'), map(int, head.groups()[1:])))
    recap_rows = dict(
        (m.group(1), {'changed': int(m.group(3)), 'failed': int(m.group(5)), 'unreachable': int(m.group(4))})
        for m in RECAP.finditer(recap)
    )
    return proc.returncode, summary, recap_rows


def main():
    ensure_collection_link()
    os.makedirs(WORK, exist_ok=True)
    banner('vmrescue.azure demo: recover a fleet after an incident (simulated Azure, real ansible-playbook)')
    started = time.time()
    say('Starting the ARM simulator with %s ...' % os.path.relpath(FLEET, REPO))
    with Simulator.start(fleet=FLEET, config=FAST) as sim:
        say('Simulated Resource Manager at %s (subscription %s)' % (sim.base_url, sim.subscription_id))
        env = child_env(sim)
        inventory, intent, public_key = write_files(sim)

        banner('1. The fleet before: keys broken after a migration, a Linux host nobody can log in to')
        before = show_fleet(
            sim,
            read_inventory(env, inventory),
            'ansible-inventory -i %s --list, as a table:' % os.path.relpath(inventory, REPO),
        )
        broken = sorted(h for h, hv in before.items() if hv['proxy_agent'].get('health') == 'unhealthy')
        locked = sorted(
            h
            for h, hv in before.items()
            if hv['os_profile']['system'] == 'linux' and login_state(sim.control.guest(hv['id'])).startswith('LOCKED')
        )
        say('broken keys: %s' % ', '.join(broken))
        say('locked out:  %s' % ', '.join(locked))
        expect(broken and locked, 'the demo fleet should have broken keys and a locked-out host')

        banner('2. Reset every proxy agent key that is not usable, confirm the guest latched it')
        rc, keys, recap = run_playbook(
            env, 'reset_proxy_agent_keys', inventory, extra=STUCK_VARS, log='reset_proxy_agent_keys-1.log'
        )
        observed_at = time.time()
        expect(rc == 0 and keys['failed'] == 0, 'reset_proxy_agent_keys failed (rc %d, %s)' % (rc, keys))
        expect(
            sorted(h for h, r in recap.items() if r['changed']) == broken,
            'reset_proxy_agent_keys changed %s, expected the broken keys %s'
            % (sorted(h for h, r in recap.items() if r['changed']), broken),
        )
        observed = sorted(
            h for h, hv in before.items() if str(key_tag(sim, hv['id']) or '').startswith('observed:')
        )  # fmt: skip
        say(
            'first observed pending (a reset nobody recorded; the run wrote when, in the vmrescue-key-reset tag): %s'
            % ', '.join('%s (%s)' % (h, key_tag(sim, before[h]['id'])) for h in observed)
        )
        expect(len(observed) == 2, 'expected two unrecorded pending resets to be observed, got %s' % observed)

        banner('3. Give every Linux host a sudo user "%s" with a new SSH key and a clean sshd_config' % RESCUE_USER)
        rc, access, recap = run_playbook(
            env, 'regain_linux_access', inventory, extra=['-e', '@' + intent], log='regain_linux_access-1.log'
        )
        expect(rc == 0 and access['failed'] == 0, 'regain_linux_access failed (rc %d, %s)' % (rc, access))
        expect(access['changed'] > 0, 'regain_linux_access changed nothing')

        after = show_fleet(sim, read_inventory(env, inventory), 'The fleet after both playbooks:')
        expect(
            not [h for h, hv in after.items() if hv['proxy_agent'].get('health') == 'unhealthy'],
            'keys are still unhealthy after the reset',
        )
        for host in locked:
            if after[host]['powerstate'] != 'running':
                say(
                    '%s: still locked out: it is %s (skipped, with the reason, in the summary)'
                    % (host, after[host]['powerstate'])
                )
                continue
            guest = sim.control.guest(after[host]['id'])
            keys_now = (guest['users'].get(RESCUE_USER) or {}).get('authorized_keys') or []
            expect(public_key in keys_now, '%s did not get the rescue key' % host)
        say(
            '%s: %s can log in now (the new key is in authorized_keys, with sudo)'
            % (', '.join(h for h in locked if after[h]['powerstate'] == 'running'), RESCUE_USER)
        )

        banner('4. Run both again: a re-run changes nothing, and a reset pending too long is reported stuck')
        wait = STUCK_AFTER + 1 - (time.time() - observed_at)
        if wait > 0:
            say('(waiting %.0f s: stuck_after is %d s in the demo, 1800 by default)' % (wait, STUCK_AFTER))
            time.sleep(wait)
        rc1, keys2, recap1 = run_playbook(
            env, 'reset_proxy_agent_keys', inventory, extra=STUCK_VARS, log='reset_proxy_agent_keys-2.log'
        )
        rc2, access2, recap2 = run_playbook(
            env, 'regain_linux_access', inventory, extra=['-e', '@' + intent], log='regain_linux_access-2.log'
        )
        changed_again = [h for h, r in list(recap1.items()) + list(recap2.items()) if r['changed']]
        expect(rc1 == 0 and rc2 == 0, 'second run failed (rc %d / %d)' % (rc1, rc2))
        expect(
            keys2['changed'] == 0 and access2['changed'] == 0 and not changed_again,
            'the second run changed something: %s' % changed_again,
        )
        log2 = open(os.path.join(WORK, 'reset_proxy_agent_keys-2.log')).read()
        expect('pending since an unknown time' not in log2, 'a key reset is still pending since an unknown time')
        expect('2 host(s) have a key reset STUCK' in log2, 'the second run did not report the two stuck resets')
        stuck_inv = read_inventory(env, inventory)
        stuck_hosts = sorted(stuck_inv.get('key_stuck', {}).get('hosts', []))
        expect(stuck_hosts == observed, 'inventory group key_stuck is %s, expected %s' % (stuck_hosts, observed))
        for host in stuck_hosts:
            found = stuck_inv['_meta']['hostvars'][host]['proxy_agent']['stuck']
            say('%s: stuck %s s, likely cause: %s' % (host, found['age'], found['cause_text']))

        banner('5. The next step for the stuck keys: one more reset, recorded; break-glass if that one does not latch')
        rc, nxt, recap = run_playbook(
            env,
            'reset_proxy_agent_keys',
            inventory,
            extra=['-l', 'key_stuck', '-e', 'proxy_agent_key_recovery_reset_unknown=true', '-e',
                   'proxy_agent_key_recovery_break_glass=true'] + STUCK_VARS,
            log='reset_proxy_agent_keys-3.log',
        )  # fmt: skip
        expect(rc == 0 and nxt['failed'] == 0, 'the next step failed (rc %d, %s)' % (rc, nxt))
        expect(
            sorted(h for h, r in recap.items() if r['changed']) == stuck_hosts,
            'the next step changed %s, expected %s'
            % (sorted(h for h, r in recap.items() if r['changed']), stuck_hosts),
        )
        final = show_fleet(sim, read_inventory(env, inventory), 'The fleet at the end:')
        left = sorted(h for h, hv in final.items() if hv['proxy_agent'].get('verdict') in ('pending', 'stuck'))
        expect(not left, 'hosts left pending or stuck: %s' % left)

        banner(
            'Done in %.0f s: %d keys reset, %d Linux hosts repaired, second run: 0 changes, %d stuck resets reported '
            'and taken to the next step; nothing left pending.'
            % (time.time() - started, keys['changed'], access['changed'], len(stuck_hosts))
        )
        say(
            'Skipped with a reason (see the summaries): %d for the key reset, %d for Linux access.'
            % (keys['skipped'], access['skipped'])
        )
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except DemoFailure as exc:
        say()
        say('DEMO FAILED: %s' % exc)
        sys.exit(1)
