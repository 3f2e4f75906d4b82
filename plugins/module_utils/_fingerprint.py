# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The salted fingerprint of a request that holds secrets (private; no network).

Azure never returns a secret it was sent (an extension's ``protectedSettings``, a run command's
``protectedParameters``), so a later run cannot compare them. The domains record a salted scrypt fingerprint of the
whole request on the resource instead (the VMAccess engine in ``forceUpdateTag``, ``_extension/fingerprint``; the
run command in a tag, ``_run_command``), so a later run can tell, without reading any secret back, whether its
request is the one that was applied. What bytes a fingerprint covers is each domain's (its canonical form).

Public names: ``fingerprint(canonical, salt=None, cache=None)`` (``vmrescue1$<salt>$<hash>``),
``fingerprint_matches(tag, canonical, cache=None)``, ``FingerprintCache`` (one salt and one scrypt per request for
a task); the parameters ``FINGERPRINT_SCHEME``, ``SCRYPT_N``, ``SCRYPT_R``,
``SCRYPT_P``, ``SCRYPT_DKLEN``, ``SCRYPT_MAXMEM``, ``SALT_BYTES``, ``FINGERPRINT_LENGTH``, ``MAX_TAG_LENGTH``.
"""

import base64
import binascii
import hashlib
import hmac
import os
import threading

# --------------------------------------------------------------------------------------------------------------
# Fingerprint parameters. scrypt (RFC 7914) is memory-hard: each guess costs 128 * r * n bytes = 16 MiB and about
# 50 ms of one CPU core here. Changing any of them needs a new FINGERPRINT_SCHEME so old tags stay verifiable.
FINGERPRINT_SCHEME = 'vmrescue1'
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES = 16
# Length of "vmrescue1$" + 22 chars of salt + "$" + 43 chars of hash. forceUpdateTag is a free-form string; the
# tag stays well under the 256 characters we allow ourselves (checked in fingerprint()).
FINGERPRINT_LENGTH = len(FINGERPRINT_SCHEME) + 1 + 22 + 1 + 43
MAX_TAG_LENGTH = 256


def _b64(data):
    return base64.urlsafe_b64encode(data).decode('ascii').rstrip('=')


def _unb64(text):
    return base64.urlsafe_b64decode((text + '=' * (-len(text) % 4)).encode('ascii'))


def _scrypt(data, salt):
    return hashlib.scrypt(data, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=SCRYPT_DKLEN)


class FingerprintCache:
    """Per task (one batch): one random salt for the task's writes, and each scrypt computed once per (salt,
    request). A batch sends the same request to every target, so a 1000-VM batch pays one scrypt (about 25-50 ms
    of CPU and 16 MiB) instead of one per VM, both when it writes and when a re-run verifies the tags it wrote.
    Keys are (salt, SHA-256 of the request): the request itself (which holds the secrets) is not kept."""

    def __init__(self):
        self.salt = os.urandom(SALT_BYTES)
        self._lock = threading.Lock()
        self._entries = {}

    def scrypt(self, canonical, salt):
        key = (bytes(salt), hashlib.sha256(canonical).digest())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [threading.Lock(), None]
        with entry[0]:
            if entry[1] is None:
                entry[1] = _scrypt(canonical, salt)
            return entry[1]


def fingerprint(canonical, salt=None, cache=None):
    """Return ``vmrescue1$<salt>$<hash>`` (unpadded URL-safe base64) for the canonical configuration bytes.
    Without ``salt``: the ``cache``'s salt (one per task), else a fresh random one."""
    if salt is None:
        salt = cache.salt if cache is not None else os.urandom(SALT_BYTES)
    digest = cache.scrypt(canonical, salt) if cache is not None else _scrypt(canonical, salt)
    tag = '%s$%s$%s' % (FINGERPRINT_SCHEME, _b64(salt), _b64(digest))
    if len(tag) > MAX_TAG_LENGTH:  # pragma: no cover - fixed by the parameters above
        raise ValueError('internal error: fingerprint longer than %d characters' % MAX_TAG_LENGTH)
    return tag


def fingerprint_matches(tag, canonical, cache=None):
    """True when ``tag`` is one of our fingerprints and was computed over exactly ``canonical``."""
    if not isinstance(tag, str):
        return False
    parts = tag.split('$')
    if len(parts) != 3 or parts[0] != FINGERPRINT_SCHEME:
        return False
    try:
        salt = _unb64(parts[1])
        expected = _unb64(parts[2])
    except (binascii.Error, ValueError):
        return False
    if len(salt) != SALT_BYTES or len(expected) != SCRYPT_DKLEN:
        return False
    digest = cache.scrypt(canonical, salt) if cache is not None else _scrypt(canonical, salt)
    return hmac.compare_digest(digest, expected)
