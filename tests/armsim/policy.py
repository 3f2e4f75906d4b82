"""Azure Policy as Resource Manager applies it before a write reaches the resource provider, and the
Microsoft.PolicyInsights checkPolicyRestrictions action that asks the same question without writing.

Two kinds of rule, the ones that block recovery flows (azure-facts.md section 7):
- ``extension``: a VM (or scale-set VM) extension whose publisher / type match (the built-in "only approved VM
  extensions" family evaluates the aliases Microsoft.Compute/virtualMachines/extensions/publisher and /type);
- ``field``: a VM / scale-set VM property path (below ``properties``) whose value is in a denied list, e.g.
  ``securityProfile.proxyAgentSettings.wireServer.mode`` in [Audit]. Its alias is
  ``Microsoft.Compute/virtualMachines/<path>`` ([inferred]: aliases follow that form; this one is not in the
  published alias list we have).

A deny effect answers 403 RequestDisallowedByPolicy with the body Azure returns (MicrosoftDocs/azure-docs
articles/automation/enforce-job-execution-hybrid-worker.md shows it whole: message with the policy identifiers,
``target`` = resource name, ``additionalInfo`` [{type: PolicyViolation, info: {evaluationDetails,
policyDefinitionId, policyDefinitionName, policyDefinitionDisplayName, policyDefinitionEffect, policyAssignmentId,
policyAssignmentName, policyAssignmentDisplayName, policyAssignmentScope, policyAssignmentParameters}}]). In the
identifiers the "name" is the display name when there is one (both public samples). An audit effect never refuses.

What is evaluated: a PUT's body; a PATCH merged over the stored resource ([inferred] from
hashicorp/terraform-provider-azurerm PR #24519: "If a client performs a PATCH request ... The Azure REST API will
then calculate the diff" to the stored resource; a PATCH that leaves a denied value in place is refused too).

checkPolicyRestrictions (tests/specs/policyinsights/..., 2024-10-01 checkPolicyRestrictions.json and its
PolicyRestrictions_CheckAtResourceGroupScope example): ``contentEvaluationResult.policyEvaluations`` for the rules
the given partial ``resourceContent`` violates (evaluationResult NonCompliant, effectDetails.policyEffect), and
``fieldRestrictions`` for the ``pendingFields`` a rule restricts (result Deny / Audit, the denied values). Audit
effects only with ``includeAuditEffect``.
"""

import copy
import json

from .authorization import covers
from .errors import ArmError
from .routing import RG, SUB, Response
from .util import deep_merge, dig

EFFECTS = ('deny', 'audit')
EXTENSION_TYPES = (
    'microsoft.compute/virtualmachines/extensions',
    'microsoft.compute/virtualmachinescalesets/virtualmachines/extensions',
)
MACHINE_TYPES = ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets/virtualmachines')
EXT_ALIAS = 'Microsoft.Compute/virtualMachines/extensions/{}'
FIELD_ALIAS = 'Microsoft.Compute/virtualMachines/{}'
WRITE_KINDS = ('vm.patch', 'vm.put', 'instance.put', 'vm.extension.put', 'instance.extension.put')


class PolicyAssignment:
    """A policy assignment with its (custom or built-in) definition and one rule."""

    def __init__(self, spec, default_scope=None):
        self.scope = str(spec.get('scope') or default_scope or '').rstrip('/')
        if not self.scope.lower().startswith('/subscriptions/'):
            raise ValueError(f'a policy assignment scope is a subscription, group or resource id: {self.scope!r}')
        self.name = str(spec.get('name') or 'policy')
        self.display_name = spec.get('display_name') or self.name
        self.effect = str(spec.get('effect') or 'deny').lower()
        if self.effect not in EFFECTS:
            raise ValueError(f'policy effect must be one of {", ".join(EFFECTS)}')
        definition = spec.get('definition') or {}
        self.definition_name = str(definition.get('name') or f'{self.name}-definition')
        self.definition_display_name = definition.get('display_name') or self.display_name
        sub = self.scope.split('/')[2]
        if definition.get('builtin'):
            self.definition_id = f'/providers/Microsoft.Authorization/policyDefinitions/{self.definition_name}'
        else:
            self.definition_id = (
                f'/subscriptions/{sub}/providers/Microsoft.Authorization/policyDefinitions/{self.definition_name}'
            )
        self.extension = spec.get('extension')
        self.field = spec.get('field')
        if bool(self.extension) == bool(self.field):
            raise ValueError('a policy has exactly one rule: extension {publisher?, type?} or field {path, in}')
        if self.field is not None and (not self.field.get('path') or not isinstance(self.field.get('in'), list)):
            raise ValueError('a field rule needs path and in: [denied values]')

    @property
    def id(self):
        return f'{self.scope}/providers/Microsoft.Authorization/policyAssignments/{self.name}'

    @property
    def effect_display(self):
        return self.effect.capitalize()

    def to_json(self):
        return {
            'scope': self.scope,
            'name': self.name,
            'display_name': self.display_name,
            'effect': self.effect,
            'definition_id': self.definition_id,
            'extension': self.extension,
            'field': self.field,
        }

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, content):
        """The evaluated expressions when ``content`` (type + properties) violates the rule, else None."""
        rtype = str(content.get('type') or '')
        props = content.get('properties') if isinstance(content.get('properties'), dict) else {}
        type_expr = {
            'result': 'True',
            'expressionKind': 'Field',
            'expression': 'type',
            'path': 'type',
            'expressionValue': rtype,
            'targetValue': rtype,
            'operator': 'Equals',
        }
        if self.extension is not None:
            if rtype.lower() not in EXTENSION_TYPES:
                return None
            exprs = [type_expr]
            for key in ('publisher', 'type'):
                wanted = self.extension.get(key)
                if wanted is None:
                    continue
                value = props.get(key)
                if str(value or '').lower() != str(wanted).lower():
                    return None
                exprs.append(_expr(EXT_ALIAS.format(key), f'properties.{key}', value, wanted, 'Equals'))
            return exprs
        if rtype.lower() not in MACHINE_TYPES:
            return None
        value = dig(props, *self.field['path'].split('.'))
        denied = [str(v).lower() for v in self.field['in']]
        if value is None or str(value).lower() not in denied:
            return None
        alias = FIELD_ALIAS.format(self.field['path'])
        return [type_expr, _expr(alias, f'properties.{self.field["path"]}', value, self.field['in'], 'In')]

    def restricted_fields(self):
        """(alias, values) pairs this rule restricts."""
        if self.extension is not None:
            return [(EXT_ALIAS.format(k), [self.extension[k]]) for k in ('publisher', 'type') if self.extension.get(k)]
        return [(FIELD_ALIAS.format(self.field['path']), list(self.field['in']))]

    def violation(self, exprs):
        """The PolicyViolation additionalInfo entry."""
        return {
            'type': 'PolicyViolation',
            'info': {
                'evaluationDetails': {'evaluatedExpressions': exprs},
                'policyDefinitionId': self.definition_id,
                'policyDefinitionName': self.definition_name,
                'policyDefinitionDisplayName': self.definition_display_name,
                'policyDefinitionEffect': self.effect_display,
                'policyAssignmentId': self.id,
                'policyAssignmentName': self.name,
                'policyAssignmentDisplayName': self.display_name,
                'policyAssignmentScope': self.scope,
                'policyAssignmentParameters': {},
            },
        }

    def identifiers(self):
        return {
            'policyAssignment': {'name': self.display_name, 'id': self.id},
            'policyDefinition': {'name': self.definition_display_name, 'id': self.definition_id},
        }

    def reference(self):
        return {'policyDefinitionId': self.definition_id, 'policyAssignmentId': self.id}


def _expr(expression, path, value, target, operator):
    return {
        'result': 'True',
        'expressionKind': 'Field',
        'expression': expression,
        'path': path,
        'expressionValue': value,
        'targetValue': target,
        'operator': operator,
    }


def disallowed(name, hits):
    """403 RequestDisallowedByPolicy for the violated assignments ``hits`` = [(assignment, expressions)]."""
    identifiers = json.dumps([a.identifiers() for a, _ in hits], separators=(',', ':'))
    return ArmError(
        403,
        'RequestDisallowedByPolicy',
        f"Resource '{name}' was disallowed by policy. Policy identifiers: '{identifiers}'.",
        target=name,
        additional_info=[a.violation(exprs) for a, exprs in hits],
    )


def applicable(world, scope):
    return [a for a in world.policies if covers(a.scope, scope)]


def check_write(world, req, route):
    """Raise 403 RequestDisallowedByPolicy when a deny assignment at or above the written resource rejects
    the content of this write (called by the server after RBAC and locks, before the handler)."""
    if route.kind not in WRITE_KINDS or not world.policies:
        return
    assignments = [a for a in applicable(world, req.path) if a.effect == 'deny']
    if not assignments:
        return
    content = _write_content(world, req, route.kind)
    if content is None:
        return
    hits = [(a, exprs) for a in assignments if (exprs := a.evaluate(content)) is not None]
    if hits:
        raise disallowed(req.path.rsplit('/', 1)[-1], hits)


def _write_content(world, req, kind):
    try:
        body = json.loads(req.body) if req.body else {}
    except ValueError:
        return None  # the handler answers the malformed body
    if not isinstance(body, dict):
        return None
    machine_path = req.path.rsplit('/extensions/', 1)[0] if '.extension.' in kind else req.path
    machine = world.fleet.machines.get(machine_path.lower())
    if machine is None:
        return None  # the handler answers 404
    if '.extension.' in kind:
        return {'type': f'{machine.type}/extensions', 'properties': body.get('properties') or {}}
    if kind == 'vm.patch':
        content = copy.deepcopy(machine.model)
        deep_merge(content, {k: v for k, v in body.items() if k != 'tags'})
    else:
        content = body
    return {'type': machine.type, 'properties': content.get('properties') or {}}


class Policy:
    """Route: POST {subscription | resource group}/providers/Microsoft.PolicyInsights/checkPolicyRestrictions."""

    def __init__(self, world):
        self.world = world

    def register(self, router):
        check = r'/providers/microsoft\.policyinsights/checkPolicyRestrictions'
        for pattern in (SUB + check, RG + check):
            router.add(
                'POST',
                pattern,
                self.check_restrictions,
                'policy.check',
                action='Microsoft.PolicyInsights/checkPolicyRestrictions/read',
                scope_strip=3,
                counter='action',  # changes nothing: counted apart from writes (the write bucket still takes it)
            )

    def check_restrictions(self, req, sub, rg=None):
        self.world.subscription(sub)
        if rg is not None:
            self.world.group(sub, rg)
        body = req.json()
        details = body.get('resourceDetails')
        content = details.get('resourceContent') if isinstance(details, dict) else None
        if not isinstance(content, dict):  # [inferred] code and text
            raise ArmError(
                400,
                'InvalidCheckRestrictionsRequest',
                "The request must contain 'resourceDetails' with a 'resourceContent' object.",
            )
        scope = str(details.get('scope') or req.path.rsplit('/providers/', 1)[0])
        include_audit = body.get('includeAuditEffect') is True
        effects = ('deny', 'audit') if include_audit else ('deny',)
        assignments = [a for a in applicable(self.world, scope) if a.effect in effects]
        evaluations = []
        for assignment in assignments:
            exprs = assignment.evaluate(content)
            if exprs is not None:
                evaluations.append(
                    {
                        'policyInfo': assignment.reference(),
                        'evaluationResult': 'NonCompliant',
                        'evaluationDetails': {'evaluatedExpressions': exprs},
                        'effectDetails': {'policyEffect': assignment.effect_display},
                    }
                )
        pending = {}
        for item in body.get('pendingFields') or ():
            if isinstance(item, dict) and item.get('field'):
                pending[str(item['field']).lower()] = item
        restrictions = {}
        for assignment in assignments:
            for alias, values in assignment.restricted_fields():
                item = pending.get(alias.lower())
                if item is None:
                    continue
                asked = [str(v).lower() for v in item.get('values') or ()]
                hit = [v for v in values if not asked or str(v).lower() in asked]
                if not hit:
                    continue
                restrictions.setdefault(alias, []).append(
                    {
                        'result': assignment.effect_display,
                        'values': [str(v) for v in hit],
                        'policy': assignment.reference(),
                        'policyEffect': assignment.effect_display,
                        'reason': f'{assignment.display_name}: {alias} may not be {", ".join(map(str, hit))}',
                    }
                )
        return Response(
            200,
            {
                'fieldRestrictions': [{'field': f, 'restrictions': r} for f, r in restrictions.items()],
                'contentEvaluationResult': {'policyEvaluations': evaluations},
            },
        )
