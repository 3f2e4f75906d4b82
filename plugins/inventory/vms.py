# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: vms
short_description: Azure VMs and scale-set instances, grouped by OS, power state, proxy agent key health and MSP diagnostics
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Lists the virtual machines and the Uniform scale-set instances of the given subscriptions and resource groups,
    one host each, with the host vars of the azure.azcollection C(azure_rm) inventory plugin that playbooks rely on
    (C(id), C(resource_group) lower-cased, C(location), C(vmss), C(os_profile.system), C(powerstate),
    C(provisioning_state), C(vm_size)) plus C(azure_vm_id), so that the roles and modules of this collection find
    their target without any other setting.
  - The VM name and tags are the host vars C(azure_name) and C(azure_tags), not C(name) and C(tags) as with
    C(azure_rm), because C(name) and C(tags) are names Ansible reserves for play keywords (ansible-core 2.19 warns about a
    host var with such a name on every run), and amazon.aws prefixed its host vars for the same reason. For
    compatibility, expressions in O(compose), O(groups) and O(keyed_groups) can still use C(name) and C(tags) (as
    in a keyed group on C(tags.env)); in playbooks use C(azure_name) and C(azure_tags), or
    C(inventory_hostname) for the host name.
  - Groups the hosts by OS (C(os_linux), C(os_windows)), by power state (C(powerstate_running),
    C(powerstate_deallocated), C(powerstate_stopped), ...) and by Guest Proxy Agent key health
    (C(key_healthy), C(key_unhealthy), C(key_unknown), C(key_stuck), C(msp_disabled)), with the same health
    classification as
    M(vmrescue.azure.proxy_agent_key_reset) C(state=healthy). "Reset every broken key" is then
    C(ansible-playbook -i fleet.vms.yml vmrescue.azure.reset_proxy_agent_keys -l key_unhealthy).
  - C(msp_disabled) holds the hosts without the Guest Proxy Agent enabled and those whose secure channel is not
    enforced (no key in use); C(key_unknown) those whose key health cannot be determined (VM not running, no or stale
    agent status, a reset the guest has not latched yet); C(key_stuck) those whose key reset has not reached the guest
    O(stuck_after) seconds after this collection recorded it, or after M(vmrescue.azure.proxy_agent_key_reset) first
    observed it pending (a reset nobody recorded), reported with the likely cause and the next step, not pending for
    ever.
  - Each host also gets C(proxy_agent) with C(enabled), C(key_incarnation_id) (the model's), C(health) (the group
    above without its prefix), C(verdict) and C(reason) (the module's classification) and C(key_latch_status); for a
    stuck reset also C(stuck) (since, age, source, cause, cause_text, remedy, next_step, as the module's
    RV(vmrescue.azure.proxy_agent_key_reset#module:stuck)).
  - "Groups by the agent's health beyond the key (the same diagnostics as the lookup
    P(vmrescue.azure.proxy_agent_diagnostics#lookup)): C(msp_enforce) / C(msp_audit) (some endpoint, WireServer,
    IMDS or HostGA, enforces / audits; a host with WireServer Enforce and IMDS Audit is in both), C(msp_denials) (the
    agent's connection or failed-authentication summary names callers its rules do not authorise),
    C(proxy_agent_missing) (MSP enabled, the VM running, and no ProxyAgentLinux / ProxyAgentWindows extension
    reporting: a Linux image without the agent), C(proxy_agent_unhealthy) (the agent's eBPF program or proxy
    listener is not C(RUNNING)), C(proxy_agent_stale) (the agent marks its status stale, the status is older than 15
    minutes, or the model's keyIncarnationId stays ahead of the guest's long after a recorded reset). The endpoint
    modes are the guest's own (its C(secureChannelState)) when it reports one, else the model's settings."
  - Each host also gets C(proxy_agent_health), a compact summary of those diagnostics, with C(enabled), C(present),
    C(missing), C(agent_version), C(agent_status), C(ebpf) and C(listener) (their status), C(unhealthy), C(modes)
    (C(wireserver), C(imds), C(hostga)), C(modes_source) (C(guest) or C(model)), C(denials) and C(blocked)
    (how many denied callers, how many of them blocked), C(denied_callers) (up to five one-line summaries),
    C(stale), C(stale_reasons) and C(problems) (one line each). The denied callers in full, with what to do for
    each, come from the P(vmrescue.azure.proxy_agent_diagnostics#lookup) lookup.
  - "Calls: per subscription (or per resource group when O(resource_groups) is given) one paged list of VMs and one
    of scale sets; per Uniform scale set one paged list of its instances with C($expand=instanceView); per VM one
    instance view read, done concurrently (ARM offers C($expand=instanceView) on the VM list only together with a
    scale-set C($filter)). Flexible-orchestration instances are ordinary VMs and are listed as such."
  - "With O(triage=true), the boot and platform triage of P(vmrescue.azure.boot_triage#lookup) too: each host in
    one group named by its class (C(platform_unavailable), C(provisioning_failed), C(boot_grub), C(boot_initrd),
    C(boot_kernel_panic), C(boot_emergency_mode), C(boot_disk_full), C(boot_loop), C(agent_not_ready), C(boot_ok),
    C(boot_unknown)) and the host var C(boot_triage) (C(class), C(reason), C(evidence), C(remedy),
    C(vm_agent), C(resource_health), C(serial_log)), decided the same way as the lookup."
  - The host name is the VM name (C(<scale set>_<instance id>) for a Uniform instance). When two VMs share a name
    the resource group, then the subscription ID, is appended to the later ones.
  - The plugin sets no connection variables; nothing in this collection connects to the VMs. Use O(compose) to set
    C(ansible_host) when you want to connect (for example for the SSH proof of C(vmrescue.azure.linux_access_recovery)).
  - The configuration file name must end with C(vms.yml) or C(vms.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - vmrescue.azure.auth.PLUGINS
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [vmrescue.azure.vms]
  subscriptions:
    description:
      - Subscription IDs to list. Default is the subscription of the credential (O(subscription_id), or
        C(AZURE_SUBSCRIPTION_ID)).
    type: list
    elements: str
    default: []
  resource_groups:
    description:
      - Resource groups to list, in every subscription of O(subscriptions). Default is every resource group.
      - A resource group that does not exist is an error.
    type: list
    elements: str
    default: []
  include_vmss_instances:
    description: Also list the instances of Uniform scale sets.
    type: bool
    default: true
  concurrency:
    description:
      - How many instance views are read at the same time. ARM allows about 25 reads a second per principal after a
        burst of 250; the client retries throttled reads after the time Azure asks for.
    type: int
    default: 16
  triage:
    description:
      - Triage every host (see above). It costs one Resource Health list per subscription (or per resource group
        with O(resource_groups)). For each running host whose VM agent is not Ready it also costs one
        C(retrieveBootDiagnosticsData) action and one read of the serial log blob's tail. A healthy fleet costs no
        serial log read.
      - Needs C(Microsoft.ResourceHealth/availabilityStatuses/read) (without it the health stays unchecked) and
        C(Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action) (without it the host's serial log
        is not read and C(boot_triage.serial_log) says why).
    type: bool
    default: false
  triage_serial_log:
    description:
      - With O(triage=true), when the serial log is read. V(auto) reads it for a running host whose VM agent is not
        Ready, V(always) for every running host, and V(never) not at all (boot failures are then not told apart
        from C(agent_not_ready)).
    type: str
    choices: [auto, always, never]
    default: auto
  record_key:
    description:
      - The record key (see M(vmrescue.azure.proxy_agent_key_reset)'s O(vmrescue.azure.proxy_agent_key_reset#module:record_key)).
        With it, a C(vmrescue-key-reset) record whose seal does not hold (planted by a tag writer, garbled, copied
        from another VM) is ignored, so it cannot make a host's key C(pending) (group C(key_unknown)) and keep it
        out of C(key_unhealthy).
      - Keep it in a vault or an AWX credential; it is never shown.
    type: str
    env:
      - name: VMRESCUE_RECORD_KEY
  stuck_after:
    description:
      - Seconds after which a key reset that has not reached the guest is reported stuck (group C(key_stuck)), as
        M(vmrescue.azure.proxy_agent_key_reset)'s O(vmrescue.azure.proxy_agent_key_reset#module:stuck_after). The
        plugin reads the records and writes nothing.
    type: int
    default: 1800
"""

EXAMPLES = r"""
# fleet.vms.yml -- every VM and Uniform instance of two resource groups, credentials from the AZURE_* environment
plugin: vmrescue.azure.vms
resource_groups:
  - rg-web
  - rg-batch

# Then:
#   ansible-inventory -i fleet.vms.yml --graph key_unhealthy
#   ansible-inventory -i fleet.vms.yml --graph msp_denials      (callers the agent's rules deny: see their detail
#                                                                 with lookup('vmrescue.azure.proxy_agent_diagnostics'))
#   ansible-playbook -i fleet.vms.yml vmrescue.azure.reset_proxy_agent_keys -l key_unhealthy
#   (with triage: true)  ansible-inventory -i fleet.vms.yml --graph boot_emergency_mode
#   ansible-playbook -i fleet.vms.yml vmrescue.azure.regain_linux_access -l 'os_linux:&powerstate_running' -e @intent.yml

# A whole subscription, with a group per resource group and the private IP composed from a tag
# plugin: vmrescue.azure.vms
# subscriptions: [00000000-0000-0000-0000-000000000000]
# keyed_groups:
#   - key: resource_group
#     prefix: rg
# compose:
#   ansible_host: azure_tags.ip | default(omit)
"""

import os
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.vmrescue.azure.plugins.plugin_utils._azure_plugin import AzurePluginMixin

try:
    from ansible_collections.vmrescue.azure.plugins.module_utils import _arm
    from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
    from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import diagnosis as agent_diagnosis
    from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_record import (
        check_observation,
        check_record,
    )
    from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import model_settings
    from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import resolve_key
    from ansible_collections.vmrescue.azure.plugins.module_utils._triage.reads import triage_many
    from ansible_collections.vmrescue.azure.plugins.module_utils._vm import os_type, power_state

    IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported in parse()
    IMPORT_ERROR = exc

COMPUTE = 'providers/Microsoft.Compute'
# classify_health verdict -> the health this plugin groups by. 'pending' (a reset has not reached the guest yet)
# is not known to be good or bad; 'not_enforced' means no key is in use, like a disabled agent.
VERDICT_HEALTH = {
    'healthy': 'healthy',
    'unhealthy': 'unhealthy',
    'unknown': 'unknown',
    'pending': 'unknown',
    'stuck': 'stuck',
    'not_enforced': 'disabled',
}
HEALTH_GROUPS = {
    'healthy': 'key_healthy',
    'unhealthy': 'key_unhealthy',
    'unknown': 'key_unknown',
    'stuck': 'key_stuck',
    'disabled': 'msp_disabled',
}


def diagnostic_groups(health):
    """The groups of one host's ``proxy_agent_health`` (see DOCUMENTATION)."""
    groups = []
    if not health or not health.get('enabled'):
        return groups
    modes = set(v for v in (health.get('modes') or {}).values() if v)
    if 'Enforce' in modes:
        groups.append('msp_enforce')
    if 'Audit' in modes:
        groups.append('msp_audit')
    for flag, group in (
        ('denials', 'msp_denials'),
        ('missing', 'proxy_agent_missing'),
        ('unhealthy', 'proxy_agent_unhealthy'),
        ('stale', 'proxy_agent_stale'),
    ):
        if health.get(flag):
            groups.append(group)
    return groups


def _rg_of(resource_id):
    parts = resource_id.split('/')
    for i, part in enumerate(parts):
        if part.lower() == 'resourcegroups' and i + 1 < len(parts):
            return parts[i + 1]
    return ''


def _sub_of(resource_id):
    parts = resource_id.split('/')
    return parts[2] if len(parts) > 2 and parts[1].lower() == 'subscriptions' else ''


def _orchestration(vmss):
    return ((vmss.get('properties') or {}).get('orchestrationMode') or 'Uniform').lower()


class Lister:
    """The ARM reads, bulk where ARM allows it. ``fetch()`` -> list of (kind, resource JSON with instanceView)."""

    def __init__(self, client, subscriptions, resource_groups, include_instances, concurrency):
        self.client = client
        self.subscriptions = subscriptions
        self.resource_groups = resource_groups
        self.include_instances = include_instances
        self.concurrency = max(1, int(concurrency))

    def _pages(self, path, params=None):
        body = self.client.get(path, params=params)
        while True:
            yield from (body or {}).get('value') or []
            next_link = (body or {}).get('nextLink')
            if not next_link:
                return
            # nextLink carries api-version and the skip token; keep our query options if it does not repeat them.
            extra = dict((k, v) for k, v in (params or {}).items() if k.lower() not in next_link.lower())
            body = self.client.get(next_link, api_version=None, params=extra or None)

    def _scopes(self):
        for sub in self.subscriptions:
            if self.resource_groups:
                for rg in self.resource_groups:
                    yield '/subscriptions/%s/resourceGroups/%s' % (sub, rg)
            else:
                yield '/subscriptions/%s' % sub

    def fetch(self):
        vms, instances = [], []
        uniform = []
        for scope in self._scopes():
            vms.extend(self._pages('%s/%s/virtualMachines' % (scope, COMPUTE)))
            if self.include_instances:
                uniform.extend(
                    s
                    for s in self._pages('%s/%s/virtualMachineScaleSets' % (scope, COMPUTE))
                    if _orchestration(s) == 'uniform'
                )
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            views = list(pool.map(self._instance_view, vms))
            for found in pool.map(self._instances, uniform):
                instances.extend(found)
        for vm, view in zip(vms, views):
            vm.setdefault('properties', {})['instanceView'] = view
        return [('vm', vm) for vm in vms] + [('vmss_instance', inst) for inst in instances]

    def _instance_view(self, vm):
        try:
            return self.client.get('%s/instanceView' % vm['id'], missing_ok=True) or {}
        except _arm.ArmError as err:
            # A VM deleted between the list and this read, or a transient error: its health stays unknown.
            return {'_error': err.describe()}

    def _instances(self, vmss):
        found = []
        for inst in self._pages('%s/virtualMachines' % vmss['id'], params={'$expand': 'instanceView'}):
            inst['_vmss'] = {'id': vmss['id'], 'name': vmss['name']}
            found.append(inst)
        return found


def diagnose(resource, view, key=None, hold=None):
    """_proxy_agent.diagnosis.diagnose of one VM / instance (None when its instance view could not be read). With a
    record ``key``, a key-reset record (or observation) whose seal does not hold is not acted on (no pending on its
    word); ``hold``: the stuck_after option."""
    if view.get('_error'):
        return None
    tags, rid = resource.get('tags'), resource.get('id') or ''
    record, _untrusted = check_record(tags, key, rid)
    observed, _untrusted = check_observation(tags, key, rid)
    return agent_diagnosis.diagnose(
        resource, view, power_state(view), os_type(resource), record=record, observed=observed, hold=hold
    )


def agent_health(diagnosis, view):
    """The ``proxy_agent_health`` host var: the compact diagnosis, or why there is none."""
    if diagnosis is None:
        return {'enabled': None, 'problems': ['instance view not read: %s' % view.get('_error')]}
    return agent_diagnosis.compact(diagnosis)


def key_health(resource, view, diagnosis=None):
    """The proxy agent part of the host vars, classified by the shared table of _proxy_agent.status (as the module
    does)."""
    settings = model_settings(resource)
    out = {
        'enabled': bool(settings.get('enabled')),
        'key_incarnation_id': settings.get('keyIncarnationId', 0) if settings else None,
        'key_latch_status': None,
        'health': 'disabled',
        'verdict': 'disabled',
        'reason': 'the Guest Proxy Agent (Metadata Security Protocol) is not enabled',
    }
    if not out['enabled']:
        return out
    if view.get('_error'):
        out.update(health='unknown', verdict='unknown', reason='instance view not read: %s' % view['_error'])
        return out
    diagnosis = diagnosis or diagnose(resource, view)
    verdict = diagnosis['key']
    out.update(
        key_latch_status=diagnosis['key_latch_status'],
        verdict=verdict['verdict'],
        reason=verdict['reason'],
        health=VERDICT_HEALTH.get(verdict['verdict'], 'unknown'),
    )
    if verdict.get('stuck'):
        out['stuck'] = verdict['stuck']
    return out


def host_vars(kind, resource, key=None, hold=None):
    """The host vars of one VM or instance (JSON with properties.instanceView); ``key``: the record key; ``hold``:
    the stuck_after option."""
    props = resource.get('properties') or {}
    view = props.get('instanceView') or {}
    hv = {
        'id': resource['id'],
        'azure_vm_id': resource['id'],
        'azure_name': resource.get('name'),
        'resource_group': _rg_of(resource['id']).lower(),
        'subscription_id': _sub_of(resource['id']),
        'location': resource.get('location'),
        'azure_tags': resource.get('tags') or {},
        'vm_size': (props.get('hardwareProfile') or {}).get('vmSize') or (resource.get('sku') or {}).get('name'),
        'os_profile': {'system': (os_type(resource) or 'unknown').lower()},
        'powerstate': power_state(view) or 'unknown',
        'provisioning_state': props.get('provisioningState'),
    }
    diagnosis = diagnose(resource, view, key, hold)
    hv['proxy_agent'] = key_health(resource, view, diagnosis)
    hv['proxy_agent_health'] = agent_health(diagnosis, view)
    if kind == 'vmss_instance':
        hv['vmss'] = resource.get('_vmss') or {}
        hv['instance_id'] = resource.get('instanceId')
    return hv


class InventoryModule(AzurePluginMixin, BaseInventoryPlugin, Constructable, Cacheable):
    """Auth options, client, warnings and error translation: plugin_utils/_azure_plugin.AzurePluginMixin (shared
    with the lookup)."""

    NAME = 'vmrescue.azure.vms'
    ERROR_CLASS = AnsibleParserError
    ERROR_PREFIX = 'vmrescue.azure.vms: '

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('vms.yml', 'vms.yaml'))

    def _fetch(self):
        try:
            client = self.azure_client(env=os.environ)
            subs = self.get_option('subscriptions') or [client.subscription_id]
            if not all(subs):
                raise AnsibleParserError(
                    'vmrescue.azure.vms: no subscription: set subscriptions, subscription_id or AZURE_SUBSCRIPTION_ID'
                )
            lister = Lister(
                client,
                subs,
                self.get_option('resource_groups'),
                self.get_option('include_vmss_instances'),
                self.get_option('concurrency'),
            )
            key = resolve_key(self.get_option('record_key'))
            hold = self.get_option('stuck_after')
            found = lister.fetch()
            records = [host_vars(kind, res, key, hold) for kind, res in found]
            if self.get_option('triage'):
                triaged = triage_many(client, list(lister._scopes()), [res for _kind, res in found],
                                      self.get_option('triage_serial_log'), lister.concurrency)  # fmt: skip
                for hv in records:
                    if hv['id'] in triaged:
                        hv['boot_triage'] = triaged[hv['id']]
            return records
        except VmrescueError as err:
            raise self.plugin_error(err)

    def _populate(self, records):
        strict = self.get_option('strict')
        seen = {}
        for hv in records:
            # Records cached by an earlier version carry name / tags.
            hv = dict(hv)
            hv.setdefault('azure_name', hv.pop('name', None))
            hv.setdefault('azure_tags', hv.pop('tags', {}))
            name = hv['azure_name'] or hv['id'].rsplit('/', 1)[-1]
            if name in seen and seen[name] != hv['id']:
                name = '%s_%s' % (name, hv['resource_group'])
                if name in seen and seen[name] != hv['id']:
                    name = '%s_%s' % (name, hv['subscription_id'])
            seen[name] = hv['id']
            self.inventory.add_host(name)
            for key, value in hv.items():
                self.inventory.set_variable(name, key, value)
            groups = [
                'os_%s' % hv['os_profile']['system'],
                'powerstate_%s' % hv['powerstate'],
                HEALTH_GROUPS.get(hv['proxy_agent'].get('health'), 'key_unknown'),
            ]
            groups += diagnostic_groups(hv.get('proxy_agent_health'))  # records cached by an earlier version: none
            if (hv.get('boot_triage') or {}).get('class'):
                groups.append(hv['boot_triage']['class'])
            for group in groups:
                group = self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            # Expressions written for azure_rm (name, tags) keep working; they are not set as host vars.
            expr_vars = dict(hv, name=hv['azure_name'], tags=hv['azure_tags'])
            self._set_composite_vars(self.get_option('compose'), expr_vars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), expr_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), expr_vars, name, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if IMPORT_ERROR is not None:
            raise AnsibleError(
                'vmrescue.azure.vms needs azure-identity and azure-mgmt-core on the controller: %s'
                % to_native(IMPORT_ERROR)
            )
        # The values as written, checked before ansible-core's config reads them (it would take 'maybe' for
        # false, and its own type error echoes the value, which may be a secret given in the wrong option).
        try:
            raw = self.loader.load_from_file(path, cache='none', trusted_as_template=True)
        except TypeError:  # ansible-core < 2.19: no trusted_as_template / cache words
            raw = self.loader.load_from_file(path, cache=False)
        except Exception:  # pylint: disable=broad-except  # unreadable: _read_config_data reports it
            raw = None
        if isinstance(raw, dict):
            self.check_raw_options(raw, where=path)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if records is None:
            records = self._fetch()
        if update_cache:
            self._cache[cache_key] = records
        self._populate(records)
