"""Microsoft.Authorization as Resource Manager applies it: role assignments (what a principal may do, and the
permissions API that says so) and management locks (what nobody may do under a scope).

Sources (azure-facts.md sections 3 and 7):
- Locks: Resource Manager's lock-resources.md and the locks spec (tests/specs/authorization/..., 2020-05-01
  locks.json: "When you apply a lock at a parent scope, all child resources inherit the same lock"; ReadOnly =
  read only, CanNotDelete = read and modify but not delete). The 409 ScopeLocked wording is the one Azure returns
  (quoted in MicrosoftDocs/azure-docs' troubleshooting article for Azure Automation Start/Stop VMs, all its
  translations: "The scope '...' cannot perform write operation because following scope(s) are locked: '...'.
  Please remove the lock and try again."). The named scope is the request's path, the locked one the lock's scope.
- Permissions: authorization-RoleDefinitionsCalls.json 2022-04-01 (Permissions_ListForResourceGroup /
  Permissions_ListForResource: one entry per role assignment, actions / notActions / dataActions / notDataActions).
- AuthorizationFailed (403) wording: unchanged from auth.py (azure-facts.md section 3).
"""

import fnmatch
import json
import os

from .errors import ArmError
from .routing import RG, SUB, Response

LOCK_TYPE = 'Microsoft.Authorization/locks'
LOCK_LEVELS = ('ReadOnly', 'CanNotDelete')
LOCK_API_VERSIONS = ('2020-05-01', '2016-09-01', '2015-01-01')  # the stable versions of the locks spec
LOCKS_READ = 'Microsoft.Authorization/locks/read'
# Requests a ReadOnly lock does not refuse although they are POSTs: evaluations that change nothing.
# [inferred] checkPolicyRestrictions only reads policy; refusing it under a lock would make the pre-check useless.
READ_POSTS = ('/providers/microsoft.policyinsights/checkpolicyrestrictions',)


def covers(ancestor, scope):
    """Whether ``ancestor`` is ``scope`` or one of its parents (ARM ids compare case-insensitively)."""
    a, s = ancestor.rstrip('/').lower(), scope.rstrip('/').lower()
    return s == a or s.startswith(a + '/')


# ------------------------------------------------------------------------------------------------------
# role assignments
# ------------------------------------------------------------------------------------------------------
class RoleAssignment:
    """A role (actions / notActions, Azure's wildcards) assigned at a scope (None: everywhere in the fleet)."""

    def __init__(self, spec, base_dir=None):
        actions, not_actions = spec.get('actions'), spec.get('not_actions')
        self.name = spec.get('name') or 'custom role'
        if spec.get('definition'):  # a role definition file as `az role definition create` takes it
            path = spec['definition']
            if not os.path.isabs(path) and base_dir:
                path = os.path.join(base_dir, path)
            with open(path, encoding='utf-8') as fh:
                definition = json.load(fh)
            self.name = spec.get('name') or definition.get('Name') or self.name
            actions = list(definition.get('Actions') or []) + list(actions or [])
            not_actions = list(definition.get('NotActions') or []) + list(not_actions or [])
        self.actions = [str(a) for a in actions or ()]
        self.not_actions = [str(a) for a in not_actions or ()]
        self.scope = spec.get('scope')

    def applies(self, scope):
        return self.scope is None or covers(self.scope, scope)

    def allows(self, action):
        action = action.lower()
        return any(fnmatch.fnmatchcase(action, a.lower()) for a in self.actions) and not any(
            fnmatch.fnmatchcase(action, a.lower()) for a in self.not_actions
        )


def permitted(principal, action, scope):
    """Whether the principal may perform ``action`` at ``scope``: its role assignments (none declared: every
    action, as an Owner), minus its ``denied_actions`` globs (applied like deny assignments)."""
    low = action.lower()
    if any(fnmatch.fnmatchcase(low, pattern) for pattern in principal.denied_actions):
        return False
    if principal.roles is None:
        return True
    return any(role.applies(scope) and role.allows(action) for role in principal.roles)


def permissions(principal, scope):
    """The Permissions_List answer for ``principal`` at ``scope``: one entry per role assignment that applies
    (inherited from above included), its notActions extended by the principal's denied actions so that what the
    API says and what is enforced agree."""
    denied = list(principal.denied_display)
    if principal.roles is None:
        entries = [(['*'], [])]
    else:
        entries = [(role.actions, role.not_actions) for role in principal.roles if role.applies(scope)]
    return [
        {'actions': list(actions), 'notActions': list(not_actions) + denied, 'dataActions': [], 'notDataActions': []}
        for actions, not_actions in entries
    ]


def authorization_failed(principal, action, scope):
    return ArmError(
        403,
        'AuthorizationFailed',
        f"The client '{principal.client_id}' with object id '{principal.object_id}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. "
        'If access was recently granted, please refresh your credentials.',
    )


# ------------------------------------------------------------------------------------------------------
# locks
# ------------------------------------------------------------------------------------------------------
class Lock:
    def __init__(self, scope, name, level, notes=None, owners=None):
        if level not in LOCK_LEVELS:
            match = next((lv for lv in LOCK_LEVELS if lv.lower() == str(level).lower()), None)
            if match is None:
                raise ValueError(f'lock level must be one of {", ".join(LOCK_LEVELS)}, not {level!r}')
            level = match
        if not str(scope).lower().startswith('/subscriptions/'):
            raise ValueError(f'a lock scope is a subscription, resource group or resource id, not {scope!r}')
        self.scope = str(scope).rstrip('/')
        self.name = str(name)
        self.level = level
        self.notes = notes
        self.owners = list(owners or [])

    @property
    def id(self):
        return f'{self.scope}/providers/{LOCK_TYPE}/{self.name}'

    def to_arm(self):
        props = {'level': self.level}
        if self.notes:
            props['notes'] = self.notes
        props['owners'] = [dict(o) for o in self.owners]
        return {'id': self.id, 'name': self.name, 'type': LOCK_TYPE, 'properties': props}

    def to_json(self):
        return {'scope': self.scope, 'name': self.name, 'level': self.level, 'notes': self.notes}

    @classmethod
    def from_spec(cls, spec, default_scope=None):
        return cls(
            spec.get('scope') or default_scope,
            spec.get('name') or 'lock',
            spec.get('level') or 'ReadOnly',
            spec.get('notes'),
            spec.get('owners'),
        )


def scope_locked(req_scope, locks, delete):
    """409 ScopeLocked as Resource Manager words it (module docstring). Several locking scopes are listed
    comma-separated, each quoted ([inferred]: every public sample names one)."""
    operation = 'delete' if delete else 'write'
    scopes = []
    for lock in locks:
        if lock.scope not in scopes:
            scopes.append(lock.scope)
    listing = ','.join(f"'{s}'" for s in scopes)
    return ArmError(
        409,
        'ScopeLocked',
        f"The scope '{req_scope}' cannot perform {operation} operation because following scope(s) are locked: "
        f'{listing}. Please remove the lock and try again.',
    )


def check_locks(world, req):
    """Raise 409 ScopeLocked when a lock at or above the request's scope forbids its method. Reads are never
    refused; ReadOnly refuses PUT / PATCH / POST / DELETE, CanNotDelete only DELETE."""
    method = req.method
    if method in ('GET', 'HEAD') or not world.locks:
        return
    path = req.path
    low = path.lower()
    if not low.startswith('/subscriptions/') or any(low.endswith(p) for p in READ_POSTS):
        return
    if '/providers/microsoft.authorization/locks' in low:
        return  # managing locks is how a lock is removed
    delete = method == 'DELETE'
    blocking = [
        lock
        for lock in world.locks
        if covers(lock.scope, path) and (lock.level == 'ReadOnly' or (delete and lock.level == 'CanNotDelete'))
    ]
    if blocking:
        raise scope_locked(path, blocking, delete)


class Authorization:
    """Routes: management locks (list at any scope) and the caller's permissions."""

    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        locks = r'/providers/microsoft\.authorization/locks'
        # A resource scope: anything under a resource group that names a provider.
        resource = RG + r'/providers/(?P<rest>.+?)'
        for pattern in (SUB + locks, RG + locks, resource + locks):
            add('GET', pattern, self.list_locks, 'locks.list', action=LOCKS_READ, scope_strip=3)
        perms = r'/providers/microsoft\.authorization/permissions'
        for pattern in (RG + perms, resource + perms):
            add('GET', pattern, self.list_permissions, 'permissions.list')

    def _scope(self, req, sub, rg=None, rest=None):
        self.world.subscription(sub)
        if rg is not None:
            self.world.group(sub, rg)
        return req.path.rsplit('/providers/', 1)[0]

    def list_locks(self, req, sub, rg=None, rest=None):
        version = req.api_version or ''
        if version not in LOCK_API_VERSIONS:
            raise no_registered_provider(version, 'locks', LOCK_API_VERSIONS)
        scope = self._scope(req, sub, rg, rest)
        at_scope = (req.query.get('$filter') or '').replace(' ', '').lower() == 'atscope()'
        found = []
        for lock in self.world.locks:
            inherited = covers(lock.scope, scope)  # at the scope or above it
            below = covers(scope, lock.scope)
            if inherited or (below and not at_scope):
                found.append(lock.to_arm())
        return Response(200, {'value': found})

    def list_permissions(self, req, sub, rg=None, rest=None):
        scope = self._scope(req, sub, rg, rest)
        principal = self.world.fleet.principal(req.principal)
        if principal is None:
            return Response(200, {'value': []})
        return Response(200, {'value': permissions(principal, scope)})


def no_registered_provider(version, type_name, versions):
    """ARM's answer to an api-version a resource type does not have ([inferred] text after its usual shape)."""
    return ArmError(
        400,
        'NoRegisteredProviderFound',
        f"No registered resource provider found for location 'global' and API version '{version}' for type "
        f"'{type_name}'. The supported api-versions are '{', '.join(versions)}'.",
    )
