# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM-extension family (private): one engine and the handler profiles that run on it.

Files (callers import each name from its file; this package re-exports nothing):

* ``errors.py``: ``ExtensionError`` (a refused request), ``ExtensionFailure`` (the task fails);
* ``fingerprint.py``: the salted scrypt fingerprint recorded in ``forceUpdateTag`` (``fingerprint``,
  ``fingerprint_matches``, ``canonical_config``, ``FingerprintCache``);
* ``status.py``: reading what ARM returns about an extension (``handler_status``, ``last_run_succeeded``, ...);
* ``gates.py``: the skips before any write from the VM read (``ExtensionSkip``, ``check_write``);
* ``profile.py``: what a profile is (``Handler``, ``ExtensionPlan``) and the no_log mask (``MASK``);
* ``engine.py``: ``ExtensionRunner`` (read, decide, write, wait for the handler), ``BatchState``, ``run_task``,
  ``task_spec``;
* ``linux.py``: the VMAccessForLinux profile (``LINUX``, ``validate``, ``build_settings``, ``task_spec``);
* ``linux_key.py``: its ``ssh_key`` option (a controller file or the key text; what the handler accepts);
* ``windows.py``: the VMAccessAgent profile (``WINDOWS``, ``validate``, ``task_spec``);
* ``sshkey.py``: the pure OpenSSH public key reader.

A new extension module is a profile file here plus a thin module and action.
"""
