# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ARM reads of the Guest Proxy Agent's status (private: may change without notice).

The VM view, its write path and its 404 messages live in ``_vm``; what a status means lives in ``status``.

Public names:

- ``read_key_latch_status(client, target) -> dict``: for the lookup: ``{'id', 'key_latch_status', 'missing',
  'power_state'}`` (+ ``reason`` when missing).
- ``agent_status_steps(client, target, before, accept, wait_timeout, on_failed, on_stopped, clock=...,
  timing=None)``: read the instance view until the agent's status is accepted, the confirmation probe shared by
  the key reset and the endpoint-mode switch.
"""

from __future__ import annotations

import time

from ansible_collections.vmrescue.azure.plugins.module_utils import _vm
from ansible_collections.vmrescue.azure.plugins.module_utils._confirm import STALE, wait_steps
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.status import parse_agent_status


def read_key_latch_status(client, target):
    """For the lookup: {'id', 'key_latch_status' (dict or None), 'missing' (None or why), 'power_state'}, and
    ``reason`` (one line) when missing.

    One instance-view read per target; the model is read only when the agent's status is absent, to tell
    'proxy agent not enabled' from 'no status reported'.
    """
    view = _vm.read_instance_view(client, target)
    agent = parse_agent_status(view)
    power = _vm.power_state(view)
    out = dict(id=target.id, key_latch_status=agent['key_latch_status'], missing=None, power_state=power)
    if agent['key_latch_status'] is not None and not agent['stale']:
        return out
    if power and power != 'running':
        out['missing'] = 'deallocated' if power == 'deallocated' else 'not running'
        out['reason'] = 'the VM is %s: no fresh agent status' % power
    elif not agent['present']:
        if not _vm.read_view(client, target).settings.get('enabled'):
            out['missing'] = 'disabled'
            out['reason'] = 'the Guest Proxy Agent is not enabled on this VM'
        else:
            out['missing'] = 'no status'
            out['reason'] = 'the proxy agent is enabled but has not reported a status'
    elif agent['stale'] or not agent['json']:
        out['missing'] = 'stale'
        out['reason'] = 'the agent status is stale (not JSON): %s' % str(agent['raw_message'] or '')[:200]
        out['key_latch_status'] = None
    else:
        out['missing'] = 'no keyLatchStatus'
        out['reason'] = 'the agent status has no keyLatchStatus'
    return out


def agent_status_steps(
    client, target, before, accept, wait_timeout, on_failed, on_stopped, clock=time.monotonic, timing=None
):
    """Read ``GET vm?$expand=instanceView`` until ``accept(agent)`` holds for the guest proxy agent's parsed status:
    the probe of ``_confirm.wait_steps`` shared by the key reset and the endpoint-mode switch (``endpoint_modes``).

    One read carries both the model's provisioningState (``Failed``: raises ``on_failed(view)``) and the agent's
    status; a VM that is not running raises ``on_stopped(power)``; a read that still shows ``before``'s status (same
    status time and keyLatchStatus: the instance view lags the model) is ``STALE``. ``accept`` is only asked about
    a status the agent reported as JSON. A step generator returning (confirmed, last agent status, power state).
    """
    seen = dict(agent=before, power=None)

    def probe():
        view = _vm.read_view(client, target, instance_view=True)
        if str(view.provisioning_state or '').lower() == 'failed':
            raise on_failed(view)
        agent, power = parse_agent_status(view.instance_view), view.power
        seen.update(agent=agent, power=power)
        if power and power != 'running':
            raise on_stopped(power)
        if agent.get('json') and accept(agent):
            return True, None
        if (
            before
            and agent.get('time')
            and agent.get('time') == before.get('time')
            and agent.get('key_latch_status') == before.get('key_latch_status')
        ):
            return STALE, None  # the status from before the write (the instance view lags the model)
        return False, None

    confirmed = (yield from wait_steps(probe, wait_timeout, timing=timing, clock=clock))[0]
    return confirmed, seen['agent'], seen['power']
