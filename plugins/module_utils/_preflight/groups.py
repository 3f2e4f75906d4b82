# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight of a resource group a task creates resources in, not only writes (private: may change).

The gate (gate.py) checks the groups of a task's targets. A task that also creates resources in a group the
operator names (the offline rescue's ``rescue_resource_group``: rescue VMs, their NICs and OS disks, the copies'
attachment, the repair's run command) asks here, once per group per batch, with a ``GroupPlan``: the same reads as
the gate (checks.py: permissions, locks, ``checkPolicyRestrictions`` per planned content) at the group, plus the
permission each joined resource needs at that resource (``subnets/join/action`` at the subnet). ``group_verdict``
is pure: the first refusal (reason code, message naming the option and the fix) and the warnings.

Rules (docs/azure-facts.md section 7; Resource Manager's lock-resources.md: "CanNotDelete means authorized users can
read and modify a resource, but they can't delete it. ReadOnly means authorized users can read a resource, but they
can't delete or update it"; a lock at a parent scope is inherited by every resource below it):

- the group does not exist (the permissions read answers 404 ``ResourceGroupNotFound``): ``invalid_input``;
- a ReadOnly lock at the group or above it: ``scope_locked`` (every write in the group is refused: 409);
- a CanNotDelete lock there: ``scope_locked`` when the plan deletes (``deletes``), else a warning that a later
  clean-up will be refused while it stays (creating and modifying are allowed);
- an action the principal's permissions at the group (or at a joined resource) lack: ``rbac_missing``;
- a Deny-effect evaluation of a planned content: ``policy_denied`` (an Audit one is a warning);
- a read the principal may not make (403) is unchecked: a warning, never a refusal (as in the gate).

Locks on single resources of the group (not at or above it) are not checked: a resource the plan creates has none.

Public names (kept stable): ``GroupPlan(option, group_id, actions, contents=(), joins=(), deletes=False, fix='')``
(frozen; ``joins``: ((option, resource id, action), ...)), ``read_group(client, plan) -> {name: Check}``,
``group_verdict(plan, checks) -> GroupVerdict`` (pure; ``.refusal``: (reason_code, msg) or None, ``.warnings``),
``check_group(client, plan)`` (both).
"""

from __future__ import annotations

import dataclasses
import json

from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import (
    allowed,
    check_policy,
    read_locks,
    read_permissions,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.verdicts import ROLE_FILE

__all__ = ['GroupPlan', 'GroupVerdict', 'check_group', 'group_verdict', 'read_group']


@dataclasses.dataclass(frozen=True)
class GroupPlan:
    """What a task creates in one group (module docstring); ``fix`` ends each refusal (another option to set)."""

    option: str
    group_id: str
    actions: tuple = ()
    contents: tuple = ()  # ((what, content dict), ...): checkPolicyRestrictions' resourceContent, never a secret
    joins: tuple = ()
    deletes: bool = False
    fix: str = ''

    @property
    def group_name(self):
        return self.group_id.rstrip('/').rsplit('/', 1)[-1]


@dataclasses.dataclass
class GroupVerdict:
    refusal: tuple | None = None
    warnings: list = dataclasses.field(default_factory=list)


def read_group(client, plan):
    """The checks of ``plan``'s group: {'permissions', 'locks', ('policy', what), ('join', resource id)} -> Check."""
    out = {'permissions': read_permissions(client, plan.group_id)}
    if out['permissions'].code == 'ResourceGroupNotFound':
        return out  # nothing else to read in a group that does not exist
    out['locks'] = read_locks(client, plan.group_id)
    seen = set()
    for what, content in plan.contents:
        key = json.dumps(content, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out[('policy', what)] = check_policy(client, plan.group_id, content)
    for _option, resource_id, _action in plan.joins:
        out[('join', resource_id)] = read_permissions(client, resource_id)
    return out


def check_group(client, plan):
    """``group_verdict(plan, read_group(client, plan))``."""
    return group_verdict(plan, read_group(client, plan))


def _covers(scope, resource_id):
    s, r = str(scope).rstrip('/').lower(), str(resource_id).rstrip('/').lower()
    return r == s or r.startswith(s + '/')


def _lock_findings(plan, check, verdict):
    """The refusal of a lock at or above the group, or its warning (module docstring)."""
    for lock in check.data or ():
        level = str(lock.get('level') or '').lower()
        if level not in ('readonly', 'cannotdelete') or not _covers(lock.get('scope') or '', plan.group_id):
            continue
        notes = (' (%s)' % lock['notes']) if lock.get('notes') else ''
        where = "%s %s is under the %s lock '%s'%s on %s" % (
            plan.option, plan.group_name, lock.get('level'), lock.get('name'), notes, lock.get('scope'))  # fmt: skip
        if level == 'cannotdelete' and not plan.deletes:
            verdict.warnings.append(
                '%s: what is created there can be used, but deletes are refused (409 ScopeLocked): state=cleaned '
                'cannot remove it while the lock stays (az lock delete --ids %s for the clean-up)' % (where, lock.get('id'))
            )  # fmt: skip
            continue
        return ('scope_locked', '%s: Azure refuses %s in it (409 ScopeLocked). Nothing was written. Remove the lock '
                'for the change window (az lock delete --ids %s) or ask its owner%s, then run again.'
                % (where, 'every write' if level == 'readonly' else 'deletes', lock.get('id'), plan.fix))  # fmt: skip
    return None


def _missing(plan, checks):
    """[(option, scope, [actions])] the principal lacks (an unchecked read lacks nothing)."""
    out = []
    perms = checks['permissions']
    if perms.status == 'passed':
        lacking = [a for a in plan.actions if not allowed(perms.data, a)]
        if lacking:
            out.append((plan.option, plan.group_id, lacking))
    for option, resource_id, action in plan.joins:
        check = checks.get(('join', resource_id))
        if check is not None and check.status == 'passed' and not allowed(check.data, action):
            out.append((option, resource_id, [action]))
    return out


def _rbac_refusal(plan, checks):
    missing = _missing(plan, checks)
    if not missing:
        return None
    parts = ["'%s' at %s %s" % ("', '".join(actions), option, scope) for option, scope, actions in missing]
    return ('rbac_missing', 'the principal lacks permission for %s (Microsoft.Authorization/permissions): Azure would '
            'refuse the writes there (403 AuthorizationFailed). Nothing was written. Assign a role with those actions '
            'at that scope or its subscription (the least-privilege role of the collection: %s)%s, then run again.'
            % ('; '.join(parts), ROLE_FILE, plan.fix))  # fmt: skip


def _policy_refusal(plan, checks, verdict):
    for key, check in checks.items():
        if not (isinstance(key, tuple) and key[0] == 'policy') or check.status == 'unchecked':
            continue
        for entry in (check.data or {}).get('audit') or ():
            verdict.warnings.append("policy assignment '%s' audits the %s in %s %s: recorded as non-compliant, not "
                                    'refused' % (entry.get('assignment_name'), key[1], plan.option, plan.group_name))  # fmt: skip
        denied = (check.data or {}).get('deny') or []
        if denied:
            names = ', '.join("assignment '%s' (%s), definition '%s'" % (
                e.get('assignment_name'), e.get('assignment_id'), e.get('definition_name')) for e in denied)  # fmt: skip
            return ('policy_denied', 'Azure Policy denies the %s in %s %s: %s (checkPolicyRestrictions, effect Deny; '
                    '403 RequestDisallowedByPolicy). Nothing was written. Ask for a policy exemption at the group (az '
                    'policy exemption create)%s, then run again.' % (key[1], plan.option, plan.group_name, names, plan.fix))  # fmt: skip
    return None


def group_verdict(plan, checks):
    """The GroupVerdict of ``plan`` from ``read_group``'s checks (module docstring); pure."""
    verdict = GroupVerdict()
    perms = checks['permissions']
    if perms.code == 'ResourceGroupNotFound':
        verdict.refusal = ('invalid_input', '%s %s does not exist (%s: 404 ResourceGroupNotFound). Nothing was '
                           'written. Create it (az group create --name %s --location <the VMs\' region>) or name an '
                           'existing group.' % (plan.option, plan.group_name, plan.group_id, plan.group_name))  # fmt: skip
        return verdict
    for check in checks.values():
        if check.status == 'unchecked':
            verdict.warnings.append('preflight of %s %s: %s not checked (%s): not blocking; the write will say if '
                                    'Azure refuses' % (plan.option, plan.group_name, check.name, check.why))  # fmt: skip
    locks = checks.get('locks')
    if locks is not None and locks.status == 'passed':
        verdict.refusal = _lock_findings(plan, locks, verdict)
    verdict.refusal = verdict.refusal or _rbac_refusal(plan, checks) or _policy_refusal(plan, checks, verdict)
    return verdict
