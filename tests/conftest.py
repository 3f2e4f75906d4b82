"""Shared pytest set-up: the collection import path and the ARM simulator fixtures.

Fixtures:
- ``sim``: one simulator process per session (tests/armsim/fleets/test.yaml, FAST_CONFIG); before every test
  that uses it, it is reset to that fleet (counters, faults, request log, throttle buckets and operations cleared).
- ``diag_sim``: the same simulator reset to the MSP diagnostics fleet (fleets/msp_diagnostics.yaml on the test principals).
- ``msp``: the same simulator reset to the endpoint-mode fleet (fleets/msp.yaml), reset to the test fleet afterwards.
- ``sim_factory(fleet=None, config=None)``: start a separate simulator for this test (stopped afterwards).
- ``sim_env``: ``sim.env()`` merged over os.environ, plus ANSIBLE_COLLECTIONS_PATH, for child processes.
- ``no_global_ca_bundle``: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE dropped from this process (see its docstring);
  ``sim_ca_bundle``: REQUESTS_CA_BUNDLE set to the session simulator's CA instead.

It also points hypothesis's storage at .tmp/hypothesis (HYPOTHESIS_DIR), which the built collection leaves out.
"""

import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
COLLECTIONS_DIR = os.path.join(REPO_ROOT, '.tmp', 'collections')
COLLECTION_LINK = os.path.join(COLLECTIONS_DIR, 'ansible_collections', 'vmrescue', 'azure')


def _ensure_collection_link():
    if not os.path.lexists(COLLECTION_LINK):
        os.makedirs(os.path.dirname(COLLECTION_LINK), exist_ok=True)
        try:
            os.symlink(REPO_ROOT, COLLECTION_LINK)
        except FileExistsError:  # another pytest process made it first
            pass


_ensure_collection_link()
for _path in (COLLECTIONS_DIR, TESTS_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_DIR
# hypothesis keeps its example database and caches under .tmp (build_ignore'd, like .hypothesis), not in the
# working directory: `ansible-galaxy collection build` after the tests ships no cache.
HYPOTHESIS_DIR = os.path.join(REPO_ROOT, '.tmp', 'hypothesis')
os.environ.setdefault('HYPOTHESIS_STORAGE_DIRECTORY', HYPOTHESIS_DIR)

from armsim.harness import Simulator  # noqa: E402  (needs TESTS_DIR on sys.path)

TEST_FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'test.yaml')
DIAG_FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'msp_diagnostics.yaml')
MSP_FLEET = os.path.join(TESTS_DIR, 'armsim', 'fleets', 'msp.yaml')
# Fast timings for tests; throttling stays on with Azure's real limits. Retry-After stays an integer
# (1 s) because that is what Azure sends and what clients must parse.
FAST_CONFIG = {
    'lro_seconds': 0.2,
    'lro_retry_after': 1,
    'relatch_seconds': 0.5,
    'extension_seconds': 0.2,
    'disk_copy_seconds': 0.3,
    'vm_create_seconds': 0.3,
    'network_seconds': 0.1,
    'redeploy_seconds': 0.5,
    'throttle': True,
}


def pytest_configure(config):
    config.addinivalue_line(
        'markers',
        'core_agnostic: an integration suite whose subject (the simulator under faults, pacing, refusals, records) '
        'does not depend on the ansible-core version; the ansible-core 2.16 tier (make compat) leaves it out',
    )


@pytest.fixture(scope='session')
def _sim_process():
    sim = Simulator.start(fleet=TEST_FLEET, config=FAST_CONFIG)
    yield sim
    sim.stop()


@pytest.fixture
def sim(_sim_process):
    """The session simulator, reset to the test fleet and FAST_CONFIG."""
    _sim_process.control.reset(TEST_FLEET)
    return _sim_process


def diag_fleet():
    """msp.yaml's resource groups on the test fleet's tenant, subscription and principals (one dict)."""
    import yaml

    with open(TEST_FLEET) as fh:
        base = yaml.safe_load(fh)
    with open(DIAG_FLEET) as fh:
        msp = yaml.safe_load(fh)
    base.pop('subscriptions', None)
    return dict(base, resource_groups=msp['resource_groups'])


@pytest.fixture
def diag_sim(sim):
    """The session simulator reset to the MSP diagnostics fleet (tests/armsim/fleets/msp_diagnostics.yaml)."""
    sim.control.reset(diag_fleet())
    return sim


@pytest.fixture
def msp(sim):
    """The session simulator reset to the endpoint-mode fleet (tests/armsim/fleets/msp.yaml); back to the test
    fleet afterwards."""
    sim.control.reset(MSP_FLEET)
    yield sim
    sim.control.reset()


@pytest.fixture
def sim_factory():
    started = []

    def start(fleet=TEST_FLEET, config=None):
        merged = dict(FAST_CONFIG, **(config or {}))
        instance = Simulator.start(fleet=fleet, config=merged)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def sim_env(sim):
    env = dict(os.environ)
    env.update(sim.env())
    env['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_DIR
    return env


@pytest.fixture
def no_global_ca_bundle(monkeypatch):
    """Drop REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the pytest process: requests lets them override a Session's
    ``verify``, which breaks the simulator harness's control client when they point at the system bundle. Child
    processes get the simulator's CA from ``sim.env()`` anyway. A test module lists it first in
    ``pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')``."""
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)


@pytest.fixture
def sim_ca_bundle(sim, monkeypatch):
    """REQUESTS_CA_BUNDLE -> the session simulator's CA: requests lets it override Session.verify, so the control
    client (sim.control) verifies the simulator also in CI images that set it system-wide. A test module lists it in
    ``pytestmark = pytest.mark.usefixtures('sim_ca_bundle')``."""
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', sim.ca_file)
