# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task of vmrescue.azure.recovery_preflight: would Azure refuse this write, for each target? (private)

Read-only. The write is named by ``operation`` and each domain says what it writes (its ``TaskSpec.preflight``
plan: ``_extension`` for the VMAccess handlers, ``_proxy_agent`` for the key reset and the endpoint modes), so the
answer is the one the write path itself would get: the runner's preflight once per resource group (locks,
permissions, Azure Policy on the planned write, Resource Health; ``_preflight.gate``), then per target one read of
the model with its instance view for the facts only the VM knows:

- every operation: provisioning state Failed (``provisioning_failed``: reapply first), not running
  (``not_running``: no guest agent to apply or confirm anything);
- the key reset: the Metadata Security Protocol off (``msp_not_enabled``);
- the VMAccess handlers and Run Command: the extension gates of the write path (``_extension.gates``:
  ``extensions_disabled``, ``agent_not_ready``, ``extension_failed``).

Each target's result: ``ready`` (nothing found that refuses the write), ``reason_code`` (the first refusal) and
``msg`` (what and the fix), ``facts``, ``preflight`` (the scope checks, unchecked ones with the missing action).

Public names (kept stable): ``task_spec()``, ``ARGUMENT_SPEC``, ``OPERATIONS``.
"""

from __future__ import annotations

import types

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.gates import ExtensionSkip, check_write
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux import LINUX
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.windows import WINDOWS
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.endpoint_options import (
    write_plan as settings_plan,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_reset import write_plan as key_plan
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.engine import write_plan as run_command_plan
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

# What runs in the guest through the VM agent (the extension gates apply): the VMAccess handlers, and Run Command
# (itself an extension handler of the agent: no handler of its own to tell apart from others)
HANDLERS = {
    'vmaccess_linux': LINUX,
    'vmaccess_windows': WINDOWS,
    'run_command': types.SimpleNamespace(label='Run Command', is_own=lambda _ext: False),
}
OPERATIONS = ('key_reset', 'proxy_agent_settings', 'vmaccess_linux', 'vmaccess_windows', 'run_command')
ARGUMENT_SPEC = dict(
    operation=dict(type='str', required=True, choices=list(OPERATIONS)),
    state=dict(type='str', choices=['present', 'absent', 'restored']),
    wire_server_mode=dict(type='str', choices=['Audit', 'Enforce', 'Disabled']),
    imds_mode=dict(type='str', choices=['Audit', 'Enforce', 'Disabled']),
    enabled=dict(type='bool'),
)


def _plan(params):
    operation = params['operation']
    if operation == 'key_reset':
        return key_plan(params)
    if operation == 'proxy_agent_settings':
        return settings_plan(params)
    if operation == 'run_command':
        return run_command_plan(params)
    return HANDLERS[operation].write_plan(params)


def _extensions(client, view):
    """The VM's extensions: the VM GET's ``resources`` when it holds them whole, else one list call."""
    resources = view.model.get('resources')
    if resources is None:
        return []
    if all(isinstance(r, dict) and r.get('properties') for r in resources):
        return resources
    try:
        listed = client.get(view.target.path + '/extensions')
    except ArmError:
        return None  # not checked: the write path will see
    return (listed or {}).get('value') or []


def _facts(view, extensions):
    agent = (view.instance_view or {}).get('vmAgent') or {}
    statuses = agent.get('statuses') or [{}]
    return dict(
        os_type=view.os_type,
        power_state=view.power,
        provisioning_state=view.provisioning_state,
        vm_agent=dict(status=statuses[0].get('displayStatus'), version=agent.get('vmAgentVersion')),
        allow_extension_operations=((view.properties.get('osProfile') or {}).get('allowExtensionOperations')),
        msp_enabled=view.settings.get('enabled'),
        extensions=[(e.get('name'), (e.get('properties') or {}).get('provisioningState')) for e in extensions or ()],
    )


def _vm_refusal(view, params, extensions):
    """(reason_code, msg) from what the VM itself shows, or None."""
    display = view.target.display
    if str(view.provisioning_state or '').lower() == 'failed':
        return 'provisioning_failed', (
            '%s is in provisioning state Failed: Azure applies nothing new to it until its goal state is reapplied '
            '(az vm reapply), then run again.' % display
        )
    if view.power and view.power != 'running':
        return 'not_running', (
            '%s is %s: no guest agent runs to apply or confirm the change. Start it (az vm start), then run again.'
            % (display, view.power)
        )
    operation = params['operation']
    if operation == 'key_reset' and not view.settings.get('enabled'):
        return 'msp_not_enabled', (
            '%s does not have the Metadata Security Protocol enabled (securityProfile.proxyAgentSettings.enabled): '
            'there is no key to reset.' % display
        )
    if operation in HANDLERS and (params.get('state') or 'present') == 'present':
        try:
            check_write(view.model, HANDLERS[operation], display, extensions)
        except ExtensionSkip as skip:
            return skip.reason_code, skip.msg.replace('Skipped before any write. ', '')
    return None


def run(ctx):
    """One target: the scope verdict the runner made (``ctx.preflight``) and the VM's own facts."""
    view = _vm.read_view(ctx.client, ctx.target, instance_view=True)
    extensions = _extensions(ctx.client, view) if ctx.params['operation'] in HANDLERS else []
    refusal = None
    if ctx.preflight is not None:
        found = ctx.preflight.blocks(_plan(ctx.params).method)
        if found is not None:
            refusal = (found[0], found[1].replace('Skipped before any write. ', ''))
    refusal = refusal or _vm_refusal(view, ctx.params, extensions)
    if refusal is None:
        msg = 'nothing found that would refuse the %s on %s' % (_plan(ctx.params).operation, ctx.target.display)
        code = 'ready'
    else:
        code, msg = refusal
    return dict(
        changed=False,
        id=ctx.target.id,
        ready=refusal is None,
        reason_code=code,
        msg=msg,
        facts=_facts(view, extensions),
        outcome=outcome('unchanged', code, msg),
    )


def summary(results):
    ready = sum(1 for r in results if r.get('ready'))
    return '%d target(s): %d ready, %d would be refused or cannot be checked' % (
        len(results),
        ready,
        len(results) - ready,
    )


def task_spec():
    """The module's TaskSpec."""
    return TaskSpec(ARGUMENT_SPEC, run, preflight=_plan, summary=summary, name='vmrescue.azure.recovery_preflight')
