"""VM sizes and vCPU quotas: ``Microsoft.Compute/skus`` (ResourceSkus_List), ``locations/{loc}/usages`` (Usage_List)
and the quota refusal of a VM create (issue 23: a fleet rescue reads both before it creates rescue VMs).

Sources and rules:
- ``GET /subscriptions/{s}/providers/Microsoft.Compute/skus?api-version=2021-07-01[&$filter=location eq '<loc>']``:
  the definition ``ResourceSkusResult`` of Azure/azure-rest-api-specs
  ``specification/compute/resource-manager/Microsoft.Compute/Skus/stable/2021-07-01/skus.json`` (vendored in
  tests/specs/compute). One entry per virtual machine size (``resourceType: virtualMachines``) with ``family``,
  ``locations``, ``locationInfo`` (zones 1-3) and the capabilities ``vCPUs``, ``MemoryGB``, ``MaxDataDiskCount``,
  ``HyperVGenerations``, ``CpuArchitectureType`` as ``az vm list-skus`` prints them. The figures are those of the
  published size pages on learn.microsoft.com (Bsv1 "B-series", Dsv2 "DSv2-series", Dsv3, Dsv5 / Ddsv5 / Dpsv5,
  Esv5): ``SIZES``. Only the location filter is honoured (the spec: "Only **location** filter is supported
  currently"); every size is offered in every location of the fleet, zones 1-3, with no restrictions [inferred].
- ``GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/usages?api-version=...``: ``ListUsagesResult``
  of computeRPCommon.json (Usage_List): ``cores`` ("Total Regional vCPUs"), ``virtualMachines`` and one entry per
  size family (``standardDSv5Family``, "Standard DSv5 Family vCPUs"), the names ``az vm list-usage`` shows.
  ``currentValue`` counts the VMs of the subscription in that location that hold their vCPUs (a deallocated VM
  does not: Azure's "deallocate to stop billing and free quota" guidance); ``limit`` is config ``vcpu_quota_regional``
  / ``vcpu_quota_family`` / 25000 VMs [inferred: the real defaults depend on the offer and are raised on request].
- A VM create over a quota: 409 ``OperationNotAllowed`` "Operation could not be completed as it results in exceeding
  approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location:
  centralus, Current Limit: 10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12."
  (quoted in nforgeio/neonKUBE #1671 and Azure/azure_preview_modules #360); the family form names the family
  ("exceeding approved standardDSv5Family Cores quota") [inferred from the same text].
- A size not in ``SIZES`` counts 2 vCPUs in ``cores`` only and allows 16 data disks (vmdisks.max_data_disks)
  [inferred].

Public names: ``SIZES``, ``size_info(name)``, ``usages(world, sub, location)``, ``check_quota(world, sub, location,
size)``, ``Capacity(world)`` (``register(router)``).
"""

from .errors import ArmError
from .routing import SUB, Response

# size -> (family, vCPUs, memory GiB, max data disks, Hyper-V generations, architecture): the published size tables
SIZES = {
    'Standard_B1s': ('standardBSFamily', 1, 1, 2, 'V1,V2', 'x64'),
    'Standard_B1ms': ('standardBSFamily', 1, 2, 2, 'V1,V2', 'x64'),
    'Standard_B2s': ('standardBSFamily', 2, 4, 4, 'V1,V2', 'x64'),
    'Standard_B2ms': ('standardBSFamily', 2, 8, 4, 'V1,V2', 'x64'),
    'Standard_DS1_v2': ('standardDSv2Family', 1, 3.5, 4, 'V1,V2', 'x64'),
    'Standard_D2s_v3': ('standardDSv3Family', 2, 8, 4, 'V1,V2', 'x64'),
    'Standard_D2s_v5': ('standardDSv5Family', 2, 8, 4, 'V1,V2', 'x64'),
    'Standard_D4s_v5': ('standardDSv5Family', 4, 16, 8, 'V1,V2', 'x64'),
    'Standard_D8s_v5': ('standardDSv5Family', 8, 32, 16, 'V1,V2', 'x64'),
    'Standard_D16s_v5': ('standardDSv5Family', 16, 64, 32, 'V1,V2', 'x64'),
    'Standard_D2ds_v5': ('standardDDSv5Family', 2, 8, 4, 'V1,V2', 'x64'),
    'Standard_D2ps_v5': ('standardDPSv5Family', 2, 8, 4, 'V2', 'Arm64'),
    'Standard_E2s_v5': ('standardESv5Family', 2, 16, 4, 'V1,V2', 'x64'),
}
_BY_LOWER = {k.lower(): k for k in SIZES}
UNKNOWN_VCPUS = 2
MAX_VMS = 25000
FAMILY_LABEL = {
    'standardBSFamily': 'Standard BS Family vCPUs',
    'standardDSv2Family': 'Standard DSv2 Family vCPUs',
    'standardDSv3Family': 'Standard DSv3 Family vCPUs',
    'standardDSv5Family': 'Standard DSv5 Family vCPUs',
    'standardDDSv5Family': 'Standard DDSv5 Family vCPUs',
    'standardDPSv5Family': 'Standard DPSv5 Family vCPUs',
    'standardESv5Family': 'Standard ESv5 Family vCPUs',
}


def size_info(name):
    """(family or None, vCPUs) of a VM size."""
    key = _BY_LOWER.get(str(name or '').lower())
    if key is None:
        return None, UNKNOWN_VCPUS
    return SIZES[key][0], SIZES[key][1]


def _norm(location):
    return str(location or '').replace(' ', '').lower()


def _sku(name, location):
    family, vcpus, memory, disks, generations, arch = SIZES[name]
    caps = [('vCPUs', vcpus), ('MemoryGB', memory), ('MaxDataDiskCount', disks), ('HyperVGenerations', generations),
            ('CpuArchitectureType', arch), ('PremiumIO', 'True'), ('MaxNetworkInterfaces', 2)]  # fmt: skip
    return {
        'resourceType': 'virtualMachines',
        'name': name,
        'tier': 'Standard',
        'size': name.split('_', 1)[1],
        'family': family,
        'locations': [location],
        'locationInfo': [{'location': location, 'zones': ['1', '2', '3'], 'zoneDetails': []}],
        'capabilities': [{'name': k, 'value': str(v)} for k, v in caps],
        'restrictions': [],
    }


def _vm_holds_quota(machine):
    return not machine.is_instance and (machine.power != 'deallocated' or getattr(machine, 'creating', False))


def _size(machine):
    return ((machine.model.get('properties') or {}).get('hardwareProfile') or {}).get('vmSize')


def usages(world, sub, location):
    """{usage name: (current, limit)} of one subscription and location (module docstring)."""
    where = _norm(location)
    cores = vms = 0
    families = {name: 0 for name in FAMILY_LABEL}
    for group in world.subscription(sub).groups.values():
        for machine in group.vms.values():
            if _norm(machine.location) != where:
                continue
            vms += 1
            if not _vm_holds_quota(machine):
                continue
            family, vcpus = size_info(_size(machine))
            cores += vcpus
            if family:
                families[family] += vcpus
    cfg = world.config
    out = {'cores': (cores, int(cfg['vcpu_quota_regional'])), 'virtualMachines': (vms, MAX_VMS)}
    for family, used in families.items():
        out[family] = (used, int(cfg['vcpu_quota_family']))
    return out


def check_quota(world, sub, location, size):
    """409 OperationNotAllowed when a VM of ``size`` would exceed the regional or its family's vCPU quota."""
    family, vcpus = size_info(size)
    table = usages(world, sub, location)
    for name, label in (('cores', 'Total Regional Cores'), (family, '%s Cores' % family)):
        if not name:
            continue
        used, limit = table[name]
        if used + vcpus > limit:
            raise ArmError(409, 'OperationNotAllowed',
                           'Operation could not be completed as it results in exceeding approved %s quota. Additional '
                           'details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current '
                           'Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d.'
                           % (label, location, limit, used, vcpus, used + vcpus))  # fmt: skip


class Capacity:
    """The skus and usages routes."""

    def __init__(self, world):
        self.world = world

    def register(self, router):
        router.add('GET', SUB + r'/providers/microsoft\.compute/skus', self.skus, 'skus.list',
                   action='Microsoft.Compute/skus/read')  # fmt: skip
        router.add('GET', SUB + r'/providers/microsoft\.compute/locations/(?P<location>[^/]+)/usages', self.usages,
                   'usages.list', action='Microsoft.Compute/locations/usages/read')  # fmt: skip

    def _locations(self, sub):
        return sorted({_norm(g.location) for g in self.world.subscription(sub).groups.values()})

    def skus(self, req, sub):
        wanted = None
        text = req.query.get('$filter')
        if text:
            parts = text.replace('"', "'").split("'")
            if len(parts) < 2 or not parts[0].strip().lower().startswith('location eq'):
                raise ArmError(
                    400, 'InvalidFilter', "Only the location filter (location eq '<location>') is supported."
                )
            wanted = _norm(parts[1])
        locations = [loc for loc in self._locations(sub) if wanted is None or loc == wanted]
        return Response(200, {'value': [_sku(name, loc) for loc in locations for name in SIZES]})

    def usages(self, req, sub, location):
        self.world.subscription(sub)
        table = usages(self.world, sub, location)
        labels = dict(FAMILY_LABEL, cores='Total Regional vCPUs', virtualMachines='Virtual Machines')
        value = [{'unit': 'Count', 'currentValue': used, 'limit': limit,
                  'name': {'value': name, 'localizedValue': labels[name]}}
                 for name, (used, limit) in table.items()]  # fmt: skip
        return Response(200, {'value': value})
