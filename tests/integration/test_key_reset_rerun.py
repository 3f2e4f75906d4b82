"""Key resets are safe to re-run (issue 11): a re-run while resets are pending, two playbooks started at once over
the same hosts, and a cancelled run re-run each raise every key exactly once.

Real ``ansible-playbook`` runs of the collection's ``reset_proxy_agent_keys`` playbook against the simulator with a
slow relatch (the guest takes longer than the run's ``wait_timeout``). "Raised once" is read from the simulator's
request log (the successful VM PATCH / instance PUT of each target) and from the model itself.
"""

import os
import signal
import subprocess
import threading
import time

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

RG = 'rg-rerun'
VMS = ['vm-%02d' % i for i in range(8)]
INSTANCES = [0, 1]
START_KEY = 3
PENDING_FOR = 900  # seconds from a key write to the guest's relatch (simulator config relatch_seconds)
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [{'name': n, 'proxy_agent': {'key_incarnation_id': START_KEY, 'fault': 'key_lost'}} for n in VMS],
            'scale_sets': [
                {
                    'name': 'ss-rerun',
                    'orchestration': 'Uniform',
                    'proxy_agent': {'key_incarnation_id': START_KEY},
                    'instances': [
                        {'proxy_agent': {'key_incarnation_id': START_KEY, 'fault': 'key_lost'}} for _ in INSTANCES
                    ],
                }
            ],
        },
    ]
)
PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'reset_proxy_agent_keys.yml')


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    # The guest never relatches while these runs look (they wait 3 s): a reset stays pending for every re-run, however
    # long a loaded machine takes to start ansible-playbook three times (CI met 25 s running out before the third).
    sim.control.config(relatch_seconds=PENDING_FOR)
    sim.control.clear_requests()
    return sim


@pytest.fixture
def env(fleet):
    return client_env(fleet)


def _ids(sim):
    hosts = dict((n, sim.vm_id(RG, n)) for n in VMS)
    hosts.update(('ss-rerun_%d' % i, sim.instance_id(RG, 'ss-rerun', i)) for i in INSTANCES)
    return hosts


@pytest.fixture
def inventory(fleet, tmp_path):
    return write_inventory(tmp_path, dict((h, {'azure_vm_id': i}) for h, i in _ids(fleet).items()))


def _raises(sim):
    """{resource id (lower case): number of accepted key writes} from the simulator's request log."""
    ids = dict((i.lower(), 0) for i in _ids(sim).values())
    for entry in sim.control.requests():
        if entry['method'] not in ('PATCH', 'PUT') or entry['status'] >= 300:
            continue
        path = entry['path'].split('?', 1)[0].lower()
        if path in ids:
            ids[path] += 1
    return ids


def _assert_raised_once(sim):
    raises = _raises(sim)
    assert set(raises.values()) == {1}, raises
    for rid in _ids(sim).values():
        model = sim.control.vm(rid)['model']
        assert model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == START_KEY + 1
        assert model['tags']['vmrescue-key-reset'].startswith('%d@' % (START_KEY + 1))


def _summary(run):
    found = None
    for play in (run.data or {}).get('plays', []):
        for task in play['tasks']:
            for hres in task['hosts'].values():
                data = (hres.get('ansible_stats') or {}).get('data') or {}
                if 'proxy_agent_key_recovery_summary' in data:
                    found = data['proxy_agent_key_recovery_summary']
    assert found is not None, run
    return found


SHORT_WAIT = {'proxy_agent_key_recovery_wait_timeout': 3}


def test_rerun_during_the_pending_window_writes_nothing(fleet, env, inventory):
    first = run_playbook(PLAYBOOK, env, inventory=inventory, extra_vars=SHORT_WAIT)
    assert first.rc != 0  # every host timed out waiting for its guest
    assert _summary(first)['failed'] == len(_ids(fleet)), _summary(first)
    for _ in range(2):  # the re-runs: an AWX job re-run after the timeout
        again = run_playbook(PLAYBOOK, env, inventory=inventory, extra_vars=SHORT_WAIT)
        summary = _summary(again)
        assert again.rc == 0 and summary['changed'] == 0 and summary['skipped'] == len(_ids(fleet)), again
        assert all('pending since' in why for why in summary['skipped_hosts'].values()), summary
    _assert_raised_once(fleet)


def test_two_playbooks_at_once_raise_each_key_once(fleet, env, inventory):
    runs = [None, None]

    def go(i):
        runs[i] = run_playbook(PLAYBOOK, env, inventory=inventory, extra_vars=SHORT_WAIT)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_raised_once(fleet)
    # each host was raised (then timed out: failed) by one run and found pending by the other
    summaries = [_summary(r) for r in runs]
    assert sum(s['failed'] for s in summaries) == len(_ids(fleet)), summaries
    assert sum(s['skipped'] for s in summaries) == len(_ids(fleet)), summaries


def test_cancelled_run_rerun_raises_each_key_once(fleet, env, inventory):
    workdir = os.path.join(REPO_ROOT, '.tmp', 'integration')
    os.makedirs(workdir, exist_ok=True)
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook')] + _common(inventory, SHORT_WAIT, False, False) + [PLAYBOOK]
    proc = subprocess.Popen(
        cmd, env=_env(env), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(_raises(fleet).values()):
            time.sleep(0.2)
        assert any(_raises(fleet).values()), 'the run wrote nothing before the deadline'
        fleet.control.config(relatch_seconds=25)  # the re-run's own writes latch within its 60 s wait
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # what a cancel does: the whole run goes, mid-batch
        proc.wait(timeout=60)
    time.sleep(1)
    again = run_playbook(PLAYBOOK, env, inventory=inventory, extra_vars={'proxy_agent_key_recovery_wait_timeout': 60})
    _assert_raised_once(fleet)
    summary = _summary(again)
    assert summary['failed'] + summary['changed'] + summary['skipped'] == len(_ids(fleet)), summary


def test_a_long_run_prints_progress(fleet, env, tmp_path):
    """While hosts wait for their guests, one progress line per ~15 s says done / pending / failed of N."""
    fleet.control.config(relatch_seconds=17)
    inv = write_inventory(tmp_path, dict((n, {'azure_vm_id': fleet.vm_id(RG, n)}) for n in VMS[:2]), name='two.yml')
    run = run_playbook(PLAYBOOK, env, inventory=inv, extra_vars={'proxy_agent_key_recovery_wait_timeout': 60})
    assert run.rc == 0, run
    assert 'vmrescue.azure batch: 0 done (0 failed), 2 pending of 2, after 1' in run.text, run
