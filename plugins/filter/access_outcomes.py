# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: access_outcomes
short_description: One outcome per host for a mixed fleet from the Linux and the Windows access roles
version_added: 0.1.0
author:
  - vmrescue.azure developers (@vmrescue)
description:
  - Used by the C(vmrescue.azure.regain_access) playbook, once, to route each host's outcome by OS. A host that the
    Linux role skipped as a Windows VM takes the outcome of the Windows role; when the Windows role did not run
    (an SSH key alone is not an intent VMAccessAgent can apply), it is skipped with that reason. Every other host
    keeps its Linux outcome (a Linux host that the Windows role skipped as Linux).
  - The result has the shape of P(vmrescue.azure.recovery_outcomes#filter), for P(vmrescue.azure.recovery_summary#filter).
options:
  _input:
    description: The outcomes of the Linux role (P(vmrescue.azure.recovery_outcomes#filter), role C(linux_access_recovery)).
    type: dict
    required: true
  windows:
    description: The outcomes of the Windows role (role C(windows_access_recovery)), or an empty dict.
    type: dict
    required: true
  windows_ran:
    description: Whether the Windows role ran (the intent had a user name and a password).
    type: bool
    required: true
"""

EXAMPLES = r"""
- name: One outcome per host
  ansible.builtin.set_fact:
    regain_access_outcome_by_host: >-
      {{ linux_outcomes | vmrescue.azure.access_outcomes(windows=windows_outcomes, windows_ran=true) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: A dict host -> entry with C(outcome) (C(host), C(status), C(reason)), C(changed) and C(result).
  type: dict
"""

from collections.abc import Mapping  # controller-side plugin: Python 3 only

from ansible.errors import AnsibleFilterError

SSH_KEY_ONLY_REASON = (
    'Windows VM: an SSH key alone does not apply (VMAccessAgent resets a user name and password;'
    ' give a password to include Windows hosts)'
)


def access_outcomes(linux, windows, windows_ran):
    if not isinstance(linux, Mapping) or not isinstance(windows or {}, Mapping):
        raise AnsibleFilterError('access_outcomes: expected the dicts that recovery_outcomes returns')
    windows = windows or {}
    out = {}
    for host in list(linux) + [h for h in windows if h not in linux]:
        lin = linux.get(host)
        outcome = (lin or {}).get('outcome') or {}
        is_windows = lin is None or (outcome.get('status') == 'skipped' and outcome.get('reason_code') == 'wrong_os')
        if not is_windows:
            out[host] = lin
        elif windows_ran and host in windows:
            out[host] = windows[host]
        else:
            out[host] = {
                'outcome': {
                    'host': host,
                    'status': 'skipped',
                    'reason': SSH_KEY_ONLY_REASON,
                    'reason_code': 'ssh_key_only',
                },
                'changed': False,
                'result': {},
            }
    return out


class FilterModule:
    def filters(self):
        return {'access_outcomes': access_outcomes}
