# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Resource Manager answers, as the collection names it (private: not a public API, may change without notice).

The api-version every request uses and the errors every domain raises and catches. The client that sends the
requests is ``_arm_client.ArmClient``: a domain is handed a client and only needs the names here.

Public names (kept stable):

- ``API_VERSION``: Microsoft.Compute api-version used by the collection (has keyIncarnationId and the
  host endpoint settings).
- ``ArmError(VmrescueError)``: ``status`` (HTTP status or None), ``code``, ``message``, ``target``,
  ``resource_id``, ``action`` and ``scope`` (for 403 AuthorizationFailed: the missing permission), ``details``,
  ``additional_info``, ``locked_scopes`` (409 ScopeLocked: the locked scopes its message names), ``policies``
  (403 RequestDisallowedByPolicy: the assignments and definitions that denied it), ``accepted`` (True: Azure took
  the write and its long-running operation failed afterwards); ``from_body(status, body, ...)`` (an ARM error
  body); ``describe()`` -> one clear message (with what to do for a refusal that cannot pass on retry);
  ``as_dict()`` -> JSON-safe dict for results; ``result_fields()`` -> the result keys of this error
  (``arm_error``, ``locked_scope``, ``policy_violations``); ``is_not_found``, ``is_conflict``; ``reason_code``
  (``arm_reason_code(status, code, message)``).
- ``can_succeed_later(err)``: the one classification of refused writes: True only for a race the same write,
  decided again, can win (412 PreconditionFailed; 409 "another operation is in progress", Conflict,
  OperationPreempted, RetryableError); ``is_final(err)``: a 409 that can never pass on retry (ScopeLocked, a
  resource or group being deleted, OperationNotAllowed for any other reason: VM not running,
  allowExtensionOperations false, ...).
- ``TaskError(msg, **result)``: a failure with a final user-facing message and extra result keys.
- ``journal_entry(method, path, status, headers=None, code=None, now=None)``: one call as the run report keeps it
  (path without query, status, ``request_id`` / ``correlation_id`` from Azure's headers, error code, UTC time);
  ``token_claims(authorization)``: the claims of a bearer token (read, not verified: who made the calls).
"""

from __future__ import annotations

import base64
import json
import re
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError, scrub_obj

API_VERSION = '2024-11-01'

_ACTION_RE = re.compile(r"perform action '([^']+)'(?: over scope '([^']+)')?", re.I)
# 409 ScopeLocked: "The scope '...' cannot perform write operation because following scope(s) are locked: '...'.
# Please remove the lock and try again." (Resource Manager; docs/azure-facts.md section 7)
_LOCKED_RE = re.compile(r'are locked:\s*(.+?)(?:\.\s*Please|\.?\s*$)', re.I | re.S)
_QUOTED_RE = re.compile(r"'([^']+)'")
# 403 RequestDisallowedByPolicy, the message form: "... Policy identifiers: '[{"policyAssignment":{...}, ...}]'."
_POLICY_IDS_RE = re.compile(r"Policy identifiers:\s*'(\[.*\])'", re.S)

# 409s that are races: the same write, decided again on a fresh read, can pass once the other operation is done.
RETRYABLE_CONFLICT_CODES = ('conflict', 'operationpreempted', 'retryableerror')
# Words of a 409 that says the resource (or its group) is going away: no retry can pass.
_DELETING_WORDS = ('marked for deletion', 'being deleted', 'deprovisioning state', 'beingdeleted')
_BUSY_WORDS = ('another operation', 'in progress')
# The reason code of a 409 that says what refused it (the others are 'conflict').
_CONFLICT_REASONS = {
    'locked': 'scope_locked',
    'extensions_disabled': 'extensions_disabled',
    'not_running': 'not_running',
}


class ArmError(VmrescueError):
    """A failed Resource Manager request, an LRO that failed, or a sign-in failure.

    ``msg`` is ``describe()``; ``to_result()`` adds ``result_fields()`` (``arm_error``, and for a lock or a policy
    what refused the write) and the ``reason_code`` of the error (``arm_reason_code``).
    """

    def __init__(
        self,
        message,
        status=None,
        code=None,
        target=None,
        resource_id=None,
        details=None,
        action=None,
        scope=None,
        request_id=None,
        additional_info=None,
    ):
        super().__init__(message)
        self.message = message or ''
        self.status = status
        self.code = code
        self.target = target
        self.resource_id = resource_id
        self.details = details or []
        self.additional_info = additional_info or []
        self.action = action
        self.scope = scope
        self.request_id = request_id
        self.accepted = False  # True when Azure accepted the write and the long-running operation failed
        if self.action is None and self.message:
            m = _ACTION_RE.search(self.message)
            if m:
                self.action = m.group(1)
                self.scope = self.scope or m.group(2)
        self.locked_scopes = locked_scopes(self.message) if (code or '').lower() == 'scopelocked' else []
        self.policies = policy_violations(self.message, self.additional_info, self.details)

    @classmethod
    def from_body(cls, status, body, resource_id=None, headers=None, default_message=None):
        """Build from an ARM error body ``{"error": {...}}`` (or an LRO status body)."""
        err = None
        if isinstance(body, dict):
            err = body.get('error') if isinstance(body.get('error'), dict) else None
            if err is None and 'code' in body and 'message' in body:
                err = body
        err = err or {}
        request_id = None
        if headers is not None:
            request_id = headers.get('x-ms-correlation-request-id') or headers.get('x-ms-request-id')
        message = err.get('message') or default_message or ('HTTP %s' % status if status else 'request failed')
        return cls(
            message,
            status=status,
            code=err.get('code'),
            target=err.get('target'),
            resource_id=resource_id,
            details=err.get('details') or [],
            request_id=request_id,
            additional_info=err.get('additionalInfo') or [],
        )

    @property
    def is_not_found(self):
        return self.status == 404

    @property
    def refused(self):
        """Resource Manager answered the request itself with a 4xx: it was not carried out (a 5xx or no answer
        leaves that unknown; a write accepted whose operation failed is ``accepted``)."""
        return not self.accepted and isinstance(self.status, int) and 400 <= self.status < 500

    @property
    def is_conflict(self):
        return self.status in (409, 412)

    def describe(self):
        """One message: ARM code (HTTP status), the resource, what went wrong, and what to do: for 403 the missing
        action or the denying policy, for a lock the locked scope."""
        head = self.code or 'Error'
        if self.status:
            head += ' (HTTP %s)' % self.status
        where = (' on %s' % self.resource_id) if self.resource_id else ''
        parts = ['%s%s: %s' % (head, where, self.message.rstrip())]
        fix = self._fix()
        if fix:
            parts.append(fix)
        if self.target and self.target not in self.message:
            parts.append('Target: %s.' % self.target)
        codes = []
        for d in self.details:
            if isinstance(d, dict) and d.get('code'):
                text = d['code']
                if d.get('message') and d['message'] not in self.message:
                    text += ': ' + str(d['message'])[:300]
                codes.append(text)
        if codes:
            parts.append('Details: %s.' % '; '.join(codes))
        return ' '.join(parts)

    def _fix(self):
        """What the operator does about a refusal that no retry can pass ('' for the others)."""
        reason = self.reason_code
        if reason == 'rbac_missing' and self.action:
            return (
                "The credential lacks permission for action '%s'%s; grant a role that includes it "
                '(for example Virtual Machine Contributor).'
                % (self.action, (" on scope '%s'" % self.scope) if self.scope else '')
            )
        if reason == 'scope_locked':
            return (
                'Locked scope: %s. A ReadOnly lock refuses every write below it and retrying cannot help: remove the '
                'lock for the time of the recovery (or make it CanNotDelete), or run where no lock applies.'
                % (', '.join("'%s'" % s for s in self.locked_scopes) or 'not named in the error')
            )
        if reason == 'policy_denied':
            named = '; '.join(_policy_text(p) for p in self.policies) or 'not named in the error'
            return (
                'Denied by Azure Policy: %s. Retrying cannot help: ask for a policy exemption for this resource, or '
                'for the assignment to exclude it.' % named
            )
        if reason == 'extensions_disabled':
            return (
                'Extension operations are turned off on this VM (osProfile.allowExtensionOperations: false): no '
                'extension can run on it. Turn them on if your organisation allows it, or recover without an '
                'extension (serial console, offline disk repair).'
            )
        return ''

    def as_dict(self):
        out = dict(
            status=self.status,
            code=self.code,
            message=self.message,
            target=self.target,
            resource_id=self.resource_id,
            action=self.action,
            request_id=self.request_id,
        )
        if self.scope:
            out['scope'] = self.scope
        return out

    def result_fields(self):
        """The result keys of this error: ``arm_error``, ``locked_scope`` (409 ScopeLocked: the first locked
        scope, ``locked_scopes`` when there are more), ``policy_violations`` (403 RequestDisallowedByPolicy)."""
        out = dict(arm_error=self.as_dict())
        if self.locked_scopes:
            out['locked_scope'] = self.locked_scopes[0]
            if len(self.locked_scopes) > 1:
                out['locked_scopes'] = list(self.locked_scopes)
        if self.policies:
            out['policy_violations'] = [dict(p) for p in self.policies]
        return out

    @property
    def msg(self):
        return self.describe()

    @msg.setter
    def msg(self, value):
        self.message = value or ''

    @property
    def reason_code(self):
        return arm_reason_code(self.status, self.code, self.message)

    def to_result(self, secrets=()):
        """The failed result of this error: ``msg``, ``outcome``, ``result_fields()`` and ``id``, scrubbed."""
        out = super().to_result(secrets)
        out.update(scrub_obj(self.result_fields(), secrets))
        return out

    def __str__(self):
        return self.describe()


def locked_scopes(message):
    """The locked scopes a 409 ScopeLocked message names (in its order), or []."""
    m = _LOCKED_RE.search(message or '')
    if not m:
        return []
    return [s.strip() for s in _QUOTED_RE.findall(m.group(1)) if s.strip()]


# Azure's PolicyViolation ``info`` keys -> the collection's names (result field ``policy_violations``)
_POLICY_INFO_KEYS = (
    ('policyAssignmentName', 'assignment_name'),
    ('policyAssignmentId', 'assignment_id'),
    ('policyAssignmentDisplayName', 'assignment_display_name'),
    ('policyDefinitionName', 'definition_name'),
    ('policyDefinitionId', 'definition_id'),
    ('policyDefinitionDisplayName', 'definition_display_name'),
    ('policySetDefinitionName', 'set_definition_name'),
    ('policySetDefinitionId', 'set_definition_id'),
    ('policyDefinitionEffect', 'effect'),
)


def _policy_from_info(info):
    out = dict((name, str(info[key])) for key, name in _POLICY_INFO_KEYS if info.get(key))
    return out or None


def _policy_from_identifier(entry):
    """One entry of the message's "Policy identifiers: '[...]'" JSON."""
    out = {}
    for key, prefix in (
        ('policyAssignment', 'assignment'),
        ('policyDefinition', 'definition'),
        ('policySetDefinition', 'set_definition'),
    ):
        part = entry.get(key) if isinstance(entry.get(key), dict) else {}
        for field in ('name', 'id'):
            if part.get(field):
                out['%s_%s' % (prefix, field)] = str(part[field])
    return out or None


def policy_violations(message, additional_info=(), details=()):
    """The policy assignments and definitions that denied a request: from ``additionalInfo`` entries of type
    PolicyViolation (the error's own, then its details'), else from the message's "Policy identifiers" JSON."""
    infos = list(additional_info or [])
    for d in details or ():
        if isinstance(d, dict):
            infos.extend(d.get('additionalInfo') or [])
    found = []
    for item in infos:
        if isinstance(item, dict) and str(item.get('type', '')).lower() == 'policyviolation':
            policy = _policy_from_info(item.get('info') if isinstance(item.get('info'), dict) else {})
            if policy and policy not in found:
                found.append(policy)
    if found:
        return found
    m = _POLICY_IDS_RE.search(message or '')
    if not m:
        return []
    try:
        entries = json.loads(m.group(1))
    except ValueError:
        return []
    for entry in entries if isinstance(entries, list) else ():
        policy = _policy_from_identifier(entry) if isinstance(entry, dict) else None
        if policy and policy not in found:
            found.append(policy)
    return found


def _policy_text(policy):
    assignment = policy.get('assignment_display_name') or policy.get('assignment_name') or '?'
    definition = policy.get('definition_display_name') or policy.get('definition_name') or '?'
    text = "assignment '%s'" % assignment
    if policy.get('assignment_id'):
        text += ' (%s)' % policy['assignment_id']
    text += ", definition '%s'" % definition
    if policy.get('definition_id'):
        text += ' (%s)' % policy['definition_id']
    return text


def _conflict_kind(status, code, message):
    """What a 409 (or a 412) says: 'race' (412), 'locked', 'deleting', 'extensions_disabled', 'not_running',
    'busy' (another operation: the one retryable 409) or 'refused' (any other 409: final). None for other statuses."""
    code, text = (code or '').lower(), (message or '').lower()
    if status == 412:
        return 'race'
    if status != 409:
        return None
    if code == 'scopelocked':
        return 'locked'
    if any(w in code or w in text for w in _DELETING_WORDS):
        return 'deleting'
    if 'allowextensionoperations' in text:
        return 'extensions_disabled'
    if 'not running' in text:
        return 'not_running'
    if code in RETRYABLE_CONFLICT_CODES or any(w in text for w in _BUSY_WORDS):
        return 'busy'
    return 'refused'


def can_succeed_later(err):
    """True when the same write, decided again on a fresh read, can pass later: a 412 (another writer changed the
    resource since the read) or a 409 for another operation in progress (OperationNotAllowed "... another operation
    is in progress", Conflict, OperationPreempted, RetryableError). False for everything else, and for a write Azure
    accepted whose operation failed afterwards. The one place that says which refused writes are retried."""
    if getattr(err, 'accepted', False):
        return False
    kind = _conflict_kind(getattr(err, 'status', None), getattr(err, 'code', None), getattr(err, 'message', ''))
    return kind in ('race', 'busy')


def is_final(err):
    """A 409 no retry can pass: ScopeLocked, a resource or group being deleted, OperationNotAllowed for anything
    but another operation in progress (VM not running, allowExtensionOperations false, ...)."""
    return getattr(err, 'status', None) == 409 and not can_succeed_later(err)


def arm_reason_code(status, code, message=''):
    """The outcome reason_code of an ARM status/code (and message: a 409's words say which refusal it is)."""
    low = (code or '').lower()
    if status == 429 or 'toomanyrequests' in low or 'throttl' in low:
        return 'throttled'
    if status == 401 or low in ('authenticationfailed', 'invalidauthenticationtoken', 'expiredauthenticationtoken'):
        return 'auth_failed'
    if low == 'requestdisallowedbypolicy':
        return 'policy_denied'
    if 'authorizationfailed' in low:  # AuthorizationFailed, LinkedAuthorizationFailed: one action is missing
        return 'rbac_missing'
    if status == 403:
        return 'forbidden'
    if status == 404 or low in ('resourcenotfound', 'notfound', 'resourcegroupnotfound'):
        return 'not_found'
    kind = _conflict_kind(status, code, message)
    if kind in _CONFLICT_REASONS:
        return _CONFLICT_REASONS[kind]
    if kind is not None or 'conflict' in low:
        return 'conflict'
    if low == 'vmagentstatuscommunicationerror':
        return 'agent_not_ready'
    if status in (408, 504) or 'timeout' in low or 'timedout' in low:
        return 'timeout'
    if low == 'connectionerror':
        return 'connection_error'
    if low.startswith('provisioningstate') or low in ('operationfailed', 'operationcanceled'):
        return 'provisioning_failed'
    return 'arm_error'


class TaskError(VmrescueError):
    """A failure a plugin reports as-is: ``msg`` (already clear), extra result keys (``result``) and
    ``reason_code`` (keyword, for the outcome; default ``error``)."""


def journal_entry(method, path, status, headers=None, code=None, now=None):
    """One entry of a target's journal: the call (path without its query), its status and Azure's IDs of it."""
    headers = headers or {}
    return dict(
        method=method,
        path=path.split('?', 1)[0],
        status=status,
        request_id=headers.get('x-ms-request-id'),
        correlation_id=headers.get('x-ms-correlation-request-id'),
        error_code=code,
        at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),
    )


def token_claims(authorization):
    """The claims of the bearer token in an ``Authorization`` header value (not verified: only read to say who
    made the calls), or {}."""
    try:
        payload = str(authorization).split(' ', 1)[1].split('.')[1]
        return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return {}
