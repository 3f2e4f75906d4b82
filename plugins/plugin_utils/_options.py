# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strict checks of the options a lookup or inventory source was given (private: may change without notice).

Why: modules validate their options with an argument spec, where ``maybe`` is not a boolean. Lookup and inventory
options go through ansible-core's ``get_option``, which reads any unknown word as ``false`` for a boolean
(``include_vmss_instances: maybe`` silently left the instances out) and takes any number for an integer. This
checks the values as given, before anything is read from Azure.

The same holds for module options in an action plugin: ansible-core's argument spec turns ``password: ['a', X]``
into the string "['a', 'X']" and ``key_incarnation_id: true`` into 1. ``raw_arg_errors`` checks the task's raw
arguments against the module's argument spec first, so such values are refused, naming the option, and are never
echoed (the value may be a secret).

Public names: ``raw_option_errors(plugin_type, load_name, raw) -> [str]`` (``self.plugin_type``, ``self._load_name``);
``raw_arg_errors(argument_spec, args) -> [str]``.
"""

from __future__ import annotations

import re

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
                number = (
                    int(value) if not isinstance(value, bool) and str(value).strip().lstrip('-').isdigit() else value
                )
            except (TypeError, ValueError):
                number = value
            problem = concurrency_error(number)
            if problem:
                errors.append(problem)
        else:
            problem = _type_problem(_CONFIG_KINDS.get(kind), value)
            if problem:
                errors.append('%s %s' % (name, problem))
    return errors


# ansible-core's config type names -> the argument spec names _type_problem knows
_CONFIG_KINDS = {
    'str': 'str',
    'string': 'str',
    'path': 'path',
    'tmppath': 'path',
    'pathspec': 'list',
    'int': 'int',
    'integer': 'int',
    'list': 'list',
    'dict': 'dict',
    'dictionary': 'dict',
}


_INT_TEXT = re.compile(r'^\s*[-+]?\d+\s*$')


def _kind(value):
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'a number'
    if isinstance(value, float):
        return 'a decimal number'
    if isinstance(value, dict):
        return 'a dictionary'
    if isinstance(value, (list, tuple, set)):
        return 'a list'
    if isinstance(value, str):
        return 'a string'
    return 'a %s' % type(value).__name__


def _type_problem(kind, value):
    """Why ``value`` (as written in the task, after templating) is not of option type ``kind``; None when it is."""
    if value is None:
        return None
    if kind in ('str', 'path'):
        if isinstance(value, str):
            return None
        hint = (
            ' (quote it: a YAML number such as 1.10 would lose digits)'
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else ''
        )
        return 'must be a string, got %s%s' % (_kind(value), hint)
    if kind == 'int':
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and _INT_TEXT.match(value):
            return None
        return 'must be a whole number, got %s' % _kind(value)
    if kind == 'bool':
        if isinstance(value, (bool, str)) or (isinstance(value, int) and value in (0, 1)):
            return None  # words are checked strictly by the argument spec (``maybe`` is refused there)
        return 'must be true or false, got %s' % _kind(value)
    if kind == 'list':
        if isinstance(value, (list, str)):
            return None
        return 'must be a list, got %s' % _kind(value)
    if kind == 'dict':
        if isinstance(value, (dict, str)):
            return None
        return 'must be a dictionary, got %s' % _kind(value)
    return None


# String options whose values are whole numbers by nature (a scale-set instance ID): a number is taken as its text.
NUMBER_AS_TEXT = ('instance_id',)


def raw_arg_errors(argument_spec, args):
    """Messages for task arguments whose raw value is not of the option's type (before any coercion).

    Strings only where strings are meant: a list, dictionary, number or boolean given for a ``str`` option is
    refused instead of being turned into its text (a password ``['a', X]`` was set as "['a', 'X']"). List
    elements of type ``str`` are checked too. The messages name the option and never contain the value.
    """
    errors = []
    for name, value in sorted((args or {}).items(), key=lambda kv: str(kv[0])):
        spec = (argument_spec or {}).get(name)
        if not spec:
            continue
        kind = spec.get('type') or 'str'
        if not isinstance(kind, str):
            continue
        if name in NUMBER_AS_TEXT and isinstance(value, int) and not isinstance(value, bool):
            continue
        problem = _type_problem(kind, value)
        if problem:
            errors.append('%s %s' % (name, problem))
            continue
        elements = spec.get('elements')
        if kind == 'list' and isinstance(value, list) and elements in ('str', 'path', 'int', 'bool', 'dict'):
            for index, item in enumerate(value):
                problem = _type_problem(elements, item)
                if problem:
                    errors.append('%s[%d] %s' % (name, index, problem))
                    break
    return errors
