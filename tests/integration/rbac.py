"""The Azure RBAC action an ARM request needs, derived from what the simulator logged (method + route), and the
collection's least-privilege custom role (docs/docsite/vmrescue-azure-role.json)."""

import json
import os
import re

from ansible_runner import REPO_ROOT

ROLE_FILE = os.path.join(REPO_ROOT, 'docs', 'docsite', 'vmrescue-azure-role.json')

_COMPUTE = re.compile(r'/providers/Microsoft\.Compute/(?P<rest>.*)$', re.I)
# The extension providers the preflight calls on a scope ({scope}/providers/<provider>/<type>), and their actions
# (the simulator's routes: armsim/authorization.py, policy.py, health.py). Listing one's own permissions needs none
# (armsim: no action on permissions.list) [inferred].
_NESTED = re.compile(r'/providers/(?P<rest>Microsoft\.(Authorization|ResourceHealth|PolicyInsights)/.*)$', re.I)
_NESTED_ACTIONS = {
    ('GET', 'microsoft.authorization/locks'): 'Microsoft.Authorization/locks/read',
    ('GET', 'microsoft.authorization/permissions'): None,
    ('GET', 'microsoft.resourcehealth/availabilitystatuses'): 'Microsoft.ResourceHealth/availabilityStatuses/read',
    ('GET', 'microsoft.resourcehealth/availabilitystatuses/current'): (
        'Microsoft.ResourceHealth/availabilityStatuses/read'
    ),
    ('POST', 'microsoft.policyinsights/checkpolicyrestrictions'): (
        'Microsoft.PolicyInsights/checkPolicyRestrictions/read'
    ),
}
_TAGS_API = re.compile(r'/providers/Microsoft\.Resources/tags/default$', re.I)
_METHOD_VERB = {'GET': 'read', 'HEAD': 'read', 'PUT': 'write', 'PATCH': 'write', 'DELETE': 'delete'}


def action_of(entry):
    """The RBAC action of one logged request, or None for calls RBAC does not cover (sign-in, cloud metadata,
    listing one's own subscriptions and tenants) or that the collection never makes: the Tags API, which only the
    tests' tag writer (a Tag Contributor planting records, tests/armsim/fleets/records.yaml) calls."""
    method = entry['method'].upper()
    path = entry['path'].split('?', 1)[0].rstrip('/')
    if _TAGS_API.search(path):
        return None
    nested = _NESTED.search(path)
    if nested:  # a provider's resource on another resource (locks, permissions, health, policy checks)
        return _NESTED_ACTIONS.get((method, nested.group('rest').lower()))
    m = _COMPUTE.search(path)
    if m:
        # Resource type = the provider's type segments (every other segment); POST .../start -> start/action.
        segs = m.group('rest').split('/')
        if method == 'POST':
            types, verb = segs[:-1:2], '%s/action' % segs[-1]
        else:
            types, verb = segs[0::2], _METHOD_VERB[method]
        if types and types[-1] == 'instanceView':
            types = types[:-1]
        elif method != 'POST' and len(segs) % 2 == 0 and segs[-1] == 'instanceView':
            types = types[:-1]
        if types[:1] == ['locations'] and 'operations' in types:
            return 'Microsoft.Compute/locations/operations/read'
        return 'Microsoft.Compute/%s/%s' % ('/'.join(types), verb)
    low = path.lower()
    if re.match(r'^/subscriptions/[^/]+/resourcegroups/[^/]+$', low) or re.match(
        r'^/subscriptions/[^/]+/resourcegroups$', low
    ):
        return 'Microsoft.Resources/subscriptions/resourceGroups/read'
    if re.match(r'^/subscriptions/[^/]+$', low):
        return 'Microsoft.Resources/subscriptions/read'
    return None


def actions_of(log):
    return set(a for a in (action_of(e) for e in log if e.get('status') not in ('dropped',)) if a)


def role_actions():
    with open(ROLE_FILE) as fh:
        return set(json.load(fh)['Actions'])
