# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute fragments, so check mode, diff, action group and controller-side execution are stated the same way."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/vmrescue.azure.azure) in C(module_defaults) to set auth options once.
    support: full
    membership:
      - vmrescue.azure.azure
  action:
    description: An action plugin runs this module's logic on the controller, never on the target host.
    support: full
  async:
    description: Not supported.
    support: none
"""

    CHECK_MODE = r"""
options: {}
attributes:
  check_mode:
    description: Reads the current state and reports what would change; writes nothing.
    support: full
"""

    DIFF_MODE = r"""
options: {}
attributes:
  diff_mode:
    description: Returns the before and after state in C(diff).
    support: full
"""

    CONTROLLER = r"""
options: {}
notes:
  - Runs on the Ansible controller whatever the host's connection (the VMs being repaired are usually unreachable);
    no connection to the host is opened, so set C(gather_facts) to false in plays over VM inventories.
  - Needs azure-identity and azure-mgmt-core in the controller's Python (C(ansible_playbook_python)).
"""
