"""windows_access_recovery and regain_windows_access through real ansible-playbook runs against the simulator.

The mixed fleet of test_roles.py: two Windows VMs (one marked by os_profile, one recognised from the module's
refusal the other way round) among Linux VMs and scale-set instances. Exact summary counts; the re-run and check
mode write nothing; the password is not in the -vvvv output.
"""

import json
import os
import subprocess

from ansible_runner import (
    REPO_ROOT as REPO,
    collection_playbook as _playbook,
    published_stats as _published,
    run_playbook,
)

try:
    from test_roles import RG, _changed_hosts, _check_shape, env, fleet, inventory  # noqa: F401
except ImportError:  # pragma: no cover
    from .test_roles import RG, _changed_hosts, _check_shape, env, fleet, inventory  # noqa: F401

PASSWORD = 'Zq7-Windows-Roles-4711'
INTENT = {'windows_access_recovery_username': 'azureuser', 'windows_access_recovery_password': PASSWORD}
LINUX_HOSTS = ['lin-broken', 'lin-dealloc', 'lin-fail', 'lin-no-msp', 'lin-ok', 'ss-mix_0', 'ss-mix_1']


def test_regain_windows_access_mixed_fleet(fleet, env, inventory):
    run = run_playbook(_playbook('regain_windows_access'), env, inventory=inventory, extra_vars=INTENT, args=['-vvvv'])
    summary = _published(run, 'windows_access_recovery_summary')
    _check_shape(summary)
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        2,
        0,
        7,
        0,
    ), summary
    assert sorted(summary['changed_hosts']) == ['win-broken', 'win-ok']
    assert sorted(summary['skipped_hosts']) == LINUX_HOSTS
    assert all('Linux VM: VMAccessAgent does not apply' in r for r in summary['skipped_hosts'].values())
    assert run.rc == 0 and _changed_hosts(run) == ['win-broken', 'win-ok']
    assert not run.reveals(PASSWORD) and PASSWORD not in json.dumps(run.data)
    assert PASSWORD not in json.dumps(fleet.control.requests())
    for name in ('win-ok', 'win-broken'):
        assert fleet.control.guest(fleet.vm_id(RG, name))['users']['azureuser']['password_version'] == 1

    fleet.control.reset_counters()
    again = run_playbook(_playbook('regain_windows_access'), env, inventory=inventory, extra_vars=INTENT)
    summary = _published(again, 'windows_access_recovery_summary')
    assert (summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (0, 2, 7, 0)
    assert again.rc == 0 and _changed_hosts(again) == []
    assert fleet.control.counters()['write'] == 0


def test_regain_windows_access_check_mode_writes_nothing(fleet, env, inventory):
    fleet.control.reset_counters()
    run = run_playbook(
        _playbook('regain_windows_access'),
        env,
        inventory=inventory,
        extra_vars={'windows_access_recovery_reset_rdp': True},
        check=True,
    )
    summary = _published(run, 'windows_access_recovery_summary')
    assert (summary['changed'], summary['skipped']) == (2, 7), summary
    assert fleet.control.counters()['write'] == 0


def test_argument_spec_rejects_bad_input(fleet, env, inventory):
    fleet.control.reset_counters()
    run = run_playbook(
        _playbook('regain_windows_access'),
        env,
        inventory=inventory,
        extra_vars={'windows_access_recovery_reset_rdp': 'perhaps'},
    )
    assert run.rc != 0 and 'windows_access_recovery_reset_rdp' in run.text
    assert fleet.control.counters()['write'] == 0


def test_playbook_resolves_by_fqcn(env, inventory):
    proc = subprocess.run(
        [
            os.path.join(os.path.dirname(os.sys.executable), 'ansible-playbook'),
            '--syntax-check',
            '-i',
            inventory,
            'vmrescue.azure.regain_windows_access',
        ],
        env=dict(env, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.tmp', 'collections')),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- regain_access: one intent for a mixed fleet -------------------------------------------------------------

MIXED_PASSWORD = 'Zq7-Mixed-Fleet-4711'


def test_regain_access_routes_each_host_by_os(fleet, env, inventory):
    from test_roles import KEY

    intent = {
        'regain_access_username': 'rescue',
        'regain_access_password': MIXED_PASSWORD,
        'regain_access_ssh_key': KEY,
    }
    run = run_playbook(_playbook('regain_access'), env, inventory=inventory, extra_vars=intent, args=['-vvvv'])
    summary = _published(run, 'regain_access_summary')
    _check_shape(summary)
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        8,
        0,
        1,
        0,
    ), summary
    assert sorted(summary['changed_hosts']) == sorted(
        ['lin-broken', 'lin-fail', 'lin-no-msp', 'lin-ok', 'ss-mix_0', 'ss-mix_1', 'win-broken', 'win-ok']
    )
    assert 'deallocated' in summary['skipped_hosts']['lin-dealloc']
    assert run.rc == 0
    assert not run.reveals(MIXED_PASSWORD) and MIXED_PASSWORD not in json.dumps(fleet.control.requests())
    win = fleet.control.guest(fleet.vm_id(RG, 'win-ok'))
    assert win['users']['rescue']['admin'] and win['users']['rescue']['created_by_vmaccess']
    lin = fleet.control.guest(fleet.vm_id(RG, 'lin-ok'))
    assert KEY.split()[1] in str(lin['users']['rescue'])

    fleet.control.reset_counters()
    again = run_playbook(_playbook('regain_access'), env, inventory=inventory, extra_vars=intent)
    summary = _published(again, 'regain_access_summary')
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        0,
        8,
        1,
        0,
    ), summary
    assert again.rc == 0 and fleet.control.counters()['write'] == 0


def test_regain_access_ssh_key_alone_skips_windows(fleet, env, inventory):
    from test_roles import KEY, _break_lin_fail, _failed_hosts

    _break_lin_fail(fleet)
    run = run_playbook(
        _playbook('regain_access'),
        env,
        inventory=inventory,
        extra_vars={'regain_access_username': 'rescue', 'regain_access_ssh_key': KEY},
    )
    summary = _published(run, 'regain_access_summary')
    assert (summary['checked'], summary['changed'], summary['already_fine'], summary['skipped'], summary['failed']) == (
        9,
        5,
        0,
        3,
        1,
    ), summary
    assert list(summary['failed_hosts']) == ['lin-fail']
    assert run.rc != 0 and _failed_hosts(run) == ['lin-fail']  # failed after the summary, the others not stopped
    for host in ('win-ok', 'win-broken'):
        assert 'an SSH key alone does not apply' in summary['skipped_hosts'][host]
    assert fleet.control.guest(fleet.vm_id(RG, 'win-ok'))['runs'] == 0
