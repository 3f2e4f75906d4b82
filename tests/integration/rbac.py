"""The Azure RBAC action an ARM request needs, derived from what the simulator logged (method + route), and the
collection's least-privilege custom role (docs/docsite/vmrescue-azure-role.json)."""

import json
import os
import re

from ansible_runner import REPO_ROOT

ROLE_FILE = os.path.join(REPO_ROOT, 'docs', 'docsite', 'vmrescue-azure-role.json')

# Compute, and Network (the offline rescue creates a NIC for its rescue VM). A NIC in a subnet also needs
# Microsoft.Network/virtualNetworks/subnets/join/action on the subnet (a linked check the request log cannot show).
_COMPUTE = re.compile(r'/providers/Microsoft\.(?P<provider>Compute|Network)/(?P<rest>.*)$', re.I)
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
        provider = 'Microsoft.' + m.group('provider').capitalize()
        if types[:1] == ['locations'] and 'operations' in types:
            return '%s/locations/operations/read' % provider
        return '%s/%s/%s' % (provider, '/'.join(types), verb)
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


_VM = re.compile(r'/providers/Microsoft\.Compute/virtualMachines/[^/]+$', re.I)
_NIC = re.compile(r'/providers/Microsoft\.Network/networkInterfaces/[^/]+$', re.I)


def linked_actions(log):
    """The actions Azure checks on *linked* resources, which the request log cannot show (a failure is
    LinkedAuthorizationFailed): a VM PUT (a create: updates go through PATCH) joins its NIC, a NIC PUT joins its
    subnet (learn.microsoft.com "Azure permissions for Networking": networkInterfaces/join/action,
    virtualNetworks/subnets/join/action)."""
    out = set()
    for entry in log:
        if entry['method'].upper() != 'PUT' or entry.get('status') not in (200, 201, 202):
            continue
        path = entry['path'].split('?', 1)[0].rstrip('/')
        if _VM.search(path):
            out.add('Microsoft.Network/networkInterfaces/join/action')
        elif _NIC.search(path):
            out.add('Microsoft.Network/virtualNetworks/subnets/join/action')
    return out
