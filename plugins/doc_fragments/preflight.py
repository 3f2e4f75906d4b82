# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight option of every module that writes (issue 21), stated once."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  preflight:
    description:
      - Before any write, check what Azure would refuse, and skip those targets with the reason code and the fix
        instead of sending a write Azure refuses. The checks are made once per resource group, when its first
        target is about to be written (or, in check mode, promises a change); a run that writes nothing makes none.
      - "Checks: the caller's permissions for the task's writes (C(Microsoft.Authorization/permissions), per
        resource only where the group does not grant them), management locks (a C(ReadOnly) lock refuses every
        write, C(CanNotDelete) only deletes), Azure Policy on the planned write
        (C(Microsoft.PolicyInsights/checkPolicyRestrictions), one call per distinct body per group; Audit effects
        are warnings), and Resource Health (C(Unavailable) skips, C(Degraded) warns)."
      - "Reason codes: C(scope_locked), C(rbac_missing), C(policy_denied), C(platform_unavailable)
        (docs/docsite/rst/guide_troubleshooting.rst). A target needing no write is reported as it is; in check mode
        a change the preflight refuses is reported as that skip."
      - A check the principal may not make (no right to read locks, policy or health) is reported as unchecked
        with the missing action in the task's C(warnings) and C(preflight); it never blocks and never fails the run.
      - Set C(false) to skip the checks; the writes then report the same reason codes from Azure's errors.
    type: bool
    default: true
"""
