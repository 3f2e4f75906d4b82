"""Rules of the simulated VMAccessAgent handler (tests/armsim/vmaccess_windows.py): pure calls, then through ARM."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from armsim.vmaccess_windows import (  # noqa: E402
    MSG_DOMAIN_CONTROLLER,
    MSG_ENABLE_SUCCEEDED,
    MSG_NO_PASSWORD,
    MSG_PASSWORD_POLICY,
    WindowsGuest,
    run_vmaccess_agent,
)

PASSWORD = 'N3w-Adm1n-Passw0rd!'


def guest(**kw):
    return WindowsGuest.from_fleet(kw or None, 'azureuser')


def test_provisioned_guest_has_builtin_admin_and_rdp():
    g = guest().to_json()
    assert g['users']['azureuser']['rid'] == 500 and g['administrators'] == ['azureuser']
    assert g['rdp_enabled'] and g['firewall_rdp_enabled'] and g['rdp_port'] == 3389


def test_password_reset_of_existing_admin():
    g = guest()
    r = run_vmaccess_agent(g, {'UserName': 'azureuser'}, {'Password': PASSWORD})
    assert r.ok and r.message == MSG_ENABLE_SUCCEEDED
    assert g.password_matches('AzureUser', PASSWORD)  # Windows names are case-insensitive
    assert g.to_json()['users']['azureuser']['password_version'] == 1


def test_other_name_adds_a_local_administrator():
    g = guest()
    r = run_vmaccess_agent(g, {'UserName': 'rescue'}, {'Password': PASSWORD})
    assert r.ok
    j = g.to_json()
    assert j['users']['rescue']['admin'] and j['users']['rescue']['created_by_vmaccess']
    assert j['users']['azureuser']['rid'] == 500  # the built-in administrator is kept
    assert sorted(j['administrators']) == ['azureuser', 'rescue']


def test_disabled_account_is_enabled_by_a_reset():
    g = guest(users={'azureuser': {'disabled': True}})
    assert run_vmaccess_agent(g, {'UserName': 'azureuser'}, {'Password': PASSWORD}).ok
    assert g.to_json()['users']['azureuser']['disabled'] is False


def test_no_user_and_no_password_resets_remote_desktop():
    g = guest(rdp_enabled=False, rdp_service='stopped', rdp_port=3390, firewall_rdp_enabled=False)
    r = run_vmaccess_agent(g, {}, {})
    assert r.ok and r.message == MSG_ENABLE_SUCCEEDED
    j = g.to_json()
    assert (j['rdp_enabled'], j['rdp_service'], j['rdp_port'], j['firewall_rdp_enabled']) == (
        True,
        'running',
        3389,
        True,
    )
    assert j['users']['azureuser']['password_version'] == 0


def test_domain_controller_not_supported():
    g = guest(domain_controller=True)
    r = run_vmaccess_agent(g, {'UserName': 'azureuser'}, {'Password': PASSWORD})
    assert not r.ok and r.message == MSG_DOMAIN_CONTROLLER
    assert not g.password_matches('azureuser', PASSWORD)


def test_password_policy_refused_in_the_guest():
    g = guest()
    r = run_vmaccess_agent(g, {'UserName': 'azureuser'}, {'Password': 'alllowercase'})
    assert not r.ok and r.message == MSG_PASSWORD_POLICY


def test_user_without_password_fails():
    r = run_vmaccess_agent(guest(), {'UserName': 'azureuser'}, {})
    assert not r.ok and r.message == MSG_NO_PASSWORD


def test_no_secret_in_guest_state_or_events():
    g = guest()
    run_vmaccess_agent(g, {'UserName': 'rescue'}, {'Password': PASSWORD})
    assert PASSWORD not in json.dumps(g.to_json())


# -- through ARM -----------------------------------------------------------------------------------------

AGENT = {
    'publisher': 'Microsoft.Compute',
    'type': 'VMAccessAgent',
    'typeHandlerVersion': '2.4',
    'autoUpgradeMinorVersion': True,
}


def body(settings, protected):
    return {'location': 'westeurope', 'properties': dict(AGENT, settings=settings, protectedSettings=protected)}


def test_vmaccessagent_runs_in_the_windows_guest(sim, arm):
    path = arm.vm('rg-windows', 'win-no-msp') + '/extensions/enablevmaccess'
    resp = arm.put(path, body({'UserName': 'rescue'}, {'Password': PASSWORD}))
    assert resp.status_code == 201 and 'protectedSettings' not in resp.json()['properties']
    assert arm.wait(resp)['status'] == 'Succeeded'
    ext = arm.get(path, query={'$expand': 'instanceView'}).json()
    assert ext['properties']['instanceView']['statuses'][0]['message'] == MSG_ENABLE_SUCCEEDED
    g = sim.control.guest(sim.vm_id('rg-windows', 'win-no-msp'))
    assert g['users']['rescue']['admin'] and PASSWORD not in json.dumps(g)


def test_vmaccessagent_refused_on_linux(arm):
    path = arm.vm('rg-linux', 'lin-locked') + '/extensions/winaccess'
    result = arm.wait(arm.put(path, body({'UserName': 'rescue'}, {'Password': PASSWORD})))
    assert result['status'] == 'Failed'
    assert "is not supported on OS type 'Linux'" in json.dumps(result)
