"""Request/Response objects and a small case-insensitive regex router."""

import json
import re
from urllib.parse import parse_qsl

from .errors import ArmError

# Building blocks of ARM paths (matched case-insensitively).
SUB = r'/subscriptions/(?P<sub>[^/]+)'
RG = SUB + r'/resourcegroups/(?P<rg>[^/]+)'
COMPUTE = r'/providers/microsoft\.compute'
VM = RG + COMPUTE + r'/virtualmachines/(?P<vm>[^/]+)'
VMSS = RG + COMPUTE + r'/virtualmachinescalesets/(?P<ss>[^/]+)'
INSTANCE = VMSS + r'/virtualmachines/(?P<inst>[^/]+)'


class Request:
    def __init__(self, method, raw_path, headers, body=b''):
        self.method = method.upper()
        self.raw_path = raw_path
        path, _, query = raw_path.partition('?')
        self.path = path.rstrip('/') or '/'
        self.query = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        self.headers = headers  # email.message.Message: case-insensitive get()
        self.body = body
        self.principal = None  # set by auth for ARM requests
        self.route_kind = None
        self.counter_kind = None

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise ArmError(
                400, 'InvalidRequestContent', f'The request content was invalid and could not be deserialized: {exc}'
            ) from None
        if not isinstance(data, dict):
            raise ArmError(400, 'InvalidRequestContent', 'The request content must be a JSON object.')
        return data

    def form(self):
        return dict(parse_qsl(self.body.decode('utf-8', 'replace'), keep_blank_values=True))

    @property
    def api_version(self):
        return self.query.get('api-version')


class Response:
    def __init__(self, status=200, body=None, headers=None, drop=False, content_type='application/json; charset=utf-8'):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.drop = drop
        self.content_type = content_type

    @classmethod
    def error(cls, err: ArmError):
        return cls(err.status, err.body(), err.headers)

    def payload(self):
        if self.body is None:
            return b''
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class Route:
    def __init__(self, method, pattern, handler, kind, **options):
        self.method = method
        self.regex = re.compile('^' + pattern + '$', re.IGNORECASE)
        self.handler = handler
        self.kind = kind
        self.options = options


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, handler, kind, **options):
        self.routes.append(Route(method, pattern, handler, kind, **options))

    def match(self, method, path):
        """Return (route, groups) or (None, allowed_methods) when only the method differs."""
        allowed = []
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method == method:
                return route, m.groupdict()
            allowed.append(route.method)
        return None, allowed
