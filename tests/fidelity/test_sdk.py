"""The official azure-mgmt-compute SDK, unmodified, against the simulator."""

import json
import time

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    ProxyAgentSettings,
    SecurityProfile,
    VirtualMachineExtension,
    VirtualMachineExtensionProperties,
    VirtualMachineUpdate,
)

SCOPE = 'https://management.azure.com/.default'


@pytest.fixture
def client(sim, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', sim.ca_file)
    monkeypatch.setenv('SSL_CERT_FILE', sim.ca_file)
    credential = ClientSecretCredential(
        sim.tenant_id, sim.client_id, sim.client_secret, authority=sim.base_url, disable_instance_discovery=True
    )
    with ComputeManagementClient(
        credential, sim.subscription_id, base_url=sim.base_url, credential_scopes=[SCOPE]
    ) as compute:
        yield compute


def key_update(value):
    return VirtualMachineUpdate(
        security_profile=SecurityProfile(proxy_agent_settings=ProxyAgentSettings(key_incarnation_id=value))
    )


def latch(view):
    entry = next(e for e in view.extensions if e.type.startswith('Microsoft.CPlat.ProxyAgent.'))
    return json.loads(entry.substatuses[0].message)['keyLatchStatus']


def test_begin_update_raises_the_key_and_rejects_lower(client):
    vm = client.virtual_machines.begin_update('rg-linux', 'lin-ok', key_update(4)).result()
    assert vm.security_profile.proxy_agent_settings.key_incarnation_id == 4
    assert vm.provisioning_state == 'Succeeded'
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_update('rg-linux', 'lin-ok', key_update(2)).result()
    assert info.value.error.code == 'InvalidParameter'
    assert info.value.status_code == 400


def test_instance_view_shows_the_relatch(client):
    client.virtual_machines.begin_update('rg-linux', 'lin-key-lost', key_update(3)).result()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = latch(client.virtual_machines.instance_view('rg-linux', 'lin-key-lost'))
        if state['states'].get('keyIncarnationId') == '3':
            break
        time.sleep(0.2)
    assert state['states']['keyIncarnationId'] == '3' and state['states']['keyGuid']


def test_vmaccess_extension_changes_the_guest(sim, client):
    key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNewKeyNewKeyNewKeyNewKeyNewKeyNewKeyNewK1 sdk@test'
    ext = VirtualMachineExtension(
        location='westeurope',
        properties=VirtualMachineExtensionProperties(
            publisher='Microsoft.OSTCExtensions',
            type='VMAccessForLinux',
            type_handler_version='1.5',
            auto_upgrade_minor_version=True,
            settings={},
            protected_settings={'username': 'sdkuser', 'ssh_key': key},
        ),
    )
    result = client.virtual_machine_extensions.begin_create_or_update(
        'rg-linux', 'lin-locked', 'enablevmaccess', ext
    ).result()
    assert result.properties.provisioning_state == 'Succeeded'
    assert result.properties.protected_settings is None
    assert 'sdkuser' in json.dumps(sim.control.guest(sim.vm_id('rg-linux', 'lin-locked'))['users'])


def test_vmss_vm_begin_update_is_a_put(sim, client):
    instance = client.virtual_machine_scale_set_vms.get('rg-vmss', 'ss-uniform', '0')
    instance.security_profile.proxy_agent_settings.key_incarnation_id = 2
    updated = client.virtual_machine_scale_set_vms.begin_update(
        'rg-vmss', 'ss-uniform', '0', instance, etag=instance.etag, match_condition=MatchConditions.IfNotModified
    ).result()
    assert updated.security_profile.proxy_agent_settings.key_incarnation_id == 2
    methods = [(e['method'], e['route']) for e in sim.control.requests()]
    assert ('PUT', 'instance.put') in methods and ('PATCH', 'instance.patch') not in methods
