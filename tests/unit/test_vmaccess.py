# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_extension/linux.py: validation, payload, fingerprint, Azure CLI parity. No network."""

import base64
import datetime
import json

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _errors, _fingerprint as fp
from ansible_collections.vmrescue.azure.plugins.module_utils._extension import (
    linux as v,
    linux_key,
    profile,
    status,
)

try:
    import sshkey_samples as samples
except ImportError:  # pragma: no cover
    from . import sshkey_samples as samples


def _openssh(key_type):
    return samples.line(key_type)


RSA = _openssh('ssh-rsa')
ED = _openssh('ssh-ed25519')
ECDSA = _openssh('ecdsa-sha2-nistp256')
SK = _openssh('sk-ssh-ed25519@openssh.com')
SSH2 = samples.ssh2_block('ssh-rsa')
PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'
PASSWORD = 'S3cret-Passw0rd!x'


def params(**kw):
    p = dict((k, None) for k in v.ARGUMENT_SPEC)
    for k, spec in v.ARGUMENT_SPEC.items():
        if 'default' in spec:
            p[k] = spec['default']
    p.update(kw)
    return p


# ---------------------------------------------------------------------------------------------------------------
# Validation: every invalid combination, with the option names in the message

INVALID = [
    (dict(), 'nothing to do'),
    (dict(password=PASSWORD), 'password needs username'),
    (dict(ssh_key=ED, reset_ssh=True), 'ssh_key needs username'),
    (dict(username='bob'), 'username needs password or ssh_key'),
    (dict(check_disk=True, repair_disk=True, disk_name='sdc'), 'check_disk and repair_disk are mutually exclusive'),
    (dict(check_disk=True, disk_name='sdc'), 'disk_name is used only with repair_disk'),
    (dict(repair_disk=True), 'repair_disk=true needs disk_name'),
    (dict(remove_user='bob', reset_ssh=True), 'remove_user cannot be combined with reset_ssh'),
    (dict(remove_user='bob', restore_backup_ssh=True), 'remove_user cannot be combined with restore_backup_ssh'),
    (dict(remove_user='bob', username='al', password=PASSWORD), 'remove_user cannot be combined with password'),
    (dict(username='bob', password=PASSWORD, remove_prior_keys=True), 'remove_prior_keys needs ssh_key'),
    (dict(remove_prior_keys=True, reset_ssh=True), 'remove_prior_keys needs ssh_key'),
    (dict(reset_ssh=True, restore_backup_ssh=True), 'reset_ssh and restore_backup_ssh are mutually exclusive'),
    (
        dict(username='bob', password=PASSWORD, expiration='2030/01/01'),
        'expiration must be a date in the form YYYY-MM-DD',
    ),
    (
        dict(username='bob', password=PASSWORD, expiration='2030-02-30'),
        "expiration: '2030-02-30' is not a valid calendar date",
    ),
    (dict(expiration='2030-01-01', reset_ssh=True), 'expiration needs username'),
    (dict(enable_passwordless_access=True, reset_ssh=True), 'enable_passwordless_access needs username'),
    (dict(username='bob', password=''), 'password must not be empty'),
    (dict(username='', password=PASSWORD), 'username must not be empty'),
    (dict(username='bad user', password=PASSWORD), "username: 'bad user' is not a valid Linux user name"),
    (dict(remove_user='-rf'), "remove_user: '-rf' is not a valid Linux user name"),
    (
        dict(state='absent', username='bob', password=PASSWORD),
        'state=absent removes the VMAccessForLinux extension and cannot be combined with username, password',
    ),
    (dict(state='absent', reset_ssh=True), 'cannot be combined with reset_ssh'),
    (dict(reset_ssh=True, type_handler_version='1'), 'type_handler_version must be MAJOR.MINOR'),
]


@pytest.mark.parametrize('kw,message', INVALID, ids=[m for _, m in INVALID])
def test_invalid_combinations(kw, message):
    with pytest.raises(v.VMAccessError) as e:
        v.validate(params(**kw))
    assert message in str(e.value)
    assert PASSWORD not in str(e.value)


def test_false_booleans_do_not_conflict():
    # reset_ssh: false is "not set": it is not sent, so remove_user may go with it.
    assert v.validate(params(remove_user='bob', reset_ssh=False, restore_backup_ssh=False)) == []
    assert v.validate(params(check_disk=True, repair_disk=False)) == []


BAD_KEYS = [
    (ECDSA, 'ECDSA keys (ecdsa-sha2-nistp256) are not supported: the VMAccessForLinux handler accepts only ssh-rsa'),
    (SK, 'FIDO security key (sk-*) keys (sk-ssh-ed25519@openssh.com) are not supported'),
    (_openssh('ssh-dss'), 'DSA keys (ssh-dss) are not supported'),
    ('ssh-rsa AAAA!!!notbase64 x', 'the ssh-rsa key is malformed'),
    (_openssh('ssh-ed25519').replace('ssh-ed25519 ', 'ssh-rsa ', 1), 'the ssh-rsa key is malformed'),
    (RSA + '\n' + ED, 'give exactly one public key'),
    ('-----BEGIN PUBLIC KEY-----\nMII\n-----END PUBLIC KEY-----', 'only a PEM certificate'),
    ('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----', 'PRIVATE key'),
    ('---- BEGIN SSH2 PUBLIC KEY ----\nAAAA', "does not end with '---- END SSH2 PUBLIC KEY ----'"),
    ('-----BEGIN CERTIFICATE-----\nMIIB', "does not end with '-----END CERTIFICATE-----'"),
]


@pytest.mark.parametrize('key,message', BAD_KEYS, ids=[m[:40] for _, m in BAD_KEYS])
def test_rejected_key_formats(key, message):
    with pytest.raises(v.VMAccessError) as e:
        linux_key.classify_ssh_key(key)
    assert message in str(e.value)


@pytest.mark.parametrize('key,kind', [(RSA, 'ssh-rsa'), (ED, 'ssh-ed25519'), (SSH2, 'ssh2'), (PEM, 'pem')])
def test_accepted_key_formats(key, kind):
    assert linux_key.classify_ssh_key(key) == kind


def test_ssh_key_from_file(tmp_path):
    pub = tmp_path / 'id_ed25519.pub'
    pub.write_text(ED + '\n')
    assert linux_key.resolve_ssh_key(str(pub)) == ED
    assert linux_key.resolve_ssh_key('id_ed25519.pub', base_dir=str(tmp_path)) == ED
    assert linux_key.resolve_ssh_key(ED + '\n') == ED  # key text is never taken for a path


def test_ssh_key_file_errors(tmp_path):
    priv = tmp_path / 'id_ed25519'
    priv.write_text('-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n')
    with pytest.raises(v.VMAccessError) as e:
        linux_key.resolve_ssh_key(str(priv))
    assert 'holds a PRIVATE key' in str(e.value) and 'xx' not in str(e.value)
    with pytest.raises(v.VMAccessError) as e:
        linux_key.resolve_ssh_key(str(tmp_path / 'missing.pub'))
    assert 'is neither a public key' in str(e.value) and 'nor an existing file on the controller' in str(e.value)
    # a relative path that starts like a key type is still a path
    d = tmp_path / 'ssh-keys'
    d.mkdir()
    (d / 'a.pub').write_text(RSA)
    assert linux_key.resolve_ssh_key('ssh-keys/a.pub', base_dir=str(tmp_path)) == RSA


def test_expiration_warnings():
    today = datetime.date(2026, 1, 1)
    w = v.validate(params(username='bob', ssh_key=ED, expiration='2025-12-31'), today=today)
    assert any('not in the future' in x for x in w)
    w = v.validate(params(username='bob', ssh_key=ED, expiration='2027-01-01'), today=today)
    assert not any('not in the future' in x for x in w)
    assert any('only when the handler creates the account' in x for x in w)


# ---------------------------------------------------------------------------------------------------------------
# Payload


def test_payload_json_booleans_and_omitted_keys():
    p = params(username='bob', ssh_key=ED, remove_prior_keys=True, reset_ssh=False, enable_passwordless_access=True)
    v.validate(p)
    settings, protected = v.build_settings(p)
    assert settings == {}
    assert protected == {
        'username': 'bob',
        'ssh_key': ED,
        'remove_prior_keys': True,
        'enable_passwordless_access': True,
    }
    assert protected['remove_prior_keys'] is True
    raw = json.dumps(protected)
    assert '"false"' not in raw and 'false' not in raw and '"true"' not in raw


def test_payload_disk_keys_are_public_only():
    settings, protected = v.build_settings(params(repair_disk=True, disk_name='sdc'))
    assert settings == {'repair_disk': True, 'disk_name': 'sdc'}
    assert protected == {}
    settings, protected = v.build_settings(params(check_disk=True))
    assert settings == {'check_disk': True} and protected == {}


def test_payload_all_protected_keys():
    p = params(
        username='bob',
        password=PASSWORD,
        ssh_key=RSA,
        reset_ssh=True,
        expiration='2030-01-01',
        remove_prior_keys=True,
        enable_passwordless_access=True,
    )
    v.validate(p)
    settings, protected = v.build_settings(p)
    assert settings == {}
    assert set(protected) == {
        'username',
        'password',
        'ssh_key',
        'reset_ssh',
        'expiration',
        'remove_prior_keys',
        'enable_passwordless_access',
    }
    assert set(protected) <= set(v.PROTECTED_KEYS)


def test_body_shape():
    plan = v.Plan(params(username='bob', password=PASSWORD))
    body = plan.body('westeurope', 'tag')
    assert body == {
        'location': 'westeurope',
        'properties': {
            'publisher': 'Microsoft.OSTCExtensions',
            'type': 'VMAccessForLinux',
            'typeHandlerVersion': '1.5',
            'autoUpgradeMinorVersion': True,
            'settings': {},
            'protectedSettings': {'username': 'bob', 'password': PASSWORD},
            'forceUpdateTag': 'tag',
        },
    }


def test_shown_masks_password():
    plan = v.Plan(params(username='bob', password=PASSWORD, ssh_key=ED))
    shown = plan.shown('enablevmaccess')
    assert shown['protectedSettings']['password'] == profile.MASK
    assert shown['protectedSettings']['ssh_key'] == ED
    assert PASSWORD not in json.dumps(shown)


def test_scrub():
    assert _errors.scrub('failed for %s here' % PASSWORD, [PASSWORD]) == 'failed for ******** here'


# ---------------------------------------------------------------------------------------------------------------
# Fingerprint


def test_fingerprint_format_and_length():
    tag = fp.fingerprint(b'{}')
    scheme, salt, digest = tag.split('$')
    assert scheme == 'vmrescue1'
    assert len(base64.urlsafe_b64decode(salt + '==')) == 16
    assert len(base64.urlsafe_b64decode(digest + '=')) == 32
    assert len(tag) == fp.FINGERPRINT_LENGTH == 76
    assert len(tag) <= fp.MAX_TAG_LENGTH


def test_fingerprint_same_config_matches_with_fresh_salt():
    a = v.Plan(params(username='bob', password=PASSWORD, ssh_key=ED))
    b = v.Plan(params(username='bob', password=PASSWORD, ssh_key=ED))
    t1, t2 = fp.fingerprint(a.canonical), fp.fingerprint(a.canonical)
    assert t1 != t2  # fresh salt each time
    ext = {'properties': {'forceUpdateTag': t1}}
    assert b.matches(ext)
    assert fp.fingerprint_matches(t2, b.canonical)


def test_fingerprint_cache_one_scrypt_per_salt_and_request(monkeypatch):
    """A batch sends one request to every target: one salt per task, one scrypt per (salt, request)."""
    calls = []
    real = fp._scrypt  # the fingerprint engine is _fingerprint.py (shared with vmaccess_windows and run_command)
    monkeypatch.setattr(fp, '_scrypt', lambda data, salt: calls.append(salt) or real(data, salt))
    a = v.Plan(params(username='bob', password=PASSWORD, ssh_key=ED))
    other = v.Plan(params(username='bob', password=PASSWORD + 'x', ssh_key=ED))
    cache = fp.FingerprintCache()
    tags = [fp.fingerprint(a.canonical, cache=cache) for _ in range(5)]
    assert len(set(tags)) == 1 and len(calls) == 1
    assert all(a.matches({'properties': {'forceUpdateTag': t}}, cache) for t in tags) and len(calls) == 1
    assert not other.matches({'properties': {'forceUpdateTag': tags[0]}}, cache) and len(calls) == 2
    # a re-run (new task, new cache) verifies the tags of the earlier task with one scrypt for all of them
    rerun = fp.FingerprintCache()
    assert rerun.salt != cache.salt
    assert all(a.matches({'properties': {'forceUpdateTag': t}}, rerun) for t in tags) and len(calls) == 3
    # tags written by single-target tasks (a salt each) still verify, one scrypt per salt
    singles = [fp.fingerprint(a.canonical) for _ in range(2)]
    assert all(a.matches({'properties': {'forceUpdateTag': t}}, rerun) for t in singles)


@pytest.mark.parametrize(
    'change',
    [
        dict(password=PASSWORD + 'x'),  # password only
        dict(ssh_key=RSA),  # key only
        dict(username='alice'),
        dict(remove_prior_keys=True),
        dict(type_handler_version='1.4'),
        dict(auto_upgrade_minor_version=False),
    ],
)
def test_fingerprint_detects_each_change(change):
    base = dict(username='bob', password=PASSWORD, ssh_key=ED)
    tag = fp.fingerprint(v.Plan(params(**base)).canonical)
    changed = dict(base, **change)
    assert not v.Plan(params(**changed)).matches({'properties': {'forceUpdateTag': tag}})


def test_fingerprint_without_password():
    base = dict(username='bob', password=PASSWORD, ssh_key=ED, fingerprint_password=False)
    plan = v.Plan(params(**base))
    assert PASSWORD.encode() not in plan.canonical
    tag = fp.fingerprint(plan.canonical)
    # a password-only change is not detected (documented: use force)
    assert v.Plan(params(**dict(base, password='another-one-123'))).matches({'properties': {'forceUpdateTag': tag}})
    # ... but a key change still is
    assert not v.Plan(params(**dict(base, ssh_key=RSA))).matches({'properties': {'forceUpdateTag': tag}})
    # switching fingerprint_password changes the fingerprint itself (no silent skip)
    assert not v.Plan(params(**dict(base, fingerprint_password=True))).matches({'properties': {'forceUpdateTag': tag}})


def test_fingerprint_canonical_contains_password_only_when_asked():
    plan = v.Plan(params(username='bob', password=PASSWORD))
    assert PASSWORD.encode() in plan.canonical  # it is hashed, never sent or returned as such
    assert PASSWORD not in fp.fingerprint(plan.canonical)


@pytest.mark.parametrize('tag', [None, '', '1', 'vmrescue1$x$y', 'other$AAAAAAAAAAAAAAAAAAAAAA$' + 'A' * 43, 123])
def test_foreign_tags_never_match(tag):
    assert not fp.fingerprint_matches(tag, b'{}')


def test_scrypt_parameters_documented():
    assert (fp.SCRYPT_N, fp.SCRYPT_R, fp.SCRYPT_P, fp.SALT_BYTES, fp.SCRYPT_DKLEN) == (2**14, 8, 1, 16, 32)


# ---------------------------------------------------------------------------------------------------------------
# Reading ARM answers


def test_last_run_succeeded():
    ok = {
        'properties': {
            'provisioningState': 'Succeeded',
            'instanceView': {
                'statuses': [{'code': 'ProvisioningState/succeeded', 'level': 'Info', 'message': 'Enable succeeded.'}]
            },
        }
    }
    bad = {'properties': {'provisioningState': 'Failed'}}
    bad2 = {
        'properties': {
            'provisioningState': 'Succeeded',
            'instanceView': {
                'statuses': [{'code': 'ProvisioningState/failed/1', 'level': 'Error', 'message': 'Enable failed: x'}]
            },
        }
    }
    assert status.last_run_succeeded(ok)
    assert not status.last_run_succeeded(bad)
    assert not status.last_run_succeeded(bad2)
    assert status.handler_status(ok)['message'] == 'Enable succeeded.'


def test_os_and_power():
    vm = {
        'properties': {
            'storageProfile': {'osDisk': {'osType': 'Windows'}},
            'instanceView': {'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/deallocated'}]},
        }
    }
    from ansible_collections.vmrescue.azure.plugins.module_utils import _vm

    assert _vm.os_type(vm) == 'Windows'
    assert _vm.vm_power_state(vm) == 'deallocated'
    assert _vm.os_type({'properties': {'osProfile': {'linuxConfiguration': {'x': 1}}}}) == 'Linux'
    assert _vm.vm_power_state({'properties': {}}) is None


def test_extension_recognition():
    ext = {'name': 'myaccess', 'properties': {'publisher': 'microsoft.ostcextensions', 'type': 'vmaccessforlinux'}}
    assert v.is_vmaccess_linux(ext)
    assert not v.is_aad_login(ext)
    assert v.is_aad_login(
        {'properties': {'publisher': 'Microsoft.Azure.ActiveDirectory', 'type': 'AADSSHLoginForLinux'}}
    )
    assert status.extension_name({'id': '/subscriptions/s/x/extensions/abc'}) == 'abc'
