# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seal of the records this collection keeps in a VM's tags (private: may change without notice).

A tag is not a security boundary: the built-in Tag Contributor role (``Microsoft.Resources/tags/*``) writes any
tag through the Tags API without any right on the VM. With the operator's record key (option ``record_key``, or
the environment variable ``VMRESCUE_RECORD_KEY`` that an AWX credential injects), each record carries an
HMAC-SHA256 over the resource ID (lower-cased), the record's purpose, its time and its content, so that a record
a tag writer planted, garbled or copied from another VM fails the check (``record_untrusted``). The MAC is the
first 16 bytes (128 bits) of the HMAC, base64url without padding: 22 characters (a tag value holds 256).

Standard library only. The key never leaves this module in a result, a message or a log: callers get a bool.

Public names: ``KEY_ENV``, ``KEY_MIN_LENGTH``, ``MAC_LENGTH``, ``UNTRUSTED``, ``resolve_key(value, env=None)``,
``check_key(value)``, ``hide_mac(text)``, ``SEALED``, ``seal(key, resource_id, purpose, when, content)``, ``verify(key, resource_id, purpose, when,
content, mac)``, ``distrust(key, resource_id, purpose, when, content, mac) -> why | None`` (the trust rule of every
record: ``NO_SEAL``, ``BAD_SEAL``), ``untrusted(target_display, tag, why)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import outcome

KEY_ENV = 'VMRESCUE_RECORD_KEY'
KEY_MIN_LENGTH = 16
MAC_LENGTH = 22  # base64url of 16 bytes, no padding
UNTRUSTED = 'record_untrusted'
SEALED = 'sealed'
_DOMAIN = b'vmrescue.azure record v1'


def resolve_key(value, env=None):
    """The record key as bytes: the option ``value``, else ``KEY_ENV`` from ``env`` (default: os.environ); None
    when neither is set (records are then written without a seal and read as claims)."""
    if value is None or value == '':
        value = (os.environ if env is None else env).get(KEY_ENV) or None
    if value is None:
        return None
    return str(value).encode('utf-8')


def check_key(value, env=None):
    """Refuse a record key too short to be a secret (the option's value, or the environment's): a TaskError that
    names the option and the rule, never the value."""
    key = resolve_key(value, env)
    if key is not None and len(key) < KEY_MIN_LENGTH:
        raise TaskError(
            'record_key (or %s) must be at least %d characters: a random secret the operator keeps (for example an '
            'AWX credential or an Ansible Vault variable), the same for every controller that reads the records'
            % (KEY_ENV, KEY_MIN_LENGTH),
            reason_code='invalid_input',
        )
    return key


def _message(resource_id, purpose, when, content):
    parts = (_DOMAIN, str(resource_id).lower().encode('utf-8'), purpose.encode('utf-8'))
    parts += (str(when).encode('utf-8'), str(content).encode('utf-8'))
    return b'\x00'.join(parts)


def seal(key, resource_id, purpose, when, content):
    """The MAC (MAC_LENGTH characters, base64url) of one record: bound to the resource, the purpose (which tag), the
    record's time and its content."""
    digest = hmac.new(key, _message(resource_id, purpose, when, content), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode('ascii').rstrip('=')


def verify(key, resource_id, purpose, when, content, mac):
    """Whether ``mac`` is this record's seal under ``key`` (constant-time comparison)."""
    if not isinstance(mac, str) or len(mac) != MAC_LENGTH:
        return False
    return hmac.compare_digest(seal(key, resource_id, purpose, when, content), mac)


NO_SEAL = 'it carries no seal and a record key is configured'
BAD_SEAL = 'its seal does not match this resource (forged, edited or copied from another VM)'


def distrust(key, resource_id, purpose, when, content, mac):
    """Why a parsed record may not be acted on under ``key``: ``NO_SEAL``, ``BAD_SEAL``, or None (no key: a record is
    taken as written; or its seal holds). The one trust rule of every record the collection keeps on a VM."""
    if key is None:
        return None
    if mac is None:
        return NO_SEAL
    if not verify(key, resource_id, purpose, when, content, mac):
        return BAD_SEAL
    return None


def untrusted(target_display, tag, why):
    """The per-target note of a record that is not acted on: ``{status, reason_code, reason}`` (``outcome``'s
    shape; the key reset returns it as ``record_check``, the settings restore as its ``outcome``)."""
    return outcome(
        'skipped',
        UNTRUSTED,
        'the %s tag on %s is not trusted (%s): it is reported and not acted on' % (tag, target_display, why),
    )


_KEY_RECORD_MAC = re.compile(r'#[A-Za-z0-9_-]{%d}$' % MAC_LENGTH)
_SETTINGS_MAC = re.compile(r'"m":"[^"]*"')


def hide_mac(text):
    """A record as results, warnings and the run report show it: its seal replaced by ``SEALED`` (the seal is no
    secret, it is on the VM, but output carries neither the key nor a MAC made with it)."""
    if not isinstance(text, str):
        return text
    return _SETTINGS_MAC.sub('"m":"%s"' % SEALED, _KEY_RECORD_MAC.sub('#' + SEALED, text))
