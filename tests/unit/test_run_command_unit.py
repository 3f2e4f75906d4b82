"""run_command's pure parts: validation, the request bodies (checked against runCommand.json 2024-11-01), the
canonical request, reading Azure's answers, outcomes, the preflight plan and the secrets the runner scrubs."""

import json
import os
import sys

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _fingerprint
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import scrub_obj, secret_values
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import run_command_write
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command import request as rq, results
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.engine import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'sim'))
import specconf  # noqa: E402

VM = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1'


def params(**kw):
    out = dict((k, v.get('default')) for k, v in rq.ARGUMENT_SPEC.items())
    out.update(kw)
    return out


def test_spec_shape():
    spec = task_spec()
    assert spec.name == 'vmrescue.azure.run_command' and spec.steps is not None
    for secret in ('protected_parameters', 'run_as_password', 'output_blob_uri', 'error_blob_uri'):
        assert rq.ARGUMENT_SPEC[secret]['no_log'] is True


@pytest.mark.parametrize(
    'kw, words',
    [
        ({}, 'one of script, script_file or command_id is required'),
        ({'script': ' '}, 'script is empty'),
        ({'script': 'x', 'parameters': {'a b': '1'}}, 'not a valid parameter name'),
        ({'script': 'x', 'parameters': {'a': '1'}, 'protected_parameters': {'A': '2'}}, 'given twice'),
        ({'script': 'x', 'script_timeout': 0}, 'script_timeout'),
        ({'script': 'x', 'run_command_name': '-x'}, 'run_command_name'),
        ({'script': 'x', 'state': 'absent'}, 'state=absent'),
        ({'script': 'x', 'output_blob_uri': 'ftp://x'}, 'https://'),
        ({'script_file': '/nonexistent/x.sh'}, 'cannot be read'),
    ],
)
def test_validate_refuses(kw, words):
    with pytest.raises(TaskError) as err:
        rq.validate(params(**kw))
    assert words in err.value.msg and err.value.reason_code == 'invalid_input'


def test_script_file_is_read(tmp_path):
    path = tmp_path / 'fix.sh'
    path.write_text('echo fixed\n')
    assert rq.validate(params(script_file=str(path))) == []
    assert rq.script_text(params(script_file=str(path))) == 'echo fixed\n'


def test_managed_body_conforms_and_carries_no_secret_in_the_tag():
    p = params(
        script='echo $who',
        parameters={'who': 'me', 'n': 3, 'flag': True},
        protected_parameters={'token': 's3cret'},
        run_as_user='ops',
        run_as_password='pw',
        script_timeout=60,
        output_blob_uri='https://a.blob.core.windows.net/c/o?sig=x',
    )
    tag = _fingerprint.fingerprint(rq.canonical(p, 'echo $who'))
    body = rq.managed_body(p, 'echo $who', 'westeurope', tag)
    swagger = specconf.RUN_COMMAND_SWAGGER
    assert specconf.errors(body, specconf.VM_RUN_COMMAND_PATH, 'put', swagger=swagger) == []
    assert specconf.unknown_fields(body, specconf.VM_RUN_COMMAND_PATH, 'put', swagger=swagger) == []
    assert body['properties']['parameters'] == [
        {'name': 'who', 'value': 'me'},
        {'name': 'n', 'value': '3'},
        {'name': 'flag', 'value': 'true'},
    ]
    assert 's3cret' not in json.dumps(body['tags']) and body['tags'][rq.RECORD_TAG].startswith('vmrescue1$')
    assert _fingerprint.fingerprint_matches(tag, rq.canonical(p, 'echo $who'))
    changed = dict(p, protected_parameters={'token': 'other'})
    assert not _fingerprint.fingerprint_matches(tag, rq.canonical(changed, 'echo $who'))
    new_sas = dict(p, output_blob_uri='https://a.blob.core.windows.net/c/o?sig=rotated')
    assert _fingerprint.fingerprint_matches(tag, rq.canonical(new_sas, 'echo $who'))  # a new SAS is the same blob


def test_nonce_is_a_last_comment_line_and_command_id_bodies():
    body = rq.managed_body(params(script='echo a'), 'echo a', 'westeurope', 't', nonce='abc')
    assert body['properties']['source']['script'] == 'echo a\n# vmrescue.azure run abc\n'
    body = rq.managed_body(params(command_id='ifconfig'), None, 'westeurope', 't')
    assert body['properties']['source'] == {'commandId': 'ifconfig'}
    action = rq.action_body(params(script='echo $1\nexit 0', parameters={'a': 'x'}), 'echo $1\nexit 0', 'Linux')
    assert action == {
        'commandId': 'RunShellScript',
        'script': ['echo $1', 'exit 0'],
        'parameters': [{'name': 'a', 'value': 'x'}],
    }
    swagger = specconf.RUN_COMMAND_SWAGGER
    assert specconf.errors(action, specconf.VM_RUN_COMMAND_ACTION_PATH, 'post', swagger=swagger) == []
    assert rq.action_body(params(script='x'), 'x', 'Windows')['commandId'] == 'RunPowerShellScript'


def test_managed_fields_and_truncation():
    resource = {
        'properties': {
            'provisioningState': 'Succeeded',
            'instanceView': {'executionState': 'Failed', 'exitCode': 2, 'output': 'x' * 4096, 'error': 'e'},
        }
    }
    fields = results.managed_fields(resource)
    assert fields['exit_code'] == 2 and fields['execution_state'] == 'Failed' and fields['output_truncated']
    failed = {'properties': {'provisioningState': 'Failed', 'instanceView': {'executionState': 'Unknown'}}}
    assert results.never_started(failed) and not results.never_started(resource)


def test_action_fields_linux_and_windows():
    linux = {
        'value': [
            {'code': 'ProvisioningState/succeeded', 'message': 'Enable succeeded: \n[stdout]\nhi\n\n[stderr]\nerr\n'}
        ]
    }
    fields = results.action_fields(linux, 'Linux')
    assert (fields['stdout'], fields['stderr'], fields['exit_code']) == ('hi\n', 'err\n', None)
    windows = {
        'value': [
            {'code': 'ComponentStatus/StdOut/succeeded', 'message': 'out'},
            {'code': 'ComponentStatus/StdErr/succeeded', 'message': 'bad'},
        ]
    }
    assert results.action_fields(windows, 'Windows')['stderr'] == 'bad'


@pytest.mark.parametrize(
    'result, check, status, code',
    [
        ({'changed': True, 'execution_state': 'Succeeded', 'exit_code': 0}, False, 'done', 'changed'),
        ({'changed': False, 'execution_state': 'Succeeded'}, False, 'unchanged', 'unchanged'),
        ({'changed': False, 'in_progress': True, 'msg': 'm'}, False, 'pending', 'in_progress'),
        ({'changed': True}, True, 'pending', 'check_mode'),
        ({'changed': True}, False, 'pending', 'not_waited'),
        ({'changed': True, 'state': 'absent'}, False, 'done', 'changed'),
    ],
)
def test_outcomes(result, check, status, code):
    result = dict(result, run_command_name='rc')
    got = results.result_outcome(result, check)
    assert (got['status'], got['reason_code']) == (status, code)


def test_secret_options_are_scrubbed_from_results():
    p = params(
        script='x',
        protected_parameters={'token': 'Tok-1234567', 'n': 98765},
        run_as_password='Pw-7654321',
        output_blob_uri='https://a.blob.core.windows.net/c/o?sv=1&sig=SasSig123',
    )
    secrets = secret_values(p)
    text = json.dumps(scrub_obj({'msg': 'Tok-1234567 Pw-7654321 98765', 'uri': 'see sv=1&sig=SasSig123'}, secrets))
    for value in ('Tok-1234567', 'Pw-7654321', '98765', 'SasSig123'):
        assert value not in text


def test_write_plan_probe_has_no_script_nor_parameter():
    plan = task_spec().preflight(params(script='echo TOPSECRET', parameters={'p': 'VALUE'}, run_as_user='ops'))
    target = parse_resource_id(VM)
    probe = plan.probe(target)
    assert probe['type'] == 'Microsoft.Compute/virtualMachines/runCommands'
    assert 'TOPSECRET' not in json.dumps(probe) and 'VALUE' not in json.dumps(probe)
    assert plan.actions(target) == ('Microsoft.Compute/virtualMachines/runCommands/write',)
    assert run_command_write('x', command_id='ifconfig').probe(target)['properties']['source'] == {
        'commandId': 'ifconfig'
    }
    absent = task_spec().preflight(params(state='absent'))
    assert absent.method == 'DELETE'
