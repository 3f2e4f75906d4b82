"""Endpoint modes (HostEndpointSettings) of the Metadata Security Protocol: writes, refusals, the guest applying
them after its latency, agent installation, tags replaced by a PATCH, and the api-version of addProxyAgentExtension."""

import time

import pytest

from simarm import wait_for
from specconf import VM_PATH, errors as spec_errors

SCS = 'WireServer {w} -  IMDS {i} - HostGA {w}'
PA = ('properties', 'securityProfile', 'proxyAgentSettings')


def settings(arm, path, api=None):
    body = arm.get(path, **({'api': api} if api else {})).json()
    for key in PA:
        body = body.get(key) or {}
    return body


def modes_body(wire=None, imds=None, **extra):
    pa = dict(extra)
    if wire is not None:
        pa['wireServer'] = wire
    if imds is not None:
        pa['imds'] = imds
    return {'properties': {'securityProfile': {'proxyAgentSettings': pa}}}


def scs(arm, path):
    latch = arm.key_latch(path)
    return latch and latch.get('states', {}).get('secureChannelState')


def test_patch_mode_applied_after_latency(msp, arm):
    path = arm.vm('rg-msp', 'msp-lin')
    assert scs(arm, path) == SCS.format(w='Enforce', i='Enforce')
    resp = arm.patch(path, modes_body({'mode': 'Audit'}, {'mode': 'Audit'}))
    assert arm.wait(resp)['status'] == 'Succeeded'
    assert settings(arm, path)['wireServer'] == {'mode': 'Audit'}
    assert scs(arm, path) == SCS.format(w='Enforce', i='Enforce')  # the guest has not applied it yet
    wait_for(lambda: scs(arm, path) == SCS.format(w='Audit', i='Audit'))
    assert msp.control.vm(msp.vm_id('rg-msp', 'msp-lin'))['proxy_agent']['applied']['imds']['mode'] == 'Audit'


def test_guest_that_never_applies(msp, arm):
    msp.control.config(relatch_seconds=0.1)
    path = arm.vm('rg-msp', 'msp-never')
    assert arm.wait(arm.patch(path, modes_body({'mode': 'Audit'})))['status'] == 'Succeeded'
    time.sleep(0.6)
    assert settings(arm, path)['wireServer']['mode'] == 'Audit'
    assert scs(arm, path) == SCS.format(w='Enforce', i='Enforce')


def test_instance_put_mode(msp, arm):
    path = arm.instance('rg-msp', 'ss-msp', 0)
    resp = arm.get(path)
    body, etag = resp.json(), resp.headers['ETag']
    body['properties']['securityProfile']['proxyAgentSettings']['imds'] = {'mode': 'Audit'}
    put = arm.put(path, body, headers={'If-Match': etag})
    assert put.status_code == 202, put.text
    assert arm.wait(put)['status'] == 'Succeeded'
    assert settings(arm, path)['imds'] == {'mode': 'Audit'}
    wait_for(lambda: scs(arm, path) == SCS.format(w='Enforce', i='Audit'))


@pytest.mark.parametrize(
    'body,code,words',
    [
        (
            modes_body({'mode': 'Audit', 'inVMAccessControlProfileReferenceId': '/x/versions/1'}),
            'InvalidParameter',
            'cannot be specified together',
        ),
        (modes_body(None, {'mode': 'Permissive'}), 'InvalidParameter', 'Allowed values are: Audit, Enforce, Disabled'),
        (
            modes_body(addProxyAgentExtension=True),
            'InvalidRequestFormat',
            "Could not find member 'addProxyAgentExtension'",
        ),
    ],
)
def test_refusals(msp, arm, body, code, words):
    resp = arm.patch(arm.vm('rg-msp', 'msp-lin'), body)
    assert resp.status_code == 400, resp.text
    assert resp.json()['error']['code'] == code and words in resp.json()['error']['message']


def test_mode_over_profile_needs_the_reference_removed(msp, arm):
    path = arm.vm('rg-msp', 'msp-profile')
    resp = arm.patch(path, modes_body({'mode': 'Audit'}))
    assert resp.status_code == 400 and 'cannot be specified together' in resp.json()['error']['message']
    resp = arm.patch(path, modes_body({'mode': 'Audit', 'inVMAccessControlProfileReferenceId': None}))
    assert arm.wait(resp)['status'] == 'Succeeded'
    assert settings(arm, path)['wireServer'] == {'mode': 'Audit'}


def test_mode_case_is_normalised(msp, arm):
    path = arm.vm('rg-msp', 'msp-lin')
    assert arm.wait(arm.patch(path, modes_body({'mode': 'audit'})))['status'] == 'Succeeded'
    assert settings(arm, path)['wireServer']['mode'] == 'Audit'


def test_unsupported_vm_refuses_proxy_agent_settings(msp, arm):
    resp = arm.patch(arm.vm('rg-msp', 'msp-unsupported'), modes_body(enabled=True))
    assert resp.status_code == 400 and 'not supported' in resp.json()['error']['message']


def test_add_proxy_agent_extension(msp, arm):
    path = arm.vm('rg-msp', 'msp-no-agent')
    assert arm.key_latch(path) is None
    resp = arm.patch(path, modes_body(addProxyAgentExtension=True), api='2025-04-01')
    assert arm.wait(resp)['status'] == 'Succeeded'
    assert settings(arm, path, api='2025-04-01')['addProxyAgentExtension'] is True
    assert 'addProxyAgentExtension' not in settings(arm, path)  # not a member at 2024-11-01
    assert arm.key_latch(path) is not None  # the ProxyAgentLinux extension is installed
    win = arm.patch(arm.vm('rg-msp', 'msp-win'), modes_body(addProxyAgentExtension=True), api='2025-04-01')
    assert win.status_code == 400 and 'only supported for Linux' in win.json()['error']['message']


def test_enable_on_windows_installs_the_agent(msp, arm):
    path = arm.vm('rg-msp', 'msp-off')
    assert arm.key_latch(path) is None
    assert arm.wait(arm.patch(path, modes_body(enabled=True)))['status'] == 'Succeeded'
    assert arm.key_latch(path) is None  # Linux: enabled alone installs nothing


def test_older_put_keeps_add_proxy_agent_extension(msp, arm):
    path = arm.instance('rg-msp', 'ss-msp', 1)
    body = arm.get(path, api='2025-04-01').json()
    body['properties']['securityProfile']['proxyAgentSettings']['addProxyAgentExtension'] = True
    assert arm.wait(arm.put(path, body, api='2025-04-01'))['status'] == 'Succeeded'
    body = arm.get(path).json()  # 2024-11-01: the field is not shown, and a PUT of this body keeps it
    assert arm.wait(arm.put(path, body))['status'] == 'Succeeded'
    assert settings(arm, path, api='2025-04-01')['addProxyAgentExtension'] is True


def test_patch_tags_replace_the_map(msp, arm):
    path = arm.vm('rg-msp', 'msp-lin')
    assert arm.wait(arm.patch(path, {'tags': {'only': 'this'}}))['status'] == 'Succeeded'
    assert arm.get(path).json()['tags'] == {'only': 'this'}


def test_bodies_conform(msp, arm):
    body = modes_body(
        {'mode': 'Audit', 'inVMAccessControlProfileReferenceId': None}, {'mode': 'Disabled'}, enabled=True
    )
    assert spec_errors(body, VM_PATH, 'patch') == []
    path = arm.vm('rg-msp', 'msp-profile')
    assert spec_errors(arm.get(path).json(), VM_PATH, 'get', code=200) == []
