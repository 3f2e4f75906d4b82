"""ArmClient against the simulator's TLS with ``verify`` left to the environment (issue 25): the CA bundle named by
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE is honoured, as requests honours it, though the client's session reads the
environment once per origin (_http_session) instead of on every request; several requests over one client."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._runner import client_for


@pytest.mark.parametrize('name', ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'])
def test_ca_bundle_from_the_environment(sim, monkeypatch, tmp_path, name):
    for other in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'HTTPS_PROXY', 'https_proxy'):
        monkeypatch.delenv(other, raising=False)
    env = {k: v for k, v in sim.env().items() if k not in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE')}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(name, sim.ca_file)
    monkeypatch.setenv('HOME', str(tmp_path))
    client = client_for({}, env=dict(__import__('os').environ))
    assert client.auth.verify is True  # nothing set in the options: the environment decides
    vm_ids = sim.control.vms()[:3]
    for vm_id in vm_ids:
        assert client.get(vm_id)['id'].lower() == vm_id.lower()
    assert client.stats['read'] == len(vm_ids)
