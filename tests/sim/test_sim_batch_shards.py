"""A key reset batch over several subscriptions runs each subscription's targets in a process of its own
(module_utils/_shards.py, issue 25): the same results as one process, in the batch's order, each streamed to the
caller in the batch's own process; a share whose process dies fails its own targets only, with the reason."""

import os

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.vmrescue.azure.plugins.module_utils import _runner, _shards
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_reset import task_spec

from armsim.fleet import subscription_ids

TEST_FLEET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'test.yaml')
SUBS = 3


@pytest.fixture
def spread(sim, monkeypatch):
    """9 generated VMs over 3 subscriptions (key incarnation 1), and a batch allowed 3 processes."""
    with open(TEST_FLEET) as fh:
        base = yaml.safe_load(fh)
    fleet = {k: base[k] for k in ('tenant_id', 'subscription_id', 'principals')}
    fleet['generate'] = {'count': 9, 'subscriptions': SUBS, 'resource_group': 'rg-shards', 'prefix': 'sh'}
    sim.control.reset(fleet)
    monkeypatch.setattr(_runner, 'share_count', lambda: SUBS)
    for key, value in sim.env().items():  # the CA bundle is read from the environment, as by a module
        monkeypatch.setenv(key, value)
    yield subscription_ids(SUBS, base['subscription_id'])
    sim.control.reset(TEST_FLEET)


def _run(sim, on_result=None):
    spec = task_spec()
    ids = sim.control.vms()
    params = dict(targets=ids, state='reset', key_incarnation_id=2, wait=False)
    valid = ArgumentSpecValidator(spec.full_argument_spec()).validate(params)
    assert not valid.error_messages, valid.error_messages
    return ids, _runner.execute(spec, valid.validated_parameters, on_result=on_result)


def test_each_subscription_in_its_own_process_same_results_in_order(sim, spread, monkeypatch):
    split_into = []
    real = _shards.run_shares

    def spy(shares, work, deliver):
        split_into.append([len(s) for s in shares])
        return real(shares, work, deliver)

    monkeypatch.setattr(_runner, 'run_shares', spy)
    streamed = []
    ids, out = _run(sim, on_result=lambda index, res: streamed.append((index, os.getpid(), res['id'])))
    assert split_into == [[3, 3, 3]]
    assert [r['id'].lower() for r in out['results']] == [i.lower() for i in ids]
    assert all(r['changed'] and not r['failed'] for r in out['results']), out['msg']
    assert out['changed_count'] == 9 and out['failed_count'] == 0
    assert sorted(i for i, _pid, _id in streamed) == list(range(9))
    assert set(pid for _i, pid, _id in streamed) == {os.getpid()}  # streamed in the batch's own process
    assert out['preflight']['scopes'] >= SUBS  # every share's preflight counted
    for vm in ids:
        model = sim.control.vm(vm)['model']
        assert model['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId'] == 2


def test_a_share_whose_process_dies_fails_only_its_targets(sim, spread, monkeypatch):
    real = _runner._run_pending
    lost = spread[1].lower()

    def dies_in_one_subscription(task, client, pending, *rest):
        if any(target.subscription_id.lower() == lost for _index, target in pending):
            os._exit(1)
        return real(task, client, pending, *rest)

    monkeypatch.setattr(_runner, '_run_pending', dies_in_one_subscription)
    ids, out = _run(sim)
    for vm, res in zip(ids, out['results']):
        if vm.split('/')[2].lower() == lost:
            assert res['failed'] and res['outcome']['reason_code'] == 'internal_error', res
            assert 'ended without its result' in res['msg'] and res['id'].lower() == vm.lower()
        else:
            assert res['changed'] and not res['failed'], res
    assert out['failed_count'] == 3 and out['changed_count'] == 6
