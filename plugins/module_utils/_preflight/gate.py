# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight gate: once per scope, before its first write, what Azure would refuse (private: may change).

``Gate(client, plan)`` is one task's gate; ``gate.verdict(target)`` is a target's ``LazyVerdict``. Nothing is read
until a target of a resource group is about to be written (its client calls ``guard`` before the write; in check mode
the runner asks when a result promises a change; ``recovery_preflight`` asks for every target): then the group's
checks are made once, for every target of the group (``checks``: permissions, locks, Resource Health, and Azure
Policy once per distinct planned content), concurrently; a permission the group does not grant is asked again per
resource, for that target only. So a run that writes nothing (an all-done re-run) costs no preflight call, and a
fleet costs four calls per resource group, not per VM.

The verdict applies at the target's first write: a target that needs no write is reported as it is, lock or not;
a target that would be written is skipped with the reason code and the fix instead of being refused by Azure; in
check mode the runner turns a promised change the verdict refuses into the same skip (``check_mode_skip``).

Reason codes (docs/docsite/rst/guide_troubleshooting.rst): ``scope_locked``, ``rbac_missing``, ``policy_denied``,
``platform_unavailable``. Audit-effect policies and a Degraded Resource Health are warnings; unchecked reads are
reported (``Summary``) and never block. A read that raised an unexpected error (a bug) leaves that scope unchecked.

Public names (kept stable): ``Gate(client, plan, concurrency=4)`` (``.verdict(target) -> LazyVerdict``,
``.summary() -> Summary``); ``LazyVerdict`` (``.blocks(method)``, ``.guard(method, path)``, ``.as_dict()``,
``.check_mode_skip(result)``, ``.skip_result(code, msg, fields)``); ``PreflightSkip`` (a ``VmrescueError``:
``reason_code``, ``result``); ``Summary`` (``.as_dict()``, ``.warnings()``).
"""

from __future__ import annotations

import json
import threading

from ansible_collections.vmrescue.azure.plugins.module_utils._batch import run_ordered
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import (
    Check,
    allowed,
    check_policy,
    read_health,
    read_locks,
    read_permissions,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.verdicts import (
    ALL_WRITES,
    Verdict,
    verdict_for,
)

__all__ = ['Gate', 'LazyVerdict', 'PreflightSkip', 'Summary']


class PreflightSkip(VmrescueError):
    """A write the preflight knows Azure would refuse: the target is skipped (``reason_code``, ``result``)."""


class Summary:
    """What the preflight of one task read: scopes, calls, and the checks it could not make."""

    def __init__(self):
        self.scopes = 0
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

    def absorb(self, other):
        """Add what another process's gate read (its ``as_dict()``: a share of the batch, ``_shards``)."""
        self.scopes += int(other.get('scopes') or 0)
        self.calls += int(other.get('calls') or 0)
        self.unchecked.extend(other.get('unchecked') or ())
        for note in other.get('audit_policies') or ():
            if note not in self.audits:
                self.audits.append(note)

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


def _safe(name, scope, read):
    """``read()``, or an unchecked Check when it raised something unexpected (a bug must not cost the run)."""
    try:
        return read()
    except Exception as exc:  # pylint: disable=broad-except
        return Check(name, 'unchecked', scope=scope, why='the check failed: %s: %s' % (exc.__class__.__name__, exc))


class Gate:
    """One task's preflight: scope checks made once, when first needed, shared by the scope's targets."""

    def __init__(self, client, plan, concurrency=4):
        self.client = client
        self.plan = plan
        self.concurrency = max(1, min(int(concurrency or 1), 4))
        self.lock = threading.Lock()
        self.scope_locks = {}
        self.found = {}  # lower scope -> {check name | ('policy', content key): Check}
        self.stats = Summary()

    def verdict(self, target):
        return LazyVerdict(self, target)

    def summary(self):
        return self.stats

    def _scope_lock(self, key):
        with self.lock:
            return self.scope_locks.setdefault(key, threading.Lock())

    def _record(self, checks):
        with self.lock:
            for check in checks:
                self.stats.add(check)

    def _group_checks(self, target):
        """The checks of the target's resource group (made now when no target of the group needed them yet)."""
        scope = target.resource_group_id
        key = scope.lower()
        content = self.plan.probe(target)
        policy_key = ('policy', json.dumps(content, sort_keys=True)) if content is not None else None
        with self._scope_lock(key):
            found = self.found.get(key)
            reads = []
            if found is None:
                found = self.found[key] = {}
                client = self.client
                reads = [
                    ('permissions', lambda: read_permissions(client, scope)),
                    ('locks', lambda: read_locks(client, scope)),
                    ('health', lambda: read_health(client, scope)),
                ]
                with self.lock:
                    self.stats.scopes += 1
            if policy_key is not None and policy_key not in found:
                reads.append((policy_key, lambda: check_policy(self.client, scope, content)))
            if reads:
                done = run_ordered(
                    lambda item: _safe(item[0] if isinstance(item[0], str) else 'policy', scope, item[1]),
                    reads,
                    self.concurrency,
                )
                for (name, _read), check in zip(reads, done):
                    found[name] = check
                self._record(done)
            return dict(found), (found.get(policy_key) if policy_key is not None else None)

    def evaluate(self, target):
        """The target's Verdict (its group's checks, made once; per resource permissions where the group lacks)."""
        checks, policy = self._group_checks(target)
        perms = checks['permissions']
        resource = None
        if perms.status == 'passed' and not all(allowed(perms.data, a) for a in self.plan.actions(target)):
            resource = _safe('permissions', target.id, lambda: read_permissions(self.client, target.id))
            self._record([resource])
        return verdict_for(target, self.plan, checks, policy, resource, PreflightSkip)


class LazyVerdict:
    """A target's verdict, evaluated the first time it is needed (a write, a promised change, a question)."""

    def __init__(self, gate, target):
        self.gate = gate
        self.target = target
        self._verdict = None
        self._lock = threading.Lock()

    def resolve(self) -> Verdict:
        with self._lock:
            if self._verdict is None:
                self._verdict = self.gate.evaluate(self.target)
            return self._verdict

    @property
    def evaluated(self):
        return self._verdict is not None

    def blocks(self, method):
        return self.resolve().blocks(method)

    def guard(self, method, path):
        """Called by the target's client before each request: evaluates and applies the verdict to a write."""
        if method.upper() in ALL_WRITES:
            self.resolve().guard(method, path)

    def skip_result(self, code, msg, fields):
        return dict(self.resolve().skip_result(code, msg, fields), preflight=self.as_dict())

    def check_mode_skip(self, result):
        """In check mode: the skip result for a promised change the verdict refuses, else None."""
        if not result.get('changed') or result.get('failed'):
            return None
        out = self.resolve().check_mode_skip(result, self.gate.plan)
        return dict(out, preflight=self.as_dict()) if out is not None else None

    def as_dict(self):
        if self._verdict is None:
            return dict(evaluated=False, checks={}, refused=None, warnings=[], unchecked=[])
        return dict(self._verdict.as_dict(), evaluated=True)
