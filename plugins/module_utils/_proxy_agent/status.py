# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Guest Proxy Agent's status and key health, parsed from a VM's instance view (private: may change without
notice).

Pure: no I/O, no ARM client, no import of another module of this collection, so the modules, the lookups and the
inventory plugin all read the agent the same way from the JSON they already hold. What the status says beyond
the key (endpoint modes, denied callers, stale status) is ``diagnosis``.

Where the formats come from (Azure/GuestProxyAgent, checked at commit 729e2a8; azure-facts.md section 1):

- The agent's extension (type ``Microsoft.CPlat.ProxyAgent.ProxyAgentLinux`` / ``...ProxyAgentWindows``, any name)
  reports three substatuses, named by ``proxy_agent_extension/src/constants.rs``: ``ProxyAgentStatus``,
  ``ProxyAgentConnectionSummary``, ``ProxyAgentFailedAuthenticationSummary`` (and ``EbpfStatus`` on Windows). The
  instance view shows them with codes ``ComponentStatus/<name>/<status>``.
- ``ProxyAgentStatus``: the JSON of ``ProxyAgentStatus`` (``proxy_agent_shared/src/proxy_agent_aggregate_status.rs``):
  ``version``, ``status`` (``SUCCESS`` / ``ERROR`` / ``UNKNOWN``; ``ERROR`` when keyLatchStatus, ebpfProgramStatus
  or proxyListenerStatus is not ``RUNNING``, per ``proxy_agent/src/proxy_agent_status.rs``), ``monitorStatus``,
  ``keyLatchStatus``, ``ebpfProgramStatus``, ``proxyListenerStatus``, ``telemetryLoggerStatus`` (each
  ``{status: RUNNING|STOPPED|UNKNOWN, message, states?}``), ``proxyConnectionsCount``.
- When the agent's status file is older than 5 minutes or unreadable, the three substatuses are
  ``transitioning`` with the same plain-text error message.
- Inferred, not from the agent source: the instance view's ``status`` word in the code (``succeeded`` for the
  agent's ``success``).

Public names (kept stable):

- ``message_family(text)``, ``parse_secure_channel_state(text)``, ``find_extension(instance_view)``,
  ``find_substatus(extension, name)``, ``parse_agent_status(instance_view)``, ``model_settings(model)``,
  ``int_or_none(value)``, ``classify_health(settings, agent, power, record=None, now=None, hold=PENDING_HOLD)``, ``HEALTH_TABLE``,
  ``MESSAGE_FAMILIES``, ``PENDING_HOLD``: the key health (as the key reset decides it); ``reported_at(agent)``
  (the aware UTC time of the agent's status).
"""

from __future__ import annotations

import datetime
import json
import re

PROXY_AGENT_TYPES = ('microsoft.cplat.proxyagent.proxyagentlinux', 'microsoft.cplat.proxyagent.proxyagentwindows')
STATUS_SUBSTATUS = 'ProxyAgentStatus'
CONNECTION_SUBSTATUS = 'ProxyAgentConnectionSummary'
FAILED_AUTH_SUBSTATUS = 'ProxyAgentFailedAuthenticationSummary'
STATUS_SUBSTATUS_PREFIX = 'componentstatus/proxyagentstatus/'

# A reset recorded by this collection, whose guest reports no keyIncarnationId yet, counts as pending this long.
PENDING_HOLD = 1800
# ... unless the guest contradicts it: a key failure reported this long after the recorded write (the guest had its
# key poll, status write and upload: azure-facts.md section 1, ~90 s) is the guest's answer, not "not yet". A record
# dated more than CLOCK_SKEW ahead of now is no record.
GUEST_REPORT_WINDOW = 120
CLOCK_SKEW = 300

# -- message families --------------------------------------------------------------------------------
MESSAGE_FAMILIES = (
    ('ready_local', re.compile(r'^\s*Found key details from local and ready to use', re.I)),
    ('ready_attested', re.compile(r'^\s*Successfully attest(ed)? the key and ready to use', re.I)),
    ('legacy_ok', re.compile(r'^\s*Got key status successfully', re.I)),
    ('not_enforced', re.compile(r'^\s*Customer has not enforced? the secure channel state', re.I)),
    ('key_status_failed', re.compile(r'^\s*Failed to get key status', re.I)),
    ('acquire_failed', re.compile(r'^\s*Failed to acquire key details', re.I)),
    ('save_failed', re.compile(r'^\s*Failed to save key details', re.I)),
    ('local_key_failed', re.compile(r'^\s*Failed to check the key', re.I)),
    ('attest_failed', re.compile(r'^\s*Failed to attest the key', re.I)),
    ('starting', re.compile(r'^\s*(Status unknown|poll secure channel status task started)', re.I)),
    ('stopped', re.compile(r'poll_secure_channel_status task (exited|cancelled|canceled)', re.I)),
)
READY_FAMILIES = ('ready_local', 'ready_attested', 'legacy_ok')
KEY_FAILURE_FAMILIES = ('acquire_failed', 'save_failed', 'local_key_failed', 'attest_failed')

# The documented classification (also in the module DOCUMENTATION).
HEALTH_TABLE = (
    ('VM not running (deallocated, stopped, ...)', 'unknown', 'no'),
    ('no proxy agent extension status in the instance view', 'unknown', 'no'),
    ('agent status stale or unreadable (transitioning, message not JSON)', 'unknown', 'no'),
    ('secureChannelState disabled, or "Customer has not enforce the secure channel state"', 'not_enforced', 'no'),
    (
        'a reset pending, whatever the message says: the latched keyIncarnationId is lower than the model, or the '
        'guest reports none and the vmrescue-key-reset tag records a reset to the model value; not when that record '
        'is more than 30 minutes old, dated in the future, or contradicted by the guest (a key failure reported 2 '
        'minutes or more after it was written)',
        'pending',
        'no (state: reset or force: true write anyway)',
    ),
    (
        '"Failed to acquire key details", "Failed to check the key ... saved locally", "Failed to attest the key", '
        '"Failed to save key details"',
        'unhealthy',
        'yes',
    ),
    ('"Failed to get key status" (the agent cannot reach the host; a reset does not fix this)', 'unknown', 'no'),
    ('"Status unknown." / "poll secure channel status task started." / status UNKNOWN', 'unknown', 'no'),
    ('"poll_secure_channel_status task exited/cancelled" / status STOPPED', 'unknown', 'no'),
    (
        'ready message ("Found key details from local...", "Successfully attest the key...", old agents\' "Got key status '
        'successfully..."), keyGuid present, latched keyIncarnationId equal to the model',
        'healthy',
        'no',
    ),
    ('ready message but no latched keyIncarnationId while the model is > 0', 'pending', 'no'),
    ('anything else', 'unknown', 'no'),
)


def message_family(message):
    """Name of the keyLatchStatus.message family (see MESSAGE_FAMILIES), or 'other'."""
    text = message if isinstance(message, str) else ''
    for name, rx in MESSAGE_FAMILIES:
        if rx.search(text):
            return name
    return 'other'


_SCS_RE = re.compile(r'WireServer\s+(\w+)\s*-\s*IMDS\s+(\w+)(?:\s*-\s*HostGA\s+(\w+))?', re.I)


def parse_secure_channel_state(text):
    """Parse secureChannelState. Returns {'raw', 'wireserver', 'imds', 'hostga', 'in_use'}.

    Forms: 'WireServer Enforce -  IMDS Audit - HostGA Disabled' (two spaces before IMDS, HostGA since 1.0.28;
    any spacing accepted), host schema 1.0 lower-case 'wireserver' / 'wireserverandimds', 'disabled', 'Unknown'.
    ``in_use``: True when some endpoint enforces or audits (a key is in use), False when all are disabled,
    None when unknown.
    """
    out = {'raw': text, 'wireserver': None, 'imds': None, 'hostga': None, 'in_use': None}
    if not text or not isinstance(text, str):
        return out
    t = text.strip()
    m = _SCS_RE.search(t)
    if m:
        out['wireserver'] = m.group(1).capitalize()
        out['imds'] = m.group(2).capitalize()
        if m.group(3):
            out['hostga'] = m.group(3).capitalize()
        modes = [v for v in (out['wireserver'], out['imds'], out['hostga']) if v]
        out['in_use'] = any(v in ('Enforce', 'Audit') for v in modes)
        return out
    low = t.lower()
    if low == 'disabled':
        out.update(wireserver='Disabled', imds='Disabled', in_use=False)
    elif low == 'wireserver':
        out.update(wireserver='Enforce', imds='Disabled', in_use=True)
    elif low == 'wireserverandimds':
        out.update(wireserver='Enforce', imds='Enforce', in_use=True)
    return out


_LEGACY_RE = re.compile(r'keyGuid:\s*([^,\s]*)\s*,.*?secureChannelState:\s*(.*?)\s*,\s*version:', re.I | re.S)


def legacy_fields(message):
    """(keyGuid, secureChannelState) from an old agent's 'Got key status successfully: ...' message."""
    m = _LEGACY_RE.search(message or '')
    if not m:
        return None, None
    guid = m.group(1) or None
    if guid and guid.lower() in ('none', 'null', ''):
        guid = None
    return guid, m.group(2)


def _text(value):
    """A guest-reported scalar as text (numbers too); None for anything else (lists, objects, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def find_extension(instance_view):
    """The instance view's proxy agent extension entry (matched by type, whatever its name), or None."""
    for ext in (instance_view or {}).get('extensions') or []:
        etype = str(ext.get('type', '')).lower()
        if (
            etype in PROXY_AGENT_TYPES
            or etype.endswith('.proxyagentlinux')
            or etype.endswith('.proxyagentwindows')
            or etype in ('proxyagentlinux', 'proxyagentwindows')
        ):
            return ext
    return None


def find_substatus(ext, name):
    """The substatus ``name`` (e.g. STATUS_SUBSTATUS) of the agent's extension entry, or None."""
    prefix = 'componentstatus/%s/' % name.lower()
    for s in (ext or {}).get('substatuses') or []:
        if str(s.get('code', '')).lower().startswith(prefix):
            return s
    return None


def _json_object(message):
    if isinstance(message, str) and message.strip().startswith('{'):
        try:
            parsed = json.loads(message)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _detail(value):
    """A ProxyAgentDetailStatus as {'status', 'message'} (None when absent)."""
    if not isinstance(value, dict):
        return None
    return dict(status=value.get('status'), message=value.get('message'))


def _no_agent_status():
    """parse_agent_status' answer before anything is found (every key present)."""
    return dict(
        present=False,
        extension_name=None,
        extension_type=None,
        substatus_code=None,
        substatus_level=None,
        json=False,
        raw_message=None,
        agent_version=None,
        agent_status=None,
        key_latch_status=None,
        time=None,
        stale=False,
        components={},
        connections_count=None,
    )


def _key_latch_status(kls):
    """The agent's keyLatchStatus as {status, message, states}, None when it is not an object."""
    if not isinstance(kls, dict):
        return None
    # The guest writes this: take only the shapes the agent documents (strings; states a map of strings), so a
    # list or a number where a string belongs reads as unknown instead of breaking the classification.
    states = kls.get('states')
    states = (
        dict((str(key), _text(val)) for key, val in states.items() if _text(val) is not None)
        if isinstance(states, dict)
        else {}
    )
    return dict(status=_text(kls.get('status')), message=_text(kls.get('message')), states=states)


def _status_fields(parsed):
    """What parse_agent_status takes from the ProxyAgentStatus JSON object ``parsed``."""
    return dict(
        agent_version=parsed.get('version'),
        agent_status=parsed.get('status'),
        key_latch_status=_key_latch_status(parsed.get('keyLatchStatus')),
        components=dict(
            monitor=_detail(parsed.get('monitorStatus')),
            ebpf=_detail(parsed.get('ebpfProgramStatus')),
            listener=_detail(parsed.get('proxyListenerStatus')),
            telemetry=_detail(parsed.get('telemetryLoggerStatus')),
        ),
        connections_count=parsed.get('proxyConnectionsCount'),
    )


def parse_agent_status(instance_view):
    """Extract the Guest Proxy Agent's status from an instance view.

    Returns a dict: present (extension found), extension_name, extension_type, substatus_code, substatus_level,
    json (message parsed as JSON), raw_message (the message when it is not JSON), agent_version, agent_status,
    key_latch_status ({status, message, states} or None), time (of the extension status), stale (bool),
    components ({monitor, ebpf, listener, telemetry: {status, message} or None}), connections_count.
    """
    out = _no_agent_status()
    ext = find_extension(instance_view)
    if ext is None:
        return out
    out.update(present=True, extension_name=ext.get('name'), extension_type=ext.get('type'))
    statuses = ext.get('statuses') or []
    if statuses:
        out['time'] = statuses[0].get('time')
    sub = find_substatus(ext, STATUS_SUBSTATUS)
    if sub is None:
        return out
    out['substatus_code'] = sub.get('code')
    out['substatus_level'] = sub.get('level')
    message = sub.get('message')
    parsed = _json_object(message)
    if parsed is None:
        out['raw_message'] = message
        out['stale'] = True
        return out
    out['json'] = True
    out.update(_status_fields(parsed))
    if str(out['substatus_code']).lower().endswith('/transitioning'):
        out['stale'] = True
    return out


def int_or_none(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def model_settings(model):
    """properties.securityProfile.proxyAgentSettings of a VM or instance model ({} when absent)."""
    props = (model or {}).get('properties') or {}
    return ((props.get('securityProfile') or {}).get('proxyAgentSettings')) or {}


def _pending(model_id, latched, record, now, hold=PENDING_HOLD):
    """(pending since (str or None), reason) when a reset is pending, else None. See HEALTH_TABLE.

    A record of the model's value written ``hold`` seconds ago or more ends the pending state (the guest had its
    time: ``stuck.key_health`` then calls it stuck); without a record, a model above the latched key is pending
    since an unknown time (a first observation dates it: ``stuck``).
    """
    since = record['written_at'] if record and record['key_incarnation_id'] == model_id else None
    age = (now - record['time']).total_seconds() if since is not None else None
    if age is not None and age >= hold:
        return None
    if latched is not None and latched < model_id:
        return since, (
            'the model keyIncarnationId is %d but the guest holds %d: a reset has not reached the guest '
            'yet' % (model_id, latched)
        )
    if latched is None and since is not None:
        return since, (
            'keyIncarnationId %d was written at %s (%ds ago) and the guest reports no '
            'keyIncarnationId yet: the reset has not reached the guest' % (model_id, since, max(0, age))
        )
    return None


def _key_fields(settings, agent, power):
    """The ``health`` dict before its verdict: what the model and the agent's keyLatchStatus say about the key."""
    kls = agent.get('key_latch_status') if agent else None
    states = (kls or {}).get('states') or {}
    message = (kls or {}).get('message') or ''
    family = message_family(message) if kls else None
    scs_text = states.get('secureChannelState')
    guid = states.get('keyGuid') or None
    if family == 'legacy_ok':
        lg, ls = legacy_fields(message)
        guid = guid or lg
        scs_text = scs_text or ls
    return dict(
        verdict='unknown',
        reset_needed=False,
        reason='',
        message_family=family,
        power_state=power,
        secure_channel=parse_secure_channel_state(scs_text),
        key_guid=guid,
        latched_key_incarnation_id=int_or_none(states.get('keyIncarnationId')),
        model_key_incarnation_id=int_or_none((settings or {}).get('keyIncarnationId')) or 0,
        latch_status=(kls or {}).get('status'),
        pending_since=None,
    )


def _no_key_status(agent, kls, power):
    """(verdict, reason) when there is no fresh keyLatchStatus to judge (HEALTH_TABLE's first rows), else None."""
    if power and power != 'running':
        return 'unknown', 'the VM is %s: the guest reports no fresh key status' % power
    if not agent or not agent.get('present'):
        return 'unknown', 'no Guest Proxy Agent extension status in the instance view'
    if agent.get('substatus_code') is None:
        return 'unknown', 'the proxy agent extension reports no ProxyAgentStatus substatus'
    if not agent.get('json'):
        return (
            'unknown',
            'the agent status is stale or unreadable (not JSON): %s' % str(agent.get('raw_message') or '')[:200],
        )
    if agent.get('stale'):
        return 'unknown', 'the agent status is transitioning (stale)'
    if kls is None:
        return 'unknown', 'the agent status has no keyLatchStatus'
    return None


def _ready_verdict(h):
    """(verdict, reason) for a ready message: the latched key against the model's keyIncarnationId."""
    guid, latched, model_id = h['key_guid'], h['latched_key_incarnation_id'], h['model_key_incarnation_id']
    if not guid:
        return 'unknown', 'the agent reports ready but no keyGuid'
    if latched is None:
        if model_id == 0 or h['message_family'] == 'legacy_ok':
            return 'healthy', 'key %s latched and ready' % guid
        return (
            'pending',
            'the model keyIncarnationId is %d but the latched key carries none: a reset '
            'has not reached the guest yet' % model_id,
        )
    if latched == model_id:
        return 'healthy', 'key %s (keyIncarnationId %d) latched and ready' % (guid, latched)
    if latched < model_id:
        return (
            'unknown',
            'the guest still holds keyIncarnationId %d, below the model value %d, long '
            'after the recorded reset' % (latched, model_id),
        )
    return 'unknown', 'the guest holds keyIncarnationId %d, above the model value %d' % (latched, model_id)


def _message_verdict(h, kls):
    """(verdict, reason) from the keyLatchStatus message family and status (no reset pending)."""
    family, message = h['message_family'], kls.get('message') or ''
    if family in KEY_FAILURE_FAMILIES:
        return 'unhealthy', 'the guest cannot use its key: %s' % message[:300]
    if family == 'key_status_failed':
        return (
            'unknown',
            'the agent cannot get the key status from the host (a key reset does not fix this): %s' % message[:300],
        )
    status = str(kls.get('status') or '').upper()
    if family == 'stopped' or status == 'STOPPED':
        return 'unknown', "the agent's key poll loop is not running (status %s)" % (status or family)
    if family == 'starting' or status == 'UNKNOWN':
        return 'unknown', 'the agent is starting or has not polled the key yet'
    if family in READY_FAMILIES:
        return _ready_verdict(h)
    return 'unknown', 'unrecognised keyLatchStatus message: %s' % message[:200]


def _latched_verdict(h, kls, record, now, hold=PENDING_HOLD):
    """(verdict, reason) for a fresh keyLatchStatus ``kls``; sets ``h['pending_since']`` when a reset is pending."""
    scs, message = h['secure_channel'], kls.get('message') or ''
    if h['message_family'] == 'not_enforced' or scs['in_use'] is False:
        return 'not_enforced', 'the secure channel is not enforced (%s): no key is in use' % (scs['raw'] or message)
    # old agents' "Got key status successfully" never carries keyIncarnationId: only the model says pending there
    pending = _pending(
        h['model_key_incarnation_id'],
        h['latched_key_incarnation_id'],
        record if h['message_family'] != 'legacy_ok' else None,
        now or datetime.datetime.now(datetime.UTC),
        hold,
    )
    if pending is not None:
        h['pending_since'] = pending[0]
        return 'pending', pending[1]
    return _message_verdict(h, kls)


def reported_at(agent):
    """The aware UTC time of the agent's status (the extension status' ``time``), or None."""
    text = str((agent or {}).get('time') or '')[:19]
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def _contradiction(record, h, agent, now):
    """Why the guest (or the clock) contradicts the recorded reset ``record``, or None: pending is the guest's word,
    not the tag's alone."""
    if record is None or record['key_incarnation_id'] != h['model_key_incarnation_id']:
        return None
    if (record['time'] - now).total_seconds() > CLOCK_SKEW:
        return 'the recorded reset is dated %s, in the future' % record['written_at']
    reported = reported_at(agent)
    if h['message_family'] not in KEY_FAILURE_FAMILIES or reported is None:
        return None
    after = (reported - record['time']).total_seconds()
    if after < GUEST_REPORT_WINDOW:
        return None
    return 'the guest reports a key failure %ds after the recorded reset to keyIncarnationId %d' % (
        after,
        record['key_incarnation_id'],
    )


def classify_health(settings, agent, power, record=None, now=None, hold=PENDING_HOLD):
    """Classify the latched key (see HEALTH_TABLE). Returns a dict returned to users as ``health``.

    ``settings``: the model's proxyAgentSettings; ``agent``: parse_agent_status(); ``power``: the power state;
    ``record``: the key reset this collection recorded in the resource's tags (``key_record.parse_record``);
    ``now``: aware UTC datetime; ``hold``: how long a recorded reset counts as pending. A pending verdict carries
    ``pending_since`` (the recorded write time, or None); a record the guest contradicts is set aside
    (``record_contradicted``: why). The rules are tried in HEALTH_TABLE's order: no fresh status, not enforced, a
    reset pending, the message. ``stuck.key_health`` adds the verdict ``stuck`` on top.
    """
    h = _key_fields(settings, agent, power)
    kls = agent.get('key_latch_status') if agent else None
    now = now or datetime.datetime.now(datetime.UTC)
    contradicted = _contradiction(record, h, agent, now)
    if contradicted:
        h['record_contradicted'], record = contradicted, None
    verdict, reason = _no_key_status(agent, kls, power) or _latched_verdict(h, kls, record, now, hold)
    h.update(verdict=verdict, reason=reason, reset_needed=verdict == 'unhealthy')
    return h
