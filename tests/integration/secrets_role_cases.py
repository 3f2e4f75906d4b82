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


RESCUE_VNET_API = '2024-05-01'


def offline_rescue_setup(sim, vms, ade=None):
    """A subnet in rg-linux to create rescue VMs in, and a broken fstab on each of ``vms`` (one per job); ``ade``:
    {vm: passphrase} whose OS disk has single-pass Azure Disk Encryption with that passphrase as its Key Vault
    secret (armsim/ade.py: the rescue then unlocks the copy on its rescue VM)."""
    arm = sim.as_principal(sim.client_id, sim.client_secret)
    vnet = '/subscriptions/%s/resourceGroups/rg-linux/providers/Microsoft.Network/virtualNetworks/secrets-vnet' % (
        sim.subscription_id)  # fmt: skip
    body = {'location': 'westeurope', 'properties': {
        'addressSpace': {'addressPrefixes': ['10.9.0.0/16']},
        'subnets': [{'name': 'rescue', 'properties': {'addressPrefix': '10.9.1.0/24'}}]}}  # fmt: skip
    arm.request('PUT', vnet, body, api_version=RESCUE_VNET_API)
    for vm in vms:
        sim.control.set_boot_fault(sim.vm_id('rg-linux', vm), 'fstab')
    for vm, passphrase in (ade or {}).items():
        vault = (
            '/subscriptions/%s/resourceGroups/rg-linux/providers/Microsoft.KeyVault/vaults/kv-secrets'
            % sim.subscription_id
        )
        secret = 'https://kv-secrets.vault.azure.net/secrets/%s-ade/0a1b2c3d4e5f' % vm
        sim.control.set_ade(sim.vm_id('rg-linux', vm), secret, vault, passphrase=passphrase)
    sim.control.clear_requests()  # the setup's vnet write is the test's, not the collection's (tests/integration/rbac.py)
    return vnet + '/subnets/rescue'


def offline_rescue_playbook(sim, tmp_path, secrets, subnet, vm, rescue_group, tag):
    """The role offline_rescue with its secrets (the created rescue VM's admin password, sent in its create body,
    and the record key that seals each VM's record) in the play vars: a real rescue of ``vm`` (a rescue VM created
    in ``rescue_group``, one per job), a missing VM and a deallocated one; then a bad option and a record key too
    short, each in a block whose rescue goes on. One VM and one rescue group per job: the jobs run in parallel.
    ``secrets``: (password, record key, a record key too short)."""
    password, record_key, short_key = secrets
    inv = {
        'all': {
            'hosts': {
                'broken': {'azure_vm_id': sim.vm_id('rg-linux', vm)},
                'gone': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-no-such-vm')},
                'dealloc': {'azure_vm_id': sim.vm_id('rg-linux', 'lin-deallocated')},
            },
        }
    }
    inv_path = tmp_path / ('offline-rescue-inventory-%s.yml' % tag)
    inv_path.write_text(yaml.safe_dump(inv))
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          vars:
            offline_rescue_action: fstab
            offline_rescue_rescue_subnet_id: %s
            offline_rescue_rescue_resource_group: %s
            offline_rescue_rescue_admin_password: %s
            offline_rescue_record_key: %s
            offline_rescue_wait_timeout: 120
            offline_rescue_fail_hosts: false
            offline_rescue_report_path: "{{ lookup('ansible.builtin.env', 'REPORT_DIR') }}/offline_rescue.json"
          roles:
            - vmrescue.azure.offline_rescue
        - hosts: broken
          gather_facts: false
          tasks:
            - block:
                - ansible.builtin.include_role: {name: vmrescue.azure.offline_rescue}
                  vars: {offline_rescue_action: fstab, offline_rescue_rescue_admin_password: %s,
                         offline_rescue_rescue_subnet_id: %s, offline_rescue_keep_original: perhaps}
              rescue:
                - ansible.builtin.debug: {msg: refused as expected}
            - block:
                - ansible.builtin.include_role: {name: vmrescue.azure.offline_rescue}
                  vars: {offline_rescue_state: rolled_back, offline_rescue_record_key: %s}
              rescue:
                - ansible.builtin.debug: {msg: refused as expected}
        """) % (subnet, rescue_group, json.dumps(password), json.dumps(record_key), json.dumps(password), subnet,
               json.dumps(short_key))  # fmt: skip
    path = tmp_path / ('offline-rescue-%s.yml' % tag)
    path.write_text(text)
    return str(path), str(inv_path)
