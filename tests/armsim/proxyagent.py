"""Guest Proxy Agent simulation: the key held by the host, the key latched in the guest, and the
ProxyAgentLinux/ProxyAgentWindows instance-view entry the agent reports (azure-facts.md section 1)."""

import datetime
import json
import uuid

from .util import dig, iso_now

FAULTS = (
    'key_lost',
    'key_mismatch',
    'stale',
    'agent_stopped',
    'no_agent',
    'old_agent',
    'disabled_channel',
    'ebpf_failed',
    'listener_failed',
)
# Faults under which the agent still polls and latches a new key after a reset (the key keeper does not need the
# eBPF redirector or the proxy listener: they are separate tasks of the agent).
RELATCHES = (None, 'key_lost', 'key_mismatch', 'old_agent', 'ebpf_failed', 'listener_failed')
# Faults a successful relatch cures.
CURED_BY_RESET = ('key_lost', 'key_mismatch')

DEFAULT_EXTENSION_NAME = 'AzureProxyAgentExtension'
CURRENT_VERSION = '1.0.47'
OLD_VERSION = '1.0.35'

MSG_FOUND = 'Found key details from local and ready to use. - {ms}'
MSG_ATTESTED = 'Successfully attest the key and ready to use. - {ms}'
# The agent's key_keeper words a lost local key as "Failed to check the key '<guid>' details saved locally: <err>"
# (GuestProxyAgent 1.0.47); the error text after the colon is the OS error reading the key file.
MSG_KEY_LOST = "Failed to check the key '{guid}' details saved locally: No such file or directory (os error 2) - {ms}"
MSG_MISMATCH = (
    "Failed to attest the key: the key '{guid}' saved locally does not match the host key "
    '(http status 401 Unauthorized). - {ms}'
)
MSG_STOPPED = 'poll_secure_channel_status task exited.'
MSG_DISABLED = 'Customer has not enforce the secure channel state. - {ms}'
MSG_OLD = (
    'Got key status successfully: authorizationScheme: Azure-HMAC-SHA256, keyGuid: {guid}, '
    'secureChannelState: wireserverandimds, version: 1.0'
)
# GuestProxyAgent's own texts (proxy_agent/src/redirector/linux.rs, proxy/proxy_server.rs, the extension's
# service_main.rs) for the component failures and for empty summaries.
MSG_EBPF_FAILED = "Failed to load HashMap 'policy_map' with error: Operation not permitted (os error 1)"
MSG_LISTENER_FAILED = "Failed to bind TcpListener '127.0.0.1:3080': Address already in use (os error 98)"
MSG_NO_CONNECTIONS = 'proxy connection summary is empty'
MSG_NO_FAILED_AUTH = 'proxy failed auth summary is empty'
# Where each endpoint listens (the agent's constants): a summary entry's ip/port name its endpoint.
ENDPOINT_ADDRESSES = {
    'wireserver': ('168.63.129.16', 80),
    'imds': ('169.254.169.254', 80),
    'hostga': ('168.63.129.16', 32526),
}
MSG_STALE = (
    'Proxy agent status is stale: the status file was last updated more than 5 minutes ago '
    '({time}). The agent may not be running.'
)


def check_fault(fault):
    if fault in (None, 'none', 'healthy', ''):
        return None
    if fault not in FAULTS:
        raise ValueError(f'unknown proxy agent fault {fault!r}; one of {", ".join(FAULTS)} or none')
    return fault


class AgentState:
    """What the platform holds (host key) and what the guest agent has latched."""

    def __init__(
        self,
        incarnation,
        now,
        fault=None,
        extension_name=None,
        version=None,
        guest_incarnation=None,
        applies_modes=True,
    ):
        self.extension_name = extension_name or DEFAULT_EXTENSION_NAME
        # The endpoint modes the guest enforces: it applies a new model's wireServer/imds settings after its
        # latency (config relatch_seconds, like a new key); a guest with applies_modes false never does.
        self.applies_modes = bool(applies_modes)
        self.applied = {}
        self.version = version
        self.host_incarnation = incarnation
        self.host_guid = str(uuid.uuid4())
        self.guest_incarnation = incarnation
        self.guest_guid = self.host_guid
        self.attested = False
        self.started = now
        self.fault = None
        # Callers the agent's rules do not authorise: [{user, groups?, process, cmdline?, endpoint, count?}]
        # (check_caller); the seconds the reported status lags behind now (a guest agent no longer uploading).
        self.denied_callers = []
        self.status_age = 0
        self.set_fault(fault, guest_incarnation)

    # -- transitions ---------------------------------------------------------------------------------
    def set_fault(self, fault, guest_incarnation=None):
        self.fault = check_fault(fault)
        if self.fault == 'key_lost':
            self.guest_guid = None
            self.guest_incarnation = None
        elif self.fault == 'key_mismatch':
            if guest_incarnation is None:
                guest_incarnation = (
                    self.host_incarnation - 1 if self.host_incarnation > 0 else self.host_incarnation + 1
                )
            self.guest_incarnation = guest_incarnation
            self.guest_guid = str(uuid.uuid4())
        elif self.fault is None and self.guest_guid is None:
            self.guest_guid, self.guest_incarnation = self.host_guid, self.host_incarnation

    def key_reset(self, incarnation):
        """The platform applied a new keyIncarnationId: a new key exists on the host."""
        self.host_incarnation = incarnation
        self.host_guid = str(uuid.uuid4())

    def pending(self):
        return self.guest_guid != self.host_guid or self.guest_incarnation != self.host_incarnation

    def can_relatch(self):
        return self.fault in RELATCHES and self.pending()

    def relatch(self):
        self.guest_guid, self.guest_incarnation = self.host_guid, self.host_incarnation
        self.attested = True
        if self.fault in CURED_BY_RESET:
            self.fault = None

    def apply_modes(self, settings):
        """The guest takes the model's endpoint settings (what secureChannelState and the rule ids report)."""
        self.applied = applied_settings(settings)

    def modes_pending(self, settings):
        return self.applied != applied_settings(settings)

    def can_apply(self, settings):
        return (
            self.applies_modes
            and self.fault not in ('no_agent', 'agent_stopped', 'stale')
            and self.modes_pending(settings)
        )

    def boot(self, now):
        self.started = now
        self.attested = False

    # -- what the guest reports ------------------------------------------------------------------------
    def agent_version(self):
        return self.version or (OLD_VERSION if self.fault == 'old_agent' else CURRENT_VERSION)

    def key_latch_status(self, settings, now):
        settings = self.applied or settings  # what the guest enforces, not the model
        ms = int(max(0.0, now - self.started) * 1000)
        states = {'secureChannelState': _channel_state(settings, self.fault)}
        if self.guest_guid and self.fault != 'disabled_channel':
            states['keyGuid'] = self.guest_guid
            if self.guest_incarnation is not None:
                states['keyIncarnationId'] = str(self.guest_incarnation)
        states.update(_rule_ids(settings))
        status, message = 'RUNNING', (MSG_ATTESTED if self.attested else MSG_FOUND).format(ms=ms)
        if self.fault == 'key_lost':
            message = MSG_KEY_LOST.format(guid=self.host_guid, ms=ms)
        elif self.fault == 'key_mismatch':
            message = MSG_MISMATCH.format(guid=self.guest_guid, ms=ms)
        elif self.fault == 'agent_stopped':
            status, message = 'STOPPED', MSG_STOPPED
        elif self.fault == 'disabled_channel':
            message = MSG_DISABLED.format(ms=ms)
        elif self.fault == 'old_agent':
            message = MSG_OLD.format(guid=self.guest_guid)
        return {'status': status, 'message': message, 'states': states}

    def agent_status(self, settings, now):
        running = {'status': 'RUNNING'}
        ebpf = dict(running, message='Started redirector with eBPF maps - 0')
        listener = dict(running, message='Started proxy listener 127.0.0.1:3080, ready to process requests')
        if self.fault == 'ebpf_failed':
            ebpf = {'status': 'STOPPED', 'message': MSG_EBPF_FAILED}
        elif self.fault == 'listener_failed':
            listener = {'status': 'STOPPED', 'message': MSG_LISTENER_FAILED}
        key = self.key_latch_status(settings, now)
        # The agent's overall status is ERROR when the key keeper, the redirector or the listener is not RUNNING
        # (proxy_agent/src/proxy_agent_status.rs).
        ok = all(c['status'] == 'RUNNING' for c in (key, ebpf, listener))
        return {
            'version': self.agent_version(),
            'status': 'SUCCESS' if ok else 'ERROR',
            'monitorStatus': dict(running, message='Monitor thread started.'),
            'keyLatchStatus': key,
            'ebpfProgramStatus': ebpf,
            'proxyListenerStatus': listener,
            'telemetryLoggerStatus': dict(running, message='Telemetry event logger thread started.'),
            'proxyConnectionsCount': 12,
        }

    def summaries(self, os_type, settings):
        """(connection summary, failed-authentication summary) lists, as the agent keeps them.

        Every proxied call goes into the connection summary with its HTTP status; a call the rules do not
        authorise also goes into the failed-authentication summary (403 Forbidden), in Audit (the call then goes
        on: 200 OK in the connection summary) and in Enforce (blocked: 403 Forbidden there too)
        (proxy_agent/src/proxy/proxy_server.rs). A Disabled endpoint checks nothing (inferred: no entries).
        """
        settings = getattr(self, 'applied', None) or settings  # the modes the guest enforces, when tracked
        connections, failed = [_connection_summary(os_type)], []
        channel = _channel_state(settings, self.fault)
        for caller in self.denied_callers:
            mode = _endpoint_mode(settings, caller['endpoint'], self.fault)
            if mode == 'Disabled' or channel == 'disabled':
                continue
            ip, port = ENDPOINT_ADDRESSES[caller['endpoint']]
            entry = {
                'userName': caller['user'],
                'ip': ip,
                'port': port,
                'processCmdLine': caller.get('cmdline') or caller['process'],
                'responseStatus': '403 Forbidden',
                'count': int(caller.get('count', 1)),
                'userGroups': list(caller.get('groups') or [caller['user']]),
                'processFullPath': caller['process'],
            }
            failed.append(entry)
            connections.append(dict(entry, responseStatus='403 Forbidden' if mode == 'Enforce' else '200 OK'))
        # Sorted by count, ascending, as the extension's get_top_proxy_connection_summary leaves them.
        return sorted(connections, key=lambda e: e['count']), sorted(failed, key=lambda e: e['count'])

    def extension_view(self, os_type, settings, now):
        """The instance-view ``extensions[]`` entry, or None when the agent extension is absent."""
        if self.fault == 'no_agent':
            return None
        handler = 'ProxyAgentWindows' if os_type == 'windows' else 'ProxyAgentLinux'
        if self.fault == 'stale':
            state, display = 'transitioning', 'Transitioning'
            stale = MSG_STALE.format(time=iso_now())
            messages = [stale, stale, stale]
        else:
            state, display = 'succeeded', 'Provisioning succeeded'
            connections, failed = self.summaries(os_type, settings)
            messages = [
                json.dumps(self.agent_status(settings, now), separators=(',', ':')),
                json.dumps(connections, separators=(',', ':')) if connections else MSG_NO_CONNECTIONS,
                json.dumps(failed, separators=(',', ':')) if failed else MSG_NO_FAILED_AUTH,
            ]
        components = ['ProxyAgentStatus', 'ProxyAgentConnectionSummary', 'ProxyAgentFailedAuthenticationSummary']
        substatuses = [
            {'code': f'ComponentStatus/{c}/{state}', 'level': 'Info', 'displayStatus': display, 'message': m}
            for c, m in zip(components, messages)
        ]
        if os_type == 'windows':
            substatuses.append(
                {
                    'code': f'ComponentStatus/EbpfStatus/{state}',
                    'level': 'Info',
                    'displayStatus': display,
                    'message': 'Ebpf Drivers successfully queried.' if state == 'succeeded' else messages[0],
                }
            )
        return {
            'name': self.extension_name,
            'type': f'Microsoft.CPlat.ProxyAgent.{handler}',
            'typeHandlerVersion': self.agent_version(),
            'substatuses': substatuses,
            'statuses': [
                {
                    'code': f'ProvisioningState/{state}',
                    'level': 'Info',
                    'displayStatus': display,
                    'message': 'Proxy Agent service is running' if state == 'succeeded' else messages[0],
                    'time': self.status_time(),
                }
            ],
        }

    def status_time(self):
        if not self.status_age:
            return iso_now()
        then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=self.status_age)
        return then.strftime('%Y-%m-%dT%H:%M:%S.%f') + '0+00:00'

    def to_json(self):
        return {
            'extension_name': self.extension_name,
            'version': self.agent_version(),
            'fault': self.fault,
            'host': {'keyIncarnationId': self.host_incarnation, 'keyGuid': self.host_guid},
            'guest': {'keyIncarnationId': self.guest_incarnation, 'keyGuid': self.guest_guid},
            'attested': self.attested,
            'pending': self.pending(),
            'applies_modes': self.applies_modes,
            'applied': self.applied,
        }


def applied_settings(settings):
    """The part of proxyAgentSettings the guest enforces: per-endpoint mode and profile reference."""
    out = {}
    for endpoint in ('wireServer', 'imds'):
        out[endpoint] = {
            'mode': _mode(settings or {}, endpoint),
            'inVMAccessControlProfileReferenceId': dig(settings or {}, endpoint, 'inVMAccessControlProfileReferenceId'),
        }
    return out


def _mode(settings, endpoint):
    return dig(settings, endpoint, 'mode') or settings.get('mode') or 'Audit'


def _channel_state(settings, fault):
    if fault == 'disabled_channel':
        return 'disabled'
    if fault == 'old_agent':
        return 'wireserverandimds'
    wire, imds = _mode(settings, 'wireServer'), _mode(settings, 'imds')
    # Two spaces before IMDS: that is what the agent writes (the docs show one).
    return f'WireServer {wire} -  IMDS {imds} - HostGA {wire}'


def _rule_ids(settings):
    def rule(endpoint):
        ref = dig(settings, endpoint, 'inVMAccessControlProfileReferenceId')
        return ref.upper() if ref else ''

    return {'wireServerRuleId': rule('wireServer'), 'imdsRuleId': rule('imds'), 'hostGARuleId': rule('wireServer')}


def _connection_summary(os_type):
    if os_type == 'windows':
        return {
            'userName': 'NT AUTHORITY\\SYSTEM',
            'userGroups': ['BUILTIN\\Administrators'],
            'ip': '168.63.129.16',
            'port': 80,
            'processFullPath': 'C:\\WindowsAzure\\GuestAgent\\WindowsAzureGuestAgent.exe',
            'processCmdLine': 'WindowsAzureGuestAgent.exe',
            'responseStatus': '200 OK',
            'count': 42,
        }
    return {
        'userName': 'root',
        'userGroups': ['root'],
        'ip': '168.63.129.16',
        'port': 80,
        'processFullPath': '/usr/bin/python3',
        'processCmdLine': 'python3 -u /usr/sbin/waagent -run-exthandlers',
        'responseStatus': '200 OK',
        'count': 42,
    }


def check_caller(caller):
    """A fleet / control-API denied caller, checked: {user, process, endpoint, groups?, cmdline?, count?}."""
    if not isinstance(caller, dict) or not caller.get('user') or not caller.get('process'):
        raise ValueError(f'a denied caller needs user and process: {caller!r}')
    endpoint = str(caller.get('endpoint', 'wireserver')).lower()
    if endpoint not in ENDPOINT_ADDRESSES:
        raise ValueError(f'denied caller endpoint {caller.get("endpoint")!r}: one of {", ".join(ENDPOINT_ADDRESSES)}')
    return dict(caller, endpoint=endpoint)


def _endpoint_mode(settings, endpoint, fault):
    """The mode the guest applies to ``endpoint`` (HostGA follows WireServer), as in its secureChannelState."""
    if fault == 'disabled_channel':
        return 'Disabled'
    return _mode(settings, 'imds' if endpoint == 'imds' else 'wireServer')
