"""_errors.holds_secret: the cheap check that lets the controller action skip ansible-core's remove_values (which
copies a whole batch result) when nothing in the result holds a no_log value; it must say True wherever
remove_values would mask something."""

import pytest
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import holds_secret

SECRET = 's3cret-Value-42'
RESULT = {
    'changed': True,
    'results': [
        {'id': '/subscriptions/x/vm1', 'audit': {'requests': [{'status': 200, 'at': '2026-12-07T11:21:22Z'}]}},
        {'id': '/subscriptions/x/vm2', 'failed': False, 'health': None, 'n': 3, 'ratio': 0.5, 'ok': True},
    ],
    'msg': 'done',
    SECRET: 'a key is not masked by remove_values either',
}


def test_nothing_to_mask_and_remove_values_agrees():
    assert not holds_secret(RESULT, [SECRET])
    assert not holds_secret(RESULT, [])
    assert not holds_secret(RESULT, ['', None])
    assert remove_values(RESULT, [SECRET]) == RESULT


@pytest.mark.parametrize(
    'placed',
    [
        {'msg': 'sign-in with %s failed' % SECRET},
        {'results': [{'deep': [{'deeper': ('tuple', SECRET)}]}]},
        {'results': [{'bytes': SECRET.encode()}]},
        {'number': 123456},
    ],
)
def test_a_secret_anywhere_is_found(placed):
    secrets = [SECRET, '3456']
    assert holds_secret(dict(RESULT, **placed), secrets)
    assert remove_values(dict(RESULT, **placed), secrets) != dict(RESULT, **placed)


def test_bools_are_not_numbers():
    assert not holds_secret({'flag': True}, ['True', '1'])
