# -*- coding: utf-8 -*-
# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strict checks of the options a lookup or inventory source was given (private: may change without notice).

Why: modules validate their options with an argument spec, where ``maybe`` is not a boolean. Lookup and inventory
options go through ansible-core's ``get_option``, which reads any unknown word as ``false`` for a boolean
(``include_vmss_instances: maybe`` silently left the instances out) and takes any number for an integer. This
checks the values as given, before anything is read from Azure.

Public names: ``raw_option_errors(plugin_type, load_name, raw) -> [str]`` (``self.plugin_type``, ``self._load_name``).
"""

from __future__ import annotations

from ansible_collections.vmrescue.azure.plugins.module_utils._batch import concurrency_error


def raw_option_errors(plugin_type, plugin_name, raw):
    """Messages for the values of ``raw`` (option name -> value as given) that are not what the option's type says.

    Booleans must be real booleans or one of Ansible's boolean words; ``concurrency`` a whole number in range.
    """
    from ansible import constants as C
    from ansible.module_utils.parsing.convert_bool import boolean
    try:
        defs = C.config.get_configuration_definitions(plugin_type, plugin_name) or {}
    except Exception:  # pylint: disable=broad-except
        defs = {}
    errors = []
    for name, value in sorted((raw or {}).items()):
        kind = str((defs.get(name) or {}).get('type') or '')
        if value is None or value == '':
            continue
        if kind in ('bool', 'boolean'):
            try:
                boolean(value, strict=True)
            except TypeError:
                errors.append('%s: %r is not a boolean; use true or false' % (name, value))
        elif name == 'concurrency':
            try:
                number = int(value) if not isinstance(value, bool) and str(value).strip().lstrip('-').isdigit() else value
            except (TypeError, ValueError):
                number = value
            problem = concurrency_error(number)
            if problem:
                errors.append(problem)
    return errors
