#!/usr/bin/env python
"""The controller's CPU per VM of a key reset batch, without Ansible (issue 25): one in-process batch
(``_runner.execute`` of ``proxy_agent_key_reset``) against the simulator in its own process, so what is timed is the
collection's batch alone (its HTTP transport, azure-core's pipeline, the pacer, the key reset's own logic).

    .venv/bin/python bench/http_cpu.py [--vms 1000] [--subscriptions 10] [--shares 1] [--transport both]

``--transport requests`` sends every request through azure-core's RequestsTransport on the collection's requests
session (the transport before ``_http_transport``), ``direct`` through ``_http_transport`` (the default), ``both``
runs one after the other on fresh simulators. Latencies: the simulator's short ones (``lro_seconds`` 0.2,
``relatch_seconds`` 0.5): this measures CPU, not Azure's pace; throttling is on (the pacer does its usual work);
``--latencies azure`` uses run.py's "real" profile (the batch's wall against its floor without Ansible).
Prints wall, CPU (the process and its children: the batch's shares), CPU per VM, reads and writes.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(REPO, 'tests'), os.path.join(REPO, '.tmp', 'collections')]

import yaml  # noqa: E402
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

from ansible_collections.vmrescue.azure.plugins.module_utils import _arm_client, _runner  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._http_session import env_once_session  # noqa: E402
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.key_reset import task_spec  # noqa: E402

from armsim.harness import Simulator  # noqa: E402

LATENCIES = {
    'short': {'lro_seconds': 0.2, 'lro_retry_after': 1, 'relatch_seconds': 0.5, 'throttle': True},
    # run.py's "real" profile (azure-facts.md section 6)
    'azure': {
        'lro_seconds': 15.0,
        'relatch_seconds': 90.0,
        'lro_retry_after': 10,
        'stale_status_reads': 1,
        'throttle': True,
    },
}


def _requests_transport(pool_size, transport_kwargs):
    from azure.core.pipeline.transport import RequestsTransport

    return RequestsTransport(session=env_once_session(pool_size), session_owner=True, **transport_kwargs)


def run(kind, vms, subscriptions, shares, latencies):
    with open(os.path.join(REPO, 'tests', 'armsim', 'fleets', 'test.yaml')) as fh:
        base = yaml.safe_load(fh)
    fleet = {k: base[k] for k in ('tenant_id', 'subscription_id', 'principals')}
    fleet['generate'] = {'count': vms, 'subscriptions': subscriptions, 'resource_group': 'rg-cpu', 'prefix': 'cpu'}
    real = _arm_client._pooled_transport
    if kind == 'requests':
        _arm_client._pooled_transport = _requests_transport
    _runner.share_count = lambda: shares
    try:
        with Simulator.start(fleet=fleet, config=LATENCIES[latencies]) as sim, tempfile.TemporaryDirectory() as home:
            os.environ.update(sim.env())
            os.environ['HOME'] = home  # a token cache of its own
            spec = task_spec()
            params = dict(targets=sim.control.vms(), state='reset', key_incarnation_id=2, wait=True)
            valid = ArgumentSpecValidator(spec.full_argument_spec()).validate(params)
            t0, w0 = os.times(), time.time()
            out = _runner.execute(spec, valid.validated_parameters)
            t1, w1 = os.times(), time.time()
            counters = sim.control.counters()
    finally:
        _arm_client._pooled_transport = real
    cpu = sum(getattr(t1, f) - getattr(t0, f) for f in ('user', 'system', 'children_user', 'children_system'))
    print(
        '%-8s %d VMs / %d subscriptions / %d shares / %s latencies: wall %.1f s, CPU %.1f s = %.2f ms per VM, changed %d, '
        'failed %d, reads %d, writes %d, 429s %d, max RSS %d MB'
        % (
            kind,
            vms,
            subscriptions,
            shares,
            latencies,
            w1 - w0,
            cpu,
            cpu * 1000 / vms,
            out['changed_count'],
            out['failed_count'],
            counters['read'],
            counters['write'],
            counters['throttled'],
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        ),
        flush=True,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--vms', type=int, default=1000)
    p.add_argument('--subscriptions', type=int, default=10)
    p.add_argument('--shares', type=int, default=1, help='processes of the batch (1: all in this one)')
    p.add_argument('--transport', choices=['direct', 'requests', 'both'], default='direct')
    p.add_argument('--latencies', choices=sorted(LATENCIES), default='short', help="azure: run.py's real profile")
    args = p.parse_args()
    kinds = ['requests', 'direct'] if args.transport == 'both' else [args.transport]
    for kind in kinds:
        run(kind, args.vms, args.subscriptions, args.shares, args.latencies)


if __name__ == '__main__':
    main()
