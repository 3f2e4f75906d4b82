# SPDX-License-Identifier: GPL-3.0-or-later
"""vmrescue.azure.run_command through real ansible-playbook and ansible runs against the ARM simulator.

A script on VMs and a Uniform instance, Linux and Windows, with exit codes and output per host; the second run
makes no write; a changed parameter runs again; force runs again; a target whose run is still going ends pending
(not failed); an agent without managed Run Command falls back to the action form (no exit code on Linux).
"""

import json

import pytest
import yaml

from ansible_runner import fleet_on_test_principals, run_adhoc, run_playbook, write_inventory

MODULE = 'vmrescue.azure.run_command'

pytestmark = pytest.mark.usefixtures('sim_ca_bundle')


@pytest.fixture
def fast(sim):
    sim.control.config(script_time_scale=0.01)
    return sim


def play(sim_env, tasks, hosts='localhost', **kw):
    return run_playbook([{'hosts': hosts, 'gather_facts': False, 'tasks': tasks}], sim_env, **kw)


def one(sim, sim_env, **args):
    """One task on localhost: (result, writes during the run)."""
    before = sim.control.counters()['write']
    res = play(sim_env, [{'name': 'run', MODULE: args, 'register': 'r'}])
    return res.result(task=0), sim.control.counters()['write'] - before


def runs(sim, vm_id, name='vmrescue-run-command'):
    return sim.control.vm(vm_id)['run_commands'][name]['runs']


def fleet_hosts(sim):
    return {
        'lin': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-ok'), 'script': 'echo linux $who\nexit 0'},
        'inst': {'azure_vm_id': sim.instance_id('rg-vmss', 'ss-uniform', 0), 'script': 'echo bad >&2\nexit 3'},
        'win': {
            'azure_vm_id': sim.vm_id('rg-windows', 'win-ok'),
            'script': 'param($who)\nWrite-Output "windows $who"\nexit 0',
        },
    }


def test_script_on_a_mixed_fleet_then_no_write_then_changed_parameter(fast, sim, sim_env, tmp_path):
    inventory = write_inventory(tmp_path, fleet_hosts(sim))
    task = {
        'name': 'run',
        MODULE: {'script': '{{ script }}', 'parameters': {'who': '{{ who }}'}},
        'register': 'r',
        'ignore_errors': True,
    }
    before = sim.control.counters()['write']
    res = play(sim_env, [task], hosts='all', inventory=inventory, extra_vars={'who': 'fleet'})
    hosts = res.host_results(task=0)
    assert hosts['lin']['exit_code'] == 0 and hosts['lin']['stdout'] == 'linux fleet\n', hosts['lin']
    assert hosts['lin']['changed'] and hosts['lin']['form'] == 'managed'
    assert hosts['lin']['outcome']['status'] == 'done'
    assert hosts['win']['exit_code'] == 0 and hosts['win']['stdout'] == 'windows fleet\n', hosts['win']
    assert hosts['inst']['failed'] and hosts['inst']['exit_code'] == 3 and hosts['inst']['stderr'] == 'bad\n'
    assert hosts['inst']['outcome']['reason_code'] == 'script_failed'
    assert 'exit code 3' in hosts['inst']['msg']
    assert sim.control.counters()['write'] - before == 3

    before = sim.control.counters()['write']
    again = play(sim_env, [task], hosts='all', inventory=inventory, extra_vars={'who': 'fleet'}).host_results(task=0)
    assert again['lin']['changed'] is False and again['lin']['outcome']['status'] == 'unchanged'
    assert again['lin']['stdout'] == 'linux fleet\n'
    assert again['win']['changed'] is False
    # the instance failed last time: it runs again (a new configuration through the nonce line)
    assert again['inst']['failed'] and runs(sim, sim.instance_id('rg-vmss', 'ss-uniform', 0)) == 2
    assert sim.control.counters()['write'] - before == 1

    changed = play(sim_env, [task], hosts='all', inventory=inventory, extra_vars={'who': 'other'}).host_results(task=0)
    assert changed['lin']['changed'] and changed['lin']['stdout'] == 'linux other\n'
    assert runs(sim, sim.vm_id('rg-linux', 'lin-ok')) == 2


def test_force_runs_again_with_a_new_configuration(fast, sim, sim_env):
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    r, writes = one(sim, sim_env, vm_id=vm_id, script='echo once')
    assert r['changed'] and writes == 1
    r, writes = one(sim, sim_env, vm_id=vm_id, script='echo once')
    assert not r['changed'] and writes == 0 and runs(sim, vm_id) == 1
    r, writes = one(sim, sim_env, vm_id=vm_id, script='echo once', force=True)
    assert r['changed'] and writes == 1 and r['stdout'] == 'once\n'
    assert runs(sim, vm_id) == 2
    model = sim.control.vm(vm_id)['run_commands']['vmrescue-run-command']
    assert model['tags']['vmrescue-run-command'].startswith('vmrescue1$')


def test_a_run_still_going_ends_pending_never_failed(sim, sim_env):
    sim.control.config(script_time_scale=1.0)
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    args = {'vm_id': vm_id, 'script': 'sleep 300\necho late', 'wait_timeout': 1}
    res = run_adhoc('localhost', MODULE, args, sim_env)
    r = res.result(task=0)
    assert not r.get('failed'), r
    assert r['outcome'] == {'status': 'pending', 'reason_code': 'in_progress', 'reason': r['msg']}
    before = sim.control.counters()['write']
    again = run_adhoc('localhost', MODULE, dict(args, force=True), sim_env).result(task=0)
    assert not again.get('failed') and again['outcome']['reason_code'] == 'in_progress'
    assert again['running_command'] == 'vmrescue-run-command' and 'state: absent' in again['msg']
    assert sim.control.counters()['write'] == before  # no write, no retry loop
    gone = run_adhoc('localhost', MODULE, {'vm_id': vm_id, 'state': 'absent'}, sim_env).result(task=0)
    assert gone['changed'] and gone['outcome']['status'] == 'done'


def test_falls_back_to_the_action_form_without_managed_run_command(fast, sim, sim_env):
    sim.control.reset(
        fleet_on_test_principals(
            [{'name': 'rg-old', 'location': 'westeurope', 'vms': [{'name': 'old-agent', 'run_command_managed': False}]}]
        )
    )
    sim.control.config(script_time_scale=0.01)
    r, _writes = one(sim, sim_env, vm_id=sim.vm_id('rg-old', 'old-agent'), script='echo via action\nexit 4')
    assert not r.get('failed'), r  # the Linux action form reports no exit code
    assert r['form'] == 'action' and r['exit_code'] is None and r['stdout'] == 'via action\n'
    assert 'RunCommandHandlerLinux' in r['fallback_reason']
    assert any('no exit code' in w for w in r.get('warnings', []))


def test_check_mode_and_skips(fast, sim, sim_env):
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    before = sim.control.counters()['write']
    res = run_adhoc('localhost', MODULE, {'vm_id': vm_id, 'script': 'echo'}, sim_env, check=True).result(task=0)
    assert res['changed'] and res['outcome']['reason_code'] == 'check_mode'
    stopped = run_adhoc(
        'localhost', MODULE, {'vm_id': sim.vm_id('rg-linux', 'lin-stopped'), 'script': 'echo'}, sim_env
    ).result(task=0)
    assert stopped['outcome'] == {'status': 'skipped', 'reason_code': 'not_running', 'reason': stopped['msg']}
    assert sim.control.counters()['write'] == before


def test_batch_targets_and_secret_never_shown(fast, sim, sim_env):
    secret = 'Run-Cmd-Protected-9931'
    targets = [sim.vm_id('rg-linux', 'lin-ok'), sim.vm_id('rg-linux', 'lin-audit')]
    args = {
        'targets': targets,
        'script': 'echo $token >&2\necho ok',
        'protected_parameters': {'token': secret},
        'run_as_password': secret + '-pw',
        # a blob of the simulator's storage (read back after the run) whose SAS carries the secret too
        'output_blob_uri': sim.control.blob_sas('out', 'run.txt') + '&vmrescue=' + secret + 'SAS',
    }
    res = run_adhoc('localhost', MODULE, args, sim_env, args=('-vvv',))
    r = res.result(task=0)
    assert [x['stdout'] for x in r['results']] == ['ok\n', 'ok\n'], r
    assert all(x['stdout_full'] in ('ok\n', 'ok\nok\n') for x in r['results']), r  # one append blob for both
    for value in (secret, secret + '-pw', secret + 'SAS'):
        assert not res.reveals(value)
    assert secret not in json.dumps(sim.control.requests())
    assert yaml.safe_dump(r).count(secret) == 0


def test_a_failing_script_that_prints_a_protected_value_is_scrubbed(fast, sim, sim_env):
    secret = 'Printed-Secret-Value-5521'
    args = {
        'vm_id': sim.vm_id('rg-linux', 'lin-ok'),
        'script': 'echo $token >&2\nexit 1',
        'protected_parameters': {'token': secret},
    }
    res = run_adhoc('localhost', MODULE, args, sim_env, args=('-vvv',))
    r = res.result(task=0)
    assert r['failed'] and r['outcome']['reason_code'] == 'script_failed', r
    assert not res.reveals(secret)
    assert '********' in r['msg'] or 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in r['msg']


def test_whole_output_from_the_blobs(fast, sim, sim_env):
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    out, err = sim.control.blob_sas('logs', 'run1/out.txt'), sim.control.blob_sas('logs', 'run1/err.txt')
    script = 'echo first\n# armsim: output 10000\necho oops >&2\necho last'
    args = {'vm_id': vm_id, 'script': script, 'output_blob_uri': out, 'error_blob_uri': err}
    res = run_adhoc('localhost', MODULE, args, sim_env, args=('-vvv',))
    r = res.result(task=0)
    assert len(r['stdout'].encode()) == 4096 and 'first' not in r['stdout']  # Azure's tail
    assert r['stdout_full'].startswith('first\n') and r['stdout_full'].endswith('last\n')
    assert r['stdout_size'] == len(r['stdout_full'].encode()) > 10000 and r['stderr_full'] == 'oops\n'
    assert r['output_truncated'] is False  # everything is in stdout_full
    sas = out.split('?', 1)[1]
    assert not res.reveals(sas) and not res.reveals(err.split('?', 1)[1])
    reads = [e for e in sim.control.requests() if e['route'] == 'storage.blob.get']
    assert len(reads) == 2 and all(e['path'].endswith('?<SAS redacted>') for e in reads)

    capped = run_adhoc('localhost', MODULE, dict(args, max_output_bytes=1000, force=True), sim_env).result(task=0)
    assert len(capped['stdout_full'].encode()) == 1000 and capped['stdout_full'].startswith('first\n')
    assert capped['output_truncated'] is True and capped['stdout_size'] > 20000  # the append blob holds both runs


def test_an_unreadable_blob_is_a_warning_without_its_sas(fast, sim, sim_env):
    vm_id = sim.vm_id('rg-linux', 'lin-ok')
    expired = sim.control.blob_sas('logs', 'late.txt', expires_in=-60)
    res = run_adhoc('localhost', MODULE, {'vm_id': vm_id, 'script': 'echo hi', 'output_blob_uri': expired}, sim_env)
    r = res.result(task=0)
    assert not r.get('failed') and r['stdout'] == 'hi\n' and 'stdout_full' not in r, r
    assert any('AuthenticationFailed (403)' in w and '/logs/late.txt' in w for w in r['warnings']), r
    assert not res.reveals(expired.split('?', 1)[1])


def test_a_relative_script_file_is_found_like_a_files_lookup(fast, sim, sim_env, tmp_path):
    # the playbook's files/ folder, not the worker's current directory (plugin_utils/_controller.py FILE_OPTION)
    (tmp_path / 'files').mkdir()
    (tmp_path / 'files' / 'hello.sh').write_text('echo from the files folder\n')
    playbook = tmp_path / 'play.yml'
    task = {'name': 'run', MODULE: {'vm_id': sim.vm_id('rg-linux', 'lin-ok'), 'script_file': 'hello.sh'}}
    playbook.write_text(yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]))
    r = run_playbook(str(playbook), sim_env).result(task=0)
    assert r['stdout'] == 'from the files folder\n' and r['invocation']['module_args']['script_file'] == str(
        tmp_path / 'files' / 'hello.sh'
    ), r
