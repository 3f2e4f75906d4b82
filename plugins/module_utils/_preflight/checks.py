# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight's reads of one scope (a resource group), each a ``Check`` (private: may change without notice).

Each read is one call per scope (Resource Health and the permissions list follow ``nextLink``), whatever the number
of VMs in it; only a permission the group does not grant is asked again per resource (an assignment on the VM
itself). A read the principal may not make (403) or that fails otherwise is ``unchecked`` with the missing action:
it never blocks a target and never fails the run.

Sources (docs/azure-facts.md section 7; the vendored specs in tests/specs):
- Permissions_ListForResourceGroup / _ListForResource (Microsoft.Authorization 2022-04-01): one entry per role
  assignment that applies (inherited ones included), ``actions`` / ``notActions`` with ``*`` wildcards,
  case-insensitive; an action is allowed when one entry has it in ``actions`` and not in its ``notActions``.
- ManagementLocks_ListAtResourceGroupLevel (2020-05-01): the locks at the group, above it (inherited) and on its
  resources; a lock's scope is its id before ``/providers/Microsoft.Authorization/locks/``.
- PolicyRestrictions_CheckAtResourceGroupScope (Microsoft.PolicyInsights 2024-10-01): ``policyEvaluations`` of the
  given content, ``effectDetails.policyEffect`` Deny or Audit (``includeAuditEffect``).
- AvailabilityStatuses_ListByResourceGroup (Microsoft.ResourceHealth 2026-07-01): ``availabilityState`` per
  resource, its id ``{resource}/providers/Microsoft.ResourceHealth/availabilityStatuses/current``.

Public names (kept stable): ``Check(name, status, data=None, action=None, scope=None, why='', code=None)`` (status
``passed`` / ``failed`` / ``unchecked``), ``read_permissions(client, scope)``, ``read_locks(client, scope)``,
``read_health(client, scope)``, ``check_policy(client, scope, content)``, ``allowed(entries, action)``,
``READ_ACTIONS`` (what each check needs).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION, ArmError

PERMISSIONS_API = '2022-04-01'
LOCKS_API = '2020-05-01'
POLICY_API = '2024-10-01'
HEALTH_API = '2026-07-01'
READ_ACTIONS = {
    'permissions': 'Microsoft.Authorization/permissions/read',
    'locks': 'Microsoft.Authorization/locks/read',
    'policy': 'Microsoft.PolicyInsights/checkPolicyRestrictions/read',
    'health': 'Microsoft.ResourceHealth/availabilityStatuses/read',
}
MAX_PAGES = 100


@dataclasses.dataclass
class Check:
    """One check at one scope: ``status`` passed / failed / unchecked; ``data`` its findings; for an unchecked one
    the ``action`` the principal lacks (or None) and ``why``."""

    name: str
    status: str
    data: Any = None
    action: str | None = None
    scope: str | None = None
    why: str = ''
    code: str | None = None  # an unchecked read's ARM error code (ResourceGroupNotFound: the scope is missing)

    def as_unchecked(self) -> dict:
        return dict(check=self.name, scope=self.scope, missing_action=self.action, why=self.why)


def _unchecked(name, scope, err):
    """The Check for a read that failed: 403 names the action the principal lacks; anything else says why."""
    action = READ_ACTIONS[name] if err.status == 403 else None
    if err.status == 403 and err.action:
        action = err.action
    why = 'the principal lacks %s' % action if action else 'the read failed: %s' % err.describe()
    return Check(name, 'unchecked', action=action, scope=scope, why=why, code=err.code)


def _list(client, path, api_version):
    """Every ``value`` of a list, following ``nextLink`` (at most MAX_PAGES pages)."""
    items = []
    page = client.get(path, api_version=api_version)
    for _page in range(MAX_PAGES):
        items.extend((page or {}).get('value') or [])
        link = (page or {}).get('nextLink')
        if not link:
            break
        page = client.get(link, api_version=None)
    return items


def _matches(pattern, action):
    regex = '^' + '.*'.join(re.escape(part) for part in str(pattern).split('*')) + '$'
    return re.match(regex, action, re.IGNORECASE) is not None


def allowed(entries, action) -> bool:
    """Whether the permissions ``entries`` grant ``action`` (module docstring)."""
    for entry in entries or ():
        if any(_matches(a, action) for a in entry.get('actions') or ()) and not any(
            _matches(a, action) for a in entry.get('notActions') or ()
        ):
            return True
    return False


def read_permissions(client, scope) -> Check:
    """The caller's permissions at ``scope`` (a group or a resource): ``data`` the list of entries."""
    try:
        entries = _list(client, scope + '/providers/Microsoft.Authorization/permissions', PERMISSIONS_API)
    except ArmError as err:
        return _unchecked('permissions', scope, err)
    return Check('permissions', 'passed', data=entries, scope=scope)


def lock_scope(lock_id) -> str:
    """The scope a lock applies to: its id before ``/providers/Microsoft.Authorization/locks/``."""
    low = str(lock_id).lower()
    cut = low.rfind('/providers/microsoft.authorization/locks/')
    return str(lock_id)[:cut] if cut >= 0 else str(lock_id)


def read_locks(client, scope) -> Check:
    """The locks at, above and below ``scope``: ``data`` a list of {id, name, level, notes, scope}."""
    try:
        items = _list(client, scope + '/providers/Microsoft.Authorization/locks', LOCKS_API)
    except ArmError as err:
        return _unchecked('locks', scope, err)
    locks = []
    for item in items:
        props = item.get('properties') or {}
        locks.append(
            dict(
                id=item.get('id'),
                name=item.get('name'),
                level=props.get('level'),
                notes=props.get('notes'),
                scope=lock_scope(item.get('id') or ''),
            )
        )
    return Check('locks', 'passed', data=locks, scope=scope)


def read_health(client, scope) -> Check:
    """Resource Health of every resource of ``scope``: ``data`` lower-case resource id -> its properties."""
    try:
        items = _list(client, scope + '/providers/Microsoft.ResourceHealth/availabilityStatuses', HEALTH_API)
    except ArmError as err:
        return _unchecked('health', scope, err)
    health = {}
    for item in items:
        rid = str(item.get('id') or '')
        cut = rid.lower().find('/providers/microsoft.resourcehealth/')
        if cut > 0:
            health[rid[:cut].lower()] = item.get('properties') or {}
    return Check('health', 'passed', data=health, scope=scope)


def _policy_entry(evaluation):
    info = evaluation.get('policyInfo') or {}
    effect = str(((evaluation.get('effectDetails') or {}).get('policyEffect')) or '')
    entry = dict(effect=effect)
    for key, name in (
        ('policyAssignmentId', 'assignment'),
        ('policyDefinitionId', 'definition'),
        ('policySetDefinitionId', 'set_definition'),
    ):
        if info.get(key):
            entry[name + '_id'] = str(info[key])
            entry[name + '_name'] = str(info[key]).rstrip('/').rsplit('/', 1)[-1]
    return entry


def check_policy(client, scope, content) -> Check:
    """Azure Policy on ``content`` (type + properties) at ``scope``: ``data`` {deny: [...], audit: [...]} entries
    in the shape of the result field ``policy_violations``."""
    body = {
        'resourceDetails': {'resourceContent': content, 'apiVersion': API_VERSION},
        'includeAuditEffect': True,
    }
    try:
        resp = client.request(
            'POST', scope + '/providers/Microsoft.PolicyInsights/checkPolicyRestrictions', POLICY_API, body=body
        ).body
    except ArmError as err:
        return _unchecked('policy', scope, err)
    found = dict(deny=[], audit=[])
    evaluations = ((resp or {}).get('contentEvaluationResult') or {}).get('policyEvaluations') or []
    for evaluation in evaluations:
        if str(evaluation.get('evaluationResult') or '').lower() != 'noncompliant':
            continue
        entry = _policy_entry(evaluation)
        kind = entry['effect'].lower()
        if kind in found and entry not in found[kind]:
            found[kind].append(entry)
    return Check('policy', 'failed' if found['deny'] else 'passed', data=found, scope=scope)
