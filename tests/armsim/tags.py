"""The Tags API of Resource Manager (Microsoft.Resources/tags, api-version 2021-04-01) on VMs and scale-set
instances: how a principal that may write tags and nothing else (the built-in Tag Contributor role) changes a VM's
tags without any right on the VM.

Source: azure-rest-api-specs, specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/
resources.json (operations Tags_CreateOrUpdateAtScope, Tags_UpdateAtScope, Tags_GetAtScope, Tags_DeleteAtScope;
definitions TagsResource, TagsPatchResource, Tags) and its examples PutTagsResource.json, UpdateAtScopeTags.json,
DeleteAtScopeTags.json (tests/specs/resources/SOURCES.md):
- ``PUT {scope}/providers/Microsoft.Resources/tags/default`` ``{"properties": {"tags": {...}}}`` replaces the whole
  tag set; 200 with the TagsResource ``{id, name: "default", type: "Microsoft.Resources/tags", properties: {tags}}``.
- ``PATCH`` the same path ``{"operation": "Replace"|"Merge"|"Delete", "properties": {"tags": {...}}}``: Replace =
  PUT, Merge adds / overwrites the given tags, Delete removes the given names (with a value: only when it matches).
- ``GET`` answers the TagsResource; ``DELETE`` removes every tag (200).
- RBAC: ``Microsoft.Resources/tags/read|write|delete`` at the resource's scope (the role docs: "Microsoft.Resources/
  tags/*" is what Tag Contributor grants; it does not grant Microsoft.Compute/virtualMachines/write).
- Limits (Azure's tag limits, azure-resource-manager/management/tag-resources.md): 50 tags, a name 512 and a value
  256 characters. [inferred] the error codes and texts of a refused tag set (400 InvalidTagNameOrValue /
  TagCountExceedsLimit, after Resource Manager's usual wording).
- [inferred] a tag write changes the resource: its etag moves on (a client's If-Match on an older read fails).
"""

import copy

from .errors import ArmError
from .routing import INSTANCE, VM, Response

API_VERSIONS = ('2021-04-01', '2024-03-01', '2022-09-01', '2021-01-01', '2020-06-01', '2019-10-01')
TAGS_TYPE = 'Microsoft.Resources/tags'
OPERATIONS = ('Replace', 'Merge', 'Delete')
MAX_TAGS, MAX_NAME, MAX_VALUE = 50, 512, 256
_PATH = r'/providers/microsoft\.resources/tags/default'


class Tags:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        for prefix, kind in ((VM, 'vm'), (INSTANCE, 'instance')):
            pattern = prefix + _PATH
            opts = dict(scope_strip=4)
            add('GET', pattern, self.get, f'{kind}.tags.get', action='Microsoft.Resources/tags/read', **opts)
            add('PUT', pattern, self.put, f'{kind}.tags.put', action='Microsoft.Resources/tags/write', **opts)
            add('PATCH', pattern, self.patch, f'{kind}.tags.patch', action='Microsoft.Resources/tags/write', **opts)
            add('DELETE', pattern, self.delete, f'{kind}.tags.delete', action='Microsoft.Resources/tags/delete', **opts)

    # -- helpers ---------------------------------------------------------------------------------------
    def _machine(self, req, ids):
        version = req.api_version or ''
        if version not in API_VERSIONS:
            raise ArmError(
                400,
                'NoRegisteredProviderFound',
                f"No registered resource provider found for location 'global' and API version '{version}' for type "
                f"'tags'. The supported api-versions are '{', '.join(API_VERSIONS)}'.",
            )
        return self.world.compute.machine(**ids)

    @staticmethod
    def _resource(machine):
        return {
            'id': f'{machine.id}/providers/{TAGS_TYPE}/default',
            'name': 'default',
            'type': TAGS_TYPE,
            'properties': {'tags': copy.deepcopy(machine.model.get('tags') or {})},
        }

    @staticmethod
    def _given(body):
        props = body.get('properties')
        if not isinstance(props, dict):
            raise ArmError(400, 'InvalidRequestContent', "The request content must carry 'properties'.")
        tags = props.get('tags') or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise ArmError(400, 'InvalidRequestContent', "'properties.tags' must be a map of strings.")
        return tags

    def _store(self, machine, tags):
        if len(tags) > MAX_TAGS:
            raise ArmError(
                400, 'TagCountExceedsLimit', f'The number of tags ({len(tags)}) exceeds the limit of {MAX_TAGS}.'
            )
        for name, value in tags.items():
            if not name or len(name) > MAX_NAME or len(value) > MAX_VALUE:
                raise ArmError(
                    400,
                    'InvalidTagNameOrValue',
                    f"The tag name '{name[:40]}' or its value is invalid: names are at most {MAX_NAME} and values "
                    f'at most {MAX_VALUE} characters.',
                )
        machine.model['tags'] = dict(tags)
        machine.etag_n += 1
        return Response(200, self._resource(machine))

    # -- routes ----------------------------------------------------------------------------------------
    def get(self, req, **ids):
        return Response(200, self._resource(self._machine(req, ids)))

    def put(self, req, **ids):
        machine = self._machine(req, ids)
        return self._store(machine, self._given(req.json()))

    def patch(self, req, **ids):
        machine = self._machine(req, ids)
        body = req.json()
        operation = body.get('operation')
        if operation not in OPERATIONS:
            raise ArmError(
                400,
                'InvalidRequestContent',
                f"The 'operation' must be one of {', '.join(OPERATIONS)}, not '{operation}'.",
            )
        given = self._given(body)
        tags = dict(machine.model.get('tags') or {})
        if operation == 'Replace':
            tags = dict(given)
        elif operation == 'Merge':  # tag names are case-insensitive: a given name replaces its other spellings
            for name, value in given.items():
                tags = {k: v for k, v in tags.items() if k.lower() != name.lower()}
                tags[name] = value
        else:
            for name, value in given.items():
                match = next((k for k in tags if k.lower() == name.lower()), None)
                if match is not None and (not value or tags[match] == value):
                    del tags[match]
        return self._store(machine, tags)

    def delete(self, req, **ids):
        machine = self._machine(req, ids)
        machine.model['tags'] = {}
        machine.etag_n += 1
        return Response(200, None)
