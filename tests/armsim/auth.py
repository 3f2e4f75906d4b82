"""Entra ID (token issuance, OIDC discovery) and ARM bearer-token checks + RBAC deny rules."""

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
import uuid

from . import authorization
from .errors import ArmError
from .routing import Response

ARM_AUDIENCES = ('https://management.azure.com', 'https://management.core.windows.net')


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


class TokenIssuer:
    """HS256 JWTs signed with a key that lives as long as the process (survives /_sim/reset)."""

    def __init__(self):
        self.key = secrets.token_bytes(32)

    def rotate(self):
        self.key = secrets.token_bytes(32)

    def issue(self, claims):
        header = _b64(json.dumps({'typ': 'JWT', 'alg': 'HS256', 'kid': 'armsim'}).encode())
        payload = _b64(json.dumps(claims).encode())
        sig = hmac.new(self.key, f'{header}.{payload}'.encode(), hashlib.sha256).digest()
        return f'{header}.{payload}.{_b64(sig)}'

    def verify(self, token):
        """Return the claims, or None when the token is malformed or not signed by us."""
        try:
            header, payload, sig = token.split('.')
            expected = hmac.new(self.key, f'{header}.{payload}'.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(sig)):
                return None
            return json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None


def _entra_error(status, error, code, description):
    now = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M:%SZ')
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return Response(
        status,
        {
            'error': error,
            'error_description': f'AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now}',
            'error_codes': [code],
            'timestamp': now,
            'trace_id': trace,
            'correlation_id': corr,
            'error_uri': f'/error?code={code}',
        },
    )


class Entra:
    """The login endpoints. ``world`` supplies the fleet (tenant, principals), config and base URL."""

    def __init__(self, world):
        self.world = world
        self.issuer = TokenIssuer()

    def register(self, router):
        router.add(
            'GET',
            r'/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration',
            self.openid_configuration,
            'entra.discovery',
        )
        router.add(
            'GET', r'/(?P<tenant>[^/]+)/\.well-known/openid-configuration', self.openid_configuration, 'entra.discovery'
        )
        router.add('GET', r'/common/discovery/instance', self.instance_discovery, 'entra.discovery')
        router.add('POST', r'/(?P<tenant>[^/]+)/oauth2/v2\.0/token', self.token_v2, 'entra.token', counter='token')
        router.add('POST', r'/(?P<tenant>[^/]+)/oauth2/token', self.token_v1, 'entra.token', counter='token')

    # -- discovery -----------------------------------------------------------------------------------
    def openid_configuration(self, req, tenant):
        base = self.world.base_url
        tid = self.world.fleet.tenant_id if tenant.lower() in ('organizations', 'common') else tenant
        return Response(
            200,
            {
                'token_endpoint': f'{base}/{tid}/oauth2/v2.0/token',
                'token_endpoint_auth_methods_supported': [
                    'client_secret_post',
                    'private_key_jwt',
                    'client_secret_basic',
                ],
                'jwks_uri': f'{base}/{tid}/discovery/v2.0/keys',
                'response_modes_supported': ['query', 'fragment', 'form_post'],
                'subject_types_supported': ['pairwise'],
                'id_token_signing_alg_values_supported': ['RS256'],
                'response_types_supported': ['code', 'id_token', 'code id_token', 'id_token token'],
                'scopes_supported': ['openid', 'profile', 'email', 'offline_access'],
                'issuer': f'{base}/{tid}/v2.0',
                'request_uri_parameter_supported': False,
                'userinfo_endpoint': f'{base}/oidc/userinfo',
                'authorization_endpoint': f'{base}/{tid}/oauth2/v2.0/authorize',
                'device_authorization_endpoint': f'{base}/{tid}/oauth2/v2.0/devicecode',
                'http_logout_supported': True,
                'frontchannel_logout_supported': True,
                'end_session_endpoint': f'{base}/{tid}/oauth2/v2.0/logout',
                'claims_supported': ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid'],
                'kerberos_endpoint': f'{base}/{tid}/kerberos',
                'tenant_region_scope': 'EU',
                'cloud_instance_name': 'armsim.local',
                'cloud_graph_host_name': 'graph.armsim.local',
                'msgraph_host': 'graph.armsim.local',
                'rbac_url': base,
            },
        )

    def instance_discovery(self, req):
        host = self.world.base_url.split('://', 1)[1]
        return Response(
            200,
            {
                'tenant_discovery_endpoint': f'{self.world.base_url}/{self.world.fleet.tenant_id}/v2.0/.well-known/openid-configuration',
                'api-version': '1.1',
                'metadata': [{'preferred_network': host, 'preferred_cache': host, 'aliases': [host]}],
            },
        )

    # -- tokens --------------------------------------------------------------------------------------
    def token_v2(self, req, tenant):
        form = req.form()
        scope = next((s for s in form.get('scope', '').split() if s.endswith('/.default')), None)
        if scope is None:
            return _entra_error(
                400,
                'invalid_scope',
                1002012,
                f'The provided value for scope {form.get("scope", "")} is not valid. Client credential flows '
                'must have a scope value with /.default suffixed to the resource identifier (application ID URI).',
            )
        return self._token(tenant, form, scope[: -len('/.default')], v1=False)

    def token_v1(self, req, tenant):
        form = req.form()
        resource = form.get('resource')
        if not resource:
            return _entra_error(
                400, 'invalid_resource', 500011, 'The resource principal named  was not found in the tenant.'
            )
        return self._token(tenant, form, resource, v1=True)

    def _token(self, tenant, form, audience, v1):
        fleet = self.world.fleet
        if tenant.lower() != fleet.tenant_id.lower():
            return _entra_error(
                400,
                'invalid_request',
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                'signing into the correct cloud.',
            )
        if form.get('grant_type') != 'client_credentials':
            return _entra_error(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.')
        client_id = form.get('client_id', '')
        principal = fleet.principal(client_id)
        if principal is None:
            return _entra_error(
                400,
                'unauthorized_client',
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                'This can happen if the application has not been installed by the administrator of the '
                'tenant or consented to by any user in the tenant. You may have sent your authentication '
                'request to the wrong tenant.',
            )
        if not hmac.compare_digest(form.get('client_secret', '').encode(), principal.client_secret.encode()):
            return _entra_error(
                401,
                'invalid_client',
                7000215,
                f'Invalid client secret provided. Ensure the secret being sent in the request is the '
                f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        lifetime = int(self.world.config['token_lifetime'])
        now = int(time.time())
        claims = {
            'aud': audience,
            'iss': f'https://sts.windows.net/{fleet.tenant_id}/',
            'iat': now,
            'nbf': now,
            'exp': now + lifetime,
            'aio': 'armsim',
            'appid': principal.client_id,
            'appidacr': '1',
            'idp': f'https://sts.windows.net/{fleet.tenant_id}/',
            'idtyp': 'app',
            'oid': principal.object_id,
            'rh': '0.armsim',
            'sub': principal.object_id,
            'tid': fleet.tenant_id,
            'uti': secrets.token_urlsafe(16),
            'ver': '1.0',
        }
        body = {
            'token_type': 'Bearer',
            'expires_in': lifetime,
            'ext_expires_in': lifetime,
            'access_token': self.issuer.issue(claims),
        }
        if v1:
            body.update(
                {
                    'expires_in': str(lifetime),
                    'ext_expires_in': str(lifetime),
                    'expires_on': str(now + lifetime),
                    'not_before': str(now),
                    'resource': audience,
                }
            )
        return Response(200, body, headers={'Cache-Control': 'no-store, no-cache', 'Pragma': 'no-cache'})

    # -- ARM side ------------------------------------------------------------------------------------
    def _challenge(self, code, message, description):
        header = (
            f'Bearer authorization_uri="{self.world.base_url}/{self.world.fleet.tenant_id}", '
            f'error="invalid_token", error_description="{description}"'
        )
        return ArmError(401, code, message, headers={'WWW-Authenticate': header})

    def authenticate(self, req):
        """Validate the bearer token of an ARM request; return its claims or raise the ARM 401."""
        auth = req.header('Authorization') or ''
        if not auth:
            raise self._challenge(
                'AuthenticationFailed',
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        scheme, _, token = auth.partition(' ')
        if scheme.lower() != 'bearer' or not token.strip():
            raise self._challenge(
                'AuthenticationFailed',
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "The authentication failed because of invalid 'Authorization' header.",
            )
        claims = self.issuer.verify(token.strip())
        if claims is None:
            raise self._challenge(
                'InvalidAuthenticationToken', 'The access token is invalid.', 'The access token is invalid.'
            )
        now = time.time()
        if claims.get('exp', 0) <= now:
            fmt = '%m/%d/%Y %H:%M:%S'
            exp = datetime.datetime.fromtimestamp(claims['exp'], datetime.UTC).strftime(fmt)
            cur = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(fmt)
            raise self._challenge(
                'ExpiredAuthenticationToken',
                f"The access token expiry UTC time '{exp}' is earlier than current UTC time '{cur}'.",
                'The access token has expired.',
            )
        audience = str(claims.get('aud', '')).rstrip('/').lower()
        allowed = [a.lower() for a in ARM_AUDIENCES] + [self.world.base_url.rstrip('/').lower()]
        if audience not in allowed:
            listing = ','.join(f"'{a}/','{a}'" for a in ARM_AUDIENCES)
            raise self._challenge(
                'InvalidAuthenticationTokenAudience',
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
                f'It should exactly match with one of the allowed audiences {listing}.',
                'The access token has been obtained from wrong audience or resource.',
            )
        if str(claims.get('tid', '')).lower() != self.world.fleet.tenant_id.lower():
            raise self._challenge(
                'InvalidAuthenticationTokenTenant',
                f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the tenant "
                f"'{self.world.base_url}/{self.world.fleet.tenant_id}/' associated with this subscription.",
                'The access token is from the wrong issuer.',
            )
        return claims

    def authorize(self, claims, action, scope):
        """Raise 403 AuthorizationFailed when the principal's roles do not grant ``action`` at ``scope`` or its
        ``denied_actions`` deny it (armsim.authorization.permitted)."""
        principal = self.world.fleet.principal(claims.get('appid'))
        if principal is None:
            return
        if not authorization.permitted(principal, action, scope):
            raise authorization.authorization_failed(principal, action, scope)
