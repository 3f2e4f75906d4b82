"""The run report (issue 21): the document validates against its schema, says who / when / what per target with
the correlation IDs of the writes, masks every secret option, is written atomically with mode 0600, and carries the
collection's one version (galaxy.yml's, the ARM client's User-Agent too)."""

import json
import os
import pathlib
import stat

import jsonschema
import pytest
import yaml

from ansible_collections.vmrescue.azure.plugins.module_utils import _report
from ansible_collections.vmrescue.azure.plugins.module_utils._arm_client import USER_AGENT
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.options import SECRET_OPTIONS
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import MASK, outcome
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.linux import task_spec as linux_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_reset import task_spec as key_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import execute
from ansible_collections.vmrescue.azure.plugins.module_utils._task import TaskSpec

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / 'docs' / 'schemas' / 'run_report.schema.json').read_text())
SUB = '00000000-0000-0000-0000-000000000001'
PRINCIPAL = dict(object_id='11111111-0000-0000-0000-000000000000', app_id='app-1', tenant_id='tenant-1')


def _vm(name, rg='rg-a'):
    return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s' % (SUB, rg, name)


def _req(method, status, cid, code=None):
    return dict(
        method=method,
        path='/x',
        status=status,
        request_id='req-' + cid,
        correlation_id=cid,
        error_code=code,
        at='2026-01-01T00:00:01Z',
    )


def _result(vm_id, status, code, msg='', requests=(), changed=False, failed=False, started='2026-01-01T00:00:00Z'):
    return dict(
        id=vm_id,
        changed=changed,
        failed=failed,
        msg=msg,
        outcome=outcome(status, code, msg),
        audit=dict(
            started=started,
            finished='2026-01-01T00:00:05Z',
            duration_s=5.0,
            principal=dict(PRINCIPAL),
            before={'keyIncarnationId': 1},
            after={'keyIncarnationId': 2},
            requests=list(requests),
        ),
    )


RESULTS = [
    _result(_vm('vm1'), 'done', 'latched', 'reset', [_req('PATCH', 200, 'c-1')], changed=True),
    _result(
        _vm('vm|2', 'rg-b'),
        'failed',
        'scope_locked',
        "the scope is locked by 'lock|1': remove the lock and re-run",
        [_req('GET', 404, 'c-r'), _req('PATCH', 409, 'c-2', 'ScopeLocked')],
        failed=True,
        started='2025-12-31T23:59:59Z',
    ),
    _result(
        '/subscriptions/%s/resourceGroups/rg-c/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3'
        % SUB,
        'unchanged',
        'unchanged',
    ),
    dict(id=None, changed=False, failed=True, msg='targets[3]: bad', outcome=outcome('failed', 'invalid_target', 'x')),
]


def _validate(report):
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)


def test_the_schema_is_a_draft_2020_12_schema_with_a_versioned_id():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA['$id'] == _report.SCHEMA_ID and SCHEMA['$id'].endswith('/v%d.schema.json' % _report.SCHEMA_VERSION)
    assert (REPO / _report.SCHEMA_FILE).is_file()


def test_build_per_run_and_per_target():
    report = _report.build(RESULTS, 'vmrescue.azure.proxy_agent_key_reset', options={'state': 'reset'})
    _validate(report)
    assert report['schema_version'] == 1 and report['$schema'] == _report.SCHEMA_ID
    assert report['kind'] == 'vmrescue.azure.proxy_agent_key_reset'
    assert report['collection_version'] == _report.COLLECTION_VERSION
    assert report['started'] == '2025-12-31T23:59:59Z' and report['finished'] == '2026-01-01T00:00:05Z'
    assert report['principals'] == [PRINCIPAL]
    assert report['counts'] == dict(
        total=4,
        by_status=dict(done=1, pending=0, unchanged=1, skipped=0, failed=2),
        by_reason_code=dict(invalid_target=1, latched=1, scope_locked=1, unchanged=1),
    )
    first, second, inst, bad = report['targets']
    assert (first['name'], first['resource_group'], first['subscription_id']) == ('vm1', 'rg-a', SUB)
    assert first['before'] == {'keyIncarnationId': 1} and first['after'] == {'keyIncarnationId': 2}
    assert first['requests'][0]['correlation_id'] == 'c-1' and first['duration_s'] == 5.0
    assert second['outcome']['reason_code'] == 'scope_locked' and second['failed'] is True
    assert (inst['name'], inst['vmss_name'], inst['instance_id']) == ('ss/3', 'ss', '3')
    assert bad['id'] is None and bad['name'] is None and bad['requests'] == [] and bad['started'] is None
    assert 'preflight' not in first


def test_preflight_and_warnings_are_kept_verbatim_and_batch_result_failures_count_as_failed():
    res = dict(RESULTS[0], preflight={'locks': {'checked': True}}, warnings=['w1'])
    collected = dict(RESULTS[1], failed_target=True)
    collected.pop('failed')  # vmrescue.azure.batch_result with fail_on_failure: false
    report = _report.build([res, collected], 'k')
    _validate(report)
    assert report['targets'][0]['preflight'] == {'locks': {'checked': True}}
    assert report['targets'][0]['warnings'] == ['w1'] and report['targets'][1]['failed'] is True


def test_results_by_host_from_a_role_summary():
    """A dict host -> recovery_outcomes entry: the host is named, its result used; a host the role left alone
    without a module result (its OS) gets its entry's outcome."""
    entries = {
        'h1': dict(outcome=dict(host='h1', status='changed', reason='x', reason_code='latched'), result=RESULTS[0]),
        'h2': dict(outcome=dict(host='h2', status='skipped', reason='Windows VM', reason_code='wrong_os'), result={}),
    }
    report = _report.build(entries, 'proxy_agent_key_recovery')
    _validate(report)
    h1, h2 = report['targets']
    assert h1['host'] == 'h1' and h1['name'] == 'vm1' and h1['outcome']['reason_code'] == 'latched'
    assert h2['host'] == 'h2' and h2['outcome'] == dict(status='skipped', reason_code='wrong_os', reason='Windows VM')


def test_an_empty_run_still_validates():
    report = _report.build([], 'k')
    _validate(report)
    assert report['counts']['total'] == 0 and report['principals'] == []
    assert '| Targets | 0 |' in _report.markdown(report)


@pytest.mark.parametrize('spec', [key_spec(), linux_spec()], ids=['key_reset', 'vmaccess_linux'])
def test_options_mask_every_no_log_and_auth_secret_and_drop_targets(spec):
    params = dict((name, None) for name in spec.full_argument_spec())
    params.update(
        secret='client-secret-value',
        password='p@ssw0rd-value',
        client_id='cid',
        targets=[_vm('vm1')],
        concurrency=8,
        report='/tmp/r.json',
    )
    masked = _report.mask_options(params, spec.full_argument_spec(), SECRET_OPTIONS)
    assert masked['secret'] == MASK and masked['password'] == MASK
    assert masked['client_id'] == 'cid' and masked['concurrency'] == 8
    assert 'targets' not in masked and not [k for k, v in masked.items() if v is None]
    text = json.dumps(_report.build(RESULTS, spec.name, options=masked))
    assert 'client-secret-value' not in text and 'p@ssw0rd-value' not in text


def test_options_mask_a_private_key_given_by_mistake_and_nested_no_log_suboptions():
    spec = dict(outer=dict(type='dict', options=dict(token=dict(type='str', no_log=True), n=dict(type='int'))))
    key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----'
    masked = _report.mask_options(dict(outer=dict(token='t0k', n=1), ssh_key=key), spec)
    assert masked == dict(outer=dict(token=MASK, n=1), ssh_key=MASK)


def test_loose_masking_drops_every_key_that_looks_secret():
    options = dict(
        state='reset',
        client_secret='x',
        auth=dict(password='y', tenant='t', access_token='z'),
        protected_settings={'a': 1},
        ssh_private_key='k',
        targets=['a'],
    )
    assert _report.mask_loose(options) == dict(state='reset', auth=dict(tenant='t'))


def test_secrets_are_scrubbed_from_the_whole_document():
    res = dict(RESULTS[0], msg='oops s3cr3t-value')
    report = _report.build([res], 'k', secrets=['s3cr3t-value'])
    assert 's3cr3t-value' not in json.dumps(report) and MASK in report['targets'][0]['msg']


def test_markdown_view():
    report = _report.build(RESULTS, 'vmrescue.azure.proxy_agent_key_reset', options={})
    text = _report.markdown(report)
    assert text.startswith('# Run report: vmrescue.azure.proxy_agent_key_reset')
    assert 'app ID app-1' in text and 'vmrescue.azure %s' % _report.COLLECTION_VERSION in text
    assert '| failed | 2 |' in text and '| done | 1 |' in text and '| scope_locked | 1 |' in text
    assert '| vm1 | rg-a | done | latched | c-1 |' in text
    # the write's correlation ID only (not the failed read's), and | escaped in cells
    assert '| vm\\|2 | rg-b | failed | scope_locked | c-2 |' in text and 'c-r' not in text
    trouble = text.split('## Skipped and failed targets', 1)[1]
    assert "lock\\|1': remove the lock and re-run" in trouble and 'vm1' not in trouble
    for line in text.splitlines():
        if line.startswith('|'):
            cells = line.replace('\\|', '').count('|')
            assert cells in (3, 6), line  # 2 or 5 columns: no unescaped | inside a cell


def test_write_is_atomic_0600_and_puts_the_markdown_next_to_it(tmp_path):
    report = _report.build(RESULTS, 'k')
    path = tmp_path / 'run.json'
    path.write_text('old')
    json_path, md_path = _report.write(str(path), report)
    assert (json_path, md_path) == (str(path), str(tmp_path / 'run.md'))
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    assert (tmp_path / 'run.md').read_text() == _report.markdown(report)
    for p in (json_path, md_path):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ['run.json', 'run.md']  # no temp file left
    assert _report.markdown_path('/x/report') == '/x/report.md'


def test_write_fails_naming_the_option_when_the_directory_is_missing(tmp_path):
    with pytest.raises(_report.ReportError) as err:
        _report.write(str(tmp_path / 'nope' / 'r.json'), {}, option='recovery_report_path')
    assert 'recovery_report_path' in str(err.value) and 'does not exist' in str(err.value)


def test_a_failed_write_leaves_no_temp_file_and_the_old_report(tmp_path, monkeypatch):
    path = tmp_path / 'r.json'
    path.write_text('old')

    def boom(*_a, **_k):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(_report.os, 'replace', boom)
    with pytest.raises(_report.ReportError):
        _report.write(str(path), _report.build([], 'k'))
    assert path.read_text() == 'old' and sorted(os.listdir(tmp_path)) == ['r.json']


def test_attach_reports_the_paths_or_warns(tmp_path):
    out = {}
    _report.attach(out, str(tmp_path / 'r.json'), RESULTS, 'k')
    assert out['report']['path'] == str(tmp_path / 'r.json') and out['report']['counts']['total'] == 4
    out = {}
    _report.attach(out, str(tmp_path / 'missing' / 'r.json'), RESULTS, 'k')
    assert 'report' not in out and 'the run report was not written' in out['warnings'][0]


def test_one_collection_version():
    galaxy = yaml.safe_load((REPO / 'galaxy.yml').read_text())
    assert _report.COLLECTION_VERSION == galaxy['version']
    assert USER_AGENT == 'vmrescue.azure/%s' % galaxy['version']


def test_galaxy_build_ignore_keeps_the_schema():
    galaxy = yaml.safe_load((REPO / 'galaxy.yml').read_text())
    assert not [p for p in galaxy.get('build_ignore') or [] if p in ('docs', 'docs/schemas', '*.json')]


# -- the runner's hook (the report option of every batch-capable module) -----------------------------------------
class _Client:
    subscription_id = SUB
    principal = dict(PRINCIPAL)


def _run(ctx):
    return dict(changed=True, id=ctx.target.id, outcome=outcome('done', 'changed', 'ok'))


def test_the_report_option_writes_the_report_of_a_batch_and_of_a_single_target(tmp_path):
    spec = TaskSpec({}, _run, name='vmrescue.azure.example')
    path = tmp_path / 'batch.json'
    params = dict(targets=[_vm('vm1'), '/bad'], concurrency=2, report=str(path), secret='s3cr3t-value')
    out = execute(spec, params, client=_Client())
    assert out['report'] == dict(
        path=str(path), markdown_path=str(tmp_path / 'batch.md'), counts=json.loads(path.read_text())['counts']
    )
    report = json.loads(path.read_text())
    _validate(report)
    assert report['kind'] == 'vmrescue.azure.example' and report['counts']['by_status']['failed'] == 1
    assert [t['id'] for t in report['targets']] == [_vm('vm1'), '/bad'] and report['principals'] == [PRINCIPAL]
    assert report['options'] == dict(concurrency=2, report=str(path), secret=MASK)
    assert 's3cr3t-value' not in path.read_text() + (tmp_path / 'batch.md').read_text()

    single = tmp_path / 'one.json'
    out = execute(spec, dict(vm_id=_vm('vm2'), report=str(single)), client=_Client())
    assert out['changed'] and out['report']['counts']['total'] == 1
    assert json.loads(single.read_text())['targets'][0]['name'] == 'vm2'


def test_a_report_that_cannot_be_written_is_a_warning_not_a_lost_run(tmp_path):
    spec = TaskSpec({}, _run, name='k')
    out = execute(spec, dict(vm_id=_vm('vm2'), report=str(tmp_path / 'no' / 'r.json')), client=_Client())
    assert out['changed'] and not out.get('failed') and 'report' not in out
    assert 'the run report was not written: report: the directory' in out['warnings'][0]


def test_every_batch_module_has_the_report_option():
    for spec in (key_spec(), linux_spec()):
        assert spec.full_argument_spec()['report'] == dict(type='path') and spec.name.startswith('vmrescue.azure.')


def test_the_json_of_1000_targets_is_the_same_document_one_line_per_target(tmp_path):
    """The JSON text (``to_json``: run keys indented, one target per line, written with json's fast encoder; its
    cost is a bench figure, bench/run.py collection_report, not a test) reads back as the report itself."""
    results = [dict(RESULTS[0], id=_vm('vm%d' % i)) for i in range(1000)]
    report = _report.build(results, 'k', options={'state': 'reset'}, secrets=['s3cr3t'])
    json_path, _md = _report.write(str(tmp_path / 'r.json'), report)
    text = pathlib.Path(json_path).read_text()
    assert json.loads(text) == json.loads(json.dumps(report, default=str))
    rows = [line.rstrip(',') for line in text.splitlines() if line.startswith('  {"')]
    assert [json.loads(r) for r in rows] == json.loads(text)['targets'] and len(rows) == 1000
    _validate(json.loads(text))
    for doc in (dict(report, targets=[]), dict((k, v) for k, v in report.items() if k != 'targets')):
        assert json.loads(_report.to_json(doc)) == json.loads(json.dumps(doc, default=str))
