"""Run Command on VMs and Uniform scale-set instances: managed run commands and the runCommand action.

Sources (azure-facts.md section 7, and beside each rule below):

- Managed run commands ``{vm | instance}/runCommands/{name}``: PUT (long-running; 201 create / 200 update),
  GET (``$expand=instanceView``), DELETE, list; bodies are the spec pack's ``VirtualMachineRunCommand``
  (runCommand.json, 2024-11-01: ``source.script|scriptUri|commandId``, ``parameters``, ``protectedParameters``,
  ``runAsUser`` / ``runAsPassword``, ``timeoutInSeconds``, ``outputBlobUri`` / ``errorBlobUri``,
  ``asyncExecution`` "provisioning will complete as soon as the script starts", ``treatFailureAsDeploymentFailure``
  "any failure in the script will fail the deployment and ProvisioningState will be marked as Failed"; the
  instance view: ``executionState`` Pending/Running/Failed/Succeeded/TimedOut/Canceled, ``exitCode``, ``output`` /
  ``error``, ``startTime`` / ``endTime``).
- ``source.commandId`` with ``source.script``: 400 InvalidParameterConflictingProperties "The property
  'source.commandId' cannot be used together with property 'source.script'." (Azure/azure-rest-api-specs #20819).
- An identical re-PUT does not run the script again: "running CreateOrUpdateAsync again does not re-execute the
  command" (Azure/azure-sdk-for-net #47307, Azure.ResourceManager.Compute 1.6.0 on Ubuntu 20.04); a changed
  configuration runs again ("repetitive Run Commands by same name should work for both Linux and Windows",
  MicrosoftDocs/azure-compute-docs PR #178, the Compute reviewer). Which fields count as "the configuration" is
  [inferred]: every property the handler receives (source, parameters, protected ones by digest, run-as user and
  password, timeout, blob URIs, asyncExecution, treatFailureAsDeploymentFailure); tags and location do not.
- Output and error are the last 4,096 bytes (azure-facts.md: the output is cut to its last 4 KB,
  Azure/azure-cli #22245, azure-powershell #9456); the whole streams go to the append blobs ``outputBlobUri`` /
  ``errorBlobUri`` (Azure/azure-cli #20495, the Compute team: "Complete logs would be available in the blobs"); the
  simulator keeps them in memory (``GET /_sim/blobs``), it has no storage account.
- ``timeoutInSeconds`` kills the script: executionState TimedOut, exit code -1 on Linux (azure-facts.md section
  7); -1 on Windows too, and the default limit of 90 minutes for a managed run command, are [inferred] (the
  action form's documented 90-minute limit).
- Action form ``POST {vm | instance}/runCommand`` (``RunCommandInput``: commandId RunShellScript /
  RunPowerShellScript, ``script`` lines, ``parameters``): long-running (final state via Location, the result a
  ``RunCommandResult``); one at a time per VM: a second one while one runs answers 409 Conflict "Run command
  extension execution is in progress. Please wait for completion before invoking a run command."
  (Azure/azure-cli #32305, #19137; MicrosoftDocs/azure-docs #110433 quotes "(Conflict)"). Linux returns one status
  ``ProvisioningState/succeeded`` with "Enable succeeded: \\n[stdout]\\n...\\n[stderr]\\n..." and no exit code, even
  for ``exit 123`` (Azure/azure-cli #32286, #14425); Windows two, ``ComponentStatus/StdOut/succeeded`` and
  ``ComponentStatus/StdErr/succeeded`` (Azure/azure-cli #19251, MicrosoftDocs/azure-docs-cli #4542: ``Exit 1``
  still "succeeded"). Parameters of a Linux action script are its positional arguments (the azure-cli example
  ``--scripts 'echo $1 $2' --parameters hello world``); a managed run command's are named (environment variables
  on Linux, script parameters on Windows; [inferred] from the run-command-managed examples).
- A command id the OS has not: 404 NotFound "The entity was not found in this Azure location."
  (Azure/azure-sdk-for-net #34076; the status code is [inferred]).
- Like an extension write (run commands are extensions, azure-facts.md section 7): a VM that is not running, and
  ``allowExtensionOperations: false``, answer 409 (``guestops``); an agent Not Ready accepts the write and never
  reports (VMAgentStatusCommunicationError after ``agent_timeout_seconds``).
- Managed run commands need a recent VM agent (azure-facts.md; the issue names old agents and Linux ARM64):
  fleet VM key ``run_command_managed: false``. How Azure answers then is [inferred]: the PUT is accepted and its
  operation fails with VMExtensionProvisioningError naming the RunCommandHandler extension, executionState
  Unknown (the script never started).
- The run command's own operation does not hold the VM busy for other writes, and the managed and action forms
  do not block each other ([inferred]: different handlers, RunCommandHandler and RunCommandLinux/Windows).

Public names: ``RunCommands(world)`` (``register(router)``), ``equip(machine, spec)`` (fleet keys),
``OUTPUT_LIMIT``, ``IN_PROGRESS``.
"""

import copy

from . import errors, guestops, guestrepair
from .errors import ArmError
from .guestscript import run_script
from .lro import lro_headers
from .model import fingerprint
from .routing import INSTANCE, VM, Response
from .util import iso_now

OUTPUT_LIMIT = 4096
ACTION_LIMIT_SECONDS = 5400.0  # the action form's 90 minutes
IN_PROGRESS = (
    'Run command extension execution is in progress. Please wait for completion before invoking a run command.'
)
ACTION_COMMANDS = {'linux': 'RunShellScript', 'windows': 'RunPowerShellScript'}
SECRET_PROPS = ('protectedParameters', 'runAsPassword')
TERMINAL = ('Succeeded', 'Failed', 'TimedOut', 'Canceled')


def equip(machine, spec):
    """Fleet VM keys: ``run_command_managed: false`` (an agent without managed Run Command)."""
    machine.run_commands = {}
    machine.action_run = None
    machine.run_command_managed = bool(spec.get('run_command_managed', True))


def _tail(text):
    data = text.encode('utf-8')
    return data[-OUTPUT_LIMIT:].decode('utf-8', 'ignore')


def _named(params):
    return {str(p.get('name')): str(p.get('value', '')) for p in params or () if isinstance(p, dict)}


class ManagedRun:
    """One managed run command resource (secret properties kept only as a digest)."""

    def __init__(self, machine, name, location):
        self.machine = machine
        self.name = name
        self.location = location
        self.tags = None
        self.props = {}
        self.secret_fp = None
        self.provisioning_state = 'Creating'
        self.view = {'executionState': 'Pending'}
        self.runs = 0  # how many times the script ran (the control API shows it)
        self.generation = 0

    @property
    def id(self):
        return f'{self.machine.id}/runCommands/{self.name}'

    def config_digest(self):
        return fingerprint({'props': self.props, 'secret': self.secret_fp})

    def to_arm(self, expand=False):
        props = copy.deepcopy(self.props)
        props['provisioningState'] = self.provisioning_state
        if expand:
            props['instanceView'] = copy.deepcopy(self.view)
        body = {
            'name': self.name,
            'id': self.id,
            'type': f'{self.machine.type}/runCommands',
            'location': self.location,
            'properties': props,
        }
        if self.tags is not None:
            body['tags'] = dict(self.tags)
        return body


class RunCommands:
    def __init__(self, world):
        self.world = world

    @property
    def config(self):
        return self.world.config

    def register(self, router):
        add = router.add
        vm_act = 'Microsoft.Compute/virtualMachines'
        inst_act = 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
        for prefix, base, kind in ((VM, vm_act, 'vm'), (INSTANCE, inst_act, 'instance')):
            one = prefix + r'/runCommands/(?P<rc>[^/]+)'
            add('GET', prefix + '/runCommands', self.list, f'{kind}.runcommand.list',
                action=f'{base}/runCommands/read', policy='LowCostGet', scope_strip=1)  # fmt: skip
            add('GET', one, self.get, f'{kind}.runcommand.get', action=f'{base}/runCommands/read', policy='LowCostGet')
            add('PUT', one, self.put, f'{kind}.runcommand.put', action=f'{base}/runCommands/write', policy='UpdateVM')
            add('DELETE', one, self.delete, f'{kind}.runcommand.delete',
                action=f'{base}/runCommands/delete', policy='UpdateVM')  # fmt: skip
            add('POST', prefix + '/runCommand', self.action, f'{kind}.runcommand.action',
                action=f'{base}/runCommand/action', policy='UpdateVM', scope_strip=1)  # fmt: skip

    # -- helpers ---------------------------------------------------------------------------------------
    def _machine(self, ids):
        machine = self.world.compute.machine(**ids)
        if not hasattr(machine, 'run_commands'):
            equip(machine, {})
        return machine

    def _find(self, machine, name):
        run = machine.run_commands.get(name.lower())
        if run is None:
            raise errors.resource_not_found(f'{machine.type}/{machine.name}/runCommands', name, machine.rg.name)
        return run

    @staticmethod
    def _guest_checks(machine):
        guestops.check_extension_operations(machine)
        if machine.power != 'running':
            raise ArmError(409, 'OperationNotAllowed', 'Cannot modify extensions in the VM when the VM is not running.')

    def _lro(self, req, machine, due, finish, final, status, body):
        op = self.world.ops.start('RunCommand', machine.sub.id, machine.location, due, finish, final=final)
        headers = lro_headers(op, self.world.base_url, req.api_version, self.config['lro_retry_after'])
        return Response(status, body, headers)

    def _script(self, machine, source, named, positional, timeout):
        """(ScriptRun, timed_out) of ``source`` on ``machine`` (the run's seconds capped at ``timeout``)."""
        text = source.get('script') or ''
        if source.get('scriptUri'):  # [inferred] the simulator cannot download: an empty script
            text = ''
        scale = float(self.config['script_time_scale'])
        result = run_script(text, named, positional, machine.os, scale, machine=machine)
        limit = float(timeout) * float(self.config['script_time_scale'])
        if result.seconds > limit:
            result.seconds, result.exit_code = limit, -1
            return result, True
        return result, False

    # -- managed run commands ----------------------------------------------------------------------------
    def list(self, req, **ids):
        machine = self._machine(ids)
        expand = (req.query.get('$expand') or '').lower() == 'instanceview'
        return Response(200, {'value': [r.to_arm(expand) for r in machine.run_commands.values()]})

    def get(self, req, rc, **ids):
        machine = self._machine(ids)
        expand = (req.query.get('$expand') or '').lower() == 'instanceview'
        return Response(200, self._find(machine, rc).to_arm(expand))

    @staticmethod
    def _validate(body):
        props = body.get('properties')
        if not isinstance(props, dict):
            raise errors.invalid_parameter("Required parameter 'properties' is missing (null).", 'properties')
        if not body.get('location'):  # Resource.location is required (common.json)
            raise errors.invalid_parameter("Required parameter 'location' is missing (null).", 'location')
        source = props.get('source') or {}
        given = [k for k in ('script', 'scriptUri', 'commandId') if source.get(k)]
        if len(given) > 1:
            raise ArmError(
                400,
                'InvalidParameterConflictingProperties',
                f"The property 'source.{given[-1]}' cannot be used together with property 'source.{given[0]}'.",
                target=f'source.{given[-1]}',
            )
        if not given:  # [inferred] text
            raise errors.invalid_parameter(
                "One of 'source.script', 'source.scriptUri' or 'source.commandId' is required.", 'source'
            )
        timeout = props.get('timeoutInSeconds')
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0):
            raise errors.invalid_parameter(  # [inferred] text
                f"The value '{timeout}' of parameter 'timeoutInSeconds' is invalid.", 'timeoutInSeconds'
            )
        return props

    def put(self, req, rc, **ids):
        machine = self._machine(ids)
        body = req.json()
        props = self._validate(body)
        self._guest_checks(machine)
        run = machine.run_commands.get(rc.lower())
        created = run is None
        if created:
            run = ManagedRun(machine, rc, body.get('location') or machine.location)
            machine.run_commands[rc.lower()] = run
        before = None if created else run.config_digest()
        secrets = {k: props.get(k) for k in SECRET_PROPS}
        run.props = {
            k: copy.deepcopy(v)
            for k, v in props.items()
            if k not in SECRET_PROPS + ('provisioningState', 'instanceView')
        }
        run.secret_fp = fingerprint(secrets)
        if 'tags' in body:
            run.tags = dict(body.get('tags') or {})
        rerun = created or run.config_digest() != before
        run.provisioning_state = 'Creating' if created else 'Updating'
        if not rerun:  # azure-sdk-for-net #47307: the same configuration is not executed again
            return self._settle(req, machine, run, created)
        return self._start_managed(req, machine, run, props, created)

    def _settle(self, req, machine, run, created):
        def finish(_when):
            run.provisioning_state = 'Succeeded' if run.view.get('executionState') != 'Unknown' else 'Failed'
            return None

        due = self.world.now() + float(self.config['lro_seconds'])
        return self._lro(req, machine, due, finish, run.to_arm, 201 if created else 200, run.to_arm())

    def _start_managed(self, req, machine, run, props, created):
        run.generation += 1
        generation = run.generation
        run.view = {'executionState': 'Pending'}
        named = _named(props.get('parameters')) | _named(props.get('protectedParameters'))
        timeout = props.get('timeoutInSeconds') or ACTION_LIMIT_SECONDS
        now = self.world.now()
        start = now + float(self.config['extension_seconds'])
        outcome = self._unavailable(machine, run)
        if outcome is not None:
            delay, finish = outcome
            return self._lro(req, machine, now + delay, finish, run.to_arm, 201 if created else 200, run.to_arm())
        result, timed_out = self._script(machine, props.get('source') or {}, named, (), timeout)
        end = start + result.seconds

        def begin(_when):
            if run.generation == generation and machine.power == 'running':
                run.view.update(executionState='Running', startTime=iso_now())
                run.runs += 1

        def complete(_when):
            if run.generation != generation:
                return None
            self._record(run, props, result, timed_out)
            failed = run.view['executionState'] != 'Succeeded'
            if failed and props.get('treatFailureAsDeploymentFailure'):
                run.provisioning_state = 'Failed'
                return {  # [inferred] text
                    'code': 'VMExtensionProvisioningError',
                    'message': f"VM has reported a failure when processing extension '{run.name}'. Error message: "
                    f"'Execution failed with exit code {result.exit_code}'.",
                }
            run.provisioning_state = 'Succeeded'
            return None

        self.world.scheduler.at(start, begin)
        if props.get('asyncExecution'):  # provisioning completes once the script starts
            self.world.scheduler.at(end, complete)
            return self._lro(req, machine, start, self._provisioned(run), run.to_arm, 201 if created else 200,
                             run.to_arm())  # fmt: skip
        return self._lro(req, machine, end, complete, run.to_arm, 201 if created else 200, run.to_arm())

    @staticmethod
    def _provisioned(run):
        def finish(_when):
            run.provisioning_state = 'Succeeded'
            return None

        return finish

    def _unavailable(self, machine, run):
        """(delay, finish) when the agent decides the outcome (Not Ready, no managed Run Command), else None."""
        if not guestops.agent_ready(machine):

            def never_reports(_when):
                run.provisioning_state = 'Failed'
                return guestops.agent_timeout_error(machine)

            return float(self.config['agent_timeout_seconds']), never_reports
        if getattr(machine, 'run_command_managed', True):
            return None
        handler = 'RunCommandHandlerWindows' if machine.os == 'windows' else 'RunCommandHandlerLinux'

        def unsupported(_when):  # [inferred] code and text
            run.provisioning_state = 'Failed'
            message = f"The VM agent does not support the extension 'Microsoft.CPlat.Core.{handler}'."
            run.view = {'executionState': 'Unknown', 'executionMessage': message}
            return {
                'code': 'VMExtensionProvisioningError',
                'message': f"VM has reported a failure when processing extension '{run.name}' (publisher "
                f"'Microsoft.CPlat.Core' and type '{handler}'). Error message: '{message}'.",
            }

        return float(self.config['extension_seconds']), unsupported

    def _record(self, run, props, result, timed_out):
        state = 'TimedOut' if timed_out else ('Succeeded' if result.exit_code == 0 else 'Failed')
        message = {  # [inferred] texts
            'Succeeded': 'Execution completed',
            'Failed': f'Execution completed with exit code {result.exit_code}',
            'TimedOut': 'Execution timed out',
        }[state]
        run.view.update(
            executionState=state,
            executionMessage=message,
            exitCode=result.exit_code,
            output=_tail(result.stdout),
            error=_tail(result.stderr),
            endTime=iso_now(),
            statuses=[
                {
                    'code': 'ProvisioningState/succeeded',
                    'level': 'Info',
                    'displayStatus': 'Provisioning succeeded',
                    'message': message,
                    'time': iso_now(),
                }
            ],
        )
        blobs = self.world.blobs
        for key, text in (('outputBlobUri', result.stdout), ('errorBlobUri', result.stderr)):
            uri = props.get(key)
            if uri:
                blobs[uri.split('?', 1)[0]] = blobs.get(uri.split('?', 1)[0], '') + text

    def delete(self, req, rc, **ids):
        machine = self._machine(ids)
        run = machine.run_commands.get(rc.lower())
        if run is None:
            return Response(204)
        self._guest_checks(machine)
        run.provisioning_state = 'Deleting'

        def finish(_when):
            if run.view.get('executionState') in ('Pending', 'Running'):
                run.view['executionState'] = 'Canceled'  # [inferred]: the script is stopped with its resource
            run.generation += 1
            machine.run_commands.pop(rc.lower(), None)
            return None

        return self._lro(req, machine, self.world.now() + float(self.config['lro_seconds']), finish, None, 202, None)

    # -- the action form ---------------------------------------------------------------------------------
    def action(self, req, **ids):
        machine = self._machine(ids)
        body = req.json()
        command = body.get('commandId')
        if not command:
            raise errors.invalid_parameter("Required parameter 'commandId' is missing (null).", 'commandId')
        if str(command).lower() != ACTION_COMMANDS[machine.os].lower():
            raise ArmError(404, 'NotFound', 'The entity was not found in this Azure location.')
        self._guest_checks(machine)
        if machine.action_run is not None and not machine.action_run.done:
            raise ArmError(409, 'Conflict', IN_PROGRESS)
        lines = body.get('script') or []
        params = body.get('parameters') or []
        positional = [str(p.get('value', '')) for p in params if isinstance(p, dict)]
        now = self.world.now()
        if not guestops.agent_ready(machine):
            due, finish, final = now + float(self.config['agent_timeout_seconds']), self._agent_gone(machine), None
        else:
            result, _timed_out = self._script(machine, {'script': '\n'.join(lines)}, _named(params), positional,
                                              ACTION_LIMIT_SECONDS)  # fmt: skip
            due = now + float(self.config['extension_seconds']) + result.seconds
            final = self._action_result(machine, result)

            def finish(_when):
                return None

        op = self.world.ops.start('RunCommand', machine.sub.id, machine.location, due, finish, final=final)
        machine.action_run = op
        headers = lro_headers(op, self.world.base_url, req.api_version, self.config['lro_retry_after'])
        return Response(202, None, headers)

    @staticmethod
    def _agent_gone(machine):
        def finish(_when):
            return guestops.agent_timeout_error(machine)

        return finish

    @staticmethod
    def _action_result(machine, result):
        def final():
            ok = {'level': 'Info', 'displayStatus': 'Provisioning succeeded'}
            if machine.os == 'linux':
                message = f'Enable succeeded: \n[stdout]\n{_tail(result.stdout)}\n[stderr]\n{_tail(result.stderr)}'
                return {'value': [dict(ok, code='ProvisioningState/succeeded', message=message)]}
            return {
                'value': [
                    dict(ok, code='ComponentStatus/StdOut/succeeded', message=_tail(result.stdout)),
                    dict(ok, code='ComponentStatus/StdErr/succeeded', message=_tail(result.stderr)),
                ]
            }

        return final


def machine_state(machine):
    """What the control API shows of a machine's run commands (never a secret)."""
    return {
        'run_commands': {
            r.name: {
                'runs': r.runs,
                'provisioningState': r.provisioning_state,
                'instanceView': copy.deepcopy(r.view),
                'tags': r.tags,
            }  # fmt: skip
            for r in getattr(machine, 'run_commands', {}).values()
        },
        'action_running': bool(getattr(machine, 'action_run', None) is not None and not machine.action_run.done),
        'guest_repair': guestrepair.to_json(machine),
    }
