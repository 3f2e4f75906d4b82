# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight gate: once per scope, before any write, what Azure would refuse (private: may change without notice).

``run(client, plan, targets, concurrency)`` groups the targets by resource group and makes, per group, the reads of
``checks`` (permissions, locks, Resource Health, and Azure Policy once per distinct planned content), concurrently;
a permission the group does not grant is asked again per resource, for those targets only. Each target gets a
``Verdict``: what would refuse a write to it, or nothing.

A verdict is applied at the target's first write, not before its run: the runner binds it to the target's client
(``ArmClient.bound(journal, gate=verdict.guard)``), so a target that needs no write (a key already latched, an
extension already applied) is reported as it is, lock or not, and a target that would be written is skipped with
the reason code and the fix instead of being refused by Azure. In check mode the runner turns a promised change
the verdict refuses into the same skip (``check_mode_skip``).

Reason codes (docs/docsite/rst/guide_troubleshooting.rst): ``scope_locked``, ``rbac_missing``, ``policy_denied``,
``platform_unavailable``. Audit-effect policies and a Degraded Resource Health are warnings; unchecked reads are
reported (``Summary``) and never block.

Public names (kept stable): ``run(client, plan, targets, concurrency=8) -> (verdicts, Summary)`` (``verdicts`` in
the order of ``targets``); ``Verdict`` (``.blocks(method)``, ``.guard(method, path)``, ``.as_dict()``,
``.check_mode_skip(result, plan)``); ``PreflightSkip`` (a ``VmrescueError``: ``reason_code``, ``result``);
``Summary`` (``.as_dict()``, ``.warnings()``).
"""

from __future__ import annotations

import json

from ansible_collections.vmrescue.azure.plugins.module_utils._batch import run_ordered
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import (
    allowed,
    check_policy,
    read_health,
    read_locks,
    read_permissions,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.verdicts import Verdict, verdict_for

__all__ = ['PreflightSkip', 'Summary', 'Verdict', 'run']


class PreflightSkip(VmrescueError):
    """A write the preflight knows Azure would refuse: the target is skipped (``reason_code``, ``result``)."""


class Summary:
    """What the preflight of one task read: scopes, calls, and the checks it could not make."""

    def __init__(self, scopes):
        self.scopes = scopes
        self.calls = 0
        self.unchecked = []
        self.audits = []

    def add(self, check):
        self.calls += 1
        if check.status == 'unchecked':
            self.unchecked.append(check.as_unchecked())
        elif check.name == 'policy':
            for entry in (check.data or {}).get('audit') or ():
                note = dict(entry, scope=check.scope)
                if note not in self.audits:
                    self.audits.append(note)

    def as_dict(self):
        return dict(scopes=self.scopes, calls=self.calls, unchecked=self.unchecked, audit_policies=self.audits)

    def warnings(self):
        """One line per check the principal could not make (across scopes) and per auditing policy assignment."""
        lines = []
        by_check = {}
        for item in self.unchecked:
            by_check.setdefault((item['check'], item['why']), []).append(item['scope'])
        for (check, why), scopes in sorted(by_check.items()):
            lines.append(
                'preflight: %s not checked in %d scope(s) (%s): not blocking; the write will say if Azure refuses'
                % (check, len(scopes), why)
            )
        for entry in self.audits:
            lines.append(
                "preflight: policy assignment '%s' audits this write in %s (effect %s): it will be recorded as "
                'non-compliant, not refused' % (entry.get('assignment_name'), entry['scope'], entry.get('effect'))
            )
        return lines


def _scope_reads(client, plan, scope, targets):
    """The checks of one scope: permissions, locks, health, and policy per distinct content."""
    reads = [('permissions', lambda: read_permissions(client, scope))]
    reads.append(('locks', lambda: read_locks(client, scope)))
    reads.append(('health', lambda: read_health(client, scope)))
    contents = {}
    for target in targets:
        content = plan.probe(target)
        if content is not None:
            contents.setdefault(json.dumps(content, sort_keys=True), content)
    for key, content in contents.items():
        reads.append((('policy', key), lambda content=content: check_policy(client, scope, content)))
    return reads


def run(client, plan, targets, concurrency=8):
    """The verdict of each target (in order) and the run's Summary (module docstring)."""
    by_scope = {}
    for target in targets:
        by_scope.setdefault(target.resource_group_id.lower(), (target.resource_group_id, []))[1].append(target)
    jobs = []
    for key, (scope, members) in by_scope.items():
        jobs.extend((key,) + read for read in _scope_reads(client, plan, scope, members))
    done = run_ordered(lambda job: job[2](), jobs, concurrency)
    summary = Summary(len(by_scope))
    found = {}
    for (key, name, _call), check in zip(jobs, done):
        if isinstance(check, Exception):
            raise check
        summary.add(check)
        found.setdefault(key, {})[name] = check
    resource_perms = _resource_permissions(client, plan, targets, found, concurrency, summary)
    verdicts = []
    for target in targets:
        checks = found[target.resource_group_id.lower()]
        policy = checks.get(('policy', json.dumps(plan.probe(target), sort_keys=True)))
        verdicts.append(verdict_for(target, plan, checks, policy, resource_perms.get(target.id.lower()), PreflightSkip))
    return verdicts, summary


def _resource_permissions(client, plan, targets, found, concurrency, summary):
    """Per resource, only for targets whose group's permissions lack one of the plan's actions."""
    need = []
    for target in targets:
        perms = found[target.resource_group_id.lower()]['permissions']
        if perms.status == 'passed' and not all(allowed(perms.data, a) for a in plan.actions(target)):
            need.append(target)
    done = run_ordered(lambda t: read_permissions(client, t.id), need, concurrency)
    out = {}
    for target, check in zip(need, done):
        if isinstance(check, Exception):
            raise check
        summary.add(check)
        out[target.id.lower()] = check
    return out
