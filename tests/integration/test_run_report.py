"""The run report (issue 21) through real ansible-playbook runs against the simulator: a batch task's ``report``
option and a recovery role's ``<role>_report_path`` write a report that validates against its schema, holds the
correlation ID of every write the simulator logged for the run's VMs (refused ones included), and says who ran it."""

import json
import os

import jsonschema
import pytest

from ansible_runner import (
    REPO_ROOT,
    client_env,
    collection_playbook,
    fleet_on_test_principals,
    published_stats,
    run_playbook,
    write_inventory,
)

SCHEMA = json.load(open(os.path.join(REPO_ROOT, 'docs', 'schemas', 'run_report.schema.json')))
RG = 'rg-report'
FLEET = fleet_on_test_principals(
    [
        {
            'name': RG,
            'location': 'westeurope',
            'vms': [
                {'name': 'rep-ok', 'proxy_agent': {'key_incarnation_id': 3}},
                {'name': 'rep-broken', 'proxy_agent': {'key_incarnation_id': 2, 'fault': 'key_lost'}},
                {'name': 'rep-locked', 'proxy_agent': {'key_incarnation_id': 1}},
                {'name': 'rep-no-msp'},
            ],
        }
    ]
)
NAMES = ['rep-ok', 'rep-broken', 'rep-locked', 'rep-no-msp']


@pytest.fixture
def fleet(sim):
    sim.control.reset(FLEET)
    # a ReadOnly lock on one VM: its key reset is a write Azure refuses (409 ScopeLocked), sent once
    sim.control.add_lock(sim.vm_id(RG, 'rep-locked'), 'freeze', level='ReadOnly')
    sim.control.clear_requests()
    return sim


def _validate(report):
    jsonschema.Draft202012Validator(SCHEMA).validate(report)


def _writes(sim, names):
    """The simulator's log of every write (any method but GET) to the VMs ``names`` or below them."""
    out = []
    for entry in sim.control.requests():
        path = entry['path'].split('?')[0]
        for name in names:
            marker = '/virtualMachines/%s' % name
            if entry['method'] != 'GET' and marker in path and path.split(marker, 1)[1][:1] in ('', '/'):
                out.append(entry)
    return out


def _report_ids(report):
    return set(r['correlation_id'] for t in report['targets'] for r in t['requests'] if r['correlation_id'])


@pytest.mark.parametrize('preflight', [False, True])
def test_batch_report_option_holds_every_write_and_validates(fleet, tmp_path, preflight):
    """Without the preflight, the locked VM's write is refused (409) and its correlation ID is in the report; with it,
    the VM is skipped before any write and the report keeps the preflight's finding."""
    env = client_env(fleet)
    path = tmp_path / 'reports' / 'keys.json'
    path.parent.mkdir()
    ids = [fleet.vm_id(RG, n) for n in NAMES]
    args = {'targets': ids, 'state': 'reset', 'report': str(path), 'preflight': preflight}
    task = {'vmrescue.azure.proxy_agent_key_reset': args, 'register': 'out'}
    run = run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}], env)
    out = run.result()
    assert run.rc == 0 and out['report']['path'] == str(path), run
    assert out['report']['markdown_path'] == str(path.parent / 'keys.md')
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'

    report = json.loads(path.read_text())
    _validate(report)
    assert report['kind'] == 'vmrescue.azure.proxy_agent_key_reset' and report['options']['state'] == 'reset'
    assert [t['name'] for t in report['targets']] == NAMES and report['counts'] == out['report']['counts']
    assert report['principals'] and report['principals'][0]['app_id'] == fleet.client_id, report['principals']
    by_name = dict((t['name'], t) for t in report['targets'])
    assert by_name['rep-locked']['outcome']['reason_code'] == 'scope_locked', by_name['rep-locked']
    assert by_name['rep-broken']['outcome']['status'] == 'done'
    assert by_name['rep-broken']['before'] != by_name['rep-broken']['after']

    writes = _writes(fleet, NAMES)
    if preflight:
        assert by_name['rep-locked']['outcome']['status'] == 'skipped', by_name['rep-locked']
        assert by_name['rep-locked']['preflight']['refused'] == 'scope_locked', by_name['rep-locked']
        assert by_name['rep-locked']['requests'] == [] and not any(w['status'] >= 400 for w in writes), writes
    else:  # the reset and the refused one
        assert len(writes) >= 2 and any(w['status'] == 409 for w in writes), writes
    logged = set(w['correlation_id'] for w in writes)
    assert None not in logged and logged <= _report_ids(report), (logged, _report_ids(report))
    # each write is on its own VM's entry
    for name in NAMES:
        own = set(w['correlation_id'] for w in _writes(fleet, [name]))
        assert own <= _report_ids(dict(targets=[by_name[name]])), name

    text = (path.parent / 'keys.md').read_text()
    assert '| rep-locked | %s | %s | scope_locked |' % (RG, 'skipped' if preflight else 'failed') in text, text
    for cid in logged:
        assert cid in text


def test_role_report_path_is_published_with_set_stats(fleet, tmp_path):
    env = client_env(fleet)
    inventory = write_inventory(tmp_path, dict((n, {'azure_vm_id': fleet.vm_id(RG, n)}) for n in NAMES))
    path = tmp_path / 'role-report.json'
    run = run_playbook(
        collection_playbook('reset_proxy_agent_keys'),
        env,
        inventory=inventory,
        extra_vars={'proxy_agent_key_recovery_mode': 'all', 'proxy_agent_key_recovery_report_path': str(path)},
    )
    published = published_stats(run, 'proxy_agent_key_recovery_report')
    assert published['path'] == str(path) and published['markdown_path'] == str(tmp_path / 'role-report.md'), run
    report = json.loads(path.read_text())
    _validate(report)
    assert report['kind'] == 'vmrescue.azure.proxy_agent_key_recovery'
    assert report['options']['mode'] == 'all' and published['counts'] == report['counts']
    assert sorted(t['host'] for t in report['targets']) == sorted(NAMES)
    by_host = dict((t['host'], t) for t in report['targets'])
    assert by_host['rep-locked']['outcome']['reason_code'] == 'scope_locked'
    assert by_host['rep-broken']['name'] == 'rep-broken' and by_host['rep-broken']['requests']
    logged = set(w['correlation_id'] for w in _writes(fleet, NAMES))
    assert logged and logged <= _report_ids(report)
    summary = published_stats(run, 'proxy_agent_key_recovery_summary')
    assert summary['checked'] == report['counts']['total'] == len(NAMES)


def test_role_report_to_a_missing_directory_is_a_warning_not_a_failure(fleet, tmp_path):
    env = client_env(fleet)
    inventory = write_inventory(tmp_path, {'rep-ok': {'azure_vm_id': fleet.vm_id(RG, 'rep-ok')}})
    path = tmp_path / 'missing' / 'r.json'
    run = run_playbook(
        collection_playbook('reset_proxy_agent_keys'),
        env,
        inventory=inventory,
        extra_vars={'proxy_agent_key_recovery_report_path': str(path)},
    )
    assert run.rc == 0, run
    assert 'does not exist' in run.text and not path.parent.exists()
    assert published_stats(run, 'proxy_agent_key_recovery_summary')['failed'] == 0
