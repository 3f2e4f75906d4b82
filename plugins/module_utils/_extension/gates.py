# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether an extension write can pass, from what the VM read already shows (private; pure, no network).

The engine reads the VM model with its instance view before it decides; these facts say, before any write, that
Azure would refuse it or that the handler could not run (docs/azure-facts.md section 7):

* ``osProfile.allowExtensionOperations: false``: every extension write is refused (409 OperationNotAllowed):
  ``extensions_disabled``;
* the VM agent reports Not Ready (``instanceView.vmAgent.statuses``): the handler cannot run, the write would wait
  for nothing: ``agent_not_ready``;
* an extension of another handler in a failed provisioning state can block new extension operations on the VM
  (MicrosoftDocs/azure-docs PR #85736): ``extension_failed``, unless ``force`` (the operator asks to try anyway).

A target that fails a gate is skipped with that reason code and the fix, in check mode too (check mode does not
promise a write that cannot pass). Public names: ``ExtensionSkip`` (the skip: ``msg``, ``reason_code``,
``result``), ``check_write(vm, handler, display, extensions=None, force=False, **result)`` (raises ``ExtensionSkip`` with
``result`` and the gate's own fields),
``agent_not_ready(vm)`` (the agent's Not Ready status or None), ``extensions_disabled(vm)``,
``failed_extensions(extensions, handler)``.
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.status import extension_name, lower_or_empty


class ExtensionSkip(VmrescueError):
    """The target is left alone before any write: ``msg`` (what and the fix), ``reason_code``, ``result``."""


def extensions_disabled(vm):
    """True when the VM's model says ``osProfile.allowExtensionOperations: false`` (absent means allowed)."""
    os_profile = ((vm or {}).get('properties') or {}).get('osProfile') or {}
    return os_profile.get('allowExtensionOperations') is False


def agent_not_ready(vm):
    """The VM agent's Not Ready status from the instance view ``{displayStatus, message, version}``, or None (Ready,
    or not reported: a VM GET without the agent's view is not taken for a sick agent)."""
    view = ((vm or {}).get('properties') or {}).get('instanceView') or {}
    agent = view.get('vmAgent') or {}
    for st in agent.get('statuses') or ():
        if lower_or_empty(st.get('displayStatus')) == 'not ready':
            return dict(
                displayStatus=st.get('displayStatus'), message=st.get('message'), version=agent.get('vmAgentVersion')
            )
    return None


def failed_extensions(extensions, handler):
    """Names of the VM's extensions of other handlers whose provisioningState is Failed."""
    return [
        extension_name(e)
        for e in extensions or ()
        if not handler.is_own(e)
        and lower_or_empty(((e or {}).get('properties') or {}).get('provisioningState')) == 'failed'
    ]


def check_write(vm, handler, display, extensions=None, force=False, **result):
    """Raise ExtensionSkip (with ``result`` and the gate's fields) when the VM read shows that an extension write
    cannot pass (see the module docstring). ``extensions``: the VM's extensions (None: not checked, as for a
    removal); ``force``: write despite a failed extension of another handler."""
    if extensions_disabled(vm):
        raise ExtensionSkip(
            '%s does not allow extension operations (osProfile.allowExtensionOperations: false): Azure refuses every '
            'extension write on it, so the %s handler cannot run. Skipped before any write. Turn extension '
            'operations on if your organisation allows it, or recover without an extension (serial console, '
            'offline disk repair).' % (display, handler.label),
            reason_code='extensions_disabled',
            allow_extension_operations=False,
            **result,
        )
    agent = agent_not_ready(vm)
    if agent is not None:
        raise ExtensionSkip(
            "the VM agent of %s reports '%s'%s (agent version %s): the %s handler cannot run until the agent is "
            'Ready. Skipped before any write. Restart the VM or reapply its goal state (az vm restart / az vm '
            'reapply), check that the agent service runs in the guest, then run the task again.'
            % (
                display,
                agent['displayStatus'],
                (': %s' % agent['message']) if agent.get('message') else '',
                agent.get('version') or 'unknown',
                handler.label,
            ),
            reason_code='agent_not_ready',
            vm_agent=agent,
            **result,
        )
    failed = failed_extensions(extensions, handler) if extensions is not None and not force else []
    if failed:
        raise ExtensionSkip(
            '%s has the extension(s) %s in a failed provisioning state, which can block new extension operations '
            'on the VM. Skipped before any write. Repair or remove it (az vm extension delete), or set force: true '
            'to write the %s extension anyway.' % (display, ', '.join("'%s'" % n for n in failed), handler.label),
            reason_code='extension_failed',
            failed_extensions=failed,
            **result,
        )
