# SPDX-License-Identifier: GPL-3.0-or-later
"""Well-formed OpenSSH public key blobs for every key type, built field by field (shared by the unit tests).

``fields(key_type)`` -> the list of wire fields (bytes) after the type; ``blob(key_type, fields=None)``;
``line(key_type, comment='user@host')``; ``ssh2_block(key_type)``. The values are structurally valid (sizes,
curve names, uncompressed points), not points on the curve: the parser checks structure, as sshd does before use.
"""

import base64
import struct

RSA_EXPONENT = b'\x01\x00\x01'


def _mpint_bytes(nbits):
    # a positive integer of exactly nbits bits, with the leading zero byte an mpint needs when the top bit is set
    nbytes = (nbits + 7) // 8
    top = 1 << ((nbits - 1) % 8)
    body = bytes([top]) + b'\x5a' * (nbytes - 1)
    return (b'\x00' + body) if body[0] & 0x80 else body


def fields(key_type, rsa_bits=2048):
    point = {'nistp256': 65, 'nistp384': 97, 'nistp521': 133}
    if key_type == 'ssh-rsa':
        return [RSA_EXPONENT, _mpint_bytes(rsa_bits)]
    if key_type == 'ssh-dss':
        return [_mpint_bytes(1024), _mpint_bytes(160), _mpint_bytes(1023), _mpint_bytes(1022)]
    if key_type.startswith('ecdsa-sha2-'):
        curve = key_type[len('ecdsa-sha2-') :]
        return [curve.encode(), b'\x04' + b'\x11' * (point[curve] - 1)]
    if key_type == 'sk-ecdsa-sha2-nistp256@openssh.com':
        return [b'nistp256', b'\x04' + b'\x11' * 64, b'ssh:']
    if key_type == 'ssh-ed25519':
        return [b'\x07' * 32]
    if key_type == 'sk-ssh-ed25519@openssh.com':
        return [b'\x07' * 32, b'ssh:']
    raise ValueError(key_type)


def pack(*parts):
    return b''.join(struct.pack('>I', len(p)) + p for p in parts)


def blob(key_type, body_fields=None, inner_type=None):
    return pack((inner_type or key_type).encode(), *(fields(key_type) if body_fields is None else body_fields))


def line(key_type, comment='user@host', **kw):
    return '%s %s%s' % (key_type, base64.b64encode(blob(key_type, **kw)).decode(), ' ' + comment if comment else '')


def ssh2_block(key_type):
    b64 = base64.b64encode(blob(key_type)).decode()
    body = '\n'.join(b64[i : i + 70] for i in range(0, len(b64), 70))
    return '---- BEGIN SSH2 PUBLIC KEY ----\nComment: "x"\n%s\n---- END SSH2 PUBLIC KEY ----' % body
