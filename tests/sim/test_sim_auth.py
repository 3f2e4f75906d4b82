"""Entra ID token issuance and ARM bearer checks."""

import base64
import json
import time

from simarm import ARM_SCOPE


def claims(token):
    payload = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))


def test_openid_configuration_points_at_the_simulator(sim, arm):
    doc = arm.session.get(f'{sim.base_url}/{sim.tenant_id}/v2.0/.well-known/openid-configuration').json()
    assert doc['token_endpoint'] == f'{sim.base_url}/{sim.tenant_id}/oauth2/v2.0/token'
    assert doc['issuer'] == f'{sim.base_url}/{sim.tenant_id}/v2.0'
    assert doc['authorization_endpoint'].startswith(sim.base_url)


def test_token_shape_and_claims(sim, arm):
    resp = arm.token_response(sim.client_id, sim.client_secret)
    body = resp.json()
    assert body['token_type'] == 'Bearer'
    assert body['expires_in'] == body['ext_expires_in'] == 3599
    c = claims(body['access_token'])
    assert c['aud'] == 'https://management.azure.com'
    assert c['tid'] == sim.tenant_id and c['appid'] == sim.client_id and c['oid']
    assert c['nbf'] <= c['iat'] + 1 and c['exp'] - c['iat'] == 3599


def test_v1_token_endpoint_with_resource(sim, arm):
    resp = arm.token_response(sim.client_id, sim.client_secret, v1_resource='https://management.core.windows.net/')
    assert resp.status_code == 200
    token = resp.json()['access_token']
    assert claims(token)['aud'] == 'https://management.core.windows.net/'
    assert arm.get(f'/subscriptions/{sim.subscription_id}', token=token).status_code == 200


def test_wrong_secret_is_invalid_client(sim, arm):
    resp = arm.token_response(sim.client_id, 'not-the-secret')
    assert resp.status_code == 401
    body = resp.json()
    assert body['error'] == 'invalid_client' and body['error_codes'] == [7000215]
    assert body['error_description'].startswith('AADSTS7000215: Invalid client secret provided.')
    assert 'not-the-secret' not in resp.text


def test_unknown_client(sim, arm):
    resp = arm.token_response('99999999-9999-4999-8999-999999999999', 'x')
    assert resp.status_code == 400
    assert resp.json()['error_codes'] == [700016]
    assert 'AADSTS700016' in resp.json()['error_description']


def test_wrong_tenant(sim, arm):
    resp = arm.token_response(sim.client_id, sim.client_secret, tenant='00000000-0000-0000-0000-00000000dead')
    assert resp.status_code == 400 and resp.json()['error_codes'] == [90002]


def test_missing_token(arm):
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), token=False)
    assert resp.status_code == 401
    assert resp.json()['error']['code'] == 'AuthenticationFailed'
    challenge = resp.headers['WWW-Authenticate']
    assert challenge.startswith('Bearer authorization_uri=') and 'error="invalid_token"' in challenge


def test_expired_token(sim, arm):
    sim.control.config(token_lifetime=1)
    token = arm.get_token(sim.client_id, sim.client_secret)
    time.sleep(1.1)
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), token=token)
    assert resp.status_code == 401
    assert resp.json()['error']['code'] == 'ExpiredAuthenticationToken'
    assert 'WWW-Authenticate' in resp.headers


def test_wrong_audience(sim, arm):
    token = arm.get_token(sim.client_id, sim.client_secret, scope='https://graph.microsoft.com/.default')
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), token=token)
    assert resp.status_code == 401
    assert resp.json()['error']['code'] == 'InvalidAuthenticationTokenAudience'


def test_accepted_audiences(sim, arm):
    for scope in (
        'https://management.core.windows.net//.default',
        f'{sim.base_url}/.default',
        'https://management.azure.com//.default',
    ):
        token = arm.get_token(sim.client_id, sim.client_secret, scope=scope)
        assert arm.get(arm.vm('rg-linux', 'lin-ok'), token=token).status_code == 200, scope


def test_forged_token(arm):
    head, payload, sig = arm.token.split('.')
    forged = payload[:-4] + ('AAAA' if payload[-4:] != 'AAAA' else 'BBBB')
    resp = arm.get(arm.vm('rg-linux', 'lin-ok'), token=f'{head}.{forged}.{sig}')
    assert resp.status_code == 401 and resp.json()['error']['code'] == 'InvalidAuthenticationToken'


def test_denied_action_is_authorization_failed(sim, readonly_arm):
    path = readonly_arm.vm('rg-linux', 'lin-ok')
    assert readonly_arm.get(path).status_code == 200
    resp = readonly_arm.raise_key(path, 10)
    assert resp.status_code == 403
    err = resp.json()['error']
    assert err['code'] == 'AuthorizationFailed'
    assert err['message'] == (
        "The client '22222222-2222-4222-8222-222222222222' with object id '22222222-0000-4000-8000-0000000000a2' "
        "does not have authorization to perform action 'Microsoft.Compute/virtualMachines/write' over scope "
        f"'{path}' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )
    ext = readonly_arm.put(
        path + '/extensions/enablevmaccess',
        {
            'location': 'westeurope',
            'properties': {
                'publisher': 'Microsoft.OSTCExtensions',
                'type': 'VMAccessForLinux',
                'typeHandlerVersion': '1.5',
            },
        },
    )
    assert ext.status_code == 403
    assert 'Microsoft.Compute/virtualMachines/extensions/write' in ext.json()['error']['message']
    assert readonly_arm.post(path + '/deallocate').status_code == 403


def test_token_requests_never_echo_the_secret(sim, arm):
    arm.token_response(sim.client_id, 'wrong-secret-value')
    log = json.dumps(sim.control.requests())
    assert 'wrong-secret-value' not in log and sim.client_secret not in log


def test_tokens_survive_a_reset(sim, arm):
    sim.control.reset()
    assert arm.get(arm.vm('rg-linux', 'lin-ok')).status_code == 200


def test_scope_must_be_default(sim, arm):
    resp = arm.token_response(sim.client_id, sim.client_secret, scope='https://management.azure.com/user_impersonation')
    assert resp.status_code == 400 and resp.json()['error'] == 'invalid_scope'


def test_v2_token_for_the_arm_scope(sim, arm):
    assert claims(arm.get_token(sim.client_id, sim.client_secret, ARM_SCOPE))['aud'] == 'https://management.azure.com'


def test_instance_discovery_endpoint(sim, arm):
    doc = arm.session.get(f'{sim.base_url}/common/discovery/instance').json()
    assert doc['tenant_discovery_endpoint'].startswith(sim.base_url)
