# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for VMAccessRunner (the decision + ARM calls) against an in-memory ARM double. No network."""

import copy
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _vmaccess as v
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id

try:
    from test_vmaccess import ECDSA, ED, PASSWORD, RSA, params
except ImportError:  # tests/unit is a package
    from .test_vmaccess import ECDSA, ED, PASSWORD, RSA, params

SUB = "00000000-0000-0000-0000-000000000001"
VM_ID = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1" % SUB


class FakeArm:
    def __init__(self, os="Linux", power="running", extensions=None, handler=None):
        self.vm = {
            "name": "vm1",
            "location": "westeurope",
            "properties": {
                "storageProfile": {"osDisk": {"osType": os}},
                "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/" + power}]},
            },
        }
        self.extensions = dict((e["name"], e) for e in (extensions or []))
        self.handler = handler or (lambda settings, protected: (True, "Enable succeeded."))
        self.calls = []
        self.sent = []

    @property
    def writes(self):
        return [c for c in self.calls if c[0] != "GET"]

    def _status(self, ok, message):
        if ok:
            return {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": message}
        return {"code": "ProvisioningState/failed/1", "level": "Error", "displayStatus": "Provisioning failed", "message": message}

    def get(self, path, api_version=None, params=None, missing_ok=False, resource_id=None):
        self.calls.append(("GET", path, dict(params or {})))
        assert api_version
        if path.endswith("/extensions"):
            return {"value": [copy.deepcopy(e) for e in self.extensions.values()]}
        if "/extensions/" in path:
            name = path.rsplit("/", 1)[1]
            if name not in self.extensions:
                raise ArmError("not found", status=404, code="NotFound")
            return copy.deepcopy(self.extensions[name])
        vm = copy.deepcopy(self.vm)
        vm["resources"] = [copy.deepcopy(e) for e in self.extensions.values()]
        for e in vm["resources"]:
            e["properties"].pop("instanceView", None)
        vm["properties"]["instanceView"]["extensions"] = [
            {"name": n, "type": "x", "statuses": e["properties"].get("instanceView", {}).get("statuses", [])}
            for n, e in self.extensions.items()
        ]
        return vm

    def put(self, path, body, api_version=None, **kw):
        self.calls.append(("PUT", path, None))
        self.sent.append(copy.deepcopy(body))
        name = path.rsplit("/", 1)[1]
        props = copy.deepcopy(body["properties"])
        protected = props.pop("protectedSettings", None)
        ok, message = self.handler(props.get("settings"), protected)
        props["provisioningState"] = "Succeeded" if ok else "Failed"
        props["instanceView"] = {"name": name, "statuses": [self._status(ok, message)]}
        self.extensions[name] = {"name": name, "id": path, "properties": props}
        if not ok:
            raise ArmError(
                "VM has reported a failure when processing extension '%s' (publisher 'Microsoft.OSTCExtensions' and type "
                "'VMAccessForLinux'). Error message: '%s'. More information on troubleshooting is available at "
                "https://aka.ms/VMExtensionCSELinuxTroubleshoot. " % (name, message),
                code="VMExtensionProvisioningError",
            )
        return copy.deepcopy(self.extensions[name])

    def delete(self, path, api_version=None, **kw):
        self.calls.append(("DELETE", path, None))
        self.extensions.pop(path.rsplit("/", 1)[1], None)


def ext(name, publisher="Microsoft.OSTCExtensions", type_="VMAccessForLinux", tag=None, state="Succeeded"):
    props = {"publisher": publisher, "type": type_, "typeHandlerVersion": "1.5", "autoUpgradeMinorVersion": True,
             "settings": {}, "provisioningState": state}
    if tag:
        props["forceUpdateTag"] = tag
    return {"name": name, "properties": props}


def run(arm, check_mode=False, **kw):
    warnings = []
    p = params(**kw)
    v.validate(p)
    runner = v.VMAccessRunner(arm, parse_resource_id(VM_ID), p, check_mode=check_mode, warn=warnings.append)
    return runner.run(), warnings


def test_first_run_writes_with_cli_name_and_second_is_ok():
    arm = FakeArm()
    res, _ = run(arm, username="bob", ssh_key=ED)
    assert res["changed"] and res["extension_name"] == "enablevmaccess"
    assert res["message"] == "Enable succeeded."
    assert res["handler_status"]["code"] == "ProvisioningState/succeeded"
    assert len(arm.writes) == 1 and arm.writes[0][1].endswith("/virtualMachines/vm1/extensions/enablevmaccess")
    body = arm.sent[0]
    assert body["location"] == "westeurope"
    assert body["properties"]["forceUpdateTag"].startswith("vmrescue1$")
    arm.calls.clear()
    res, _ = run(arm, username="bob", ssh_key=ED)
    assert not res["changed"] and res["fingerprint_matched"]
    assert arm.writes == []
    assert res["message"] == "Enable succeeded."


@pytest.mark.parametrize("change", [dict(password=PASSWORD + "2"), dict(ssh_key=RSA)])
def test_password_only_or_key_only_change_reruns(change):
    arm = FakeArm()
    base = dict(username="bob", password=PASSWORD, ssh_key=ED)
    run(arm, **base)
    tag1 = arm.sent[-1]["properties"]["forceUpdateTag"]
    res, _ = run(arm, **dict(base, **change))
    assert res["changed"] and len(arm.writes) == 2
    assert arm.sent[-1]["properties"]["forceUpdateTag"] != tag1


def test_force_reruns():
    arm = FakeArm()
    run(arm, reset_ssh=True)
    res, _ = run(arm, reset_ssh=True, force=True)
    assert res["changed"] and len(arm.writes) == 2


def test_failed_last_run_reruns():
    calls = {"n": 0}

    def handler(settings, protected):
        calls["n"] += 1
        return (calls["n"] > 1, "Enable succeeded." if calls["n"] > 1 else "Enable failed: transient")

    arm = FakeArm(handler=handler)
    with pytest.raises(v.VMAccessFailure):
        run(arm, reset_ssh=True)
    res, _ = run(arm, reset_ssh=True)
    assert res["changed"] and res["message"] == "Enable succeeded."


def test_existing_extension_under_other_name_is_reused():
    arm = FakeArm(extensions=[ext("VMAccessForLinux"), ext("other", "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")])
    res, warnings = run(arm, reset_ssh=True, extension_name="mine")
    assert res["extension_name"] == "VMAccessForLinux"
    assert arm.writes[0][1].endswith("/extensions/VMAccessForLinux")
    assert any("extension_name 'mine' ignored" in w for w in warnings)
    assert sorted(arm.extensions) == ["VMAccessForLinux", "other"]


def test_foreign_tag_reruns():
    arm = FakeArm(extensions=[ext("enablevmaccess", tag="2024-01-01T00:00:00")])
    res, _ = run(arm, reset_ssh=True)
    assert res["changed"]


def test_windows_refused_without_write():
    arm = FakeArm(os="Windows")
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username="bob", password=PASSWORD)
    assert "runs Windows" in e.value.msg and "VMAccessAgent" in e.value.msg and "Microsoft.Compute" in e.value.msg
    assert "2.4" in e.value.msg
    assert arm.writes == []


@pytest.mark.parametrize("power", ["stopped", "deallocated"])
def test_stopped_vm_refused_without_write(power):
    arm = FakeArm(power=power)
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, reset_ssh=True)
    assert "is not running (power state '%s')" % power in e.value.msg
    assert arm.writes == []


def test_handler_failure_fails_with_its_message():
    arm = FakeArm(handler=lambda s, p: (False, "Enable failed: Cannot reset sshd_config and remove a user in one operation."))
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username="bob", password=PASSWORD)
    assert e.value.msg.endswith("Enable failed: Cannot reset sshd_config and remove a user in one operation.")
    assert e.value.result["message"] == "Enable failed: Cannot reset sshd_config and remove a user in one operation."
    assert e.value.result["handler_status"]["level"] == "Error"
    assert PASSWORD not in json.dumps(e.value.result) and PASSWORD not in e.value.msg


def test_handler_failure_message_is_scrubbed():
    arm = FakeArm(handler=lambda s, p: (False, "Enable failed: weird %s" % p.get("password")))
    with pytest.raises(v.VMAccessFailure) as e:
        run(arm, username="bob", password=PASSWORD)
    assert PASSWORD not in e.value.msg and PASSWORD not in json.dumps(e.value.result)


def test_check_mode_reads_only_and_diff_masks_password():
    arm = FakeArm()
    res, _ = run(arm, check_mode=True, username="bob", password=PASSWORD)
    assert res["changed"] and arm.writes == []
    after = res["diff"]["after"]
    assert after["protectedSettings"] == {"username": "bob", "password": v.MASK}
    assert PASSWORD not in json.dumps(res)


def test_aad_warning_on_password_change():
    arm = FakeArm(extensions=[ext("AADSSHLoginForLinux", "Microsoft.Azure.ActiveDirectory", "AADSSHLoginForLinux")])
    res, warnings = run(arm, username="bob", password=PASSWORD)
    assert any("AADSSHLoginForLinux" in w and "run that extension again" in w for w in warnings)
    assert all(PASSWORD not in w for w in warnings)


def test_absent():
    arm = FakeArm(extensions=[ext("custom-access")])
    res, _ = run(arm, check_mode=True, state="absent")
    assert res["changed"] and arm.writes == []
    res, _ = run(arm, state="absent")
    assert res["changed"] and res["extension_name"] == "custom-access"
    assert arm.writes == [("DELETE", arm.writes[0][1], None)] and arm.extensions == {}
    res, _ = run(arm, state="absent")
    assert not res["changed"]


def test_uniform_instance_path():
    arm = FakeArm()
    target = parse_resource_id(
        "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3" % SUB
    )
    p = params(reset_ssh=True)
    v.VMAccessRunner(arm, target, p).run()
    assert arm.writes[0][1].endswith("/virtualMachineScaleSets/ss/virtualMachines/3/extensions/enablevmaccess")


def test_invalid_key_refused_before_any_call():
    arm = FakeArm()
    with pytest.raises(v.VMAccessError):
        run(arm, username="bob", ssh_key=ECDSA)
    assert arm.calls == []
