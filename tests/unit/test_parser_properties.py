# SPDX-License-Identifier: GPL-3.0-or-later
"""Property-based tests (hypothesis) for the parsers that take untrusted input (issue 12): resource IDs, the guest's
keyLatchStatus, OpenSSH public keys and the VMAccess options. Each parser must either give a well-formed answer or
refuse with its own error (never another exception), and must never echo a secret. Kept quick: modest
max_examples, no deadline."""

import base64
import datetime
import json

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ansible_collections.vmrescue.azure.plugins.module_utils import _target as tg
from ansible_collections.vmrescue.azure.plugins.module_utils._extension import (
    errors as ext_errors,
    linux as v,
    linux_key,
    sshkey as k,
    windows as vw,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import status as pa
from ansible_collections.vmrescue.azure.plugins.plugin_utils._options import raw_arg_errors

try:
    import sshkey_samples as samples
except ImportError:  # pragma: no cover
    from . import sshkey_samples as samples

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- resource IDs ------------------------------------------------------------------------------------------------
NAME = st.text(
    alphabet=st.characters(whitelist_categories=('Lu', 'Ll', 'Nd'), whitelist_characters='-_.()'),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and not s.endswith('.'))
GUID = st.uuids().map(str)


@QUICK
@given(sub=GUID, rg=NAME, name=NAME, upper=st.booleans(), slash=st.booleans())
def test_vm_ids_round_trip(sub, rg, name, upper, slash):
    rid = '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s' % (sub, rg, name)
    text = (rid.upper() if upper and rid.isascii() else rid) + ('/' if slash else '')
    t = tg.parse_resource_id(text)
    assert t.is_vm and t == tg.parse_resource_id(t.id)
    assert tg.parse_resource_id(rid).id == rid


@QUICK
@given(sub=GUID, rg=NAME, ss=NAME, inst=st.integers(0, 10**6))
def test_instance_ids_round_trip(sub, rg, ss, inst):
    rid = (
        '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s/'
        'virtualMachines/%d' % (sub, rg, ss, inst)
    )
    t = tg.parse_resource_id(rid)
    assert not t.is_vm and t.instance_id == str(inst) and t.id == rid


@QUICK
@given(
    st.one_of(
        st.text(max_size=200),
        st.none(),
        st.integers(),
        st.lists(st.text(max_size=5), max_size=3),
        st.builds(
            lambda parts: '/' + '/'.join(parts),
            st.lists(
                st.sampled_from(
                    [
                        'subscriptions',
                        'resourceGroups',
                        'providers',
                        'Microsoft.Compute',
                        'virtualMachines',
                        'virtualMachineScaleSets',
                        '00000000-0000-0000-0000-000000000001',
                        'x',
                        '',
                        '..',
                        'a?b',
                    ]
                ),
                max_size=10,
            ),
        ),
    )
)
def test_any_value_parses_or_is_refused_naming_the_option(value):
    try:
        t = tg.parse_resource_id(value, 'vm_id')
    except tg.TargetError as exc:
        assert str(exc).startswith('vm_id')
        return
    assert tg.is_compute_target_id(t.id)


# ---- keyLatchStatus (the guest writes it: untrusted) --------------------------------------------------------------
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)
STATES = st.one_of(
    JSONISH,
    st.fixed_dictionaries(
        {},
        optional={
            'secureChannelState': st.one_of(
                st.sampled_from(
                    ['WireServer Enforce -  IMDS Audit - HostGA Disabled', 'disabled', 'wireserverandimds', 'Unknown']
                ),
                JSONISH,
            ),
            'keyGuid': st.one_of(st.uuids().map(str), JSONISH),
            'keyIncarnationId': st.one_of(st.integers(-5, 2**33).map(str), JSONISH),
        },
    ),
)
KLS = st.one_of(
    JSONISH,
    st.fixed_dictionaries(
        {
            'status': st.one_of(st.sampled_from(['RUNNING', 'STOPPED', 'UNKNOWN']), JSONISH),
            'message': st.one_of(
                st.sampled_from(
                    [
                        'Found key details from local and ready to use. - 122',
                        'Got key status successfully: keyGuid: x, secureChannelState: disabled, version: 1',
                        'Customer has not enforce the secure channel state',
                    ]
                ),
                JSONISH,
            ),
            'states': STATES,
        }
    ),
)


def _instance_view(message, code='ProvisioningState/succeeded'):
    return {
        'extensions': [
            {
                'name': 'AzureGuestProxyAgentExtension',
                'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux',
                'statuses': [{'code': code, 'time': '2026-01-01T00:00:00Z'}],
                'substatuses': [
                    {'code': 'ComponentStatus/ProxyAgentStatus/succeeded', 'level': 'Info', 'message': message}
                ],
            }
        ]
    }


@QUICK
@given(
    kls=KLS,
    version=JSONISH,
    model=st.one_of(st.integers(0, 2**31 - 1), JSONISH),
    raw=st.booleans(),
    text=st.text(max_size=80),
)
def test_key_latch_status_from_the_guest_never_breaks_the_parser(kls, version, model, raw, text):
    message = text if raw else json.dumps({'version': version, 'status': 'RUNNING', 'keyLatchStatus': kls})
    agent = pa.parse_agent_status(_instance_view(message))
    assert agent['present'] and isinstance(agent['stale'], bool)
    latch = agent['key_latch_status']
    assert latch is None or (isinstance(latch, dict) and isinstance(latch['states'], dict))
    health = pa.classify_health(
        {'keyIncarnationId': model}, agent, 'running', now=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    )
    assert health['verdict'] in ('healthy', 'unhealthy', 'unknown', 'pending', 'not_enforced')
    assert isinstance(health['reason'], str) and isinstance(health['reset_needed'], bool)


@QUICK
@given(st.one_of(st.text(max_size=80), JSONISH))
def test_secure_channel_state_any_value(text):
    out = pa.parse_secure_channel_state(text)
    assert out['in_use'] in (True, False, None)


# ---- OpenSSH public keys ---------------------------------------------------------------------------------------
@QUICK
@given(
    key_type=st.sampled_from(k.KEY_TYPES),
    comment=st.text(alphabet='abcxyz@.-_ ', max_size=20),
    rsa_bits=st.integers(1024, 8192),
)
def test_every_well_formed_key_parses(key_type, comment, rsa_bits):
    fields = samples.fields(key_type, rsa_bits=rsa_bits)
    line = '%s %s %s' % (key_type, base64.b64encode(samples.blob(key_type, fields)).decode(), comment)
    key = k.parse_line(line)
    assert key.type == key_type and (key_type != 'ssh-rsa' or key.bits == rsa_bits)


@QUICK
@given(key_type=st.sampled_from(k.KEY_TYPES), data=st.data())
def test_a_key_cut_short_is_refused_as_truncated(key_type, data):
    b64 = base64.b64encode(samples.blob(key_type)).decode()
    cut = data.draw(st.integers(1, len(b64) // 4 - 1)) * 4
    try:
        k.parse_line('%s %s' % (key_type, b64[:cut]))
    except k.SshKeyError as exc:
        assert 'truncated' in str(exc) and b64[:cut] not in str(exc)
    else:
        raise AssertionError('a truncated key was accepted')


@QUICK
@given(key_type=st.sampled_from(k.KEY_TYPES), blob=st.binary(max_size=300))
def test_random_blobs_are_refused_cleanly(key_type, blob):
    try:
        key = k.parse_blob(samples.pack(key_type.encode()) + blob, key_type)
    except k.SshKeyError as exc:
        assert base64.b64encode(blob).decode()[:12] not in str(exc) or len(blob) < 9
        return
    assert key.type == key_type


@QUICK
@given(st.text(max_size=300))
def test_any_text_as_ssh_key_is_classified_or_refused(text):
    try:
        kind = linux_key.classify_ssh_key(text)
    except v.VMAccessError as exc:
        assert str(exc).startswith('ssh_key')
        return
    assert kind in ('ssh-rsa', 'ssh-ed25519', 'ssh2', 'pem')


# ---- VMAccess options --------------------------------------------------------------------------------------------
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(['root', 'rescue', '', ' ', 'sdc', '2031-01-01', '1.5', 'x' * 40]),
)
LINUX_PARAMS = st.fixed_dictionaries({}, optional=dict((name, VALUE) for name in v.ARGUMENT_SPEC))
SECRET = 'Zq7-property-Secret-5511'


@QUICK
@given(params=LINUX_PARAMS)
def test_linux_validation_answers_or_refuses_and_never_echoes_the_password(params):
    params = dict(params)
    for name, spec in v.ARGUMENT_SPEC.items():  # what the argument spec hands over: typed values
        if params.get(name) is not None and (spec.get('type') == 'bool') != isinstance(params[name], bool):
            params[name] = None
    if params.get('password'):
        params['password'] = SECRET
    try:
        warnings = v.validate(params, today=datetime.date(2026, 1, 1))
    except v.VMAccessError as exc:
        assert SECRET not in str(exc)
        return
    assert isinstance(warnings, list)
    settings_, protected = v.build_settings(params)
    assert all(val is True for key, val in list(settings_.items()) + list(protected.items()) if key in v.BOOLEAN_KEYS)
    for user_option in ('username', 'remove_user'):
        assert (params.get(user_option) or '').lower() not in v.SYSTEM_USERS


@QUICK
@given(
    username=st.one_of(st.none(), st.text(max_size=25)),
    password=st.one_of(st.none(), st.text(max_size=30)),
    reset_rdp=st.booleans(),
)
def test_windows_validation_answers_or_refuses(username, password, reset_rdp):
    assume(not password or password not in (username or ''))
    try:
        vw.validate(dict(username=username, password=password, reset_rdp=reset_rdp))
    except ext_errors.ExtensionError as exc:
        if password and len(password) >= 4 and password in str(exc):
            # only where the message's own words hold it (a password ' or '): the same refusal for another
            # password holds it too, so it is the text, not the value
            try:
                vw.validate(
                    dict(username=username, password='Zq9#sentinel-' + 'x' * len(password), reset_rdp=reset_rdp)
                )
            except ext_errors.ExtensionError as other:
                assert password in str(other), str(exc)
            else:
                raise AssertionError('the refusal shows the password: %s' % exc)
        return
    if not reset_rdp:
        assert len(username) <= vw.USERNAME_MAX and username.lower() not in vw.RESERVED_USERNAMES


@QUICK
@given(
    value=st.one_of(
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
    ),
    option=st.sampled_from(['password', 'username', 'ssh_key', 'remove_user', 'expiration', 'disk_name']),
)
def test_non_strings_for_string_options_are_refused_naming_the_option(value, option):
    errors = raw_arg_errors(v.ARGUMENT_SPEC, {option: value})
    assert len(errors) == 1 and errors[0].startswith('%s must be a string' % option)
    assert raw_arg_errors(v.ARGUMENT_SPEC, {option: 'text'}) == []


def test_instance_id_may_be_a_number_but_not_a_boolean():
    from ansible_collections.vmrescue.azure.plugins.module_utils._target import TARGET_OPTIONS

    assert raw_arg_errors(TARGET_OPTIONS, {'instance_id': 3}) == []
    assert raw_arg_errors(TARGET_OPTIONS, {'instance_id': True}) == ['instance_id must be a string, got a boolean']
