"""Validate request and response bodies against the official Microsoft.Compute OpenAPI definitions.

The definitions are vendored in tests/specs/compute (see its README: upstream, licence, SHA256SUMS). Swagger 2.0
schemas are JSON Schema draft 4 with x-ms-* keywords; like validate_examples.py of the spec pack they were copied
from, an enum that ARM declares extensible (x-ms-enum.modelAsString) is not enforced and null values count as absent.

Public names: SPECS (the vendored tree), VM_SWAGGER, VMSS_SWAGGER, RUN_COMMAND_SWAGGER, VM_PATH, INSTANCE_PATH,
VM_EXTENSION_PATH, VM_RUN_COMMAND_PATH, INSTANCE_RUN_COMMAND_PATH, VM_RUN_COMMAND_ACTION_PATH,
errors() (schema errors of a body), unknown_fields() (fields the definition does not declare).
"""

import functools
import json
import pathlib

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS = pathlib.Path(__file__).resolve().parent.parent / 'specs' / 'compute'
VM_SWAGGER = (
    SPECS / 'specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-11-01/virtualMachine.json'
)
VMSS_SWAGGER = VM_SWAGGER.parent / 'virtualMachineScaleSet.json'
RUN_COMMAND_SWAGGER = VM_SWAGGER.parent / 'runCommand.json'
VM_PATH = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}'
INSTANCE_PATH = (
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/'
    'virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}'
)
VM_EXTENSION_PATH = (
    '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/'
    'virtualMachines/{vmName}/extensions/{vmExtensionName}'
)

VM_RUN_COMMAND_PATH = VM_PATH + '/runCommands/{runCommandName}'
INSTANCE_RUN_COMMAND_PATH = INSTANCE_PATH + '/runCommands/{runCommandName}'
VM_RUN_COMMAND_ACTION_PATH = VM_PATH + '/runCommand'


def _relax(node):
    if isinstance(node, dict):
        if node.get('x-ms-enum', {}).get('modelAsString') is True:
            node = {k: v for k, v in node.items() if k != 'enum'}
        return {k: _relax(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_relax(v) for v in node]
    return node


def _drop_nulls(node):
    if isinstance(node, dict):
        return {k: _drop_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    return node


@functools.cache
def _validator(swagger, pointer, relax=_relax):
    """A draft 4 validator of the schema at ``pointer`` in ``swagger`` (files read through ``relax``); cached."""

    def retrieve(uri):
        path = uri[len('file://') :] if uri.startswith('file://') else uri
        with open(path, encoding='utf-8') as f:
            return Resource.from_contents(relax(json.load(f)), default_specification=DRAFT4)

    return Draft4Validator(
        {'$ref': '%s#%s' % (pathlib.Path(swagger).as_uri(), pointer)}, registry=Registry(retrieve=retrieve)
    )


def _escape(path):
    return path.replace('~', '~0').replace('/', '~1')


def errors(body, path, method, code=None, swagger=VM_SWAGGER):
    """Schema errors of ``body``: the response ``code`` of ``method path``, or its request body when code is None."""
    doc = _doc(swagger)[1]
    op = doc['paths'][path][method]
    base = '/paths/%s/%s' % (_escape(path), method)
    if code is None:
        index = next(i for i, p in enumerate(op['parameters']) if p.get('in') == 'body')
        pointer = '%s/parameters/%d/schema' % (base, index)
    else:
        pointer = '%s/responses/%s/schema' % (base, code)
    return [
        '%s: %s' % ('/'.join(map(str, e.absolute_path)) or '<root>', e.message[:200])
        for e in _validator(str(swagger), pointer).iter_errors(_drop_nulls(body))
    ]


_DOCS = {}


def _doc(path):
    path = pathlib.Path(path).resolve()
    if path not in _DOCS:
        _DOCS[path] = json.loads(path.read_text(encoding='utf-8'))
    return path, _DOCS[path]


def _resolve(schema, base):
    """Follow ``$ref`` (same file or relative file) -> (schema, file it lives in)."""
    while isinstance(schema, dict) and '$ref' in schema:
        ref = schema['$ref']
        file_part, _sep, pointer = ref.partition('#')
        if file_part:
            base = (pathlib.Path(base).parent / file_part).resolve()
        base, node = _doc(base)
        for part in [p for p in pointer.split('/') if p]:
            node = node[part.replace('~1', '/').replace('~0', '~')]
        schema = node
    return schema, base


def _shape(schema, base):
    """(properties {name: (schema, base)}, additional (schema, base) | True | None, items (schema, base) | None,
    declared: whether the schema names its properties) of a schema, with allOf merged."""
    schema, base = _resolve(schema, base)
    props, additional, items, declared = {}, None, None, False
    if not isinstance(schema, dict):
        return props, True, None, False
    for sub in schema.get('allOf') or ():
        p, a, i, d = _shape(sub, base)
        props.update(p)
        additional = additional or a
        items = items or i
        declared = declared or d
    if 'properties' in schema:
        declared = True
        props.update({k: (v, base) for k, v in schema['properties'].items()})
    extra = schema.get('additionalProperties')
    if isinstance(extra, dict):
        additional = (extra, base)
    elif extra is True:
        additional = True
    if 'items' in schema:
        items = (schema['items'], base)
    return props, additional, items, declared


def _walk(node, schema, base, path, out):
    props, additional, items, declared = _shape(schema, base)
    if isinstance(node, list) and items:
        for i, value in enumerate(node):
            _walk(value, items[0], items[1], '%s/%d' % (path, i), out)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in props:
                _walk(value, props[key][0], props[key][1], '%s/%s' % (path, key), out)
            elif isinstance(additional, tuple):
                _walk(value, additional[0], additional[1], '%s/%s' % (path, key), out)
            elif declared and additional is None:
                out.append('%s/%s' % (path, key))


def unknown_fields(body, path, method, code=None, swagger=VM_SWAGGER):
    """Paths (``/properties/securityProfile/...``) of the fields of ``body`` that the definition does not declare.

    jsonschema accepts undeclared properties (swagger objects do not close themselves), so a field of a newer
    api-version passes ``errors``; this names them. A free-form object (``settings``, ``tags``) declares nothing
    and is not walked into.
    """
    base, doc = _doc(swagger)
    op = doc['paths'][path][method]
    if code is None:
        schema = next(p for p in op['parameters'] if p.get('in') == 'body')['schema']
    else:
        schema = op['responses'][str(code)]['schema']
    out = []
    _walk(_drop_nulls(body), schema, base, '', out)
    return out
