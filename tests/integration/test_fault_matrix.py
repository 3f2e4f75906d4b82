"""Fault matrix (issue 12): transient faults injected into the simulator while both roles work on a 50-VM fleet.

For ``proxy_agent_key_recovery`` (playbooks/reset_proxy_agent_keys.yml) and ``linux_access_recovery``
(playbooks/regain_linux_access.yml), each fault below must end with every host done or failed with its true reason
(read from the role's published summary), no VM changed twice (each VM's keyIncarnationId raised at most once, each
VMAccess extension accepted at most once, read from the simulator's request log and model), and a re-run without
the fault completing the rest. The playbook killed mid-run with SIGINT, SIGTERM and SIGKILL (an AWX cancel) must
leave no process of the run behind (found in /proc by a marker in their environment), no VM half-changed, and a
re-run that completes.

One simulator for the module (reset to the fleet through the control API before each case), the test suite's fast
timings; each case is one or two ``ansible-playbook`` runs of about 5 s.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from ansible_runner import (
    REPO_ROOT,
    VENV_BIN,
    _common,
    _env,
    client_env,
    fleet_on_test_principals,
    run_playbook,
    write_inventory,
)

# The simulator's behaviour under this suite (faults, pacing, refusals, records) does not depend on ansible-core's
# version: the ansible-core 2.16 tier (make compat) leaves it out (tests/conftest.py, marker core_agnostic).
pytestmark = pytest.mark.core_agnostic

RG = 'rg-faults'
N = 50
VMS = ['vm-%02d' % i for i in range(N)]
START_KEY = 3
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [{'name': n, 'proxy_agent': {'key_incarnation_id': START_KEY, 'fault': 'key_lost'}} for n in VMS],
        },
    ]
)
FAST = {'lro_seconds': 0.2, 'lro_retry_after': 1, 'relatch_seconds': 0.5, 'extension_seconds': 0.2, 'throttle': True}
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ rescue@test'

ROLES = {
    'key': dict(
        playbook='reset_proxy_agent_keys.yml',
        summary='proxy_agent_key_recovery_summary',
        extra_vars={'proxy_agent_key_recovery_wait_timeout': 120},
        write=('PATCH', r'/virtualMachines/vm-\d+$'),
    ),
    'linux': dict(
        playbook='regain_linux_access.yml',
        summary='linux_access_recovery_summary',
        extra_vars={'linux_access_recovery_username': 'rescue', 'linux_access_recovery_ssh_key': KEY},
        write=('PUT', r'/virtualMachines/vm-\d+/extensions/[^/]+$'),
    ),
}
# The fault regexes of each role's write (the VM PATCH of the key reset, the VMAccess extension PUT).
WRITE_RE = {'key': r'virtualMachines/vm-\d+\?', 'linux': r'virtualMachines/vm-\d+/extensions/'}


@pytest.fixture(scope='module')
def fsim():
    from armsim.harness import Simulator

    sim = Simulator.start(fleet=FLEET, config=FAST)
    yield sim
    sim.stop()


@pytest.fixture
def fleet(fsim):
    fsim.control.reset(FLEET)
    return fsim


@pytest.fixture
def env(fsim):
    return client_env(fsim)


@pytest.fixture
def inventory(fsim, tmp_path):
    return write_inventory(tmp_path, dict((n, {'azure_vm_id': fsim.vm_id(RG, n)}) for n in VMS))


def _run(role, sim, env, inventory):
    spec = ROLES[role]
    run = run_playbook(
        os.path.join(REPO_ROOT, 'playbooks', spec['playbook']), env, inventory=inventory, extra_vars=spec['extra_vars']
    )
    return run, _summary(run, spec['summary'])


def _summary(run, name):
    found = None
    for play in (run.data or {}).get('plays', []):
        for task in play['tasks']:
            for hres in task['hosts'].values():
                data = (hres.get('ansible_stats') or {}).get('data') or {}
                if name in data:
                    found = data[name]
    assert found is not None, run
    return found


def _accepted_writes(sim, role):
    """{VM name: accepted writes of this role} from the simulator's request log (since the last reset)."""
    method, pattern = ROLES[role]['write']
    out = dict.fromkeys(VMS, 0)
    rx = re.compile(pattern, re.I)
    for entry in sim.control.requests():
        path = entry['path'].split('?', 1)[0]
        if entry['method'] == method and isinstance(entry['status'], int) and entry['status'] < 300 and rx.search(path):
            name = path.split('/virtualMachines/', 1)[1].split('/', 1)[0]
            out[name] += 1
    return out


def _assert_no_double_change(sim, role):
    writes = _accepted_writes(sim, role)
    twice = dict((k, v) for k, v in writes.items() if v > 1)
    # on failure, every logged request of those VMs (with their times and principals): what wrote them twice
    if twice:
        ours = [re.compile(r'/virtualMachines/%s(/|\?|$)' % k, re.I) for k in twice]
        log = [e for e in sim.control.requests() if any(rx.search(e['path']) for rx in ours)]
        pytest.fail('written twice: %s\n%s' % (twice, '\n'.join(json.dumps(e, sort_keys=True) for e in log)))
    if role == 'key':
        for n in VMS:
            key = sim.control.vm(sim.vm_id(RG, n))['model']['properties']['securityProfile']['proxyAgentSettings']
            assert key['keyIncarnationId'] in (START_KEY, START_KEY + 1), (n, key)  # never raised twice
    return writes


def _assert_accounted(summary, failed_reason=None, failed=None):
    """Every host done or failed; the failed ones with the expected reason."""
    assert summary['checked'] == N, summary
    assert summary['changed'] + summary['already_fine'] + summary['failed'] + summary['skipped'] == N, summary
    assert summary['skipped'] == 0, summary['skipped_hosts']
    if failed is not None:
        assert sorted(summary['failed_hosts']) == sorted(failed), summary['failed_hosts']
    for host, why in summary['failed_hosts'].items():
        assert failed_reason and re.search(failed_reason, why), (host, why)


def _rerun_completes(sim, role, env, inventory):
    sim.control.clear_faults()
    run, summary = _run(role, sim, env, inventory)
    assert run.rc == 0 and summary['failed'] == 0, (summary, run)
    _assert_accounted(summary)
    writes = _assert_no_double_change(sim, role)
    assert set(writes.values()) == {1}, writes  # every VM changed exactly once over the two runs
    return summary


# -- faults every host survives --------------------------------------------------------------------------------
def _faults(role, case):
    write = WRITE_RE[role]
    wm = ROLES[role]['write'][0]
    return {
        'arm_5xx': [
            dict(method=wm, path_regex=write, status=503, count=30),
            dict(method='GET', path_regex=r'virtualMachines/vm-\d+\?', status=500, count=30),
        ],
        'arm_drops': [
            dict(method=wm, path_regex=write, kind='drop', count=30),
            dict(method='GET', path_regex=r'virtualMachines/vm-\d+\?', kind='drop', count=30),
        ],
        'busy_409': [dict(method=wm, path_regex=write, kind='conflict', count=40)],
        'storm_429': [dict(method='*', path_regex='virtualMachines', status=429, count=150)],
        'token_5xx': [dict(method='POST', path_regex='oauth2', status=503, count=4)],
        'token_drops': [dict(method='POST', path_regex='oauth2', kind='drop', count=3)],
        'metadata_5xx': [dict(method='GET', path_regex='metadata/endpoints', status=503, count=3)],
        'expiring_tokens': [],
    }[case]


SURVIVED = [
    'arm_5xx',
    'arm_drops',
    'busy_409',
    'storm_429',
    'token_5xx',
    'token_drops',
    'metadata_5xx',
    'expiring_tokens',
]


@pytest.mark.parametrize('role', ['key', 'linux'])
@pytest.mark.parametrize('case', SURVIVED)
def test_transient_fault_is_survived(fleet, env, inventory, role, case):
    if case == 'expiring_tokens':
        fleet.control.config(token_lifetime=2)  # every token expires within the run: refreshed, never sent stale
    for spec in _faults(role, case):
        fleet.control.fault(**spec)
    run, summary = _run(role, fleet, env, inventory)
    hits = sum(f['hits'] for f in fleet.control._call('GET', '/faults'))
    assert case == 'expiring_tokens' or hits > 0, 'the fault was never injected'
    assert run.rc == 0 and summary['failed'] == 0, (summary['failed_hosts'], run)
    _assert_accounted(summary)
    writes = _assert_no_double_change(fleet, role)
    assert set(writes.values()) == {1}, writes


# -- faults that outlast the retries: failed with the true reason, then a re-run completes -------------------------
OUTAGES = {
    'token_outage': (
        [dict(method='POST', path_regex='oauth2', status=503)],
        r'TokenEndpointUnavailable .*token endpoint of \S+ returned HTTP 503 .*transient.*re-run',
    ),
    'metadata_outage': (
        [dict(method='GET', path_regex='metadata/endpoints', status=503)],
        r'could not read cloud metadata .*after 4 retries.*503',
    ),
}


@pytest.mark.parametrize('role', ['key', 'linux'])
@pytest.mark.parametrize('case', sorted(OUTAGES))
def test_outage_fails_with_its_reason_and_rerun_completes(fleet, env, inventory, role, case):
    faults, reason = OUTAGES[case]
    for spec in faults:
        fleet.control.fault(**spec)
    run, summary = _run(role, fleet, env, inventory)
    assert run.rc != 0
    _assert_accounted(summary, failed_reason=reason, failed=VMS)
    assert not any('HTTP 401' in why for why in summary['failed_hosts'].values()), summary['failed_hosts']
    assert set(_assert_no_double_change(fleet, role).values()) == {0}
    _rerun_completes(fleet, role, env, inventory)


def test_token_endpoint_dropping_connections_is_named(fleet, env, inventory):
    fleet.control.fault(method='POST', path_regex='oauth2', kind='drop')
    run, summary = _run('key', fleet, env, inventory)
    _assert_accounted(
        summary, failed_reason=r'TokenEndpointUnavailable .*dropped the connection .*transient', failed=VMS
    )
    _rerun_completes(fleet, 'key', env, inventory)


@pytest.mark.parametrize('role', ['key', 'linux'])
def test_deallocated_mid_flow(fleet, env, inventory, role):
    """Five VMs are deallocated by someone else just before the role's write reaches them."""
    victims = VMS[:5]
    fleet.control.fault(
        method=ROLES[role]['write'][0],
        kind='deallocate',
        count=5,
        path_regex=r'virtualMachines/vm-0[0-4](\?|/extensions/)',
    )
    run, summary = _run(role, fleet, env, inventory)
    for n in victims:
        assert fleet.control.vm(fleet.vm_id(RG, n))['power'] == 'deallocated'
    if role == 'key':
        # the key is raised in the model (Azure accepts it on a deallocated VM); the guest cannot latch it
        _assert_accounted(summary, failed_reason=r'deallocated', failed=victims)
    else:
        _assert_accounted(summary, failed_reason=r'not running', failed=victims)
    _assert_no_double_change(fleet, role)
    for n in victims:
        fleet.control.set_power(fleet.vm_id(RG, n), 'running')
    again, summary = _run(role, fleet, env, inventory)
    assert again.rc == 0 and summary['failed'] == 0, (summary, again)
    writes = _assert_no_double_change(fleet, role)
    assert set(writes.values()) == {1}, writes


# -- a token the server no longer accepts, found in the shared token cache -----------------------------------------
@pytest.mark.parametrize('role', ['key', 'linux'])
def test_stale_cached_token_is_replaced(fleet, env, inventory, role):
    run, summary = _run(role, fleet, env, inventory)
    assert run.rc == 0 and summary['failed'] == 0, summary
    home = os.environ['HOME']  # the test's private home: its ~/.IdentityService holds the token of that run
    assert any(f.startswith('vmrescue.azure.') for f in os.listdir(os.path.join(home, '.IdentityService')))
    fleet.control.reset(FLEET)
    fleet.control.rotate_token_key()  # every token issued so far, the cached one included, is now refused
    run, summary = _run(role, fleet, env, inventory)
    assert run.rc == 0 and summary['failed'] == 0, (summary['failed_hosts'], run)
    _assert_accounted(summary)
    log = fleet.control.requests()
    refused = [e for e in log if e['status'] == 401]
    assert refused, 'the cached token was not used'
    assert fleet.control.counters()['token'] <= 2, fleet.control.counters()  # one fresh token, not one per host
    writes = _assert_no_double_change(fleet, role)
    assert set(writes.values()) == {1}, writes


# -- the playbook killed mid-run (an AWX cancel) -------------------------------------------------------------------
def _marked_processes(marker):
    """PIDs of live processes whose environment carries ``marker`` (the run's, inherited by every fork)."""
    found = []
    needle = ('VMRESCUE_FAULT_RUN=%s' % marker).encode()
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % pid, 'rb') as fh:
                if needle in fh.read().split(b'\0'):
                    with open('/proc/%s/stat' % pid) as st:
                        if st.read().rsplit(')', 1)[1].split()[0] != 'Z':
                            found.append(int(pid))
        except OSError:
            continue
    return found


def _assert_run_gone(marker):
    """Every process of the killed run (ansible-playbook, its workers, a batch) is gone within 15 s."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _marked_processes(marker):
        time.sleep(0.2)
    left = _marked_processes(marker)
    assert not left, ['%d %s' % (p, open('/proc/%d/cmdline' % p, 'rb').read().replace(b'\0', b' ')[:200]) for p in left]


@pytest.mark.parametrize('role', ['key', 'linux'])
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=['SIGINT', 'SIGTERM', 'SIGKILL'])
def test_killed_run_leaves_nothing_behind(fleet, env, inventory, role, sig):
    fleet.control.config(relatch_seconds=6, extension_seconds=4)  # hosts stay pending long enough to be cancelled
    spec = ROLES[role]
    marker = uuid.uuid4().hex
    child_env = _env(env)
    child_env['VMRESCUE_FAULT_RUN'] = marker
    workdir = os.path.join(REPO_ROOT, '.tmp', 'integration')
    os.makedirs(workdir, exist_ok=True)
    cmd = (
        [os.path.join(VENV_BIN, 'ansible-playbook')]
        + _common(inventory, spec['extra_vars'], False, False)
        + [os.path.join(REPO_ROOT, 'playbooks', spec['playbook'])]
    )
    proc = subprocess.Popen(
        cmd, env=child_env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(_accepted_writes(fleet, role).values()) < 10:
            time.sleep(0.1)
        assert sum(_accepted_writes(fleet, role).values()) >= 10, 'the run wrote nothing before the deadline'
        assert _marked_processes(marker), 'the marker does not find the run'
    finally:
        os.kill(proc.pid, sig)  # what AWX does: a signal to ansible-playbook (not to its workers' sessions)
        proc.wait(timeout=60)
    _assert_run_gone(marker)
    # no VM half-changed: nothing written after the cancel, nothing written twice
    before = _accepted_writes(fleet, role)
    time.sleep(1)
    assert _accepted_writes(fleet, role) == before, 'writes continued after the run was killed'
    _assert_no_double_change(fleet, role)
    fleet.control.config(relatch_seconds=0.5, extension_seconds=0.2)
    run, summary = _run(role, fleet, env, inventory)
    assert run.rc == 0 and summary['failed'] == 0, (summary['failed_hosts'], run)
    writes = _assert_no_double_change(fleet, role)
    assert set(writes.values()) == {1}, writes


def test_killed_lean_run_stops_calling_azure(fleet, env, inventory):
    """Lean mode runs the batch in the foreground, in an Ansible worker: ansible-core starts each worker in a session
    of its own, so a SIGKILL of ansible-playbook alone (an AWX node's container ended, the OOM killer) does not reach
    it. The worker must end with the controller (plugin_utils/_background.watch_controller), not go on reading and
    writing for a run nobody reads; a re-run then finishes the work, each key raised once."""
    fleet.control.config(relatch_seconds=20)  # the batch waits for the guests long after its writes
    marker = uuid.uuid4().hex
    child_env = dict(_env(env), VMRESCUE_FAULT_RUN=marker)
    workdir = os.path.join(REPO_ROOT, '.tmp', 'integration')
    os.makedirs(workdir, exist_ok=True)
    extra = dict(ROLES['key']['extra_vars'], proxy_agent_key_recovery_lean=True)
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook')] + _common(inventory, extra, False, False)
    cmd.append(os.path.join(REPO_ROOT, 'playbooks', ROLES['key']['playbook']))
    proc = subprocess.Popen(
        cmd, env=child_env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(_accepted_writes(fleet, 'key').values()) < N:
            time.sleep(0.1)
        assert sum(_accepted_writes(fleet, 'key').values()) == N, 'the run did not write every key before the deadline'
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # ansible-playbook only: its workers are in sessions of their own
        proc.wait(timeout=60)
    _assert_run_gone(marker)
    seen = len(fleet.control.requests())
    time.sleep(2)
    assert len(fleet.control.requests()) == seen, 'the killed run went on calling Azure'
    fleet.control.config(relatch_seconds=0.5)
    run, summary = _run('key', fleet, env, inventory)
    assert run.rc == 0 and summary['failed'] == 0, (summary['failed_hosts'], run)
    writes = _assert_no_double_change(fleet, 'key')
    assert set(writes.values()) == {1}, writes


# -- the inventory plugin: a stale cached token is replaced; an outage is an error, never "no hosts matched" -------
def _vms_inventory(tmp_path):
    import yaml

    path = os.path.join(str(tmp_path), 'fleet.vms.yml')
    with open(path, 'w') as fh:
        yaml.safe_dump({'plugin': 'vmrescue.azure.vms', 'resource_groups': [RG]}, fh)
    return path


def test_inventory_replaces_a_stale_cached_token(fleet, env, tmp_path):
    path = _vms_inventory(tmp_path)
    run, summary = _run('key', fleet, env, path)  # fills the shared token cache
    assert run.rc == 0 and summary['changed'] == N, summary
    fleet.control.reset(FLEET)
    fleet.control.rotate_token_key()
    run, summary = _run('key', fleet, env, path)
    assert run.rc == 0 and summary['changed'] == N, (summary, run)  # the inventory and the role found all 50
    assert any(e['status'] == 401 for e in fleet.control.requests()), 'the cached token was not used'


def test_inventory_token_outage_is_an_error_not_an_empty_run(fleet, env, tmp_path):
    """Ansible's convention for an inventory source that fails: its error shown (as a warning), or the run failed
    with ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true (what AWX inventory updates set); either way the error names
    the transient token endpoint failure, not a sign-in refusal (HTTP 401) or an empty inventory."""
    path = _vms_inventory(tmp_path)
    fleet.control.fault(method='POST', path_regex='oauth2', status=503)
    playbook = os.path.join(REPO_ROOT, 'playbooks', 'reset_proxy_agent_keys.yml')
    for strict in (False, True):
        run = run_playbook(playbook, dict(env, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=str(strict)), inventory=path)
        text = ' '.join(run.text.split())
        assert 'TokenEndpointUnavailable' in text and 'transient' in text, run
        assert 'HTTP 401' not in text, run
        if strict:
            assert run.rc != 0, run


def test_resources_without_force_update_tag_do_not_rerun_the_handler(fleet, env, inventory):
    """The VM GET's resources entries without forceUpdateTag (as the official VirtualMachines_Get example): the
    re-run reads each extension itself and finds the request done, instead of running the handler 50 times again."""
    fleet.control.config(vm_resources_force_update_tag=False)
    run, summary = _run('linux', fleet, env, inventory)
    assert run.rc == 0 and summary['changed'] == N, summary
    again, summary = _run('linux', fleet, env, inventory)
    assert again.rc == 0 and summary['already_fine'] == N and summary['changed'] == 0, summary
    assert set(_accepted_writes(fleet, 'linux').values()) == {1}
