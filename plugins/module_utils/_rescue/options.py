# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an offline_rescue task asks for: options, validation before any call, the repair script (private; no I/O
but reading ``script_file`` / ``driver_file``).

Public names: ``ARGUMENT_SPEC``, ``MUTUALLY_EXCLUSIVE``, ``REQUIRED_TOGETHER``, ``LINUX_ACTIONS``,
``WINDOWS_ACTIONS``, ``action_os(action) -> 'Linux' | 'Windows' | None`` (None: ``custom``, either),
``validate(params)``, ``script_for(params, os_type)`` (the composed script), ``DEFAULT_IMAGES``,
``image_for(params, os_type, generation, architecture)``, ``DEFAULT_RESCUE_SIZE``.
"""

from __future__ import annotations

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import check_key
from ansible_collections.vmrescue.azure.plugins.module_utils._rescue import scripts_linux, scripts_windows
from ansible_collections.vmrescue.azure.plugins.module_utils._run_command.request import script_text
from ansible_collections.vmrescue.azure.plugins.module_utils._target import TargetError, parse_resource_id

LINUX_ACTIONS = ('fstab', 'initrd', 'kernel', 'grubfix', 'efifix', 'serialconsole', 'auditd', 'sudo')
WINDOWS_ACTIONS = ('remove_driver', 'safemode_off', 'chkdsk', 'sfc', 'lastknowngood', 'sac_on')
MAX_SCRIPT_BYTES = 64 * 1024
DEFAULT_RESCUE_SIZE = 'Standard_D2s_v5'
DEFAULT_IMAGES = {
    # (os, generation, architecture) -> image reference; Gen1 / Arm64 SKUs as the publishers name them
    ('Linux', 'V2', 'x64'): 'Canonical:ubuntu-24_04-lts:server:latest',
    ('Linux', 'V1', 'x64'): 'Canonical:ubuntu-24_04-lts:server-gen1:latest',
    ('Linux', 'V2', 'Arm64'): 'Canonical:ubuntu-24_04-lts:server-arm64:latest',
    ('Windows', 'V2', 'x64'): 'MicrosoftWindowsServer:WindowsServer:2022-datacenter-g2:latest',
    ('Windows', 'V1', 'x64'): 'MicrosoftWindowsServer:WindowsServer:2019-datacenter:latest',
}
SUBNET = re.compile(
    r'^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$',
    re.IGNORECASE,
)
GROUP = re.compile(r'^[-\w._()]{1,90}$')

ARGUMENT_SPEC = dict(
    state=dict(type='str', default='restored', choices=['restored', 'rolled_back', 'cleaned']),
    action=dict(type='str', choices=list(LINUX_ACTIONS + WINDOWS_ACTIONS) + ['custom']),
    script=dict(type='str'),
    script_file=dict(type='path'),
    driver_file=dict(type='str'),
    rescue_vm_id=dict(type='str'),
    rescue_subnet_id=dict(type='str'),
    rescue_resource_group=dict(type='str'),
    rescue_admin_username=dict(type='str', default='rescueadmin'),
    rescue_admin_ssh_public_key=dict(type='str'),
    rescue_admin_password=dict(type='str', no_log=True),
    rescue_vm_size=dict(type='str', default=DEFAULT_RESCUE_SIZE),
    rescue_image=dict(type='str'),
    keep_original=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=1800),
    script_timeout=dict(type='int', default=1200),
    record_key=dict(type='str', no_log=True),
)
MUTUALLY_EXCLUSIVE = [['script', 'script_file'], ['rescue_vm_id', 'rescue_subnet_id']]
REQUIRED_TOGETHER = [['rescue_subnet_id', 'rescue_resource_group']]


def _bad(msg):
    return TaskError(msg, reason_code='invalid_input')


def action_os(action):
    if action in LINUX_ACTIONS:
        return 'Linux'
    if action in WINDOWS_ACTIONS:
        return 'Windows'
    return None


def _validate_restore(params):
    action = params.get('action')
    if not action:
        raise _bad('state=restored needs action: the repair to run on the copy (%s, or custom with script / '
                   'script_file)' % ', '.join(LINUX_ACTIONS + WINDOWS_ACTIONS))  # fmt: skip
    custom = params.get('script') is not None or params.get('script_file')
    if action == 'custom' and not custom:
        raise _bad('action=custom needs script or script_file (run on the rescue VM with the copy mounted)')
    if action != 'custom' and custom:
        raise _bad('script / script_file go with action=custom only; action=%s runs the shipped script' % action)
    if action == 'remove_driver' and not params.get('driver_file'):
        raise _bad('action=remove_driver needs driver_file: the driver file name or glob to delete, for example '
                   'C-00000291*.sys')  # fmt: skip
    if params.get('driver_file') and not re.match(r'^[\w.*?-]{1,128}$', params['driver_file']):
        raise _bad('driver_file must be a file name or glob (letters, digits, . _ - * ?), not a path')
    if not params.get('rescue_vm_id') and not params.get('rescue_subnet_id'):
        raise _bad('give rescue_vm_id (a running rescue VM to use), or rescue_subnet_id and rescue_resource_group '
                   '(where to create one, without a public IP)')  # fmt: skip
    if action == 'custom':
        script_for(params, 'Linux')


def _validate_rescue_vm(params):
    if params.get('rescue_vm_id'):
        try:
            parse_resource_id(params['rescue_vm_id'], 'rescue_vm_id')
        except TargetError as exc:
            raise _bad(str(exc)) from None
        return
    if params.get('rescue_subnet_id') and not SUBNET.match(params['rescue_subnet_id']):
        raise _bad('rescue_subnet_id must be a subnet resource ID (/subscriptions/.../virtualNetworks/VNET/subnets/'
                   'SUBNET)')  # fmt: skip
    if params.get('rescue_resource_group') and not GROUP.match(params['rescue_resource_group']):
        raise _bad('rescue_resource_group must be a resource group name (1-90 letters, digits, - _ . ( ))')
    if params.get('rescue_subnet_id') and params.get('state') == 'restored':
        key = params.get('rescue_admin_ssh_public_key')
        if not key and not params.get('rescue_admin_password'):
            raise _bad('creating a rescue VM needs rescue_admin_ssh_public_key (Linux) or rescue_admin_password '
                       '(Windows always; Linux too when no key is given)')  # fmt: skip
        if key and not re.match(r'^(ssh-(rsa|ed25519)|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+', key):
            raise _bad('rescue_admin_ssh_public_key must be one OpenSSH public key line (ssh-rsa / ssh-ed25519 ...)')
    if params.get('rescue_image') and len(str(params['rescue_image']).split(':')) != 4:
        raise _bad('rescue_image must be publisher:offer:sku:version (for example %s)'
                   % DEFAULT_IMAGES[('Linux', 'V2', 'x64')])  # fmt: skip


def validate(params):
    """Refuse bad input before any call (``TaskSpec.validate``): a TaskError naming the option and the fix."""
    check_key(params.get('record_key'))
    state = params.get('state')
    if state == 'restored':
        _validate_restore(params)
    elif params.get('action') or params.get('script') or params.get('script_file'):
        raise _bad('state=%s does not run a repair: leave out action, script and script_file' % state)
    _validate_rescue_vm(params)
    for option, low, high in (('wait_timeout', 60, 86400), ('script_timeout', 60, 86400)):
        if not low <= int(params.get(option) or 0) <= high:
            raise _bad('%s must be between %d and %d seconds' % (option, low, high))
    return []


def _custom_text(params):
    text = script_text(params, max_bytes=MAX_SCRIPT_BYTES)  # the Run Command engine's reading of script / script_file
    if not (text or '').strip():
        raise _bad('the custom script is empty')
    return text


def script_for(params, os_type):
    """The script of the task's action for a disk of ``os_type`` ('Linux' / 'Windows')."""
    module = scripts_windows if os_type == 'Windows' else scripts_linux
    action = params['action']
    body = module.ACTIONS[action]
    if action == 'custom':
        body = body.replace('{custom}', _custom_text(params))
    return module.FRAME.format(action=action, body=body)


def image_for(params, os_type, generation, architecture):
    """The rescue VM's ``imageReference`` (``rescue_image``, else the default of its OS, generation, architecture)."""
    text = params.get('rescue_image') or DEFAULT_IMAGES.get((os_type, generation, architecture))
    if not text:
        raise TaskError(
            'no default rescue image for a %s %s %s disk: give rescue_image (publisher:offer:sku:version)'
            % (os_type, generation, architecture),
            reason_code='invalid_input',
        )
    publisher, offer, sku, version = text.split(':')
    return {'publisher': publisher, 'offer': offer, 'sku': sku, 'version': version}
