# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``ssh_key`` option of the VMAccessForLinux profile (private; reads controller files, no network).

The value is the key text or the path of a file on the controller (``resolve_ssh_key``); the key must be one the
VMAccessForLinux handler can install (``classify_ssh_key``, on the strict reader ``sshkey.py``). A private key given
by mistake is refused without echoing it (``PRIVATE_KEY_MESSAGE``).

Public names: ``PRIVATE_KEY_MESSAGE``, ``looks_like_key_text(value)``, ``resolve_ssh_key(value, base_dir=None)``,
``classify_ssh_key(text)``.
"""

import os
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._extension import sshkey
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError

_SSH2_BEGIN = '---- BEGIN SSH2 PUBLIC KEY ----'
_SSH2_END = '---- END SSH2 PUBLIC KEY ----'
_PEM_BEGIN = '-----BEGIN CERTIFICATE-----'
_PEM_END = '-----END CERTIFICATE-----'
_KEY_FILE_MAX_BYTES = 64 * 1024
PRIVATE_KEY_MESSAGE = (
    'ssh_key holds a PRIVATE key (it is not shown); give the public key (the .pub file, or '
    "'ssh-keygen -y -f KEYFILE' prints it), and treat that private key as exposed if it was "
    'written into a playbook or inventory'
)


_KEY_TEXT_RE = re.compile(r'^\s*(?:ssh-[A-Za-z0-9@.-]+|ecdsa-sha2-\S+|sk-\S+)\s+\S')


def looks_like_key_text(value):
    """True for key material (never a path): an OpenSSH key line, an SSH2/PEM block, or several lines."""
    s = value.strip()
    return bool(_KEY_TEXT_RE.match(s)) or s.startswith('----') or '\n' in s


def resolve_ssh_key(value, base_dir=None):
    """Return the public key text for ``ssh_key``: the value itself, or the content of a file on the controller.

    Like the Azure CLI (``read_content_if_is_file``), a value that names an existing file is read. A value that
    looks like key text is never taken for a path. ``~`` is expanded; a relative path is taken relative to
    ``base_dir`` when given and that file exists there.
    """
    if value is None:
        return None
    if sshkey.looks_private(value):
        raise ExtensionError(PRIVATE_KEY_MESSAGE)
    if looks_like_key_text(value):
        return value.strip()
    path = os.path.expanduser(value)
    candidates = [path]
    if base_dir and not os.path.isabs(path):
        candidates.insert(0, os.path.join(base_dir, path))
    for candidate in candidates:
        if os.path.isfile(candidate):
            try:
                with open(candidate, 'rb') as f:
                    data = f.read(_KEY_FILE_MAX_BYTES + 1)
            except OSError as e:
                raise ExtensionError(
                    "ssh_key: cannot read the file '%s' on the controller: %s" % (candidate, e.strerror or e)
                )
            if len(data) > _KEY_FILE_MAX_BYTES:
                raise ExtensionError(
                    "ssh_key: the file '%s' is larger than %d bytes; it is not a public key"
                    % (candidate, _KEY_FILE_MAX_BYTES)
                )
            try:
                text = data.decode('utf-8')
            except UnicodeDecodeError:
                raise ExtensionError("ssh_key: the file '%s' is not a text public key" % candidate)
            if sshkey.looks_private(text):
                raise ExtensionError(
                    "ssh_key: the file '%s' holds a PRIVATE key; give the public key (usually the .pub file next to it)"
                    % candidate
                )
            return text.strip()
    raise ExtensionError(
        "ssh_key: '%s' is neither a public key (ssh-rsa, ssh-ed25519, an SSH2 block or a PEM certificate) "
        'nor an existing file on the controller' % (value if len(value) <= 200 else value[:40] + '...')
    )


def classify_ssh_key(text):
    """Return the key kind (``ssh-rsa``, ``ssh-ed25519``, ``ssh2``, ``pem``) or raise ExtensionError with the reason.

    OpenSSH lines and SSH2 blocks are parsed in full by ``sshkey.py`` (strict base64, every length-prefixed field,
    inner type equal to the outer, no trailing bytes, key sizes): a key cut short is refused as truncated instead
    of being installed. The handler appends ``ssh-rsa`` / ``ssh-ed25519`` lines to authorized_keys, converts an SSH2
    block with ``ssh-keygen -i``, and treats anything else as a PEM certificate (``openssl x509 -pubkey``): an
    ECDSA, DSA or FIDO (``sk-*``) key therefore makes the handler fail with "Failed to generate public key file.".
    Messages never contain the key.
    """
    s = (text or '').strip()
    if not s:
        raise ExtensionError('ssh_key is empty')
    if sshkey.looks_private(s):
        raise ExtensionError(PRIVATE_KEY_MESSAGE)
    if s.startswith(_SSH2_BEGIN):
        try:
            sshkey.parse_ssh2_block(s)
        except sshkey.SshKeyError as exc:
            raise ExtensionError('ssh_key: %s' % exc)
        return 'ssh2'
    if s.startswith(_PEM_BEGIN):
        if not s.endswith(_PEM_END):
            raise ExtensionError("ssh_key: the PEM certificate does not end with '%s' (it looks truncated)" % _PEM_END)
        return 'pem'
    if s.startswith('-----BEGIN'):
        raise ExtensionError(
            'ssh_key: only a PEM certificate (-----BEGIN CERTIFICATE-----) is accepted in PEM form; '
            "the VMAccessForLinux handler runs 'openssl x509' on it and fails on other PEM objects"
        )
    lines = s.splitlines()
    key_type = lines[0].split()[0]
    if len(lines) > 1 and key_type in sshkey.KEY_TYPES:
        raise ExtensionError('ssh_key: give exactly one public key (one line); run the task once per key')
    if key_type not in sshkey.KEY_TYPES and not key_type.endswith(sshkey.CERT_SUFFIX):
        raise ExtensionError(
            "ssh_key: unsupported key format '%s': the VMAccessForLinux handler accepts ssh-rsa and ssh-ed25519 keys, "
            'SSH2 public key blocks (%s) and PEM certificates' % (key_type[:40], _SSH2_BEGIN)
        )
    if key_type in sshkey.KEY_TYPES and key_type not in ('ssh-rsa', 'ssh-ed25519'):
        # said first, whatever the rest of the line: no form of such a key can work
        kind = {'ssh-dss': 'DSA'}.get(
            key_type, 'ECDSA' if key_type.startswith('ecdsa-') else 'FIDO security key (sk-*)'
        )
        raise ExtensionError(
            'ssh_key: %s keys (%s) are not supported: the VMAccessForLinux handler accepts only ssh-rsa and ssh-ed25519 '
            'keys, SSH2 public key blocks and PEM certificates, treats anything else as a PEM certificate and fails '
            "('Failed to generate public key file.'); use an ssh-rsa or ssh-ed25519 key" % (kind, key_type)
        )
    try:
        key = sshkey.parse_line(lines[0])
    except sshkey.SshKeyError as exc:
        raise ExtensionError('ssh_key: %s' % exc)
    return key.type
