"""Simulator configuration: every knob with Azure's real value as the default."""

import yaml

# Compute throttling policies (azure-facts.md section 3): name -> per-resource and per-subscription
# one-minute token buckets as (refill per minute, maximum). ``None`` means no bucket at that scope.
COMPUTE_POLICIES = {
    'UpdateVM': {'resource': (4, 12), 'sub': (500, 1500)},
    'LowCostGet': {'resource': (12, 36), 'sub': (8000, 24000)},
    'HighCostGet': {'resource': None, 'sub': (300, 900)},
    'GetOperation': {'resource': (15, 45), 'sub': (5000, 15000)},
}


_POLICY_KEYS = {
    'UpdateVM': 'update_vm',
    'LowCostGet': 'low_cost_get',
    'HighCostGet': 'high_cost_get',
    'GetOperation': 'get_operation',
}


def compute_keys(policy, scope):
    """Config keys (rate per minute, burst) of one compute bucket, e.g. compute_update_vm_resource_rate."""
    base = f'compute_{_POLICY_KEYS[policy]}_{scope}'
    return base + '_rate', base + '_burst'


DEFAULTS = {
    'token_lifetime': 3599,  # seconds, as Entra ID issues them
    'lro_seconds': 15.0,  # how long a write (PATCH/PUT VM, power action) runs
    'lro_retry_after': 10,  # Retry-After on LRO responses (seconds)
    'relatch_seconds': 90.0,  # key reset applied -> new key visible in the guest's keyLatchStatus
    'extension_seconds': 30.0,  # extension PUT -> handler result
    # An extension write on a VM whose agent is Not Ready: Azure gives up after this (VMAgentStatusCommunicationError;
    # about 25 minutes in the public reports, armsim.guestops).
    'agent_timeout_seconds': 1500.0,
    'busy_conflict': True,  # a second write while an operation runs -> 409 OperationNotAllowed
    'throttle': True,
    'gw_read_burst': 250,
    'gw_read_rate': 25,
    'gw_write_burst': 200,
    'gw_write_rate': 10,
    'gw_delete_burst': 200,
    'gw_delete_rate': 10,
    'gw_global_factor': 15,  # per-subscription limit across principals = factor x the per-principal one
    'latency_ms': 0,
    # Instance-view reads after each model write that still answer the Guest Proxy Agent status from before the
    # write (Azure's status lags the model: the agent uploads it every 15-60 s). 0: no lag modelled (the tests'
    # default); make bench uses 1.
    'stale_status_reads': 0,
    'page_size': 50,  # list pages (nextLink)
    # The VM GET's ``resources`` entries carry each extension's forceUpdateTag. false: they leave it out, as the
    # official VirtualMachines_Get example does (the extension's own GET still has it).
    'vm_resources_force_update_tag': True,
    # Run Command scripts (runcommand.py, guestscript.py): a script's ``sleep N`` takes N x this many seconds,
    # and so does its timeoutInSeconds (tests shrink both together).
    'script_time_scale': 1.0,
    # Disks, rescue VMs, networking (disks.py, vmcreate.py, network.py; all [inferred] round figures): a disk copy
    # runs this long; a VM create / delete; a network resource write. false: a disk copied from a disk or snapshot
    # takes hyperVGeneration, architecture, security type, encryption set and zone from the request only (as Azure
    # was seen to, disks.py); true: it keeps the source's.
    'disk_copy_seconds': 30.0,
    'disk_copy_keeps_properties': False,
    'vm_create_seconds': 60.0,
    'network_seconds': 5.0,
    # A redeploy (remedies.py) moves the VM to another node: "several minutes" (learn.microsoft.com, Redeploy a VM
    # to a new Azure node); 300 s is [inferred]. Reapply and restart take lro_seconds like other VM operations.
    'redeploy_seconds': 300.0,
    # vCPU quotas per subscription and location (capacity.py; [inferred] round figures: Azure's defaults depend on
    # the offer and are raised on request): Total Regional vCPUs, and each size family's vCPUs.
    'vcpu_quota_regional': 2000,
    'vcpu_quota_family': 2000,
}
for _policy, _scopes in COMPUTE_POLICIES.items():
    for _scope, _values in _scopes.items():
        if _values is not None:
            _rate, _burst = compute_keys(_policy, _scope)
            DEFAULTS[_rate], DEFAULTS[_burst] = _values


class ConfigError(ValueError):
    pass


def coerce(key, value):
    """Validate ``key`` and convert ``value`` (possibly a string from --set) to the default's type."""
    if key not in DEFAULTS:
        raise ConfigError(f'unknown config key {key!r}')
    if isinstance(value, str):
        value = yaml.safe_load(value)
    default = DEFAULTS[key]
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(default, int):
            return int(value) if float(value) == int(value) else float(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f'bad value for {key}: {value!r}') from None
    return value


def parse_sets(items):
    """['a=1', 'b=true'] -> {'a': 1, 'b': True}."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        if not sep:
            raise ConfigError(f'--set expects key=value, got {item!r}')
        out[key.strip()] = coerce(key.strip(), value)
    return out
