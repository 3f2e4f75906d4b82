#!/usr/bin/python
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
module: run_command
short_description: Run a script on Azure VMs and scale-set instances through Run Command, idempotently
version_added: 0.2.0
description:
  - Runs a shell script (Linux) or PowerShell script (Windows) in the guest of an Azure VM or Uniform scale-set
    instance through Azure Run Command, the way in through a live VM agent when VMAccess is not enough; or removes
    the run command (O(state=absent)).
  - Runs on the Ansible controller (an action plugin calls Azure Resource Manager from there); the target is taken from
    the options or, when none is given, from the host's variables (see the target options). O(targets) runs one
    task over many VMs as a paced pipeline, in which a target whose script runs holds no worker.
  - Uses a managed run command (C(virtualMachines/{vm}/runCommands/{name}), scale-set instance form too), which
    reports the script's execution state, exit code, the last 4 KB of stdout and stderr, and start and end times.
    When the managed form is not available on the VM (an agent without it, so that the run command fails before its
    script starts), it falls back to the action form (C(POST .../runCommand)) and says so (RV(form), RV(fallback_reason)).
    The action form runs one script at a time per VM and on Linux reports no exit code, only the output.
  - "B(Idempotent.) The run command carries a tag C(vmrescue-run-command) with a salted scrypt fingerprint of the
    request (script, parameters, protected parameters, run-as user and password, timeout, blob URIs without their
    SAS; the same scheme as the VMAccess modules, see M(vmrescue.azure.vmaccess_linux)); no secret is stored in
    clear. A target whose run command holds the fingerprint of the same request and whose last run succeeded
    reports C(ok), with that run's output, and nothing is written. A changed script or parameter runs again."
  - "B(Running the same script again.) Azure does not run a run command again when it is PUT with an identical
    configuration (Azure/azure-sdk-for-net#47307). So when the run command exists and the script must run again
    (O(force=true), or its last run failed), the script sent ends with a comment line C(# vmrescue.azure run
    <nonce>) that bash and PowerShell ignore, a new configuration with the same behaviour. A O(command_id) has no script
    to change; that run command is deleted and created again."
  - A non-zero exit code fails the target with its output (usable in C(failed_when)); a script stopped by
    O(script_timeout) fails with reason V(script_timed_out).
  - A run command of the same name that is still running, or another action-form run on the VM (Azure's
    "execution is in progress"), makes the target V(pending) with the running command named, never a retry loop;
    O(state=absent) removes (and so stops) a managed one.
  - A VM that is not running, that disallows extension operations, or whose VM agent is Not Ready is skipped before
    any write, with the reason.
author:
  - vmrescue.azure developers (@vmrescue)
extends_documentation_fragment:
  - vmrescue.azure.auth
  - vmrescue.azure.target
  - vmrescue.azure.preflight
  - vmrescue.azure.attributes
  - vmrescue.azure.attributes.check_mode
  - vmrescue.azure.attributes.diff_mode
  - vmrescue.azure.attributes.controller
attributes:
  check_mode:
    details:
      - Reads the VM and the run command and reports whether the script would run; writes nothing.
  diff_mode:
    support: none
    details:
      - No diff is shown (a script and its parameters are not a state of the VM).
  idempotent:
    description: Running the same task again reports no change when the first run succeeded.
    support: full
    details:
      - Through the fingerprint tag; see the description.
options:
  state:
    description:
      - V(present) runs the script (unless the same request already succeeded). V(absent) removes the run command
        O(run_command_name) when this collection created it (it carries the fingerprint tag); it does not undo what
        the script did.
    type: str
    choices: [present, absent]
    default: present
  script:
    description:
      - The script, inline. Bash on Linux, PowerShell on Windows. Mutually exclusive with O(script_file) and
        O(command_id).
    type: str
  script_file:
    description:
      - A file on the controller holding the script (a relative path is looked up like a C(files/) file of the
        role or playbook).
    type: path
  command_id:
    description:
      - A built-in command of Azure instead of a script (for example V(ifconfig) on Linux, V(IPConfig) or
        V(ResetRDPCert) on Windows; C(az vm run-command list) shows them).
    type: str
  parameters:
    description:
      - Parameters of the script, name to value. The managed form passes them as environment variables on Linux
        and as named parameters on Windows; the action form passes them as positional arguments on Linux, in this
        order. Shown in results and logs; use O(protected_parameters) for secrets.
    type: dict
  protected_parameters:
    description:
      - Parameters that are secrets. Azure encrypts them for the VM and never returns them; the module never shows
        them (results, diffs, warnings, errors) and keeps only a salted hash of them in the fingerprint.
    type: dict
  run_as_user:
    description: The user the script runs as (default the system account, root on Linux).
    type: str
  run_as_password:
    description: The password of O(run_as_user) (Windows). Never shown.
    type: str
  script_timeout:
    description:
      - The script's own time limit in seconds (C(timeoutInSeconds)); Azure stops it after this and the target
        fails with V(script_timed_out). Default Azure's own limit.
    type: int
  wait:
    description:
      - Wait for the script to end and report its exit code and output. V(false) returns once Azure accepted the
        run command (V(pending)); a later run of the same task reports the result.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait for the end, in seconds. Past it the target is V(pending) and the script goes on running;
        a later run of the same task reads its result.
    type: int
    default: 600
  run_command_name:
    description:
      - Name of the managed run command resource on each VM (O(name) is the VM name of the target options).
    type: str
    default: vmrescue-run-command
  force:
    description:
      - Run the script again even when the same request already succeeded (see the description for how). A run
        command that is still running is never started again.
    type: bool
    default: false
  output_blob_uri:
    description:
      - An append blob (SAS URI, or one the VM's managed identity may write) that receives the whole stdout; the
        result holds only the last 4 KB. Never shown (a SAS URI is a secret).
    type: str
  error_blob_uri:
    description: The same for stderr.
    type: str
  max_output_bytes:
    description:
      - With O(output_blob_uri) / O(error_blob_uri) given as SAS URIs, after the run the controller reads each blob
        (Azure Storage Get Blob, a plain HTTPS GET of the SAS URI) into RV(stdout_full) / RV(stderr_full), at most
        this many bytes of each, from its start (RV(output_truncated) then says so). V(0) does not read them.
      - A blob URI without a SAS (the VM's managed identity writes it) is not read; a warning says so. The SAS
        never appears in a result, warning or error.
    type: int
    default: 1048576
  script_reports_change:
    description:
      - The script says itself whether it changed something. When its last line of output is
        C(VMRESCUE changed=true) or C(VMRESCUE changed=false), a run that succeeded reports V(changed) from it
        (C(false) -> V(ok), outcome V(unchanged)); every C(VMRESCUE key=value ...) line it printed is in
        RV(script_report). A script whose last line is not such a line is V(changed) as usual.
      - Meant with O(force=true) for check-and-repair scripts (the C(vmrescue.azure.guest_repair) role's recipes),
        which must run each time to check and report C(ok) when nothing needed repair.
    type: bool
    default: false
  os_type:
    description:
      - The OS the script is written for. A target running the other OS is skipped before any write (reason
        V(wrong_os)), so that a bash script never runs under PowerShell. Unset, any OS.
    type: str
    choices: [linux, windows]
notes:
  - Run Command needs the VM agent to be Ready and the VM to run. Managed run commands need a recent agent; the
    action form is the fallback.
  - Output in the result is Azure's last 4,096 bytes of each stream (RV(output_truncated)); give O(output_blob_uri) /
    O(error_blob_uri) for the whole streams.
"""

EXAMPLES = r"""
- name: Test the sshd configuration on every Linux VM of the play (one task for the whole batch)
  vmrescue.azure.run_command:
    targets: "{{ ansible_play_batch | map('extract', hostvars) | map('vmrescue.azure.target_id') | list }}"
    script: |
      sshd -t && echo "sshd config OK"
  run_once: true

- name: Restart a Windows service on one VM, with a parameter
  vmrescue.azure.run_command:
    resource_group: myResourceGroup
    name: myWindowsVM
    script: |
      param($service)
      Restart-Service -Name $service
      Write-Output "restarted $service"
    parameters:
      service: TermService

- name: Run a script from the role's files with a secret, stopped after 5 minutes
  vmrescue.azure.run_command:
    vm_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1
    script_file: repair.sh
    protected_parameters:
      TOKEN: "{{ vault_repair_token }}"
    script_timeout: 300
  register: repair
  failed_when: repair.exit_code not in [0, 3]

- name: Remove the run command
  vmrescue.azure.run_command:
    resource_group: myResourceGroup
    name: myVM
    state: absent
"""

RETURN = r"""
results:
  description:
    - Batch mode (O(targets)) only, one entry per element of O(targets), in the same order, each with the keys
      below plus C(id), C(changed), C(failed) and C(msg).
  returned: with O(targets)
  type: list
  elements: dict
outcome:
  description:
    - What happened to the target (C(status), C(reason_code), C(reason)); see M(vmrescue.azure.vmaccess_linux).
      Codes of this module include V(changed), V(unchanged), V(in_progress) (pending, a run is still going),
      V(not_waited), V(check_mode), V(script_failed), V(script_timed_out), V(provisioning_failed),
      V(not_running), V(deallocated), V(extensions_disabled), V(agent_not_ready), V(not_ours), V(wrong_os).
  returned: always
  type: dict
id:
  description: Resource ID of the VM or scale-set instance.
  returned: always
  type: str
run_command_name:
  description: The run command's name.
  returned: always
  type: str
form:
  description: V(managed) or V(action) (the fallback).
  returned: when state is present and the target was not skipped
  type: str
fallback_reason:
  description: Why the action form was used.
  returned: when form is action
  type: str
execution_state:
  description: V(Succeeded), V(Failed), V(TimedOut), V(Canceled), V(Pending) or V(Running).
  returned: when known
  type: str
exit_code:
  description: The script's exit code; null for the action form on Linux, which does not report one.
  returned: when known
  type: int
stdout:
  description: The last 4 KB of the script's standard output.
  returned: when known
  type: str
stderr:
  description: The last 4 KB of the script's standard error.
  returned: when known
  type: str
output_truncated:
  description:
    - True when output is missing from the result. A stream read from its blob is missing output when the blob
      is larger than O(max_output_bytes); a stream without one when it reached 4 KB (RV(stdout) / RV(stderr) hold
      its last 4 KB).
  returned: when known
  type: bool
start_time:
  description: When the script started (managed form).
  returned: when known
  type: str
end_time:
  description: When the script ended (managed form).
  returned: when known
  type: str
running_command:
  description: The command still running on the target (reason code V(in_progress)).
  returned: when pending
  type: str
stdout_full:
  description:
    - The script's standard output read from O(output_blob_uri), at most O(max_output_bytes) bytes from its
      start. The blob is an append blob, so what the handler wrote to it before is in it too.
  returned: when O(output_blob_uri) was given with a SAS and could be read
  type: str
stderr_full:
  description: The same from O(error_blob_uri).
  returned: when O(error_blob_uri) was given with a SAS and could be read
  type: str
stdout_size:
  description: The size of the output blob in bytes (RV(stdout_full) holds at most O(max_output_bytes) of it).
  returned: with RV(stdout_full)
  type: int
stderr_size:
  description: The size of the error blob in bytes.
  returned: with RV(stderr_full)
  type: int
script_report:
  description:
    - With O(script_reports_change), each C(VMRESCUE key=value ...) line of the script's output as a dict, in order
      (C(true) / C(false) values as booleans).
  returned: with O(script_reports_change) when the script succeeded
  type: list
  elements: dict
script_reports_change:
  description: Whether the script's last line said whether it changed something (O(script_reports_change)).
  returned: with O(script_reports_change) when the script succeeded
  type: bool
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.engine import task_spec  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import AzureModule  # noqa: E402


def main():
    AzureModule(task_spec()).main()


if __name__ == '__main__':
    main()
