"""Triage as one verdict (_triage.verdict.triage): the order of precedence (platform, provisioning, not running, agent
Ready, the serial log's boot failure, an unknown log, agent not Ready), the evidence of each and the remedy it points
to (an offline rescue action, a ladder rung, an access remedy). No network."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._triage import serial_rules, verdict
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.boot_diagnostics import BootLog
from ansible_collections.vmrescue.azure.plugins.module_utils._triage.verdict import triage

RULE = {r['name']: r for r in serial_rules.RULES}
BANNER = '[    0.000000] Linux version 5.15.0-1057-azure (buildd@lcy02) #65-Ubuntu SMP\n'
FSTAB_LOG = BANNER + '[  OK  ] Started Journal Service.\n' + RULE['fstab_emergency_mode']['excerpt']
GRUB_LOG = 'Welcome to GRUB!\n' + RULE['grub_rescue']['excerpt']
OK_LOG = BANNER + '[  OK  ] Reached target Multi-User System.\nweb-01 login: \n'
UNKNOWN_LOG = BANNER + '[    2.000000] something nobody wrote a rule for\n'


def model(os_type='Linux', provisioning='Succeeded'):
    return {
        'properties': {
            'provisioningState': provisioning,
            'storageProfile': {'osDisk': {'osType': os_type}},
            'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}},
        }
    }


def view(power='running', agent='Ready', message=None, generation='V1', extra=()):
    out = {
        'hyperVGeneration': generation,
        'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'PowerState/%s' % power}] + list(extra),
    }
    if agent is not None:
        out['vmAgent'] = {'vmAgentVersion': '2.9.1.1', 'statuses': [{'displayStatus': agent, 'message': message}]}
    return out


def health(state='Available', **more):
    return dict({'availabilityState': state}, **more)


def log(text):
    return BootLog(text, len(text), False, 'managed', None, '')


NOT_READY = dict(agent='Not Ready', message='VM Agent is unresponsive.')


def test_every_class_has_a_remedy_and_every_serial_remedy_maps():
    for cls in verdict.CLASSES:
        remedy = verdict.remedy_for(cls)
        assert remedy['kind'] in ('offline_rescue', 'ladder', 'access', 'manual', 'start') and remedy['text']
    assert set(serial_rules.CLASSES) <= set(verdict.CLASSES)
    assert set(serial_rules.REMEDIES) - {'none'} <= set(verdict.SERIAL_REMEDIES)
    assert {c for c, _ in verdict.PRECEDENCE} - {'boot_*'} <= set(verdict.CLASSES)


def test_platform_unavailable_comes_first_even_with_a_ready_agent_and_a_failed_provisioning():
    got = triage(model(provisioning='Failed'), view(), health('Unavailable', context='Platform Initiated'))
    assert got['class'] == 'platform_unavailable'
    assert got['remedy']['rung'] == 'redeploy' and got['remedy']['role'] == 'vmrescue.azure.recovery_ladder'
    assert got['evidence'][0].startswith('Resource Health: Unavailable, context Platform Initiated')


def test_a_user_initiated_unavailable_is_not_the_platform():
    got = triage(model(), view(power='deallocated', agent=None), health('Unavailable', reasonType='UserInitiated'))
    assert got['class'] == 'boot_unknown' and got['remedy']['kind'] == 'start'
    assert 'instance view: PowerState/deallocated' in got['evidence']
    assert any('UserInitiated' in line for line in got['evidence'])


def test_degraded_counts_only_when_the_agent_is_not_ready():
    ready = triage(model(), view(), health('Degraded', context='Platform Initiated'))
    assert ready['class'] == 'boot_ok' and any('Degraded' in line for line in ready['evidence'])
    down = triage(model(), view(**NOT_READY), health('Degraded'))
    assert down['class'] == 'platform_unavailable'


def test_provisioning_failed_from_the_model_or_the_instance_view():
    got = triage(model(provisioning='Failed'), view(), health())
    assert got['class'] == 'provisioning_failed' and got['remedy']['rung'] == 'reapply'
    failed = {'code': 'ProvisioningState/failed/InternalExecutionError', 'message': 'An internal execution error'}
    got = triage(model(), view(extra=[failed]), None)
    assert got['class'] == 'provisioning_failed'
    assert got['evidence'] == [
        'instance view: ProvisioningState/failed/InternalExecutionError: An internal execution error'
    ]


def test_a_ready_agent_is_boot_ok_whatever_an_old_log_says():
    got = triage(model(), view(), health(), serial=log(FSTAB_LOG))
    assert got['class'] == 'boot_ok' and got['remedy']['kind'] == 'access'
    assert got['evidence'] == ['instance view: VM agent Ready']


def test_a_boot_failure_in_the_log_points_to_its_offline_rescue_action():
    got = triage(model(), view(**NOT_READY), health(), serial=log(FSTAB_LOG))
    assert got['class'] == 'boot_emergency_mode'
    assert got['remedy']['kind'] == 'offline_rescue' and got['remedy']['options'] == {'action': 'fstab'}
    assert got['remedy']['module'] == 'vmrescue.azure.offline_rescue'
    assert got['evidence'][0] == 'instance view: VM agent Not Ready: VM Agent is unresponsive.'
    assert 'serial log: Welcome to emergency mode!' in ' '.join(got['evidence'])
    assert got['serial']['read'] and got['serial']['rule'] == 'fstab_emergency_mode'


@pytest.mark.parametrize('generation, action', [('V1', 'grubfix'), ('V2', 'efifix')])
def test_grub_remedy_follows_the_generation(generation, action):
    got = triage(model(), view(generation=generation, **NOT_READY), health(), serial=log(GRUB_LOG))
    assert got['class'] == 'boot_grub' and got['remedy']['options'] == {'action': action}


def test_a_completed_boot_with_the_agent_down_is_agent_not_ready():
    got = triage(model(), view(**NOT_READY), health(), serial=log(OK_LOG))
    assert got['class'] == 'agent_not_ready' and got['remedy']['rung'] == 'restart'
    assert any(line.startswith('serial log: ') and 'Multi-User' in line for line in got['evidence'])


def test_an_unknown_log_stays_boot_unknown():
    got = triage(model(), view(**NOT_READY), health(), serial=log(UNKNOWN_LOG))
    assert got['class'] == 'boot_unknown' and got['remedy']['kind'] == 'manual'
    assert got['serial']['class'] == 'boot_unknown'


def test_an_empty_log_stays_boot_unknown():
    got = triage(model(), view(**NOT_READY), health(), serial=log(''))
    assert got['class'] == 'boot_unknown' and 'empty' in got['reason']


def test_no_log_gives_agent_not_ready_and_says_why_the_log_was_not_read():
    off = BootLog(None, None, False, 'managed', 'boot_diagnostics_off', 'boot diagnostics is off: turn it on')
    got = triage(model(), view(**NOT_READY), health(), serial=off)
    assert got['class'] == 'agent_not_ready'
    assert got['evidence'][-1] == 'serial log not read: boot diagnostics is off: turn it on'
    assert got['serial'] == {'read': False, 'reason_code': 'boot_diagnostics_off', 'reason': off.reason}
    got = triage(model(), view(agent=None), None, serial_note='serial_log=never')
    assert got['class'] == 'agent_not_ready' and 'no VM agent status' in got['evidence'][0]
    assert got['evidence'][-1] == 'serial log not read: serial_log=never'


def test_windows_stop_code_is_a_boot_loop():
    text = 'Computer is booting, SAC started and initialized.\n' + RULE['stop_critical_process_died']['excerpt']
    got = triage(model('Windows'), view(**NOT_READY), health(), serial=log(text))
    assert got['class'] == 'boot_loop' and got['remedy']['options'] == {'action': 'sfc'}


def test_remedies_are_copies():
    one = verdict.remedy_for('boot_emergency_mode', 'fstab')
    one['options']['action'] = 'changed'
    assert verdict.remedy_for('boot_emergency_mode', 'fstab')['options'] == {'action': 'fstab'}
