# SPDX-License-Identifier: GPL-3.0-or-later
"""The module sends what the Azure CLI sends for the same intent.

Azure CLI 2.91.0, src/azure-cli/azure/cli/command_modules/vm/custom.py, the lines mirrored here:

    _ACCESS_EXT_HANDLER_NAME = 'enablevmaccess'
    _LINUX_ACCESS_EXT = 'VMAccessForLinux'
    extension_mappings = {
        _LINUX_ACCESS_EXT: {
            'version': '1.5',
            'publisher': 'Microsoft.OSTCExtensions'
        },

    def _update_linux_access_extension(cmd, vm_instance, resource_group_name, protected_settings, no_wait=False):
        instance_name = _get_extension_instance_name_aaz(vm_instance.get('instanceView', {}),
                                                         extension_mappings[_LINUX_ACCESS_EXT]['publisher'],
                                                         _LINUX_ACCESS_EXT,
                                                         _ACCESS_EXT_HANDLER_NAME)
        ...
        poller = VMExtensionCreate(cli_ctx=cmd.cli_ctx)(command_args={
            ...
            'vm_extension_name': instance_name,
            'location': vm_instance['location'],
            'publisher': publisher,
            'type': _LINUX_ACCESS_EXT,
            'type_handler_version': version,
            'settings': {},
            'protected_settings': protected_settings,
            'auto_upgrade_minor_version': auto_upgrade,

    def _set_linux_user(cmd, vm_instance, resource_group_name, username, password=None, ssh_key_value=None, ...):
        protected_settings = {}
        protected_settings['username'] = username
        if password:
            protected_settings['password'] = password
        ...
        if ssh_key_value:
            protected_settings['ssh_key'] = read_content_if_is_file(ssh_key_value)

    def delete_user(...):       ... _update_linux_access_extension(cmd, vm, resource_group_name, {'remove_user': username})
    def reset_linux_ssh(...):   ... _update_linux_access_extension(cmd, vm, resource_group_name, {'reset_ssh': True})

    # _get_extension_instance_name_aaz: an existing extension whose type is
    # 'Microsoft.OSTCExtensions.VMAccessForLinux' keeps its name.

Differences, on purpose: the module also sends ``autoUpgradeMinorVersion: true`` (the CLI leaves it out unless the
installed version is older) and ``forceUpdateTag`` (its fingerprint; the CLI sends none, so an unchanged CLI request
does not rerun the handler).

``test_against_installed_azure_cli`` runs the CLI's own functions (from the Azure CLI virtualenv that ``make azcli``
builds) with the REST call replaced by a recorder, so the expectation is not only our reading of the source.
"""

import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._extension import linux as v
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

from azcli import az_python, run_cli_functions

try:
    from test_vmaccess import ED, PASSWORD, params
    from test_vmaccess_runner import VM_ID, FakeArm, ext
except ImportError:  # tests/unit is a package
    from .test_vmaccess import ED, PASSWORD, params
    from .test_vmaccess_runner import VM_ID, FakeArm, ext

# What the CLI passes to VMExtensionCreate, mapped to the REST body (snake -> camel), per intent.
CLI_REQUESTS = {
    'update_password': dict(
        name='enablevmaccess',
        publisher='Microsoft.OSTCExtensions',
        type='VMAccessForLinux',
        typeHandlerVersion='1.5',
        settings={},
        protectedSettings={'username': 'bob', 'password': PASSWORD},
    ),
    'update_key': dict(
        name='enablevmaccess',
        publisher='Microsoft.OSTCExtensions',
        type='VMAccessForLinux',
        typeHandlerVersion='1.5',
        settings={},
        protectedSettings={'username': 'bob', 'ssh_key': ED},
    ),
    'reset_ssh': dict(
        name='enablevmaccess',
        publisher='Microsoft.OSTCExtensions',
        type='VMAccessForLinux',
        typeHandlerVersion='1.5',
        settings={},
        protectedSettings={'reset_ssh': True},
    ),
    'delete_user': dict(
        name='enablevmaccess',
        publisher='Microsoft.OSTCExtensions',
        type='VMAccessForLinux',
        typeHandlerVersion='1.5',
        settings={},
        protectedSettings={'remove_user': 'bob'},
    ),
}

MODULE_INTENTS = {
    'update_password': dict(username='bob', password=PASSWORD),  # az vm user update -u bob -p ...
    'update_key': dict(username='bob', ssh_key=ED),  # az vm user update -u bob --ssh-key-value ...
    'reset_ssh': dict(reset_ssh=True),  # az vm user reset-ssh
    'delete_user': dict(remove_user='bob'),  # az vm user delete -u bob
}


def module_request(intent, extensions=None):
    arm = FakeArm(extensions=extensions)
    p = params(**MODULE_INTENTS[intent])
    v.validate(p)
    v.VMAccessRunner(arm, parse_resource_id(VM_ID), p).run()
    (put,) = [c for c in arm.calls if c[0] == 'PUT']
    body = arm.sent[0]
    return put[1].rsplit('/', 1)[1], body


@pytest.mark.parametrize('intent', sorted(CLI_REQUESTS))
def test_same_request_as_azure_cli(intent):
    name, body = module_request(intent)
    cli = CLI_REQUESTS[intent]
    props = body['properties']
    assert name == cli['name']
    for key in ('publisher', 'type', 'typeHandlerVersion', 'settings', 'protectedSettings'):
        assert props[key] == cli[key], key
    # JSON booleans, same keys: the serialized protected settings are identical
    assert json.dumps(props['protectedSettings'], sort_keys=True) == json.dumps(
        cli['protectedSettings'], sort_keys=True
    )
    assert set(props) - set(cli) == {'autoUpgradeMinorVersion', 'forceUpdateTag'}
    assert body['location'] == 'westeurope'


def test_existing_extension_name_reused_like_cli():
    name, _ = module_request('reset_ssh', extensions=[ext('myaccess')])
    assert name == 'myaccess'


_CLI_CALLS = """\
c.set_user(cmd, "rg", "vm1", "bob", password=args["password"])
c.set_user(cmd, "rg", "vm1", "bob", ssh_key_value=args["key"])
c.reset_linux_ssh(cmd, "rg", "vm1")
c.delete_user(cmd, "rg", "vm1", "bob")
"""


@pytest.mark.skipif(az_python() is None, reason='Azure CLI virtualenv not installed (make azcli)')
@pytest.mark.parametrize('existing', [[], [{'name': 'myaccess', 'type': 'Microsoft.OSTCExtensions.VMAccessForLinux'}]])
def test_against_installed_azure_cli(existing):
    captured = run_cli_functions('Linux', _CLI_CALLS, {'password': PASSWORD, 'key': ED, 'existing': existing})
    intents = ['update_password', 'update_key', 'reset_ssh', 'delete_user']
    assert len(captured) == len(intents)
    exts = [ext(e['name']) for e in existing]
    for intent, cli in zip(intents, captured):
        name, body = module_request(intent, extensions=exts)
        props = body['properties']
        assert name == cli['vm_extension_name']
        assert body['location'] == cli['location']
        assert props['publisher'] == cli['publisher']
        assert props['type'] == cli['type']
        assert props['typeHandlerVersion'] == cli['type_handler_version']
        assert props['settings'] == cli['settings']
        assert props['protectedSettings'] == cli['protected_settings'], intent
