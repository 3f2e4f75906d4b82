"""Issue 25: AWX job slices. Three ansible-playbook jobs at once over the slices AWX would make of one inventory
(host i in slice i mod 3), on one service principal and one subscription, against one simulator whose gateway
buckets are small enough for a small fleet to reach the throttled phase: no 429 (the pacers follow the shared
remaining-count headers), each key raised once; then vmrescue.azure.merge_reports makes one report of the three.
A VM in two slices by mistake is reported in the merged report's conflicts, not dropped."""

import concurrent.futures
import json
import os

import jsonschema
import pytest

from ansible_runner import REPO_ROOT, collection_playbook, published_stats, run_playbook, write_inventory

pytestmark = pytest.mark.core_agnostic

SCHEMA = json.load(open(os.path.join(REPO_ROOT, 'docs', 'schemas', 'run_report.schema.json')))
N, SLICES = 60, 3
# Azure's refill rates (25 reads/s, 10 writes/s per principal and subscription), smaller bursts: 60 VMs reach the
# throttled phase (the documented bursts of 250 / 200 would take hundreds of VMs)
SMALL_BURSTS = {'gw_read_burst': 40, 'gw_write_burst': 20}


def _env(sim, home):
    env = dict(os.environ)
    env.update(sim.env())
    os.makedirs(home, mode=0o700, exist_ok=True)
    env['HOME'] = home  # each job its own HOME (token cache), as each AWX execution node
    return env


def _slices(tmp_path, sim, ids, k, extra=()):
    """k inventories as AWX slices one (host i in slice i mod k), ``extra`` (slice, index) hosts added by mistake."""
    paths = []
    for j in range(k):
        hosts = dict(('vm%03d' % i, {'azure_vm_id': vm_id}) for i, vm_id in enumerate(ids) if i % k == j)
        for where, i in extra:
            if where == j:
                hosts['vm%03d' % i] = {'azure_vm_id': ids[i]}
        paths.append(write_inventory(tmp_path, hosts, name='slice-%d.yml' % j))
    return paths


def _run_slices(sim, tmp_path, inventories):
    reports = [str(tmp_path / ('keys-slice-%d.json' % j)) for j in range(len(inventories))]

    def one(j):
        return run_playbook(
            collection_playbook('reset_proxy_agent_keys'),
            _env(sim, str(tmp_path / ('home-%d' % j))),
            inventory=inventories[j],
            extra_vars={
                'proxy_agent_key_recovery_mode': 'incarnation',
                'proxy_agent_key_recovery_key_incarnation_id': 2,
                'proxy_agent_key_recovery_report_path': reports[j],
            },
        )

    with concurrent.futures.ThreadPoolExecutor(len(inventories)) as pool:
        runs = list(pool.map(one, range(len(inventories))))
    return runs, reports


def _accepted_writes(sim):
    out = {}
    for entry in sim.control.requests():
        if entry['method'] in ('PATCH', 'PUT') and entry['status'] < 400:
            path = entry['path'].split('?')[0].lower()
            out[path] = out.get(path, 0) + 1
    return out


def test_slices_share_the_principals_budget_and_merge_into_one_report(sim_factory, tmp_path):
    sim = sim_factory(fleet={'generate': {'count': N}}, config=SMALL_BURSTS)
    ids = [sim.vm_id('rg-bench', 'bench-%05d' % i) for i in range(N)]
    sim.control.reset_counters()
    sim.control.clear_requests()
    runs, reports = _run_slices(sim, tmp_path, _slices(tmp_path, sim, ids, SLICES))
    counters = sim.control.counters()
    for run in runs:
        assert run.rc == 0, run
        assert published_stats(run, 'proxy_agent_key_recovery_summary')['changed'] == N // SLICES, run
    # no 429: each slice's first requests (slow start) showed it the level and the others' draws before it burst
    throttled = [(e['method'], e['route'], e['at']) for e in sim.control.requests() if e['status'] == 429]
    assert counters['throttled'] == 0, (counters, throttled)
    writes = _accepted_writes(sim)
    assert sorted(writes) == sorted(i.lower() for i in ids) and set(writes.values()) == {1}, writes  # each key once
    for vm_id in ids[:: N // 6]:
        guest = sim.control.vm(vm_id)['proxy_agent']['guest']
        assert int(guest['keyIncarnationId']) == 2, (vm_id, guest)

    merged_path = tmp_path / 'keys.json'
    run = run_playbook(
        collection_playbook('merge_reports'),
        _env(sim, str(tmp_path / 'home-merge')),
        extra_vars={'report_glob': str(tmp_path / 'keys-slice-*.json'), 'merged_report_path': str(merged_path)},
    )
    assert run.rc == 0, run
    merged = json.loads(merged_path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    assert sorted(t['id'].lower() for t in merged['targets']) == sorted(i.lower() for i in ids)
    assert merged['counts']['total'] == N and merged['counts']['by_status']['done'] == N, merged['counts']
    assert sorted(r['source'] for r in merged['runs']) == sorted(reports) and merged['conflicts'] == []
    assert merged['kind'] == 'vmrescue.azure.proxy_agent_key_recovery'
    assert sum(r['counts']['total'] for r in merged['runs']) == N
    published = published_stats(run, 'merge_reports_report')
    assert published['path'] == str(merged_path) and published['runs'] == SLICES and published['conflicts'] == []
    assert (tmp_path / 'keys.md').read_text().count('| bench-') == N


def test_a_vm_in_two_slices_is_a_conflict_in_the_merged_report(sim_factory, tmp_path):
    sim = sim_factory(fleet={'generate': {'count': 4}})
    ids = [sim.vm_id('rg-bench', 'bench-%05d' % i) for i in range(4)]
    # VM 0 is in slice 0 (0 mod 2) and, by mistake, in slice 1 too
    runs, reports = _run_slices(sim, tmp_path, _slices(tmp_path, sim, ids, 2, extra=[(1, 0)]))
    assert all(os.path.exists(p) for p in reports), runs
    merged_path = tmp_path / 'merged.json'
    run = run_playbook(
        collection_playbook('merge_reports'),
        _env(sim, str(tmp_path / 'home-merge')),
        extra_vars={'report_paths': reports, 'merged_report_path': str(merged_path)},
    )
    assert run.rc == 0, run
    assert 'in more than one run report' in run.text, run  # the warning
    merged = json.loads(merged_path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    assert merged['counts']['total'] == 4, merged['counts']
    (conflict,) = merged['conflicts']
    assert conflict['id'].lower() == ids[0].lower() and conflict['runs'] == [0, 1], conflict
    assert [e['source'] for e in conflict['entries']] == reports
    shown = [t for t in merged['targets'] if t.get('conflict')]
    assert len(shown) == 1 and shown[0]['host'] == 'vm000'
    assert 'Targets in more than one run' in (tmp_path / 'merged.md').read_text()


def test_merge_reports_names_its_extra_vars_when_nothing_is_given(sim, tmp_path):
    run = run_playbook(collection_playbook('merge_reports'), _env(sim, str(tmp_path / 'h')))
    assert run.rc != 0 and 'merged_report_path' in run.text and 'report_glob' in run.text, run
    run = run_playbook(
        collection_playbook('merge_reports'),
        _env(sim, str(tmp_path / 'h')),
        extra_vars={'report_paths': [str(tmp_path / 'nope.json')], 'merged_report_path': str(tmp_path / 'm.json')},
    )
    assert run.rc != 0 and 'reports: cannot read the run report' in run.text, run
