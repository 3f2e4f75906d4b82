"""ARM error responses: one exception type, raised anywhere, rendered by the server."""

NOT_FOUND_FIX = 'For more details please go to https://aka.ms/ARMResourceNotFoundFix'


class ArmError(Exception):
    """An ARM-shaped error: ``{"error": {"code", "message", "target"?, "details"?}}``."""

    def __init__(self, status, code, message, target=None, details=None, headers=None, additional_info=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.additional_info = additional_info  # ARM's ErrorDetail.additionalInfo (e.g. PolicyViolation)
        self.headers = dict(headers or {})

    def body(self):
        err = {'code': self.code, 'message': self.message}
        if self.target is not None:
            err['target'] = self.target
        if self.details is not None:
            err['details'] = self.details
        if self.additional_info is not None:
            err['additionalInfo'] = self.additional_info
        return {'error': err}


def resource_not_found(resource_type, name, resource_group):
    return ArmError(
        404,
        'ResourceNotFound',
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        + NOT_FOUND_FIX,
    )


def resource_group_not_found(name):
    return ArmError(404, 'ResourceGroupNotFound', f"Resource group '{name}' could not be found.")


def subscription_not_found(sub):
    return ArmError(404, 'SubscriptionNotFound', f"The subscription '{sub}' could not be found.")


def invalid_parameter(message, target=None):
    return ArmError(400, 'InvalidParameter', message, target=target)


def operation_in_progress(operation, vm_name):
    return ArmError(
        409,
        'OperationNotAllowed',
        f"Operation '{operation}' is not allowed on VM '{vm_name}' since another operation is in progress.",
    )
