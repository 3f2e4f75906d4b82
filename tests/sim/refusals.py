"""Shared bits of the refused-writes tests (fleets/refusals.yaml; fixture ``ref`` in conftest.py)."""

import os

REFUSALS_FLEET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'refusals.yaml'
)
OPERATOR = ('33333333-3333-4333-8333-333333333333', 'armsim-refusals-secret-3')
OPERATOR_NO_EXT_WRITE = ('44444444-4444-4444-8444-444444444444', 'armsim-refusals-secret-4')
# the docsite role without the preflight's reads (locks, checkPolicyRestrictions, Resource Health)
OPERATOR_WRITES_ONLY = ('55555555-5555-4555-8555-555555555555', 'armsim-refusals-secret-5')
LOCKS_API = '2020-05-01'
PERMISSIONS_API = '2022-04-01'
POLICY_API = '2024-10-01'
HEALTH_API = '2026-07-01'
VMACCESS = {'publisher': 'Microsoft.OSTCExtensions', 'type': 'VMAccessForLinux', 'typeHandlerVersion': '1.5'}
CUSTOM_SCRIPT = {'publisher': 'Microsoft.Azure.Extensions', 'type': 'CustomScript', 'typeHandlerVersion': '2.1'}


def extension_body(handler, settings=None):
    return {'location': 'westeurope', 'properties': dict(handler, settings=settings or {})}


def scope_of(arm, rg=None):
    base = f'/subscriptions/{arm.sub}'
    return base if rg is None else f'{base}/resourceGroups/{rg}'
