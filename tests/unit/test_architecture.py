"""The shape of plugins/ (issue 20): sizes, imports at the top, every module_utils file in a layer.

The import directions themselves are import-linter's contracts (.importlinter, run by `make lint`); this file checks
what a contract cannot: that no file escapes the contract by not being named in it, that the collection's own imports
sit at the top of the file (a lazy import hides an edge from the reader), and the size limits that keep each concern
in a file a reader can hold.
"""

import ast
import configparser
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = REPO / 'plugins'
OWN = 'ansible_collections.vmrescue.azure'
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


def _python_files():
    return sorted(PLUGINS.rglob('*.py'))


def _rel(path):
    return str(path.relative_to(REPO))


def _function_length(node):
    """Lines of a function without its docstring; a function that only returns one literal (a table) counts 0."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], 'value', None), ast.Constant):
        body = body[1:]
    if not body:
        return 0
    if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, (ast.Dict, ast.List)):
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def test_no_file_over_the_limit():
    big = ['%s (%d lines)' % (_rel(p), p.read_text().count('\n')) for p in _python_files()]
    big = [b for b, p in zip(big, _python_files()) if p.read_text().count('\n') > MAX_FILE_LINES]
    assert not big, 'split these by concern (at most %d lines): %s' % (MAX_FILE_LINES, ', '.join(big))


def test_no_function_over_the_limit():
    long = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = _function_length(node)
                if length > MAX_FUNCTION_LINES:
                    long.append('%s:%d %s (%d lines)' % (_rel(path), node.lineno, node.name, length))
    assert not long, 'extract named helpers (at most %d lines): %s' % (MAX_FUNCTION_LINES, ', '.join(long))


def test_the_collections_own_imports_are_at_the_top_of_the_file():
    lazy = set()
    for path in _python_files():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.module or '').startswith(OWN):
                    lazy.add('%s:%d %s' % (_rel(path), node.lineno, node.module))
                elif isinstance(node, ast.Import) and any(a.name.startswith(OWN) for a in node.names):
                    lazy.add('%s:%d' % (_rel(path), node.lineno))
    assert not lazy, 'move these imports to the top of their file: %s' % ', '.join(sorted(lazy))


def _layer_names():
    config = configparser.ConfigParser()
    config.read(REPO / '.importlinter')
    names = set()
    for line in config['importlinter:contract:layers']['layers'].splitlines():
        for part in line.replace(':', '|').split('|'):
            if part.strip():
                names.add(part.strip())
    return names


def test_every_module_utils_file_is_in_a_layer_of_the_contract():
    """A file the layers contract does not name is not checked by it: every module_utils file or package must be."""
    layers = _layer_names()
    prefix = OWN + '.plugins.module_utils.'
    unnamed = []
    for entry in sorted((PLUGINS / 'module_utils').iterdir()):
        if entry.name.startswith('__') or not (entry.suffix == '.py' or (entry / '__init__.py').exists()):
            continue
        name = prefix + (entry.stem if entry.suffix == '.py' else entry.name)
        if name not in layers:
            unnamed.append(name)
    assert not unnamed, 'name these in a layer of .importlinter: %s' % ', '.join(unnamed)


SHARED_CODE = [
    p for p in _python_files() if {'module_utils', 'plugin_utils'} & set(p.parts) and p.name != '__init__.py'
]


def test_package_inits_are_empty():
    """ansible-test (2.16's empty-init) requires a module_utils package's __init__.py to be empty: a package is
    described in docs/design.md and by its files' docstrings."""
    full = [_rel(p) for p in PLUGINS.rglob('__init__.py') if p.read_text().strip()]
    assert not full, 'empty these: %s' % ', '.join(full)


@pytest.mark.parametrize('path', SHARED_CODE, ids=_rel)
def test_each_shared_file_says_what_it_is(path):
    """Plugins document themselves in DOCUMENTATION; the shared code says what it is in its docstring."""
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), '%s: a docstring at the top says what the file is' % _rel(path)
