"""_hostvars.host_var: a host's registered / set_fact variable read without computing all its variables (issue 25)."""

from collections import defaultdict

from ansible_collections.vmrescue.azure.plugins.plugin_utils._hostvars import host_var


class _Manager:
    def __init__(self, facts, extra=None):
        self._nonpersistent_fact_cache = defaultdict(dict, facts)
        self._extra_vars = dict(extra or {})


class _HostVars:
    """hostvars: the public path (hostvars[host][name]) counts its calls, as it computes all of a host's vars."""

    def __init__(self, manager, full):
        self._variable_manager = manager
        self.full, self.slow = full, []

    def __getitem__(self, host):
        self.slow.append(host)
        return self.full[host]


def test_a_registered_result_is_read_from_the_store_without_the_hosts_variables():
    result = {'changed': False, 'outcome': {'status': 'unchanged'}}
    hv = _HostVars(_Manager({'h1': {'res': result}}), {'h1': {'res': 'from hostvars'}})
    assert host_var(hv, 'h1', 'res') is result
    assert hv.slow == []


def test_an_extra_var_of_that_name_wins_as_in_hostvars():
    hv = _HostVars(_Manager({'h1': {'res': 'registered'}}, extra={'res': 'extra'}), {'h1': {'res': 'extra'}})
    assert host_var(hv, 'h1', 'res') == 'extra'
    assert hv.slow == ['h1']


def test_a_variable_not_set_by_a_task_is_read_through_hostvars():
    hv = _HostVars(_Manager({'h1': {'other': 1}}), {'h1': {'res': 'inventory'}, 'h2': {}})
    assert host_var(hv, 'h1', 'res') == 'inventory'
    assert host_var(hv, 'h2', 'res') is None  # undefined: None
    assert hv.slow == ['h1', 'h2']
    assert 'h2' not in hv._variable_manager._nonpersistent_fact_cache  # the store is only read


def test_a_plain_mapping_is_read_as_hostvars():
    assert host_var({'h1': {'res': 2}}, 'h1', 'res') == 2
    assert host_var({'h1': {'res': None}}, 'h1', 'res') is None
    assert host_var({}, 'h1', 'res') is None
