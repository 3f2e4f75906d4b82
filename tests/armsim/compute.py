"""Microsoft.Compute: VMs, scale sets, scale-set instances, extensions, power actions, operations."""

import copy
import importlib
import urllib.parse

from . import ade, bootdiag, errors, guestops, proxyagent, remedies, vmcreate, vmdisks
from .errors import ArmError
from .fleet import guest_module
from .lro import format_seconds, lro_headers
from .model import INSTANCE_TYPE, READ_ONLY_PROPS, VM_TYPE, VMSS_TYPE, Extension
from .routing import COMPUTE, INSTANCE, RG, SUB, VM, VMSS, Response
from .util import deep_merge, dig, find_key, iso_now

KEY_TARGET = 'securityProfile.proxyAgentSettings.keyIncarnationId'
KEY_MESSAGE = 'The value `securityProfile.proxyAgentSettings.keyIncarnationId` can only be incremented.'
PA_TARGET = 'securityProfile.proxyAgentSettings'
ENDPOINT_MODES = ('Audit', 'Enforce', 'Disabled')
# addProxyAgentExtension exists from api-version 2025-04-01 (spec pack excerpt); api-versions compare as dates.
ADD_EXTENSION_SINCE = '2025-04-01'
EXT_NOT_RUNNING = 'Cannot modify extensions in the VM when the VM is not running.'
POWER_ACTIONS = {  # action -> (operation name, power state when done, transitional instance-view power code)
    'start': ('Start', 'running', 'starting'),
    'restart': ('Restart', 'running', 'starting'),
    'powerOff': ('PowerOff', 'stopped', 'stopping'),
    'deallocate': ('Deallocate', 'deallocated', 'deallocating'),
}
POWER_DISPLAY = {
    'running': 'VM running',
    'stopped': 'VM stopped',
    'deallocated': 'VM deallocated',
    'starting': 'VM starting',
    'stopping': 'VM stopping',
    'deallocating': 'VM deallocating',
}
OK_STATUS = {'code': 'ProvisioningState/succeeded', 'level': 'Info', 'displayStatus': 'Provisioning succeeded'}


class Compute:
    def __init__(self, world):
        self.world = world

    # ------------------------------------------------------------------------------------------------
    # routes
    # ------------------------------------------------------------------------------------------------
    def register(self, router):
        add = router.add
        vm_act = 'Microsoft.Compute/virtualMachines'
        inst_act = 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
        for prefix, base_action, kind in ((VM, vm_act, 'vm'), (INSTANCE, inst_act, 'instance')):
            if kind == 'vm':
                add('GET', prefix, self.get_machine, 'vm.get', action=f'{vm_act}/read', policy='LowCostGet')
                add('PATCH', prefix, self.patch_vm, 'vm.patch', action=f'{vm_act}/write', policy='UpdateVM')
                add('PUT', prefix, self.put_machine, 'vm.put', action=f'{vm_act}/write', policy='UpdateVM')
            else:
                add('GET', prefix, self.get_machine, 'instance.get', action=f'{inst_act}/read', policy='LowCostGet')
                add('PUT', prefix, self.put_machine, 'instance.put', action=f'{inst_act}/write', policy='UpdateVM')
                add('PATCH', prefix, self.method_not_allowed, 'instance.patch')
            add(
                'GET',
                prefix + '/instanceView',
                self.get_instance_view,
                f'{kind}.instance_view',
                action=f'{base_action}/read',
                policy='LowCostGet',
                scope_strip=1,
            )
            add(
                'POST',
                prefix + r'/(?P<power>start|restart|powerOff|deallocate)',
                self.power_action,
                f'{kind}.power',
                action=f'{base_action}/{{power}}/action',
                policy='UpdateVM',
                scope_strip=1,
            )
            remedy = r'/(?P<remedy>reapply|redeploy)' if kind == 'vm' else r'/(?P<remedy>redeploy)'
            add(
                'POST',
                prefix + remedy,
                self.remedy_action,
                f'{kind}.remedy',
                action=f'{base_action}/{{remedy}}/action',
                policy='UpdateVM',
                scope_strip=1,
            )
            add(
                'GET',
                prefix + '/extensions',
                self.list_extensions,
                f'{kind}.extension.list',
                action=f'{base_action}/extensions/read',
                policy='LowCostGet',
                scope_strip=1,
            )
            ext = prefix + r'/extensions/(?P<ext>[^/]+)'
            add(
                'GET',
                ext,
                self.get_extension,
                f'{kind}.extension.get',
                action=f'{base_action}/extensions/read',
                policy='LowCostGet',
            )
            add(
                'PUT',
                ext,
                self.put_extension,
                f'{kind}.extension.put',
                action=f'{base_action}/extensions/write',
                policy='UpdateVM',
            )
            add(
                'DELETE',
                ext,
                self.delete_extension,
                f'{kind}.extension.delete',
                action=f'{base_action}/extensions/delete',
                policy='UpdateVM',
            )
        add(
            'GET',
            RG + COMPUTE + '/virtualMachines',
            self.list_vms,
            'vm.list',
            action=f'{vm_act}/read',
            policy='HighCostGet',
        )
        add(
            'GET',
            SUB + COMPUTE + '/virtualMachines',
            self.list_vms,
            'vm.list',
            action=f'{vm_act}/read',
            policy='HighCostGet',
        )
        add(
            'GET',
            RG + COMPUTE + '/virtualMachineScaleSets',
            self.list_scale_sets,
            'vmss.list',
            action='Microsoft.Compute/virtualMachineScaleSets/read',
            policy='HighCostGet',
        )
        add(
            'GET',
            SUB + COMPUTE + '/virtualMachineScaleSets',
            self.list_scale_sets,
            'vmss.list',
            action='Microsoft.Compute/virtualMachineScaleSets/read',
            policy='HighCostGet',
        )
        add(
            'GET',
            VMSS,
            self.get_scale_set,
            'vmss.get',
            action='Microsoft.Compute/virtualMachineScaleSets/read',
            policy='LowCostGet',
        )
        add(
            'GET',
            VMSS + '/virtualMachines',
            self.list_instances,
            'instance.list',
            action=f'{inst_act}/read',
            policy='HighCostGet',
        )
        add(
            'GET',
            SUB + COMPUTE + r'/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)',
            self.operation,
            'operation',
            counter='poll',
            policy='GetOperation',
        )

    # ------------------------------------------------------------------------------------------------
    # lookups
    # ------------------------------------------------------------------------------------------------
    @property
    def config(self):
        return self.world.config

    def scale_set(self, sub, rg, ss):
        group = self.world.group(sub, rg)
        scale_set = group.scale_sets.get(ss.lower())
        if scale_set is None:
            raise errors.resource_not_found(VMSS_TYPE, ss, group.name)
        return scale_set

    def machine(self, sub, rg, vm=None, ss=None, inst=None, **_):
        if vm is not None:
            group = self.world.group(sub, rg)
            machine = group.vms.get(vm.lower())
            if machine is None:
                raise errors.resource_not_found(VM_TYPE, vm, group.name)
            return machine
        scale_set = self.scale_set(sub, rg, ss)
        machine = scale_set.instances.get(inst)
        if machine is None:
            raise errors.resource_not_found(
                INSTANCE_TYPE.rsplit('/', 1)[0] + f'/{scale_set.name}/virtualMachines', inst, scale_set.rg.name
            )
        return machine

    def extension(self, machine, name):
        ext = machine.extensions.get(name.lower())
        if ext is None:
            raise errors.resource_not_found(f'{machine.type}/{machine.name}/extensions', name, machine.rg.name)
        return ext

    # ------------------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------------------
    def _lro(self, req, machine, name, due, finish, final=None, status=200, body=None):
        """Start an operation that holds ``machine`` busy until ``finish(due)`` ran."""
        world = self.world

        def complete(when):
            machine.busy = machine.busy_kind = None
            return finish(when)

        op = world.ops.start(name, machine.sub.id, machine.location, due, complete, final=final)
        machine.busy, machine.busy_kind = op, name
        headers = lro_headers(op, world.base_url, req.api_version, self.config['lro_retry_after'])
        return Response(status, body() if callable(body) else body, headers)

    def _check_busy(self, machine, operation):
        if machine.busy is not None and self.config['busy_conflict']:
            raise errors.operation_in_progress(operation, machine.name)

    @staticmethod
    def _check_if_match(req, machine):
        def norm(tag):
            tag = tag.strip()
            return tag[2:] if tag.startswith('W/') else tag

        if_match = req.header('If-Match')
        if if_match and if_match.strip() != '*':
            wanted = {norm(t).strip('"') for t in if_match.split(',')}
            if machine.etag.strip('"') not in wanted:
                raise ArmError(
                    412,
                    'PreconditionFailed',
                    f"The specified precondition 'If-Match = {if_match}' failed. The current ETag of "
                    f"'{machine.name}' is {machine.etag}.",
                )
        if (req.header('If-None-Match') or '').strip() == '*':
            raise ArmError(
                412,
                'PreconditionFailed',
                f"The specified precondition 'If-None-Match = *' failed: '{machine.name}' already exists.",
            )

    @staticmethod
    def _check_key_incarnation(machine, new_model, explicit, allow_equal):
        settings = dig(explicit, 'properties', 'securityProfile', 'proxyAgentSettings')
        requested = find_key(settings, 'keyIncarnationId') if isinstance(settings, dict) else None
        if requested is None:
            return
        try:
            requested = int(requested)
        except (TypeError, ValueError):
            raise errors.invalid_parameter(
                f"The value '{requested}' of parameter '{KEY_TARGET}' is invalid.", KEY_TARGET
            ) from None
        current = machine.key_incarnation()
        if requested < current or (requested == current and not allow_equal):
            raise errors.invalid_parameter(KEY_MESSAGE, KEY_TARGET)
        dig(new_model, 'properties', 'securityProfile', 'proxyAgentSettings')['keyIncarnationId'] = requested

    @staticmethod
    def _check_proxy_agent_settings(req, machine, new_model, body):
        """The documented refusals of proxyAgentSettings writes (azure-facts.md sections 1 and 6).

        Error codes and texts are [inferred] (Compute's usual shapes): the facts say these requests are refused
        with 400, not in which words.
        """
        explicit = dig(body, 'properties', 'securityProfile', 'proxyAgentSettings')
        if not isinstance(explicit, dict):
            return
        version = req.api_version or ''
        if not machine.msp_supported and explicit:
            # [inferred] text: MSP needs a supported VM size/image/security type; refused as a bad request.
            raise ArmError(
                400,
                'BadRequest',
                f'ProxyAgentSettings is not supported for the virtual machine '
                f"'{machine.name}' (its size, image or security type does not support the Metadata "
                'Security Protocol).',
                target=PA_TARGET,
            )
        if find_key(explicit, 'addProxyAgentExtension') is not None:
            if version < ADD_EXTENSION_SINCE:
                # [inferred] Compute's strict JSON reader for a member the api-version does not have.
                raise ArmError(
                    400,
                    'InvalidRequestFormat',
                    "Could not find member 'addProxyAgentExtension' on object of type "
                    "'ProxyAgentSettings'. Path 'properties.securityProfile.proxyAgentSettings."
                    "addProxyAgentExtension'.",
                    target=f'{PA_TARGET}.addProxyAgentExtension',
                )
            if machine.os == 'windows' and find_key(explicit, 'addProxyAgentExtension') is True:
                # [inferred] text; the spec: "currently applicable only for Linux Os".
                raise errors.invalid_parameter(
                    "The property 'securityProfile.proxyAgentSettings.addProxyAgentExtension' is only supported "
                    'for Linux virtual machines.',
                    f'{PA_TARGET}.addProxyAgentExtension',
                )
        settings = dig(new_model, 'properties', 'securityProfile', 'proxyAgentSettings') or {}
        for endpoint in ('wireServer', 'imds'):
            sent = find_key(explicit, endpoint)
            if sent is None:
                continue
            if not isinstance(sent, dict):
                raise errors.invalid_parameter(
                    f"The value of parameter '{PA_TARGET}.{endpoint}' is invalid.", f'{PA_TARGET}.{endpoint}'
                )
            stored = settings.get(endpoint) or {}
            # [inferred] JSON merge-patch: a null or empty reference (or mode) in a PATCH removes it.
            for key in ('mode', 'inVMAccessControlProfileReferenceId'):
                if key in sent and sent[key] in (None, ''):
                    stored.pop(key, None)
            mode = stored.get('mode')
            if mode is not None and mode not in ENDPOINT_MODES:
                match = next((m for m in ENDPOINT_MODES if m.lower() == str(mode).lower()), None)
                if match is None:  # [inferred] text
                    raise errors.invalid_parameter(
                        f"The value '{mode}' of parameter '{PA_TARGET}.{endpoint}.mode' is invalid. Allowed values "
                        f'are: {", ".join(ENDPOINT_MODES)}.',
                        f'{PA_TARGET}.{endpoint}.mode',
                    )
                stored['mode'] = match  # modelAsString: ARM accepts any case and stores its own spelling
            if mode is not None and stored.get('inVMAccessControlProfileReferenceId'):
                # documented refusal (azure-facts.md section 6); [inferred] text
                raise errors.invalid_parameter(
                    f"Parameters '{PA_TARGET}.{endpoint}.mode' and '{PA_TARGET}.{endpoint}."
                    "inVMAccessControlProfileReferenceId' cannot be specified together: the mode is taken from "
                    'the InVMAccessControlProfile version.',
                    f'{PA_TARGET}.{endpoint}',
                )
            if isinstance(settings, dict) and endpoint in settings:
                settings[endpoint] = stored

    def _commit_model(self, req, machine, new_model, operation, status=200, body_on_response=True):
        """Store a new model and run the update as an LRO; a raised key is applied when it completes."""
        machine.model = new_model
        machine.etag_n += 1
        incarnation = machine.key_incarnation()
        # The instance view lags the model: the next reads answer the agent status served before this write.
        machine.stale_status_left = int(self.config['stale_status_reads'])
        machine.stale_status = getattr(machine, 'last_agent_status', None)

        failing = getattr(req, 'operation_fault', None)

        def finish(when):
            machine.update_failed = failing is not None
            if failing is not None:  # Azure took the model; the platform failed to apply it (nothing reaches the guest)
                return {
                    'code': failing.code or 'InternalExecutionError',
                    'message': failing.message or 'An internal execution error occurred. Please retry later.',
                }
            self._install_agent(machine, when)
            agent = machine.agent
            if agent is not None and machine.proxy_enabled() and incarnation > agent.host_incarnation:
                agent.key_reset(incarnation)
                self.schedule_relatch(machine, when)
            self.schedule_apply(machine, when)
            return None

        body = (lambda: machine.to_arm()) if body_on_response else None
        return self._lro(
            req,
            machine,
            operation,
            self.world.now() + self.config['lro_seconds'],
            finish,
            final=machine.to_arm,
            status=status,
            body=body,
        )

    def schedule_relatch(self, machine, base_time):
        agent = machine.agent
        if agent is None or machine.power != 'running' or not agent.can_relatch():
            return
        boot = machine.booted_at

        def relatch(_when):
            if machine.power == 'running' and machine.booted_at == boot and agent.can_relatch():
                agent.relatch()

        self.world.scheduler.at(base_time + self.config['relatch_seconds'], relatch)

    def schedule_apply(self, machine, base_time):
        """The guest applies new endpoint settings after its latency (relatch_seconds), if it ever does."""
        agent = machine.agent
        if (
            agent is None
            or machine.power != 'running'
            or not machine.proxy_enabled()
            or not agent.can_apply(machine.proxy_settings())
        ):
            return
        boot = machine.booted_at

        def apply(_when):
            settings = machine.proxy_settings()
            if machine.power == 'running' and machine.booted_at == boot and agent.can_apply(settings):
                agent.apply_modes(settings)

        self.world.scheduler.at(base_time + self.config['relatch_seconds'], apply)

    @staticmethod
    def _install_agent(machine, when):
        """enabled: true installs ProxyAgentWindows; on Linux addProxyAgentExtension: true installs ProxyAgentLinux."""
        if not machine.proxy_enabled():
            return
        settings = machine.proxy_settings()
        wanted = machine.os == 'windows' or settings.get('addProxyAgentExtension') is True
        if machine.agent is None and wanted:
            machine.agent = proxyagent.AgentState(machine.key_incarnation(), when)
            machine.agent.apply_modes(settings)
        elif machine.agent is not None and machine.agent.fault == 'no_agent' and wanted:
            machine.agent.set_fault(None)

    def boot(self, machine, when):
        machine.power = 'running'
        machine.booted_at = when
        bootdiag.record_boot(machine)  # the serial log of this boot (bootdiag.py)
        remedies.on_boot(machine)  # the VM agent restarts with the guest (remedies.py)
        if machine.agent is not None:
            machine.agent.boot(when)
            self.schedule_relatch(machine, when)
            self.schedule_apply(machine, when)

    def set_power(self, machine, state, when):
        if state == 'running':
            self.boot(machine, when)
        elif state in ('stopped', 'deallocated'):
            machine.power = state
        else:
            raise ValueError(f'unknown power state {state!r}')

    # ------------------------------------------------------------------------------------------------
    # VMs and instances
    # ------------------------------------------------------------------------------------------------
    def get_machine(self, req, **ids):
        machine = self.machine(**ids)
        view = self.instance_view(machine) if (req.query.get('$expand') or '').lower() == 'instanceview' else None
        data = machine.to_arm(instance_view=view)
        if not self.config.get('vm_resources_force_update_tag', True):
            # As the official VirtualMachines_Get example shows them: extension entries without forceUpdateTag.
            for entry in data.get('resources') or ():
                (entry.get('properties') or {}).pop('forceUpdateTag', None)
        return Response(200, _versioned(data, req), {'ETag': machine.etag})

    def get_instance_view(self, req, **ids):
        return Response(200, self.instance_view(self.machine(**ids)))

    def patch_vm(self, req, **ids):
        machine = self.machine(**ids)
        body = req.json()
        self._check_if_match(req, machine)
        new_model = copy.deepcopy(machine.model)
        writable = _writable(body)
        tags = writable.pop('tags', None)
        deep_merge(new_model, writable)
        if tags is not None:  # ARM: the tags of a PATCH replace the whole tag map (they are not merged)
            new_model['tags'] = copy.deepcopy(tags)
        self._check_proxy_agent_settings(req, machine, new_model, body)
        self._check_key_incarnation(machine, new_model, body, allow_equal=False)
        disks = vmdisks.plan(self.world, machine, new_model, body)  # attach / detach / OS disk swap rules
        self._check_busy(machine, 'Update')
        vmdisks.apply(self.world, machine, disks)
        return self._commit_model(req, machine, new_model, 'Update')

    def put_machine(self, req, **ids):
        if ids.get('vm') is not None and self.world.group(ids['sub'], ids['rg']).vms.get(ids['vm'].lower()) is None:
            return vmcreate.create_vm(self.world, req, ids['sub'], ids['rg'], ids['vm'])  # a new VM
        machine = self.machine(**ids)
        body = req.json()
        self._check_if_match(req, machine)
        if not dig(body, 'properties', 'storageProfile', 'osDisk', 'createOption') and not machine.is_instance:
            raise errors.invalid_parameter(
                "Required parameter 'osDisk.createOption' is missing (null).", 'osDisk.createOption'
            )
        new_model = _writable(body)
        new_model.setdefault('location', machine.location)
        for key in ('vmId', 'timeCreated'):
            if key in machine.model.get('properties', {}):
                new_model.setdefault('properties', {})[key] = machine.model['properties'][key]
        # The image a VM was created from is immutable; clients (the Azure CLI's generic update) leave it out
        # of a PUT on purpose, and Azure keeps it.
        image = dig(machine.model, 'properties', 'storageProfile', 'imageReference')
        new_storage = dig(new_model, 'properties', 'storageProfile')
        if image is not None and isinstance(new_storage, dict) and new_storage.get('imageReference') is None:
            new_storage['imageReference'] = copy.deepcopy(image)
        _drop_nones(new_model)
        new_settings = dig(new_model, 'properties', 'securityProfile', 'proxyAgentSettings')
        if isinstance(new_settings, dict) and find_key(new_settings, 'keyIncarnationId') is None:
            new_settings['keyIncarnationId'] = machine.key_incarnation()  # omitted on PUT: unchanged
        old_add = machine.proxy_settings().get('addProxyAgentExtension')
        if isinstance(new_settings, dict) and old_add is not None and (req.api_version or '') < ADD_EXTENSION_SINCE:
            new_settings.setdefault('addProxyAgentExtension', old_add)  # [inferred] an older version cannot clear it
        self._check_proxy_agent_settings(req, machine, new_model, body)
        self._check_key_incarnation(machine, new_model, body, allow_equal=True)
        disks = vmdisks.plan(self.world, machine, new_model, body)
        self._check_busy(machine, 'Update')
        vmdisks.apply(self.world, machine, disks)
        if machine.is_instance:  # Azure answers a scale-set instance PUT with 202 Accepted
            return self._commit_model(req, machine, new_model, 'Update', status=202, body_on_response=False)
        return self._commit_model(req, machine, new_model, 'Update')

    def method_not_allowed(self, req, **_):
        raise ArmError(405, 'MethodNotAllowed', f"The requested resource does not support http method '{req.method}'.")

    def power_action(self, req, power, **ids):
        machine = self.machine(**ids)
        action = next(a for a in POWER_ACTIONS if a.lower() == power.lower())
        operation, target_state, _ = POWER_ACTIONS[action]
        self._check_busy(machine, operation)

        def finish(when):
            if action == 'restart':
                remedies.on_restart(machine)
            if target_state == 'running' and (machine.power != 'running' or action == 'restart'):
                self.boot(machine, when)
            elif target_state != 'running':
                if target_state == 'deallocated':
                    remedies.on_deallocate(machine)
                machine.power = target_state
            return None

        return self._lro(
            req, machine, operation, self.world.now() + self.config['lro_seconds'], finish, status=202, body=None
        )

    def remedy_action(self, req, remedy, **ids):
        """POST reapply / redeploy (remedies.py has the effects and their sources): 202, then the operation."""
        machine = self.machine(**ids)
        operation = remedy.capitalize()
        self._check_busy(machine, operation)
        if remedy == 'redeploy':
            delay = self.config['redeploy_seconds']

            def finish(when):
                remedies.redeploy(machine)
                self.boot(machine, when)  # powered back on, on the new node
                return None

        else:
            delay = self.config['lro_seconds']

            def finish(_when):
                remedies.reapply(machine)
                return None

        return self._lro(req, machine, operation, self.world.now() + delay, finish, status=202, body=None)

    def list_vms(self, req, sub, rg=None):
        groups = [self.world.group(sub, rg)] if rg is not None else self.world.subscription(sub).groups.values()
        machines = [m for g in groups for m in g.vms.values()]
        return self._page(req, [_versioned(m.to_arm(), req) for m in machines])

    def list_scale_sets(self, req, sub, rg=None):
        groups = [self.world.group(sub, rg)] if rg is not None else self.world.subscription(sub).groups.values()
        sets = [s for g in groups for s in g.scale_sets.values()]
        return self._page(req, [s.to_arm() for s in sets])

    def get_scale_set(self, req, sub, rg, ss):
        return Response(200, self.scale_set(sub, rg, ss).to_arm())

    def list_instances(self, req, sub, rg, ss):
        scale_set = self.scale_set(sub, rg, ss)
        if scale_set.orchestration != 'Uniform':
            raise ArmError(
                400,
                'OperationNotAllowed',
                f"The operation 'List Virtual Machine Scale Set VMs' is not supported for Virtual Machine "
                f"Scale Set '{scale_set.name}' with orchestration mode 'Flexible'. List the virtual machines "
                'of the resource group instead.',
            )
        expand = (req.query.get('$expand') or '').lower() == 'instanceview'
        items = [
            _versioned(m.to_arm(instance_view=self.instance_view(m) if expand else None), req)
            for m in scale_set.instances.values()
        ]
        return self._page(req, items)

    def _page(self, req, items):
        size = max(1, int(self.config['page_size']))
        try:
            start = int(req.query.get('$skiptoken') or 0)
        except ValueError:
            raise ArmError(400, 'InvalidSkipToken', 'The skip token is invalid.') from None
        body = {'value': items[start : start + size]}
        if start + size < len(items):  # like ARM: the next page keeps the query ($expand, $filter, ...)
            query = {k: v for k, v in req.query.items() if k.lower() not in ('$skiptoken', 'api-version')}
            query['$skiptoken'] = str(start + size)
            body['nextLink'] = (
                f'{self.world.base_url}{req.path}?api-version={req.api_version}&'
                + urllib.parse.urlencode(query, safe='$')
            )
        return Response(200, body)

    # ------------------------------------------------------------------------------------------------
    # instance view
    # ------------------------------------------------------------------------------------------------
    def instance_view(self, machine):
        now = self.world.now()
        power = machine.power
        if machine.busy_kind in ('Start', 'Restart', 'PowerOff', 'Deallocate'):
            power = POWER_ACTIONS[machine.busy_kind[0].lower() + machine.busy_kind[1:]][2]
        power = remedies.TRANSITIONAL_POWER.get(machine.busy_kind, power)
        prov = (
            dict(code='ProvisioningState/updating', level='Info', displayStatus='Updating')
            if machine.busy
            else dict(OK_STATUS, time=iso_now())
        )
        view = {
            'computerName': dig(machine.model, 'properties', 'osProfile', 'computerName', default=machine.name),
            'osName': 'Windows Server 2022 Datacenter Azure Edition' if machine.os == 'windows' else 'ubuntu',
            'osVersion': '10.0.20348.2762' if machine.os == 'windows' else '24.04',
            'hyperVGeneration': machine.generation,
        }
        if machine.is_instance:
            view.update({'platformUpdateDomain': 0, 'platformFaultDomain': 0})
        if machine.power == 'running' and not guestops.agent_ready(machine):
            extensions = self._extension_views(machine, now)
            view['vmAgent'] = guestops.not_ready_view(iso_now(), guestops.agent_message(machine))
        elif machine.power == 'running':
            extensions = self._extension_views(machine, now)
            view['vmAgent'] = {
                'vmAgentVersion': '2.12.0.4' if machine.os == 'linux' else '2.7.41491.1130',
                'statuses': [
                    {
                        'code': 'ProvisioningState/succeeded',
                        'level': 'Info',
                        'displayStatus': 'Ready',
                        'message': 'Guest Agent is running',
                        'time': remedies.agent_report_time(machine),  # its last report (remedies.py)
                    }
                ],
                'extensionHandlers': [
                    {
                        'type': e['type'],
                        'typeHandlerVersion': e.get('typeHandlerVersion', ''),
                        'status': {'code': 'ProvisioningState/succeeded', 'level': 'Info', 'displayStatus': 'Ready'},
                    }
                    for e in extensions
                ],
            }
        elif machine.power == 'stopped':
            view['vmAgent'] = guestops.not_ready_view(iso_now())
        disk = dig(machine.model, 'properties', 'storageProfile', 'osDisk', 'name', default=f'{machine.name}_OsDisk_1')
        view['disks'] = [{'name': disk, 'statuses': [dict(OK_STATUS, time=iso_now())]}]
        view['disks'].extend(vmdisks.data_disk_views(machine))
        view['bootDiagnostics'] = {}
        if machine.power == 'running':
            view['extensions'] = extensions
        view['statuses'] = [
            prov,
            {'code': f'PowerState/{power}', 'level': 'Info', 'displayStatus': POWER_DISPLAY[power]},
        ]
        return view

    def _extension_views(self, machine, now):
        views = [ext.instance_view() for ext in machine.extensions.values()]
        if machine.agent is not None and machine.proxy_enabled():
            if getattr(machine, 'stale_status_left', 0) > 0 and getattr(machine, 'stale_status', None) is not None:
                machine.stale_status_left -= 1
                entry = copy.deepcopy(machine.stale_status)  # same message, same time as before the write
            else:
                entry = machine.agent.extension_view(machine.os, machine.proxy_settings(), now)
                machine.last_agent_status = copy.deepcopy(entry)
            if entry is not None:
                views.insert(0, entry)
        return views

    # ------------------------------------------------------------------------------------------------
    # extensions
    # ------------------------------------------------------------------------------------------------
    def list_extensions(self, req, **ids):
        machine = self.machine(**ids)
        expand = (req.query.get('$expand') or '').lower() == 'instanceview'
        return Response(200, {'value': [e.to_arm(expand) for e in machine.extensions.values()]})

    def get_extension(self, req, ext, **ids):
        machine = self.machine(**ids)
        expand = (req.query.get('$expand') or '').lower() == 'instanceview'
        return Response(200, self.extension(machine, ext).to_arm(expand))

    def put_extension(self, req, ext, **ids):
        machine = self.machine(**ids)
        body = req.json()
        props = body.get('properties') or {}
        for required in ('publisher', 'type', 'typeHandlerVersion'):
            if not props.get(required):
                raise errors.invalid_parameter(f"Required parameter '{required}' is missing (null).", required)
        guestops.check_extension_operations(machine)
        if machine.power != 'running':
            raise ArmError(409, 'OperationNotAllowed', EXT_NOT_RUNNING)
        handler = f'{props["publisher"]}.{props["type"]}'
        for other in machine.extensions.values():
            if other.handler == handler.lower() and other.name.lower() != ext.lower():
                raise ArmError(
                    400,
                    'BadRequest',
                    f'Multiple VMExtensions per handler not supported for OS type '
                    f"'{machine.os.capitalize()}'. VMExtension '{other.name}' with handler "
                    f"'{other.display_handler}' already added or specified in input.",
                )
        self._check_busy(machine, 'Update')
        protected = props.get('protectedSettings')
        existing = machine.extensions.get(ext.lower())
        rerun = existing is None or existing.needs_rerun(props, protected)
        if existing is None:
            existing = Extension(machine, ext, props, body.get('location') or machine.location)
            machine.extensions[ext.lower()] = existing
        existing.update_model(props, protected)
        created = existing.status is None
        existing.provisioning_state = 'Creating' if created else 'Updating'
        settings = copy.deepcopy(props.get('settings'))
        protected = copy.deepcopy(protected)  # None when absent: the handler sees exactly what was sent

        def finish(_when):
            error = None
            if rerun:
                ok, message, error = self._run_handler(machine, existing, settings, protected)
                existing.set_status(ok, message)
            existing.provisioning_state = 'Failed' if error else 'Succeeded'
            return error

        delay = self.config['extension_seconds'] if rerun else self.config['lro_seconds']
        outcome = guestops.put_outcome(self.config, machine, existing)  # agent Not Ready, a failed extension
        if outcome is not None:
            delay, finish = outcome
        return self._lro(
            req,
            machine,
            'Update',
            self.world.now() + delay,
            finish,
            final=existing.to_arm,
            status=201 if created else 200,
            body=existing.to_arm,
        )

    def _run_handler(self, machine, ext, settings, protected):
        """Run the extension handler in the guest: (ok, status message, LRO error or None)."""
        handler_type = ext.props.get('type', '')
        publisher = ext.props.get('publisher', '')
        guide = 'https://aka.ms/VMExtension{}Troubleshoot'.format('Windows' if machine.os == 'windows' else 'Linux')
        # A Linux handler on Windows (documented), or VMAccessAgent on Linux ([inferred]: reported the same way,
        # the Linux agent has no VMAccessAgent handler).
        wrong_os = (machine.os == 'windows' and 'linux' in handler_type.lower()) or (
            machine.os == 'linux' and ext.is_vmaccess_windows()
        )
        if wrong_os:
            message = f"The extension '{ext.display_handler}' is not supported on OS type '{machine.os.capitalize()}'."
            return (
                False,
                message,
                {
                    'code': 'VMExtensionHandlerNonTransientError',
                    'message': f"The handler for VM extension type '{ext.display_handler}' has reported terminal failure "
                    f"for VM extension '{ext.name}' with error message: '[ExtensionOperationError] Non retryable "
                    f"error received for operation 'Install' with message: '{message}''. "
                    f'More information on troubleshooting is available at {guide}',
                },
            )
        if ext.is_vmaccess_windows():
            result = importlib.import_module('armsim.vmaccess_windows').run_vmaccess_agent(
                machine.guest, settings, protected
            )
            ok, message = bool(result.ok), str(result.message)
        elif ext.is_vmaccess_linux():
            result = guest_module().run_vmaccess(machine.guest, settings, protected)
            ok, message = bool(result.ok), str(result.message)
            if not getattr(result, 'status_written', True):  # the handler crashed without a status file
                return (
                    False,
                    'Extension did not report a status.',
                    {
                        'code': 'VMExtensionProvisioningTimeout',
                        'message': f"Provisioning of VM extension '{ext.name}' has timed out. Extension provisioning has "
                        'taken too long to complete. The extension did not report a message. More information '
                        f'on troubleshooting is available at {guide}',
                    },
                )
        elif ade.is_ade(ext):
            ok, message = ade.enable(machine, settings)  # ade.py: the BEK volume of the attached disks
        else:
            ok, message = True, 'Enable succeeded.'
        if ok:
            return True, message, None
        return (
            False,
            message,
            {
                'code': 'VMExtensionProvisioningError',
                'message': f"VM has reported a failure when processing extension '{ext.name}' (publisher '{publisher}' and "
                f"type '{handler_type}'). Error message: '{message}'. More information on troubleshooting is "
                f'available at {guide}',
            },
        )

    def delete_extension(self, req, ext, **ids):
        machine = self.machine(**ids)
        existing = machine.extensions.get(ext.lower())
        if existing is None:
            return Response(204)
        guestops.check_extension_operations(machine)
        if machine.power != 'running':
            raise ArmError(409, 'OperationNotAllowed', EXT_NOT_RUNNING)
        self._check_busy(machine, 'Update')
        existing.provisioning_state = 'Deleting'

        def finish(_when):
            machine.extensions.pop(ext.lower(), None)
            return None

        delay = self.config['lro_seconds']
        outcome = guestops.delete_outcome(self.config, machine, existing)  # an agent Not Ready never uninstalls
        if outcome is not None:
            delay, finish = outcome
        return self._lro(req, machine, 'Update', self.world.now() + delay, finish, status=202)

    # ------------------------------------------------------------------------------------------------
    # async operations
    # ------------------------------------------------------------------------------------------------
    def operation(self, req, sub, loc, op):
        operation = self.world.ops.get(sub, op)
        retry = {'Retry-After': format_seconds(self.config['lro_retry_after'])} if not operation.done else {}
        if (req.query.get('monitor') or '').lower() != 'true':
            return Response(200, operation.status_body(), retry)
        if not operation.done:  # Location semantics: 202 while running, then the final response
            return Response(
                202, None, lro_headers(operation, self.world.base_url, req.api_version, self.config['lro_retry_after'])
            )
        if operation.error:
            return Response(400, {'error': operation.error})
        return Response(200, operation.final() if operation.final else None)


def _writable(body):
    """A request body minus the properties the service owns."""
    data = {
        k: copy.deepcopy(v)
        for k, v in body.items()
        if k not in ('id', 'name', 'type', 'etag', 'resources', 'instanceId')
    }
    props = data.get('properties')
    if isinstance(props, dict):
        for key in READ_ONLY_PROPS:
            props.pop(key, None)
        os_profile = props.get('osProfile')
        if isinstance(os_profile, dict):
            os_profile.pop('adminPassword', None)  # accepted, never stored or returned
    return data


def _versioned(data, req):
    """A VM / instance body as the request's api-version shows it (fields of later versions left out)."""
    if (req.api_version or '') < ADD_EXTENSION_SINCE:
        settings = dig(data, 'properties', 'securityProfile', 'proxyAgentSettings')
        if isinstance(settings, dict):
            settings.pop('addProxyAgentExtension', None)
    return data


def _drop_nones(data):
    if isinstance(data, dict):
        for key in [k for k, v in data.items() if v is None]:
            del data[key]
        for value in data.values():
            _drop_nones(value)
    elif isinstance(data, list):
        for value in data:
            _drop_nones(value)
