"""The emulated Admin API over HTTPS: an aiohttp web server in the wire server's event loop,
with the same TLS context, on 127.0.0.1.

Each request goes through, in order: the outer layer (aiohttp's own refusals and any
internal error become Atlas error documents; the exchange is handed to
:mod:`~asp_emulator.admin.exchanges` observers), faults, authentication (Bearer or Digest; 401), the
version in ``Accept`` (406 naming the versions the endpoint serves), the role (403 for a
read-only role's writes), the body's ``Content-Type`` (415), then the handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BasicAuth, web

from asp_emulator.admin import bodies, exchanges, queries, streams
from asp_emulator.admin.credentials import ROLES, Credential, Credentials
from asp_emulator.admin.errors import ApiError, error_response
from asp_emulator.admin.faults import AdminFaults
from asp_emulator.admin.listener import Listener
from asp_emulator.admin.project import Project
from asp_emulator.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)

V1 = "2023-02-01"
V_SAMPLE = "2024-08-05"
GROUP = "/api/atlas/v2/groups/{groupId}"
#: route name -> (path, the versions it serves)
ROUTES = {
    "workspaces": (f"{GROUP}/streams", (V1,)),
    "with_sample": (f"{GROUP}/streams:withSampleConnections", (V_SAMPLE,)),
    "workspace": (f"{GROUP}/streams/{{tenantName}}", (V1,)),
    "connections": (f"{GROUP}/streams/{{tenantName}}/connections", (V1,)),
    "connection": (f"{GROUP}/streams/{{tenantName}}/connections/{{connectionName}}", (V1,)),
}
ROUTES = {**streams.ROUTES, **ROUTES}  # processors and logs first (their ``:verb`` paths)
TOKEN_PATH = "/api/oauth/token"
MAX_BODY = 1024 * 1024
_VERSION = re.compile(r"application/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+(json|gzip)")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CREDENTIAL: web.RequestKey[Credential] = web.RequestKey("credential", Credential)
VERSION: web.RequestKey[str] = web.RequestKey("version", str)


class AdminServer:
    """Serves :class:`Project` to clients holding :class:`Credentials`."""

    def __init__(
        self,
        project: Project,
        credentials: Credentials,
        faults: AdminFaults,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.project = project
        self.credentials = credentials
        self.faults = faults
        self.limits = limits
        self.request_counts: dict[str, int] = {}
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.listener: Listener | None = None

    async def start(self, context: ssl.SSLContext) -> int:
        """Listen on 127.0.0.1 (a free port); returns the port."""
        self._closing = asyncio.Event()
        app = web.Application(
            middlewares=[self._outer, self._faults, self._authenticate, self._check],
            client_max_size=MAX_BODY,
        )
        app.router.add_post(TOKEN_PATH, self._token, name="token")
        for name, (path, _) in ROUTES.items():
            app.router.add_route("*", path, self._dispatch, name=name)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handle_signals=False
        )
        await self._runner.setup()
        self.listener = Listener(self._runner, context, self.limits)
        return await self.listener.start()

    async def close(self) -> None:
        """Answer silent requests (503) and stop listening."""
        if self._closing is not None:
            self._closing.set()
        if self.listener is not None:
            await self.listener.close()
        await self.project.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- middlewares ------------------------------------------------------------------------
    @web.middleware
    async def _outer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            try:  # the whole body first, before authentication (limits: size and time)
                if request.can_read_body:
                    await request.read()
            finally:
                if self.listener is not None:
                    self.listener.read(request.protocol)
            response = await handler(request)
        except ConnectionError:  # the client went away, or missed its deadline
            return web.Response(status=408)
        except web.HTTPException as exc:  # the router's 404/405, a body over client_max_size
            response = _refusal(exc)
        except Exception:
            log.exception("internal error answering %s %s", request.method, request.path)
            response = error_response(500, "UNEXPECTED_ERROR", "Unexpected error.")
        if self.listener is not None:
            self.listener.answered(request.protocol)
        if exchanges.observing():
            body = response.body if isinstance(response, web.Response) else None
            exchanges.notify(
                exchanges.Exchange(
                    request.method,
                    request.path,
                    tuple(request.query.items()),
                    dict(request.headers),
                    response.status,
                    dict(response.headers),
                    body if isinstance(body, bytes) else None,
                    request.match_info.route.name,
                )
            )
        return response

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        key = f"{request.method} {route}"
        self.request_counts[key] = self.request_counts.get(key, 0) + 1
        for effect in self.faults.due(request.method, request.path):
            await effect()  # an earlier request's, landing now
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return await handler(request)
        if fault.silent:
            assert self._closing is not None
            await self._closing.wait()
            return error_response(503, "SERVICE_UNAVAILABLE", "The emulator is stopping.")
        if fault.late_effect:
            self.faults.defer(request.method, request.path, lambda: handler(request))
        elif fault.after_effect:
            await handler(request)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        code = "RATE_LIMITED" if fault.status == 429 else "UNEXPECTED_ERROR"
        return error_response(fault.status, code, "Injected fault.", headers=headers)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name == "token":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        cred: Credential | None = None
        if scheme.lower() == "bearer":
            cred = self.credentials.bearer(value.strip())
        elif scheme.lower() == "digest":
            cred = self.credentials.digest(request.method, request.path_qs, value)
        if cred is None:
            detail = "You are not authorized for this resource."
            return error_response(
                401,
                "UNAUTHORIZED",
                detail,
                headers={"WWW-Authenticate": self.credentials.challenge()},
            )
        request[CREDENTIAL] = cred
        return await handler(request)

    @web.middleware
    async def _check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name
        if route not in ROUTES:
            return await handler(request)
        served = ROUTES[route][1]
        kind = "gzip" if route in streams.GZIP_ROUTES else "json"
        asked = [v for v, k in _VERSION.findall(request.headers.get("Accept", "")) if k == kind]
        version = next((v for v in asked if v in served), None)
        if version is None:
            media = ", ".join(f"application/vnd.atlas.{v}+{kind}" for v in served)
            said = f"version {', '.join(asked)}" if asked else "no version"
            return error_response(
                406,
                "INVALID_VERSION_DATE",
                f"The Accept header names {said}; this endpoint serves {media}.",
            )
        request[VERSION] = version
        if request.method != "GET" and not ROLES[request[CREDENTIAL].role]:
            return error_response(
                403,
                "USER_UNAUTHORIZED",
                "This action requires the Project Owner or Project Stream Processing Owner role.",
            )
        if request.match_info.get("groupId") != self.project.project_id:
            return error_response(404, "GROUP_NOT_FOUND", "No project with that ID.")
        if request.body_exists and request.content_type != f"application/vnd.atlas.{version}+json":
            return error_response(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send Content-Type: application/vnd.atlas.{version}+json.",
            )
        return await handler(request)

    # -- handlers ----------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.StreamResponse:
        try:
            basic = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            basic = None
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = basic and self.credentials.issue_token(basic.login, basic.password)
        if not token:
            return web.json_response({"error": "invalid_client"}, status=401)
        ttl = int(self.credentials.token_ttl)
        return web.json_response({"access_token": token, "expires_in": ttl, "token_type": "Bearer"})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        route = request.match_info.route.name
        assert route is not None
        ws = request.match_info.get("tenantName", "")
        conn = request.match_info.get("connectionName", "")
        media = f"application/vnd.atlas.{request[VERSION]}+json"
        project = self.project
        if route in streams.ROUTES:
            try:
                body = await _body(request) if request.body_exists else {}
                actor = request[CREDENTIAL].id
                return await streams.handle(project, request, route, request[VERSION], body, actor)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.detail, exc.parameters)
        try:
            body = await _body(request)
            status, result = 200, None
            match route, request.method:
                case "workspaces", "GET":
                    result = queries.page(request.query, project.list_workspaces())
                case "workspaces", "POST":
                    result = await project.create_workspace(body, sample=False)
                case "with_sample", "POST":
                    result = await project.create_workspace(body, sample=True)
                case "workspace", "GET":
                    include = queries.flag(request.query, "includeConnections", False)
                    result = project.workspace(ws, include_connections=include)
                case "workspace", "PATCH":
                    result = project.update_workspace(ws, body)
                case "workspace", "DELETE":
                    project.delete_workspace(ws)
                    status = 202
                case "connections", "GET":
                    result = queries.page(request.query, project.connections(ws))
                case "connections", "POST":
                    result = project.create_connection(ws, body)
                case "connection", "GET":
                    result = project.connection(ws, conn)
                case "connection", "PATCH":
                    result = project.update_connection(ws, conn, body)
                case "connection", "DELETE":
                    project.delete_connection(ws, conn)
                    status = 202
                case _:
                    raise ApiError(
                        405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here."
                    )
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.detail, exc.parameters)
        if result is None:
            return web.Response(status=status, content_type=media, text="{}")
        return web.Response(status=status, content_type=media, text=json.dumps(result))


def _refusal(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusal as Atlas's error document."""
    codes = {
        404: ("RESOURCE_NOT_FOUND", "Cannot find resource."),
        405: ("METHOD_NOT_ALLOWED", "The method is not allowed on this resource."),
        413: ("REQUEST_TOO_LARGE", f"The body is larger than {MAX_BODY:,} bytes."),
    }
    code, detail = codes.get(exc.status, ("INVALID_REQUEST", exc.reason))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    return error_response(exc.status, code, detail, headers=headers)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.method not in ("POST", "PATCH"):
        return {}
    return bodies.parse(await request.read())
