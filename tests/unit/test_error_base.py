"""The collection's error base: one scrubbed failed result (msg, fields, outcome) for every error class."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import ArmError, TaskError, arm_reason_code
from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import AuthError
from ansible_collections.vmrescue.azure.plugins.module_utils._errors import (
    STATUSES,
    VmrescueError,
    outcome,
    outcome_of,
    scrub,
    scrub_obj,
    secret_values,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._extension.errors import ExtensionError, ExtensionFailure
from ansible_collections.vmrescue.azure.plugins.module_utils._target import TargetError

SECRET = 'S3cr3t-Value-99'
KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQC7\n-----END OPENSSH PRIVATE KEY-----\n'


@pytest.mark.parametrize('cls', [ArmError, TaskError, AuthError, TargetError, ExtensionError, ExtensionFailure])
def test_every_error_class_derives_from_the_base(cls):
    assert issubclass(cls, VmrescueError)


def test_to_result_scrubs_message_and_fields_and_has_an_outcome():
    err = TaskError('bad value %s here' % SECRET, reason_code='invalid_input', detail={'x': [SECRET + '!']})
    res = err.to_result([SECRET])
    assert res['failed'] is True and res['changed'] is False
    assert SECRET not in repr(res)
    assert res['outcome'] == {'status': 'failed', 'reason_code': 'invalid_input', 'reason': 'bad value ******** here'}


def test_arm_error_result_has_arm_error_and_a_reason_code_from_the_status():
    err = ArmError("The value '%s' is not valid" % SECRET, status=400, code='InvalidParameter', resource_id='/x')
    res = err.to_result([SECRET])
    assert SECRET not in repr(res) and res['arm_error']['code'] == 'InvalidParameter'
    assert res['outcome']['reason_code'] == 'arm_error'
    assert arm_reason_code(429, None) == 'throttled' and arm_reason_code(404, 'ResourceNotFound') == 'not_found'
    assert arm_reason_code(409, 'OperationNotAllowed') == 'conflict' and arm_reason_code(401, None) == 'auth_failed'
    assert arm_reason_code(None, 'ConnectionError') == 'connection_error'
    assert arm_reason_code(403, 'AuthorizationFailed') == 'rbac_missing'  # issue 21: kept apart from forbidden
    assert arm_reason_code(403, 'SomethingElse') == 'forbidden'


def test_private_keys_in_any_option_are_secrets():
    found = secret_values({'ssh_key': KEY, 'username': 'bob'}, ['pw-1'])
    assert KEY in found and 'pw-1' in found and 'bob' not in found
    assert 'AAAAB3NzaC1yc2EAAAADAQABAAABAQC7' in found  # each line of its body too
    assert scrub('echo: ' + KEY.replace('\n', '\r\n'), found).count('AAAAB3') == 0


def test_scrub_obj_covers_keys_lists_and_longest_first():
    out = scrub_obj({SECRET: [SECRET, ('a' + SECRET)], 'n': 1}, [SECRET[:4], SECRET])
    assert SECRET not in repr(out) and SECRET[:4] not in repr(out) and out['n'] == 1


def test_outcome_shape():
    assert outcome('done', 'changed') == {'status': 'done', 'reason_code': 'changed', 'reason': ''}
    with pytest.raises(ValueError):
        outcome('ok', 'x')
    assert outcome_of({'failed': True, 'msg': 'm'})['status'] == 'failed'
    assert outcome_of({'changed': True})['status'] == 'done' and set(STATUSES) >= {'pending', 'skipped'}


def test_every_reason_code_is_in_the_one_documentation_table():
    import os
    import re

    from ansible_collections.vmrescue.azure.plugins.module_utils._errors import REASON_CODES

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'docs', 'docsite', 'rst', 'guide_troubleshooting.rst')) as fh:
        text = fh.read()
    table = text[text.index('.. list-table:: Reason codes') :]
    documented = set(re.findall(r'^   \* - (.+)$', table, re.M))
    codes = set(c for row in documented for c in re.findall(r'``([a-z_]+)``', row))
    assert set(REASON_CODES) <= codes, sorted(set(REASON_CODES) - codes)
