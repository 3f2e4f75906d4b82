"""A raw ARM client speaking HTTP to the simulator, for the simulator behaviour tests.

Public names: Arm (the client), READONLY (the read-only principal), API, ARM_SCOPE, wait_for(predicate, timeout)
(poll until the predicate returns something truthy). Not in conftest.py: test modules import it, and another tier
has a conftest module of its own.
"""

import time

import requests

API = '2024-11-01'
ARM_SCOPE = 'https://management.azure.com/.default'
READONLY = ('22222222-2222-4222-8222-222222222222', 'armsim-test-secret-2')


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('condition not reached')


class Arm:
    """Just enough of an ARM client to test the simulator's wire behaviour."""

    def __init__(self, sim, client_id=None, secret=None, scope=ARM_SCOPE):
        self.sim = sim
        self.session = requests.Session()
        self.session.verify = sim.ca_file
        self.session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would override verify
        self.sub = sim.subscription_id
        self.token = self.get_token(client_id or sim.client_id, secret or sim.client_secret, scope)

    def token_response(self, client_id, secret, scope=ARM_SCOPE, tenant=None, v1_resource=None):
        tenant = tenant or self.sim.tenant_id
        if v1_resource:
            url, form = f'{self.sim.base_url}/{tenant}/oauth2/token', {'resource': v1_resource}
        else:
            url, form = f'{self.sim.base_url}/{tenant}/oauth2/v2.0/token', {'scope': scope}
        form.update(grant_type='client_credentials', client_id=client_id, client_secret=secret)
        return self.session.post(url, data=form)

    def get_token(self, client_id, secret, scope=ARM_SCOPE):
        resp = self.token_response(client_id, secret, scope)
        assert resp.status_code == 200, resp.text
        return resp.json()['access_token']

    def url(self, path):
        return path if path.startswith('https://') else self.sim.base_url + path

    def request(self, method, path, body=None, api=API, headers=None, token=True, query=None):
        hdrs = dict(headers or {})
        if token:
            hdrs['Authorization'] = 'Bearer ' + (self.token if token is True else token)
        params = {'api-version': api} if api and 'api-version=' not in path else {}
        params.update(query or {})
        return self.session.request(method, self.url(path), json=body, params=params, headers=hdrs)

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def put(self, path, body, **kw):
        return self.request('PUT', path, body, **kw)

    def patch(self, path, body, **kw):
        return self.request('PATCH', path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request('POST', path, body, **kw)

    def delete(self, path, **kw):
        return self.request('DELETE', path, **kw)

    def wait(self, resp, timeout=15):
        """Poll the Azure-AsyncOperation of ``resp`` until it finishes; return the final status body."""
        assert resp.status_code in (200, 201, 202), resp.text
        url = resp.headers['Azure-AsyncOperation']
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(url, api=None)
            assert status.status_code == 200
            if status.json()['status'] != 'InProgress':
                return status.json()
            time.sleep(0.05)
        raise AssertionError('operation did not finish')

    # resource paths
    def vm(self, rg, name):
        return f'/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}'

    def instance(self, rg, ss, n):
        return (
            f'/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.Compute/'
            f'virtualMachineScaleSets/{ss}/virtualMachines/{n}'
        )

    def key_latch(self, path):
        """keyLatchStatus from the ProxyAgent entry of the instance view (None when there is no entry)."""
        import json

        view = self.get(path + '/instanceView').json()
        for ext in view.get('extensions', []):
            if ext['type'].startswith('Microsoft.CPlat.ProxyAgent.'):
                status = next(
                    s for s in ext['substatuses'] if s['code'].startswith('ComponentStatus/ProxyAgentStatus/')
                )
                try:
                    return json.loads(status['message'])['keyLatchStatus']
                except ValueError:
                    return {'raw': status['message']}
        return None

    def raise_key(self, path, value):
        return self.patch(
            path, {'properties': {'securityProfile': {'proxyAgentSettings': {'keyIncarnationId': value}}}}
        )
