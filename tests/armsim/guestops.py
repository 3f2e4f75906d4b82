"""What the VM agent and the VM's extension state let an extension write do (compute.py calls these).

- ``osProfile.allowExtensionOperations: false``: extension writes / deletes (and run commands, which are
  extensions) answer 409 OperationNotAllowed "This operation cannot be performed when extension operations are
  disallowed. To allow, please ensure VM Agent is installed on the VM and the osProfile.allowExtensionOperations
  property is true." (the body as clients meet it: quoted by gravitational/teleport's Azure VM auto-discovery,
  which matches on "extension operations are disallowed", and in a public ARM deployment error).
- The VM agent **Not Ready** (fleet VM key ``vm_agent: not_ready``, control ``POST /_sim/vms/{id}/vm_agent``): the
  instance view's ``vmAgent`` takes the Not Ready shape compute.py already gives a stopped VM; an extension PUT or
  DELETE is accepted, the handler never reports, the extension stays Creating / Updating / Deleting and the VM
  busy until Azure gives up (config ``agent_timeout_seconds``; the operation then fails with
  VMAgentStatusCommunicationError "VM '<name>' has not reported status for VM agent or extensions. Please verify
  the VM has a running VM agent, and can establish outbound connections to Azure storage." as quoted in
  Azure/azure-xplat-cli #2794 and Azure/azure-powershell #5741; both operations ran about 25 minutes, hence the
  default 1500 s [inferred]).
- An extension in a **Failed** provisioning state (fleet extension key ``provisioning_state: Failed``, or a
  handler that failed): "In a VM, if there an existing extension with failed provisioning state, any other new
  extension fails to install" (MicrosoftDocs/azure-docs PR #85736). The PUT of another extension is accepted and
  its operation fails, naming the failed one; error code and text are [inferred] (Compute's
  VMExtensionProvisioningError wording). Re-writing or deleting the failed extension itself is allowed.
"""

from . import bootdiag
from .errors import ArmError
from .util import dig

EXTENSIONS_DISALLOWED = (
    'This operation cannot be performed when extension operations are disallowed. To allow, please ensure VM '
    'Agent is installed on the VM and the osProfile.allowExtensionOperations property is true.'
)
NOT_READY_MESSAGE = 'VM status blob is found but not yet populated.'


def check_extension_operations(machine):
    """409 OperationNotAllowed when the VM model disallows extension operations (extensions, run commands)."""
    if dig(machine.model, 'properties', 'osProfile', 'allowExtensionOperations') is False:
        raise ArmError(409, 'OperationNotAllowed', EXTENSIONS_DISALLOWED)


def agent_ready(machine):
    """The VM agent reports: not set Not Ready (fleet / control API), and the VM booted (bootdiag.py)."""
    return getattr(machine, 'vm_agent_ready', True) and not bootdiag.agent_blocked(machine)


def agent_message(machine):
    """The Not Ready message of the instance view: a VM that did not boot has an unresponsive agent."""
    return bootdiag.UNRESPONSIVE if bootdiag.agent_blocked(machine) else NOT_READY_MESSAGE


def not_ready_view(iso_time, message=NOT_READY_MESSAGE):
    """The instance view's ``vmAgent`` when no agent reports (a stopped VM, or an agent Not Ready)."""
    return {
        'vmAgentVersion': 'Unknown',
        'statuses': [
            {
                'code': 'ProvisioningState/Unavailable',
                'level': 'Warning',
                'displayStatus': 'Not Ready',
                'message': message,
                'time': iso_time,
            }
        ],
    }


def agent_timeout_error(machine):
    return {
        'code': 'VMAgentStatusCommunicationError',
        'message': f"VM '{machine.name}' has not reported status for VM agent or extensions. Please verify the VM "
        'has a running VM agent, and can establish outbound connections to Azure storage.',
    }


def failed_blocker(machine, ext_name):
    """Another extension of the VM in a Failed provisioning state, or None."""
    for other in machine.extensions.values():
        if other.name.lower() != ext_name.lower() and other.provisioning_state == 'Failed':
            return other
    return None


def blocked_error(machine, blocker):
    message = (blocker.status or {}).get('message') or 'Provisioning failed.'
    guide = 'https://aka.ms/VMExtension{}Troubleshoot'.format('Windows' if machine.os == 'windows' else 'Linux')
    return {
        'code': 'VMExtensionProvisioningError',
        'message': f"VM has reported a failure when processing extension '{blocker.name}' (publisher "
        f"'{blocker.props.get('publisher', '')}' and type '{blocker.props.get('type', '')}'). Error message: "
        f"'{message}'. More information on troubleshooting is available at {guide}",
    }


def put_outcome(config, machine, ext):
    """(delay, finish) replacing the handler run of an extension PUT when the agent or a failed extension
    decides the outcome; None when the handler runs as usual."""
    if not agent_ready(machine):

        def never_reports(_when):
            ext.provisioning_state = 'Failed'
            return agent_timeout_error(machine)

        return float(config['agent_timeout_seconds']), never_reports
    blocker = failed_blocker(machine, ext.name)
    if blocker is not None:

        def blocked(_when):
            ext.provisioning_state = 'Failed'
            return blocked_error(machine, blocker)

        return float(config['extension_seconds']), blocked
    return None


def delete_outcome(config, machine, ext):
    """(delay, finish) of an extension DELETE on a VM whose agent is Not Ready ([inferred]: the agent must
    uninstall the handler, like an install it never reports); None otherwise."""
    if agent_ready(machine):
        return None

    def never_reports(_when):
        ext.provisioning_state = 'Failed'
        return agent_timeout_error(machine)

    return float(config['agent_timeout_seconds']), never_reports
