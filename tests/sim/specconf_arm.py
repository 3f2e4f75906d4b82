"""Validate the simulator's Authorization, PolicyInsights and ResourceHealth bodies (and the ARM error bodies of
refused writes) against the official spec files vendored in tests/specs/<provider>/ (see each SOURCES.md).

As specconf.py does for Compute: Swagger 2.0 schemas checked as JSON Schema draft 4, an enum that ARM declares
extensible (x-ms-enum.modelAsString) not enforced, null values absent. One more AutoRest reading: a schema that
is only ``"type": "object"`` (no properties, no additionalProperties) is any JSON value, as the PolicyInsights
spec's own example uses ExpressionEvaluationDetails.expressionValue.
"""

import json
import pathlib

from specconf import _drop_nulls, _escape, _validator

SPECS = pathlib.Path(__file__).resolve().parent.parent / 'specs'
LOCKS = SPECS / (
    'authorization/specification/resources/resource-manager/Microsoft.Authorization/locks/stable/2020-05-01/locks.json'
)
PERMISSIONS = SPECS / (
    'authorization/specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/'
    'authorization-RoleDefinitionsCalls.json'
)
ARM_TYPES = SPECS / 'authorization/specification/common-types/resource-management/v2/types.json'
POLICY = SPECS / (
    'policyinsights/specification/policyinsights/resource-manager/Microsoft.PolicyInsights/stable/2024-10-01/'
    'checkPolicyRestrictions.json'
)
HEALTH = SPECS / (
    'resourcehealth/specification/resourcehealth/resource-manager/Microsoft.ResourceHealth/ResourceHealth/stable/'
    '2026-07-01/ResourceHealth.json'
)
# (swagger, path key, method) of each operation the tests validate
LOCKS_LIST = (LOCKS, '/{scope}/providers/Microsoft.Authorization/locks', 'get')
PERMISSIONS_RG = (
    PERMISSIONS,
    '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Authorization/permissions',
    'get',
)
POLICY_CHECK_RG = (
    POLICY,
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.PolicyInsights/'
    'checkPolicyRestrictions',
    'post',
)
HEALTH_CURRENT = (HEALTH, '/{resourceUri}/providers/Microsoft.ResourceHealth/availabilityStatuses/current', 'get')
HEALTH_LIST = (
    HEALTH,
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ResourceHealth/'
    'availabilityStatuses',
    'get',
)


def _relax(node):
    if isinstance(node, dict):
        if node.get('x-ms-enum', {}).get('modelAsString') is True:
            node = {k: v for k, v in node.items() if k != 'enum'}
        if node.get('type') == 'object' and not ({'properties', 'additionalProperties', 'allOf', '$ref'} & set(node)):
            node = {k: v for k, v in node.items() if k != 'type'}
        return {k: _relax(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_relax(v) for v in node]
    return node


def _messages(validator, body):
    return [
        '%s: %s' % ('/'.join(map(str, e.absolute_path)) or '<root>', e.message[:200])
        for e in validator.iter_errors(_drop_nulls(body))
    ]


def errors(body, operation, code=None):
    """Schema errors of ``body``: the ``code`` response of ``operation`` (see LOCKS_LIST ...), or its request body
    when code is None."""
    swagger, path, method = operation
    op = json.loads(pathlib.Path(swagger).read_text(encoding='utf-8'))['paths'][path][method]
    base = '/paths/%s/%s' % (_escape(path), method)
    if code is None:
        index = next(i for i, p in enumerate(op['parameters']) if p.get('in') == 'body')
        pointer = '%s/parameters/%d/schema' % (base, index)
    else:
        pointer = '%s/responses/%s/schema' % (base, code)
    return _messages(_validator(str(swagger), pointer, relax=_relax), body)


def arm_error_errors(body):
    """Schema errors of an ARM error body (common-types v2 ErrorResponse: code, message, target, details,
    additionalInfo) — what ScopeLocked, AuthorizationFailed and RequestDisallowedByPolicy answer."""
    return _messages(_validator(str(ARM_TYPES), '/definitions/ErrorResponse', relax=_relax), body)
