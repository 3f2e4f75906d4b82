"""What ships: the built collection tarball carries the files users and tools expect (LICENSE, README,
meta/execution-environment.yml, bindep.txt, requirements.txt, the docs site), leaves the test/dev files out, installs,
and ansible-builder reads its dependencies (introspect) and creates an execution environment build context from it."""

import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _run(cmd, cwd, **kw):
    env = dict(os.environ)
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)
    proc = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, '%s\n%s\n%s' % (' '.join(map(str, cmd)), proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('build')
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', str(out)], out)
    found = [p for p in os.listdir(str(out)) if p.endswith('.tar.gz')]
    assert len(found) == 1
    return out / found[0]


def test_tarball_ships_what_users_and_tools_expect(tarball):
    with tarfile.open(str(tarball)) as tf:
        names = set(tf.getnames())
        license_text = tf.extractfile('LICENSE').read().decode()
    for needed in (
        'LICENSE',
        'README.md',
        'requirements.txt',
        'bindep.txt',
        'meta/execution-environment.yml',
        'meta/runtime.yml',
        'MANIFEST.json',
        'FILES.json',
        'docs/schemas/run_report.schema.json',  # the run report's schema (issue 21): users validate against it
    ):
        assert needed in names, needed
    assert 'GNU GENERAL PUBLIC LICENSE' in license_text and 'Version 3, 29 June 2007' in license_text
    assert not [n for n in names if n.split('/')[0] in ('tests', 'bench', '.venv', '.tmp', '.ci')]
    assert 'Makefile' not in names and 'requirements-dev.txt' not in names


def test_execution_environment_meta_points_at_shipped_files():
    with open(os.path.join(REPO, 'meta', 'execution-environment.yml')) as fh:
        meta = yaml.safe_load(fh)
    assert meta['version'] == 1
    for kind in ('python', 'system'):
        assert os.path.isfile(os.path.join(REPO, meta['dependencies'][kind])), kind


def test_ansible_builder_introspect_and_create(tarball, tmp_path):
    colls = tmp_path / 'collections'
    _run(
        [os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--no-deps', '-p', str(colls), str(tarball)],
        tmp_path,
    )
    # What ansible-builder resolves from the installed collection (its meta/execution-environment.yml).
    intro = _run([os.path.join(BIN, 'ansible-builder'), 'introspect', str(colls)], tmp_path).stdout
    data = yaml.safe_load(intro)
    python = ' '.join(map(str, data.get('python') or []))
    system = ' '.join(map(str, data.get('system') or []))
    assert 'azure-identity' in python and 'azure-mgmt-core' in python and 'vmrescue.azure' in python, intro
    assert 'openssh-client' in system and 'vmrescue.azure' in system, intro

    # An execution environment definition (schema 3) that installs the built tarball.
    (tmp_path / 'requirements.yml').write_text(
        yaml.safe_dump({'collections': [{'name': str(tarball), 'type': 'file'}]})
    )
    ee = {
        'version': 3,
        'images': {'base_image': {'name': 'quay.io/ansible/awx-ee:latest'}},
        'dependencies': {
            'galaxy': 'requirements.yml',
            'ansible_core': {'package_pip': 'ansible-core>=2.16'},
            'ansible_runner': {'package_pip': 'ansible-runner'},
        },
    }
    (tmp_path / 'execution-environment.yml').write_text(yaml.safe_dump(ee))
    _run(
        [
            os.path.join(BIN, 'ansible-builder'),
            'create',
            '-f',
            'execution-environment.yml',
            '-c',
            'context',
            '--output-filename',
            'Containerfile',
        ],
        tmp_path,
    )
    containerfile = (tmp_path / 'context' / 'Containerfile').read_text()
    assert 'ansible-galaxy collection install' in containerfile or 'install-from-bindep' in containerfile
    assert (tmp_path / 'context' / '_build' / 'requirements.yml').is_file()


# Local caches the tools write in the work tree (hypothesis, ruff, pytest, ansible-test's output), and .tmp where
# the test suite keeps its own: none of them may ship.
LOCAL_CACHES = ('.hypothesis', '.ruff_cache', '.pytest_cache', '.tmp', 'tests/output')


def test_build_after_the_tests_ships_no_local_cache(tmp_path):
    """A copy of the work tree's files with every local cache planted in it builds a tarball without them."""
    files = subprocess.run(
        ['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split('\n')
    src = tmp_path / 'src'
    for name in files:
        path = os.path.join(REPO, name)
        if name and os.path.isfile(path) and not os.path.islink(path):
            os.makedirs(src / os.path.dirname(name), exist_ok=True)
            shutil.copy2(path, src / name)
    for cache in LOCAL_CACHES:
        os.makedirs(src / cache / 'examples', exist_ok=True)
        (src / cache / 'examples' / 'entry').write_text('cached\n')
    out = tmp_path / 'build'
    out.mkdir()
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', str(src), '--output-path', str(out)], out)
    (found,) = [p for p in os.listdir(str(out)) if p.endswith('.tar.gz')]
    with tarfile.open(str(out / found)) as tf:
        names = tf.getnames()
    shipped = [n for n in names if any(n == c or n.startswith(c + '/') for c in LOCAL_CACHES)]
    assert shipped == []
    assert 'plugins/module_utils/_errors.py' in names  # the copy did build the collection


def test_hypothesis_stores_its_database_in_an_ignored_directory():
    """tests/conftest.py points hypothesis's storage (example database, caches) at .tmp/hypothesis."""
    from hypothesis.configuration import storage_directory

    with open(os.path.join(REPO, 'galaxy.yml')) as fh:
        ignored = yaml.safe_load(fh)['build_ignore']
    where = os.path.relpath(str(storage_directory(intent_to_write=False).path), REPO)
    assert where.split(os.sep)[0] in ignored, where
    assert '.hypothesis' in ignored and '.ruff_cache' in ignored
