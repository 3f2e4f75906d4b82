# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run_command task asks for, as data: options, validation, request bodies, fingerprint (private; no I/O
but reading ``script_file``).

Public names:

- ``ARGUMENT_SPEC``, ``MUTUALLY_EXCLUSIVE``: the module's own options; ``validate(params)`` (once per task);
  ``DEFAULT_MAX_OUTPUT`` / ``MAX_OUTPUT`` (what the controller reads of each output blob).
- ``script_text(params)``: the script (``script`` or the file ``script_file``), None for ``command_id``.
- ``canonical(params, script)``: the bytes the fingerprint covers (script, parameters, protected ones, run-as user
  and password, timeout, blob URIs without their SAS); the fingerprint itself is ``_fingerprint``'s.
- ``managed_body(params, script, location, tag, nonce=None)``: the ``VirtualMachineRunCommand`` PUT body;
  ``action_body(params, script, os_type)``: the ``RunCommandInput`` of the action form.
- ``RECORD_TAG`` (the run command's tag holding the fingerprint), ``NONCE_PREFIX``, ``new_nonce()``,
  ``DEFAULT_NAME``, ``ACTION_COMMANDS``.

Why a nonce: Azure does not run a run command again for an identical PUT (Azure/azure-sdk-for-net #47307: "running
CreateOrUpdateAsync again does not re-execute the command"), so a run that must run the same script again (``force``,
or the last run failed) changes the script itself: its last line becomes a comment ``# vmrescue.azure run <nonce>``,
which bash and PowerShell both ignore. A ``command_id`` has no script to change: that run deletes the run command
and creates it again (MicrosoftDocs/azure-compute-docs PR #178 reports that this does not run it again on Linux,
a bug Microsoft said it would fix; the result then says the script did not run).
"""

from __future__ import annotations

import json
import os
import re
import secrets

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError

RECORD_TAG = 'vmrescue-run-command'
NONCE_PREFIX = '# vmrescue.azure run '
DEFAULT_NAME = 'vmrescue-run-command'
ACTION_COMMANDS = {'Linux': 'RunShellScript', 'Windows': 'RunPowerShellScript'}
DEFAULT_MAX_OUTPUT = 1024 * 1024  # what the controller reads of each output blob by default
MAX_OUTPUT = 64 * 1024 * 1024  # [inferred] a ceiling for what a result holds in memory and prints
MAX_SCRIPT_BYTES = 256 * 1024  # [inferred] a sane ceiling for an inline script sent in a request body
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$')
PARAM_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,127}$')

ARGUMENT_SPEC = dict(
    state=dict(type='str', default='present', choices=['present', 'absent']),
    script=dict(type='str'),
    script_file=dict(type='path'),
    command_id=dict(type='str'),
    parameters=dict(type='dict'),
    protected_parameters=dict(type='dict', no_log=True),
    run_as_user=dict(type='str'),
    run_as_password=dict(type='str', no_log=True),
    script_timeout=dict(type='int'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=600),
    run_command_name=dict(type='str', default=DEFAULT_NAME),
    force=dict(type='bool', default=False),
    output_blob_uri=dict(type='str', no_log=True),
    error_blob_uri=dict(type='str', no_log=True),
    max_output_bytes=dict(type='int', default=DEFAULT_MAX_OUTPUT),
    script_reports_change=dict(type='bool', default=False),
    os_type=dict(type='str', choices=['linux', 'windows']),
)
MUTUALLY_EXCLUSIVE = [['script', 'script_file', 'command_id']]
SOURCE_OPTIONS = ('script', 'script_file', 'command_id')
PRESENT_ONLY = (
    'script',
    'script_file',
    'command_id',
    'parameters',
    'protected_parameters',
    'run_as_user',
    'run_as_password',
    'script_timeout',
    'output_blob_uri',
    'error_blob_uri',
)


def _bad(msg):
    return TaskError(msg, reason_code='invalid_input')


def _check_parameters(params):
    names = {}
    for option in ('parameters', 'protected_parameters'):
        for name, value in (params.get(option) or {}).items():
            if not PARAM_NAME.match(str(name)):
                raise _bad(
                    '%s: the name %r is not a valid parameter name (a letter or _ then letters, digits or _; the '
                    'script sees it as an environment variable on Linux and a parameter on Windows)' % (option, name)
                )
            if isinstance(value, (dict, list)) or value is None:
                raise _bad('%s: the value of %s must be a string, number or boolean' % (option, name))
            if name.lower() in names:
                raise _bad('%s: %s is given twice (also in %s)' % (option, name, names[name.lower()]))
            names[name.lower()] = option


def _check_blob(params, option):
    uri = params.get(option)
    if uri is not None and not str(uri).startswith('https://'):
        raise _bad(
            '%s must be an https:// URI of an append blob (a SAS URI, or one the VM identity can write)' % option
        )


def validate(params):
    """Refuse bad input before any call (``TaskSpec.validate``, once per task): a TaskError naming the option."""
    if params.get('state') == 'absent':
        given = [k for k in PRESENT_ONLY if params.get(k) is not None]
        if given:
            raise _bad('state=absent removes the run command; do not give %s with it' % ', '.join(given))
    elif not any(params.get(k) for k in SOURCE_OPTIONS):
        raise _bad('one of script, script_file or command_id is required (state=present)')
    if not NAME.match(str(params.get('run_command_name') or '')):
        raise _bad(
            'run_command_name %r is not valid: 1-80 letters, digits, _, . or -, starting with a letter or digit'
            % params.get('run_command_name')
        )
    _check_parameters(params)
    for option in ('output_blob_uri', 'error_blob_uri'):
        _check_blob(params, option)
    timeout = params.get('script_timeout')
    if timeout is not None and not 0 < timeout <= 86400:
        raise _bad('script_timeout must be between 1 and 86400 seconds (the script is stopped after it)')
    if not 0 <= (params.get('max_output_bytes') or 0) <= MAX_OUTPUT:
        raise _bad('max_output_bytes must be between 0 (do not read the blobs) and %d' % MAX_OUTPUT)
    if not 0 < (params.get('wait_timeout') or 0) <= 86400:
        raise _bad('wait_timeout must be between 1 and 86400 seconds')
    if params.get('script') is not None and not str(params['script']).strip():
        raise _bad('script is empty')
    if params.get('script_file'):
        script_text(params)
    return []


def script_text(params, max_bytes=MAX_SCRIPT_BYTES):
    """The script to run (``script``, or the content of ``script_file``, at most ``max_bytes``); None when
    ``command_id`` is given. The offline rescue reads its custom script with it too."""
    if params.get('script') is not None:
        return str(params['script'])
    path = params.get('script_file')
    if not path:
        return None
    try:
        if os.path.getsize(path) > max_bytes:
            raise _bad('script_file %s is larger than %d bytes' % (path, max_bytes))
        with open(path, encoding='utf-8') as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad('script_file %s cannot be read: %s' % (path, exc)) from None
    if not text.strip():
        raise _bad('script_file %s is empty' % path)
    return text


def _pairs(mapping):
    return [{'name': str(k), 'value': _text(v)} for k, v in (mapping or {}).items()]


def _text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _no_sas(uri):
    return str(uri).split('?', 1)[0] if uri else None


def canonical(params, script):
    """The bytes the run's fingerprint covers (canonical JSON; the secrets in it only ever leave hashed)."""
    doc = {
        'script': script,
        'commandId': params.get('command_id'),
        'parameters': _pairs(params.get('parameters')),
        'protectedParameters': _pairs(params.get('protected_parameters')),
        'runAsUser': params.get('run_as_user'),
        'runAsPassword': params.get('run_as_password'),
        'timeoutInSeconds': params.get('script_timeout'),
        'outputBlob': _no_sas(params.get('output_blob_uri')),
        'errorBlob': _no_sas(params.get('error_blob_uri')),
    }
    return json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def new_nonce():
    return secrets.token_hex(8)


def with_nonce(script, nonce):
    """``script`` with its last line a comment carrying ``nonce`` (a new configuration, the same behaviour)."""
    return script.rstrip('\n') + '\n' + NONCE_PREFIX + nonce + '\n'


def managed_body(params, script, location, tag, nonce=None):
    """The PUT body of the managed run command (``VirtualMachineRunCommand``, 2024-11-01)."""
    if script is not None:
        source = {'script': with_nonce(script, nonce) if nonce else script}
    else:
        source = {'commandId': params['command_id']}
    props = {'source': source, 'asyncExecution': False, 'treatFailureAsDeploymentFailure': False}
    optional = (
        ('parameters', _pairs(params.get('parameters')) or None),
        ('protectedParameters', _pairs(params.get('protected_parameters')) or None),
        ('runAsUser', params.get('run_as_user')),
        ('runAsPassword', params.get('run_as_password')),
        ('timeoutInSeconds', params.get('script_timeout')),
        ('outputBlobUri', params.get('output_blob_uri')),
        ('errorBlobUri', params.get('error_blob_uri')),
    )
    props.update((k, v) for k, v in optional if v is not None)
    return {'location': location, 'tags': {RECORD_TAG: tag}, 'properties': props}


def action_body(params, script, os_type):
    """The ``RunCommandInput`` of the action form (parameters are the script's positional arguments on Linux)."""
    if script is None:
        body = {'commandId': params['command_id']}
    else:
        body = {'commandId': ACTION_COMMANDS.get(os_type, 'RunShellScript'), 'script': script.splitlines()}
    pairs = _pairs(params.get('parameters')) + _pairs(params.get('protected_parameters'))
    if pairs:
        body['parameters'] = pairs
    return body
