"""The official azure-mgmt-compute SDK, unmodified, drives the disk, snapshot, power and boot diagnostics endpoints
of the simulator (issue 23): its models parse every answer and its pollers follow every operation."""

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    CreationData,
    Disk,
    DiskProperties,
    DiskSku,
    Snapshot,
    SnapshotProperties,
    SupportedCapabilities,
)
from rescuekit import RG

SCOPE = 'https://management.azure.com/.default'


@pytest.fixture
def client(sim, rescue, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', sim.ca_file)
    monkeypatch.setenv('SSL_CERT_FILE', sim.ca_file)
    credential = ClientSecretCredential(
        sim.tenant_id, sim.client_id, sim.client_secret, authority=sim.base_url, disable_instance_discovery=True
    )
    with ComputeManagementClient(credential, sim.subscription_id, base_url=sim.base_url,
                                 credential_scopes=[SCOPE]) as compute:  # fmt: skip
        yield compute


def test_sdk_copies_a_disk_and_snapshots_it(sim, client):
    source = client.disks.get(RG, 'lin-fstab_OsDisk_1')
    assert source.disk_state == 'Attached' and source.managed_by.endswith('/virtualMachines/lin-fstab')
    copy = client.disks.begin_create_or_update(
        RG,
        'sdk-copy',
        Disk(
            location='westeurope',
            sku=DiskSku(name='StandardSSD_LRS'),
            properties=DiskProperties(
                creation_data=CreationData(create_option='Copy', source_resource_id=source.id),
                hyper_v_generation=source.hyper_v_generation,
                supported_capabilities=SupportedCapabilities(architecture='x64'),
            ),
        ),
    ).result()
    assert (
        copy.provisioning_state == 'Succeeded' and copy.hyper_v_generation == 'V2' and copy.disk_state == 'Unattached'
    )
    snap = client.snapshots.begin_create_or_update(
        RG,
        'sdk-snap',
        Snapshot(
            location='westeurope',
            properties=SnapshotProperties(creation_data=CreationData(create_option='Copy', source_resource_id=copy.id)),
        ),  # fmt: skip
    ).result()
    assert snap.provisioning_state == 'Succeeded' and snap.os_type == 'Linux'
    assert {d.name for d in client.disks.list_by_resource_group(RG)} >= {'sdk-copy', 'lin-fstab_OsDisk_1'}
    assert [s.name for s in client.snapshots.list()] == ['sdk-snap']
    with pytest.raises(HttpResponseError) as info:
        client.disks.begin_delete(RG, 'lin-fstab_OsDisk_1').result()
    assert info.value.error.code == 'OperationNotAllowed'
    client.snapshots.begin_delete(RG, 'sdk-snap').result()
    client.disks.begin_delete(RG, 'sdk-copy').result()
    assert 'sdk-copy' not in {d['name'] for d in sim.control.disks()}


def test_sdk_deallocates_starts_and_reads_the_serial_log(sim, client):
    client.virtual_machines.begin_deallocate(RG, 'lin-kernel').result()
    assert client.disks.get(RG, 'lin-kernel_OsDisk_1').disk_state == 'Reserved'
    statuses = [s.code for s in client.virtual_machines.instance_view(RG, 'lin-kernel').statuses]
    assert 'PowerState/deallocated' in statuses
    client.virtual_machines.begin_start(RG, 'lin-kernel').result()
    view = client.virtual_machines.instance_view(RG, 'lin-kernel')
    assert view.vm_agent.statuses[0].display_status == 'Not Ready'
    result = client.virtual_machines.retrieve_boot_diagnostics_data(
        RG, 'lin-kernel', sas_uri_expiration_time_in_minutes=30
    )
    log = requests.get(result.serial_console_log_blob_uri, verify=sim.ca_file, timeout=10).text
    assert 'Kernel panic - not syncing: Attempted to kill init!' in log
    assert log.count('Linux version') == 1, 'one boot recorded: the start (the fleet boot before it is not kept)'
