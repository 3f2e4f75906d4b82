# SPDX-License-Identifier: GPL-3.0-or-later
"""vmaccess_windows (the VMAccessAgent profile): validation, payload, idempotency, and parity with the Azure CLI.

Azure CLI 2.91.0, vm/custom.py ``_reset_windows_admin`` (reached from ``set_user`` on a Windows VM) sends
VMExtensionCreate with vm_extension_name 'enablevmaccess' (or the name of the existing
Microsoft.Compute.VMAccessAgent extension), publisher 'Microsoft.Compute', type 'VMAccessAgent',
type_handler_version '2.4', settings {'UserName': username}, protected_settings {'Password': password}.
Differences, on purpose: the module also sends ``autoUpgradeMinorVersion: true`` and ``forceUpdateTag``.
``test_against_installed_azure_cli`` runs the CLI's own ``set_user`` with the REST call replaced by a recorder.
"""

import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._extension import windows as w
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.engine import ExtensionRunner
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError, ExtensionFailure
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

from azcli import az_python, run_cli_functions

try:
    from test_vmaccess_runner import VM_ID, FakeArm, ext
except ImportError:  # tests/unit is a package
    from .test_vmaccess_runner import VM_ID, FakeArm, ext

PASSWORD = 'Zq7-Windows-Secret-4711'


def params(**kw):
    p = dict((k, spec.get('default')) for k, spec in w.ARGUMENT_SPEC.items())
    p.update(kw)
    return p


def run(arm, check_mode=False, **kw):
    p = params(**kw)
    w.validate(p)
    return ExtensionRunner(
        w.WINDOWS, arm, parse_resource_id(VM_ID), p, check_mode=check_mode, sleep=arm.slept.append, clock=arm.clock
    ).run()


@pytest.mark.parametrize(
    'kw,message',
    [
        (dict(username='ops'), 'username needs password'),
        (dict(password=PASSWORD), 'password needs username'),
        (dict(), 'nothing to do'),
        (dict(reset_rdp=True, password=PASSWORD), 'reset_rdp cannot be combined'),
        (dict(username='Guest', password=PASSWORD), 'does not allow'),
        (dict(username='a' * 21, password=PASSWORD), 'at most 20'),
        (dict(username='ops.', password=PASSWORD), "cannot end in '.'"),
        (dict(username='o@ps', password=PASSWORD), 'contains a character'),
        (dict(username=' ops', password=PASSWORD), 'spaces'),
        (dict(username='ops', password='Ab1-' * 31), '8 to 123'),
        (dict(username='ops', password='ALLUPPER123'), '3 of'),
        (dict(username='ops', password='Password1'), 'too common'),
        (dict(username='rescue', password='My-Rescue-1'), 'contains the user name'),
        (dict(state='absent', reset_rdp=True), 'state=absent'),
    ],
)
def test_refused_before_any_call(kw, message):
    with pytest.raises(ExtensionError) as e:
        w.validate(params(**kw))
    assert message in str(e.value)
    assert PASSWORD not in str(e.value)


def test_accepted_bounds():
    w.validate(params(username='a' * 20, password='Ab1-5678'))
    w.validate(params(username='ops', password='Ab1-' * 30 + 'xyz'))
    w.validate(params(reset_rdp=True))
    w.validate(params(state='absent'))


def test_password_reset_then_identical_run_writes_nothing_and_new_password_reruns():
    arm = FakeArm(os='Windows')
    r = run(arm, username='azureadmin', password=PASSWORD)
    assert r['changed'] and len(arm.writes) == 1
    assert r['extension']['protectedSettings'] == {'Password': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    assert PASSWORD not in json.dumps(r)
    r = run(arm, username='azureadmin', password=PASSWORD)
    assert not r['changed'] and r['fingerprint_matched'] and len(arm.writes) == 1
    r = run(arm, username='azureadmin', password=PASSWORD + 'x')
    assert r['changed'] and len(arm.writes) == 2


def test_check_mode_writes_nothing():
    arm = FakeArm(os='Windows')
    r = run(arm, check_mode=True, reset_rdp=True)
    assert r['changed'] and arm.writes == []


def test_linux_vm_refused_pointing_to_vmaccess_linux():
    arm = FakeArm(os='Linux')
    with pytest.raises(ExtensionFailure) as e:
        run(arm, username='azureadmin', password=PASSWORD)
    assert 'vmrescue.azure.vmaccess_linux' in e.value.msg and arm.writes == []


def test_handler_failure_message_scrubbed():
    arm = FakeArm(os='Windows', handler=lambda s, p: (False, 'bad password %s' % p['Password']))
    with pytest.raises(ExtensionFailure) as e:
        run(arm, username='azureadmin', password=PASSWORD)
    assert e.value.msg.startswith('the VMAccessAgent handler failed on') and PASSWORD not in e.value.msg


# -- parity with the Azure CLI ------------------------------------------------------------------------------


def module_request(kw, extensions=None):
    arm = FakeArm(os='Windows', extensions=extensions)
    run(arm, **kw)
    (put,) = [c for c in arm.calls if c[0] == 'PUT']
    return put[1].rsplit('/', 1)[1], arm.sent[0]


def test_same_request_as_azure_cli_source():
    name, body = module_request(dict(username='bob', password=PASSWORD))
    props = body['properties']
    assert name == 'enablevmaccess' and body['location'] == 'westeurope'
    assert (props['publisher'], props['type'], props['typeHandlerVersion']) == (
        'Microsoft.Compute',
        'VMAccessAgent',
        '2.4',
    )
    assert props['settings'] == {'UserName': 'bob'} and props['protectedSettings'] == {'Password': PASSWORD}
    assert set(props) - {'publisher', 'type', 'typeHandlerVersion', 'settings', 'protectedSettings'} == {
        'autoUpgradeMinorVersion',
        'forceUpdateTag',
    }


def test_existing_vmaccessagent_reused_under_its_name():
    existing = ext('VMAccessAgent', publisher='Microsoft.Compute', type_='VMAccessAgent')
    name, _ = module_request(dict(username='bob', password=PASSWORD), extensions=[existing])
    assert name == 'VMAccessAgent'


_CLI_CALLS = """\
c.set_user(cmd, "rg", "vm1", "bob", password=args["password"])
"""


@pytest.mark.skipif(az_python() is None, reason='Azure CLI virtualenv not installed (make azcli)')
@pytest.mark.parametrize('existing', [[], [{'name': 'myaccess', 'type': 'Microsoft.Compute.VMAccessAgent'}]])
def test_against_installed_azure_cli(existing):
    (cli,) = run_cli_functions('Windows', _CLI_CALLS, {'password': PASSWORD, 'existing': existing})
    exts = [ext(e['name'], publisher='Microsoft.Compute', type_='VMAccessAgent') for e in existing]
    name, body = module_request(dict(username='bob', password=PASSWORD), extensions=exts)
    props = body['properties']
    assert name == cli['vm_extension_name']
    assert body['location'] == cli['location']
    assert props['publisher'] == cli['publisher'] and props['type'] == cli['type']
    assert props['typeHandlerVersion'] == cli['type_handler_version']
    assert props['settings'] == cli['settings']
    assert props['protectedSettings'] == cli['protected_settings']
