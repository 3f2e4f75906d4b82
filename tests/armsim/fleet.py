"""Fleet files (YAML or JSON) -> in-memory resources. Also generates large fleets for benchmarks.

Format (see fleets/test.yaml and fleets/demo.yaml for complete examples):

    tenant_id, subscription_id, subscription_name    optional fixed ids
    config: {key: value}                             simulator config (see config.py DEFAULTS)
    principals: [{name, client_id, client_secret, object_id?, denied_actions: [glob, ...]}]
                                                     the first one is the ready file's client
    resource_groups: [{name, location, vms: [VM], scale_sets: [SS]}]   in the default subscription
    subscriptions: [{id, name, resource_groups: [...]}]                  more subscriptions
    generate: {count, resource_group?, prefix?, windows_every?, faults?: {fault: every_nth}, subscriptions?: K,
               groups?: G (resource groups per subscription)}
                                                     K > 1 spreads the VMs round-robin over K subscriptions
                                                     (the default one, then subscription_ids(K)[1:]), each
                                                     with its own throttle buckets as in Azure

    VM: {name, os: linux|windows, size?, power: running|stopped|deallocated, tags?, zones?,
         proxy_agent?: {enabled?: true, mode?: Enforce, wire_server?, imds?, key_incarnation_id?: 0,
                        fault?: key_lost|key_mismatch|stale|agent_stopped|no_agent|old_agent|disabled_channel,
                        guest_key_incarnation_id?, extension_name?, version?,
                        wire_server_profile?, imds_profile?   (inVMAccessControlProfileReferenceId),
                        applies_modes?: true   (false: a guest that never applies new endpoint modes)},
         msp_supported?: true   (false: the VM cannot run MSP; writes of proxyAgentSettings are refused),
         guest?: {...} (armsim.vmaccess.LinuxGuest.from_fleet),
         extensions?: [{name, publisher, type, type_handler_version, settings?, force_update_tag?, ok?, message?}]}
    SS: {name, orchestration: Uniform|Flexible, os, size?, proxy_agent?, guest?,
         instances: N | [per-instance VM overrides]   (Uniform), vms: [VM] (Flexible)}

    The platform remedies (remedies.py; fleets/ladder.yaml): VM.vm_agent: ready|not_ready|hung|goal_state|host
    (hung: a restart cures it, goal_state: a reapply, host: a redeploy or deallocate), VM.provisioning_state: Failed
    (a reapply cures it), VM.vm_agent_status: reporting|frozen (frozen: the last Ready status and its time stay).

    The agent's health beyond the key (diagnostics; see fleets/msp_diagnostics.yaml):
    VM.proxy_agent also takes fault ebpf_failed|listener_failed, denied_callers: [{user, process, endpoint:
    wireserver|imds|hostga, groups?, cmdline?, count?}] (callers the rules do not authorise: see
    proxyagent.AgentState.summaries), status_age: seconds the reported agent status lags (a stale status).
    VM.extra_properties: {...} merged into the model's properties (fields of a newer api-version).

    The role guest_repair's recipes (Run Command; see guestrepair.py for what each models, all [inferred]):
    Linux guest keys sshd_config_ok: false (sshd -t refuses the config), sshd_active: false, sshd_recipe_backup:
    true (a backup the sshd recipe made earlier), ssh_bad_permissions: [path, ...], aad_login: true
    (AADSSHLoginForLinux installed) with aad_login_lines: false / aad_login_pam: false (its sshd / PAM lines
    missing); Windows guest keys rdp_enabled / rdp_service / rdp_port / firewall_rdp_enabled (VMAccess's too),
    rdp_nla: false, rdp_service_disabled: true, and for local_admin VMAccess's users: {name: {password?, admin?,
    disabled?}} / domain_controller: true; both proxy_agent_log / guest_agent_log: [line, ...].

    Disks and boot (issue 23; bootdiag.py, disks.py, network.py): VM keys boot_fault: fstab|kernel|initrd|grub|
    disk_full (Linux) | bootloop_driver|safe_mode (Windows) (the OS disk does not boot; default healthy),
    boot_fault_driver: file name (bootloop_driver; default C-00000291-00000000-00000032.sys), distro: ubuntu|rhel
    (Linux image; initrd failures print differently), hyper_v_generation: V1|V2 (default V2), architecture:
    x64|Arm64. Group key network: {vnet?, address_prefix?, subnets?: [{name, address_prefix}]} ({} = one vnet
    <group>-vnet with subnet default 10.0.0.0/24). generate: also boot_faults: {fault: every_nth}, network: true.
    Each VM's OS disk <vm>_OsDisk_1 and NIC <vm>-nic are resources made on first use.

    Refused writes (locks, policy assignments, roles, allowExtensionOperations, the VM agent Not Ready, failed
    extensions, Resource Health): see governance.py and fleets/refusals.yaml.
"""

import copy
import importlib
import os
import secrets
import uuid

import yaml

from . import bootdiag, governance, guestrepair, network, proxyagent, runcommand
from .authorization import RoleAssignment
from .fleetgen import (  # noqa: F401  (re-exported: the fleet generator's names were fleet.py's)
    DEFAULT_LOCATION,
    DEFAULT_SUBSCRIPTION,
    FleetError,
    generate_fleet,
    generated_group,
    generated_groups,
    subscription_ids,
)
from .model import Extension, Machine, ResourceGroup, ScaleSet, Subscription
from .util import deep_merge, iso_now

DEFAULT_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
DEFAULT_SIZE = 'Standard_D2s_v5'
IMAGES = {
    'linux': {'publisher': 'Canonical', 'offer': 'ubuntu-24_04-lts', 'sku': 'server', 'version': 'latest'},
    'rhel': {'publisher': 'RedHat', 'offer': 'RHEL', 'sku': '9-lvm-gen2', 'version': 'latest'},
    'windows': {
        'publisher': 'MicrosoftWindowsServer',
        'offer': 'WindowsServer',
        'sku': '2022-datacenter-azure-edition',
        'version': 'latest',
    },
}


FLEET_SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleetKeyFleetKeyFleetKeyFleetKey0000 fleet'


def guest_module():
    """The VMAccess guest simulation (imported on first use: it is large and only Linux guests need it)."""
    return importlib.import_module('armsim.vmaccess')


class Principal:
    def __init__(self, spec, base_dir=None):
        self.name = spec.get('name') or 'automation'
        self.client_id = str(spec.get('client_id') or uuid.uuid4())
        self.client_secret = str(spec.get('client_secret') or secrets.token_urlsafe(24))
        self.object_id = str(spec.get('object_id') or uuid.uuid5(uuid.NAMESPACE_URL, self.client_id))
        self.denied_display = [str(a) for a in spec.get('denied_actions') or ()]
        self.denied_actions = [a.lower() for a in self.denied_display]
        roles = spec.get('roles')
        self.roles = None if roles is None else [RoleAssignment(r, base_dir) for r in roles]


class Fleet:
    """Everything a fleet file describes, indexed for the request handlers."""

    def __init__(self, data, now, base_dir=None):
        self.data = data
        self.now = now
        self.tenant_id = str(data.get('tenant_id') or DEFAULT_TENANT)
        self.config = dict(data.get('config') or {})
        self.principals = [Principal(p, base_dir) for p in data.get('principals') or [{}]]
        self.subscriptions = {}
        self.machines = {}  # lower resource id -> Machine
        self.locks = []  # authorization.Lock
        self.policies = []  # policy.PolicyAssignment
        sub_specs = list(data.get('subscriptions') or [])
        groups = list(data.get('resource_groups') or [])
        if data.get('generate'):
            generate = dict(data['generate'])
            spread = int(generate.pop('subscriptions', 1) or 1)
            if spread < 1:
                raise FleetError('generate.subscriptions must be 1 or more')
            first = str(data.get('subscription_id') or DEFAULT_SUBSCRIPTION)
            for k, sub_groups in enumerate(generated_groups(spread, **generate)):
                if k == 0:
                    groups.extend(sub_groups)
                else:
                    sub_specs.append(
                        {
                            'id': subscription_ids(spread, first)[k],
                            'name': f'armsim-{k + 1}',
                            'resource_groups': sub_groups,
                        }
                    )
        if groups or not sub_specs:
            sub_specs.insert(
                0,
                {
                    'id': data.get('subscription_id') or DEFAULT_SUBSCRIPTION,
                    'name': data.get('subscription_name') or 'armsim',
                    'resource_groups': groups,
                    'locks': data.get('locks'),
                    'policies': data.get('policies'),
                },
            )
        for spec in sub_specs:
            self._add_subscription(spec)
        self.default_subscription = next(iter(self.subscriptions.values()))

    @classmethod
    def load(cls, source, now):
        """``source``: a path, a dict, or None (empty fleet)."""
        if source is None:
            return cls({}, now)
        if isinstance(source, dict):
            return cls(source, now)
        with open(source, encoding='utf-8') as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise FleetError(f'{source}: a fleet is a mapping')
        return cls(data, now, base_dir=os.path.dirname(os.path.abspath(source)))

    def principal(self, client_id):
        for p in self.principals:
            if p.client_id.lower() == (client_id or '').lower():
                return p
        return None

    # -- building -------------------------------------------------------------------------------
    def _add_subscription(self, spec):
        sub = Subscription(str(spec['id']), spec.get('name') or 'armsim', self.tenant_id)
        self.subscriptions[sub.id.lower()] = sub
        governance.declare(self, spec, f'/subscriptions/{sub.id}')
        for g in spec.get('resource_groups') or ():
            rg = ResourceGroup(sub, g['name'], g.get('location') or DEFAULT_LOCATION, g.get('tags'))
            sub.groups[rg.name.lower()] = rg
            governance.declare(self, g, rg.id)
            network.declare(rg, g.get('network'))
            for vm_spec in g.get('vms') or ():
                self._add_vm(rg, vm_spec)
            for ss_spec in g.get('scale_sets') or ():
                self._add_scale_set(rg, ss_spec)

    def _register(self, machine):
        key = machine.id.lower()
        if key in self.machines:
            raise FleetError(f'duplicate resource {machine.id}')
        self.machines[key] = machine

    def _add_vm(self, rg, spec, scale_set=None):
        name = spec['name']
        os_type = (spec.get('os') or 'linux').lower()
        model = {
            'location': spec.get('location') or rg.location,
            'tags': dict(spec.get('tags') or {}),
            'properties': vm_properties(name, rg, spec, os_type),
        }
        if scale_set is not None:
            model['properties']['platformFaultDomain'] = 0
        if spec.get('zones'):
            model['zones'] = list(spec['zones'])
        machine = Machine(rg, name, os_type, model, power=spec.get('power', 'running'), scale_set=scale_set)
        self._equip(machine, spec)
        rg.vms[name.lower()] = machine
        self._register(machine)
        governance.declare(self, spec, machine.id)
        return machine

    def _add_scale_set(self, rg, spec):
        name = spec['name']
        orchestration = spec.get('orchestration', 'Uniform')
        os_type = (spec.get('os') or 'linux').lower()
        props = {
            'orchestrationMode': orchestration,
            'provisioningState': 'Succeeded',
            'uniqueId': str(uuid.uuid5(uuid.NAMESPACE_URL, f'{rg.id}/{name}')),
            'timeCreated': iso_now(),
        }
        model = {
            'location': spec.get('location') or rg.location,
            'tags': dict(spec.get('tags') or {}),
            'properties': props,
        }
        if orchestration == 'Uniform':
            vm_props = vm_properties(name, rg, spec, os_type)
            # The scale set's VM profile has its own shapes (VirtualMachineScaleSetStorageProfile / NetworkProfile):
            # no disk or NIC ids, NIC configurations instead of NICs.
            storage = copy.deepcopy(vm_props['storageProfile'])
            storage['osDisk'].pop('name', None)
            storage['osDisk']['managedDisk'].pop('id', None)
            subnet = (
                f'/subscriptions/{rg.sub.id}/resourceGroups/{rg.name}/providers/Microsoft.Network/'
                f'virtualNetworks/{name}-vnet/subnets/default'
            )
            profile = {
                'storageProfile': storage,
                'securityProfile': vm_props['securityProfile'],
                'networkProfile': {
                    'networkInterfaceConfigurations': [
                        {
                            'name': f'{name}-nic',
                            'properties': {
                                'primary': True,
                                'ipConfigurations': [{'name': 'ipconfig1', 'properties': {'subnet': {'id': subnet}}}],
                            },
                        }
                    ]
                },
            }
            profile['osProfile'] = dict(vm_props['osProfile'], computerNamePrefix=name[:9])
            profile['osProfile'].pop('computerName', None)
            profile['extensionProfile'] = {'extensions': []}
            props.update(
                {
                    'upgradePolicy': {'mode': 'Manual'},
                    'virtualMachineProfile': profile,
                    'overprovision': False,
                    'singlePlacementGroup': True,
                }
            )
            model['sku'] = {'name': spec.get('size') or DEFAULT_SIZE, 'tier': 'Standard'}
        else:
            props['platformFaultDomainCount'] = 1
        ss = ScaleSet(rg, name, orchestration, model)
        rg.scale_sets[name.lower()] = ss
        governance.declare(self, spec, ss.id)
        if orchestration == 'Uniform':
            instances = spec.get('instances', 2)
            if isinstance(instances, int):
                instances = [{} for _ in range(instances)]
            for n, inst_spec in enumerate(instances):
                merged = {k: v for k, v in spec.items() if k not in ('instances', 'name', 'orchestration')}
                merged.update(inst_spec or {})
                self._add_instance(ss, str(inst_spec.get('instance_id', n)) if inst_spec else str(n), merged, os_type)
        else:
            for vm_spec in spec.get('vms') or ():
                self._add_vm(rg, dict(vm_spec, os=vm_spec.get('os', os_type)), scale_set=ss)

    def _add_instance(self, ss, instance_id, spec, os_type):
        rg = ss.rg
        props = vm_properties(
            f'{ss.name}{int(instance_id):06x}' if instance_id.isdigit() else instance_id, rg, spec, os_type
        )
        props.pop('diagnosticsProfile', None)
        model = {
            'location': ss.model['location'],
            'tags': {},
            'sku': {'name': spec.get('size') or DEFAULT_SIZE, 'tier': 'Standard'},
            'properties': props,
        }
        machine = Machine(
            rg,
            f'{ss.name}_{instance_id}',
            os_type,
            model,
            power=spec.get('power', 'running'),
            scale_set=ss,
            instance_id=instance_id,
        )
        self._equip(machine, spec)
        ss.instances[instance_id] = machine
        self._register(machine)

    def _equip(self, machine, spec):
        machine.booted_at = self.now
        pa = spec.get('proxy_agent')
        if pa and pa.get('enabled', True):
            machine.agent = proxyagent.AgentState(
                int(pa.get('key_incarnation_id') or 0),
                self.now,
                fault=pa.get('fault'),
                extension_name=pa.get('extension_name'),
                version=pa.get('version'),
                guest_incarnation=pa.get('guest_key_incarnation_id'),
                applies_modes=pa.get('applies_modes', True),
            )
            machine.agent.apply_modes(machine.proxy_settings())
        machine.msp_supported = bool(spec.get('msp_supported', True))
        if machine.os == 'linux':
            guest = spec.get('guest')
            if guest is None:  # as provisioned: the admin user holds the osProfile's SSH key
                guest = {
                    'users': {spec.get('admin_username', 'azureuser'): {'ssh_keys': [FLEET_SSH_KEY], 'sudo': True}}
                }
            machine.guest = guest_module().LinuxGuest.from_fleet(guest)
        else:  # Windows: local users, Administrators, Remote Desktop (armsim.vmaccess_windows)
            machine.guest = importlib.import_module('armsim.vmaccess_windows').WindowsGuest.from_fleet(
                spec.get('guest'), spec.get('admin_username', 'azureuser')
            )
        for ext_spec in spec.get('extensions') or ():
            props = {
                'publisher': ext_spec['publisher'],
                'type': ext_spec['type'],
                'typeHandlerVersion': str(ext_spec.get('type_handler_version', '1.0')),
                'autoUpgradeMinorVersion': ext_spec.get('auto_upgrade_minor_version', True),
                'settings': ext_spec.get('settings') or {},
            }
            if ext_spec.get('force_update_tag'):
                props['forceUpdateTag'] = str(ext_spec['force_update_tag'])
            ext = Extension(machine, ext_spec['name'], props, machine.location)
            ext.set_status(ext_spec.get('ok', True), ext_spec.get('message', 'Enable succeeded.'))
            governance.equip_extension(ext, ext_spec)
            machine.extensions[ext.name.lower()] = ext
        self._equip_diagnostics(machine, spec)
        governance.equip(machine, spec)
        runcommand.equip(machine, spec)
        guestrepair.equip(machine, spec)
        bootdiag.equip(machine, spec)

    @staticmethod
    def _equip_diagnostics(machine, spec):
        """The agent's health beyond the key (denied callers, a status age) and fields of newer api-versions."""
        pa = spec.get('proxy_agent') or {}
        if machine.agent is not None:
            machine.agent.denied_callers = [proxyagent.check_caller(c) for c in pa.get('denied_callers') or ()]
            machine.agent.status_age = int(pa.get('status_age') or 0)
        # Fields a newer api-version added (or a made-up future one), as Azure holds them for a resource written at
        # that version: merged into the model's properties as given.
        deep_merge(machine.model.setdefault('properties', {}), spec.get('extra_properties') or {})


def vm_properties(name, rg, spec, os_type):
    """A realistic VM ``properties`` object (also the base of instance models)."""
    sub_id = rg.sub.id
    nic = f'/subscriptions/{sub_id}/resourceGroups/{rg.name}/providers/Microsoft.Network/networkInterfaces/{name}-nic'
    disk = f'/subscriptions/{sub_id}/resourceGroups/{rg.name}/providers/Microsoft.Compute/disks/{name}_OsDisk_1'
    admin = spec.get('admin_username', 'azureuser')
    os_profile = {
        'computerName': spec.get('computer_name') or name[:15],
        'adminUsername': admin,
        'secrets': [],
        'allowExtensionOperations': True,
        'requireGuestProvisionSignal': True,
    }
    if os_type == 'windows':
        os_profile['windowsConfiguration'] = {
            'provisionVMAgent': True,
            'enableAutomaticUpdates': True,
            'patchSettings': {'patchMode': 'AutomaticByOS', 'assessmentMode': 'ImageDefault'},
        }
    else:
        os_profile['linuxConfiguration'] = {
            'disablePasswordAuthentication': True,
            'provisionVMAgent': True,
            'ssh': {'publicKeys': [{'path': f'/home/{admin}/.ssh/authorized_keys', 'keyData': FLEET_SSH_KEY}]},
            'patchSettings': {'patchMode': 'ImageDefault', 'assessmentMode': 'ImageDefault'},
        }
    security = {'securityType': 'TrustedLaunch', 'uefiSettings': {'secureBootEnabled': True, 'vTpmEnabled': True}}
    pa = spec.get('proxy_agent')
    if pa:
        settings = {
            'enabled': bool(pa.get('enabled', True)),
            'mode': pa.get('mode', 'Enforce'),
            'keyIncarnationId': int(pa.get('key_incarnation_id') or 0),
        }
        for key, fleet_key in (('wireServer', 'wire_server'), ('imds', 'imds')):
            mode = pa.get(fleet_key) or pa.get('mode', 'Enforce')
            if pa.get(f'{fleet_key}_profile'):  # a profile carries its own mode: the two together are refused
                settings[key] = {'inVMAccessControlProfileReferenceId': pa[f'{fleet_key}_profile']}
            else:
                settings[key] = {'mode': mode}
        security['proxyAgentSettings'] = settings
    return {
        'vmId': str(uuid.uuid5(uuid.NAMESPACE_URL, f'{rg.id}/{name}')),
        'hardwareProfile': {'vmSize': spec.get('size') or DEFAULT_SIZE},
        'storageProfile': {
            'imageReference': dict(IMAGES['rhel' if spec.get('distro') == 'rhel' else os_type], exactVersion='1.0.0'),
            'osDisk': {
                'osType': 'Windows' if os_type == 'windows' else 'Linux',
                'name': f'{name}_OsDisk_1',
                'createOption': 'FromImage',
                'caching': 'ReadWrite',
                'managedDisk': {'storageAccountType': 'Premium_LRS', 'id': disk},
                'deleteOption': 'Delete',
                'diskSizeGB': 127 if os_type == 'windows' else 30,
            },
            'dataDisks': [],
            'diskControllerType': 'SCSI',
        },
        'osProfile': os_profile,
        'networkProfile': {
            'networkInterfaces': [{'id': nic, 'properties': {'primary': True, 'deleteOption': 'Delete'}}]
        },
        'securityProfile': security,
        'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}},
        'timeCreated': '2025-01-15T09:30:00.0000000+00:00',
    }


def dump(data):
    return yaml.safe_dump(data, sort_keys=False)
