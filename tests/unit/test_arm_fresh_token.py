"""_arm's token policy: one fresh token (bypassing the token caches) and one retry after an ARM 401."""

import json

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.pipeline.transport import HttpRequest
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import _fresh_token_policy_class

CHALLENGE = 'Bearer authorization_uri="https://login/t", error="invalid_token", error_description="bad"'


class Credential:
    """Answers from its cache (the stale token) unless the request carries claims (then: a new token)."""

    def __init__(self):
        self.requests = []
        self.issued = 0

    def get_token(self, *scopes, **kw):
        self.requests.append(kw.get('claims'))
        if kw.get('claims'):
            self.issued += 1
            return AccessToken('fresh-%d' % self.issued, 2**40)
        return AccessToken('stale', 2**40)


class Server(HTTPPolicy):
    def __init__(self, accept):
        super().__init__()
        self.accept = accept
        self.seen = []

    def send(self, request):
        token = request.http_request.headers['Authorization'].split(' ', 1)[1]
        self.seen.append(token)

        class Resp:
            status_code = 200 if self.accept(token) else 401
            headers = {} if status_code == 200 else {'WWW-Authenticate': CHALLENGE}

        return PipelineResponse(request.http_request, Resp(), request.context)


def _policy(cred, server):
    policy = _fresh_token_policy_class(ARMChallengeAuthenticationPolicy)(cred, 'https://arm/.default')
    policy.next = server
    return policy


def _send(policy):
    from azure.core.pipeline import PipelineContext

    return policy.send(PipelineRequest(HttpRequest('GET', 'https://arm/x'), PipelineContext(None)))


def test_a_refused_cached_token_is_replaced_once_and_the_request_retried():
    cred, server = Credential(), Server(lambda t: t.startswith('fresh'))
    policy = _policy(cred, server)
    assert _send(policy).http_response.status_code == 200
    assert server.seen == ['stale', 'fresh-1']
    claims = json.loads(cred.requests[-1])
    assert claims['access_token']['nbf']['essential'] is True  # asks Entra ID for a token issued from now on
    assert _send(policy).http_response.status_code == 200  # later requests use the fresh token
    assert server.seen[-1] == 'fresh-1' and cred.issued == 1


def test_a_refused_fresh_token_is_a_real_failure():
    cred, server = Credential(), Server(lambda t: False)
    policy = _policy(cred, server)
    assert _send(policy).http_response.status_code == 401
    assert server.seen == ['stale', 'fresh-1']  # one retry
    assert _send(policy).http_response.status_code == 401
    assert cred.issued == 1  # no fresh token per request for a credential the server refuses


def test_a_credential_without_claims_support_keeps_the_401():
    class Cli(Credential):
        def get_token(self, *scopes, **kw):
            if kw.get('claims'):
                raise ValueError('This credential does not support claims challenges')
            return AccessToken('stale', 2**40)

    server = Server(lambda t: False)
    assert _send(_policy(Cli(), server)).http_response.status_code == 401
    assert server.seen == ['stale']
