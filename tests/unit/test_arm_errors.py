"""ArmError mapping: one clear message per failure (code, status, resource, 403 missing action). No network."""

import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient

RID = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm'


def test_403_names_missing_action():
    body = {
        'error': {
            'code': 'AuthorizationFailed',
            'message': (
                "The client 'abc' with object id 'abc' does not have authorization to perform action "
                "'Microsoft.Compute/virtualMachines/write' over scope '%s' or the scope is invalid. If access was recently "
                'granted, please refresh your credentials.' % RID
            ),
        }
    }
    err = ArmError.from_body(403, body, resource_id=RID)
    assert err.action == 'Microsoft.Compute/virtualMachines/write'
    assert err.scope == RID
    text = err.describe()
    assert text.startswith('AuthorizationFailed (HTTP 403) on %s: ' % RID)
    assert "lacks permission for action 'Microsoft.Compute/virtualMachines/write'" in text


def test_404_group():
    err = ArmError.from_body(
        404,
        {'error': {'code': 'ResourceGroupNotFound', 'message': "Resource group 'rg' could not be found."}},
        resource_id=RID,
    )
    assert err.is_not_found
    assert err.describe() == "ResourceGroupNotFound (HTTP 404) on %s: Resource group 'rg' could not be found." % RID


def test_details_and_target():
    body = {
        'error': {
            'code': 'OperationNotAllowed',
            'message': 'throttled',
            'target': 'x',
            'details': [{'code': 'TooManyRequests', 'target': 'UpdateVM', 'message': '{"allowed":12}'}],
        }
    }
    text = ArmError.from_body(429, body).describe()
    assert 'OperationNotAllowed (HTTP 429)' in text and 'Target: x.' in text and 'TooManyRequests' in text


def test_non_json_body():
    err = ArmError.from_body(502, None, resource_id=RID)
    assert err.describe() == 'Error (HTTP 502) on %s: HTTP 502' % RID


def test_lro_failed_status_body():
    body = {'status': 'Failed', 'error': {'code': 'VMAgentStatusCommunicationError', 'message': 'no agent'}}
    err = ArmError.from_body(None, body, resource_id=RID)
    assert err.describe() == 'VMAgentStatusCommunicationError on %s: no agent' % RID


def test_request_id_and_dict():
    err = ArmError.from_body(
        409, {'error': {'code': 'Conflict', 'message': 'busy'}}, headers={'x-ms-correlation-request-id': 'corr'}
    )
    d = err.as_dict()
    assert d['request_id'] == 'corr' and d['code'] == 'Conflict' and err.is_conflict
    json.dumps(d)


# --- the client against a fake transport ---------------------------------------------------------


class _Cloud:
    resource_manager = 'https://arm.example/'
    scope = 'https://arm.example/.default'


class _Auth:
    cloud = _Cloud()
    verify = True
    source = 'test'
    subscription_id = None

    class credential:  # noqa: N801
        @staticmethod
        def get_token(*scopes, **kw):
            import time

            from azure.core.credentials import AccessToken

            return AccessToken('tok', int(time.time()) + 3600)

        @staticmethod
        def get_token_info(*scopes, **kw):
            import time

            from azure.core.credentials import AccessTokenInfo

            return AccessTokenInfo('tok', int(time.time()) + 3600)


class FakeTransport:
    """azure-core HttpTransport returning scripted (status, headers, body) for each request."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def open(self):
        pass

    def close(self):
        pass

    def sleep(self, s):
        pass

    def send(self, request, **kwargs):
        from azure.core.rest._http_response_impl import HttpResponseImpl

        self.requests.append((request.method, request.url, dict(request.headers)))
        status, headers, body = self.script.pop(0)
        content = json.dumps(body).encode() if body is not None else b''

        class Resp(HttpResponseImpl):
            pass

        from azure.core.utils import case_insensitive_dict

        resp = Resp(
            request=request,
            internal_response=None,
            status_code=status,
            headers=case_insensitive_dict(headers),
            reason='x',
            content_type='application/json',
            block_size=4096,
            stream_download_generator=None,
        )
        resp._content = content
        resp._is_closed = True
        return resp


def client_with(script):
    t = FakeTransport(script)
    c = ArmClient(_Auth(), transport=t, polling_interval=0, retry_backoff_max=0)
    return c, t


def _pr(status, headers, body):
    return (status, headers, body)


def test_get_missing_ok_and_error():
    c, t = client_with([_pr(404, {}, {'error': {'code': 'ResourceNotFound', 'message': 'nope'}})])
    assert c.get('/x', missing_ok=True) is None
    c, t = client_with([_pr(404, {}, {'error': {'code': 'ResourceNotFound', 'message': 'nope'}})])
    with pytest.raises(ArmError) as exc:
        c.get('/x')
    assert exc.value.code == 'ResourceNotFound'
    assert t.requests[0][1] == 'https://arm.example/x?api-version=2024-11-01'
    assert t.requests[0][2]['Authorization'] == 'Bearer tok'


def test_retry_after_429_then_ok():
    c, t = client_with(
        [
            _pr(429, {'Retry-After': '0'}, {'error': {'code': 'TooManyRequests', 'message': 'slow'}}),
            _pr(200, {'ETag': '"7"'}, {'name': 'vm'}),
        ]
    )
    body, etag = c.get_with_etag('/vm')
    assert body == {'name': 'vm'} and etag == '"7"' and len(t.requests) == 2
    assert c.stats['read'] == 2


def test_patch_retried_on_503_and_lro_async_operation():
    script = [
        _pr(503, {}, None),
        _pr(
            200,
            {'Azure-AsyncOperation': 'https://arm.example/op/1', 'Retry-After': '0'},
            {'properties': {'provisioningState': 'Updating'}},
        ),
        _pr(200, {}, {'status': 'InProgress'}),
        _pr(200, {}, {'status': 'Succeeded'}),
        _pr(200, {}, {'properties': {'provisioningState': 'Succeeded', 'x': 1}}),
    ]
    c, t = client_with(script)
    out = c.patch('/vm', {'a': 1}, if_match='"3"')
    assert out['properties']['x'] == 1
    methods = [r[0] for r in t.requests]
    assert methods == ['PATCH', 'PATCH', 'GET', 'GET', 'GET']
    assert t.requests[0][2]['If-Match'] == '"3"'
    assert 'op/1' in t.requests[2][1] and t.requests[4][1].startswith('https://arm.example/vm')


def test_lro_failure_is_arm_error():
    script = [
        _pr(202, {'Azure-AsyncOperation': 'https://arm.example/op/2', 'Retry-After': '0'}, None),
        _pr(
            200,
            {},
            {'status': 'Failed', 'error': {'code': 'VMExtensionProvisioningError', 'message': 'handler failed'}},
        ),
    ]
    c, t = client_with(script)
    with pytest.raises(ArmError) as exc:
        c.put('/vm', {'a': 1}, resource_id=RID)
    assert exc.value.code == 'VMExtensionProvisioningError'
    assert exc.value.describe() == 'VMExtensionProvisioningError on %s: handler failed' % RID


# --- issue 21: refusals no retry can pass, and their reason codes ----------------------------------------------
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import (  # noqa: E402
    arm_reason_code,
    can_succeed_later,
    is_final,
)

RG_SCOPE = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg'
LOCKED = (
    "The scope '%s' cannot perform write operation because following scope(s) are locked: '%s'. Please remove the "
    'lock and try again.' % (RID, RG_SCOPE)
)
ASSIGNMENT_ID = RG_SCOPE + '/providers/Microsoft.Authorization/policyAssignments/deny-vmaccess'
DEFINITION_ID = '/providers/Microsoft.Authorization/policyDefinitions/c0e996f8-39cf-4af9-9f45-83fbde810432'
POLICY_INFO = {
    'policyDefinitionDisplayName': 'Only approved VM extensions should be installed',
    'policyDefinitionId': DEFINITION_ID,
    'policyDefinitionName': 'c0e996f8-39cf-4af9-9f45-83fbde810432',
    'policyDefinitionEffect': 'Deny',
    'policyAssignmentId': ASSIGNMENT_ID,
    'policyAssignmentName': 'deny-vmaccess',
    'policyAssignmentDisplayName': 'No VMAccess in production',
    'policyAssignmentScope': RG_SCOPE,
}


def test_scope_locked_names_the_scope_and_the_fix():
    err = ArmError.from_body(409, {'error': {'code': 'ScopeLocked', 'message': LOCKED}}, resource_id=RID)
    assert err.reason_code == 'scope_locked' and err.locked_scopes == [RG_SCOPE]
    fields = err.result_fields()
    assert fields['locked_scope'] == RG_SCOPE and 'locked_scopes' not in fields
    text = err.describe()
    assert "Locked scope: '%s'" % RG_SCOPE in text and 'remove the lock' in text and 'retrying cannot help' in text
    res = err.to_result()
    assert res['locked_scope'] == RG_SCOPE and res['outcome']['reason_code'] == 'scope_locked'


def test_scope_locked_with_several_scopes():
    msg = LOCKED.replace("'%s'." % RG_SCOPE, "'%s', '/subscriptions/x'." % RG_SCOPE)
    err = ArmError(msg, status=409, code='ScopeLocked')
    assert err.locked_scopes == [RG_SCOPE, '/subscriptions/x']
    assert err.result_fields()['locked_scopes'] == [RG_SCOPE, '/subscriptions/x']


def test_policy_denied_from_additional_info():
    body = {
        'error': {
            'code': 'RequestDisallowedByPolicy',
            'target': 'enablevmaccess',
            'message': "Resource 'enablevmaccess' was disallowed by policy. See error details for policy resource IDs.",
            'additionalInfo': [{'type': 'PolicyViolation', 'info': POLICY_INFO}],
        }
    }
    err = ArmError.from_body(403, body, resource_id=RID)
    assert err.reason_code == 'policy_denied'
    (p,) = err.result_fields()['policy_violations']
    assert p['assignment_name'] == 'deny-vmaccess' and p['assignment_id'] == ASSIGNMENT_ID
    assert p['definition_id'] == DEFINITION_ID and p['effect'] == 'Deny'
    text = err.describe()
    assert "assignment 'No VMAccess in production' (%s)" % ASSIGNMENT_ID in text
    assert "definition 'Only approved VM extensions should be installed' (%s)" % DEFINITION_ID in text
    assert 'exemption' in text and 'lacks permission' not in text  # not an RBAC problem


def test_policy_denied_from_details_additional_info():
    body = {
        'error': {
            'code': 'RequestDisallowedByPolicy',
            'message': 'disallowed',
            'details': [{'code': 'x', 'additionalInfo': [{'type': 'PolicyViolation', 'info': POLICY_INFO}]}],
        }
    }
    assert ArmError.from_body(403, body).policies[0]['assignment_name'] == 'deny-vmaccess'


def test_policy_denied_from_the_message_identifiers():
    ids = json.dumps(
        [
            {
                'policyAssignment': {'name': 'deny-vmaccess', 'id': ASSIGNMENT_ID},
                'policyDefinition': {'name': 'not-allowed-extensions', 'id': DEFINITION_ID},
            }
        ]
    )
    msg = "Resource 'vm1' was disallowed by policy. Policy identifiers: '%s'." % ids
    err = ArmError.from_body(403, {'error': {'code': 'RequestDisallowedByPolicy', 'message': msg}})
    assert err.policies == [
        {
            'assignment_name': 'deny-vmaccess',
            'assignment_id': ASSIGNMENT_ID,
            'definition_name': 'not-allowed-extensions',
            'definition_id': DEFINITION_ID,
        }
    ]
    assert "assignment 'deny-vmaccess'" in err.describe()


def test_rbac_missing_kept_apart_from_other_403s():
    err = ArmError(
        "The client 'abc' with object id 'abc' does not have authorization to perform action "
        "'Microsoft.Compute/virtualMachines/extensions/write' over scope '%s' or the scope is invalid." % RID,
        status=403,
        code='AuthorizationFailed',
    )
    assert err.reason_code == 'rbac_missing' and err.as_dict()['scope'] == RID
    assert "lacks permission for action 'Microsoft.Compute/virtualMachines/extensions/write'" in err.describe()
    assert arm_reason_code(403, 'LinkedAuthorizationFailed') == 'rbac_missing'
    assert arm_reason_code(403, 'InvalidAuthenticationTokenTenant') == 'forbidden'


EXT_DISABLED = "Extension operations are disallowed on the VM since 'allowExtensionOperations' is set to false."
BUSY = "Operation 'Update' is not allowed on VM 'vm1' since another operation is in progress."


@pytest.mark.parametrize(
    'status, code, message, reason, retryable',
    [
        (409, 'ScopeLocked', LOCKED, 'scope_locked', False),
        (409, 'ResourceGroupBeingDeleted', "The resource group 'rg' is in deprovisioning state.", 'conflict', False),
        (
            409,
            'OperationNotAllowed',
            "Operation 'Update' is not allowed on VM 'vm1' since the VM is marked for deletion.",
            'conflict',
            False,
        ),
        (409, 'OperationNotAllowed', EXT_DISABLED, 'extensions_disabled', False),
        (
            409,
            'OperationNotAllowed',
            'Cannot modify extensions in the VM when the VM is not running.',
            'not_running',
            False,
        ),
        (409, 'PropertyChangeNotAllowed', 'Changing property is not allowed.', 'conflict', False),
        (409, 'OperationNotAllowed', BUSY, 'conflict', True),
        (409, 'Conflict', 'concurrent request', 'conflict', True),
        (409, 'OperationPreempted', 'preempted', 'conflict', True),
        (409, 'RetryableError', 'retry', 'conflict', True),
        (412, 'PreconditionFailed', 'etag', 'conflict', True),
        (403, 'RequestDisallowedByPolicy', 'denied', 'policy_denied', False),
        (403, 'AuthorizationFailed', 'no', 'rbac_missing', False),
        (None, 'VMAgentStatusCommunicationError', 'no agent', 'agent_not_ready', False),
    ],
)
def test_one_classification_of_refused_writes(status, code, message, reason, retryable):
    err = ArmError(message, status=status, code=code)
    assert err.reason_code == reason
    assert can_succeed_later(err) is retryable
    assert is_final(err) is (status == 409 and not retryable)
    err.accepted = True  # a write Azure took and whose operation failed is never retried
    assert can_succeed_later(err) is False
