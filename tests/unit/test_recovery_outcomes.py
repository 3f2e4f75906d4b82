"""The recovery_outcomes filter: each host's outcome from a batch task's results, computed once per batch."""

from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import recovery_outcomes

KEY = 'proxy_agent_key_recovery'
LINUX = 'linux_access_recovery'


def _status(out):
    return dict((h, (e['outcome']['status'], e['changed'])) for h, e in out.items())


def test_proxy_agent_key_outcomes():
    results = [
        {
            'changed': True,
            'failed': False,
            'previous_key_incarnation_id': 2,
            'key_incarnation_id': 3,
            'confirmed': True,
        },
        {'changed': False, 'failed': False, 'key_incarnation_id': 3, 'health': {'verdict': 'healthy'}},
        {'changed': False, 'failed': True, 'power_state': 'deallocated', 'msg': 'not running'},
        {'changed': False, 'failed': True, 'proxy_agent_enabled': False, 'msg': 'no agent'},
        {'changed': False, 'failed': True, 'msg': 'Injected failure'},
        {
            'changed': False,
            'failed': False,
            'key_incarnation_id': 1,
            'health': {'verdict': 'unknown', 'reason': 'no status'},
        },
    ]
    hosts = ['a', 'b', 'c', 'd', 'e', 'f', 'g']  # g has no result: failed with the batch message
    out = recovery_outcomes({'results': results, 'msg': 'batch broke'}, hosts, role=KEY, mode='unhealthy')
    assert _status(out) == {
        'a': ('changed', True),
        'b': ('already_fine', False),
        'c': ('skipped', False),
        'd': ('skipped', False),
        'e': ('failed', False),
        'f': ('skipped', False),
        'g': ('failed', False),
    }
    assert out['a']['outcome'] == {
        'host': 'a',
        'status': 'changed',
        'reason': 'key incarnation 2 -> 3, confirmed',
        'reason_code': 'changed',
    }
    assert out['b']['outcome']['reason'] == 'key healthy, incarnation 3'
    assert 'deallocated' in out['c']['outcome']['reason'] and 'not enabled' in out['d']['outcome']['reason']
    assert out['e']['outcome']['reason'] == 'Injected failure' and out['g']['outcome']['reason'] == 'batch broke'
    assert out['f']['outcome']['reason'] == (
        'key health unknown: no status; not reset (set proxy_agent_key_recovery_reset_unknown=true to reset)'
    )
    assert out['a']['result'] is results[0]
    inc = recovery_outcomes({'results': results[1:2]}, ['b'], role=KEY, mode='incarnation')
    assert inc['b']['outcome']['reason'] == 'key incarnation already 3 (key health: healthy)'


def test_linux_access_outcomes():
    results = [
        {'changed': True, 'failed': False, 'message': 'user rescue created'},
        {'changed': False, 'failed': False},
        {
            'changed': False,
            'failed': True,
            'msg': 'the VM is Windows: use VMAccessAgent',
            'outcome': {'status': 'failed', 'reason_code': 'wrong_os', 'reason': 'the VM is Windows'},
        },
        {'changed': False, 'failed': True, 'power_state': 'deallocated', 'msg': 'x'},
        {'changed': False, 'failed': True, 'msg': 'Injected failure'},
    ]
    out = recovery_outcomes({'results': results}, ['a', 'b', 'c', 'd', 'e'], role=LINUX, windows=['w'])
    assert _status(out) == {
        'a': ('changed', True),
        'b': ('already_fine', False),
        'c': ('skipped', False),
        'd': ('skipped', False),
        'e': ('failed', False),
        'w': ('skipped', False),
    }
    assert out['a']['outcome']['reason'] == 'user rescue created'
    assert out['c']['outcome']['reason'].startswith('Windows VM') and out['w']['outcome']['reason'].startswith(
        'Windows VM'
    )
    assert out['d']['outcome']['reason'] == 'VM not running (power state deallocated): start it and re-run'
    # No pending host: the batch task was skipped.
    assert _status(recovery_outcomes({'skipped': True}, [], role=LINUX, windows=['w'])) == {'w': ('skipped', False)}


class _HostVars(dict):
    """Stands in for hostvars: a missing variable raises, as HostVarsVars does on ansible-core 2.19."""


def test_per_host_results_from_hostvars_with_proofs():
    hv = _HostVars(
        {
            'a': {'r': {'changed': True, 'failed_target': False, 'message': 'done'}, 'p': {'ok': True}},
            'b': {'r': {'changed': False, 'failed_target': True, 'msg': 'Injected failure'}},
            'c': {'r': {'changed': False, 'failed_target': False}, 'p': {'ok': False, 'msg': 'timed out'}},
            'w': {'r': {'changed': False, 'skipped': True, 'false_condition': 'x'}},
            'n': {},
        }
    )
    out = recovery_outcomes(hv, ['a', 'b', 'c', 'w', 'n'], role=LINUX, result_var='r', proof_var='p')
    assert _status(out) == {
        'a': ('changed', True),
        'b': ('failed', False),
        'c': ('failed', False),
        'w': ('skipped', False),
    }  # n: no result, not part of the run
    assert out['a']['outcome']['reason'] == 'done; SSH proof ok'
    assert out['c']['outcome']['reason'] == (
        'already applied (the same request succeeded last time), but the SSH proof failed: timed out'
    )
    assert out['w']['outcome']['reason'].startswith('Windows VM')
    key = recovery_outcomes(
        _HostVars(
            {
                'a': {
                    'r': {'changed': True, 'key_incarnation_id': 3, 'previous_key_incarnation_id': 2, 'confirmed': True}
                }
            }
        ),
        ['a'],
        role=KEY,
        mode='all',
        result_var='r',
    )
    assert key['a']['outcome']['reason'] == 'key incarnation 2 -> 3, confirmed'


def test_recovery_summary_counts_and_lines():
    from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary

    out = recovery_outcomes(
        {
            'results': [
                {'changed': True, 'message': 'user created'},
                {'changed': False},
                {'failed': True, 'msg': 'boom'},
            ]
        },
        ['a', 'b', 'c'],
        role=LINUX,
        windows=['w'],
    )
    s = recovery_summary(out, role=LINUX)
    assert (s['checked'], s['changed'], s['already_fine'], s['skipped'], s['failed']) == (4, 1, 1, 1, 1)
    assert s['changed_hosts'] == {'a': 'user created'} and s['already_fine_hosts'] == ['b']
    assert list(s['skipped_hosts']) == ['w'] and s['failed_hosts'] == {'c': 'boom'}
    assert s['reason_codes'] == {'wrong_os': 1, 'error': 1}
    assert recovery_summary(out, role=LINUX, as_lines=True) == [
        'linux_access_recovery: 4 checked, 1 changed, 1 already fine, 1 skipped, 1 failed',
        'not done, by reason code: error 1, wrong_os 1',
        'changed:',
        '  a: user created',
        'already fine: b',
        'skipped:',
        '  w: Windows VM: VMAccessForLinux does not apply (use the VMAccessAgent extension)',
        'failed:',
        '  c: boom',
    ]


def test_linux_access_reason_says_what_changed():
    """From the extension the module sent: no "Enable succeeded.", never the password's value."""
    from ansible_collections.vmrescue.azure.plugins.filter.recovery_outcomes import _vmaccess_change

    ext = {
        'name': 'enablevmaccess',
        'settings': {'check_disk': True},
        'protectedSettings': {
            'username': 'rescue',
            'password': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER',
            'ssh_key': 'ssh-ed25519 AAAA',
            'reset_ssh': True,
        },
    }
    res = {'changed': True, 'extension': ext, 'extension_name': 'enablevmaccess', 'message': 'Enable succeeded.'}
    assert _vmaccess_change(res) == 'user rescue: SSH key and password set, sshd_config reset, disks checked'
    assert _vmaccess_change(dict(res, check_mode=True)).startswith('would apply: user rescue')
    ext2 = {'settings': {'repair_disk': True, 'disk_name': 'data0'}, 'protectedSettings': {'remove_user': 'old'}}
    assert _vmaccess_change({'extension': ext2}) == 'user old removed, disk data0 repaired'
    assert _vmaccess_change({'extension_name': 'enablevmaccess'}) == 'VMAccessForLinux extension enablevmaccess removed'
    assert _vmaccess_change({'message': 'Enable succeeded.'}) == 'Enable succeeded.'


def test_check_mode_key_reset_says_would_reset():
    out = recovery_outcomes(
        {
            'results': [
                {
                    'changed': True,
                    'check_mode': True,
                    'previous_key_incarnation_id': 3,
                    'key_incarnation_id': 4,
                    'health': {'verdict': 'unhealthy'},
                }
            ]
        },
        ['a'],
        role='proxy_agent_key_recovery',
        mode='unhealthy',
    )
    assert out['a']['outcome']['reason'] == 'key incarnation 3 -> 4, would reset (check mode)', out


def test_pending_hosts_are_skipped_and_the_summary_says_so():
    from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary

    pending = {
        'changed': False,
        'failed': False,
        'key_incarnation_id': 4,
        'pending_since': '2026-12-04T11:50:00Z',
        'health': {
            'verdict': 'pending',
            'reason': 'the guest reports no keyIncarnationId yet',
            'pending_since': '2026-12-04T11:50:00Z',
        },
    }
    unknown_time = dict(pending, pending_since=None, health=dict(pending['health'], pending_since=None))
    out = recovery_outcomes({'results': [pending, unknown_time]}, ['a', 'b'], role=KEY, mode='unhealthy')
    assert out['a']['outcome']['status'] == 'skipped'
    assert out['a']['outcome']['reason'].startswith('a key reset is pending since 2026-12-04T11:50:00Z: ')
    assert 'not raised again' in out['a']['outcome']['reason']
    assert out['b']['outcome']['reason'].startswith('a key reset is pending since an unknown time: ')
    lines = recovery_summary(out, role=KEY, as_lines=True)
    assert lines[1].startswith('all 2 host(s) have a key reset pending since 2026-12-04T11:50:00Z; nothing to write')
    assert 'state=reset' in lines[1]
    healthy = {'changed': False, 'failed': False, 'key_incarnation_id': 3, 'health': {'verdict': 'healthy'}}
    out = recovery_outcomes({'results': [pending, healthy]}, ['a', 'c'], role=KEY, mode='unhealthy')
    assert recovery_summary(out, role=KEY, as_lines=True)[1] == (
        '1 host(s) have a key reset pending from an earlier run (skipped, not raised again)'
    )


def test_access_outcomes_read_the_reason_code_not_the_message():
    """A wrong-OS refusal is known by the module's outcome.reason_code; the message text decides nothing."""
    results = [
        {
            'changed': False,
            'failed': True,
            'msg': 'whatever words',
            'outcome': {'status': 'failed', 'reason_code': 'wrong_os', 'reason': 'whatever words'},
        },
        {
            'changed': False,
            'failed': True,
            'msg': 'the VM runs Windows (an Azure message)',
            'outcome': {'status': 'failed', 'reason_code': 'handler_failed', 'reason': 'x'},
        },
        {
            'changed': False,
            'failed': True,
            'msg': 'x',
            'outcome': {'status': 'failed', 'reason_code': 'deallocated', 'reason': 'x'},
        },
    ]
    out = recovery_outcomes({'results': results}, ['a', 'b', 'c'], role=LINUX)
    assert _status(out) == {'a': ('skipped', False), 'b': ('failed', False), 'c': ('skipped', False)}
    assert [out[h]['outcome']['reason_code'] for h in 'abc'] == ['wrong_os', 'handler_failed', 'deallocated']


def test_break_glass_hosts_in_outcomes_and_summary():
    from ansible_collections.vmrescue.azure.plugins.filter.recovery_summary import recovery_summary

    timeout = {'changed': True, 'failed_target': True, 'confirmed': False, 'msg': 'did not report keyIncarnationId 2'}
    hostvars = {
        'a': {
            'r': timeout,
            'bg': {
                'a': {
                    'changed': True,
                    'failed': False,
                    'confirmed': True,
                    'after': {'wire_server': {'mode': 'Audit'}, 'imds': {'mode': 'Audit'}},
                    'outcome': {'status': 'done', 'reason_code': 'confirmed', 'reason': 'ok'},
                }
            },
        },
        'b': {
            'r': timeout,
            'bg': {
                'b': {
                    'changed': False,
                    'failed': True,
                    'msg': 'AuthorizationFailed',
                    'outcome': {'status': 'failed', 'reason_code': 'arm_error', 'reason': 'x'},
                }
            },
        },
        'c': {
            'r': {
                'changed': True,
                'failed': False,
                'confirmed': True,
                'previous_key_incarnation_id': 1,
                'key_incarnation_id': 2,
            }
        },
    }
    out = recovery_outcomes(hostvars, ['a', 'b', 'c'], role=KEY, mode='all', result_var='r', break_glass_var='bg')
    assert out['a']['break_glass']['status'] == 'audit' and out['a']['outcome']['status'] == 'failed'
    assert 'in break-glass now (WireServer Audit, IMDS Audit), confirmed by the guest' in out['a']['outcome']['reason']
    assert out['b']['break_glass']['status'] == 'failed' and 'AuthorizationFailed' in out['b']['outcome']['reason']
    assert 'break_glass' not in out['c']
    summary = recovery_summary(out, role=KEY)
    assert list(summary['break_glass_hosts']) == ['a']
    assert recovery_summary(out, role=KEY, as_lines=True)[-1].startswith('in break-glass now')
    assert 'break_glass_hosts' not in recovery_summary(out, role=LINUX)


def test_guest_repair_outcomes_from_the_linux_or_the_windows_result():
    def done(changed, report):
        status = ('done', 'changed') if changed else ('unchanged', 'unchanged')
        return {
            'changed': changed,
            'script_report': report,
            'outcome': {'status': status[0], 'reason_code': status[1], 'reason': ''},
        }

    when_skipped = {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'}
    repaired = done(True, [{'recipe': 'sshd', 'changed': True}, {'recipe': 'ssh_permissions', 'changed': False}])
    fine = done(False, [{'recipe': 'rdp', 'changed': False}, {'changed': False, 'failed': 'none'}])
    wrong_os = {
        'changed': False,
        'skipped': True,
        'msg': 'runs Windows',
        'outcome': {'status': 'skipped', 'reason_code': 'wrong_os', 'reason': 'runs Windows, not Linux'},
    }
    failed = {
        'changed': False,
        'failed_target': True,
        'outcome': {'status': 'failed', 'reason_code': 'script_failed', 'reason': 'stderr: sshd: no valid backup'},
    }
    hostvars = {
        'lin': {'lr': repaired, 'wr': when_skipped},
        'win': {'lr': when_skipped, 'wr': fine},
        'unmarked': {'lr': wrong_os, 'wr': when_skipped},
        'broken': {'lr': failed, 'wr': when_skipped},
        'absent': {},
    }
    out = recovery_outcomes(hostvars, list(hostvars), role='guest_repair', result_var=['lr', 'wr'])
    assert _status(out) == {
        'lin': ('changed', True),
        'win': ('already_fine', False),
        'unmarked': ('skipped', False),
        'broken': ('failed', False),
    }
    assert out['lin']['outcome']['reason'] == 'repaired: sshd; nothing to repair: ssh_permissions'
    assert out['win']['outcome']['reason'] == 'nothing to repair (rdp)'
    assert out['unmarked']['outcome']['reason_code'] == 'wrong_os'
    assert 'no valid backup' in out['broken']['outcome']['reason']


def test_offline_rescue_outcomes_by_phase_and_reason_code():
    def result(status, code, changed=False, **fields):
        return dict(fields, changed=changed, outcome={'status': status, 'reason_code': code, 'reason': 'module says'})

    disks = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/'
    when_skipped = {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'}
    restored = result('done', 'changed', True, phase='restored', steps=['copy', 'attach', 'repair'],
                      copy_disk_id=disks + 'web-rescue-1a2b', original_disk_id=disks + 'web_OsDisk_1')  # fmt: skip
    hostvars = {
        'fixed': {'lr': restored, 'wr': when_skipped},
        'again': {
            'lr': result('unchanged', 'unchanged', phase='restored', copy_disk_id=disks + 'c'),
            'wr': when_skipped,
        },
        'boots': {'lr': when_skipped, 'wr': result('unchanged', 'vm_boots')},
        'stopped': {'lr': dict(result('skipped', 'not_running'), skipped=True), 'wr': when_skipped},
        'other_os': {'lr': when_skipped, 'wr': when_skipped},  # in no batch: no action for its OS
        'broken': {'lr': dict(result('failed', 'nothing_repaired'), failed_target=True), 'wr': when_skipped},
        'back': {'lr': result('done', 'changed', True, phase='rolled_back', original_disk_id=disks + 'o'), 'wr': {}},
        'check': {'lr': result('done', 'check_mode', True, next_step='copy'), 'wr': when_skipped},
    }
    out = recovery_outcomes(hostvars, list(hostvars), role='offline_rescue', result_var=['lr', 'wr'])
    assert {h: (e['outcome']['status'], e['outcome']['reason_code']) for h, e in out.items()} == {
        'fixed': ('changed', 'changed'),
        'again': ('already_fine', 'unchanged'),
        'boots': ('already_fine', 'vm_boots'),
        'stopped': ('skipped', 'not_running'),
        'other_os': ('skipped', 'wrong_os'),
        'broken': ('failed', 'nothing_repaired'),
        'back': ('changed', 'changed'),
        'check': ('changed', 'check_mode'),
    }
    reasons = {h: e['outcome']['reason'] for h, e in out.items()}
    assert reasons['fixed'] == (
        'repaired: boots on its repaired OS disk web-rescue-1a2b (copy, attach, repair); the original web_OsDisk_1 is '
        'kept for rolled_back'
    )
    assert reasons['again'] == 'already boots on its repaired OS disk c: nothing to do'
    assert reasons['boots'] == 'boots (running, VM agent Ready): left alone'
    assert reasons['stopped'] == reasons['broken'] == 'module says'
    assert reasons['other_os'].startswith('no repair action for its OS in this run')
    assert reasons['back'].startswith('rolled back: runs on its original OS disk o again')

    assert reasons['check'] == 'would copy next (check mode)'


def test_offline_rescue_reasons_name_the_role_variables_not_the_module_options():
    said = ('the copy stays attached; run again with another action, or state=rolled_back. Finish it (state=restored); '
            'set rescue_vm_size to a size ...; within 60s (wait_timeout); a mystate=restored and x.wait_timeout stay')  # fmt: skip
    res = dict(
        changed=False,
        failed_target=True,
        outcome={'status': 'failed', 'reason_code': 'nothing_repaired', 'reason': said},
    )
    out = recovery_outcomes({'h': {'lr': res, 'wr': {}}}, ['h'], role='offline_rescue', result_var=['lr', 'wr'])
    assert out['h']['outcome']['reason'] == (
        'the copy stays attached; run again with another action (offline_rescue_action, or offline_rescue_windows_action '
        'for Windows hosts), or offline_rescue_state=rolled_back. Finish it (offline_rescue_state=restored); set '
        'offline_rescue_rescue_vm_size to a size ...; within 60s (offline_rescue_wait_timeout); a mystate=restored and '
        'x.wait_timeout stay'
    )
