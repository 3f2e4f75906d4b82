# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One view of a VM or Uniform scale-set instance, and one write path for its model (private).

Why one place: the key reset, the endpoint modes and diagnostics all read the same model (OS, power state,
proxy-agent settings, tags, instance view) and write it the same way. Azure has two write shapes: a VM takes a
``PATCH`` of the changed properties; a Uniform scale-set instance has no PATCH and takes ``GET`` + ``PUT`` of the
whole model. Both carry ``If-Match`` with the etag the decision was made on, so two controllers (or an AWX job and
its re-run) that decided on the same state never both write: the second gets 412 PreconditionFailed, reads the
resource again and decides again on what the first one wrote.

api-version policy (docs/design.md): the collection pins ``_arm.API_VERSION`` and never drops a field it read. An
instance's PUT body is its GET body minus ``etag`` and the read-only ``properties.instanceView`` only, so fields
this version does not define (a newer version's, a future one) go back as they came.

Tags: Resource Manager replaces the whole tag map when a PATCH or PUT carries ``tags``. A change that sets tags is
therefore sent as the resource's current tags merged with the change (never a partial map); with ``If-Match`` the
map merged into is the one the write replaces, so no user tag is dropped. Scale-set instances carry tags too (the
``VirtualMachineScaleSetVM`` schema is an ARM ``Resource``), so records kept in tags work for both kinds.

Public names (kept stable):

- ``VmView``: ``target, model, etag, properties, settings (proxyAgentSettings), tags, instance_view, power,
  os_type, provisioning_state``.
- ``read_view(client, target, instance_view=False) -> VmView`` (one GET; a 404 is a ``TaskError`` naming what is
  missing); ``read_instance_view(client, target) -> dict``; ``not_found(err, target) -> TaskError``.
- ``Change(properties=None, tags=None)``: what to write (a nested ``properties`` patch; tag updates, a value of
  None removes the tag).
- ``write(client, view, change, lro=True)``: one write of ``change`` on top of ``view`` with ``If-Match``, with
  the api-version the view was read with (``view.api_version``; ``read_view(..., api_version=...)``);
  ``write_request(view, change) -> (method, body)``: that write's request, for a caller that polls it as steps.
- ``update(client, view, decide, lro=True, sleep=time.sleep, instance_view=False, attempts=CONCURRENCY_ATTEMPTS)
  -> (view, change or None, response)``: ``decide(view) -> Change | None``; on a concurrent write (a race
  ``_arm.can_succeed_later`` says can pass: 412, 409 another operation in progress; or Compute's "can only be
  incremented") re-read and decide again. A refusal no retry can pass (409 ScopeLocked, a resource being deleted,
  OperationNotAllowed for another reason) fails at the first attempt.
- ``is_busy(err)`` (409 "another operation is in progress"), ``busy_delay(attempt)``.
- ``is_concurrent(err)``, ``merged_tags(tags, updates)``, ``get_tag(tags, name)``, ``power_state(instance_view)``,
  ``vm_power_state(model)``, ``os_type(model)`` ('Linux' / 'Windows', as Azure spells them), ``MAX_TAGS``;
  ``agent_status(instance_view)`` (the VM agent: ready, display status, message, version, time).
"""

from __future__ import annotations

import copy
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import (
    API_VERSION,
    ArmError,
    TaskError,
    can_succeed_later,
)

CONCURRENCY_ATTEMPTS = 6
MAX_TAGS = 50  # Resource Manager's limit of tags per resource


def power_state(instance_view):
    """'running', 'deallocated', 'stopped', ... from the instance view's PowerState/* status, or None."""
    for st in (instance_view or {}).get('statuses') or []:
        code = str(st.get('code', ''))
        if code.lower().startswith('powerstate/'):
            return code.split('/', 1)[1].lower()
    return None


def agent_status(instance_view):
    """The VM agent as the instance view reports it: ``{ready, display_status, message, version, time}``; ``ready``
    is True only for a ``Ready`` status (no ``vmAgent``, a stopped VM, is not Ready)."""
    agent = (instance_view or {}).get('vmAgent') or {}
    statuses = agent.get('statuses') or [{}]
    first = statuses[0] or {}
    ready = any(str(st.get('displayStatus', '')).lower() == 'ready' for st in statuses if isinstance(st, dict))
    return dict(
        ready=ready,
        display_status=first.get('displayStatus'),
        message=first.get('message'),
        version=agent.get('vmAgentVersion'),
        time=first.get('time'),
    )


def vm_power_state(model):
    """The power state from a VM / instance body read with ``$expand=instanceView`` (see ``power_state``)."""
    props = (model or {}).get('properties') or {}
    return power_state(props.get('instanceView') or (model or {}).get('instanceView'))


def os_type(model):
    """'Linux' / 'Windows' from the model (os disk, else os profile), or None."""
    props = (model or {}).get('properties') or {}
    ost = (((props.get('storageProfile') or {}).get('osDisk')) or {}).get('osType')
    if ost:
        return str(ost).capitalize()
    osp = props.get('osProfile') or {}
    if osp.get('windowsConfiguration'):
        return 'Windows'
    if osp.get('linuxConfiguration'):
        return 'Linux'
    return None


def get_tag(tags, name):
    """The value of tag ``name`` (tag names are case-insensitive in Azure), or None."""
    low = name.lower()
    for key, value in (tags or {}).items():
        if str(key).lower() == low:
            return value
    return None


def merged_tags(tags, updates):
    """``tags`` with ``updates`` applied (case-insensitive names; a None value removes the tag)."""
    out = dict(tags or {})
    for name, value in (updates or {}).items():
        for key in [k for k in out if str(k).lower() == name.lower()]:
            del out[key]
        if value is not None:
            out[name] = value
    return out


class VmView:
    """What one GET of a VM / instance model says (with the instance view when read with ``$expand``)."""

    def __init__(self, target, model, etag, instance_view=None):
        self.target = target
        self.model = model or {}
        self.etag = etag
        self.properties = self.model.get('properties') or {}
        self.settings = ((self.properties.get('securityProfile') or {}).get('proxyAgentSettings')) or {}
        self.tags = dict(self.model.get('tags') or {})
        self.instance_view = instance_view if instance_view is not None else self.properties.get('instanceView')
        self.power = power_state(self.instance_view)
        self.os_type = os_type(self.model)
        self.provisioning_state = self.properties.get('provisioningState')
        self.api_version = API_VERSION  # the version it was read with (read_view sets it)


def not_found(err, target):
    """A 404 as a TaskError naming what is missing (the resource group, the VM or the instance)."""
    code = (err.code or '').lower()
    if code == 'resourcegroupnotfound':
        return TaskError(
            "resource group '%s' not found in subscription %s (%s)"
            % (target.resource_group, target.subscription_id, err.describe()),
            arm_error=err.as_dict(),
        )
    if target.is_vm:
        what = "VM '%s' not found in resource group '%s'" % (target.name, target.resource_group)
    else:
        what = "scale-set instance '%s' of '%s' not found in resource group '%s'" % (
            target.instance_id,
            target.vmss_name,
            target.resource_group,
        )
    return TaskError('%s (%s)' % (what, err.describe()), arm_error=err.as_dict())


def read_instance_view(client, target):
    try:
        return client.get(target.path + '/instanceView', resource_id=target.id)
    except ArmError as err:
        if err.status == 404:
            raise not_found(err, target)
        raise


def read_view(client, target, instance_view=False, api_version=API_VERSION):
    """GET the VM / instance model (with ``$expand=instanceView`` when asked: one read for both).

    ``api_version``: a later version shows fields the default one does not (``addProxyAgentExtension``, 2025-04-01);
    write back with the same version (``write``/``update``), so a PUT carries what its GET returned.
    """
    params = {'$expand': 'instanceView'} if instance_view else None
    try:
        body, etag = client.get_with_etag(target.path, api_version=api_version, params=params, resource_id=target.id)
    except ArmError as err:
        if err.status == 404:
            raise not_found(err, target)
        raise
    view = None
    if instance_view:
        view = ((body or {}).get('properties') or {}).get('instanceView')
        if view is None:  # an endpoint that ignores $expand
            view = read_instance_view(client, target)
    out = VmView(target, body, etag, instance_view=view)
    out.api_version = api_version
    return out


class Change:
    """A write: ``properties`` (nested dict merged into the model) and ``tags`` (updates; None removes)."""

    def __init__(self, properties=None, tags=None):
        self.properties = properties or {}
        self.tags = tags or {}


def _deep_merge(target, patch):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def write_request(view, change):
    """(method, body) of the write of ``change`` on top of ``view``: PATCH of the change (VM), PUT of the whole
    model (instance). A caller that polls the operation itself (``_operation.write_steps``) sends it with
    ``If-Match: view.etag`` and ``view.api_version``."""
    if view.target.is_vm:
        body = {}
        if change.properties:
            body['properties'] = copy.deepcopy(change.properties)
        if change.tags:
            body['tags'] = merged_tags(view.tags, change.tags)
        return 'PATCH', body
    body = copy.deepcopy(view.model)
    body.pop('etag', None)
    body.setdefault('properties', {}).pop('instanceView', None)  # read-only, present when read with $expand
    _deep_merge(body['properties'], change.properties)
    if change.tags:
        body['tags'] = merged_tags(view.tags, change.tags)
    return 'PUT', body


def write(client, view, change, lro=True):
    """Write ``change`` on top of ``view``: PATCH (VM) or PUT of the whole model (instance), ``If-Match`` etag."""
    target = view.target
    method, body = write_request(view, change)
    send = client.patch if method == 'PATCH' else client.put
    return send(target.path, body, api_version=view.api_version, lro=lro, if_match=view.etag, resource_id=target.id)


def is_concurrent(err):
    """A write lost to another one: read again and decide again. A 412 or a 409 for another operation in progress
    (``_arm.can_succeed_later``, the one classification), or Compute's 400 "can only be incremented" (another
    writer raised keyIncarnationId first). Never a refusal no retry can pass, never an accepted-then-failed write."""
    if can_succeed_later(err):
        return True
    if getattr(err, 'accepted', False):
        return False
    return err.status == 400 and 'can only be incremented' in (err.message or '').lower()


def is_busy(err):
    """Azure refused a write because another operation runs on the VM (409 OperationNotAllowed "... another
    operation is in progress", Conflict, RetryableError, OperationPreempted): the same write succeeds later. Not a
    VM that is not running, a lock, a resource being deleted (``_arm.is_final``), nor an accepted-then-failed
    operation."""
    return err.status == 409 and can_succeed_later(err)


def busy_delay(attempt):
    """Seconds to wait before attempt ``attempt + 1`` of a write refused because another operation runs."""
    return min(2 * attempt, 10)


def update(client, view, decide, lro=True, sleep=time.sleep, instance_view=False, attempts=CONCURRENCY_ATTEMPTS):
    """Write ``decide(view)`` with If-Match; on a concurrent write read again and decide again.

    Returns ``(view, change, response)``: the view the write was decided on, the change written (None when the
    last decision was to write nothing, for example because another writer already did it) and the write's
    response body. Other errors propagate (an ``ArmError`` with ``accepted`` set failed after Azure accepted it).
    """
    attempt = 0
    while True:
        change = decide(view)
        if change is None:
            return view, None, None
        attempt += 1
        try:
            return view, change, write(client, view, change, lro=lro)
        except ArmError as err:
            if not is_concurrent(err) or attempt >= attempts:
                raise
            if err.status != 412:  # another operation runs: give it time; a 412 is answered at once
                sleep(busy_delay(attempt))
            view = read_view(client, view.target, instance_view=instance_view, api_version=view.api_version)
