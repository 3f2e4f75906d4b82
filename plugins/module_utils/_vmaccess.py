# -*- coding: utf-8 -*-
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""VMAccessForLinux: option validation, payload, fingerprint (forceUpdateTag) and the apply logic.

This is a private module_utils file of vmrescue.azure (the leading underscore says so): its interface may change
at any time and it is not meant to be used from outside this collection.

The pure part (validation, payload, fingerprint, decision) needs no network and is unit tested on its own.
``VMAccessRunner`` does the Resource Manager calls through the shared ``ArmClient`` and ``Target``.

Facts this module relies on (see docs/azure-facts.md, section 2, read from the VMAccess 1.5 handler source):

* public ``settings`` carry only ``check_disk``, ``repair_disk``, ``disk_name``; everything else is protected;
* booleans are tested for truthiness and some keys with ``is not None``, so the string ``"false"`` means true and
  a key sent as ``false`` still counts in the conflict checks: booleans are sent as JSON ``true`` and only when
  they are true; unset keys are omitted;
* ARM never returns ``protectedSettings``, and the handler reruns only when the sequence number changes, which a
  new ``forceUpdateTag`` does: the module records a salted scrypt fingerprint of the whole requested configuration
  in ``forceUpdateTag`` so it can tell, without reading any secret back, whether the request differs from the last
  successful one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import struct
import threading
import time

PUBLISHER = "Microsoft.OSTCExtensions"
EXTENSION_TYPE = "VMAccessForLinux"
# The name the Azure CLI and the portal use (azure-cli vm/custom.py: _ACCESS_EXT_HANDLER_NAME = 'enablevmaccess').
DEFAULT_EXTENSION_NAME = "enablevmaccess"
DEFAULT_TYPE_HANDLER_VERSION = "1.5"

WINDOWS_PUBLISHER = "Microsoft.Compute"
WINDOWS_EXTENSION_TYPE = "VMAccessAgent"
WINDOWS_TYPE_HANDLER_VERSION = "2.4"

AAD_PUBLISHER = "Microsoft.Azure.ActiveDirectory"
AAD_EXTENSION_TYPE = "AADSSHLoginForLinux"

# Waiting for the handler: Azure ends an extension run after 90 minutes (the operation then fails), so a run still
# going after that is not coming back on its own.
EXTENSION_WAIT_SECONDS = 5400
FINAL_PROVISIONING_STATES = ("succeeded", "failed", "canceled")

# What Ansible itself prints for a no_log value; used wherever a password would otherwise appear.
MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

PUBLIC_KEYS = ("check_disk", "repair_disk", "disk_name")
PROTECTED_KEYS = (
    "username",
    "password",
    "ssh_key",
    "reset_ssh",
    "remove_user",
    "expiration",
    "remove_prior_keys",
    "restore_backup_ssh",
    "enable_passwordless_access",
)
BOOLEAN_KEYS = (
    "check_disk",
    "repair_disk",
    "reset_ssh",
    "remove_prior_keys",
    "restore_backup_ssh",
    "enable_passwordless_access",
)
SECRET_KEYS = ("password",)

# The options this module adds to the shared auth + target argspec (_module.AzureModule merges them).
ARGUMENT_SPEC = dict(
    state=dict(type="str", default="present", choices=["present", "absent"]),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ssh_key=dict(type="str", no_log=False),
    remove_prior_keys=dict(type="bool", no_log=False),
    expiration=dict(type="str"),
    reset_ssh=dict(type="bool"),
    restore_backup_ssh=dict(type="bool"),
    remove_user=dict(type="str"),
    check_disk=dict(type="bool"),
    repair_disk=dict(type="bool"),
    disk_name=dict(type="str"),
    enable_passwordless_access=dict(type="bool", no_log=False),
    extension_name=dict(type="str"),
    type_handler_version=dict(type="str", default=DEFAULT_TYPE_HANDLER_VERSION),
    auto_upgrade_minor_version=dict(type="bool", default=True),
    force=dict(type="bool", default=False),
    fingerprint_password=dict(type="bool", default=True, no_log=False),
)

# Options that ask the handler to do something (state=present needs at least one of them).
ACTION_OPTIONS = ("username", "reset_ssh", "restore_backup_ssh", "remove_user", "check_disk", "repair_disk")
# Options that only make sense when the handler runs (refused with state=absent).
SETTING_OPTIONS = (
    "username",
    "password",
    "ssh_key",
    "remove_prior_keys",
    "expiration",
    "reset_ssh",
    "restore_backup_ssh",
    "remove_user",
    "check_disk",
    "repair_disk",
    "disk_name",
    "enable_passwordless_access",
)

# --------------------------------------------------------------------------------------------------------------
# Fingerprint parameters. scrypt (RFC 7914) is memory-hard: each guess costs 128 * r * n bytes = 16 MiB and about
# 50 ms of one CPU core here. Changing any of them needs a new FINGERPRINT_SCHEME so old tags stay verifiable.
FINGERPRINT_SCHEME = "vmrescue1"
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

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")
_SSH2_BEGIN = "---- BEGIN SSH2 PUBLIC KEY ----"
_SSH2_END = "---- END SSH2 PUBLIC KEY ----"
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_KEY_FILE_MAX_BYTES = 64 * 1024


class VMAccessError(Exception):
    """A request the module refuses before (or instead of) any write; the message names the options."""


# --------------------------------------------------------------------------------------------------------------
# SSH key handling


_KEY_TEXT_RE = re.compile(r"^\s*(?:ssh-[A-Za-z0-9@.-]+|ecdsa-sha2-\S+|sk-\S+)\s+\S")


def looks_like_key_text(value):
    """True for key material (never a path): an OpenSSH key line, an SSH2/PEM block, or several lines."""
    s = value.strip()
    return bool(_KEY_TEXT_RE.match(s)) or s.startswith("----") or "\n" in s


def resolve_ssh_key(value, base_dir=None):
    """Return the public key text for ``ssh_key``: the value itself, or the content of a file on the controller.

    Like the Azure CLI (``read_content_if_is_file``), a value that names an existing file is read. A value that
    looks like key text is never taken for a path. ``~`` is expanded; a relative path is taken relative to
    ``base_dir`` when given and that file exists there.
    """
    if value is None:
        return None
    if looks_like_key_text(value):
        return value.strip()
    path = os.path.expanduser(value)
    candidates = [path]
    if base_dir and not os.path.isabs(path):
        candidates.insert(0, os.path.join(base_dir, path))
    for candidate in candidates:
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as f:
                    data = f.read(_KEY_FILE_MAX_BYTES + 1)
            except (IOError, OSError) as e:
                raise VMAccessError("ssh_key: cannot read the file '%s' on the controller: %s" % (candidate, e.strerror or e))
            if len(data) > _KEY_FILE_MAX_BYTES:
                raise VMAccessError("ssh_key: the file '%s' is larger than %d bytes; it is not a public key" % (candidate, _KEY_FILE_MAX_BYTES))
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise VMAccessError("ssh_key: the file '%s' is not a text public key" % candidate)
            if "PRIVATE KEY" in text:
                raise VMAccessError(
                    "ssh_key: the file '%s' holds a PRIVATE key; give the public key (usually the .pub file next to it)" % candidate
                )
            return text.strip()
    raise VMAccessError(
        "ssh_key: '%s' is neither a public key (ssh-rsa, ssh-ed25519, an SSH2 block or a PEM certificate) "
        "nor an existing file on the controller" % value
    )


def _check_openssh_blob(key_type, b64):
    try:
        blob = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    if len(blob) < 4:
        return False
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + n] == key_type.encode("ascii")


def classify_ssh_key(text):
    """Return the key kind (``ssh-rsa``, ``ssh-ed25519``, ``ssh2``, ``pem``) or raise VMAccessError with the reason.

    The handler appends ``ssh-rsa`` / ``ssh-ed25519`` lines to authorized_keys, converts an SSH2 block with
    ``ssh-keygen -i``, and treats anything else as a PEM certificate (``openssl x509 -pubkey``): an ECDSA or a
    FIDO (``sk-*``) key therefore makes the handler fail with "Failed to generate public key file.".
    """
    s = (text or "").strip()
    if not s:
        raise VMAccessError("ssh_key is empty")
    if "PRIVATE KEY" in s:
        raise VMAccessError("ssh_key holds a PRIVATE key; give the public key (the .pub file)")
    if s.startswith(_SSH2_BEGIN):
        if _SSH2_END not in s:
            raise VMAccessError("ssh_key: the SSH2 public key block has no '%s' line" % _SSH2_END)
        return "ssh2"
    if s.startswith(_PEM_BEGIN):
        if not s.endswith(_PEM_END):
            raise VMAccessError("ssh_key: the PEM certificate does not end with '%s'" % _PEM_END)
        return "pem"
    if s.startswith("-----BEGIN"):
        raise VMAccessError(
            "ssh_key: only a PEM certificate (-----BEGIN CERTIFICATE-----) is accepted in PEM form; "
            "the VMAccessForLinux handler runs 'openssl x509' on it and fails on other PEM objects"
        )
    lines = s.splitlines()
    fields = lines[0].split()
    key_type = fields[0]
    if key_type.startswith("ecdsa-sha2-") or key_type.startswith("sk-"):
        kind = "ECDSA" if key_type.startswith("ecdsa-") else "FIDO security key (sk-*)"
        raise VMAccessError(
            "ssh_key: %s keys (%s) are not supported: the VMAccessForLinux handler accepts only ssh-rsa and ssh-ed25519 "
            "keys, SSH2 public key blocks and PEM certificates, treats anything else as a PEM certificate and fails "
            "('Failed to generate public key file.'); use an ssh-rsa or ssh-ed25519 key" % (kind, key_type)
        )
    if key_type not in ("ssh-rsa", "ssh-ed25519"):
        raise VMAccessError(
            "ssh_key: unsupported key format '%s': the VMAccessForLinux handler accepts ssh-rsa and ssh-ed25519 keys, "
            "SSH2 public key blocks (%s) and PEM certificates" % (key_type[:40], _SSH2_BEGIN)
        )
    if len(lines) > 1:
        raise VMAccessError("ssh_key: give exactly one public key (one line); run the task once per key")
    if len(fields) < 2 or not _check_openssh_blob(key_type, fields[1]):
        raise VMAccessError("ssh_key: the %s key is malformed (its base64 part does not decode to a %s key)" % (key_type, key_type))
    return key_type


# --------------------------------------------------------------------------------------------------------------
# Validation


def _is_true(params, name):
    return params.get(name) is True


def _is_set(params, name):
    v = params.get(name)
    if isinstance(v, bool):
        return v
    return v is not None


def validate(params, today=None):
    """Check every rule of the handler that can be checked on the controller.

    Raises VMAccessError with the option names in the message. Returns a list of warnings.
    """
    warnings = []
    state = params.get("state") or "present"
    given = [o for o in SETTING_OPTIONS if _is_set(params, o)]

    if state == "absent":
        if given:
            raise VMAccessError(
                "state=absent removes the VMAccessForLinux extension and cannot be combined with %s" % ", ".join(given)
            )
        return warnings

    for name in ("username", "remove_user", "disk_name", "extension_name", "type_handler_version"):
        v = params.get(name)
        if v is not None and not str(v).strip():
            raise VMAccessError("%s must not be empty" % name)
    if params.get("password") is not None and params.get("password") == "":
        raise VMAccessError("password must not be empty (the handler ignores an empty password)")
    if params.get("ssh_key") is not None and not params["ssh_key"].strip():
        raise VMAccessError("ssh_key must not be empty")

    if _is_true(params, "remove_prior_keys") and not _is_set(params, "ssh_key"):
        raise VMAccessError("remove_prior_keys needs ssh_key (it truncates authorized_keys before adding the new key)")

    for name in ("password", "ssh_key", "expiration", "enable_passwordless_access"):
        if _is_set(params, name) and not _is_set(params, "username"):
            raise VMAccessError("%s needs username (the user to set it for)" % name)

    if not any(_is_set(params, o) for o in ACTION_OPTIONS):
        raise VMAccessError(
            "nothing to do: give one of username (with password and/or ssh_key), reset_ssh, restore_backup_ssh, "
            "remove_user, check_disk, repair_disk (or state=absent to remove the extension)"
        )

    if _is_true(params, "check_disk") and _is_true(params, "repair_disk"):
        raise VMAccessError("check_disk and repair_disk are mutually exclusive (the handler accepts only one of them)")
    if _is_set(params, "disk_name") and not _is_true(params, "repair_disk"):
        raise VMAccessError("disk_name is used only with repair_disk=true")
    if _is_true(params, "repair_disk") and not _is_set(params, "disk_name"):
        raise VMAccessError("repair_disk=true needs disk_name (the disk to repair)")

    if _is_set(params, "remove_user"):
        conflicting = [o for o in ("reset_ssh", "restore_backup_ssh", "password") if _is_set(params, o)]
        if conflicting:
            raise VMAccessError(
                "remove_user cannot be combined with %s: the handler refuses to change sshd_config and remove a user "
                "in one run ('Cannot reset sshd_config and remove a user in one operation.'); use two tasks"
                % " or ".join(conflicting)
            )
        if not _USERNAME_RE.match(params["remove_user"]):
            raise VMAccessError("remove_user: '%s' is not a valid Linux user name" % params["remove_user"])

    if _is_true(params, "reset_ssh") and _is_true(params, "restore_backup_ssh"):
        raise VMAccessError(
            "reset_ssh and restore_backup_ssh are mutually exclusive (one replaces sshd_config with the distribution "
            "default, the other restores the backup)"
        )

    if _is_set(params, "username"):
        if not _USERNAME_RE.match(params["username"]):
            raise VMAccessError("username: '%s' is not a valid Linux user name" % params["username"])
        if not _is_set(params, "password") and not _is_set(params, "ssh_key"):
            raise VMAccessError(
                "username needs password or ssh_key (the handler fails with 'No password or ssh_key is specified.')"
            )

    if _is_set(params, "expiration"):
        exp = params["expiration"]
        if not _DATE_RE.match(exp):
            raise VMAccessError("expiration must be a date in the form YYYY-MM-DD, got '%s'" % exp)
        try:
            day = datetime.datetime.strptime(exp, "%Y-%m-%d").date()
        except ValueError:
            raise VMAccessError("expiration: '%s' is not a valid calendar date (YYYY-MM-DD)" % exp)
        today = today or datetime.date.today()
        if day <= today:
            warnings.append("expiration %s is not in the future: a new account would be expired at once" % exp)
        warnings.append(
            "expiration is applied only when the handler creates the account (useradd -e); "
            "it does not change an existing account"
        )

    if _is_set(params, "type_handler_version"):
        if not re.match(r"^\d+\.\d+$", params["type_handler_version"]):
            raise VMAccessError(
                "type_handler_version must be MAJOR.MINOR (for example 1.5), got '%s'" % params["type_handler_version"]
            )
    return warnings


# --------------------------------------------------------------------------------------------------------------
# Payload


def build_settings(params, ssh_key_text=None):
    """Return (settings, protected_settings) as the handler reads them.

    ``ssh_key_text`` is the resolved key (see resolve_ssh_key); when None, ``params['ssh_key']`` is used as is.
    Booleans appear only when true, as JSON ``true``; options that are not set are left out.
    """
    settings = {}
    protected = {}
    for key in PUBLIC_KEYS + PROTECTED_KEYS:
        if key in BOOLEAN_KEYS:
            if params.get(key) is True:
                value = True
            else:
                continue
        else:
            value = params.get(key)
            if value is None:
                continue
            if key == "ssh_key" and ssh_key_text is not None:
                value = ssh_key_text
        if key in PUBLIC_KEYS:
            settings[key] = value
        else:
            protected[key] = value
    return settings, protected


def extension_properties(settings, protected, type_handler_version, auto_upgrade_minor_version, force_update_tag=None):
    props = {
        "publisher": PUBLISHER,
        "type": EXTENSION_TYPE,
        "typeHandlerVersion": type_handler_version,
        "autoUpgradeMinorVersion": bool(auto_upgrade_minor_version),
        "settings": settings,
        "protectedSettings": protected,
    }
    if force_update_tag is not None:
        props["forceUpdateTag"] = force_update_tag
    return props


def mask_protected(protected):
    """A copy of protectedSettings safe to show: secret values replaced by the no_log mask."""
    out = {}
    for k, v in (protected or {}).items():
        out[k] = MASK if k in SECRET_KEYS else v
    return out


def scrub_obj(obj, secrets):
    """scrub() every string inside lists and dicts."""
    if isinstance(obj, dict):
        return dict((k, scrub_obj(val, secrets)) for k, val in obj.items())
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(val, secrets) for val in obj]
    if isinstance(obj, str):
        return scrub(obj, secrets)
    return obj


def scrub(text, secrets):
    """Replace every occurrence of a secret value in text by '********'."""
    if text is None:
        return text
    text = str(text)
    for s in secrets:
        if s:
            text = text.replace(s, "********")
    return text


# --------------------------------------------------------------------------------------------------------------
# Fingerprint


def canonical_config(settings, protected, type_handler_version, auto_upgrade_minor_version, include_password=True):
    """The bytes the fingerprint covers: extension identity + public + protected settings, canonical JSON."""
    prot = dict(protected)
    if not include_password:
        prot.pop("password", None)
    doc = {
        "publisher": PUBLISHER,
        "type": EXTENSION_TYPE,
        "typeHandlerVersion": type_handler_version,
        "autoUpgradeMinorVersion": bool(auto_upgrade_minor_version),
        "settings": settings,
        "protectedSettings": prot,
        "passwordInFingerprint": bool(include_password),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text):
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


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


class BatchState:
    """What the targets of one task share (the TaskSpec's ``shared`` factory): the fingerprint cache and the
    learned time a handler run takes to show as finished (``_confirm.ConfirmTiming``)."""

    def __init__(self):
        from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import ConfirmTiming

        self.fingerprints = FingerprintCache()
        self.timing = ConfirmTiming()


def fingerprint(canonical, salt=None, cache=None):
    """Return ``vmrescue1$<salt>$<hash>`` (unpadded URL-safe base64) for the canonical configuration bytes.
    Without ``salt``: the ``cache``'s salt (one per task), else a fresh random one."""
    if salt is None:
        salt = cache.salt if cache is not None else os.urandom(SALT_BYTES)
    digest = cache.scrypt(canonical, salt) if cache is not None else _scrypt(canonical, salt)
    tag = "%s$%s$%s" % (FINGERPRINT_SCHEME, _b64(salt), _b64(digest))
    if len(tag) > MAX_TAG_LENGTH:  # pragma: no cover - fixed by the parameters above
        raise VMAccessError("internal error: fingerprint longer than %d characters" % MAX_TAG_LENGTH)
    return tag


def fingerprint_matches(tag, canonical, cache=None):
    """True when ``tag`` is one of our fingerprints and was computed over exactly ``canonical``."""
    if not isinstance(tag, str):
        return False
    parts = tag.split("$")
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


# --------------------------------------------------------------------------------------------------------------
# Reading what ARM returns


def _lower(v):
    return (v or "").lower() if isinstance(v, str) else ""


def is_vmaccess_linux(ext):
    props = (ext or {}).get("properties") or {}
    return _lower(props.get("publisher")) == PUBLISHER.lower() and _lower(props.get("type")) == EXTENSION_TYPE.lower()


def is_aad_login(ext):
    props = (ext or {}).get("properties") or {}
    return _lower(props.get("publisher")) == AAD_PUBLISHER.lower() and _lower(props.get("type")) == AAD_EXTENSION_TYPE.lower()


def extension_name(ext):
    name = (ext or {}).get("name") or ""
    # The VM GET lists extensions by name; a full id may also be there.
    if not name and ext and ext.get("id"):
        name = ext["id"].rstrip("/").split("/")[-1]
    return name.split("/")[-1]


def os_type(vm):
    """'linux', 'windows' or None (unknown) for a VM or scale-set instance GET body."""
    props = (vm or {}).get("properties") or {}
    os_disk = ((props.get("storageProfile") or {}).get("osDisk")) or {}
    t = _lower(os_disk.get("osType"))
    if t in ("linux", "windows"):
        return t
    os_profile = props.get("osProfile") or {}
    if os_profile.get("linuxConfiguration"):
        return "linux"
    if os_profile.get("windowsConfiguration"):
        return "windows"
    return None


def power_state(vm):
    """The 'PowerState/...' suffix from the instance view ('running', 'stopped', 'deallocated', ...), or None."""
    props = (vm or {}).get("properties") or {}
    iv = props.get("instanceView") or (vm or {}).get("instanceView") or {}
    for st in iv.get("statuses") or []:
        code = st.get("code") or ""
        if code.startswith("PowerState/"):
            return code.split("/", 1)[1].lower()
    return None


def handler_status(ext):
    """The first status of the extension's instance view: {code, level, displayStatus, message} or None."""
    props = (ext or {}).get("properties") or {}
    iv = props.get("instanceView") or {}
    statuses = iv.get("statuses") or []
    if not statuses:
        return None
    st = statuses[0]
    return dict((k, st.get(k)) for k in ("code", "level", "displayStatus", "message", "time") if st.get(k) is not None)


def instance_view_extension_status(vm, name):
    """Status of extension ``name`` from the VM instance view (``instanceView.extensions[]``), or None."""
    props = (vm or {}).get("properties") or {}
    iv = props.get("instanceView") or {}
    for ext in iv.get("extensions") or []:
        if (ext.get("name") or "").lower() == (name or "").lower():
            statuses = ext.get("statuses") or []
            if statuses:
                st = statuses[0]
                return dict((k, st.get(k)) for k in ("code", "level", "displayStatus", "message", "time") if st.get(k) is not None)
    return None


def last_run_succeeded(ext, status=None):
    """True when ARM says the extension is provisioned and the handler did not report an error."""
    props = (ext or {}).get("properties") or {}
    if _lower(props.get("provisioningState")) != "succeeded":
        return False
    status = status or handler_status(ext)
    if status:
        if _lower(status.get("level")) == "error":
            return False
        code = _lower(status.get("code"))
        if code and "failed" in code:
            return False
    return True


# --------------------------------------------------------------------------------------------------------------
# The request the module would make


class Plan:
    """What to send for one target: settings, protected settings, fingerprint input. No network."""

    def __init__(self, params, ssh_key_text=None):
        self.params = params
        self.settings, self.protected = build_settings(params, ssh_key_text)
        self.type_handler_version = params.get("type_handler_version") or DEFAULT_TYPE_HANDLER_VERSION
        auto = params.get("auto_upgrade_minor_version")
        self.auto_upgrade_minor_version = True if auto is None else bool(auto)
        fp = params.get("fingerprint_password")
        self.include_password = True if fp is None else bool(fp)
        self.canonical = canonical_config(
            self.settings, self.protected, self.type_handler_version, self.auto_upgrade_minor_version, self.include_password
        )
        self.secrets = [self.protected[k] for k in SECRET_KEYS if self.protected.get(k)]

    def matches(self, existing_ext, cache=None):
        tag = ((existing_ext or {}).get("properties") or {}).get("forceUpdateTag")
        return fingerprint_matches(tag, self.canonical, cache)

    def body(self, location, force_update_tag):
        body = {
            "properties": extension_properties(
                self.settings, self.protected, self.type_handler_version, self.auto_upgrade_minor_version, force_update_tag
            )
        }
        if location:
            body = {"location": location, "properties": body["properties"]}
        return body

    def shown(self, name=None):
        """What would be sent, secrets masked: for diff and return values."""
        props = extension_properties(
            copy.deepcopy(self.settings), mask_protected(self.protected), self.type_handler_version, self.auto_upgrade_minor_version
        )
        if name:
            props = dict(name=name, **props)
        return props


def visible(ext):
    """The parts of an existing extension ARM shows (for diff 'before')."""
    if not ext:
        return {}
    props = ext.get("properties") or {}
    out = {"name": extension_name(ext)}
    for k in ("publisher", "type", "typeHandlerVersion", "autoUpgradeMinorVersion", "settings", "provisioningState"):
        if k in props:
            out[k] = props[k]
    out["protectedSettings"] = "(never returned by Azure)"
    return out


# --------------------------------------------------------------------------------------------------------------
# Apply: the Resource Manager calls


class VMAccessFailure(Exception):
    """The task fails: ``msg`` (no secret in it) and extra return values in ``result``."""

    def __init__(self, msg, **result):
        super(VMAccessFailure, self).__init__(msg)
        self.msg = msg
        self.result = result


class _UnseenHandler(Exception):
    """The PUT was refused because the VM has a VMAccessForLinux extension its GET did not show."""


def _is_duplicate_handler(err):
    return getattr(err, "status", None) == 400 and "multiple vmextensions per handler" in (getattr(err, "message", "") or "").lower()


class VMAccessRunner:
    """Read the target, decide, write (unless check mode), wait for the handler, report.

    ``arm`` is the shared ``_arm.ArmClient`` (or a test double) with ``get``, ``put`` and ``delete`` that take a
    URL path and return parsed JSON (long-running operations waited for) and raise ``ArmError``; ``target`` a
    ``_target.Target`` with its subscription. ``warn`` is called with each warning text.
    """

    def __init__(self, arm, target, params, check_mode=False, warn=None, base_dir=None, api_version=None,
                 fingerprints=None, timing=None, sleep=time.sleep, clock=time.monotonic):
        self.arm = arm
        self.fingerprints = fingerprints  # FingerprintCache shared by the targets of one task, or None
        self.timing = timing  # _confirm.ConfirmTiming shared by the targets of one task, or None (a fresh one)
        self.sleep, self.clock = sleep, clock
        self.target = target
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.base_dir = base_dir
        if api_version is None:
            from ansible_collections.vmrescue.azure.plugins.module_utils._arm import API_VERSION as api_version
        self.api_version = api_version
        self.plan = None
        self._listed = False
        self.secrets = [params.get(k) for k in SECRET_KEYS if params.get(k)]

    # -- small helpers ------------------------------------------------------------------------------------
    def _scrub(self, text):
        return scrub(text, self.secrets)

    def _warn(self, text):
        self.warn(self._scrub(text))

    def _fail(self, msg, **result):
        raise VMAccessFailure(self._scrub(msg), **scrub_obj(result, self.secrets))

    def _arm_error(self, what, err, **result):
        self._fail("%s %s failed: %s" % (what, self.target.display, _error_text(err)), **result)

    # -- reads ---------------------------------------------------------------------------------------------
    def _read_vm(self):
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        try:
            return self.arm.get(self.target.path, params={"$expand": "instanceView"}, api_version=self.api_version)
        except ArmError as e:
            self._arm_error("reading", e)

    def _list_extensions(self, vm, always=False):
        """The VM's extensions. The VM GET has them in ``resources`` (full objects); Resource Manager leaves
        ``resources`` out when the VM has none, so that costs no read. Only ID stubs (scale-set instances), or
        ``always``, make a list call."""
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        resources = vm.get("resources")
        if not always:
            if resources is None:
                return []
            if isinstance(resources, list) and all(isinstance(r, dict) and r.get("properties") for r in resources):
                return resources
        try:
            listed = self.arm.get(self.target.path + "/extensions", api_version=self.api_version)
        except ArmError as e:
            self._arm_error("listing the extensions of", e)
        return (listed or {}).get("value") or []

    def _ext_path(self, name):
        try:
            from urllib.parse import quote
        except ImportError:  # pragma: no cover
            from urllib import quote
        return self.target.path + "/extensions/" + quote(name, safe="")

    # -- checks -------------------------------------------------------------------------------------------
    def _check_os(self, vm):
        if os_type(vm) == "windows":
            self._fail(
                "%s runs Windows: VMAccessForLinux works on Linux only. On Windows use the VMAccessAgent extension "
                "(publisher %s, type %s, version %s), for example 'az vm user update'. Nothing was changed."
                % (self.target.display, WINDOWS_PUBLISHER, WINDOWS_EXTENSION_TYPE, WINDOWS_TYPE_HANDLER_VERSION),
                vm_id=self.target.id,
            )

    def _check_running(self, vm, extension_name_):
        state = power_state(vm)
        if state is not None and state != "running":
            self._fail(
                "%s is not running (power state '%s'): the VM agent must be running to run the VMAccessForLinux "
                "handler, and Azure refuses to change extensions of a VM that is not running. Start it first. "
                "Nothing was changed." % (self.target.display, state),
                vm_id=self.target.id,
                extension_name=extension_name_,
                power_state=state,
            )

    # -- the run ------------------------------------------------------------------------------------------
    def run(self):
        params = self.params
        state = params.get("state") or "present"
        if state == "present":
            key_text = None
            if params.get("ssh_key") is not None:
                key_text = resolve_ssh_key(params["ssh_key"], self.base_dir)
                classify_ssh_key(key_text)
            self.plan = Plan(params, key_text)
        try:
            return self._run(state)
        except _UnseenHandler:
            # Azure refused a second VMAccessForLinux extension: the VM has one that its GET did not show. Decide
            # again from the listed extensions (that one is then updated under its own name).
            return self._run(state, list_extensions=True)

    def _run(self, state, list_extensions=False):
        params = self.params
        vm = self._read_vm()
        self._check_os(vm)
        extensions = self._list_extensions(vm, always=list_extensions)
        self._listed = list_extensions
        existing = [e for e in extensions if is_vmaccess_linux(e)]
        current = existing[0] if existing else None
        aad = [extension_name(e) for e in extensions if is_aad_login(e)]

        if current is not None:
            name = extension_name(current)
            wanted = params.get("extension_name")
            if wanted and wanted.lower() != name.lower():
                self._warn(
                    "extension_name '%s' ignored: %s already has the VMAccessForLinux extension '%s' and Azure allows "
                    "one per handler type; updating '%s'" % (wanted, self.target.display, name, name)
                )
        else:
            name = params.get("extension_name") or DEFAULT_EXTENSION_NAME

        if state == "absent":
            return self._absent(vm, current, name)
        return scrub_obj(self._present(vm, current, name, aad), self.secrets)

    def _absent(self, vm, current, name):
        result = dict(changed=False, vm_id=self.target.id, extension_name=name)
        if current is None:
            return result
        self._check_running(vm, name)
        result["changed"] = True
        result["diff"] = dict(before=visible(current), after={})
        if self.check_mode:
            return result
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        try:
            self.arm.delete(self._ext_path(name), api_version=self.api_version)
        except ArmError as e:
            self._arm_error("removing the extension '%s' from" % name, e, **result)
        return result

    def _present(self, vm, current, name, aad):
        plan = self.plan
        status = None
        if current is not None:
            status = instance_view_extension_status(vm, name) or handler_status(current)
        matched = bool(current is not None and plan.matches(current, self.fingerprints) and last_run_succeeded(current, status))
        result = dict(
            changed=False,
            vm_id=self.target.id,
            extension_name=name,
            extension=plan.shown(name),
            fingerprint_matched=matched,
        )
        if status:
            result["handler_status"] = status
            if status.get("message"):
                result["message"] = status["message"]
        if current is not None:
            result["provisioning_state"] = (current.get("properties") or {}).get("provisioningState")
        if matched and not self.params.get("force"):
            return result

        self._check_running(vm, name)
        result["changed"] = True
        result["diff"] = dict(before=visible(current), after=plan.shown(name))
        for k in ("handler_status", "message", "provisioning_state"):
            result.pop(k, None)
        if aad:
            self._warn(
                "%s has the Microsoft Entra ID login extension (AADSSHLoginForLinux) '%s'. VMAccess sets "
                "'ChallengeResponseAuthentication no' in sshd_config%s, which turns Entra ID SSH login off: "
                "run that extension again afterwards."
                % (self.target.display, aad[0], " and resets the password" if plan.protected.get("password") else "")
            )
        if self.check_mode:
            return result

        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError

        body = plan.body(vm.get("location"), fingerprint(plan.canonical, cache=self.fingerprints))
        try:
            # lro=False: no operation-status polls and no final GET; the handler's outcome is read from the
            # extension itself (_wait_for_handler), which is also where its message is.
            self.arm.put(self._ext_path(name), body, api_version=self.api_version, lro=False)
        except ArmError as e:
            if current is None and not self._listed and _is_duplicate_handler(e):
                raise _UnseenHandler()
            self._arm_error("writing the extension '%s' on" % name, e, **result)

        after = self._wait_for_handler(name, result)
        props = after.get("properties") or {}
        st = handler_status(after)
        if st:
            result["handler_status"] = st
            if st.get("message"):
                result["message"] = self._scrub(st["message"])
        result["provisioning_state"] = props.get("provisioningState")
        if _lower(props.get("provisioningState")) != "succeeded" or (st and _lower(st.get("level")) == "error"):
            reason = (st or {}).get("message") or "provisioningState %s, no handler status" % props.get("provisioningState")
            self._fail("the VMAccessForLinux handler failed on %s: %s" % (self.target.display, reason), **result)
        return result

    def _wait_for_handler(self, name, result):
        """Read the extension (with its instance view) until its provisioningState is final; return it."""
        from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
        from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import wait_for

        def probe():
            try:
                ext = self.arm.get(self._ext_path(name), params={"$expand": "instanceView"}, api_version=self.api_version)
            except ArmError as e:  # throttling and transient errors were retried by the client: this one is final
                self._arm_error("reading the extension '%s' of" % name, e, **result)
            state = _lower(((ext or {}).get("properties") or {}).get("provisioningState"))
            return state in FINAL_PROVISIONING_STATES, ext or {}

        done, after = wait_for(probe, EXTENSION_WAIT_SECONDS, timing=self.timing, sleep=self.sleep, clock=self.clock)
        if not done:
            state = ((after or {}).get("properties") or {}).get("provisioningState")
            self._fail(
                "the VMAccessForLinux extension '%s' on %s was accepted but did not finish within %d seconds "
                "(provisioningState %s); Azure ends a handler run after 90 minutes: look at the extension's status "
                "in the portal or with 'az vm extension show', then run the task again"
                % (name, self.target.display, EXTENSION_WAIT_SECONDS, state), **dict(result, provisioning_state=state))
        return after


def _error_text(err):
    if hasattr(err, "describe"):
        return err.describe()
    msg = getattr(err, "message", None) or str(err)
    code = getattr(err, "code", None)
    if code and code not in msg:
        return "%s: %s" % (code, msg)
    return msg


# --------------------------------------------------------------------------------------------------------------
# TaskSpec: what the module file and the controller action run

# The shared auth options have ``password`` for ``ad_user`` sign-in; in this module ``password`` is the VM user's
# password (the extension's key). ad_user is refused together with it, so the two can never be confused (a
# ``module_defaults`` group that sets ad_user + password would otherwise set the VM password to the sign-in one).
MUTUALLY_EXCLUSIVE = [["ad_user", "password"]]


def run(client, target, params, check_mode=False, diff=False, shared=None):
    """TaskSpec.run: validate (no network), then VMAccessRunner. Raises _arm.TaskError on failure. ``shared``: the
    task's BatchState (TaskSpec ``shared``), or None."""
    from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError

    secrets = [params.get(k) for k in SECRET_KEYS if params.get(k)]
    warnings = []
    if params.get("ad_user"):
        raise TaskError(
            "ad_user is not supported by vmaccess_linux: its password option is the VM user's password. Sign in with "
            "AZURE_AD_USER and AZURE_PASSWORD in the environment, or another credential"
        )
    try:
        warnings.extend(validate(params))
        runner = VMAccessRunner(client, target, params, check_mode=check_mode, warn=warnings.append,
                                fingerprints=shared and shared.fingerprints, timing=shared and shared.timing)
        result = runner.run()
    except VMAccessError as e:
        raise TaskError(scrub(str(e), secrets))
    except VMAccessFailure as e:
        result = scrub_obj(dict(e.result), secrets)
        if warnings:
            result["warnings"] = [scrub(w, secrets) for w in warnings]
        raise TaskError(scrub(e.msg, secrets), **result)
    if warnings:
        result["warnings"] = [scrub(w, secrets) for w in warnings]
    if not diff:
        result.pop("diff", None)
    return result


def task_spec():
    """The module's TaskSpec (imported lazily so nothing loads AnsibleModule before it is needed)."""
    from ansible_collections.vmrescue.azure.plugins.module_utils._module import TaskSpec

    return TaskSpec(ARGUMENT_SPEC, run, mutually_exclusive=MUTUALLY_EXCLUSIVE, shared=BatchState)
