"""Run Command in the simulator (armsim/runcommand.py): managed run commands and the runCommand action; each rule
with a test that fails without it, and the bodies checked against runCommand.json (2024-11-01)."""

import json
import os

import pytest
import yaml

import specconf
from simarm import wait_for

SECRET = 'pr0tected-S3cret-value'
TEST_FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'test.yaml')


def body(script='echo hello', **props):
    props.setdefault('source', {'script': script})
    return {'location': 'westeurope', 'properties': props}


def view(arm, path):
    return arm.get(path, query={'$expand': 'instanceView'}).json()


def finished(arm, path):
    def done():
        got = view(arm, path)
        state = got['properties'].get('instanceView', {}).get('executionState')
        return got if state not in (None, 'Pending', 'Running') else None

    return wait_for(done, timeout=10)


@pytest.fixture
def fast(sim):
    sim.control.config(script_time_scale=0.01)
    return sim


def rc_path(arm, name='hello', rg='rg-linux', vm='lin-ok'):
    return arm.vm(rg, vm) + '/runCommands/' + name


def runs(sim, rg, vm, name):
    return sim.control.vm(sim.vm_id(rg, vm))['run_commands'][name]['runs']


def test_managed_run_exit_code_and_output(fast, arm):
    path = rc_path(arm)
    sent = body('echo hi $who\necho oops >&2\nexit 3', parameters=[{'name': 'who', 'value': 'bob'}])
    assert specconf.errors(sent, specconf.VM_RUN_COMMAND_PATH, 'put', swagger=specconf.RUN_COMMAND_SWAGGER) == []
    resp = arm.put(path, sent)
    assert resp.status_code == 201
    assert specconf.errors(resp.json(), specconf.VM_RUN_COMMAND_PATH, 'put', '201', specconf.RUN_COMMAND_SWAGGER) == []
    assert resp.json()['properties']['provisioningState'] == 'Creating'
    assert arm.wait(resp)['status'] == 'Succeeded'  # the script failed; the deployment did not (no treatFailure...)
    got = finished(arm, path)
    assert specconf.errors(got, specconf.VM_RUN_COMMAND_PATH, 'get', '200', specconf.RUN_COMMAND_SWAGGER) == []
    iv = got['properties']['instanceView']
    assert (iv['executionState'], iv['exitCode'], iv['output'], iv['error']) == ('Failed', 3, 'hi bob\n', 'oops\n')
    assert iv['startTime'] and iv['endTime']
    assert 'instanceView' not in arm.get(path).json()['properties']


def test_scale_set_instance_form_and_list_and_delete(fast, arm):
    base = arm.instance('rg-vmss', 'ss-uniform', '1')
    path = base + '/runCommands/one'
    resp = arm.put(path, body('echo instance'))
    assert (
        specconf.errors(resp.json(), specconf.INSTANCE_RUN_COMMAND_PATH, 'put', '201', specconf.RUN_COMMAND_SWAGGER)
        == []
    )
    arm.wait(resp)
    assert finished(arm, path)['properties']['instanceView']['output'] == 'instance\n'
    listed = arm.get(base + '/runCommands', query={'$expand': 'instanceView'}).json()['value']
    assert [r['name'] for r in listed] == ['one'] and listed[0]['properties']['instanceView']['exitCode'] == 0
    gone = arm.delete(path)
    assert gone.status_code == 202
    arm.wait(gone)
    assert arm.get(path).status_code == 404


def test_protected_values_never_returned_nor_logged(fast, arm, sim):
    path = rc_path(arm, 'secret')
    sent = body('echo ok', protectedParameters=[{'name': 'token', 'value': SECRET}], runAsPassword=SECRET)
    resp = arm.put(path, sent)
    arm.wait(resp)
    got = finished(arm, path)
    for text in (resp.text, json.dumps(got), arm.get(rc_path(arm, '')[:-1]).text):
        assert SECRET not in text and 'protectedParameters' not in text and 'runAsPassword' not in text
    assert got['properties']['instanceView']['output'] == 'ok\n'
    logged = json.dumps(sim.control.requests())
    assert SECRET not in logged and '"name": "token"' in logged


def test_identical_put_does_not_run_again_a_changed_one_does(fast, arm, sim):
    path = rc_path(arm, 'once')
    arm.wait(arm.put(path, body('echo a', parameters=[{'name': 'x', 'value': '1'}])))
    finished(arm, path)
    again = arm.put(path, dict(body('echo a', parameters=[{'name': 'x', 'value': '1'}]), tags={'t': 'new'}))
    assert again.status_code == 200
    arm.wait(again)
    assert runs(sim, 'rg-linux', 'lin-ok', 'once') == 1  # azure-sdk-for-net #47307 (a tag is not configuration)
    arm.wait(arm.put(path, body('echo a', parameters=[{'name': 'x', 'value': '2'}])))
    finished(arm, path)
    assert runs(sim, 'rg-linux', 'lin-ok', 'once') == 2
    arm.wait(arm.put(path, body('echo a', parameters=[{'name': 'x', 'value': '2'}], protectedParameters=[
        {'name': 'p', 'value': 'v'}])))  # fmt: skip
    finished(arm, path)
    assert runs(sim, 'rg-linux', 'lin-ok', 'once') == 3


def test_output_is_the_last_4_kb_and_the_blob_has_all(fast, arm, sim):
    path = rc_path(arm, 'big')
    uri = 'https://acct.blob.core.windows.net/out/big.txt?sv=2024&sig=SAS-SECRET'
    arm.wait(arm.put(path, body('echo first\n# armsim: output 10000\necho last', outputBlobUri=uri)))
    iv = finished(arm, path)['properties']['instanceView']
    assert len(iv['output'].encode()) == 4096 and iv['output'].endswith('last\n') and 'first' not in iv['output']
    blob = sim.control._call('GET', '/blobs')['https://acct.blob.core.windows.net/out/big.txt']
    assert blob.startswith('first\n') and len(blob) > 10000
    assert 'SAS-SECRET' not in json.dumps(sim.control.requests())


def test_timeout_kills_the_script(fast, arm):
    path = rc_path(arm, 'slow')
    arm.wait(arm.put(path, body('echo start\nsleep 100\necho never', timeoutInSeconds=5)))
    iv = finished(arm, path)['properties']['instanceView']
    assert (iv['executionState'], iv['exitCode']) == ('TimedOut', -1)


def test_running_then_final_states_and_async_execution(sim, arm):
    sim.control.config(script_time_scale=0.5)
    path = rc_path(arm, 'async')
    resp = arm.put(path, body('sleep 4\necho done', asyncExecution=True))
    assert arm.wait(resp)['status'] == 'Succeeded'  # provisioning completes as the script starts
    assert view(arm, path)['properties']['instanceView']['executionState'] == 'Running'
    assert finished(arm, path)['properties']['instanceView']['executionState'] == 'Succeeded'


def test_treat_failure_as_deployment_failure(fast, arm):
    path = rc_path(arm, 'strict')
    status = arm.wait(arm.put(path, body('exit 2', treatFailureAsDeploymentFailure=True)))
    assert status['status'] == 'Failed'
    got = finished(arm, path)
    assert got['properties']['provisioningState'] == 'Failed'
    assert got['properties']['instanceView']['exitCode'] == 2


def test_source_conflict_and_missing(arm):
    resp = arm.put(rc_path(arm, 'bad'), body(source={'commandId': 'RunShellScript', 'script': 'echo'}))
    assert resp.status_code == 400
    assert resp.json()['error']['code'] == 'InvalidParameterConflictingProperties'
    assert arm.put(rc_path(arm, 'bad'), body(source={})).status_code == 400


@pytest.mark.parametrize(
    'setup, code',
    [
        (lambda sim: sim.control.set_power(sim.vm_id('rg-linux', 'lin-ok'), 'stopped'), 'OperationNotAllowed'),
        (lambda sim: sim.control.reset(_fleet_with(allow_extension_operations=False)), 'OperationNotAllowed'),
    ],
)
def test_refused_when_not_running_or_extensions_disallowed(sim, arm, setup, code):
    setup(sim)
    resp = arm.put(rc_path(arm, 'x'), body())
    assert resp.status_code == 409 and resp.json()['error']['code'] == code
    action = arm.post(arm.vm('rg-linux', 'lin-ok') + '/runCommand', {'commandId': 'RunShellScript', 'script': ['x']})
    assert action.status_code == 409


def _fleet_with(**vm_keys):
    """The test fleet with ``vm_keys`` on lin-ok."""
    with open(TEST_FLEET, encoding='utf-8') as fh:
        fleet = yaml.safe_load(fh)
    lin_ok = next(v for v in fleet['resource_groups'][0]['vms'] if v['name'] == 'lin-ok')
    lin_ok.update(vm_keys)
    return fleet


def test_agent_not_ready_never_reports(sim, arm):
    sim.control.config(agent_timeout_seconds=0.5)
    sim.control.set_vm_agent(sim.vm_id('rg-linux', 'lin-ok'), False)
    path = rc_path(arm, 'stuck')
    resp = arm.put(path, body())
    assert resp.status_code == 201
    status = arm.wait(resp)
    assert status['status'] == 'Failed' and status['error']['code'] == 'VMAgentStatusCommunicationError'
    assert view(arm, path)['properties']['instanceView']['executionState'] == 'Pending'


def test_managed_form_unavailable_on_an_old_agent(sim, arm):
    sim.control.reset(_fleet_with(run_command_managed=False))
    path = rc_path(arm, 'new')
    status = arm.wait(arm.put(path, body()))
    assert status['status'] == 'Failed' and 'RunCommandHandlerLinux' in status['error']['message']
    assert view(arm, path)['properties']['instanceView']['executionState'] == 'Unknown'
    action = arm.post(arm.vm('rg-linux', 'lin-ok') + '/runCommand', {'commandId': 'RunShellScript', 'script': ['echo']})
    assert action.status_code == 202  # the action form still works


def test_action_linux_output_has_no_exit_code_and_one_at_a_time(sim, arm):
    sim.control.config(script_time_scale=0.05)
    url = arm.vm('rg-linux', 'lin-ok') + '/runCommand'
    sent = {'commandId': 'RunShellScript', 'script': ['echo $1 $2', 'sleep 20', 'exit 123'],
            'parameters': [{'name': 'a', 'value': 'hello'}, {'name': 'b', 'value': 'world'}]}  # fmt: skip
    assert (
        specconf.errors(sent, specconf.VM_RUN_COMMAND_ACTION_PATH, 'post', swagger=specconf.RUN_COMMAND_SWAGGER) == []
    )
    first = arm.post(url, sent)
    assert first.status_code == 202 and first.headers['Location']
    second = arm.post(url, {'commandId': 'RunShellScript', 'script': ['echo x']})
    assert second.status_code == 409
    assert second.json()['error'] == {'code': 'Conflict', 'message': (
        'Run command extension execution is in progress. Please wait for completion before invoking a run command.')}  # fmt: skip
    assert arm.wait(first)['status'] == 'Succeeded'  # exit 123 is not a failure of the action (azure-cli #14425)
    result = arm.get(first.headers['Location'], api=None).json()
    assert (
        specconf.errors(result, specconf.VM_RUN_COMMAND_ACTION_PATH, 'post', '200', specconf.RUN_COMMAND_SWAGGER) == []
    )
    assert result == {'value': [{'code': 'ProvisioningState/succeeded', 'level': 'Info',
                                 'displayStatus': 'Provisioning succeeded',
                                 'message': 'Enable succeeded: \n[stdout]\nhello world\n\n[stderr]\n'}]}  # fmt: skip
    assert arm.post(url, {'commandId': 'RunShellScript', 'script': ['echo x']}).status_code == 202


def test_action_windows_streams_and_wrong_command(fast, arm):
    url = arm.vm('rg-windows', 'win-ok') + '/runCommand'
    assert arm.post(url, {'commandId': 'RunShellScript', 'script': ['echo']}).status_code == 404
    resp = arm.post(url, {'commandId': 'RunPowerShellScript', 'script': ['Write-Output hi', 'Write-Error bad']})
    arm.wait(resp)
    codes = [(s['code'], s['message']) for s in arm.get(resp.headers['Location'], api=None).json()['value']]
    assert codes == [('ComponentStatus/StdOut/succeeded', 'hi\n'), ('ComponentStatus/StdErr/succeeded', 'bad\n')]


def test_managed_run_on_windows_with_named_parameters(fast, arm):
    path = rc_path(arm, 'win', 'rg-windows', 'win-ok')
    arm.wait(
        arm.put(path, body('param($name)\nWrite-Output "hello $name"', parameters=[{'name': 'name', 'value': 'x'}]))
    )
    assert finished(arm, path)['properties']['instanceView']['output'] == 'hello x\n'
