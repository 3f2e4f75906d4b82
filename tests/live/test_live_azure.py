"""Live Azure tier: runs only when real credentials are given, skips cleanly otherwise.

Set VMRESCUE_LIVE_VM_ID (a VM with the Guest Proxy Agent enabled that you may reset) plus the usual
AZURE_SUBSCRIPTION_ID / AZURE_CLIENT_ID / AZURE_SECRET / AZURE_TENANT (or an Azure CLI login with
VMRESCUE_LIVE_AUTH_SOURCE=cli). Nothing here touches a VM that is not named explicitly.
"""

import os
import subprocess
import sys

import pytest

LIVE_VM = os.environ.get('VMRESCUE_LIVE_VM_ID')

pytestmark = pytest.mark.skipif(
    not LIVE_VM, reason='live Azure tier: set VMRESCUE_LIVE_VM_ID and Azure credentials to run'
)


def _ansible(*args):
    env = dict(os.environ)
    cmd = [
        os.path.join(os.path.dirname(sys.executable), 'ansible'),
        'localhost',
        '-c',
        'local',
        '-e',
        'ansible_python_interpreter=%s' % sys.executable,
        '-o',
    ] + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def test_live_read_key_latch_status():
    auth = os.environ.get('VMRESCUE_LIVE_AUTH_SOURCE', 'auto')
    res = _ansible(
        '-m',
        'ansible.builtin.debug',
        '-a',
        "msg={{ lookup('vmrescue.azure.key_latch_status', '%s', auth_source='%s', on_missing='warn') }}"
        % (LIVE_VM, auth),
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_live_healthy_is_idempotent():
    auth = os.environ.get('VMRESCUE_LIVE_AUTH_SOURCE', 'auto')
    args = 'vm_id=%s state=healthy auth_source=%s' % (LIVE_VM, auth)
    first = _ansible('-m', 'vmrescue.azure.proxy_agent_key_reset', '-a', args)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _ansible('-m', 'vmrescue.azure.proxy_agent_key_reset', '-a', args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert '| SUCCESS' in second.stdout and '"changed": false' in second.stdout, second.stdout
