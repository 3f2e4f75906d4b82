"""HTTPS server (HTTP/1.1 keep-alive, a thread per connection) and the request pipeline:
fault injection -> authentication -> api-version -> gateway throttle -> RBAC -> management locks -> Azure Policy
-> Compute throttle -> handler. (Locks and policy are Resource Manager's, evaluated before the resource provider
sees the request; their order after RBAC is [inferred].)"""

import re
import socket
import ssl
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import authorization, policy as azure_policy
from .auth import Entra
from .bootdiag import BootDiagnostics
from .capacity import Capacity
from .compute import Compute
from .control import Control
from .control_disks import DiskControl
from .disk_routes import Disks
from .errors import ArmError
from .health import Health
from .network import Network
from .resources import Resources
from .routing import Request, Response, Router
from .runcommand import RunCommands
from .storage import Storage
from .tags import Tags
from .vmcreate import VmLifecycle

API_VERSION = re.compile(r'^20\d\d-\d\d-\d\d(-preview)?$')


class App:
    def __init__(self, world):
        self.world = world
        self.router = Router()
        self.control_router = Router()
        self.entra = Entra(world)
        world.compute = Compute(world)
        world.entra = self.entra  # the control API rotates its signing key
        parts = (
            self.entra,
            Resources(world),
            world.compute,
            authorization.Authorization(world),
            azure_policy.Policy(world),
            Health(world),
            RunCommands(world),
            Tags(world),
            Disks(world),  # issue 23: disks, snapshots, networking, VM create / delete, boot diagnostics
            Network(world),
            VmLifecycle(world),
            BootDiagnostics(world),
            Capacity(world),  # issue 23: skus and usages
            Storage(world),  # last: a blob path never shadows an ARM or Entra one
        )
        for part in parts:
            part.register(self.router)
        DiskControl(world).register(self.control_router)  # before Control: its /_sim/vms/{id} pattern is greedy
        Control(world).register(self.control_router)

    # -- entry point ---------------------------------------------------------------------------------
    def handle(self, req):
        started = time.monotonic()
        world = self.world
        if req.path == '/_sim' or req.path.startswith('/_sim/'):
            with world.lock:
                world.advance()
                return self._dispatch(self.control_router, req)
        with world.lock:
            fault = world.faults.take(req.method, req.raw_path)
        if fault is not None and fault.kind == 'slow':
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == 'deallocate':
            with world.lock:  # someone else deallocates the VM just before this request arrives
                world.deallocate_addressed(req.path)
            fault = None
        if fault is not None and fault.kind == 'drop':
            world.log.add(req, 'dropped', None, time.monotonic() - started)
            return Response(drop=True)
        with world.lock:
            world.advance()
            resp = self._serve(req, fault)
        latency = float(world.config.get('latency_ms') or 0) / 1000.0
        if latency > 0:
            time.sleep(latency)
        world.log.add(req, resp.status, req.principal, time.monotonic() - started, headers=resp.headers)
        return resp

    def _dispatch(self, router, req):
        route, groups = router.match(req.method, req.path)
        if route is None:
            return Response.error(_no_route(req, groups))
        try:
            return route.handler(req, **groups)
        except ArmError as exc:
            return Response.error(exc)

    # -- ARM + Entra pipeline ------------------------------------------------------------------------
    def _serve(self, req, fault):
        world = self.world
        route, groups = self.router.match(req.method, req.path)
        extra = {
            'x-ms-request-id': str(uuid.uuid4()),
            'x-ms-correlation-request-id': str(uuid.uuid4()),
            'Cache-Control': 'no-cache',
        }
        counter = None
        try:
            if route is None:
                raise _no_route(req, groups)
            req.route_kind = route.kind
            counter = route.options.get('counter') or _default_counter(route, req.method)
            if counter == 'token':
                req.principal = req.form().get('client_id') or None
            if fault is not None and fault.kind == 'operation_fails':
                req.operation_fault = fault  # served (accepted) as usual; its long-running operation fails
            elif fault is not None:
                raise fault.error()
            if route.options.get('auth', not route.kind.startswith('entra')):
                extra.update(self._admit(req, route, groups))
            resp = route.handler(req, **groups)
        except ArmError as exc:
            resp = Response.error(exc)
        for key, value in extra.items():
            resp.headers.setdefault(key, value)
        world.counters.count(counter, req.principal, req.route_kind)
        if resp.status == 429:
            world.counters.count('throttled', req.principal, req.route_kind)
        return resp

    def _admit(self, req, route, groups):
        """Checks every ARM request passes before its handler; returns headers to add."""
        world = self.world
        claims = self.entra.authenticate(req)
        req.principal = claims.get('appid')
        if route.options.get('api_version', True):
            version = req.api_version
            if not version:
                raise ArmError(
                    400,
                    'MissingApiVersionParameter',
                    'The api-version query parameter (?api-version=) is required for all requests.',
                )
            if not API_VERSION.match(version):
                raise ArmError(
                    400,
                    'InvalidApiVersionParameter',
                    f"The api-version '{version}' is invalid. The supported versions are "
                    "'2026-04-01,2025-04-01,2024-11-01,2024-07-01,2024-03-01,2023-09-01'.",
                )
        headers = {}
        sub = groups.get('sub')
        now = world.now()
        if sub:
            kind = {'GET': 'read', 'HEAD': 'read', 'DELETE': 'delete'}.get(req.method, 'write')
            headers.update(world.throttle.gateway(sub, claims.get('oid') or req.principal, kind, now))
        scope = req.path
        for _ in range(route.options.get('scope_strip', 0)):
            scope = scope.rsplit('/', 1)[0]
        try:
            action = route.options.get('action')
            if action:
                self.entra.authorize(claims, action.format(**groups), scope)
            authorization.check_locks(world, req)
            azure_policy.check_write(world, req, route)
            policy = route.options.get('policy')
            if policy and sub:
                headers.update(world.throttle.compute(policy, sub, scope, now))
        except ArmError as exc:
            exc.headers = dict(headers, **exc.headers)
            raise
        return headers


def _default_counter(route, method):
    if route.kind.startswith('entra') or route.kind == 'metadata':
        return None
    return 'read' if method in ('GET', 'HEAD') else 'write'


def _no_route(req, allowed):
    if allowed:
        return ArmError(405, 'MethodNotAllowed', f"The requested resource does not support http method '{req.method}'.")
    if req.path.lower().startswith('/subscriptions/') and '/providers/' in req.path.lower():
        return ArmError(
            404, 'InvalidResourceType', f"The resource type could not be found for the path '{req.path}' (armsim)."
        )
    return ArmError(404, 'NotFound', f"No route for '{req.method} {req.path}' (armsim).")


class IncompleteRequest(Exception):
    """The client closed the connection before the whole request body arrived."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'armsim/1.0'
    sys_version = ''
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
        pass

    def _read_exact(self, size):
        """``size`` bytes of the body, or IncompleteRequest when the client went away first. RFC 9112 section 6.3:
        a message whose connection closes before its Content-Length (or last chunk) is incomplete; a server does not
        act on it, and neither does Resource Manager (a killed client's half-sent PATCH changes nothing)."""
        data = self.rfile.read(size)
        if len(data) < size:
            raise IncompleteRequest()
        return data

    def _read_body(self):
        if (self.headers.get('Transfer-Encoding') or '').lower() == 'chunked':
            chunks = []
            while True:
                line = self.rfile.readline()
                if not line:
                    raise IncompleteRequest()
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return b''.join(chunks)
                chunks.append(self._read_exact(size))
                self.rfile.readline()
        length = int(self.headers.get('Content-Length') or 0)
        return self._read_exact(length) if length else b''

    def _handle(self):
        try:
            body = self._read_body()
        except IncompleteRequest:  # never seen whole: not processed, not logged (it never reached the service)
            self.close_connection = True
            return
        req = Request(self.command, self.path, self.headers, body)
        resp = self.server.app.handle(req)
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # A HEAD answer has the headers a GET would have, Content-Length included, and no body (RFC 9110 sections
        # 9.3.2 and 8.6; Azure Storage's Get Blob Properties says Content-Length is "the size of the blob in bytes").
        body = resp.payload()
        payload = b'' if self.command == 'HEAD' else body
        self.send_response(resp.status)
        if body:
            self.send_header('Content-Type', resp.content_type)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(body)))
        # Headers and body in one write: two small writes meet Nagle + delayed ACK (~40 ms per response).
        self._headers_buffer.extend([b'\r\n', payload])
        self.flush_headers()

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = do_HEAD = _handle


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address, app, cert_file, key_file):
        self.app = app
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(cert_file, key_file)
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, not in the accept loop.
        request.settimeout(Handler.timeout)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # connection resets and timeouts are routine; never print request data
