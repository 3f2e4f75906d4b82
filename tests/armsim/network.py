"""Just enough Microsoft.Network for a rescue VM: virtual networks, subnets, NICs and (only when asked) public IPs.

Routes (api-version any; bodies follow the Network RP's VirtualNetwork, Subnet, NetworkInterface and
PublicIPAddress definitions, azure-rest-api-specs network/stable): PUT (201 create / 200 update, long-running with
``Azure-AsyncOperation`` under ``Microsoft.Network/locations/{loc}/operations``), GET, DELETE (202, or 204 when
absent), list by resource group (NICs and public IPs by subscription too). A NIC has a public IP only when an IP
configuration names one (``properties.publicIPAddress.id``): nothing here ever makes a public IP on its own, so a
test can assert that none was created (control API ``GET /_sim/public_ips``).

Refusals (codes are the Network RP's; texts [inferred] after its wording): a NIC used by a VM 400 ``NicInUse``; a
subnet with NICs in it 400 ``InUseSubnetCannotBeDeleted``; a public IP on a NIC 400 ``PublicIPAddressInUse``; a
NIC whose subnet or public IP does not exist 400 ``InvalidResourceReference`` ("Resource <id> referenced by
resource <id> was not found. Please make sure that the referenced resource exists, and that both resources are in
the same region.").

A fleet VM's NIC (``<vm>-nic``, the id fleet.py writes) is made on first use, in the first subnet of its group's
virtual network when the fleet declares one (group key ``network``), with no public IP [inferred].

Public names: ``Network(world)`` (``register(router)``), ``NetResource``, ``find(rg, kind, name,
materialize=True)``, ``by_id(world, id)``, ``group_items(rg, kind)``, ``declare(rg, spec)`` (fleet group key
``network: {vnet?, address_prefix?, subnets?: [{name, address_prefix}]}``), ``KINDS``.
"""

import copy
import ipaddress
import re
import uuid

from . import errors
from .errors import ArmError
from .lro import lro_headers
from .routing import RG, SUB, Response
from .util import dig

NET = r'/providers/microsoft\.network'
KINDS = {
    'vnets': 'Microsoft.Network/virtualNetworks',
    'subnets': 'Microsoft.Network/virtualNetworks/subnets',
    'nics': 'Microsoft.Network/networkInterfaces',
    'public_ips': 'Microsoft.Network/publicIPAddresses',
}
PATHS = {'vnets': 'virtualNetworks', 'nics': 'networkInterfaces', 'public_ips': 'publicIPAddresses'}
_ID = re.compile(
    r'^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network/'
    r'(?P<type>virtualNetworks|networkInterfaces|publicIPAddresses)/(?P<name>[^/]+)(?:/subnets/(?P<subnet>[^/]+))?$',
    re.IGNORECASE,
)


class NetResource:
    """A vnet, subnet, NIC or public IP: its ARM properties plus who uses it."""

    __slots__ = ('kind', 'rg', 'name', 'location', 'props', 'tags', 'owner', 'parent', 'children', 'state', 'next_ip')

    def __init__(self, kind, rg, name, location, props=None, parent=None):
        self.kind, self.rg, self.name, self.location = kind, rg, name, location
        self.props = props or {}
        self.tags = None
        self.owner = None  # the Machine of a NIC, the NIC of a public IP
        self.parent = parent  # the vnet of a subnet
        self.children = {}  # a vnet's subnets: lower name -> NetResource
        self.state = 'Succeeded'
        self.next_ip = 4  # Azure keeps the first four addresses of a subnet

    @property
    def id(self):
        if self.kind == 'subnets':
            return f'{self.parent.id}/subnets/{self.name}'
        return f'{self.rg.id}/providers/{KINDS[self.kind]}/{self.name}'

    def to_arm(self):
        props = copy.deepcopy(self.props)
        props['provisioningState'] = self.state
        if self.kind == 'vnets':
            props['subnets'] = [s.to_arm() for s in self.children.values()]
        elif self.kind == 'nics' and self.owner is not None:
            props['virtualMachine'] = {'id': self.owner.id}
        elif self.kind == 'public_ips' and self.owner is not None:
            props['ipConfiguration'] = {'id': self.owner}
        body = {'id': self.id, 'name': self.name, 'etag': f'W/"{uuid.uuid5(uuid.NAMESPACE_URL, self.id)}"',
                'properties': props}  # fmt: skip
        if self.kind != 'subnets':
            body.update(type=KINDS[self.kind], location=self.location)
        if self.kind == 'public_ips':
            body['sku'] = {'name': 'Standard', 'tier': 'Regional'}
        if self.tags is not None:
            body['tags'] = dict(self.tags)
        return body


def declare(rg, spec):
    """Fleet group key ``network``: a vnet (default ``<group>-vnet``, 10.0.0.0/16) with subnets (default one,
    ``default`` 10.0.0.0/24)."""
    if spec is None or spec is False:
        return
    spec = spec if isinstance(spec, dict) else {}
    vnet = NetResource('vnets', rg, spec.get('vnet') or f'{rg.name}-vnet', rg.location)
    vnet.props = {'addressSpace': {'addressPrefixes': [spec.get('address_prefix') or '10.0.0.0/16']}}
    for sub_spec in spec.get('subnets') or [{'name': 'default', 'address_prefix': '10.0.0.0/24'}]:
        subnet = NetResource('subnets', rg, sub_spec['name'], rg.location, parent=vnet)
        subnet.props = {'addressPrefix': sub_spec.get('address_prefix') or '10.0.0.0/24'}
        vnet.children[subnet.name.lower()] = subnet
    rg.vnets[vnet.name.lower()] = vnet


def _store(rg, kind):
    return {'vnets': rg.vnets, 'nics': rg.nics, 'public_ips': rg.public_ips}[kind]


def _fleet_nic(rg, name):
    vm = rg.vms.get(name[:-4].lower()) if name.lower().endswith('-nic') else None
    refs = dig(vm.model, 'properties', 'networkProfile', 'networkInterfaces', default=[]) if vm else []
    if not any(str(r.get('id', '')).lower().endswith(f'/networkinterfaces/{name.lower()}') for r in refs):
        return None
    nic = NetResource('nics', rg, name, vm.location)
    subnet = next((s for v in rg.vnets.values() for s in v.children.values()), None)
    subnet_id = (
        subnet.id if subnet else f'{rg.id}/providers/Microsoft.Network/virtualNetworks/{vm.name}-vnet/subnets/default'
    )
    nic.props = _nic_props(nic, [{'name': 'ipconfig1', 'properties': {'subnet': {'id': subnet_id}}}], subnet)
    nic.owner = vm
    return nic


def find(rg, kind, name, materialize=True):
    item = _store(rg, kind).get(name.lower())
    if item is None and kind == 'nics':
        item = _fleet_nic(rg, name)
        if item is not None and materialize:
            rg.nics[name.lower()] = item
    return item


def by_id(world, resource_id):
    m = _ID.match(resource_id or '')
    sub = world.fleet.subscriptions.get(m['sub'].lower()) if m else None
    rg = sub.groups.get(m['rg'].lower()) if sub is not None else None
    if rg is None:
        return None
    kind = {'virtualnetworks': 'vnets', 'networkinterfaces': 'nics', 'publicipaddresses': 'public_ips'}[
        m['type'].lower()
    ]
    item = find(rg, kind, m['name'])
    if item is not None and m['subnet']:
        return item.children.get(m['subnet'].lower())
    return item


def group_items(rg, kind):
    items = list(_store(rg, kind).values())
    if kind == 'nics':
        for vm in rg.vms.values():
            name = f'{vm.name}-nic'
            if name.lower() not in rg.nics:
                nic = _fleet_nic(rg, name)
                if nic is not None:
                    items.append(nic)
    return items


def _nic_props(nic, configs, subnet):
    out = []
    for n, config in enumerate(configs):
        props = dict(config.get('properties') or {})
        ip = _allocate(subnet) if subnet is not None else f'10.0.0.{4 + n}'
        props.update(privateIPAddress=props.get('privateIPAddress') or ip, privateIPAllocationMethod='Dynamic',
                     primary=n == 0, privateIPAddressVersion='IPv4', provisioningState='Succeeded')  # fmt: skip
        name = config.get('name') or f'ipconfig{n + 1}'
        out.append({'name': name, 'id': f'{nic.id}/ipConfigurations/{name}', 'properties': props})
    return {
        'ipConfigurations': out,
        'enableAcceleratedNetworking': False,
        'enableIPForwarding': False,
        'nicType': 'Standard',
        'primary': True,
        'macAddress': '00-0D-3A-' + uuid.uuid5(uuid.NAMESPACE_URL, nic.id).hex[:6].upper(),
    }


def _allocate(subnet):
    net = ipaddress.ip_network(subnet.props.get('addressPrefix') or '10.0.0.0/24', strict=False)
    address = str(net.network_address + subnet.next_ip)
    subnet.next_ip += 1
    return address


class Network:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        for kind, path in PATHS.items():
            one = RG + NET + rf'/(?P<kind>{path})/(?P<name>[^/]+)'
            act = f'Microsoft.Network/{path}'
            add('PUT', one, self.put, f'network.{kind}.put', action=f'{act}/write')
            add('GET', one, self.get, f'network.{kind}.get', action=f'{act}/read')
            add('DELETE', one, self.delete, f'network.{kind}.delete', action=f'{act}/delete')
            add('GET', RG + NET + rf'/(?P<kind>{path})', self.list, f'network.{kind}.list', action=f'{act}/read')
            if kind != 'vnets':
                add('GET', SUB + NET + rf'/(?P<kind>{path})', self.list, f'network.{kind}.list',
                    action=f'{act}/read')  # fmt: skip
        subnet = RG + NET + r'/virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<name>[^/]+)'
        sub_act = 'Microsoft.Network/virtualNetworks/subnets'
        add('PUT', subnet, self.put_subnet, 'network.subnets.put', action=f'{sub_act}/write')
        add('GET', subnet, self.get_subnet, 'network.subnets.get', action=f'{sub_act}/read')
        add('DELETE', subnet, self.delete_subnet, 'network.subnets.delete', action=f'{sub_act}/delete')
        add('GET', RG + NET + r'/virtualNetworks/(?P<vnet>[^/]+)/subnets', self.list_subnets,
            'network.subnets.list', action=f'{sub_act}/read')  # fmt: skip
        add('GET', SUB + r'/providers/microsoft\.network/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)',
            self.world.compute.operation, 'operation', counter='poll')  # fmt: skip

    @staticmethod
    def _kind(path):
        return next(k for k, p in PATHS.items() if p.lower() == path.lower())

    def _lro(self, req, item, status, finish=None):
        def done(_when):
            item.state = 'Succeeded'
            return finish() if finish else None

        due = self.world.now() + float(self.world.config['network_seconds'])
        op = self.world.ops.start('NetworkOperation', item.rg.sub.id, item.location, due, done,
                                  final=item.to_arm if finish is None else None, provider='Microsoft.Network')  # fmt: skip
        headers = lro_headers(op, self.world.base_url, req.api_version, self.world.config['lro_retry_after'])
        return Response(status, item.to_arm() if finish is None else None, headers)

    def _one(self, sub, rg, kind, name):
        group = self.world.group(sub, rg)
        item = find(group, kind, name)
        if item is None:
            raise errors.resource_not_found(KINDS[kind], name, group.name)
        return item

    def get(self, req, sub, rg, kind, name):
        return Response(200, self._one(sub, rg, self._kind(kind), name).to_arm())

    def list(self, req, sub, kind, rg=None):
        kind = self._kind(kind)
        groups = [self.world.group(sub, rg)] if rg is not None else self.world.subscription(sub).groups.values()
        return Response(200, {'value': [i.to_arm() for g in groups for i in group_items(g, kind)]})

    def put(self, req, sub, rg, kind, name):
        kind = self._kind(kind)
        group = self.world.group(sub, rg)
        body = req.json()
        if not body.get('location'):
            raise errors.invalid_parameter("Required parameter 'location' is missing (null).", 'location')
        existing = find(group, kind, name)
        item = existing or NetResource(kind, group, name, body['location'])
        props = body.get('properties') or {}
        getattr(self, f'_put_{kind}')(item, props)
        if 'tags' in body:
            item.tags = dict(body.get('tags') or {})
        item.state = 'Updating'
        _store(group, kind)[name.lower()] = item
        return self._lro(req, item, 200 if existing else 201)

    def _put_vnets(self, item, props):
        item.props = {'addressSpace': props.get('addressSpace') or {'addressPrefixes': ['10.0.0.0/16']}}
        for sub_spec in props.get('subnets') or ():
            name = sub_spec.get('name')
            subnet = item.children.get(name.lower()) or NetResource('subnets', item.rg, name, item.location,
                                                                    parent=item)  # fmt: skip
            subnet.props = {'addressPrefix': dig(sub_spec, 'properties', 'addressPrefix') or '10.0.0.0/24'}
            item.children[name.lower()] = subnet

    def _put_public_ips(self, item, props):
        item.props = {
            'publicIPAllocationMethod': props.get('publicIPAllocationMethod') or 'Static',
            'publicIPAddressVersion': 'IPv4',
            'ipAddress': '20.50.%d.%d' % divmod(uuid.uuid5(uuid.NAMESPACE_URL, item.id).int % 65000, 256),
            'idleTimeoutInMinutes': 4,
        }

    def _put_nics(self, item, props):
        configs = props.get('ipConfigurations') or []
        if not configs:
            raise errors.invalid_parameter("Required parameter 'ipConfigurations' is missing (null).",
                                           'ipConfigurations')  # fmt: skip
        subnet = None
        for config in configs:
            subnet_id = dig(config, 'properties', 'subnet', 'id')
            subnet = by_id(self.world, subnet_id) if subnet_id else None
            if subnet is None:
                raise _reference(subnet_id or '<none>', item.id)
            ip_id = dig(config, 'properties', 'publicIPAddress', 'id')
            if ip_id:
                public_ip = by_id(self.world, ip_id)
                if public_ip is None:
                    raise _reference(ip_id, item.id)
                if public_ip.owner and not public_ip.owner.startswith(item.id):
                    raise ArmError(400, 'PublicIPAddressInUse',  # [inferred] text
                                   f'Public IP address {ip_id} is in use by {public_ip.owner}.')  # fmt: skip
        old = {c['name']: c for c in item.props.get('ipConfigurations') or ()}
        item.props = _nic_props(item, configs, subnet)
        for config in item.props['ipConfigurations']:
            if config['name'] in old:
                config['properties']['privateIPAddress'] = old[config['name']]['properties']['privateIPAddress']
            ip_id = dig(config, 'properties', 'publicIPAddress', 'id')
            if ip_id:
                by_id(self.world, ip_id).owner = config['id']

    def delete(self, req, sub, rg, kind, name):
        kind = self._kind(kind)
        group = self.world.group(sub, rg)
        item = find(group, kind, name)
        if item is None:
            return Response(204)
        refuse_in_use(item)
        item.state = 'Deleting'
        return self._lro(req, item, 202, finish=lambda: remove(item))

    # -- subnets ------------------------------------------------------------------------------------------
    def _vnet(self, sub, rg, vnet):
        return self._one(sub, rg, 'vnets', vnet)

    def get_subnet(self, req, sub, rg, vnet, name):
        subnet = self._vnet(sub, rg, vnet).children.get(name.lower())
        if subnet is None:
            raise errors.resource_not_found(f'{KINDS["vnets"]}/{vnet}/subnets', name, rg)
        return Response(200, subnet.to_arm())

    def list_subnets(self, req, sub, rg, vnet):
        return Response(200, {'value': [s.to_arm() for s in self._vnet(sub, rg, vnet).children.values()]})

    def put_subnet(self, req, sub, rg, vnet, name):
        parent = self._vnet(sub, rg, vnet)
        existing = parent.children.get(name.lower())
        subnet = existing or NetResource('subnets', parent.rg, name, parent.location, parent=parent)
        subnet.props = {'addressPrefix': dig(req.json(), 'properties', 'addressPrefix') or '10.0.0.0/24'}
        subnet.state = 'Updating'
        parent.children[name.lower()] = subnet
        return self._lro(req, subnet, 200 if existing else 201)

    def delete_subnet(self, req, sub, rg, vnet, name):
        parent = self._vnet(sub, rg, vnet)
        subnet = parent.children.get(name.lower())
        if subnet is None:
            return Response(204)
        refuse_in_use(subnet)
        return self._lro(req, subnet, 202, finish=lambda: parent.children.pop(name.lower(), None))


def _reference(ref, by):
    return ArmError(400, 'InvalidResourceReference',
                    f'Resource {ref} referenced by resource {by} was not found. Please make sure that the referenced '
                    'resource exists, and that both resources are in the same region.')  # fmt: skip


def _nics_in(subnet):
    rg_list = subnet.rg.sub.groups.values()
    return [n for g in rg_list for n in g.nics.values()
            if any(str(dig(c, 'properties', 'subnet', 'id') or '').lower() == subnet.id.lower()
                   for c in n.props.get('ipConfigurations') or ())]  # fmt: skip


def refuse_in_use(item):
    """400 when ``item`` is used (a NIC by a VM, a public IP by a NIC, a subnet or vnet by NICs)."""
    if item.kind == 'nics' and item.owner is not None:
        raise ArmError(400, 'NicInUse', f'Network Interface {item.id} is used by existing resource {item.owner.id}. '
                       'In order to delete the network interface, it must be dissociated from the resource.')  # fmt: skip
    if item.kind == 'public_ips' and item.owner:
        raise ArmError(400, 'PublicIPAddressInUse', f'Public IP address {item.id} can not be deleted since it is '
                       f'still allocated to resource {item.owner}.')  # fmt: skip
    subnets = [item] if item.kind == 'subnets' else list(item.children.values()) if item.kind == 'vnets' else []
    for subnet in subnets:
        users = _nics_in(subnet)
        if users:
            raise ArmError(400, 'InUseSubnetCannotBeDeleted', f'Subnet {subnet.name} is in use by {users[0].id} and '
                           'cannot be deleted. In order to delete the subnet, delete all the resources within the '
                           'subnet.')  # fmt: skip


def remove(item):
    """Delete ``item`` (a NIC frees the public IPs it held)."""
    _store(item.rg, item.kind).pop(item.name.lower(), None)
    if item.kind == 'nics':
        for config in item.props.get('ipConfigurations') or ():
            ip_id = dig(config, 'properties', 'publicIPAddress', 'id')
            for group in item.rg.sub.groups.values():
                for public_ip in group.public_ips.values():
                    if ip_id and public_ip.id.lower() == ip_id.lower():
                        public_ip.owner = None
    return None
