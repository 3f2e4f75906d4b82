"""Fleet-scale pieces without network: the pacer (_pacing), the batch executor (_batch / _module.execute), the
adaptive confirmation (_proxy_agent.confirm + ConfirmTiming) and the private token cache directory (_auth)."""

import collections
import json
import os
import stat
import threading
import time

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils import _batch, _pacing
from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._auth import credential as _auth
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import POLL_MAX, drive
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent import key_reset as pa
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import execute
from ansible_collections.vmrescue.azure.plugins.module_utils._target import parse_resource_id
from ansible_collections.vmrescue.azure.plugins.module_utils._task import RunContext, TaskSpec

SUB = '00000000-0000-0000-0000-000000000001'
VM_PATH = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d'
URL = 'https://arm.example' + VM_PATH


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


# -- pacer -----------------------------------------------------------------------------------------------------
def test_compute_header_parsing():
    value = 'Microsoft.Compute/LowCostGet1Min;35,Microsoft.Compute/LowCostGetSubscription1Min;23999'
    assert _pacing.parse_compute_header(value) == [('LowCostGet1Min', 35), ('LowCostGetSubscription1Min', 23999)]
    assert _pacing.parse_compute_header('Microsoft.Compute/UpdateVM30Min; 7') == [('UpdateVM30Min', 7)]
    assert _pacing.parse_compute_header(None) == [] and _pacing.parse_compute_header('garbage') == []


def test_compute_policy_of_requests():
    vm = VM_PATH % (SUB, 1)
    assert _pacing.compute_policy('GET', vm) == 'LowCostGet'
    assert _pacing.compute_policy('PATCH', vm) == 'UpdateVM'
    assert (
        _pacing.compute_policy('GET', '/subscriptions/%s/providers/Microsoft.Compute/locations/x/operations/1' % SUB)
        == 'GetOperation'
    )
    assert (
        _pacing.compute_policy('GET', '/subscriptions/%s/providers/Microsoft.Compute/virtualMachines' % SUB)
        == 'HighCostGet'
    )
    assert _pacing.compute_policy('GET', '/subscriptions/%s/resourcegroups' % SUB) is None


def test_burst_then_spaced_at_the_documented_refill_rate():
    """Without any header the gateway model is the documented fallback: 200 writes at once, then 10/s."""
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    for i in range(195):
        pacer.observe(pacer.acquire('PATCH', URL % (SUB, i)), URL % (SUB, i), {})
    assert t.now == 0.0 and pacer.stats['waits'] == 0  # the burst, minus the reserve of 5
    for i in range(20):
        pacer.observe(pacer.acquire('PATCH', URL % (SUB, i)), URL % (SUB, i), {})
    # Each further write waits for the refill: 0.1 s apart (10/s).
    assert t.now == pytest.approx(2.0, abs=0.11)
    assert all(s == pytest.approx(0.1, abs=0.01) for s in t.slept)


def test_reads_and_writes_are_separate_buckets():
    t = FakeTime()
    pacer = _pacing.Pacer(clock=t.clock, sleep=t.sleep)
    for i in range(195):
        pacer.observe(pacer.acquire('PATCH', URL % (SUB, i)), URL % (SUB, i), {})
    pacer.acquire('GET', URL % (SUB, 1))
    assert t.now == 0.0


def test_remaining_header_lowers_the_model():
    """Another client drained the bucket: the header says 3 left, so the next requests are spaced at once."""
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    keys = pacer.acquire('GET', URL % (SUB, 1))
    pacer.observe(keys, URL % (SUB, 1), {'x-ms-ratelimit-remaining-subscription-reads': '3'})
    pacer.acquire('GET', URL % (SUB, 2))
    # 3 left -> 2 after this one: wait until the reserve (5) is back at 25/s: 3 tokens = 0.12 s.
    assert t.now == pytest.approx(0.12, abs=0.01)


def test_remaining_header_raises_the_model_when_nothing_is_in_flight():
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    keys = pacer.acquire('GET', URL % (SUB, 1))
    pacer.observe(keys, URL % (SUB, 1), {'x-ms-ratelimit-remaining-subscription-reads': '0'})  # e.g. a 429
    t.now += 100  # refilled
    keys = pacer.acquire('GET', URL % (SUB, 1))
    assert t.slept == []
    pacer.observe(keys, URL % (SUB, 1), {'x-ms-ratelimit-remaining-subscription-reads': '249'})
    bucket = pacer._buckets[('gw', SUB, 'read')]  # pylint: disable=protected-access
    assert bucket.tokens == 249 and bucket.pending == 0


def test_compute_bucket_learned_from_header_paces_that_resource_only():
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    keys = pacer.acquire('PATCH', URL % (SUB, 1))
    pacer.observe(
        keys,
        URL % (SUB, 1),
        {
            'x-ms-ratelimit-remaining-resource': 'Microsoft.Compute/UpdateVM1Min;1,Microsoft.Compute/UpdateVMSubscription1Min;1400'
        },
    )
    pacer.acquire('PATCH', URL % (SUB, 2))  # another VM: its own (unknown, so unpaced) resource bucket
    assert t.now == 0.0
    pacer.acquire('PATCH', URL % (SUB, 1))  # this VM has 1 left of 12, 1 is kept: wait for the refill (4/min)
    assert t.now == pytest.approx(15.0)


def test_after_a_429_the_retry_waits_only_for_retry_after():
    """The pacer does not add its own wait to the server's Retry-After (the RetryPolicy sleeps that)."""
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    keys = pacer.acquire('PATCH', URL % (SUB, 1))
    pacer.observe(
        keys,
        URL % (SUB, 1),
        {
            'Retry-After': '5',
            'x-ms-ratelimit-remaining-subscription-writes': '150',
            'x-ms-ratelimit-remaining-resource': 'Microsoft.Compute/UpdateVM1Min;0',
        },
        status=429,
    )
    t.now += 5  # azure-core's RetryPolicy sleeps Retry-After
    pacer.acquire('PATCH', URL % (SUB, 1))
    assert t.slept == []
    # The gateway bucket, which was not empty, kept its own count: 150, refilled for 5 s at 10/s, minus the retry.
    assert pacer._buckets[('gw', SUB, 'write')].tokens == pytest.approx(199)  # pylint: disable=protected-access


def test_pacer_is_shared_by_threads():
    """Many threads draw from one model: the total spacing is the refill rate, whatever the thread count."""
    pacer = _pacing.Pacer(reserve=0)
    bucket = _pacing._Bucket(5, 200.0, time.monotonic())  # pylint: disable=protected-access
    pacer._buckets[('gw', SUB, 'read')] = bucket  # pylint: disable=protected-access
    start = time.monotonic()

    def worker():
        for _ in range(10):
            pacer.observe(pacer.acquire('GET', URL % (SUB, 1)), URL % (SUB, 1), {})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # 80 requests, 5 at once then 200/s: at least 75 / 200 = 0.375 s.
    assert time.monotonic() - start >= 0.33


# -- batch executor ----------------------------------------------------------------------------------------------
def test_run_ordered_keeps_order_isolates_failures_and_bounds_concurrency():
    lock = threading.Lock()
    state = {'now': 0, 'max': 0}

    def func(i):
        with lock:
            state['now'] += 1
            state['max'] = max(state['max'], state['now'])
        time.sleep(0.01 * (i % 3))
        with lock:
            state['now'] -= 1
        if i == 4:
            raise ValueError('boom')
        return i * 10

    out = _batch.run_ordered(func, range(20), 3)
    assert [o for o in out if not isinstance(o, Exception)] == [i * 10 for i in range(20) if i != 4]
    assert isinstance(out[4], ValueError)
    assert state['max'] <= 3


def test_run_pipelined_waiting_items_hold_no_worker():
    """Issue 11: 20 targets that each wait between two requests, 2 workers: every first step (the write) runs
    before any second step (the confirmation read), at most 2 steps at once, results in input order."""
    events, lock, flight = [], threading.Lock(), dict(now=0, max=0)

    def steps(i):
        with lock:
            flight['now'] += 1
            flight['max'] = max(flight['max'], flight['now'])
            events.append(('write', i))
            flight['now'] -= 1
        yield 0.3  # the guest relatches meanwhile: no worker is held
        with lock:
            events.append(('read', i))
        if i == 7:
            raise ValueError('broken target')
        return i * 10

    results = _batch.run_pipelined(steps, range(20), concurrency=2)
    assert [r for i, r in enumerate(results) if i != 7] == [i * 10 for i in range(20) if i != 7]
    assert isinstance(results[7], ValueError)
    kinds = [k for k, _i in events]
    assert kinds == ['write'] * 20 + ['read'] * 20, events
    assert flight['max'] <= 2


def test_run_pipelined_due_steps_go_before_new_targets():
    """A started target whose next step is due runs before a target not started yet: with the writes slower than
    the waits (a lane of 2000 VMs writes for 180 s at Azure's 10 writes/s), the confirmations must drain while the
    writes go on, not after the last write (the run took writes + reads instead of the longer of the two)."""
    events = []

    def steps(i):
        events.append(('write', i))
        time.sleep(0.02)  # a paced write
        yield 0.0  # due at once (a guest faster than the writes)
        events.append(('read', i))
        return i

    assert _batch.run_pipelined(steps, range(6), concurrency=1) == list(range(6))
    assert events == [(kind, i) for i in range(6) for kind in ('write', 'read')], events


def test_run_pipelined_runs_each_step_when_due():
    order = []

    def steps(item):
        name, wait = item
        yield wait
        order.append(name)
        return name

    assert _batch.run_pipelined(steps, [('late', 0.4), ('soon', 0.1), ('mid', 0.2)], concurrency=1) == [
        'late',
        'soon',
        'mid',
    ]
    assert order == ['soon', 'mid', 'late']


def test_run_pipelined_a_wait_ends_when_its_signal_fires():
    """Targets waiting for what another target learns (``Wait`` on a ``Signal``) are due as soon as it fires, not
    after their whole wait, and take no step meanwhile; a fire between a step's look and its yield is not lost."""
    signal = _batch.Signal()
    steps_taken = collections.Counter()
    t0 = time.monotonic()
    done_at = {}

    def steps(i):
        steps_taken[i] += 1
        if i == 0:
            yield 0.2  # the scout: learns after 0.2 s
            signal.fire()
        else:
            version = signal.version
            if i == 1:
                signal.fire()  # fired after the look, before the yield: due at once all the same
            while signal.version == version:
                yield _batch.Wait(30.0, signal, version)
                steps_taken[i] += 1
        done_at[i] = time.monotonic() - t0
        return i

    assert _batch.run_pipelined(steps, range(6), concurrency=2) == list(range(6))
    assert max(done_at.values()) < 5.0, done_at  # not the 30 s of the Wait
    assert all(steps_taken[i] <= 2 for i in range(6)), steps_taken


def test_drive_ends_a_wait_when_its_signal_fires():
    signal = _batch.Signal()

    def steps():
        yield _batch.Wait(30.0, signal, signal.version)
        return 'woken'

    threading.Timer(0.2, signal.fire).start()
    t0 = time.monotonic()
    assert drive(steps()) == 'woken'
    assert time.monotonic() - t0 < 5.0


def test_parse_targets():
    good = VM_PATH % (SUB, 1)
    parsed = _batch.parse_targets(
        [good, {'resource_group': 'rg', 'name': 'vm2'}, '/bad', None, {'vm_id': good, 'x': 1}, 7]
    )
    assert parsed[0][0].id == good and parsed[0][1] is None
    assert parsed[1][0].name == 'vm2' and parsed[1][0].subscription_id is None
    assert parsed[2][0] is None and parsed[2][1].startswith('targets[2]: ')
    assert 'no target' in parsed[3][1]
    assert 'unknown key(s) x' in parsed[4][1]
    assert 'expected a resource ID or a dict' in parsed[5][1]


class _Client:
    subscription_id = SUB


def _spec(run):
    return TaskSpec({'mode': dict(type='str')}, run)


def test_execute_batch_results_in_input_order_with_failures_isolated():
    def run(ctx):
        target = ctx.target
        if target.name == 'vm2':
            raise ArmError('nope', status=403, code='AuthorizationFailed', resource_id=target.id)
        if target.name == 'vm3':
            raise TaskError('it broke', extra=1)
        if target.name == 'vm4':
            raise RuntimeError('a bug')
        return dict(changed=target.name == 'vm1', id=target.id, value=target.name)

    ids = [VM_PATH % (SUB, i) for i in range(6)]
    params = {'targets': ids[:5] + ['/bad'] + [{'resource_group': 'rg', 'name': 'vm5'}], 'concurrency': 3}
    out = execute(_spec(run), params, client=_Client())
    assert out['changed'] is True and not out.get('failed')
    res = out['results']
    assert [r['id'] for r in res] == ids[:5] + ['/bad', ids[5]]
    assert [r['changed'] for r in res] == [False, True, False, False, False, False, False]
    assert [r['failed'] for r in res] == [False, False, True, True, True, True, False]
    assert res[2]['arm_error']['code'] == 'AuthorizationFailed' and 'nope' in res[2]['msg']
    assert res[3]['msg'] == 'it broke' and res[3]['extra'] == 1
    assert 'internal error: RuntimeError' in res[4]['msg']
    assert res[0]['msg'] == '' and res[0]['value'] == 'vm0'
    assert (out['total'], out['changed_count'], out['failed_count']) == (7, 1, 4)


def test_execute_batch_fails_only_when_no_target_is_valid():
    out = execute(_spec(lambda *a, **k: {}), {'targets': ['/bad', None], 'concurrency': 2}, client=_Client())
    assert out['failed'] and out['msg'].startswith('no valid target: targets[0]')
    out = execute(_spec(lambda *a, **k: {}), {'targets': [], 'concurrency': 2}, client=_Client())
    assert not out.get('failed') and out['results'] == [] and out['changed'] is False


def test_single_target_is_a_batch_of_one():
    seen = []

    def run(ctx):
        seen.append(ctx.shared)
        return dict(changed=True, id=ctx.target.id)

    spec = TaskSpec({}, run, shared=dict)
    out = execute(spec, {'vm_id': VM_PATH % (SUB, 1)}, client=_Client())
    audit = out.pop('audit')  # every target's result says what the run report keeps of it
    assert out == {'changed': True, 'id': VM_PATH % (SUB, 1)}  # the single-target result shape is unchanged
    assert audit['requests'] == [] and audit['before'] is None and audit['started'].endswith('Z'), audit
    execute(spec, {'targets': [VM_PATH % (SUB, i) for i in range(4)], 'concurrency': 4}, client=_Client())
    assert len(seen) == 5 and all(s is seen[1] for s in seen[1:])  # one shared state per batch


def test_batch_options_are_mutually_exclusive_with_single_target_options():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = pa.task_spec()
    v = ArgumentSpecValidator(spec.full_argument_spec(), **spec.constraints())
    res = v.validate({'targets': [VM_PATH % (SUB, 1)], 'vm_id': VM_PATH % (SUB, 1), 'state': 'reset'})
    assert any('targets' in m and 'vm_id' in m for m in res.error_messages)
    res = v.validate({'targets': [VM_PATH % (SUB, 1)], 'state': 'reset'})
    assert not res.error_messages and res.validated_parameters['concurrency'] == _batch.DEFAULT_CONCURRENCY


# -- adaptive confirmation ---------------------------------------------------------------------------------------
READY = 'Found key details from local and ready to use. - 1'


def _model(key, latched, guid, prov='Succeeded', failed_status=None):
    states = {
        'secureChannelState': 'WireServer Enforce -  IMDS Enforce - HostGA Enforce',
        'keyGuid': guid,
        'keyIncarnationId': str(latched),
    }
    msg = json.dumps({'version': '1.0.47', 'keyLatchStatus': {'status': 'RUNNING', 'message': READY, 'states': states}})
    statuses = [{'code': 'PowerState/running'}]
    if failed_status:
        statuses.insert(0, failed_status)
    view = {
        'statuses': statuses,
        'extensions': [
            {
                'name': 'AzureProxyAgentExtension',
                'type': 'Microsoft.CPlat.ProxyAgent.ProxyAgentLinux',
                'substatuses': [{'code': 'ComponentStatus/ProxyAgentStatus/succeeded', 'message': msg}],
            }
        ],
    }
    return {
        'properties': {
            'provisioningState': prov,
            'instanceView': view,
            'securityProfile': {'proxyAgentSettings': {'enabled': True, 'keyIncarnationId': key}},
        }
    }


class LatchClient:
    """A VM whose guest shows a written key ``latency`` seconds (fake clock) after the write was accepted."""

    subscription_id = SUB

    def __init__(self, t, latency, key=1, fail=False):
        self.t = t
        self.latency = latency
        self.key = key
        self.latched = key
        self.written_at = None
        self.fail = fail
        self.reads = self.writes = 0

    def get_with_etag(self, path, params=None, **kw):
        self.reads += 1
        assert params == {'$expand': 'instanceView'}  # never the LRO status, never a bare GET
        if self.written_at is not None and self.t.now - self.written_at >= self.latency:
            if self.fail:
                return _model(
                    self.key,
                    self.latched,
                    'g-old',
                    prov='Failed',
                    failed_status={
                        'code': 'ProvisioningState/failed/InternalOperationError',
                        'message': 'the host said no',
                    },
                ), '"2"'
            self.latched = self.key
        guid = 'g-%d' % self.latched
        return _model(self.key, self.latched, guid, prov='Updating' if self.latched != self.key else 'Succeeded'), '"1"'

    def patch(self, path, body, lro=True, **kw):
        assert lro is False  # wait: true confirms through the instance view, not the LRO
        self.writes += 1
        self.key = body['properties']['securityProfile']['proxyAgentSettings']['keyIncarnationId']
        self.written_at = self.t.now
        return None


def _reset(client, t, timing, timeout=600):
    target = parse_resource_id(VM_PATH % (SUB, 1))
    params = dict(state='reset', key_incarnation_id=None, force=False, wait=True, wait_timeout=timeout)
    ctx = RunContext(client=client, target=target, params=params, shared=timing)
    return pa.run(ctx, sleep=t.sleep, clock=t.clock)


def test_confirm_first_read_after_the_expected_delay_costs_two_reads():
    t = FakeTime()
    timing = pa.ConfirmTiming(initial=2.0)
    c = LatchClient(t, latency=1.5)
    r = _reset(c, t, timing)
    assert r['confirmed'] and r['changed'] and (c.reads, c.writes) == (2, 1)
    assert t.slept == [2.0]


def test_confirm_learns_the_latency_of_the_batch():
    """Latency 5 s, initial guess 2 s: the first target backs off (more reads), later ones need 2 reads."""
    t = FakeTime()
    timing = pa.ConfirmTiming(initial=2.0)
    first = LatchClient(t, latency=5.0)
    assert _reset(first, t, timing)['confirmed']
    assert first.reads > 2
    reads = []
    for _ in range(10):
        c = LatchClient(t, latency=5.0)
        assert _reset(c, t, timing)['confirmed']
        reads.append(c.reads)
    assert sum(reads) / len(reads) <= 2.3, (reads, sorted(timing._seen))  # pylint: disable=protected-access
    assert 4.5 <= timing.expected() <= 8.0


class StaleOnceClient(LatchClient):
    """LatchClient whose instance view answers the agent status from before the write once after each write
    (Azure's status lags the model); every status carries the time it was made."""

    def __init__(self, t, latency, **kw):
        super().__init__(t, latency, **kw)
        self.last_view = None
        self.stale_left = 0

    def get_with_etag(self, path, params=None, **kw):
        model, etag = super().get_with_etag(path, params=params, **kw)
        if self.stale_left:
            self.stale_left -= 1
            model['properties']['instanceView'] = json.loads(json.dumps(self.last_view))
            return model, etag
        ext = model['properties']['instanceView']['extensions'][0]
        ext['statuses'] = [{'code': 'ProvisioningState/succeeded', 'time': 'T%.3f' % self.t.now}]
        self.last_view = json.loads(json.dumps(model['properties']['instanceView']))
        return model, etag

    def patch(self, path, body, lro=True, **kw):
        out = super().patch(path, body, lro=lro, **kw)
        self.stale_left = 1
        return out


@pytest.mark.parametrize('latency', [2.0, 10.0, 40.0])
def test_stale_status_once_after_each_write_keeps_the_learned_delay_bounded(latency):
    """Issue 11: with one stale status after each write, every first read missed and was recorded as a miss, so
    the learned first-read delay grew by its own back-off from target to target (without bound). A stale read is
    a miss of its own kind: the delay stays near the latency and a target costs 1 pre-read + 2 confirm reads."""
    t = FakeTime()
    timing = pa.ConfirmTiming(initial=2.0)
    reads = []
    for _ in range(40):
        c = StaleOnceClient(t, latency=latency)
        assert _reset(c, t, timing)['confirmed']
        reads.append(c.reads - 1)  # confirm reads (the first read is the pre-read)
    assert timing.expected() <= latency * 1.3 + 1, sorted(timing._seen)  # pylint: disable=protected-access
    settled = reads[10:]
    assert sum(settled) / len(settled) <= 2.3, reads
    assert max(settled) <= 3, reads


def test_a_miss_does_not_lengthen_the_next_first_read_by_its_back_off():
    timing = pa.ConfirmTiming(initial=2.0)
    timing.observe(9.0, first_read=False, missed_at=5.0)  # missed at 5 s, seen at 9 s after a 4 s back-off
    assert sorted(timing._seen) == [7.0]  # pylint: disable=protected-access
    timing.observe(3.0, first_read=True)
    assert sorted(timing._seen) == pytest.approx([2.97, 7.0])  # pylint: disable=protected-access


def test_confirm_backs_off_and_times_out_with_the_last_status():
    t = FakeTime()
    c = LatchClient(t, latency=10**6)
    with pytest.raises(TaskError) as exc:
        _reset(c, t, pa.ConfirmTiming(initial=2.0), timeout=120)
    assert 'did not report it within 120s' in exc.value.msg
    # Gaps grow to POLL_MAX: far fewer reads than one every 2 s.
    assert c.reads <= 14  # a fixed 2 s poll would have read 60 times
    assert max(t.slept) <= POLL_MAX and t.now == pytest.approx(120)


def test_failed_provisioning_fails_the_target_with_the_arm_error():
    t = FakeTime()
    c = LatchClient(t, latency=1.0, fail=True)
    with pytest.raises(TaskError) as exc:
        _reset(c, t, pa.ConfirmTiming(initial=2.0))
    assert 'InternalOperationError' in exc.value.msg and 'the host said no' in exc.value.msg
    assert exc.value.result['changed'] is True and exc.value.result['arm_error']['code'] == 'InternalOperationError'


def test_confirm_timing_quantile_and_probe_down():
    timing = pa.ConfirmTiming(initial=2.0, window=5)
    assert timing.expected() == 2.0
    for s in (4.0, 6.0, 5.0, 5.0):
        timing.observe(s, first_read=False)
    assert timing.expected() == 6.0  # the 0.8 quantile of 4, 5, 5, 6
    timing.observe(4.0, first_read=False)
    timing.observe(5.0, first_read=True)  # seen on the first read: the latency is at most 5 -> record 4.95
    # The window keeps the last 5: 5, 5, 4, 4.75 and... the 4.0 first seen dropped out.
    assert sorted(timing._seen) == [4.0, 4.95, 5.0, 5.0, 6.0]  # pylint: disable=protected-access
    assert timing.expected() == 6.0


# -- shared token cache ------------------------------------------------------------------------------------------
def test_token_cache_directory_and_file_are_private(monkeypatch, tmp_path):
    """The directory is 0700 (tightened if looser) and msal-extensions' file cache is 0600."""
    monkeypatch.setenv('HOME', str(tmp_path))
    os.umask(0o022)
    os.makedirs(str(tmp_path / '.IdentityService'), mode=0o755)
    os.chmod(str(tmp_path / '.IdentityService'), 0o755)
    loose = tmp_path / '.IdentityService' / 'vmrescue.azure.0123456789abcdef.nocae'
    loose.write_text('{}')
    os.chmod(str(loose), 0o644)
    path = _auth.private_cache_dir()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(loose)).st_mode) == 0o600

    # What azure-identity does with our options when no keyring is usable: a FilePersistence in that directory.
    from azure.identity import TokenCachePersistenceOptions
    from azure.identity._persistent_cache import _load_persistent_cache  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr('msal_extensions.LibsecretPersistence', _no_keyring, raising=False)
    cache = _load_persistent_cache(
        TokenCachePersistenceOptions(name='vmrescue.azure.fedcba9876543210', allow_unencrypted_storage=True)
    )
    cache.add(
        {
            'client_id': 'c',
            'scope': ['s'],
            'token_endpoint': 'https://login.example/t/oauth2/v2.0/token',
            'response': {'access_token': 'secret-token', 'expires_in': 3600, 'token_type': 'Bearer'},
        }
    )
    written = tmp_path / '.IdentityService' / 'vmrescue.azure.fedcba9876543210.nocae'
    assert 'secret-token' in written.read_text()
    assert stat.S_IMODE(os.stat(str(written)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def _no_keyring(*args, **kwargs):
    raise ImportError('no libsecret here')


def test_token_cache_refused_for_a_foreign_directory(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    os.symlink(str(tmp_path / 'elsewhere'), str(tmp_path / '.IdentityService'))
    os.makedirs(str(tmp_path / 'elsewhere'))
    assert _auth.private_cache_dir() is None


def test_token_cache_opt_out_and_partitioned_per_secret(monkeypatch, tmp_path):
    import azure.identity

    monkeypatch.setenv('HOME', str(tmp_path))
    captured = []
    monkeypatch.setattr(azure.identity, 'ClientSecretCredential', lambda *a, **kw: captured.append(kw) or object())
    env = {'AZURE_CLIENT_ID': '11111111-1111-4111-8111-111111111111', 'AZURE_SECRET': 's1', 'AZURE_TENANT': 't'}
    _auth.resolve_auth({}, env=env)
    _auth.resolve_auth({}, env=dict(env, AZURE_SECRET='s2'))
    _auth.resolve_auth({}, env=dict(env, VMRESCUE_AZURE_TOKEN_CACHE='false'))
    _auth.resolve_auth({'token_cache': False}, env=env)
    names = [kw['cache_persistence_options'].name for kw in captured[:2]]
    assert names[0] != names[1] and all(n.startswith('vmrescue.azure.') for n in names)
    assert 's1' not in names[0]
    assert 'cache_persistence_options' not in captured[2] and 'cache_persistence_options' not in captured[3]


def test_pipelined_batch_with_nothing_learned_yet_reads_about_twice_per_target():
    """All targets of a pipelined batch start before any is confirmed: only the scouts read (back-off) until one
    is confirmed; the others then read at the learned delay. A 90 s latency with one stale status after each
    write costs 2-3 confirmation reads per target, not ~12."""
    import heapq

    from ansible_collections.vmrescue.azure.plugins.module_utils import _confirm

    now = [0.0]
    timing = _confirm.ConfirmTiming(initial=2.0)
    reads = [0] * 100
    first_read_after = [None] * 100
    latency = 90.0

    def probe_for(i, written_at):
        def probe():
            reads[i] += 1
            if reads[i] == 1:
                first_read_after[i] = now[0] - written_at
                return _confirm.STALE, None
            return now[0] - written_at >= latency, None

        return probe

    heap = []
    gens = {}
    for i in range(100):
        written_at = i * 0.1  # paced writes
        gens[i] = _confirm.wait_steps(probe_for(i, written_at), 600, timing=timing, clock=lambda: now[0])
        heapq.heappush(heap, (written_at, i))
    done = {}
    pushes = [0] * 100  # as _batch.run_pipelined: a Wait is also due when its signal fires

    def park(i, when):
        pushes[i] += 1
        heapq.heappush(heap, (when, i, pushes[i]))

    heap = [(when, i, 0) for when, i in heap]
    while heap:
        when, i, push = heapq.heappop(heap)
        if push != pushes[i]:
            continue
        now[0] = max(now[0], when)
        try:
            delay = next(gens[i])
        except StopIteration as stop:
            done[i] = stop.value[0]
            continue
        park(i, now[0] + delay)
        if getattr(delay, 'signal', None) is not None:
            push = pushes[i]
            if not delay.signal.listen(delay.version, lambda i=i, push=push: pushes[i] == push and park(i, now[0])):
                park(i, now[0])
    assert all(done.values()) and len(done) == 100
    # the scouts back off alone (~11 reads); the others read 2 or 3 times (the first learned delay is the middle of
    # the scout's last miss and its hit, a little under the latency for about half of them)
    assert sum(reads) / 100.0 <= 3.0, reads
    assert max(reads[_confirm.SCOUTS :]) <= 3, reads
    # every target spent its stale read soon after its write, not all at once when the scouts learned the delay
    # (at 90 s): the reads stay spread at the pace of the writes
    assert max(first_read_after[_confirm.SCOUTS :]) <= _confirm.STALE_PROBE + 2.0, first_read_after


# -- per-subscription pacing (issue 11: fleets span subscriptions) ----------------------------------------------
SUB_B = '00000000-0000-0000-0000-000000000002'


def test_a_throttled_subscription_does_not_pace_another():
    """ARM throttles per principal per subscription: a 429 or a low remaining-reads header in subscription A
    slows A's requests only."""
    t = FakeTime()
    pacer = _pacing.Pacer(reserve=5, clock=t.clock, sleep=t.sleep)
    keys = pacer.acquire('GET', URL % (SUB, 1))
    pacer.observe(
        keys, URL % (SUB, 1), {'Retry-After': '10', 'x-ms-ratelimit-remaining-subscription-reads': '0'}, status=429
    )
    keys = pacer.acquire('GET', URL % (SUB, 2))
    pacer.observe(keys, URL % (SUB, 2), {'x-ms-ratelimit-remaining-subscription-reads': '1'})
    for i in range(100):  # subscription B: its own full buckets, no wait
        pacer.observe(
            pacer.acquire('GET', URL % (SUB_B, i)),
            URL % (SUB_B, i),
            {'x-ms-ratelimit-remaining-subscription-reads': str(249 - i)},
        )
    assert t.slept[:1] and t.now == sum(t.slept)  # A's second read waited (for the retry's slot)
    waited_by_a = t.now
    pacer.acquire('GET', URL % (SUB_B, 100))
    assert t.now == waited_by_a  # B never waited
    pacer.acquire('GET', URL % (SUB, 3))
    assert t.now > waited_by_a  # A still does: its bucket is low


def test_run_pipelined_lanes_a_blocked_subscription_does_not_hold_the_others():
    """Steps of subscription A block (sleeping for their pacer or a Retry-After) on every worker A may use;
    subscription B's targets still run to the end meanwhile."""
    release = threading.Event()
    b_done = []

    def steps(item):
        sub, i = item
        if sub == 'a':
            assert release.wait(10), 'subscription A was never released'
            yield 0
            return ('a', i)
        yield 0.01
        b_done.append(i)
        if len(b_done) == 10:
            release.set()  # only after every target of B finished while A's workers were all blocked
        return ('b', i)

    items = [('a', i) for i in range(4)] + [('b', i) for i in range(10)]
    results = _batch.run_pipelined(steps, items, concurrency=2, lane=lambda item: item[0])
    assert results == [('a', i) for i in range(4)] + [('b', i) for i in range(10)]
    assert sorted(b_done) == list(range(10))


def test_run_pipelined_lane_bounds_steps_in_flight_per_lane():
    lock, flight = threading.Lock(), {'a': [0, 0], 'b': [0, 0]}

    def steps(item):
        sub, _i = item
        with lock:
            flight[sub][0] += 1
            flight[sub][1] = max(flight[sub][1], flight[sub][0])
        time.sleep(0.02)
        with lock:
            flight[sub][0] -= 1
        yield 0
        return sub

    items = [(s, i) for i in range(12) for s in 'ab']
    assert _batch.run_pipelined(steps, items, concurrency=3, lane=lambda item: item[0]) == [s for s, _i in items]
    assert flight['a'][1] <= 3 and flight['b'][1] <= 3


def test_batch_of_only_pending_resets_says_so():
    results = [
        dict(id='a', changed=False, failed=False, msg='', pending_since='2026-12-04T11:50:00Z'),
        dict(id='b', changed=False, failed=False, msg='', pending_since='2026-12-04T11:49:00Z'),
    ]
    out = _batch.summarize(results, message=pa.batch_summary)
    assert out['msg'] == (
        'all 2 target(s) have a key reset pending since 2026-12-04T11:49:00Z; nothing to write '
        '(the guests latch on their own); state=reset to force a new reset'
    )
    results.append(dict(id='c', changed=False, failed=False, msg=''))
    assert _batch.summarize(results, message=pa.batch_summary)['msg'] == '3 target(s): 0 changed, 0 failed'


def test_until_warm_the_expected_delay_is_the_latest_confirmation_time():
    """The targets that waited for the scouts all read at the first learned delay: during the warm-up it is the
    scout's confirmation time (an upper bound), not the middle of its last back-off gap (possibly under the
    latency, which made most of them read once too early)."""
    from ansible_collections.vmrescue.azure.plugins.module_utils import _confirm

    timing = _confirm.ConfirmTiming(initial=2.0)
    timing.observe(108.0, first_read=False, missed_at=93.0)  # a scout: missed at 93 s, confirmed at 108 s
    assert timing.expected() == 108.0  # not the midpoint 100.5
    for _ in range(_confirm.WARMUP):
        timing.observe(106.0, first_read=True)
    assert timing.expected() < 108.0  # warm: the running quantile, probing downwards


def test_a_read_planned_before_the_learned_delay_rose_waits_for_the_new_one():
    """A target plans its read up to a relatch (~100 s) ahead; when other targets' misses raised the learned delay
    meanwhile, it reads at the new delay instead of missing too (a fourth read for one VM in five at 5000 VMs)."""
    from ansible_collections.vmrescue.azure.plugins.module_utils import _confirm

    timing = _confirm.ConfirmTiming(initial=2.0)
    for _ in range(15):
        timing.observe(10.0, first_read=False)
    now, reads = [0.0], []

    def probe():
        reads.append(now[0])
        return now[0] >= 18, None

    gen = _confirm.wait_steps(probe, 100, timing=timing, clock=lambda: now[0])
    delay = next(gen)
    assert delay == pytest.approx(10.0)
    for _ in range(15):  # meanwhile, other targets missed at 10 s and were confirmed later
        timing.observe(20.0, first_read=False)
    now[0] += delay
    again = gen.send(None)
    assert reads == [] and again == pytest.approx(10.0)
    now[0] += again
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert reads == [20.0] and stop.value.value[0] is True
    # confirmed on its first read, planned at 20 s: recorded as 0.99 x 20, not pulled up by a late read
    assert max(timing._seen) == pytest.approx(20.0)  # pylint: disable=protected-access
