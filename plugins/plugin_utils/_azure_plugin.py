# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lookup and inventory plugins share (private: may change without notice).

Both read the auth options of the ``vmrescue.azure.auth.plugins`` doc fragment with ``get_option``, turn them into
an ``_auth.credential.AuthContext`` and one ``_arm_client.ArmClient``, show the auth warnings (certificate
validation off, ...), and turn the collection's errors (``_errors.VmrescueError``) into the plugin type's Ansible error, with every secret
option value scrubbed from the message.

Public names (kept stable):

- ``AzurePluginMixin``: set ``ERROR_CLASS`` (``AnsibleLookupError``, ``AnsibleParserError``) and
  ``ERROR_PREFIX``; ``auth_options()``, ``auth_context(env=None)``, ``azure_client(pool_size=10, env=None)``,
  ``plugin_error(exc_or_text, term=None)`` -> the Ansible error to raise (scrubbed), ``secrets()``,
  ``check_raw_options(raw, where=None)`` (strict option values, see ``_options``), ``warn(text)``.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.utils.display import Display

from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import ArmClient
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.credential import resolve_auth
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import auth_setup_error
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTION_NAMES, SECRET_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, scrub
from ansible_collections.vmrescue.azure.plugins.plugin_utils._options import raw_option_errors
from ansible_collections.vmrescue.azure.plugins.plugin_utils._worker import release_inherited_display_lock

display = Display()


class AzurePluginMixin:
    """Auth options -> AuthContext -> ArmClient, warnings and error translation for lookups and inventories."""

    ERROR_CLASS = AnsibleError
    ERROR_PREFIX = ''

    _raw_secrets = ()

    def auth_options(self):
        out = {}
        for name in AUTH_OPTION_NAMES:
            try:
                out[name] = self.get_option(name)
            except KeyError:
                out[name] = None
        return out

    def secrets(self):
        """The secret option values given to this plugin (scrubbed from every message it raises or shows)."""
        try:
            opts = self.auth_options()
        except Exception:  # pylint: disable=broad-except  # options not set yet
            opts = {}
        found = [opts.get(k) for k in SECRET_OPTIONS if isinstance(opts.get(k), str) and opts.get(k)]
        return found + [s for s in self._raw_secrets if s not in found]

    def warn(self, text):
        display.warning(scrub(text, self.secrets()))

    def plugin_error(self, exc, term=None):
        """The Ansible error (``ERROR_CLASS``) for a collection error or a text: prefixed, scrubbed."""
        text = exc.msg if isinstance(exc, VmrescueError) else str(exc)
        if isinstance(exc, Exception) and not isinstance(exc, VmrescueError):
            text = '%s: %s' % (exc.__class__.__name__, exc)
        if term is not None:
            text = '%s: %s' % (term, text)
        return self.ERROR_CLASS(scrub(self.ERROR_PREFIX + text, self.secrets()))

    def check_raw_options(self, raw, where=None):
        """Refuse option values that are not what the option's type says (before set_options coerces them)."""
        self._raw_secrets = tuple(v for k, v in (raw or {}).items() if k in SECRET_OPTIONS and isinstance(v, str) and v)
        problems = raw_option_errors(self.plugin_type, self._load_name, raw)
        if problems:
            raise self.plugin_error('; '.join(problems) + (' (in %s)' % where if where else ''))

    def auth_context(self, env=None):
        try:
            auth = resolve_auth(self.auth_options(), env=env)
        except VmrescueError as exc:
            raise self.plugin_error(exc)
        except (ValueError, TypeError) as exc:  # azure-identity refuses an option value (an invalid tenant, ...)
            raise self.plugin_error(auth_setup_error(exc))
        for warning in auth.warnings:
            self.warn(warning)
        return auth

    def azure_client(self, pool_size=10, env=None):
        """One ArmClient (one credential, one connection pool, one pacer) for this plugin's reads."""
        release_inherited_display_lock()  # the reads run on threads (see its docstring)
        return ArmClient(self.auth_context(env=env), pool_size=pool_size)
