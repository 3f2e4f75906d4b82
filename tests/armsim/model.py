"""In-memory ARM resources: subscriptions, resource groups, VMs, scale sets, instances, extensions."""

import copy
import hashlib
import json

from .util import dig, iso_now

VM_TYPE = 'Microsoft.Compute/virtualMachines'
VMSS_TYPE = 'Microsoft.Compute/virtualMachineScaleSets'
INSTANCE_TYPE = 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
VMACCESS_LINUX = ('microsoft.ostcextensions', 'vmaccessforlinux')
VMACCESS_WINDOWS = ('microsoft.compute', 'vmaccessagent')

# Properties the service owns: ignored on PUT/PATCH input, kept from the stored model.
READ_ONLY_PROPS = (
    'vmId',
    'provisioningState',
    'instanceView',
    'timeCreated',
    'latestModelApplied',
    'virtualMachineScaleSet',
    'modelDefinitionApplied',
)


def fingerprint(data):
    """Stable digest of settings/protectedSettings (the simulator never keeps protected values)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class Subscription:
    def __init__(self, sub_id, name, tenant_id):
        self.id = sub_id
        self.name = name
        self.tenant_id = tenant_id
        self.groups = {}

    def to_arm(self):
        return {
            'id': f'/subscriptions/{self.id}',
            'authorizationSource': 'RoleBased',
            'managedByTenants': [],
            'subscriptionId': self.id,
            'tenantId': self.tenant_id,
            'displayName': self.name,
            'state': 'Enabled',
            'subscriptionPolicies': {
                'locationPlacementId': 'Public_2014-09-01',
                'quotaId': 'PayAsYouGo_2014-09-01',
                'spendingLimit': 'Off',
            },
        }


class ResourceGroup:
    def __init__(self, sub, name, location, tags=None):
        self.sub = sub
        self.name = name
        self.location = location
        self.tags = tags or {}
        self.vms = {}  # lower name -> Machine (includes Flexible scale-set members)
        self.scale_sets = {}  # lower name -> ScaleSet
        # Managed disks / snapshots (disks.py; a fleet VM's OS disk is added on first use) and networking
        # (network.py): lower name -> resource.
        self.disks = {}
        self.snapshots = {}
        self.vnets = {}
        self.nics = {}
        self.public_ips = {}

    @property
    def id(self):
        return f'/subscriptions/{self.sub.id}/resourceGroups/{self.name}'

    def to_arm(self):
        return {
            'id': self.id,
            'name': self.name,
            'type': 'Microsoft.Resources/resourceGroups',
            'location': self.location,
            'tags': self.tags,
            'properties': {'provisioningState': 'Succeeded'},
        }


class Extension:
    def __init__(self, machine, name, props, location):
        self.machine = machine
        self.name = name
        self.location = location
        self.props = {}  # public model: publisher, type, typeHandlerVersion, settings, forceUpdateTag, ...
        self.protected_fp = fingerprint(None)
        self.provisioning_state = 'Succeeded'
        self.status = None  # handler status entry of the instance view
        self.update_model(props, None)

    @property
    def handler(self):
        """publisher.type, lower-cased (the uniqueness key)."""
        return f'{self.props.get("publisher", "")}.{self.props.get("type", "")}'.lower()

    @property
    def display_handler(self):
        return f'{self.props.get("publisher", "")}.{self.props.get("type", "")}'

    def is_vmaccess_linux(self):
        return (self.props.get('publisher', '').lower(), self.props.get('type', '').lower()) == VMACCESS_LINUX

    def is_vmaccess_windows(self):
        return (self.props.get('publisher', '').lower(), self.props.get('type', '').lower()) == VMACCESS_WINDOWS

    def update_model(self, props, protected):
        props = {
            k: copy.deepcopy(v)
            for k, v in props.items()
            if k not in ('protectedSettings', 'protectedSettingsFromKeyVault', 'provisioningState', 'instanceView')
        }
        props.setdefault('settings', {})
        self.props = props
        self.protected_fp = fingerprint(protected)

    def needs_rerun(self, props, protected):
        return (
            fingerprint(props.get('settings') or {}) != fingerprint(self.props.get('settings') or {})
            or fingerprint(protected) != self.protected_fp
            or props.get('forceUpdateTag') != self.props.get('forceUpdateTag')
        )

    @property
    def id(self):
        return f'{self.machine.id}/extensions/{self.name}'

    def set_status(self, ok, message):
        if ok:
            code, level, display = 'ProvisioningState/succeeded', 'Info', 'Provisioning succeeded'
        else:
            code, level, display = 'ProvisioningState/failed/1', 'Error', 'Provisioning failed'
        self.status = {'code': code, 'level': level, 'displayStatus': display, 'message': message, 'time': iso_now()}

    def instance_view(self):
        view = {
            'name': self.name,
            'type': self.display_handler,
            'typeHandlerVersion': self.props.get('typeHandlerVersion', ''),
        }
        if self.status:
            view['statuses'] = [dict(self.status)]
        return view

    def to_arm(self, expand_instance_view=False):
        props = copy.deepcopy(self.props)
        props['provisioningState'] = self.provisioning_state
        if expand_instance_view:
            props['instanceView'] = self.instance_view()
        return {
            'name': self.name,
            'id': self.id,
            'type': f'{self.machine.type}/extensions',
            'location': self.location,
            'properties': props,
        }


class ScaleSet:
    def __init__(self, rg, name, orchestration, model):
        self.rg = rg
        self.name = name
        self.orchestration = orchestration  # Uniform | Flexible
        self.model = model  # full ARM JSON
        self.instances = {}  # instance id -> Machine (Uniform only)

    @property
    def id(self):
        return f'{self.rg.id}/providers/{VMSS_TYPE}/{self.name}'

    def to_arm(self):
        data = copy.deepcopy(self.model)
        data['id'], data['name'], data['type'] = self.id, self.name, VMSS_TYPE
        if self.orchestration == 'Uniform':
            data.setdefault('sku', {})['capacity'] = len(self.instances)
        return data


class Machine:
    """A VM or a Uniform scale-set instance: both have a model, power state, guest, extensions."""

    # The boot model (boot.py, disks.py): class defaults, so a fleet of healthy VMs pays nothing per VM.
    boot_seed = None  # {'faults': [...], 'driver': ..., 'distro': ...} for the OS disk before it is materialized
    generation = 'V2'  # hyperVGeneration of the VM (fleet key hyper_v_generation)
    architecture = 'x64'  # x64 | Arm64 (fleet key architecture)
    boots = ()  # boot records while boot diagnostics is enabled (bootdiag.py): fault name or None, newest last

    def __init__(self, rg, name, os_type, model, power='running', scale_set=None, instance_id=None):
        self.rg = rg
        self.name = name  # VM name, or "<ss>_<n>" for an instance
        self.os = os_type  # linux | windows
        self.model = model  # ARM JSON without the dynamic parts (provisioningState, etag, resources)
        self.power = power  # running | stopped | deallocated
        self.scale_set = scale_set  # ScaleSet for Uniform instances and Flexible members
        self.instance_id = instance_id  # Uniform instances only
        self.etag_n = 1
        self.busy = None  # the Operation running on this machine, if any
        self.busy_kind = None  # "update" | "start" | "deallocate" | ...
        self.agent = None  # proxyagent.AgentState when the fleet gives the VM a proxy agent
        self.guest = None  # vmaccess.LinuxGuest for Linux machines
        self.extensions = {}  # lower name -> Extension
        self.booted_at = 0.0
        self.msp_supported = True  # False: proxyAgentSettings writes are refused (fleet proxy_agent.supported)

    @property
    def is_instance(self):
        return self.instance_id is not None

    @property
    def type(self):
        return INSTANCE_TYPE if self.is_instance else VM_TYPE

    @property
    def id(self):
        if self.is_instance:
            return f'{self.scale_set.id}/virtualMachines/{self.instance_id}'
        return f'{self.rg.id}/providers/{VM_TYPE}/{self.name}'

    @property
    def sub(self):
        return self.rg.sub

    @property
    def location(self):
        return self.model.get('location') or self.rg.location

    @property
    def etag(self):
        return f'"{self.etag_n}"'

    def proxy_settings(self):
        return dig(self.model, 'properties', 'securityProfile', 'proxyAgentSettings', default={}) or {}

    def proxy_enabled(self):
        return bool(self.proxy_settings().get('enabled'))

    def key_incarnation(self):
        return int(self.proxy_settings().get('keyIncarnationId') or 0)

    def provisioning_state(self):
        if getattr(self, 'creating', False) or getattr(self, 'deleting', False):
            return 'Creating' if getattr(self, 'creating', False) else 'Deleting'
        if self.busy is not None:
            return 'Updating'
        return 'Failed' if getattr(self, 'update_failed', False) else 'Succeeded'

    def to_arm(self, instance_view=None):
        data = copy.deepcopy(self.model)
        data['id'], data['name'], data['type'] = self.id, self.name, self.type
        data['location'] = self.location
        data['etag'] = self.etag
        props = data.setdefault('properties', {})
        props['provisioningState'] = self.provisioning_state()
        if self.is_instance:
            data['instanceId'] = self.instance_id
            props['latestModelApplied'] = True
        elif self.scale_set is not None:
            props['virtualMachineScaleSet'] = {'id': self.scale_set.id}
        if instance_view is not None:
            props['instanceView'] = instance_view
        if self.extensions and not self.is_instance:
            data['resources'] = [ext.to_arm() for ext in self.extensions.values()]
        elif self.extensions:
            data['resources'] = [{'id': ext.id} for ext in self.extensions.values()]
        return data
