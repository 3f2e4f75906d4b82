"""DOCUMENTATION / EXAMPLES / RETURN of this change's plugins and doc fragments are valid YAML. No network."""

import ast
import glob
import importlib.util
import os

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
PLUGINS = sorted(
    os.path.relpath(p, ROOT)
    for kind in ('modules', 'lookup', 'filter', 'inventory')
    for p in glob.glob(os.path.join(ROOT, 'plugins', kind, '*.py'))
    if not p.endswith('__init__.py')
)
FRAGMENTS = ['plugins/doc_fragments/auth.py', 'plugins/doc_fragments/target.py', 'plugins/doc_fragments/attributes.py']


@pytest.mark.parametrize('path', PLUGINS)
def test_plugin_docs_parse(path):
    tree = ast.parse(open(os.path.join(ROOT, path)).read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
            found[node.targets[0].id] = yaml.safe_load(node.value.value)
    expected = {'DOCUMENTATION', 'EXAMPLES'} if '/inventory/' in path else {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}
    assert set(found) == expected
    assert isinstance(found['EXAMPLES'], dict if '/inventory/' in path else list) and found['EXAMPLES']


@pytest.mark.parametrize('path', FRAGMENTS)
def test_fragments_parse(path):
    spec = importlib.util.spec_from_file_location('frag', os.path.join(ROOT, path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, value in vars(mod.ModuleDocFragment).items():
        if name.isupper():
            assert isinstance(yaml.safe_load(value), dict), name


def test_auth_fragment_matches_argspec():
    from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import AUTH_OPTIONS

    spec = importlib.util.spec_from_file_location('frag', os.path.join(ROOT, 'plugins/doc_fragments/auth.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for half in ('DOCUMENTATION', 'PLUGINS'):
        opts = yaml.safe_load(getattr(mod.ModuleDocFragment, half))['options']
        assert set(opts) == set(AUTH_OPTIONS), half
        for name in ('secret', 'password'):
            assert AUTH_OPTIONS[name]['no_log']
