"""The reads behind a triage (_triage.reads): the serial log only when it can change the answer, Resource Health
unread is not a failure, the inventory's scope-wide health list, and the module boot_diagnostics' decisions and
summary (_triage.enable). No network: a fake client."""

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._triage import enable, reads

SUB = '/subscriptions/00000000-0000-0000-0000-000000000000'
VM = SUB + '/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/'


def view(power='running', ready=True):
    return {'statuses': [{'code': 'PowerState/' + power}],
            'vmAgent': {'statuses': [{'displayStatus': 'Ready' if ready else 'Not Ready'}]}}  # fmt: skip


def resource(name, power='running', ready=True, enabled=True):
    return {'id': VM + name, 'properties': {
        'provisioningState': 'Succeeded', 'storageProfile': {'osDisk': {'osType': 'Linux'}},
        'diagnosticsProfile': {'bootDiagnostics': {'enabled': enabled}}, 'instanceView': view(power, ready)}}  # fmt: skip


class FakeClient:
    def __init__(self, health=None, refuse_health=False):
        self.calls = []
        self.health = health or {}
        self.refuse_health = refuse_health

    def get(self, path, api_version=None, params=None, resource_id=None, **kw):
        self.calls.append(('GET', path))
        if 'availabilityStatuses' in path:
            if self.refuse_health:
                raise ArmError('no health for you', status=403, code='AuthorizationFailed')
            return {'value': [{'id': rid + '/providers/Microsoft.ResourceHealth/availabilityStatuses/current',
                               'properties': props} for rid, props in self.health.items()]}  # fmt: skip
        raise AssertionError(path)

    def request(self, method, path, *args, **kw):
        self.calls.append((method, path))
        raise ArmError('Boot diagnostics is not enabled.', status=409, code='OperationNotAllowed')


def test_serial_log_only_when_it_can_change_the_answer():
    assert reads.wants_serial('auto', view(ready=False))
    assert not reads.wants_serial('auto', view(ready=True))
    assert not reads.wants_serial('auto', view(power='deallocated', ready=False))
    assert reads.wants_serial('always', view(ready=True))
    assert not reads.wants_serial('never', view(ready=False))


def test_triage_many_one_health_list_per_scope_and_serial_reads_only_where_needed():
    client = FakeClient(health={VM + 'down': {'availabilityState': 'Unavailable', 'context': 'Platform Initiated'}})
    items = [resource('ok'), resource('down'), resource('stuck', ready=False), resource('off', power='deallocated')]
    out = reads.triage_many(client, [SUB + '/resourceGroups/rg'], items)
    assert [out[VM + n]['class'] for n in ('ok', 'down', 'stuck', 'off')] == [
        'boot_ok',
        'platform_unavailable',
        'agent_not_ready',
        'boot_unknown',
    ]
    assert out[VM + 'ok']['resource_health'] == {'checked': False, 'reason': 'Resource Health lists no status for it'}
    assert [c for c in client.calls if 'availabilityStatuses' in c[1]] == [
        ('GET', SUB + '/resourceGroups/rg/providers/Microsoft.ResourceHealth/availabilityStatuses')
    ]
    actions = [c for c in client.calls if c[0] == 'POST']
    assert actions == [('POST', VM + 'stuck/retrieveBootDiagnosticsData')]  # the one running VM not Ready
    assert out[VM + 'stuck']['serial_log']['reason_code'] == 'boot_diagnostics_off'


def test_refused_health_is_unchecked_not_a_failure():
    out = reads.triage_many(FakeClient(refuse_health=True), [SUB], [resource('ok')])
    got = out[VM + 'ok']
    assert got['class'] == 'boot_ok' and got['resource_health']['checked'] is False
    assert 'not read' in got['resource_health']['reason']


def test_instance_view_not_read_leaves_the_host_out():
    item = resource('gone')
    item['properties']['instanceView'] = {'_error': 'deleted'}
    assert reads.triage_many(FakeClient(), [SUB], [item]) == {}


def test_enable_decisions():
    target = parse_resource_id(VM + 'x')

    class View:
        def __init__(self, boot):
            self.model, self.target = {'properties': {'diagnosticsProfile': {'bootDiagnostics': boot}}}, target

    assert enable._decide(View({'enabled': False})).properties == enable.ENABLE
    assert enable._decide(View({})).properties == enable.ENABLE
    assert enable._decide(View({'enabled': True})) is None
    assert enable._decide(View({'enabled': False, 'storageUri': 'https://a.blob.core.windows.net/'})) is None
    assert enable.current({'properties': {}}) == {'enabled': False, 'storage': 'managed'}


def test_enable_summary_counts_each_outcome():
    def res(code, failed=False):
        return {'failed': failed, 'outcome': {'reason_code': code}}

    line = enable.summary([res('changed'), res('changed'), res('unchanged'), res('custom_storage'),
                           res('scope_locked', failed=True)])  # fmt: skip
    assert line == ('boot diagnostics (managed storage) of 5 target(s): 2 turned on, 1 already on, '
                    '1 on a custom storage account (left alone), 1 failed')  # fmt: skip
