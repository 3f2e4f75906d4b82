"""Small shared helpers."""

import copy
import datetime


def iso_now():
    """ARM-style UTC timestamp with 7 fractional digits, e.g. 2024-05-01T10:00:00.1234567+00:00."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime('%Y-%m-%dT%H:%M:%S.%f') + '0+00:00'


def deep_merge(target, patch):
    """Merge ``patch`` into ``target`` in place: dicts recursively, everything else replaced, None skipped."""
    for key, value in patch.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def dig(data, *keys, default=None):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def find_key(data, name):
    """Case-insensitive dict lookup (ARM JSON property names are case-insensitive on input)."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        if key.lower() == name.lower():
            return value
    return None
