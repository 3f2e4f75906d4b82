# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource addressing for vmrescue.azure (private: not a public API, may change without notice).

A *target* is one VM or one Uniform scale-set instance. Users name it in one of three mutually
exclusive ways (see the ``vmrescue.azure.target`` doc fragment):

- ``vm_id``: the full resource ID of a VM (``.../providers/Microsoft.Compute/virtualMachines/{name}``)
  or of a Uniform scale-set instance (``.../virtualMachineScaleSets/{ss}/virtualMachines/{instanceId}``).
  Flexible-orchestration instances are ordinary VMs and use the first form.
- ``resource_group`` + ``name`` (a VM in the default subscription).
- ``resource_group`` + ``vmss_name`` + ``instance_id`` (a Uniform instance).

Public names (kept stable for the other plugins):

- ``TargetError(ValueError)``: a bad address; its message names the option and what is wrong.
- ``Target``: ``kind`` (``'vm'`` or ``'vmss_instance'``), ``subscription_id`` (may be ``None`` until
  ``with_subscription()``), ``resource_group``, ``name`` (VM name, or None), ``vmss_name``, ``instance_id``,
  ``.id`` (canonical resource ID), ``.path`` (URL path, percent-encoded), ``.display`` (short text for
  messages), ``.subscription_path``/``.resource_group_path``, ``with_subscription(sub)``.
- ``parse_resource_id(value, option='vm_id') -> Target``: case-insensitive like ARM.
- ``is_compute_target_id(value) -> bool``: for host vars (the azure_rm inventory ``id``).
- ``TARGET_OPTIONS``: the argspec fragment; ``TARGET_MUTUALLY_EXCLUSIVE``, ``TARGET_REQUIRED_TOGETHER``,
  ``TARGET_REQUIRED_BY``; ``TARGET_OPTION_NAMES``.
- ``target_from_params(params, required=True) -> Target | None``: validates the combination (no network).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote  # type: ignore

KIND_VM = 'vm'
KIND_VMSS_INSTANCE = 'vmss_instance'

VM_ID_FORMS = (
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachines/{name}',
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/'
    'virtualMachineScaleSets/{vmss}/virtualMachines/{instanceId}',
)

TARGET_OPTIONS = dict(
    vm_id=dict(type='str'),
    resource_group=dict(type='str'),
    name=dict(type='str'),
    vmss_name=dict(type='str'),
    instance_id=dict(type='str'),
)
TARGET_OPTION_NAMES = tuple(TARGET_OPTIONS)
TARGET_MUTUALLY_EXCLUSIVE = [
    ['vm_id', 'resource_group'],
    ['vm_id', 'name'],
    ['vm_id', 'vmss_name'],
    ['vm_id', 'instance_id'],
    ['name', 'vmss_name'],
    ['name', 'instance_id'],
]
TARGET_REQUIRED_TOGETHER = [['vmss_name', 'instance_id']]
TARGET_REQUIRED_BY = {'name': 'resource_group', 'vmss_name': 'resource_group'}

# Resource names: ARM allows a broad set; we only reject what cannot be a path segment.
_BAD_SEGMENT = re.compile(r'[/?#\x00-\x1f]')
_GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')


class TargetError(VmrescueError, ValueError):
    """The target options or resource ID are invalid. ``str(err)`` is the user-facing message."""

    reason_code = 'invalid_target'


class Target:
    """One VM or Uniform scale-set instance. Immutable; compare with ``==`` (case-insensitive like ARM)."""

    __slots__ = ('kind', 'subscription_id', 'resource_group', 'name', 'vmss_name', 'instance_id')

    def __init__(self, kind, subscription_id, resource_group, name=None, vmss_name=None, instance_id=None):
        if kind not in (KIND_VM, KIND_VMSS_INSTANCE):
            raise ValueError('unknown target kind %r' % (kind,))
        self.kind = kind
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = name
        self.vmss_name = vmss_name
        self.instance_id = None if instance_id is None else str(instance_id)

    # -- derived forms -------------------------------------------------------------------------
    @property
    def is_vm(self):
        return self.kind == KIND_VM

    @property
    def resource_group_id(self):
        self._need_subscription()
        return '/subscriptions/%s/resourceGroups/%s' % (self.subscription_id, self.resource_group)

    @property
    def id(self):
        """Canonical resource ID (ARM's casing of the fixed segments, names as given)."""
        base = self.resource_group_id + '/providers/Microsoft.Compute/'
        if self.kind == KIND_VM:
            return base + 'virtualMachines/' + self.name
        return base + 'virtualMachineScaleSets/%s/virtualMachines/%s' % (self.vmss_name, self.instance_id)

    @property
    def path(self):
        """URL path of the resource (names percent-encoded), for the ARM client."""
        self._need_subscription()
        base = '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/' % (
            quote(self.subscription_id, safe=''),
            quote(self.resource_group, safe=''),
        )
        if self.kind == KIND_VM:
            return base + 'virtualMachines/' + quote(self.name, safe='')
        return base + 'virtualMachineScaleSets/%s/virtualMachines/%s' % (
            quote(self.vmss_name, safe=''),
            quote(self.instance_id, safe=''),
        )

    @property
    def resource_group_path(self):
        self._need_subscription()
        return '/subscriptions/%s/resourceGroups/%s' % (
            quote(self.subscription_id, safe=''),
            quote(self.resource_group, safe=''),
        )

    @property
    def display(self):
        """Short human form for messages: ``VM rg/name`` or ``scale-set instance rg/ss/3``."""
        if self.kind == KIND_VM:
            return "VM '%s' in resource group '%s'" % (self.name, self.resource_group)
        return "scale-set instance '%s/%s' in resource group '%s'" % (
            self.vmss_name,
            self.instance_id,
            self.resource_group,
        )

    def with_subscription(self, subscription_id):
        """Return a copy with the subscription filled in (when it was not part of the address)."""
        if self.subscription_id:
            return self
        return Target(self.kind, subscription_id, self.resource_group, self.name, self.vmss_name, self.instance_id)

    def _need_subscription(self):
        if not self.subscription_id:
            raise TargetError(
                'no subscription for %s: set subscription_id (or AZURE_SUBSCRIPTION_ID) or use vm_id' % self.display
            )

    def _key(self):
        return (
            self.kind,
            (self.subscription_id or '').lower(),
            self.resource_group.lower(),
            (self.name or '').lower(),
            (self.vmss_name or '').lower(),
            (self.instance_id or '').lower(),
        )

    def __eq__(self, other):
        return isinstance(other, Target) and self._key() == other._key()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return 'Target(%s)' % (self.id if self.subscription_id else self.display)


def _check_segment(value, what, option):
    if not value:
        raise TargetError('%s: the %s is empty' % (option, what))
    if _BAD_SEGMENT.search(value):
        raise TargetError(
            '%s: the %s %r contains a character that cannot appear in a resource name' % (option, what, value)
        )
    return value


def parse_resource_id(value: object, option: str = 'vm_id') -> Target:
    """Parse a VM or Uniform scale-set instance resource ID (case-insensitive, like ARM).

    Accepts surrounding whitespace, a trailing slash and (leniently) a full management URL
    ``https://host/subscriptions/...``. Raises TargetError naming what is wrong.
    """
    if not isinstance(value, str):
        raise TargetError('%s: expected a resource ID string, got %s' % (option, type(value).__name__))
    raw = value
    text = value.strip()
    m = re.match(r'^https://[^/]+(/.*)$', text)
    if m:
        text = m.group(1).split('?', 1)[0]
    text = text.rstrip('/')
    expected = 'expected %s or %s' % VM_ID_FORMS
    if not text.startswith('/'):
        raise TargetError('%s: %s, got %r (a resource ID starts with /subscriptions/)' % (option, expected, raw))
    parts = text[1:].split('/')
    lower = [p.lower() for p in parts]

    def fail(why):
        raise TargetError('%s: %s; got %r (%s)' % (option, expected, raw, why))

    if len(parts) < 2 or lower[0] != 'subscriptions':
        fail('it does not start with /subscriptions/{subscriptionId}')
    sub = parts[1]
    if not sub:
        fail('the subscription ID is empty')
    if not _GUID.match(sub):
        fail('the subscription ID %r is not a GUID' % sub)
    if len(parts) < 4 or lower[2] != 'resourcegroups':
        fail('no /resourceGroups/{name} after the subscription')
    rg = _check_segment(parts[3], 'resource group name', option)
    if len(parts) < 6 or lower[4] != 'providers':
        fail('no /providers/Microsoft.Compute/... after the resource group')
    if lower[5] != 'microsoft.compute':
        fail('the provider is %r, not Microsoft.Compute' % parts[5])
    rest, rest_l = parts[6:], lower[6:]
    if len(rest) == 2 and rest_l[0] == 'virtualmachines':
        return Target(KIND_VM, sub, rg, name=_check_segment(rest[1], 'VM name', option))
    if len(rest) == 4 and rest_l[0] == 'virtualmachinescalesets' and rest_l[2] == 'virtualmachines':
        ss = _check_segment(rest[1], 'scale set name', option)
        inst = _check_segment(rest[3], 'instance ID', option)
        return Target(KIND_VMSS_INSTANCE, sub, rg, vmss_name=ss, instance_id=inst)
    if len(rest) == 2 and rest_l[0] == 'virtualmachinescalesets':
        fail('this is a scale set, not one of its instances: keys are per instance, add /virtualMachines/{instanceId}')
    if rest_l and rest_l[0] == 'virtualmachines' and len(rest) > 2:
        fail('it names a child resource (%s) of the VM, not the VM' % '/'.join(rest[2:]))
    if len(rest) > 4 and rest_l[0] == 'virtualmachinescalesets':
        fail('it names a child resource (%s) of the instance, not the instance' % '/'.join(rest[4:]))
    fail('resource type %r is not a VM or a scale-set instance' % '/'.join(rest[:1]) if rest else 'no resource type')


def is_compute_target_id(value: object) -> bool:
    """True if ``value`` parses as a VM or Uniform scale-set instance ID (used for host vars)."""
    if not isinstance(value, str) or '/' not in value:
        return False
    try:
        parse_resource_id(value)
    except TargetError:
        return False
    return True


def _given(params, key):
    value = params.get(key)
    return value is not None and value != ''


def target_from_params(params: Mapping, required: bool = True) -> Target | None:
    """Validate the target options in ``params`` (a dict) and return a Target, or None if none given.

    Performs no network call. The subscription of a name-based target is None until
    ``with_subscription()``; a ``vm_id`` carries its own.
    """
    given = [k for k in TARGET_OPTION_NAMES if _given(params, k)]
    if not given:
        if required:
            raise TargetError(
                'no target: set vm_id, or resource_group and name, or resource_group, vmss_name and '
                'instance_id (or the host var azure_vm_id)'
            )
        return None
    if 'vm_id' in given:
        others = [k for k in given if k != 'vm_id']
        if others:
            raise TargetError('vm_id is mutually exclusive with %s' % ', '.join(others))
        return parse_resource_id(params['vm_id'], 'vm_id')
    rg = params.get('resource_group')
    if _given(params, 'name'):
        if _given(params, 'vmss_name') or _given(params, 'instance_id'):
            raise TargetError(
                'name is mutually exclusive with vmss_name/instance_id (a Flexible scale-set instance is a '
                'VM: use its name; a Uniform instance: use vmss_name and instance_id)'
            )
        if not rg:
            raise TargetError('name requires resource_group')
        return Target(
            KIND_VM,
            None,
            _check_segment(rg, 'resource group name', 'resource_group'),
            name=_check_segment(params['name'], 'VM name', 'name'),
        )
    if _given(params, 'vmss_name') or _given(params, 'instance_id'):
        missing = [k for k in ('resource_group', 'vmss_name', 'instance_id') if not _given(params, k)]
        if missing:
            raise TargetError(
                'a scale-set instance needs resource_group, vmss_name and instance_id; missing %s' % ', '.join(missing)
            )
        return Target(
            KIND_VMSS_INSTANCE,
            None,
            _check_segment(rg, 'resource group name', 'resource_group'),
            vmss_name=_check_segment(params['vmss_name'], 'scale set name', 'vmss_name'),
            instance_id=_check_segment(str(params['instance_id']), 'instance ID', 'instance_id'),
        )
    raise TargetError('resource_group alone does not name a VM: add name, or vmss_name and instance_id')
