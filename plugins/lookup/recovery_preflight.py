# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: recovery_preflight
short_description: Whether Azure would refuse a recovery write to each VM, and why (read-only)
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - The lookup form of the vmrescue.azure.recovery_preflight module, for a C(when:), an C(assert) or a report
    template. Returns, for each term, C(ready), C(reason_code), C(msg) (what refuses the write and the fix),
    C(facts) and C(preflight) (the scope checks, unchecked ones with the missing action).
  - Terms are VM or Uniform scale-set instance resource IDs. With no terms, the target is taken from the
    O(resource_group) + O(name) or O(resource_group) + O(vmss_name) + O(instance_id) options.
  - The checks per resource group (locks, permissions, Azure Policy on the planned write, Resource Health) are made
    once per group, whatever the number of terms; each term costs one read of its VM.
options:
  operation:
    description: The write to check, named after the module that makes it.
    type: str
    required: true
    choices: [key_reset, proxy_agent_settings, vmaccess_linux, vmaccess_windows, run_command]
  state:
    description: The state the write module would be given (V(absent) checks a VMAccess removal).
    type: str
    choices: [present, absent, restored]
  wire_server_mode:
    description: For O(operation=proxy_agent_settings), the WireServer mode the write would set.
    type: str
    choices: [Audit, Enforce, Disabled]
  imds_mode:
    description: For O(operation=proxy_agent_settings), the IMDS mode the write would set.
    type: str
    choices: [Audit, Enforce, Disabled]
extends_documentation_fragment:
  - vmrescue.azure.auth.plugins
  - vmrescue.azure.target.lookup
notes:
  - A VM that cannot be read (not found, no permission to read it) fails the lookup; a check the principal may not
    make is reported in C(preflight.unchecked), never a failure.
"""

EXAMPLES = r"""
- name: Refuse to start the change when a VM of the group would refuse the VMAccess write
  ansible.builtin.assert:
    that: not (checks | rejectattr('ready') | list)
    fail_msg: "{{ checks | rejectattr('ready') | map(attribute='msg') | list }}"
  vars:
    checks: "{{ query('vmrescue.azure.recovery_preflight', *vm_ids, operation='vmaccess_linux') }}"
"""

RETURN = r"""
_raw:
  description: One entry per term, in term order.
  type: list
  elements: dict
  contains:
    id:
      description: The target's resource ID.
      type: str
    ready:
      description: Nothing found that refuses the write.
      type: bool
    reason_code:
      description: C(ready), or the first refusal found (see the module).
      type: str
    msg:
      description: What refuses the write and the fix, or that nothing does.
      type: str
    facts:
      description: What the VM read showed (see the module).
      type: dict
    preflight:
      description: The scope checks for this target (see the module).
      type: dict
"""

from ansible_collections.vmrescue.azure.plugins.module_utils._errors import VmrescueError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight_task import task_spec
from ansible_collections.vmrescue.azure.plugins.module_utils._runner import run_task
from ansible_collections.vmrescue.azure.plugins.module_utils._task import prepare
from ansible_collections.vmrescue.azure.plugins.plugin_utils._lookup import AzureLookupBase

KEYS = ('id', 'ready', 'reason_code', 'msg', 'facts', 'preflight')
OPTIONS = ('operation', 'state', 'wire_server_mode', 'imds_mode')


class LookupModule(AzureLookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.check_raw_options(kwargs)
        self.set_options(var_options=variables, direct=kwargs)
        targets = list(terms or [])
        if not targets:
            targets = [dict((k, self.get_option(k)) for k in ('resource_group', 'name', 'vmss_name', 'instance_id'))]
        params = dict((k, self.get_option(k)) for k in OPTIONS)
        params.update(targets=targets, concurrency=max(1, self.get_option('concurrency')), preflight=True)
        try:
            task = prepare(task_spec(), params)
        except VmrescueError as exc:  # an option value refused, naming the option
            raise self.plugin_error(exc)
        out = run_task(task, client=self.client(pool_size=min(len(targets), params['concurrency']) + 2))
        for warning in out.get('warnings') or ():
            self.warn(warning)
        rows = []
        for term, res in zip(targets, out.get('results') or ()):
            if res.get('failed'):
                raise self.plugin_error(res.get('msg'), term=term if isinstance(term, str) else None)
            rows.append(dict((k, res.get(k)) for k in KEYS))
        if out.get('failed') and not rows:
            raise self.plugin_error(out.get('msg'))
        return rows
