# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the MSP endpoint settings module (proxy_agent_settings) and their validation (private: may
change without notice).

No I/O: ``validate`` refuses bad input before any call, with a TaskError naming the option and the fix; what needs
the resource (MSP off, Windows-only / Linux-only fields) is refused in ``endpoint_modes``.

Public names: ``ARGUMENT_SPEC``, ``MUTUALLY_EXCLUSIVE``, ``SETTING_OPTIONS``, ``validate(params)``.
"""

from __future__ import annotations

import re

from ansible_collections.vmrescue.azure.plugins.module_utils._arm import TaskError
from ansible_collections.vmrescue.azure.plugins.module_utils._preflight.plans import model_write
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.restore_gate import check_report
from ansible_collections.vmrescue.azure.plugins.module_utils._proxy_agent.settings_record import (
    ENDPOINTS,
    MODES,
    RECORD_TAG,
)
from ansible_collections.vmrescue.azure.plugins.module_utils._record_seal import check_key

ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['present', 'restored'], default='present'),
    wire_server_mode=dict(type='str', choices=list(MODES)),
    imds_mode=dict(type='str', choices=list(MODES)),
    wire_server_profile_reference_id=dict(type='str'),
    imds_profile_reference_id=dict(type='str'),
    enabled=dict(type='bool'),
    add_proxy_agent_extension=dict(type='bool'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=600),
    record_key=dict(type='str', no_log=True),
    restore_from=dict(type='path'),
    allow_weaker_restore=dict(type='bool', default=False),
    allowed_profile_references=dict(type='list', elements='str'),
)
RESTORE_OPTIONS = ('restore_from', 'allowed_profile_references')
MUTUALLY_EXCLUSIVE = [
    ['wire_server_mode', 'wire_server_profile_reference_id'],
    ['imds_mode', 'imds_profile_reference_id'],
]
SETTING_OPTIONS = (
    'wire_server_mode',
    'imds_mode',
    'wire_server_profile_reference_id',
    'imds_profile_reference_id',
    'enabled',
    'add_proxy_agent_extension',
)
_PROFILE_RE = re.compile(
    r'^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/'
    r'inVMAccessControlProfiles/[^/]+/versions/[^/]+$',
    re.I,
)


def validate(params):
    """Refuse bad input before any call: a TaskError naming the option and the fix."""
    state = params.get('state') or 'present'
    given = [name for name in SETTING_OPTIONS if params.get(name) is not None]
    if state == 'restored' and given:
        raise TaskError(
            'state: restored puts back the settings recorded in the %s tag; leave out %s (or use '
            'state: present to set them)' % (RECORD_TAG, ', '.join(given))
        )
    if state == 'present' and not given:
        raise TaskError(
            'state: present needs at least one of %s (for break-glass: wire_server_mode: Audit and '
            'imds_mode: Audit); to put back recorded settings use state: restored' % ', '.join(SETTING_OPTIONS)
        )
    for name, _key in ENDPOINTS:
        if params.get(name + '_mode') is not None and params.get(name + '_profile_reference_id') is not None:
            raise TaskError(
                '%s_mode and %s_profile_reference_id are mutually exclusive (Azure refuses a mode and a '
                'profile reference on the same endpoint: the profile version carries its own mode); '
                'give one' % (name, name)
            )
        mode = params.get(name + '_mode')
        if mode is not None and mode not in MODES:
            raise TaskError('%s_mode must be one of %s (as Azure spells them), got %r' % (name, ', '.join(MODES), mode))
        ref = params.get(name + '_profile_reference_id')
        if ref is not None and not _PROFILE_RE.match(str(ref)):
            raise TaskError(
                '%s_profile_reference_id must be the resource ID of an InVMAccessControlProfile version '
                '(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/galleries/<gallery>/'
                'inVMAccessControlProfiles/<profile>/versions/<version>), got %r' % (name, ref)
            )
    if params.get('enabled') is False and any(
        params.get(n) is not None for n in SETTING_OPTIONS if n not in ('enabled', 'add_proxy_agent_extension')
    ):
        raise TaskError(
            'enabled: false turns the Metadata Security Protocol off, so endpoint modes and profile '
            'references have no effect; leave them out, or use wire_server_mode/imds_mode: Audit to '
            'keep MSP on without enforcing'
        )
    timeout = params.get('wait_timeout')
    if timeout is not None and timeout <= 0:
        raise TaskError(
            'wait_timeout must be more than 0 seconds (got %d); to return without waiting for the guest '
            'use wait: false' % timeout
        )
    _validate_restore_options(params, state)


def _validate_restore_options(params, state):
    """The record options: the key's length, the restore-only options, the report and the allow-list."""
    check_key(params.get('record_key'))
    misplaced = [n for n in RESTORE_OPTIONS if params.get(n) is not None]
    if params.get('allow_weaker_restore'):
        misplaced.append('allow_weaker_restore')
    if state != 'restored' and misplaced:
        raise TaskError(
            '%s appl%s to state: restored only' % (', '.join(misplaced), 'y' if len(misplaced) > 1 else 'ies')
        )
    for ref in params.get('allowed_profile_references') or ():
        if not str(ref).lower().startswith('/subscriptions/') or len(str(ref).strip('/').split('/')) < 2:
            raise TaskError(
                'allowed_profile_references takes resource ID prefixes of the profiles a restore may reference '
                '(a subscription, a resource group or a gallery: /subscriptions/<id>/...), got %r' % (ref,)
            )
    if params.get('restore_from') is not None:
        check_report(params['restore_from'])


def write_plan(params):
    """What the task writes, for the preflight: the model write with the settings it asks for (Azure Policy sees
    them); a restore writes recorded settings, known only per VM: no policy probe."""
    if (params.get('state') or 'present') == 'restored':
        return model_write('restore of the proxy agent settings')
    settings = {}
    if params.get('enabled') is not None:
        settings['enabled'] = params['enabled']
    for option, endpoint in (('wire_server', 'wireServer'), ('imds', 'imds')):
        if params.get(option + '_mode'):
            settings.setdefault(endpoint, {})['mode'] = params[option + '_mode']
        if params.get(option + '_profile_reference_id'):
            settings.setdefault(endpoint, {})['inVMAccessControlProfileReferenceId'] = params[
                option + '_profile_reference_id'
            ]
    return model_write('change of the proxy agent settings', {'securityProfile': {'proxyAgentSettings': settings}})
