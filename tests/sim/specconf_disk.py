"""Validate managed disk and snapshot bodies against the Microsoft.Compute DiskRP definitions.

The spec pack vendored in tests/specs/compute has the ComputeRP files only. The DiskRP definitions reach the
tests two ways, each from an official source: the DiskRP swagger (``DiskRP/stable/2024-03-02/disk.json``,
``snapshot.json``) when a copy sits in the vendored tree or in the shared spec pack beside the repository
(``../shared/specs/compute``), and always the same definitions as generated into azure-mgmt-compute (the SDK in
requirements-dev.txt; its models come from azure-rest-api-specs' Compute TypeSpec): every field a body carries must
be one the model declares (by its REST name), of the declared type (enums are extensible: any string), and a
required one (a type that is not Optional) must be there.

Public names: ``errors(body, model_name, mode='response')`` (model names ``Disk``, ``DiskUpdate``, ``Snapshot``,
``SnapshotUpdate``; mode ``request``: required fields the client writes, ``response``: the ones the service
returns), ``swagger_errors(body, kind, method, code=None)`` (empty when no DiskRP swagger copy is at hand),
``DISKRP`` (that copy's folder or None).
"""

import datetime
import enum
import functools
import pathlib
import types
import typing

import azure.mgmt.compute.models as models
import azure.mgmt.compute.models._models as generated

import specconf

_REL = 'specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/2024-03-02'
_ROOT = pathlib.Path(__file__).resolve().parents[2]
DISKRP = next(
    (p for p in (_ROOT / 'tests/specs/compute' / _REL, _ROOT.parent / 'shared/specs/compute' / _REL) if p.is_dir()),
    None,
)
PATHS = {
    'disks': '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/'
    'disks/{diskName}',
    'snapshots': '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/'
    'snapshots/{snapshotName}',
}


@functools.cache
def _fields(cls):
    cls()  # the generated base class computes the REST field table on first use
    hints = typing.get_type_hints(cls, globalns=vars(generated), localns={'_models': models})
    return {rf._rest_name: (hints.get(attr), rf._visibility or []) for attr, rf in cls._attr_to_rest_field.items()}


def _optional(tp):
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _is_model(tp):
    return (
        isinstance(tp, type)
        and hasattr(tp, '_attr_to_rest_field')
        or (isinstance(tp, type) and issubclass(tp, generated._Model))
    )


def _walk(value, tp, path, out, mode):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None or tp in (None, typing.Any, object):
        return
    if origin in (typing.Union, types.UnionType):
        alts = [a for a in args if a is not type(None)]
        if any(a is str for a in alts) and isinstance(value, str):
            return
        models_ = [a for a in alts if _is_model(a)]
        if models_:
            return _walk(value, models_[0], path, out, mode)
        return _walk(value, alts[0], path, out, mode)
    if origin is list:
        if not isinstance(value, list):
            out.append(f'{path}: not an array')
            return
        for n, item in enumerate(value):
            _walk(item, args[0] if args else None, f'{path}/{n}', out, mode)
        return
    if origin is dict:
        if not isinstance(value, dict):
            out.append(f'{path}: not an object')
        return
    if _is_model(tp):
        return _walk_model(value, tp, path, out, mode)
    _primitive(value, tp, path, out)


def _primitive(value, tp, path, out):
    ok = {
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(tp)
    if tp is datetime.datetime:
        try:
            datetime.datetime.fromisoformat(str(value)[:26].rstrip('Z'))
            ok = True
        except ValueError:
            ok = False
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        ok = isinstance(value, str)
    if ok is False:
        out.append(f'{path}: {value!r} is not {getattr(tp, "__name__", tp)}')


def _walk_model(value, cls, path, out, mode):
    if not isinstance(value, dict):
        out.append(f'{path}: not an object ({cls.__name__})')
        return
    fields = _fields(cls)
    for key, item in value.items():
        if key not in fields:
            out.append(f'{path}/{key}: not declared by {cls.__name__}')
            continue
        _walk(item, fields[key][0], f'{path}/{key}', out, mode)
    wanted = 'read' if mode == 'response' else 'create'
    for key, (tp, visibility) in fields.items():
        if key not in value and tp is not None and not _optional(tp) and wanted in visibility:
            out.append(f'{path}/{key}: required by {cls.__name__}')


def errors(body, model_name, mode='response'):
    out = []
    _walk_model(body, getattr(models, model_name), '', out, mode)
    return out


def swagger_errors(body, kind, method, code=None):
    if DISKRP is None:
        return []
    swagger = DISKRP / ('disk.json' if kind == 'disks' else 'snapshot.json')
    return specconf.errors(body, PATHS[kind], method, code, swagger=swagger)
