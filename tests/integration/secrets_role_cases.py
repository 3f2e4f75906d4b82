"""The role playbooks of the secrets suite (test_secrets_suite.py): each a role run with the VM password in its
variables over hosts that fail, the written playbook and inventory paths returned."""

import json
import textwrap

import yaml


def role_playbook(sim, tmp_path, password):
    """The Linux access role over hosts that fail (wrong OS, missing, deallocated), the password in the play vars."""
    inv = {
        'all': {
            'hosts': {
                'win': {'azure_vm_id': sim.vm_id('rg-windows', 'win-ok')},
                'gone': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-no-such-vm')},
                'dealloc': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-deallocated')},
            }
        }
    }
    inv_path = tmp_path / 'role-inventory.yml'
    inv_path.write_text(yaml.safe_dump(inv))
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          vars:
            linux_access_recovery_username: bob
            linux_access_recovery_password: %s
            linux_access_recovery_report_path: "{{ lookup('ansible.builtin.env', 'REPORT_DIR') }}/role.json"
          roles:
            - vmrescue.azure.linux_access_recovery
        - hosts: all
          gather_facts: false
          tasks:
            - ansible.builtin.include_role:
                name: vmrescue.azure.linux_access_recovery
              vars: {linux_access_recovery_password: %s, linux_access_recovery_reset_ssh: perhaps}
        """) % (json.dumps(password), json.dumps(password))
    path = tmp_path / 'role.yml'
    path.write_text(text)
    return str(path), str(inv_path)


def guest_repair_playbook(sim, tmp_path, password, vm, tag):
    """The role guest_repair's local_admin recipe (the password a protected parameter) on a Windows VM, a missing
    one and a Linux VM taken as Windows; before it, a bad option and a password Windows' policy refuses (it holds
    the user name), each in a block whose rescue goes on. One VM per job: the jobs run in parallel."""
    inv = {
        'all': {
            'hosts': {
                'win': {'azure_vm_id': sim.vm_id('rg-windows', vm)},
                'win-gone': {'azure_vm_id': sim.vm_id('rg-windows', 'win-no-such-vm')},
                'lin-as-win': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-ok')},
            },
            'vars': {'os_profile': {'system': 'windows'}},
        }
    }
    inv_path = tmp_path / ('guest-repair-inventory-%s.yml' % tag)
    inv_path.write_text(yaml.safe_dump(inv))
    text = textwrap.dedent("""\
        - hosts: win
          gather_facts: false
          vars:
            guest_repair_recipes: [local_admin]
            guest_repair_admin_password: %s
          tasks:
            - block:
                - ansible.builtin.include_role: {name: vmrescue.azure.guest_repair}
                  vars: {guest_repair_admin_username: rescueadmin, guest_repair_admin_password_update: sometimes}
              rescue:
                - ansible.builtin.debug: {msg: refused as expected}
            - block:
                - ansible.builtin.include_role: {name: vmrescue.azure.guest_repair}
                  vars: {guest_repair_admin_username: kept, guest_repair_report: true}
              rescue:
                - ansible.builtin.debug: {msg: refused as expected}
        - hosts: all
          gather_facts: false
          vars:
            guest_repair_recipes: [local_admin, rdp]
            guest_repair_admin_username: rescueadmin
            guest_repair_admin_password: %s
            guest_repair_report_path: "{{ lookup('ansible.builtin.env', 'REPORT_DIR') }}/guest_repair.json"
          roles:
            - vmrescue.azure.guest_repair
        """) % (json.dumps(password), json.dumps(password))
    path = tmp_path / ('guest-repair-%s.yml' % tag)
    path.write_text(text)
    return str(path), str(inv_path)
