"""Issue 25: the run reports of job slices merged into one (module_utils/_report_merge, the merge_reports filter and
run_report's ``reports``): each target once, the runs listed, counts summed, a target in two slices reported."""

import json
import os

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmrescue.azure.plugins.filter.merge_reports import merge_reports
from ansible_collections.vmrescue.azure.plugins.module_utils import _report
from ansible_collections.vmrescue.azure.plugins.module_utils._report_merge import merge, merge_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = json.load(open(os.path.join(REPO, 'docs', 'schemas', 'run_report.schema.json')))
SUB = '00000000-0000-4000-8000-000000000001'
WHO = {'object_id': 'o1', 'app_id': 'a1', 'tenant_id': 't1'}


def _vm(name):
    return '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/%s' % (SUB, name)


def _result(name, status='done', code='latched', cid=None, started='2026-12-07T10:00:00Z'):
    requests = []
    if cid:
        requests.append(
            dict(
                method='PATCH',
                path=_vm(name),
                status=200,
                request_id='r-' + cid,
                correlation_id=cid,
                error_code=None,
                at=started,
            )
        )
    return dict(
        id=_vm(name),
        changed=status == 'done',
        failed=status == 'failed',
        msg='%s: %s' % (name, code),
        outcome=dict(status=status, reason_code=code, reason=code),
        audit=dict(
            principal=WHO,
            requests=requests,
            started=started,
            finished=started.replace('10:00', '10:05'),
            duration_s=300.0,
            before={'k': 1},
            after={'k': 2},
        ),
    )


def _slice(hosts, **run):
    results = dict((h, _result(h, **kw)) for h, kw in hosts.items())
    return _report.build(results, 'vmrescue.azure.proxy_agent_key_recovery', options={'mode': 'all'}, run=run)


def test_slices_merge_into_one_report_each_target_once_counts_summed():
    one = _slice({'vm-0': {'cid': 'c0'}, 'vm-2': {'status': 'failed', 'code': 'scope_locked', 'cid': 'c2'}})
    two = _slice(
        {
            'vm-1': {'cid': 'c1', 'started': '2026-12-07T09:59:00Z'},
            'vm-3': {'status': 'unchanged', 'code': 'already_healthy'},
        }
    )
    merged = merge([one, two], ['slice-0.json', 'slice-1.json'])
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    assert [t['host'] for t in merged['targets']] == ['vm-0', 'vm-2', 'vm-1', 'vm-3']
    assert merged['counts']['total'] == 4 == one['counts']['total'] + two['counts']['total']
    for status in ('done', 'failed', 'unchanged'):
        assert merged['counts']['by_status'][status] == (
            one['counts']['by_status'][status] + two['counts']['by_status'][status]
        )
    assert merged['counts']['by_reason_code'] == {'already_healthy': 1, 'latched': 2, 'scope_locked': 1}
    assert [r['source'] for r in merged['runs']] == ['slice-0.json', 'slice-1.json']
    assert merged['runs'][1]['counts'] == two['counts'] and merged['runs'][0]['kind'] == one['kind']
    assert merged['kind'] == 'vmrescue.azure.proxy_agent_key_recovery' and merged['options'] == {'mode': 'all'}
    assert merged['principals'] == [WHO] and merged['conflicts'] == []
    assert merged['started'] == '2026-12-07T09:59:00Z' and merged['finished'] == '2026-12-07T10:05:00Z'
    text = _report.markdown(merged)
    assert '## Runs merged' in text and 'slice-1.json' in text and 'conflicts' not in text
    for cid in ('c0', 'c1', 'c2'):
        assert cid in text


def test_the_same_vm_in_two_slices_is_reported_not_dropped():
    one = _slice({'vm-0': {'cid': 'c0'}, 'vm-9': {'cid': 'first'}})
    two = _slice({'vm-9': {'status': 'failed', 'code': 'conflict', 'cid': 'second'}, 'vm-1': {}})
    merged = merge([one, two], ['a.json', 'b.json'])
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    assert [t['host'] for t in merged['targets']] == ['vm-0', 'vm-9', 'vm-1'] and merged['counts']['total'] == 3
    shown = merged['targets'][1]
    # the failure is shown first, every run's writes are kept, and the entry says where else it is
    assert shown['outcome']['status'] == 'failed' and shown['conflict'] is True
    assert [r['correlation_id'] for r in shown['requests']] == ['first', 'second']
    assert any('also in run 0 (a.json): done / latched' in w for w in shown['warnings']), shown['warnings']
    (conflict,) = merged['conflicts']
    assert conflict['id'] == _vm('vm-9') and conflict['runs'] == [0, 1] and conflict['same_outcome'] is False
    assert [e['outcome']['status'] for e in conflict['entries']] == ['done', 'failed']
    assert [e['source'] for e in conflict['entries']] == ['a.json', 'b.json']
    assert 'Targets in more than one run' in _report.markdown(merged)


def test_resource_ids_match_case_insensitively_and_hostless_invalid_targets_are_kept():
    one = _report.build([_result('vm-0'), dict(id=None, msg='bad', failed=True)], 'k')
    two = _report.build([dict(_result('vm-0'), id=_vm('vm-0').upper()), dict(id=None, msg='bad2', failed=True)], 'k')
    merged = merge([one, two])
    assert len(merged['conflicts']) == 1 and merged['conflicts'][0]['same_outcome'] is True
    assert merged['counts']['total'] == 3  # vm-0 once, both invalid targets
    assert [r['source'] for r in merged['runs']] == ['run 0', 'run 1']


def test_different_kinds_and_options_are_kept_per_run():
    one = _report.build([_result('vm-0')], 'vmrescue.azure.a', options={'x': 1}, run={'check_mode': True})
    two = _report.build([_result('vm-1')], 'vmrescue.azure.b', options={'x': 2})
    merged = merge([one, two])
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    assert merged['kind'] == 'vmrescue.azure.a + vmrescue.azure.b' and merged['options'] == {}
    assert [r['options'] for r in merged['runs']] == [{'x': 1}, {'x': 2}] and merged['check_mode'] is True


def test_merge_files_reads_with_report_load_once_each_and_leaves_out_the_merged_path(tmp_path):
    paths = []
    for i, name in enumerate(('vm-0', 'vm-1')):
        path = str(tmp_path / ('slice-%d.json' % i))
        _report.write(path, _report.build([_result(name)], 'k'))
        paths.append(path)
    out = str(tmp_path / 'merged.json')
    _report.write(out, _report.build([_result('vm-7')], 'k'))  # an earlier merge, matched by a glob
    merged = merge_files(paths + [paths[0], out], exclude=out)
    assert [t['name'] for t in merged['targets']] == ['vm-0', 'vm-1'] and merged['conflicts'] == []
    _report.write(out, merged)
    assert _report.load(out)['runs'][0]['source'] == paths[0]
    with pytest.raises(_report.ReportError, match='reports: cannot read the run report'):
        merge_files([str(tmp_path / 'missing.json')])
    with pytest.raises(_report.ReportError, match='reports: give a list'):
        merge_files(str(tmp_path / 'slice-0.json'))
    (tmp_path / 'other.json').write_text('{"a": 1}')
    with pytest.raises(_report.ReportError, match='not a run report of this collection'):
        merge_files([str(tmp_path / 'other.json')])


def test_filter_takes_dicts_or_paths(tmp_path):
    path = str(tmp_path / 'one.json')
    _report.write(path, _report.build([_result('vm-0')], 'k'))
    merged = merge_reports([path, _report.build([_result('vm-1')], 'k')])
    assert [r['source'] for r in merged['runs']] == [path, 'run 1'] and merged['counts']['total'] == 2
    assert merge_reports([path], sources=['slice 1'])['runs'][0]['source'] == 'slice 1'
    with pytest.raises(AnsibleFilterError, match='expected a list of run reports'):
        merge_reports(path)
    with pytest.raises(AnsibleFilterError, match='cannot read'):
        merge_reports([str(tmp_path / 'nope.json')])
