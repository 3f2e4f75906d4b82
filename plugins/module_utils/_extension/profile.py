# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What an extension handler profile is, and the request it makes (private; no network).

A *handler profile* (``Handler``) says what is specific to one extension handler: its identity (publisher, type,
default version, the name the Azure CLI gives it), its options and their validation, the payload
(``ExtensionPlan``: public and protected settings) and which protected keys are secrets. ``engine.py`` runs it.

Public names: ``Handler``, ``ExtensionPlan(handler, params, settings, protected)`` (``canonical``, ``secrets``,
``matches(ext, cache)``, ``body(location, tag)``, ``shown(name)``), ``MASK``, ``mask_protected(protected,
secret_keys)``.
"""

import copy

from ansible_collections.vmrescue.azure.plugins.module_utils._extension.fingerprint import canonical_config
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.status import is_extension
from ansible_collections.vmrescue.azure.plugins.module_utils._fingerprint import fingerprint_matches
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import extension_delete, extension_write

# What Ansible itself prints for a no_log value; used wherever a password would otherwise appear.
MASK = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


def mask_protected(protected, secret_keys):
    """A copy of protectedSettings safe to show: the values of ``secret_keys`` replaced by the no_log mask."""
    out = {}
    for k, v in (protected or {}).items():
        out[k] = MASK if k in secret_keys else v
    return out


class Handler:
    """One extension handler. Subclasses set the identity and implement ``validate`` and ``plan``."""

    publisher = None
    type = None
    default_type_handler_version = None
    # The name the Azure CLI and the portal use (azure-cli vm/custom.py: _ACCESS_EXT_HANDLER_NAME = 'enablevmaccess').
    default_extension_name = 'enablevmaccess'
    module = None  # the module name, for messages
    os = None  # 'linux' or 'windows': the OS the handler runs on
    secret_params = ('password',)  # options whose values are secrets
    secret_keys = ('password',)  # protectedSettings keys whose values are secrets

    @property
    def label(self):
        return self.type

    def write_plan(self, params):
        """What the task writes, for the preflight (``_preflight.plans``): the extension PUT, or its DELETE."""
        if (params.get('state') or 'present') == 'absent':
            return extension_delete('removal of the %s extension' % self.label)
        version = params.get('type_handler_version') or self.default_type_handler_version
        return extension_write('%s extension' % self.label, self.publisher, self.type, version)

    def is_own(self, ext):
        return is_extension(ext, self.publisher, self.type)

    def validate(self, params):  # pragma: no cover - abstract
        """Raise ExtensionError (option names in the message); return a list of warnings. No network."""
        raise NotImplementedError

    def plan(self, params, base_dir=None):  # pragma: no cover - abstract
        """The ExtensionPlan for ``params`` (already validated); may read controller files (base_dir)."""
        raise NotImplementedError

    def wrong_os_message(self, display):  # pragma: no cover - abstract
        raise NotImplementedError

    def present_warnings(self, display, extensions, plan):
        """Warnings to give before the handler runs, from the VM's other extensions."""
        return []


class ExtensionPlan:
    """What to send for one target: settings, protected settings, fingerprint input. No network."""

    def __init__(self, handler, params, settings, protected):
        self.handler = handler
        self.params = params
        self.settings, self.protected = settings, protected
        self.type_handler_version = params.get('type_handler_version') or handler.default_type_handler_version
        auto = params.get('auto_upgrade_minor_version')
        self.auto_upgrade_minor_version = True if auto is None else bool(auto)
        fp = params.get('fingerprint_password')
        self.include_password = True if fp is None else bool(fp)
        self.canonical = canonical_config(
            handler.publisher,
            handler.type,
            self.settings,
            self.protected,
            self.type_handler_version,
            self.auto_upgrade_minor_version,
            self.include_password,
            handler.secret_keys,
        )
        self.secrets = [self.protected[k] for k in handler.secret_keys if self.protected.get(k)]

    def properties(self, settings, protected, force_update_tag=None):
        props = {
            'publisher': self.handler.publisher,
            'type': self.handler.type,
            'typeHandlerVersion': self.type_handler_version,
            'autoUpgradeMinorVersion': bool(self.auto_upgrade_minor_version),
            'settings': settings,
            'protectedSettings': protected,
        }
        if force_update_tag is not None:
            props['forceUpdateTag'] = force_update_tag
        return props

    def matches(self, existing_ext, cache=None):
        tag = ((existing_ext or {}).get('properties') or {}).get('forceUpdateTag')
        return fingerprint_matches(tag, self.canonical, cache)

    def body(self, location, force_update_tag):
        props = self.properties(self.settings, self.protected, force_update_tag)
        if location:
            return {'location': location, 'properties': props}
        return {'properties': props}

    def shown(self, name=None):
        """What would be sent, secrets masked: for diff and return values."""
        props = self.properties(copy.deepcopy(self.settings), mask_protected(self.protected, self.handler.secret_keys))
        if name:
            props = dict(name=name, **props)
        return props
