# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential and cloud resolution (private: not a public API, may change without notice).

One code path for modules, action plugins and lookups: callers pass a plain dict of the auth options
(``AUTH_OPTIONS`` keys; ``None`` when unset), whether they come from ``module.params`` or a plugin's
``get_option``, and an environment mapping. Environment variables are read here (not through argspec
fallbacks) so every caller resolves them identically. Import from the files (nothing is re-exported here):

- ``options.py``: ``AUTH_OPTIONS`` (argspec; secrets ``no_log``), ``AUTH_OPTION_NAMES``, ``SECRET_OPTIONS``,
  ``SOURCE_ORDER_DOC``, ``is_guid``, ``check_tenant``/``check_client_id``/``check_certificate``.
- ``cloud.py``: ``Cloud``, ``resolve_cloud(value, verify=True, allow_http=False)``, ``metadata_url``,
  ``security_warnings(options, env=None)``, ``CERT_IGNORE_WARNING``.
- ``credential.py``: ``resolve_auth(options, env=None) -> AuthContext`` (the credential chain of
  ``SOURCE_ORDER_DOC``), ``AuthContext``, ``read_credentials_profile``.
- ``tokens.py``: ``SerializedCredential`` (one token request at a time), ``private_cache_dir()`` and the shared
  persistent token cache, ``TRANSIENT_HOLD_SECONDS``.
- ``errors.py``: ``AuthError``, ``auth_setup_error``, ``TransientSignInError``, ``transient_sign_in_error``,
  ``ENTRA_RETRY``.

Imports go options/cloud/tokens -> errors, credential -> all of them. azure.identity, azure.core and cryptography
are imported lazily, inside the functions that need them (start-up time: most runs never build a credential of
every kind).
"""
