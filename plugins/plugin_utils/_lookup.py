# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup base for vmrescue.azure (private: may change without notice).

Auth options, client, warnings and error translation come from ``_azure_plugin.AzurePluginMixin`` (shared with the
inventory plugin): the auth options are read with ``get_option`` (the ``vmrescue.azure.auth.plugins`` doc fragment
declares them with env/vars sources) and handed to the same ``_auth.credential.resolve_auth`` the modules use.

Public names (kept stable):

- ``AzureLookupBase(LookupBase)``: ``self.client(pool_size=10)`` (one ArmClient per lookup call: one
  credential, one connection pool, one pacer shared by the concurrent reads), ``self.handle_missing(term, reason)``
  (applies ``on_missing``: error/warn/skip; returns True when the term is to be skipped), ``_batch.run_ordered(func, items, workers)`` (thread pool,
  results in input order; exceptions are returned, not raised), ``self.read_targets(terms, variables, kwargs,
  read)``: the whole run of a lookup over VM / instance targets (option checks, terms or the by-name options,
  one client, concurrent ``read(client, target)``, errors as ``AnsibleLookupError``); returns
  ``[(term, target, result)]`` in term order.
"""

from __future__ import annotations

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.vmrescue.azure.plugins.module_utils._batch import run_ordered
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._target import (
    TargetError,
    parse_resource_id,
    target_from_params,
)
from ansible_collections.vmrescue.azure.plugins.plugin_utils._azure_plugin import AzurePluginMixin
from ansible_collections.vmrescue.azure.plugins.plugin_utils._worker import redact_task_source


class AzureLookupBase(AzurePluginMixin, LookupBase):
    """Lookup base: the shared auth/client/error handling of ``_azure_plugin.AzurePluginMixin``."""

    ERROR_CLASS = AnsibleLookupError
    _client = None

    def client(self, pool_size=10):
        if self._client is None:
            redact_task_source()  # a failing lookup fails its task: show no source line (inline secret= options)
            self._client = self.azure_client(pool_size=pool_size)
        return self._client

    def handle_missing(self, term, reason):
        """Apply on_missing. Returns True if the caller should skip the term (warn/skip), raises for error."""
        mode = self.get_option('on_missing')
        text = '%s: %s' % (term, reason)
        if mode == 'error':
            raise self.plugin_error(text)
        if mode == 'warn':
            self.warn(text)
        return True

    def read_targets(self, terms, variables, kwargs, read):
        """Run ``read(client, target)`` for every term (or the by-name options) concurrently; see the module doc."""
        self.check_raw_options(kwargs)
        self.set_options(var_options=variables, direct=kwargs)
        targets = []
        try:
            for term in terms or []:
                targets.append((term, parse_resource_id(term, 'term')))
            if not targets:
                params = dict((k, self.get_option(k)) for k in ('resource_group', 'name', 'vmss_name', 'instance_id'))
                t = target_from_params(params)
                targets.append(('%s' % t.display, t))
        except TargetError as exc:
            raise self.plugin_error(exc)

        concurrency = max(1, self.get_option('concurrency'))
        client = self.client(pool_size=min(concurrency, max(1, len(targets))) + 2)
        try:
            resolved = [
                (term, t if t.subscription_id else t.with_subscription(client.subscription_id)) for term, t in targets
            ]
        except VmrescueError as exc:
            raise self.plugin_error(exc)

        # One client for all terms: one token (the credential serialises token requests), one connection pool,
        # and one pacer that spaces the reads by Resource Manager's read bucket.
        results = run_ordered(lambda item: read(client, item[1]), resolved, concurrency)
        out = []
        for (term, target), res in zip(resolved, results):
            if isinstance(res, Exception):  # ArmError, TaskError, AuthError, or a bug: scrubbed
                raise self.plugin_error(res, term=None if res.__class__.__name__ == 'AuthError' else term)
            out.append((term, target, res))
        return out
