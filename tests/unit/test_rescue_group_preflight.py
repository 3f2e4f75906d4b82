# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight of the rescue VMs' resource group (issue 23): _preflight.groups.group_verdict (pure) and the plan
the offline rescue builds for it (_rescue.group_check)."""

from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.checks import Check
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.groups import GroupPlan, group_verdict
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import group_check
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue.rescue_vm import RescueSpec
from ansible_collections.vmrescue.azure.plugins.plugin_utils._rescue_reasons import role_words

SUB = '00000000-0000-0000-0000-000000000001'
GROUP = '/subscriptions/%s/resourceGroups/rescue-rg' % SUB
SUBNET = '/subscriptions/%s/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s' % SUB
ALL = [{'actions': ['*'], 'notActions': []}]
PASSWORD = 'S3cret-Passw0rd!'


def plan(**kw):
    args = dict(actions=group_check.VM_ACTIONS, joins=(('rescue_subnet_id', SUBNET, group_check.SUBNET_JOIN),),
                fix=group_check.RESTORE_FIX)  # fmt: skip
    args.update(kw)
    return GroupPlan('rescue_resource_group', GROUP, **args)


def checks(perms=ALL, locks=(), deny=(), audit=(), join=ALL):
    return {
        'permissions': Check('permissions', 'passed', data=list(perms), scope=GROUP),
        'locks': Check('locks', 'passed', data=list(locks), scope=GROUP),
        ('policy', 'rescue VM x'): Check('policy', 'passed', data=dict(deny=list(deny), audit=list(audit))),
        ('join', SUBNET): Check('permissions', 'passed', data=list(join), scope=SUBNET),
    }


def lock(level, scope=GROUP, name='hold'):
    return dict(id=scope + '/providers/Microsoft.Authorization/locks/' + name, name=name, level=level, scope=scope)


def test_nothing_in_the_way_passes():
    verdict = group_verdict(plan(), checks())
    assert verdict.refusal is None and verdict.warnings == []


def test_a_readonly_lock_on_the_group_or_above_refuses_naming_the_option_and_the_fix():
    for scope in (GROUP, '/subscriptions/' + SUB):
        code, msg = group_verdict(plan(), checks(locks=[lock('ReadOnly', scope)])).refusal
        assert code == 'scope_locked'
        assert 'rescue_resource_group rescue-rg' in msg and 'ReadOnly' in msg and 'Nothing was written' in msg
        assert 'az lock delete --ids %s/providers/Microsoft.Authorization/locks/hold' % scope in msg
        assert 'set rescue_resource_group to a group' in msg


def test_a_lock_on_another_group_or_on_one_resource_below_does_not_count():
    other = lock('ReadOnly', '/subscriptions/%s/resourceGroups/rescue-rg-2' % SUB)
    below = lock('ReadOnly', GROUP + '/providers/Microsoft.Compute/virtualMachines/someone-elses')
    assert group_verdict(plan(), checks(locks=[other, below])).refusal is None


def test_cannotdelete_warns_a_restore_and_refuses_a_clean_up():
    verdict = group_verdict(plan(), checks(locks=[lock('CanNotDelete')]))
    assert verdict.refusal is None
    assert len(verdict.warnings) == 1 and 'state=cleaned cannot remove' in verdict.warnings[0]
    code, msg = group_verdict(plan(deletes=True, actions=group_check.CLEAN_ACTIONS),
                              checks(locks=[lock('CanNotDelete')])).refusal  # fmt: skip
    assert code == 'scope_locked' and 'refuses deletes' in msg


def test_missing_actions_at_the_group_and_the_subnet_join_are_named_with_their_scope():
    perms = [{'actions': ['*/read', 'Microsoft.Network/*'], 'notActions': []}]
    join = [{'actions': ['*/read'], 'notActions': []}]
    code, msg = group_verdict(plan(), checks(perms=perms, join=join)).refusal
    assert code == 'rbac_missing'
    assert "'Microsoft.Compute/virtualMachines/write', 'Microsoft.Compute/disks/write'" in msg
    assert 'Microsoft.Network/networkInterfaces/write' not in msg, 'granted by Microsoft.Network/*'
    assert "'Microsoft.Network/virtualNetworks/subnets/join/action' at rescue_subnet_id %s" % SUBNET in msg
    assert 'vmrescue-azure-role.json' in msg and 'Nothing was written' in msg


def test_not_actions_take_an_action_away():
    perms = [{'actions': ['*'], 'notActions': ['Microsoft.Compute/virtualMachines/runCommands/*']}]
    code, msg = group_verdict(plan(), checks(perms=perms)).refusal
    assert code == 'rbac_missing' and 'runCommands/write' in msg


def test_a_deny_policy_refuses_an_audit_one_warns():
    deny = dict(effect='Deny', assignment_name='no-standard-ssd', assignment_id='/x/no-standard-ssd',
                definition_name='d1')  # fmt: skip
    code, msg = group_verdict(plan(), checks(deny=[deny])).refusal
    assert code == 'policy_denied' and "assignment 'no-standard-ssd'" in msg and 'rescue VM x' in msg
    audit = dict(deny, effect='Audit', assignment_name='tags-audit')
    verdict = group_verdict(plan(), checks(audit=[audit]))
    assert verdict.refusal is None and "'tags-audit' audits" in verdict.warnings[0]


def test_a_missing_group_is_invalid_input_and_nothing_else_is_read():
    missing = {'permissions': Check('permissions', 'unchecked', scope=GROUP, why='404', code='ResourceGroupNotFound')}
    code, msg = group_verdict(plan(), missing).refusal
    assert code == 'invalid_input' and 'rescue_resource_group rescue-rg does not exist' in msg
    assert 'az group create --name rescue-rg' in msg


def test_a_read_the_principal_may_not_make_warns_never_refuses():
    found = checks()
    found['locks'] = Check('locks', 'unchecked', action='Microsoft.Authorization/locks/read', scope=GROUP,
                           why='the principal lacks Microsoft.Authorization/locks/read')  # fmt: skip
    verdict = group_verdict(plan(), found)
    assert verdict.refusal is None and 'locks not checked' in verdict.warnings[0]


def test_the_rescue_plan_probes_the_vm_and_nic_without_a_secret():
    params = dict(rescue_resource_group='rescue-rg', rescue_subnet_id=SUBNET, rescue_vm_size='Standard_B1s',
                  rescue_admin_username='rescueadmin', rescue_admin_password=PASSWORD, rescue_image=None,
                  rescue_admin_ssh_public_key=None)  # fmt: skip
    specs = [RescueSpec(SUB, 'rescue-rg', 'westeurope', 'Linux', 'V2', 'x64'),
             RescueSpec(SUB, 'rescue-rg', 'westeurope', 'Windows', 'V2', 'x64')]  # fmt: skip
    got = group_check.restore_plan(params, specs)
    assert got.group_id == GROUP and got.option == 'rescue_resource_group'
    assert got.joins == (('rescue_subnet_id', SUBNET, 'Microsoft.Network/virtualNetworks/subnets/join/action'),)
    kinds = [content['type'] for _what, content in got.contents]
    assert kinds == ['Microsoft.Compute/virtualMachines'] * 2 + ['Microsoft.Network/networkInterfaces']
    assert PASSWORD not in repr(got) and 'osProfile' not in repr(got)
    vm = got.contents[0][1]['properties']
    assert vm['hardwareProfile'] == {'vmSize': 'Standard_B1s'} and 'imageReference' in vm['storageProfile']


def test_the_role_says_the_options_as_its_variables():
    text = role_words("the principal lacks 'x' at rescue_subnet_id S; or set rescue_resource_group to a group")
    assert 'at offline_rescue_rescue_subnet_id S' in text and 'set offline_rescue_rescue_resource_group to' in text
