# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rescue VMs' size and vCPU quota: the reads (skus list, usages) and the pure arithmetic of how many rescue VMs
fit (private; used by fleet.py).

``read_size`` reads the size's ``MaxDataDiskCount``, ``vCPUs`` and family from ``Microsoft.Compute/skus``
(ResourceSkus_List 2021-07-01, a location filter; a size restricted there is not offered), ``read_usages`` the
Compute usages of the location (Usage_List: ``cores``, ``virtualMachines``, one entry per family). Then:

- ``quota_short(size, usage, new_vms)``: the quotas ``new_vms`` more rescue VMs would exceed (one line each);
- ``quota_allows(size, usage, wanted)``: the most of ``wanted`` new rescue VMs that fit (0 when not even one);
- ``share(needs, allowed)``: ``allowed`` new rescue VMs shared among kinds: first one to each kind that has none,
  the kinds with the most copies first, then one more at a time to the kind with the most copies per rescue VM;
- ``quota_refusal(...)``: the message refusing the rescue VMs when not even one fits (``quota_exceeded``);
- ``wave_note(...)``: the warning of a batch served in waves by fewer rescue VMs than it needs.

Public names: ``SizeInfo``, ``read_size(client, subscription, location, size)``, ``read_usages(client, subscription,
location)``, ``quota_short``, ``quota_allows``, ``share``, ``quota_refusal``, ``wave_note``, ``SKUS_API``.
"""

from __future__ import annotations

import dataclasses
import math

from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import MAX_LUN

SKUS_API = '2021-07-01'  # ResourceSkus_List
USAGES_API = '2024-11-01'


@dataclasses.dataclass(frozen=True)
class SizeInfo:
    name: str
    family: str | None
    vcpus: int
    max_data_disks: int


def _pages(client, path, params, api_version):
    body = client.get(path, api_version=api_version, params=params)
    while True:
        yield from (body or {}).get('value') or ()
        link = (body or {}).get('nextLink')
        if not link:
            return
        body = client.request('GET', link, api_version=None).body


def _restricted(sku, location):
    for restriction in sku.get('restrictions') or ():
        if restriction.get('type') == 'Location' and location in [
            str(v).lower() for v in restriction.get('values') or ()
        ]:
            return True
    return False


def read_size(client, subscription, location, size):
    """The ``SizeInfo`` of ``size`` from the skus list of ``location`` (None: not offered there)."""
    where = location.replace(' ', '').lower()
    path = '/subscriptions/%s/providers/Microsoft.Compute/skus' % subscription
    for sku in _pages(client, path, {'$filter': "location eq '%s'" % where}, SKUS_API):
        if sku.get('resourceType') != 'virtualMachines' or str(sku.get('name', '')).lower() != size.lower():
            continue
        if where not in [str(loc).replace(' ', '').lower() for loc in sku.get('locations') or ()]:
            continue
        if _restricted(sku, where):
            return None
        caps = {c.get('name'): c.get('value') for c in sku.get('capabilities') or ()}
        return SizeInfo(sku['name'], sku.get('family'), int(float(caps.get('vCPUs') or 0)),
                        int(caps.get('MaxDataDiskCount') or MAX_LUN + 1))  # fmt: skip
    return None


def read_usages(client, subscription, location):
    """{usage name: (current, limit)} of Compute in ``location`` (Usage_List)."""
    path = '/subscriptions/%s/providers/Microsoft.Compute/locations/%s/usages' % (
        subscription, location.replace(' ', '').lower())  # fmt: skip
    out = {}
    for usage in _pages(client, path, None, USAGES_API):
        out[str((usage.get('name') or {}).get('value'))] = (
            int(usage.get('currentValue') or 0),
            int(usage.get('limit') or 0),
        )
    return out


def quota_short(size, usage, new_vms):
    """The quotas ``new_vms`` more rescue VMs of ``size`` would exceed: one line each (empty: they fit)."""
    need = new_vms * size.vcpus
    short = []
    for name, unit, want in (
        ('cores', 'vCPUs', need),
        (size.family, 'vCPUs', need),
        ('virtualMachines', 'VMs', new_vms),
    ):
        if not name or name not in usage:
            continue
        used, limit = usage[name]
        if used + want > limit:
            short.append('%s: %d of %d %s used, %d free, %d needed (a limit of at least %d)'
                         % (name, used, limit, unit, max(0, limit - used), want, used + want))  # fmt: skip
    return short


def quota_allows(size, usage, wanted):
    """The most of ``wanted`` new rescue VMs of ``size`` the free quota holds (0: not even one)."""
    for count in range(wanted, 0, -1):
        if not quota_short(size, usage, count):
            return count
    return 0


def share(needs, allowed):
    """{kind: new rescue VMs} for ``needs`` [(kind, copies, existing, new wanted)] within ``allowed`` (docstring)."""
    out = {kind: 0 for kind, _copies, _existing, _new in needs}
    left = allowed
    for kind, _copies, existing, new in sorted(needs, key=lambda n: -n[1]):
        if left and new and not existing:
            out[kind], left = 1, left - 1
    while left:
        open_kinds = [(copies / float(existing + out[kind]), kind) for kind, copies, existing, new in needs
                      if out[kind] < new]  # fmt: skip
        if not open_kinds:
            break
        _load, kind = max(open_kinds, key=lambda item: item[0])
        out[kind], left = out[kind] + 1, left - 1
    return out


def quota_refusal(size, usage, new_vms, location, subscription, copies):
    """The message refusing ``new_vms`` rescue VMs of ``size`` over the free quota, or None when they fit."""
    short = quota_short(size, usage, new_vms)
    if not short:
        return None
    return (
        '%d OS disk copies in %s need %d new rescue VM(s) of size %s (%d data disks and %d vCPUs each: %d vCPUs), '
        'more than the quota of subscription %s allows (not even one fits): %s. Nothing was written. Fix: raise the '
        'quota (Azure portal, Quotas, or a support request) or free vCPUs in %s; or set rescue_vm_size to a size of '
        'a family with free quota, or with fewer vCPUs; or rescue fewer VMs per run.'
        % (
            copies,
            location,
            new_vms,
            size.name,
            size.max_data_disks,
            size.vcpus,
            new_vms * size.vcpus,
            subscription,
            '; '.join(short),
            location,
        )
    )


def wave_note(size, usage, location, copies, needed, allowed, existing):
    """The once-per-batch warning of copies served in waves by fewer rescue VMs than they need."""
    total = existing + allowed
    return (
        'offline rescue in %s: %d OS disk copies need %d rescue VM(s) of size %s (%d data disks each) but the vCPU '
        'quota allows %d new (%s): %d rescue VM(s) serve the copies in waves of up to %d; a copy waits for a LUN '
        'freed by a finished repair (at most wait_timeout without one freed). Raise the quota or set rescue_vm_size '
        'to a size with more data disks per vCPU for one wave.'
        % (
            location,
            copies,
            existing + needed,
            size.name,
            size.max_data_disks,
            allowed,
            '; '.join(quota_short(size, usage, needed)),
            total,
            total * size.max_data_disks,
        )
    )


def new_needed(copies, free, limit):
    """The new rescue VMs ``copies`` need beyond ``free`` LUNs on existing ones, ``limit`` copies each."""
    return int(math.ceil(max(0, copies - free) / float(limit)))
