# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest Proxy Agent (Metadata Security Protocol) status and diagnostics, parsed from a VM's instance view
(private: may change without notice).

Pure: no I/O, no ARM client, no import of another module of this collection, so the modules, the lookups and the
inventory plugin all read the agent the same way from the JSON they already hold.

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
- The two summaries: a JSON list of ``ProxyConnectionSummary`` ``{userName, ip, port, processCmdLine,
  responseStatus, count, userGroups?, processFullPath?}`` (the 100 / 50 most frequent), or the plain text
  ``proxy connection summary is empty`` / ``proxy failed auth summary is empty``, or, when both are too large, the
  text ``Substatus of proxy agent connection message ... dropping connection summary``.
  The connection summary holds every proxied call with its HTTP status (a caller blocked under Enforce:
  ``403 Forbidden``); the failed-authentication summary holds every call the rules did not authorize, in Audit
  (the call then goes on) and in Enforce (it is blocked) alike (``proxy_agent/src/proxy/proxy_server.rs``).
- When the agent's status file is older than 5 minutes or unreadable, the three substatuses are
  ``transitioning`` with the same plain-text error message.
- Endpoint of a summary entry, from its destination: ``168.63.129.16:80`` WireServer, ``168.63.129.16:32526``
  HostGAPlugin (HostGA, which follows the WireServer setting), ``169.254.169.254:80`` IMDS (the agent's
  constants; the mapping itself is this module's reading, not a field the agent writes).
- Inferred, not from the agent source: the instance view's ``status`` word in the code (``succeeded`` for the
  agent's ``success``), and the default mode ``Audit`` of an endpoint whose model names neither a mode nor a
  rules profile (see ``model_modes``).

Public names (kept stable):

- ``message_family(text)``, ``parse_secure_channel_state(text)``, ``find_extension(instance_view)``,
  ``parse_agent_status(instance_view)``, ``model_settings(model)``, ``classify_health(settings, agent, power,
  record=None, now=None)``, ``HEALTH_TABLE``, ``MESSAGE_FAMILIES``, ``PENDING_HOLD``: the key health (as the key
  reset decides it).
- ``parse_summary(text)``, ``endpoint_of(ip, port)``, ``model_modes(settings)``, ``denied_callers(instance_view,
  modes=None)``, ``diagnose(model, instance_view, power, os_type, record=None, now=None,
  stale_after=STALE_AFTER)`` -> dict, ``compact(diagnosis)`` -> the inventory's ``proxy_agent_health``.
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
# An agent status older than this (the extension status' time) is stale. The agent itself calls its status file
# stale after 5 minutes (MAX_TIME_BEFORE_STALE_STATUS_SECS); the status then travels through the guest agent
# (a few minutes more), so 15 minutes leaves room for that path.
STALE_AFTER = 900

ENDPOINTS = ('wireserver', 'imds', 'hostga')
ENDPOINT_NAMES = {'wireserver': 'WireServer', 'imds': 'IMDS', 'hostga': 'HostGA'}
MODES = ('Enforce', 'Audit', 'Disabled')

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
        'is more than 30 minutes old',
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


def _substatus(ext, name):
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


def parse_agent_status(instance_view):
    """Extract the Guest Proxy Agent's status from an instance view.

    Returns a dict: present (extension found), extension_name, extension_type, substatus_code, substatus_level,
    json (message parsed as JSON), raw_message (the message when it is not JSON), agent_version, agent_status,
    key_latch_status ({status, message, states} or None), time (of the extension status), stale (bool),
    components ({monitor, ebpf, listener, telemetry: {status, message} or None}), connections_count.
    """
    out = dict(
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
    ext = find_extension(instance_view)
    if ext is None:
        return out
    out.update(present=True, extension_name=ext.get('name'), extension_type=ext.get('type'))
    statuses = ext.get('statuses') or []
    if statuses:
        out['time'] = statuses[0].get('time')
    sub = _substatus(ext, STATUS_SUBSTATUS)
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
    out['agent_version'] = parsed.get('version')
    out['agent_status'] = parsed.get('status')
    kls = parsed.get('keyLatchStatus')
    if isinstance(kls, dict):
        # The guest writes this: take only the shapes the agent documents (strings; states a map of strings), so a
        # list or a number where a string belongs reads as unknown instead of breaking the classification.
        states = kls.get('states')
        states = (
            dict((str(key), _text(val)) for key, val in states.items() if _text(val) is not None)
            if isinstance(states, dict)
            else {}
        )
        out['key_latch_status'] = dict(
            status=_text(kls.get('status')), message=_text(kls.get('message')), states=states
        )
    out['components'] = dict(
        monitor=_detail(parsed.get('monitorStatus')),
        ebpf=_detail(parsed.get('ebpfProgramStatus')),
        listener=_detail(parsed.get('proxyListenerStatus')),
        telemetry=_detail(parsed.get('telemetryLoggerStatus')),
    )
    out['connections_count'] = parsed.get('proxyConnectionsCount')
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


def _pending(model_id, latched, record, now):
    """(pending since (str or None), reason) when a reset is pending, else None. See HEALTH_TABLE.

    A record of the model's value written more than PENDING_HOLD ago ends the pending state (the guest had its
    time); without a record, a model above the latched key is pending since an unknown time.
    """
    since = record['written_at'] if record and record['key_incarnation_id'] == model_id else None
    age = (now - record['time']).total_seconds() if since is not None else None
    if age is not None and age >= PENDING_HOLD:
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


def classify_health(settings, agent, power, record=None, now=None):
    """Classify the latched key (see HEALTH_TABLE). Returns a dict returned to users as ``health``.

    ``settings``: the model's proxyAgentSettings; ``agent``: parse_agent_status(); ``power``: the power state;
    ``record``: the key reset this collection recorded in the resource's tags (``_proxy_agent.parse_record``);
    ``now``: aware UTC datetime. A pending verdict carries ``pending_since`` (the recorded write time, or None).
    """
    model_id = int_or_none((settings or {}).get('keyIncarnationId')) or 0
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
    scs = parse_secure_channel_state(scs_text)
    latched = int_or_none(states.get('keyIncarnationId'))
    h = dict(
        verdict='unknown',
        reset_needed=False,
        reason='',
        message_family=family,
        power_state=power,
        secure_channel=scs,
        key_guid=guid,
        latched_key_incarnation_id=latched,
        model_key_incarnation_id=model_id,
        latch_status=(kls or {}).get('status'),
        pending_since=None,
    )

    def verdict(v, reason):
        h['verdict'] = v
        h['reason'] = reason
        h['reset_needed'] = v == 'unhealthy'
        return h

    if power and power != 'running':
        return verdict('unknown', 'the VM is %s: the guest reports no fresh key status' % power)
    if not agent or not agent.get('present'):
        return verdict('unknown', 'no Guest Proxy Agent extension status in the instance view')
    if agent.get('substatus_code') is None:
        return verdict('unknown', 'the proxy agent extension reports no ProxyAgentStatus substatus')
    if not agent.get('json'):
        return verdict(
            'unknown',
            'the agent status is stale or unreadable (not JSON): %s' % str(agent.get('raw_message') or '')[:200],
        )
    if agent.get('stale'):
        return verdict('unknown', 'the agent status is transitioning (stale)')
    if kls is None:
        return verdict('unknown', 'the agent status has no keyLatchStatus')
    if family == 'not_enforced' or scs['in_use'] is False:
        return verdict(
            'not_enforced', 'the secure channel is not enforced (%s): no key is in use' % (scs_text or message)
        )
    # old agents' "Got key status successfully" never carries keyIncarnationId: only the model says pending there
    pending = _pending(
        model_id, latched, record if family != 'legacy_ok' else None, now or datetime.datetime.now(datetime.UTC)
    )
    if pending is not None:
        h['pending_since'] = pending[0]
        return verdict('pending', pending[1])
    if family in KEY_FAILURE_FAMILIES:
        return verdict('unhealthy', 'the guest cannot use its key: %s' % message[:300])
    if family == 'key_status_failed':
        return verdict(
            'unknown',
            'the agent cannot get the key status from the host (a key reset does not fix this): %s' % message[:300],
        )
    status = str(kls.get('status') or '').upper()
    if family == 'stopped' or status == 'STOPPED':
        return verdict('unknown', "the agent's key poll loop is not running (status %s)" % (status or family))
    if family == 'starting' or status == 'UNKNOWN':
        return verdict('unknown', 'the agent is starting or has not polled the key yet')
    if family in READY_FAMILIES:
        if not guid:
            return verdict('unknown', 'the agent reports ready but no keyGuid')
        if latched is None:
            if model_id == 0 or family == 'legacy_ok':
                return verdict('healthy', 'key %s latched and ready' % guid)
            return verdict(
                'pending',
                'the model keyIncarnationId is %d but the latched key carries none: a reset '
                'has not reached the guest yet' % model_id,
            )
        if latched == model_id:
            return verdict('healthy', 'key %s (keyIncarnationId %d) latched and ready' % (guid, latched))
        if latched < model_id:
            return verdict(
                'unknown',
                'the guest still holds keyIncarnationId %d, below the model value %d, long '
                'after the recorded reset' % (latched, model_id),
            )
        return verdict('unknown', 'the guest holds keyIncarnationId %d, above the model value %d' % (latched, model_id))
    return verdict('unknown', 'unrecognised keyLatchStatus message: %s' % message[:200])


# -- diagnostics beyond the key ------------------------------------------------------------------------
def parse_summary(text):
    """A connection / failed-authentication summary substatus message -> (entries list, note).

    ``entries``: the JSON list (entries that are not objects dropped), or [] for the agent's "... is empty" text,
    or None when the message is neither (stale, dropped for size, unreadable); ``note`` is then the text.
    """
    if text is None:
        return None, None
    stripped = str(text).strip()
    if stripped.startswith('['):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return None, stripped[:200]
        if isinstance(parsed, list):
            return [e for e in parsed if isinstance(e, dict)], None
        return None, stripped[:200]
    if stripped.lower().endswith('summary is empty'):
        return [], None
    return None, stripped[:200]


def endpoint_of(ip, port):
    """'wireserver' / 'hostga' / 'imds' from a summary entry's destination, or None."""
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = None
    if ip == '168.63.129.16':
        return 'hostga' if port == 32526 else 'wireserver'
    if ip == '169.254.169.254':
        return 'imds'
    return None


def _mode_word(value):
    if not value:
        return None
    word = str(value).capitalize()
    return word if word in MODES else str(value)


def model_modes(settings):
    """The endpoint modes the model asks for: {'wireserver', 'imds', 'hostga'} (None: set by a rules profile).

    ``wireServer.mode`` / ``imds.mode`` (2024-11-01), else the deprecated top-level ``mode``, else (no rules
    profile either) ``Audit``, the platform default (inferred: the simulator and the docs' examples). HostGA follows
    WireServer. All ``Disabled`` when MSP is not enabled.
    """
    settings = settings or {}
    if not settings.get('enabled'):
        return dict(wireserver='Disabled', imds='Disabled', hostga='Disabled')
    out = {}
    for key, field in (('wireserver', 'wireServer'), ('imds', 'imds')):
        endpoint = settings.get(field) or {}
        mode = endpoint.get('mode') if isinstance(endpoint, dict) else None
        if not mode and not (isinstance(endpoint, dict) and endpoint.get('inVMAccessControlProfileReferenceId')):
            mode = settings.get('mode') or 'Audit'
        out[key] = _mode_word(mode)
    out['hostga'] = out['wireserver']
    return out


# A command line can carry a secret (a token in a header, a password option, a SAS signature): the value after
# such a name is masked before a command line is returned or shown.
_SECRET_ARG_RE = re.compile(
    r'((?:--?|\b)(?:password|passwd|pwd|secret|client[-_]?secret|token|access[-_]?token|api[-_]?key|key|sig|'
    r'authorization)\b["\']?(?:\s*[=:]\s*|\s+)(?:bearer\s+|basic\s+)?)'
    r"(\"[^\"]*\"|'[^']*'|\S+)",
    re.I,
)
_BEARER_RE = re.compile(r'\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}', re.I)


def scrub_cmdline(cmdline):
    """``cmdline`` with the values of secret-looking arguments masked (``--password x`` -> ``--password ***``)."""
    if not cmdline:
        return cmdline
    text = _SECRET_ARG_RE.sub(lambda m: m.group(1) + '***', str(cmdline))
    return _BEARER_RE.sub(lambda m: m.group(1) + ' ***', text)


def _caller_key(entry):
    return (
        entry.get('userName'),
        entry.get('processFullPath'),
        entry.get('processCmdLine'),
        entry.get('ip'),
        int_or_none(entry.get('port')),
    )


def action_for(caller):
    """One line an operator can act on for a denied caller (see ``denied_callers``)."""
    endpoint = ENDPOINT_NAMES.get(caller['endpoint'], caller['endpoint'] or 'the endpoint')
    setting = 'imds' if caller['endpoint'] == 'imds' else 'wireServer'
    who = '%s (user %s)' % (caller['process'] or caller['cmdline'] or 'the process', caller['user'] or '?')
    if caller['blocked']:
        return (
            '%s is blocked from %s: allow it with a rule in the inVMAccessControlProfile that %s.'
            'inVMAccessControlProfileReferenceId points at (a new profile version), or switch %s to Audit while '
            'you do (vmrescue.azure.proxy_agent_settings %s_mode: Audit)'
            % (who, endpoint, setting, setting, 'imds' if setting == 'imds' else 'wire_server')
        )
    return (
        '%s is not authorized for %s but allowed while %s audits: add a rule for it to the '
        'inVMAccessControlProfile before switching %s to Enforce' % (who, endpoint, endpoint, setting)
    )


def denied_callers(instance_view, modes=None):
    """The callers the agent did not authorize, merged from both summaries, most frequent first.

    Each: ``endpoint`` ('wireserver' / 'imds' / 'hostga' / None), ``ip``, ``port``, ``user``, ``user_groups``,
    ``process`` (processFullPath), ``cmdline`` (secret-looking argument values masked: ``scrub_cmdline``),
    ``count``, ``response_status``, ``blocked`` (True: the agent blocks
    it, a 403 in the connection summary or its endpoint enforces; False: audited, the call went on), ``mode`` (of
    its endpoint, from ``modes``), ``action`` (one line: what to do). ``modes``: the endpoint modes in effect
    (``parse_secure_channel_state`` or ``model_modes``).
    """
    ext = find_extension(instance_view)
    if ext is None:
        return []
    merged = {}
    conn, _note = parse_summary((_substatus(ext, CONNECTION_SUBSTATUS) or {}).get('message'))
    failed, _note = parse_summary((_substatus(ext, FAILED_AUTH_SUBSTATUS) or {}).get('message'))
    for source, entries in (('failed_authentication_summary', failed or []), ('connection_summary', conn or [])):
        for e in entries:
            forbidden = str(e.get('responseStatus') or '').startswith('403')
            if source == 'connection_summary' and not forbidden:
                continue
            key = _caller_key(e)
            item = merged.get(key)
            if item is None:
                endpoint = endpoint_of(e.get('ip'), e.get('port'))
                item = merged[key] = dict(
                    endpoint=endpoint,
                    ip=e.get('ip'),
                    port=int_or_none(e.get('port')),
                    user=e.get('userName'),
                    user_groups=list(e.get('userGroups') or []),
                    process=e.get('processFullPath'),
                    cmdline=scrub_cmdline(e.get('processCmdLine')),
                    count=0,
                    response_status=e.get('responseStatus'),
                    blocked=False,
                    mode=(modes or {}).get(endpoint) if endpoint else None,
                    sources=[],
                )
            item['count'] = max(item['count'], int_or_none(e.get('count')) or 0)
            item['sources'].append(source)
            if source == 'connection_summary':
                item['blocked'] = True
                item['response_status'] = e.get('responseStatus')
    out = sorted(merged.values(), key=lambda c: (-c['count'], str(c['user']), str(c['process'])))
    for caller in out:
        if caller['mode'] == 'Enforce':
            caller['blocked'] = True
        caller['action'] = action_for(caller)
    return out


def _parse_time(value):
    if not value:
        return None
    text = str(value).strip().replace('Z', '+00:00')
    m = re.match(r'^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?([+-]\d{2}:\d{2})?$', text)
    if not m:
        return None
    when = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S')
    if m.group(3) and m.group(3) not in ('+00:00', '-00:00'):
        sign = 1 if m.group(3)[0] == '+' else -1
        hours, minutes = int(m.group(3)[1:3]), int(m.group(3)[4:6])
        when -= sign * datetime.timedelta(hours=hours, minutes=minutes)
    return when.replace(tzinfo=datetime.UTC)


def _component_problem(name, detail):
    if detail is None:
        return None
    status = str(detail.get('status') or '').upper()
    if status == 'RUNNING':
        return None
    return '%s %s: %s' % (name, status or 'not reported', str(detail.get('message') or '')[:200])


def diagnose(model, instance_view, power, os_type=None, record=None, now=None, stale_after=STALE_AFTER):
    """Everything the instance view says about the agent beyond the key, for one VM / instance.

    ``model``: the VM / instance JSON (for proxyAgentSettings); ``instance_view``; ``power``: its power state;
    ``os_type``: 'Linux' / 'Windows' (``_vm.os_type``); ``record``: the recorded key reset (classify_health);
    ``now``: aware UTC datetime. Returns a dict: enabled, os_type, present, missing (bool), extension_name,
    agent_version, agent_status, components ({ebpf, listener, monitor, telemetry}), unhealthy (bool),
    modes ({wireserver, imds, hostga}), modes_source ('guest' / 'model'), model_modes, denials (denied_callers),
    summaries_note (the connection summary's text when it is not a list), stale (bool), stale_reasons, key
    (classify_health), key_latch_status (parse_agent_status'), problems (one line each).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    settings = model_settings(model)
    enabled = bool(settings.get('enabled'))
    agent = parse_agent_status(instance_view)
    key = classify_health(settings, agent, power, record=record, now=now)
    wanted = model_modes(settings)
    out = dict(
        enabled=enabled,
        os_type=os_type,
        power_state=power,
        present=agent['present'],
        missing=False,
        extension_name=agent['extension_name'],
        agent_version=agent['agent_version'],
        agent_status=agent['agent_status'],
        components=agent['components'],
        unhealthy=False,
        modes=wanted,
        modes_source='model',
        model_modes=wanted,
        denials=[],
        summaries_note=None,
        stale=False,
        stale_reasons=[],
        key=key,
        key_latch_status=agent['key_latch_status'],
        problems=[],
    )
    if not enabled:
        return out
    running = not power or power == 'running'
    if running and not agent['present']:
        out['missing'] = True
        agent_name = 'ProxyAgentWindows' if os_type == 'Windows' else 'ProxyAgentLinux'
        out['problems'].append(
            'MSP is enabled but no %s extension reports a status: the guest has no working proxy agent%s'
            % (
                agent_name,
                ' (install it: addProxyAgentExtension, or az vm update --add-proxy-agent-extension; '
                'kernel 5.15+ and cgroup v2 needed)'
                if os_type != 'Windows'
                else '',
            )
        )
        return out
    if not running or not agent['present']:
        return out
    if agent['stale']:
        out['stale_reasons'].append(
            'transitioning: %s' % str(agent['raw_message'] or 'the agent marks its status transitioning')[:200]
        )
    when = _parse_time(agent['time'])
    if when is not None and (now - when).total_seconds() > stale_after:
        out['stale_reasons'].append('status from %s, %d s old' % (agent['time'], int((now - when).total_seconds())))
    latched, model_id = key['latched_key_incarnation_id'], key['model_key_incarnation_id']
    if latched is not None and latched < model_id and key['verdict'] != 'pending':
        out['stale_reasons'].append(
            "the model keyIncarnationId %d is ahead of the guest's %d long after the reset" % (model_id, latched)
        )
    out['stale'] = bool(out['stale_reasons'])
    if out['stale']:
        out['problems'].append('agent status stale: %s' % '; '.join(out['stale_reasons']))
    if not agent['json']:
        return out
    scs = key['secure_channel']
    if scs.get('wireserver'):
        out['modes'] = dict(wireserver=scs['wireserver'], imds=scs['imds'], hostga=scs['hostga'] or scs['wireserver'])
        out['modes_source'] = 'guest'
    for name, label in (('ebpf', 'eBPF program'), ('listener', 'proxy listener')):
        problem = _component_problem(label, agent['components'].get(name))
        if problem:
            out['unhealthy'] = True
            out['problems'].append(problem)
    if str(agent['agent_status'] or '').upper() == 'ERROR' and not out['unhealthy']:
        out['problems'].append('the agent reports status ERROR')
    out['denials'] = denied_callers(instance_view, out['modes'])
    ext = find_extension(instance_view)
    _entries, note = parse_summary((_substatus(ext, CONNECTION_SUBSTATUS) or {}).get('message'))
    out['summaries_note'] = note
    for caller in out['denials']:
        out['problems'].append(
            '%s %s %s x%d'
            % (
                'blocked' if caller['blocked'] else 'audited',
                ENDPOINT_NAMES.get(caller['endpoint'], '?'),
                caller['process'] or caller['cmdline'],
                caller['count'],
            )
        )
    return out


def compact(diagnosis):
    """The inventory's ``proxy_agent_health`` host var: the diagnosis without the key detail and the full callers."""
    d = diagnosis
    return dict(
        enabled=d['enabled'],
        present=d['present'],
        missing=d['missing'],
        agent_version=d['agent_version'],
        agent_status=d['agent_status'],
        ebpf=(d['components'].get('ebpf') or {}).get('status'),
        listener=(d['components'].get('listener') or {}).get('status'),
        unhealthy=d['unhealthy'],
        modes=d['modes'],
        modes_source=d['modes_source'],
        denials=len(d['denials']),
        blocked=sum(1 for c in d['denials'] if c['blocked']),
        denied_callers=[
            '%s %s (%s) x%d'
            % (ENDPOINT_NAMES.get(c['endpoint'], '?'), c['process'] or c['cmdline'], c['user'], c['count'])
            for c in d['denials'][:5]
        ],
        stale=d['stale'],
        stale_reasons=d['stale_reasons'],
        problems=d['problems'],
    )
