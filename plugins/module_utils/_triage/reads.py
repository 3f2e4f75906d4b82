# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ARM reads behind a triage, and its public shape (private: may change without notice).

Per VM: the model with its instance view (one GET, ``_vm.read_view``), Resource Health's
``{vm}/providers/Microsoft.ResourceHealth/availabilityStatuses/current`` (ResourceHealth
``AvailabilityStatuses_GetByResource``, api-version ``_preflight.checks.HEALTH_API``; needs
``Microsoft.ResourceHealth/availabilityStatuses/read``, and a refusal leaves the health unchecked, not the triage
failed), and the serial log only when it can change the answer (``serial_log``): ``auto`` reads it for a running VM
whose VM agent is not Ready (one ``retrieveBootDiagnosticsData`` action, one HEAD and one ranged GET of the blob);
``always`` for every running VM; ``never`` not at all. The inventory plugin reads the health of a whole scope with
one list (``_preflight.checks.read_health``) and calls ``triage_of`` with what it read.

Public names: ``SERIAL_MODES``, ``read_health(client, target) -> (properties | None, note | None)``,
``wants_serial(mode, instance_view) -> bool``, ``triage_of(client, target, model, instance_view, health,
serial_log='auto', health_note=None, session=None) -> dict`` (the public shape: ``id``, ``class``, ``reason``, ``evidence``,
``remedy``, ``power_state``, ``vm_agent``, ``resource_health``, ``serial_log``), ``read_triage(client, target,
serial_log='auto', session=None) -> dict``; ``triage_many(client, scopes, resources, serial_log='auto', concurrency=16) ->
{resource id: triage without id}`` (the inventory's: one Resource Health list per scope, then each listed
resource, whose ``properties.instanceView`` was read, triaged concurrently).
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._batch import run_ordered
from ansible_collections.vmrescue.azure.plugins.module_utils._blob import new_session
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import (
    HEALTH_API,
    read_health as read_scope_health,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.boot_diagnostics import read_serial_log
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.verdict import agent_status, remedy_for, triage

SERIAL_MODES = ('auto', 'always', 'never')
HEALTH_PATH = '/providers/Microsoft.ResourceHealth/availabilityStatuses/current'
_HEALTH_KEYS = ('availabilityState', 'context', 'reasonType', 'category', 'summary', 'detailedStatus', 'occuredTime')


def read_health(client, target):
    """``(properties, None)`` of the VM's current availability status, or ``(None, why it was not read)``."""
    try:
        body = client.get(target.path + HEALTH_PATH, api_version=HEALTH_API, resource_id=target.id)
    except ArmError as err:
        return None, 'Resource Health not read (%s): %s' % (err.reason_code, err.describe())
    return (body or {}).get('properties') or {}, None


def wants_serial(mode, instance_view):
    """Whether the serial log is read for a VM with this instance view (see the module doc)."""
    if mode == 'never' or _vm.power_state(instance_view) != 'running':
        return False
    return mode == 'always' or not agent_status(instance_view)['ready']


def _health_out(health, note):
    if health is None:
        return dict(checked=False, reason=note or 'Resource Health not read')
    out = dict(checked=True)
    out.update((key, health.get(key)) for key in _HEALTH_KEYS if health.get(key) is not None)
    return out


def triage_of(client, target, model, instance_view, health, serial_log='auto', health_note=None, session=None):
    """The triage of one VM from what was read, reading its serial log when ``serial_log`` says so (through the
    ``requests`` ``session`` when given: the batch's blob reads share its connections)."""
    serial, note = None, None
    if wants_serial(serial_log, instance_view):
        serial = read_serial_log(client, target, model=model, session=session)
    else:
        note = (
            'serial_log=never' if serial_log == 'never' else 'not needed: the VM is not running or its agent is Ready'
        )
    found = triage(model, instance_view, health=health, serial=serial, serial_note=note)
    return {
        'id': target.id,
        'class': found['class'],
        'reason': found['reason'],
        'evidence': found['evidence'],
        'remedy': found['remedy'],
        'power_state': found['power_state'],
        'vm_agent': found['agent'],
        'resource_health': _health_out(health, health_note),
        'serial_log': found['serial'],
    }


def read_triage(client, target, serial_log='auto', session=None):
    """One VM read and triaged: the model with its instance view, its Resource Health, and the serial log when
    needed. Raises ArmError / TaskError when the VM cannot be read (not found, no permission)."""
    view = _vm.read_view(client, target, instance_view=True)
    health, note = read_health(client, target)
    return triage_of(client, target, view.model, view.instance_view, health, serial_log, note, session)


def _scopes_health(client, scopes):
    """(lower-case resource id -> Resource Health properties, the note for a resource without one)."""
    health, notes = {}, []
    for scope in scopes:
        check = read_scope_health(client, scope)
        if check.status == 'passed':
            health.update(check.data)
        else:
            notes.append('Resource Health of %s not read: %s' % (scope, check.why))
    return health, '; '.join(notes) or 'Resource Health lists no status for it'


def triage_many(client, scopes, resources, serial_log='auto', concurrency=16):
    """Every listed resource triaged (see the module doc); one whose instance view was not read is left out."""
    health, note = _scopes_health(client, scopes)

    def one(resource):
        view = (resource.get('properties') or {}).get('instanceView') or {}
        if view.get('_error'):
            return None
        target = parse_resource_id(resource['id'], 'id')
        got = triage_of(client, target, resource, view, health.get(resource['id'].lower()), serial_log, note, session)
        got.pop('id')
        return got

    out = {}
    session = new_session(concurrency)
    try:
        answers = run_ordered(one, resources, concurrency)
    finally:
        session.close()
    for resource, got in zip(resources, answers):
        if isinstance(got, VmrescueError):
            got = {'class': 'boot_unknown', 'reason': 'triage failed: %s' % got, 'evidence': [],
                   'remedy': remedy_for('boot_unknown')}  # fmt: skip
        elif isinstance(got, Exception):
            raise got
        if got is not None:
            out[resource['id']] = got
    return out
