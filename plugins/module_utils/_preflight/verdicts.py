# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One target's preflight verdict from its scope's checks: what refuses a write to it, and the fix (private).

Pure (no network). The refusals, in the order they are reported (the first one found is the reason code):

- ``scope_locked``: a ReadOnly lock at the target, its group or its subscription refuses every write; a
  CanNotDelete lock refuses only DELETE (lock-resources.md; 409 ScopeLocked);
- ``rbac_missing``: an action of the plan the principal's permissions at the group (and, when the group does not
  grant it, at the resource) do not include (403 AuthorizationFailed);
- ``policy_denied``: a Deny-effect policy evaluation of the planned content (403 RequestDisallowedByPolicy);
- ``platform_unavailable``: Resource Health says the resource is Unavailable (a platform problem: the write would
  not reach a guest that the platform cannot run); a warning only for a plan that is the platform's remedy
  (``platform_remedy``: a redeploy).

Public names (kept stable): ``Verdict`` (``refusals``: list of (methods, reason_code, msg, fields); ``warnings``;
``checks``: check name -> passed / failed / unchecked; ``unchecked``), ``verdict_for(target, plan, checks, policy,
resource_permissions, skip_class)``.
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import allowed

ALL_WRITES = ('PUT', 'PATCH', 'POST', 'DELETE')
ROLE_FILE = 'docs/docsite/vmrescue-azure-role.json'


def _covers(scope, resource_id):
    s, r = str(scope).rstrip('/').lower(), str(resource_id).rstrip('/').lower()
    return r == s or r.startswith(s + '/')


class Verdict:
    """What the preflight found for one target (module docstring)."""

    def __init__(self, target, skip_class):
        self.target = target
        self.skip_class = skip_class
        self.refusals = []
        self.warnings = []
        self.checks = {}
        self.unchecked = []

    def blocks(self, method):
        """The first refusal of a write with ``method``, as (reason_code, msg, fields), or None."""
        for methods, code, msg, fields in self.refusals:
            if method.upper() in methods:
                return code, msg, fields
        return None

    def guard(self, method, path):
        """Raise the target's skip when the preflight knows Azure refuses this write (called by the client)."""
        if method.upper() not in ALL_WRITES:
            return
        found = self.blocks(method)
        if found is not None:
            code, msg, fields = found
            raise self.skip_class(msg, reason_code=code, **fields)

    def skip_result(self, code, msg, fields):
        """The target's result when it is skipped for ``code``: nothing written."""
        out = dict(fields, changed=False, msg=msg, outcome=outcome('skipped', code, msg))
        out['preflight'] = self.as_dict()
        return out

    def check_mode_skip(self, result, plan):
        """In check mode: the skip result for a promised change the verdict refuses, else None."""
        if not result.get('changed') or result.get('failed'):
            return None
        found = self.blocks(plan.method)
        if found is None:
            return None
        code, msg, fields = found
        out = self.skip_result(code, msg.replace('Skipped before any write', 'Would be skipped (check mode)'), fields)
        out['id'] = result.get('id') or self.target.id
        return out

    def as_dict(self):
        refusal = self.refusals[0] if self.refusals else None
        return dict(
            checks=dict(self.checks),
            refused=refusal[1] if refusal else None,
            warnings=list(self.warnings),
            unchecked=list(self.unchecked),
        )


def _note(verdict, check):
    verdict.checks[check.name] = (
        check.status if check.status == 'unchecked' else verdict.checks.get(check.name, 'passed')
    )
    if check.status == 'unchecked':
        verdict.unchecked.append(check.as_unchecked())


def _locks(verdict, target, plan, check):
    _note(verdict, check)
    if check.status != 'passed':
        return
    for lock in check.data or ():
        level = str(lock.get('level') or '')
        if not _covers(lock.get('scope') or '', target.id):
            continue
        if level.lower() == 'readonly':
            methods = ALL_WRITES
        elif level.lower() == 'cannotdelete':
            methods = ('DELETE',)
        else:
            continue
        notes = (' (%s)' % lock['notes']) if lock.get('notes') else ''
        msg = (
            "%s is under the %s lock '%s'%s on %s: Azure refuses %s below it (409 ScopeLocked). Skipped before any "
            'write. Remove the lock for the change window (az lock delete --ids %s) or ask its owner, then run '
            'again.'
            % (
                target.display,
                level,
                lock.get('name'),
                notes,
                lock['scope'],
                'every write' if methods == ALL_WRITES else 'deletes',
                lock.get('id'),
            )
        )
        fields = dict(locked_scope=lock['scope'], lock=dict(lock))
        verdict.refusals.append((methods, 'scope_locked', msg, fields))
        if plan.method in methods:
            verdict.checks['locks'] = 'failed'


def _permissions(verdict, target, plan, check, resource_check):
    _note(verdict, check)
    if check.status != 'passed':
        return
    missing = [a for a in plan.actions(target) if not allowed(check.data, a)]
    if missing and resource_check is not None:
        if resource_check.status != 'passed':
            verdict.checks['permissions'] = 'unchecked'
            verdict.unchecked.append(resource_check.as_unchecked())
            return
        missing = [a for a in missing if not allowed(resource_check.data, a)]
    if not missing:
        return
    msg = (
        "the principal lacks permission for action '%s' at %s (Microsoft.Authorization/permissions): Azure would "
        'refuse the %s (403 AuthorizationFailed). Skipped before any write. Assign a role with that action at the '
        'VM, its resource group or subscription (the least-privilege role of the collection: %s), then run again.'
        % ("', '".join(missing), target.id, plan.operation, ROLE_FILE)
    )
    verdict.refusals.append((ALL_WRITES, 'rbac_missing', msg, dict(missing_actions=missing, scope=target.id)))
    verdict.checks['permissions'] = 'failed'


def _policy(verdict, target, plan, check):
    if check is None:
        return
    _note(verdict, check)
    if check.status == 'unchecked':
        return
    for entry in (check.data or {}).get('audit') or ():
        verdict.warnings.append(
            "policy assignment '%s' audits the %s on %s: it will be recorded as non-compliant, not refused"
            % (entry.get('assignment_name'), plan.operation, target.display)
        )
    denied = (check.data or {}).get('deny') or []
    if not denied:
        return
    names = ', '.join(
        "assignment '%s' (%s), definition '%s'"
        % (e.get('assignment_name'), e.get('assignment_id'), e.get('definition_name'))
        for e in denied
    )
    msg = (
        'Azure Policy denies the %s on %s: %s (checkPolicyRestrictions, effect Deny; 403 RequestDisallowedByPolicy). '
        'Skipped before any write. Ask for a policy exemption for this VM (az policy exemption create) or recover '
        'it another way, then run again.' % (plan.operation, target.display, names)
    )
    verdict.refusals.append((ALL_WRITES, 'policy_denied', msg, dict(policy_violations=denied)))
    verdict.checks['policy'] = 'failed'


def _health(verdict, target, plan, check):
    _note(verdict, check)
    if check.status != 'passed':
        return
    props = (check.data or {}).get(target.id.lower())
    if not props:
        return
    state = str(props.get('availabilityState') or '')
    summary = props.get('summary') or ''
    if state.lower() == 'degraded':
        verdict.warnings.append('Resource Health reports %s Degraded: %s' % (target.display, summary))
    if state.lower() != 'unavailable':
        return
    if plan.platform_remedy:  # a redeploy is what Resource Health's Unavailable asks for
        verdict.warnings.append('Resource Health reports %s Unavailable: %s' % (target.display, summary))
        return
    msg = (
        'Resource Health reports %s Unavailable: %s (%s). A platform problem, not the guest: the write would not '
        'reach it. Skipped before any write. Wait for Azure to recover it (Resource Health, Service Health), or '
        'redeploy it to another host (az vm redeploy), then run again.'
        % (target.display, summary, props.get('reasonType') or 'no reason given')
    )
    fields = dict(resource_health=dict((k, props.get(k)) for k in ('availabilityState', 'summary', 'reasonType')))
    verdict.refusals.append((ALL_WRITES, 'platform_unavailable', msg, fields))
    verdict.checks['health'] = 'failed'


def verdict_for(target, plan, checks, policy, resource_permissions, skip_class):
    """The Verdict of ``target`` from its scope's ``checks`` (name -> Check), its policy Check (or None) and its
    resource-level permissions Check (or None)."""
    verdict = Verdict(target, skip_class)
    _locks(verdict, target, plan, checks['locks'])
    _permissions(verdict, target, plan, checks['permissions'], resource_permissions)
    _policy(verdict, target, plan, policy)
    _health(verdict, target, plan, checks['health'])
    return verdict
