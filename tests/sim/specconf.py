"""Validate request and response bodies against the official Microsoft.Compute OpenAPI definitions.

The spec pack is /work/shared/specs/compute (see its README; override with VMRESCUE_COMPUTE_SPECS). Swagger 2.0
schemas are JSON Schema draft 4 with x-ms-* keywords; like the pack's validate_examples.py, an enum that ARM declares
extensible (x-ms-enum.modelAsString) is not enforced and null values count as absent.
"""

import json
import os
import pathlib

SPECS = pathlib.Path(os.environ.get("VMRESCUE_COMPUTE_SPECS", "/work/shared/specs/compute"))
VM_SWAGGER = SPECS / "specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-11-01/virtualMachine.json"
VMSS_SWAGGER = VM_SWAGGER.parent / "virtualMachineScaleSet.json"
VM_PATH = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}"
INSTANCE_PATH = ("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/"
                 "virtualMachineScaleSets/{vmScaleSetName}/virtualMachines/{instanceId}")
VM_EXTENSION_PATH = ("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/"
                     "virtualMachines/{vmName}/extensions/{vmExtensionName}")


def available():
    try:
        import jsonschema  # noqa: F401
        import referencing  # noqa: F401
    except ImportError:
        return False
    return VM_SWAGGER.exists()


def _relax(node):
    if isinstance(node, dict):
        if node.get("x-ms-enum", {}).get("modelAsString") is True:
            node = {k: v for k, v in node.items() if k != "enum"}
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


def _validator(swagger, pointer):
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        with open(path, encoding="utf-8") as f:
            return Resource.from_contents(_relax(json.load(f)), default_specification=DRAFT4)

    return Draft4Validator({"$ref": "%s#%s" % (pathlib.Path(swagger).as_uri(), pointer)}, registry=Registry(retrieve=retrieve))


def _escape(path):
    return path.replace("~", "~0").replace("/", "~1")


def errors(body, path, method, code=None, swagger=VM_SWAGGER):
    """Schema errors of ``body``: the response ``code`` of ``method path``, or its request body when code is None."""
    doc = json.loads(pathlib.Path(swagger).read_text(encoding="utf-8"))
    op = doc["paths"][path][method]
    base = "/paths/%s/%s" % (_escape(path), method)
    if code is None:
        index = next(i for i, p in enumerate(op["parameters"]) if p.get("in") == "body")
        pointer = "%s/parameters/%d/schema" % (base, index)
    else:
        pointer = "%s/responses/%s/schema" % (base, code)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "<root>", e.message[:200])
            for e in _validator(swagger, pointer).iter_errors(_drop_nulls(body))]
