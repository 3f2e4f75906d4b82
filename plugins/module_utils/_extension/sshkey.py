# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""OpenSSH public key parsing: one strict reader of the key blob for every key type (private; pure, no I/O).

This is a private module_utils file of vmrescue.azure (the package's leading underscore says so): its interface may
change at any time and it is not meant to be used from outside this collection.

A public key line is ``TYPE BASE64 [comment]``; the base64 part is the wire-format blob (RFC 4253 section 6.6,
RFC 5656 section 3.1, RFC 8709, OpenSSH PROTOCOL.u2f and PROTOCOL.certkeys): a sequence of length-prefixed fields
(``uint32`` length, then that many bytes), the first being the key type again. The reader decodes the base64
strictly, walks every field the type defines, and refuses an inner type that differs from the outer one, a length
running past the end (a key cut short: "looks truncated"), bytes after the last field, and sizes that are not the
type's (ed25519 32 bytes, ECDSA an uncompressed point of the curve's length, RSA modulus 1024 to 16384 bits: OpenSSH
refuses RSA keys below 1024 bits since 9.1 (``RequiredRSASize``) and above 16384 bits). OpenSSH certificates
(``*-cert-v01@openssh.com``) are recognised and refused: the VMAccess handler and ``authorized_keys`` want the plain
key (a certificate is trusted through ``TrustedUserCAKeys`` instead).

Messages never contain the key material (only the type and sizes).

Public names: ``SshKeyError``; ``KEY_TYPES``; ``CERT_SUFFIX``; ``RSA_MIN_BITS``, ``RSA_MAX_BITS``;
``parse_blob(blob, outer_type=None) -> SshPublicKey``; ``parse_line(line) -> SshPublicKey``;
``parse_ssh2_block(text) -> SshPublicKey``; ``looks_private(text) -> bool``; ``SshPublicKey`` (``type``, ``bits``,
``comment``, ``blob``).
"""

import base64
import binascii
import re
import struct

RSA_MIN_BITS = 1024
RSA_MAX_BITS = 16384
CERT_SUFFIX = '-cert-v01@openssh.com'

# ECDSA curve -> length of the uncompressed point (0x04 || X || Y) and the key size in bits.
_CURVES = {'nistp256': (65, 256), 'nistp384': (97, 384), 'nistp521': (133, 521)}

KEY_TYPES = (
    'ssh-rsa',
    'ssh-dss',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'ssh-ed25519',
    'sk-ecdsa-sha2-nistp256@openssh.com',
    'sk-ssh-ed25519@openssh.com',
)

_PRIVATE_MARKERS = (
    re.compile(r'-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----'),
    re.compile(r'PuTTY-User-Key-File-\d+\s*:'),
    re.compile(r'---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----'),
)


class SshKeyError(ValueError):
    """A public key that cannot be used; the message names what is wrong, never the key material."""


class SshPublicKey:
    def __init__(self, key_type, bits, blob, comment=None):
        self.type = key_type
        self.bits = bits
        self.blob = blob
        self.comment = comment

    def __repr__(self):
        return 'SshPublicKey(%s, %d bits)' % (self.type, self.bits)


def looks_private(text):
    """True when ``text`` holds (or starts like) a private key: PEM/OpenSSH ``PRIVATE KEY`` blocks, PuTTY .ppk."""
    if not isinstance(text, str):
        return False
    if 'PRIVATE KEY' in text and '-----BEGIN' in text:
        return True
    return any(p.search(text) for p in _PRIVATE_MARKERS)


class _Reader:
    def __init__(self, blob, key_type):
        self.blob = blob
        self.pos = 0
        self.type = key_type

    def string(self, what):
        if len(self.blob) - self.pos < 4:
            raise SshKeyError(
                'the %s key looks truncated: it ends before its %s (was the base64 cut short when it '
                'was copied?)' % (self.type, what)
            )
        (n,) = struct.unpack('>I', self.blob[self.pos : self.pos + 4])
        start = self.pos + 4
        if n > len(self.blob) - start:
            raise SshKeyError(
                'the %s key looks truncated: its %s claims %d bytes but only %d remain (was the base64 '
                'cut short when it was copied?)' % (self.type, what, n, len(self.blob) - start)
            )
        self.pos = start + n
        return self.blob[start : self.pos]

    def mpint(self, what):
        data = self.string(what)
        if data and data[0] & 0x80:
            raise SshKeyError('the %s key is malformed: its %s is negative' % (self.type, what))
        return int(binascii.hexlify(data), 16) if data else 0

    def end(self):
        if self.pos != len(self.blob):
            raise SshKeyError(
                'the %s key is malformed: %d unexpected bytes after its last field (two keys run '
                'together, or a corrupted copy?)' % (self.type, len(self.blob) - self.pos)
            )


def _b64decode(text, key_type):
    if not text or len(text) % 4:
        raise SshKeyError(
            'the %s key looks truncated or damaged: its base64 part has %d characters, not a multiple '
            'of 4' % (key_type, len(text or ''))
        )
    try:
        return base64.b64decode(text.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SshKeyError('the %s key is malformed: its second field is not valid base64' % key_type)


def _ecdsa(r, key_type, curve_expected, sk):
    curve = r.string('curve name')
    if curve != curve_expected.encode('ascii'):
        raise SshKeyError(
            "the %s key is malformed: its curve is '%s', not %s"
            % (key_type, curve.decode('ascii', 'replace')[:20], curve_expected)
        )
    point = r.string('public point')
    length, bits = _CURVES[curve_expected]
    if len(point) != length or point[:1] != b'\x04':
        raise SshKeyError(
            'the %s key is malformed: its public point is %d bytes, an uncompressed %s point is %d'
            % (key_type, len(point), curve_expected, length)
        )
    if sk:
        r.string('application')
    return bits


def _ed25519(r, key_type, sk):
    pk = r.string('public key')
    if len(pk) != 32:
        raise SshKeyError('the %s key is malformed: its public key is %d bytes, not 32' % (key_type, len(pk)))
    if sk:
        r.string('application')
    return 256


def parse_blob(blob, outer_type=None):
    """Parse a wire-format public key blob; ``outer_type``: the type the line claims (checked against the inner)."""
    label = outer_type or 'SSH'
    r = _Reader(blob, label)
    inner = r.string('key type')
    try:
        inner = inner.decode('ascii')
    except UnicodeDecodeError:
        raise SshKeyError('the %s key is malformed: its inner key type is not text' % label)
    if outer_type is not None and inner != outer_type:
        raise SshKeyError(
            "the %s key is malformed: its base64 part holds a '%s' key, not %s (mismatched type and "
            'key)' % (outer_type, inner[:40], outer_type)
        )
    r.type = key_type = inner
    if key_type.endswith(CERT_SUFFIX):
        raise SshKeyError(
            '%s is an OpenSSH certificate, not a public key: give the plain public key (the .pub file '
            'without -cert)' % key_type[:60]
        )
    if key_type == 'ssh-rsa':
        e = r.mpint('public exponent')
        n = r.mpint('modulus')
        bits = n.bit_length()
        if e < 3 or not e & 1:
            raise SshKeyError('the ssh-rsa key is malformed: its public exponent is not an odd number of 3 or more')
        if bits < RSA_MIN_BITS:
            raise SshKeyError(
                'the ssh-rsa key has a %d-bit modulus: sshd refuses RSA keys below %d bits (OpenSSH '
                'RequiredRSASize) and Azure asks for 2048 or more; generate a new key (ssh-keygen -t '
                'ed25519, or -t rsa -b 3072)' % (bits, RSA_MIN_BITS)
            )
        if bits > RSA_MAX_BITS:
            raise SshKeyError(
                'the ssh-rsa key has a %d-bit modulus: OpenSSH accepts at most %d bits' % (bits, RSA_MAX_BITS)
            )
    elif key_type == 'ssh-dss':
        p = r.mpint('p')
        for what in ('q', 'g', 'y'):
            r.mpint(what)
        bits = p.bit_length()
    elif key_type.startswith('ecdsa-sha2-') and key_type[len('ecdsa-sha2-') :] in _CURVES:
        bits = _ecdsa(r, key_type, key_type[len('ecdsa-sha2-') :], False)
    elif key_type == 'sk-ecdsa-sha2-nistp256@openssh.com':
        bits = _ecdsa(r, key_type, 'nistp256', True)
    elif key_type == 'ssh-ed25519':
        bits = _ed25519(r, key_type, False)
    elif key_type == 'sk-ssh-ed25519@openssh.com':
        bits = _ed25519(r, key_type, True)
    else:
        raise SshKeyError("unknown key type '%s' (known: %s)" % (key_type[:60], ', '.join(KEY_TYPES)))
    r.end()
    return SshPublicKey(key_type, bits, blob)


def parse_line(line):
    """Parse one ``TYPE BASE64 [comment]`` line (no options prefix, one line)."""
    if looks_private(line):
        raise SshKeyError('this is a PRIVATE key; give the public key (the .pub file)')
    s = (line or '').strip()
    if not s:
        raise SshKeyError('the public key is empty')
    if '\n' in s or '\r' in s:
        raise SshKeyError('give exactly one public key (one line)')
    fields = s.split(None, 2)
    key_type = fields[0]
    if key_type not in KEY_TYPES and not key_type.endswith(CERT_SUFFIX):
        raise SshKeyError("unknown key type '%s' (known: %s)" % (key_type[:40], ', '.join(KEY_TYPES)))
    if len(fields) < 2:
        raise SshKeyError('the %s key has no base64 part (it looks truncated)' % key_type[:60])
    key = parse_blob(_b64decode(fields[1], key_type[:60]), outer_type=key_type)
    key.comment = fields[2] if len(fields) > 2 else None
    return key


_SSH2_BEGIN = '---- BEGIN SSH2 PUBLIC KEY ----'
_SSH2_END = '---- END SSH2 PUBLIC KEY ----'
_SSH2_HEADER = re.compile(r'^[^:\s]{1,64}:')


def parse_ssh2_block(text):
    """Parse an RFC 4716 block (``---- BEGIN SSH2 PUBLIC KEY ----``: headers, then the base64 blob)."""
    lines = [ln.strip() for ln in (text or '').strip().splitlines()]
    if not lines or lines[0] != _SSH2_BEGIN:
        raise SshKeyError("the SSH2 public key block does not start with '%s'" % _SSH2_BEGIN)
    if lines[-1] != _SSH2_END:
        raise SshKeyError("the SSH2 public key block does not end with '%s' (it looks truncated)" % _SSH2_END)
    body, continued = [], False
    for ln in lines[1:-1]:
        if continued or (not body and _SSH2_HEADER.match(ln)):
            continued = ln.endswith('\\')
            continue
        body.append(ln)
    return parse_blob(_b64decode(''.join(body), 'SSH2 block'))
