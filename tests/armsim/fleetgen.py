"""Generated fleets (``generate:`` in a fleet file, ``python -m armsim --generate N``, the benchmarks).

Moved out of fleet.py (which re-exports these names) to keep each file short. ``generated_group`` makes ``count``
proxy-agent VMs; ``faults`` maps a proxy-agent fault to "every Nth VM", ``boot_faults`` a boot fault (bootdiag.py:
``fstab``, ``kernel``, ``initrd``, ``grub``, ``disk_full`` on Linux VMs, ``bootloop_driver`` / ``safe_mode`` on
Windows ones; a fault the VM's OS cannot have is skipped), ``network: true`` gives the group a virtual network with
one subnet (network.py).

Public names: ``DEFAULT_SUBSCRIPTION``, ``DEFAULT_LOCATION``, ``FleetError``, ``generated_group``,
``subscription_ids``, ``generated_groups``, ``generate_fleet``.
"""

from .boot import FAULTS

DEFAULT_SUBSCRIPTION = '00000000-0000-4000-8000-000000000001'
DEFAULT_LOCATION = 'westeurope'


class FleetError(ValueError):
    pass


def _nth(table, i):
    hit = None
    for name, every in (table or {}).items():
        if every and i % int(every) == int(every) - 1:
            hit = name
    return hit


def generated_group(
    count,
    resource_group='rg-bench',
    prefix='bench',
    location=DEFAULT_LOCATION,
    windows_every=0,
    key_incarnation_id=1,
    faults=None,
    boot_faults=None,
    network=False,
):
    """A resource group with ``count`` proxy-agent VMs; ``faults`` / ``boot_faults`` map a fault to "every Nth VM"."""
    vms = []
    for i in range(int(count)):
        os_type = 'windows' if windows_every and i % int(windows_every) == windows_every - 1 else 'linux'
        vm = {
            'name': f'{prefix}-{i:05d}',
            'os': os_type,
            'proxy_agent': {'key_incarnation_id': key_incarnation_id, 'fault': _nth(faults, i)},
        }
        boot_fault = _nth(boot_faults, i)
        if boot_fault in FAULTS[os_type]:
            vm['boot_fault'] = boot_fault
        vms.append(vm)
    group = {'name': resource_group, 'location': location, 'vms': vms}
    if network:
        group['network'] = {}
    return group


def subscription_ids(k, first=DEFAULT_SUBSCRIPTION):
    """The ids of a fleet generated over ``k`` subscriptions: ``first``, then ...0002, ...0003 (unless taken)."""
    ids = [first]
    n = 1
    while len(ids) < k:
        n += 1
        candidate = f'00000000-0000-4000-8000-{n:012d}'
        if candidate.lower() != first.lower():
            ids.append(candidate)
    return ids


def generated_groups(k, count, groups=1, **kwargs):
    """``generated_group`` spread round-robin over ``k`` subscriptions: VM i goes to subscription i % k (names
    stay those of one generated group, so a VM keeps its name whatever k is). ``groups`` > 1: each subscription's
    VMs are dealt round-robin into that many resource groups, named ``<resource_group>-01`` ... Returns one list
    of groups per subscription."""
    whole = generated_group(count, **kwargs)
    per_sub = [whole] if k == 1 else [dict(whole, vms=whole['vms'][j::k]) for j in range(k)]
    groups = int(groups or 1)
    if groups < 1:
        raise FleetError('generate.groups must be 1 or more')
    if groups == 1:
        return [[g] for g in per_sub]
    return [
        [dict(g, name='%s-%02d' % (g['name'], n + 1), vms=g['vms'][n::groups]) for n in range(groups)] for g in per_sub
    ]


def generate_fleet(count, **kwargs):
    return {
        'principals': [
            {
                'name': 'automation',
                'client_id': '11111111-1111-4111-8111-111111111111',
                'client_secret': 'bench-secret-not-for-production',
            }
        ],
        'resource_groups': [generated_group(count, **kwargs)],
    }
