# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage: why a VM is unreachable, as exactly one class with its evidence and the remedy it points to (private).

Pure: no I/O. The inputs are what the readers (``reads.py``) fetched: the VM / instance model, its instance view,
its Resource Health ``availabilityStatuses/current`` properties, and (when read) the serial log (a
``boot_diagnostics.BootLog``). The lookup ``boot_triage`` and the inventory plugin ``vms`` (``triage: true``)
decide the same way through ``triage()``.

The order of precedence (``PRECEDENCE``; the first that holds decides):

1. ``platform_unavailable``: Resource Health says ``Unavailable``, or ``Degraded`` while the VM agent is not Ready,
   and the event is not one the user started (``context`` / ``reasonType`` / ``category`` naming the user or
   customer: a stop, a resize). Resource Health reports platform events only (azure-facts.md section 7; a guest
   that does not boot stays Available), so the platform comes first: no guest remedy helps on a failed host.
2. ``provisioning_failed``: the model's ``provisioningState`` is ``Failed``, or an instance view status is
   ``ProvisioningState/failed/...``: the last model change did not reach the VM (reapply re-sends the goal state).
3. ``boot_unknown`` (not running): a VM that is not running has no boot to judge; start it and triage again.
4. ``boot_ok``: the VM agent reports Ready. The agent runs in the guest, so the guest booted; the serial log is not
   needed (``reads.py`` does not read it then, unless asked to).
5. a boot failure from the serial log (``serial_log.classify``: ``boot_grub``, ``boot_initrd``,
   ``boot_kernel_panic``, ``boot_emergency_mode``, ``boot_disk_full``, ``boot_loop``).
6. ``boot_unknown`` (log read, nothing known): the agent is not Ready and the log was read but shows no known
   failure and no completed boot. A log is never guessed from.
7. ``agent_not_ready``: the agent is not Ready (or reports nothing) and the last boot completed, or the log could
   not be read (off, not asked, unreadable: the evidence says which, and the fix).

Evidence: short lines, each prefixed with where it comes from (``Resource Health:``, ``instance view:``,
``serial log:``); the serial log's own lines are only the lines a rule matched (``serial_log``).

Remedies (``REMEDIES``, ``remedy_for``): a dict ``{kind, rung, module, role, options, text}``. ``kind`` is
``offline_rescue`` (the module / role ``offline_rescue`` with ``options.action``), ``ladder`` (the escalation
ladder's ``rung``: restart, reapply, redeploy; role ``recovery_ladder``, module ``vm_remedy``), ``access`` (the
boot is fine: the key reset or VMAccess), ``start``, or ``manual`` (nothing in the collection does it alone).

Public names: ``triage(model, instance_view, health=None, serial=None, serial_note=None, os_type=None, generation=None) -> dict`` (``class``,
``reason``, ``evidence``, ``remedy``, ``power_state``, ``agent``, ``health``, ``serial``); ``CLASSES``,
``PRECEDENCE``, ``REMEDIES``, ``SERIAL_REMEDIES``, ``remedy_for(cls, serial_remedy=None)``, ``agent_status(view)``,
``platform_event(health)``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_log import classify
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_rules import BOOT_FAILURES
from ansible_collections.vmrescue.azure.plugins.module_utils._vm import os_type as vm_os_type, power_state

CLASSES = BOOT_FAILURES + ('agent_not_ready', 'provisioning_failed', 'platform_unavailable', 'boot_ok', 'boot_unknown')

# (class, when) in the order they are tried: the docs page and a unit test read this table.
PRECEDENCE = (
    (
        'platform_unavailable',
        'Resource Health: Unavailable, or Degraded with the VM agent not Ready; not user-initiated',
    ),
    ('provisioning_failed', "the model's provisioningState is Failed (or an instance view ProvisioningState/failed)"),
    ('boot_unknown', 'the VM is not running: start it and triage again'),
    ('boot_ok', 'the VM agent reports Ready: the guest booted'),
    ('boot_*', 'the serial log shows a known boot failure in its last boot (the rules of the triage guide)'),
    ('boot_unknown', 'the serial log was read and shows no known failure and no completed boot'),
    ('agent_not_ready', 'the VM agent is not Ready and the last boot completed, or the serial log was not read'),
)

_LADDER = dict(module='vmrescue.azure.vm_remedy', role='vmrescue.azure.recovery_ladder')
_RESCUE = dict(module='vmrescue.azure.offline_rescue', role='vmrescue.azure.offline_rescue')


def _offline(action, text):
    return dict(kind='offline_rescue', rung='offline_rescue', options={'action': action}, text=text, **_RESCUE)


def _ladder(rung, text):
    return dict(kind='ladder', rung=rung, options={}, text=text, **_LADDER)


def _plain(kind, text, module=None, role=None):
    return dict(kind=kind, rung=None, module=module, role=role, options={}, text=text)


# serial_rules.REMEDIES key -> what the collection runs for it.
SERIAL_REMEDIES = {
    'fstab': _offline('fstab', 'offline rescue, action fstab: keep only the /etc/fstab lines needed to boot'),
    'initrd': _offline('initrd', 'offline rescue, action initrd: rebuild the initramfs with the Hyper-V modules'),
    'kernel': _offline('kernel', 'offline rescue, action kernel: make the previous kernel the default'),
    'grubfix': _offline('grubfix', 'offline rescue, action grubfix: reinstall GRUB (Generation 1)'),
    'efifix': _offline('efifix', 'offline rescue, action efifix: reinstall the UEFI boot loader (Generation 2)'),
    'sfc': _offline('sfc', 'offline rescue, action sfc: System File Checker against the OS disk'),
    'lastknowngood': _offline(
        'lastknowngood', 'offline rescue, action lastknowngood: boot the Last Known Good Configuration'
    ),  # fmt: skip
    'free_disk_space': _plain(
        'manual',
        'free space on the OS disk from a rescue VM (offline rescue, action custom, with your own script; action '
        'auditd when auditd halted the boot on a full disk), or expand the OS disk and its file system',
        **_RESCUE,
    ),
    'remove_patch': _plain(
        'manual',
        'remove the update that shipped the failing driver offline (repair-script-library win-remove-patch: az vm '
        'repair run --run-id win-remove-patch); the collection has no such action',
    ),
}

# class -> its remedy when it does not come from the serial log's rule.
REMEDIES = {
    'platform_unavailable': _ladder(
        'redeploy',
        'a platform problem: wait while Azure recovers the host (Resource Health), or redeploy the VM to another '
        'host (ladder rung redeploy; the temporary disk is lost, so it needs the opt-in)',
    ),
    'provisioning_failed': _ladder('reapply', 'reapply the VM model (ladder rung reapply) so Azure sends it again'),
    'agent_not_ready': _ladder(
        'restart',
        'the escalation ladder from its first rung: restart, then reapply, then redeploy, then offline rescue',
    ),
    'boot_ok': _plain(
        'access',
        'the VM boots: an access problem. A broken proxy agent key: proxy_agent_key_reset (inventory group '
        'key_unhealthy); callers denied: proxy_agent_diagnostics; a lost user or key: vmaccess_linux / '
        'vmaccess_windows (playbook regain_access)',
        module='vmrescue.azure.proxy_agent_key_reset',
    ),
    'boot_unknown': _plain(
        'manual',
        'nothing known: read the serial log and the boot diagnostics screenshot (az vm boot-diagnostics '
        'get-boot-log), then choose an offline rescue action',
    ),
    'not_running': _plain('start', 'the VM is not running: start it (az vm start), then triage again'),
}


def remedy_for(cls, serial_remedy=None):
    """The remedy dict of a class (a copy); a boot failure's comes from its serial rule's remedy key."""
    found = SERIAL_REMEDIES.get(serial_remedy) if serial_remedy else None
    found = found or REMEDIES.get(cls) or REMEDIES['boot_unknown']
    return dict(found, options=dict(found['options']))


def _lower(value):
    return str(value or '').strip().lower()


def agent_status(instance_view):
    """``{ready, status, message, version}`` of the VM agent (``status`` None when it reports nothing)."""
    agent = (instance_view or {}).get('vmAgent') or {}
    statuses = agent.get('statuses') or []
    first = statuses[0] if statuses else {}
    ready = any(_lower(s.get('displayStatus')) == 'ready' for s in statuses)
    return dict(ready=ready, status=first.get('displayStatus'), message=first.get('message'),
                version=agent.get('vmAgentVersion'))  # fmt: skip


def platform_event(health):
    """True when a Resource Health status is an event the user did not start (context / reasonType / category)."""
    said = ' '.join(_lower((health or {}).get(k)) for k in ('context', 'reasonType', 'category'))
    return not ('user' in said or 'customer' in said)


def _health_line(health):
    parts = [str(health.get('availabilityState'))]
    for key in ('context', 'reasonType'):
        if health.get(key):
            parts.append('%s %s' % (key, health[key]))
    text = ', '.join(parts)
    summary = health.get('summary') or health.get('detailedStatus')
    return 'Resource Health: %s%s' % (text, ': %s' % summary if summary else '')


def _provisioning(model, instance_view):
    """The evidence of a failed provisioning (list, empty when it did not fail)."""
    lines = []
    state = ((model or {}).get('properties') or {}).get('provisioningState')
    if _lower(state) == 'failed':
        lines.append('model: provisioningState Failed')
    for status in (instance_view or {}).get('statuses') or ():
        code = str(status.get('code') or '')
        if code.lower().startswith('provisioningstate/failed'):
            lines.append('instance view: %s%s' % (code, ': %s' % status['message'] if status.get('message') else ''))
    return lines


def _agent_line(agent):
    if agent['status'] is None:
        return 'instance view: no VM agent status'
    return 'instance view: VM agent %s%s' % (agent['status'], ': %s' % agent['message'] if agent['message'] else '')


def _serial_summary(found, serial, note):
    """The ``serial`` part of the answer: what the log said, or why it was not read."""
    if found is not None:
        return dict(read=True, **{k: found[k] for k in ('class', 'rule', 'source', 'reason', 'boots')})
    if serial is None:
        return dict(read=False, reason_code='not_read', reason=note or 'the serial log was not read')
    return dict(read=False, reason_code=serial.reason_code, reason=serial.reason)


def _answer(cls, reason, evidence, remedy, context):
    return dict(context, **{'class': cls, 'reason': reason, 'evidence': evidence, 'remedy': remedy})


def _platform_or_provisioning(health, agent, model, instance_view, context):
    """Rules 1 and 2 of PRECEDENCE, or None."""
    state = (health or {}).get('availabilityState')
    down = state == 'Unavailable' or (state == 'Degraded' and not agent['ready'])
    if down and platform_event(health):
        return _answer('platform_unavailable', 'Resource Health reports the VM %s by a platform event' % state,
                       [_health_line(health), _agent_line(agent)], remedy_for('platform_unavailable'), context)  # fmt: skip
    failed = _provisioning(model, instance_view)
    if failed:
        return _answer('provisioning_failed', 'the last model change failed to provision', failed,
                       remedy_for('provisioning_failed'), context)  # fmt: skip
    return None


def _from_log(found, agent, serial_info, context):
    """Rules 5 to 7 of PRECEDENCE (the agent is not Ready)."""
    base = [_agent_line(agent)]
    if found is not None and found['class'] in BOOT_FAILURES:
        evidence = base + ['serial log: %s' % line for line in found['evidence']]
        return _answer(found['class'], found['reason'], evidence, remedy_for(found['class'], found['remedy']), context)
    if found is not None and found['class'] == 'boot_unknown':
        return _answer('boot_unknown', 'the VM agent is not Ready and the serial log shows ' + found['reason'],
                       base, remedy_for('boot_unknown'), context)  # fmt: skip
    if found is not None:
        evidence = base + ['serial log: %s' % line for line in found['evidence']]
        why = 'the last boot completed but the VM agent is not Ready'
    else:
        evidence = base + ['serial log not read: %s' % serial_info['reason']]
        why = 'the VM agent is not Ready (the serial log was not read, so a boot failure is not ruled out)'
    return _answer('agent_not_ready', why, evidence, remedy_for('agent_not_ready'), context)


def triage(model, instance_view, health=None, serial=None, serial_note=None, os_type=None, generation=None):
    """One VM's class, reason, evidence and remedy (see the module doc for the order of precedence).

    ``health``: the ``availabilityStatuses/current`` properties (None: not read); ``serial``: a ``BootLog`` (None:
    not read, ``serial_note`` says why); ``os_type`` / ``generation`` for the log's rules (the model's / instance view's when None)."""
    agent = agent_status(instance_view)
    power = power_state(instance_view)
    found = None
    if serial is not None and serial.reason_code is None:
        gen = generation or (instance_view or {}).get('hyperVGeneration')
        found = classify(serial.text, os_type=os_type or vm_os_type(model), generation=gen)
    context = dict(power_state=power, agent=agent, health=health, serial=_serial_summary(found, serial, serial_note))
    decided = _platform_or_provisioning(health, agent, model, instance_view, context)
    if decided is not None:
        return decided
    extra = [_health_line(health)] if health and health.get('availabilityState') not in (None, 'Available') else []
    if power != 'running':
        line = 'instance view: PowerState/%s' % (power or 'unknown')
        return _answer('boot_unknown', 'the VM is not running (%s)' % (power or 'no power state'), [line] + extra,
                       remedy_for('not_running'), context)  # fmt: skip
    if agent['ready']:
        return _answer('boot_ok', 'the VM agent reports Ready: the guest booted', [_agent_line(agent)] + extra,
                       remedy_for('boot_ok'), context)  # fmt: skip
    decided = _from_log(found, agent, context['serial'], context)
    decided['evidence'] += extra
    return decided
