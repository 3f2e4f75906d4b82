# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input table of issue 12 (tests/integration/bad_input_cases.py), run against the session simulator.

Every case must fail with all its expected words in the message, the simulator's write counter must stay at zero
(the counter only grows, so zero after a group means zero after each of its cases) and no known secret (the VM
password, the client secret, the private key) may appear anywhere: stdout and stderr of the ansible process (the
module groups run at -vvvv), the recorded results, and the simulator's request log.

Fast by design: one ansible-playbook process per plugin (a task per case, ``ignore_errors``, every registered
result written to one JSON file at the end), one for the roles (each case a block whose rescue records the
failure), one ansible-inventory process with one source file per inventory case.
"""

import json
import os
import subprocess

import pytest
import yaml

import bad_input_cases as T
from ansible_runner import VENV_BIN, _env, run_playbook

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')

MODULE_GROUPS = {
    'proxy_agent_key_reset': [c for c in T.CASES if c[1] == T.P],
    'proxy_agent_settings': [c for c in T.CASES if c[1] == T.S],
    'vmaccess_linux': [c for c in T.CASES if c[1] == T.L],
    'vmaccess_windows': [c for c in T.CASES if c[1] == T.W],
    'batch_result': [c for c in T.CASES if c[1] == T.B],
    'lookup': [c for c in T.CASES if c[1] == T.LK],
    'run_command': [c for c in T.CASES if c[1] == T.R],
}
ROLE_CASES = [c for c in T.CASES if c[1].startswith('role:')]
INVENTORY_CASES = [c for c in T.CASES if c[1] == T.INV]


def test_the_table_is_big_enough():
    assert len(T.CASES) >= 120
    assert set(c[1] for c in T.CASES) >= {
        T.P,
        T.L,
        T.W,
        T.B,
        T.R,
        T.LK,
        T.INV,
        'role:linux_access_recovery',
        'role:windows_access_recovery',
        'role:proxy_agent_key_recovery',
        'role:guest_repair',
    }


@pytest.fixture
def files(tmp_path):
    not_a_cert = tmp_path / 'not-a-cert.pem'
    not_a_cert.write_text('hello, I am not a certificate\n')
    cert_only = tmp_path / 'cert-only.pem'
    cert_only.write_text('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    not_a_report = tmp_path / 'not-a-report.json'
    not_a_report.write_text('hello, I am not a run report\n')
    return dict(not_a_cert=str(not_a_cert), cert_only=str(cert_only), not_a_report=str(not_a_report))


def _play_vars(sim, files):
    return dict(
        vm_password=T.PASSWORD,
        client_secret=sim.client_secret,
        private_key=T.PRIVATE_KEY,
        private_rsa=T.PRIVATE_RSA_PEM,
        putty_key=T.PUTTY_KEY,
        lin=sim.vm_id('rg-linux', 'lin-ok'),
        win=sim.vm_id('rg-windows', 'win-ok'),
        **files,
    )


def _secrets(sim):
    return T.SECRET_MARKERS + [sim.client_secret]


def _task(index, case):
    cid, plugin, args, _words = case
    reg = 'case_%03d' % index
    if plugin == T.LK:
        terms = args['terms']
        call = "lookup('vmrescue.azure.key_latch_status', *terms, **opts)"
        return {
            'name': cid,
            'ansible.builtin.debug': {'msg': '{{ %s }}' % call},
            'vars': {'terms': terms, 'opts': args['opts']},
            'register': reg,
            'ignore_errors': True,
        }
    return {'name': cid, 'vmrescue.azure.%s' % plugin: args, 'register': reg, 'ignore_errors': True}


def _collect(cases, out_path):
    body = ', '.join('"%s": {{ case_%03d | default({}) | to_json }}' % (c[0], i) for i, c in enumerate(cases))
    return {
        'name': 'write every registered result',
        'ansible.builtin.copy': {'content': '{ ' + body + ' }', 'dest': out_path},
        'no_log': False,
    }


def _check(cases, results, run_text, sim):
    problems = []
    for cid, _plugin, _args, words in cases:
        res = results.get(cid) or {}
        msg = str(res.get('msg', ''))
        if not res.get('failed'):
            problems.append('%s: not refused: %s' % (cid, json.dumps(res)[:300]))
        # whitespace-insensitive too: ansible-core < 2.19 wraps warnings at 79 columns, also at hyphens
        missing = [w for w in words if w not in msg and ''.join(w.split()) not in ''.join(msg.split())]
        if missing:
            problems.append('%s: message lacks %r: %s' % (cid, missing, msg[:400]))
        if 'invocation' in res and any(s in json.dumps(res) for s in _secrets(sim)):
            problems.append('%s: a secret is in the returned invocation' % cid)
    blob = run_text + json.dumps(results) + json.dumps(sim.control.requests())
    leaks = [s[:6] + '...' for s in _secrets(sim) if s in blob or ''.join(s.split()) in ''.join(blob.split())]
    if leaks:
        problems.append('secrets found in the output or the request log: %s' % leaks)
    counters = sim.control.counters()
    if counters.get('write'):
        problems.append('the simulator counted %d write(s): %s' % (counters['write'], counters.get('by_route')))
    return problems


@pytest.mark.parametrize('group', sorted(MODULE_GROUPS))
def test_bad_input_module_and_lookup_cases(group, sim, sim_env, files, tmp_path):
    cases = MODULE_GROUPS[group]
    out = str(tmp_path / 'results.json')
    play = {
        'name': 'bad input: %s' % group,
        'hosts': 'localhost',
        'connection': 'local',
        'gather_facts': False,
        'vars': _play_vars(sim, files),
        'tasks': [_task(i, c) for i, c in enumerate(cases)] + [_collect(cases, out)],
    }
    sim.control.reset_counters()
    run = run_playbook([play], sim_env, args=['-vvvv'])
    assert os.path.exists(out), run.text[-6000:]
    with open(out) as fh:
        results = json.load(fh)
    problems = _check(cases, results, run.text, sim)
    assert not problems, '\n'.join(problems)


def test_bad_input_role_cases(sim, sim_env, files, tmp_path):
    out = str(tmp_path / 'results.json')
    hosts = {'lin-ok': sim.vm_id('rg-linux', 'lin-ok'), 'win-ok': sim.vm_id('rg-windows', 'win-ok')}
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(
        yaml.safe_dump(
            {
                'all': {
                    'hosts': dict(
                        (
                            h,
                            {
                                'azure_vm_id': vid,
                                'ansible_connection': 'local',
                                'os_profile': {'system': 'windows' if h.startswith('win') else 'linux'},
                            },
                        )
                        for h, vid in hosts.items()
                    )
                }
            }
        )
    )
    plays = []
    for host in ('lin-ok', 'win-ok'):  # one play per host: a role's run_once batch then sees only that host
        tasks = []
        for i, (cid, plugin, args, _w) in enumerate(ROLE_CASES):
            role = plugin.split(':', 1)[1]
            if (host == 'win-ok') != role.startswith('windows'):
                continue
            tasks.append(
                {
                    'name': cid,
                    'block': [{'ansible.builtin.include_role': {'name': 'vmrescue.azure.%s' % role}, 'vars': args}],
                    'rescue': [{'ansible.builtin.set_fact': {'case_%03d' % i: '{{ ansible_failed_result }}'}}],
                }
            )
        plays.append(
            {
                'name': 'bad input: roles on %s' % host,
                'hosts': host,
                'gather_facts': False,
                'vars': _play_vars(sim, files),
                'tasks': tasks,
            }
        )
    collect = _collect(ROLE_CASES, out)
    collect['vars'] = {
        ('case_%03d' % i): "{{ hostvars[%r]['case_%03d'] | default({}) }}"
        % ('win-ok' if c[1].endswith('windows_access_recovery') else 'lin-ok', i)
        for i, c in enumerate(ROLE_CASES)
    }
    plays.append({'name': 'collect', 'hosts': 'lin-ok', 'gather_facts': False, 'tasks': [collect]})
    sim.control.reset_counters()
    run = run_playbook(plays, sim_env, inventory=str(inventory))
    assert os.path.exists(out), run.text[-6000:]
    with open(out) as fh:
        results = json.load(fh)
    problems = _check(ROLE_CASES, results, run.text, sim)
    assert not problems, '\n'.join(problems) + run.text[-8000:]


def test_bad_input_inventory_cases(sim, sim_env, files, tmp_path):
    variables = _play_vars(sim, files)
    sources = []
    for cid, _plugin, args, _w in INVENTORY_CASES:
        config = {'plugin': 'vmrescue.azure.vms'}
        for k, v in args.items():  # the inventory source is a file: the known values are written in, as a user would
            config[k] = variables[v[3:-3].strip()] if isinstance(v, str) and v.startswith('{{') else v
        path = tmp_path / ('%s.vms.yml' % cid)
        path.write_text(yaml.safe_dump(config))
        sources += ['-i', str(path)]
    sim.control.reset_counters()
    env = _env(sim_env)
    env['ANSIBLE_INVENTORY_ENABLED'] = 'vmrescue.azure.vms'
    proc = subprocess.run(
        [os.path.join(VENV_BIN, 'ansible-inventory'), '--list', '-vvvv'] + sources,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
    )
    text = proc.stdout + proc.stderr
    # ansible-core reports each failed source as a warning block "Failed to parse inventory with ... plugin: <msg>"
    # that names the source file (in the collection's message, and in ansible-core's "Origin" line)
    flat = ' '.join(text.split())
    blocks = flat.split('Failed to parse')  # 2.19: 'Failed to parse inventory with'; 2.16: 'Failed to parse <path>'
    results = {}
    for cid, _plugin, _args, _w in INVENTORY_CASES:
        mine = [b for b in blocks[1:] if '/%s.vms.yml' % cid in ''.join(b.split())]
        results[cid] = {'failed': bool(mine), 'msg': ' '.join(mine)[:1500]}
    problems = _check(INVENTORY_CASES, results, text, sim)
    assert not problems, '\n'.join(problems) + '\n' + text[-3000:]


@pytest.mark.parametrize(
    'args',
    [
        {'username': 'rescue', 'ssh_key': T.PRIVATE_KEY},
        {'username': 'rescue', 'password': ['a', T.PASSWORD]},
    ],
    ids=['private-key', 'password-list'],
)
def test_bad_input_ad_hoc_at_vvvv_shows_no_secret(args, sim, sim_env):
    """An ad-hoc run (ansible-core shows an ad-hoc task's args on some failures): refused, nothing echoed."""
    from ansible_runner import run_adhoc

    sim.control.reset_counters()
    run = run_adhoc(
        'localhost',
        'vmrescue.azure.vmaccess_linux',
        dict(args, vm_id=sim.vm_id('rg-linux', 'lin-ok')),
        sim_env,
        args=['-vvvv', '-c', 'local'],
    )
    assert run.rc != 0 and ('PRIVATE key' in run.text or 'password must be a string' in run.text), run
    assert not [s for s in _secrets(sim) if run.reveals(s)]
    assert not sim.control.counters().get('write')
