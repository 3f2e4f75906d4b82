# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/module_utils/_extension/sshkey.py: the strict OpenSSH public key reader, every key type. No network."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.vmrescue.azure.plugins.module_utils._extension import linux as v, linux_key, sshkey as k

try:
    import sshkey_samples as samples
except ImportError:  # pragma: no cover
    from . import sshkey_samples as samples


def _real(private):
    return (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )


REAL = [
    _real(ed25519.Ed25519PrivateKey.generate()),
    _real(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    _real(ec.generate_private_key(ec.SECP256R1())),
    _real(ec.generate_private_key(ec.SECP384R1())),
    _real(ec.generate_private_key(ec.SECP521R1())),
]
BITS = {
    'ssh-rsa': 2048,
    'ssh-dss': 1024,
    'ecdsa-sha2-nistp256': 256,
    'ecdsa-sha2-nistp384': 384,
    'ecdsa-sha2-nistp521': 521,
    'ssh-ed25519': 256,
    'sk-ecdsa-sha2-nistp256@openssh.com': 256,
    'sk-ssh-ed25519@openssh.com': 256,
}


@pytest.mark.parametrize('line', REAL, ids=lambda s: s.split()[0])
def test_keys_made_by_cryptography_parse(line):
    key = k.parse_line(line + ' me@host')
    assert key.type == line.split()[0] and key.comment == 'me@host'


@pytest.mark.parametrize('key_type', k.KEY_TYPES)
def test_every_key_type_parses(key_type):
    key = k.parse_line(samples.line(key_type))
    assert (key.type, key.bits) == (key_type, BITS[key_type])
    assert k.parse_ssh2_block(samples.ssh2_block(key_type)).type == key_type


@pytest.mark.parametrize('key_type', k.KEY_TYPES)
def test_cut_at_every_base64_boundary_is_truncated(key_type):
    kt, b64, _c = samples.line(key_type).split(' ')
    for cut in range(4, len(b64), 4):
        with pytest.raises(k.SshKeyError) as e:
            k.parse_line('%s %s' % (kt, b64[:cut]))
        assert 'truncated' in str(e.value) and b64[:cut] not in str(e.value)


@pytest.mark.parametrize('key_type', k.KEY_TYPES)
def test_trailing_bytes_and_inner_type_mismatch(key_type):
    extra = samples.blob(key_type) + b'\x00\x00\x00\x01x'
    with pytest.raises(k.SshKeyError, match='unexpected bytes after its last field'):
        k.parse_blob(extra, key_type)
    other = 'ssh-ed25519' if key_type != 'ssh-ed25519' else 'ssh-rsa'
    with pytest.raises(k.SshKeyError, match="holds a '%s' key, not %s" % (other, key_type)):
        k.parse_blob(samples.blob(other), key_type)


@pytest.mark.parametrize(
    'fields,message',
    [
        ([samples.RSA_EXPONENT, samples._mpint_bytes(1023)], '1023-bit modulus'),
        ([samples.RSA_EXPONENT, samples._mpint_bytes(16392)], 'at most 16384 bits'),
        ([b'\x02', samples._mpint_bytes(2048)], 'public exponent'),
        ([samples.RSA_EXPONENT, b'\x80' + b'\x01' * 255], 'negative'),
    ],
)
def test_rsa_sizes_and_values(fields, message):
    with pytest.raises(k.SshKeyError, match=message):
        k.parse_blob(samples.blob('ssh-rsa', fields), 'ssh-rsa')
    assert k.parse_blob(samples.blob('ssh-rsa', [samples.RSA_EXPONENT, samples._mpint_bytes(1024)])).bits == 1024


@pytest.mark.parametrize(
    'key_type,fields,message',
    [
        ('ssh-ed25519', [b'\x01' * 31], '31 bytes, not 32'),
        ('ssh-ed25519', [b'\x01' * 33], '33 bytes, not 32'),
        ('ecdsa-sha2-nistp256', [b'nistp384', b'\x04' + b'\x01' * 64], "curve is 'nistp384'"),
        ('ecdsa-sha2-nistp384', [b'nistp384', b'\x04' + b'\x01' * 64], 'an uncompressed nistp384 point is 97'),
        ('ecdsa-sha2-nistp521', [b'nistp521', b'\x02' + b'\x01' * 132], 'point'),
        ('sk-ssh-ed25519@openssh.com', [b'\x01' * 32], 'truncated'),
    ],
)
def test_point_and_key_lengths(key_type, fields, message):
    with pytest.raises(k.SshKeyError, match=message):
        k.parse_blob(samples.blob(key_type, fields), key_type)


def test_certificates_refused_clearly():
    cert_type = 'ssh-ed25519-cert-v01@openssh.com'
    line = '%s %s' % (cert_type, base64.b64encode(samples.pack(cert_type.encode(), b'n' * 32)).decode())
    with pytest.raises(k.SshKeyError, match='OpenSSH certificate, not a public key'):
        k.parse_line(line)


@pytest.mark.parametrize(
    'text',
    [
        'ssh-rsa AAAA!!!notbase64',
        'ssh-rsa AAAAB3NzaC1yc2E',  # 15 characters
        'ssh-foo ' + base64.b64encode(samples.pack(b'ssh-foo')).decode(),
        'ssh-ed25519',
        '',
    ],
)
def test_malformed_lines(text):
    with pytest.raises(k.SshKeyError):
        k.parse_line(text)


@pytest.mark.parametrize(
    'text',
    [
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----',
        '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----',
        '-----BEGIN PRIVATE KEY-----\nMIIE',
        '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE',
        'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 2\n',
        '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nP2/56w==',
    ],
)
def test_private_keys_detected_and_never_echoed(text):
    assert k.looks_private(text)
    for call in (lambda: linux_key.classify_ssh_key(text), lambda: linux_key.resolve_ssh_key(text)):
        with pytest.raises(v.VMAccessError) as e:
            call()
        assert 'PRIVATE key' in str(e.value) and text.splitlines()[1 if '\n' in text else 0][:8] not in str(e.value)


def test_vmaccess_refuses_truncated_with_option_name():
    kt, b64, _c = samples.line('ssh-ed25519').split(' ')
    with pytest.raises(v.VMAccessError) as e:
        linux_key.classify_ssh_key('%s %s' % (kt, b64[:-4]))
    assert str(e.value).startswith('ssh_key:') and 'truncated' in str(e.value)
