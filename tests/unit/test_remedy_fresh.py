# SPDX-License-Identifier: GPL-3.0-or-later
"""vm_remedy's "back" decision after a rung: a Ready VM agent counts only with a status time after the moment the
rung's POST was sent (no skew allowed); a stale Ready (time from before), a status without a time or with an
unreadable one is not back, and the message says why."""

import datetime
from types import SimpleNamespace

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._remedy import engine

SENT = datetime.datetime(2026, 12, 7, 12, 0, 0, 500000, tzinfo=datetime.UTC)


def view(time='2026-12-07T12:00:05.1234567+00:00', status='Ready', power='running', provisioning='Succeeded'):
    entry = {'code': 'ProvisioningState/succeeded', 'displayStatus': status, 'message': 'Guest Agent is running'}
    if time is not None:
        entry['time'] = time
    return SimpleNamespace(power=power, provisioning_state=provisioning,
                           instance_view={'vmAgent': {'statuses': [entry]}})  # fmt: skip


def test_a_status_reported_after_the_post_is_back():
    assert engine._back(view(), SENT) is True
    assert engine._back(view('2026-12-07T12:00:00.5000010Z'), SENT) is True  # 7 digits, Z: 1 µs after


@pytest.mark.parametrize(
    'time',
    [
        '2026-12-07T11:59:30.0000000+00:00',  # from before the rung
        '2026-12-07T12:00:00.5000000+00:00',  # the very moment: not after it
        '2026-12-07T12:00:00.5000009+00:00',  # past the microsecond: dropped, so not after (the safe side)
        '2026-12-07T13:00:00.4000000+01:00',  # an offset: 12:00:00.4 UTC
    ],
)
def test_a_stale_ready_is_not_back(time):
    assert engine._back(view(time), SENT) is False
    why = engine._stale(engine._vm.agent_status(view(time).instance_view), SENT)
    assert 'not after the rung was sent' in why and time in why


@pytest.mark.parametrize('time, words', [(None, 'has no time'), ('', 'has no time'), ('yesterday', 'cannot be read')])
def test_a_status_without_a_readable_time_is_not_back(time, words):
    assert engine._back(view(time), SENT) is False
    assert words in engine._stale(engine._vm.agent_status(view(time).instance_view), SENT)


def test_fresh_is_not_enough_when_the_vm_is_otherwise_not_back():
    assert engine._back(view(status='Not Ready'), SENT) is False
    assert engine._back(view(provisioning='Failed'), SENT) is False
    assert engine._back(view(power='stopped'), SENT) is False


def test_without_a_rung_sent_ready_is_back_now():
    # held / check mode / not running: whether it is back now, no rung of this run to compare with
    assert engine._back(view('2020-01-01T00:00:00+00:00')) is True
