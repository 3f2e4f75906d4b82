# -*- coding: utf-8 -*-
# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a VM (or scale-set instance) GET body says about the machine: its OS and its power state (private).

Neutral helpers shared by the extension profiles and the inventory plugin, so neither imports the other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _lower(v):
    return (v or "").lower() if isinstance(v, str) else ""


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
