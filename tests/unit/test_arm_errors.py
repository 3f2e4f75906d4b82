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
