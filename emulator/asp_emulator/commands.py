"""Command dispatch: handshake, authentication and the thirteen ASP commands."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from asp_emulator.auth import (
    ATLAS_ADMIN,
    X509,
    X509_DATABASE,
    Authenticator,
    Conversation,
    User,
)
from asp_emulator.engine import Connections
from asp_emulator.errors import (
    AUTHENTICATION_FAILED,
    COMMAND_NOT_FOUND,
    INVALID_NAMESPACE,
    OVERFLOW,
    UNAUTHORIZED,
    CommandError,
)
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.options import now, processor_name
from asp_emulator.processors import ProcessorRegistry
from asp_emulator.wire import nesting_exceeds

ReplyShape = Literal["live", "spec"]
REPLY_SHAPES = ("live", "spec")

MAX_WIRE_VERSION = 21  # MongoDB 7.0: inside what pymongo 4.13 to 4.20 accept
ASP_COMMANDS = frozenset(
    {
        "createStreamProcessor",
        "startStreamProcessor",
        "stopStreamProcessor",
        "dropStreamProcessor",
        "getStreamProcessor",
        "getStreamProcessorStats",
        "startSampleStreamProcessor",
        "getMoreSampleStreamProcessor",
        "modifyStreamProcessor",
        "listStreamProcessors",
        "listStreamConnections",
        "processStreamProcessor",
        "listWorkspaceDefaults",
    }
)


@dataclass
class Session:
    """Per-connection state: who is authenticated, which SASL conversation is open."""

    connection_id: int
    user: User | None = None
    conversation: Conversation | None = None
    client_metadata: dict[str, Any] = field(default_factory=dict)
    peer_subject: str | None = None
    """The verified client certificate's subject (RFC 2253), if the client presented one."""
    auth_started: float | None = None
    """When (``time.monotonic()``) the connection began authenticating."""

    def begin_authentication(self) -> None:
        """An authentication step arrived: the authentication deadline runs from the first."""
        if self.auth_started is None:
            self.auth_started = time.monotonic()

    def authenticated(self, user: User) -> None:
        """``user`` is now authenticated on this connection."""
        self.user = user
        self.conversation = None
        self.auth_started = None

    def auth_expired(self, timeout: float) -> bool:
        """Whether authentication began more than ``timeout`` seconds ago and never succeeded."""
        return (
            self.user is None
            and self.auth_started is not None
            and time.monotonic() - self.auth_started > timeout
        )


def _filter(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CommandError(9, "filter must be a document")
    return dict(value)


def _names_only(query: dict[str, Any]) -> frozenset[str] | None:
    """The names a filter of the form ``{"name": <string>}`` or ``{"name": {"$in": [<string>,
    ...]}}`` selects; None for any other filter."""
    if list(query) != ["name"]:
        return None
    value = query["name"]
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, Mapping) and list(value) == ["$in"]:
        names = value["$in"]
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return frozenset(names)
    return None


def _matches(query: dict[str, Any], doc: dict[str, Any]) -> bool:
    if not query:
        return True
    from mongomock.filtering import filter_applies

    try:
        return bool(filter_applies(query, doc))
    except Exception as exc:  # mongomock raises assorted errors for bad queries
        raise CommandError(9, f"invalid filter: {exc}") from exc


class Dispatcher:
    """Routes a command document to its handler and returns the reply document."""

    def __init__(
        self,
        authenticator: Authenticator,
        registry: ProcessorRegistry,
        connections: Connections,
        *,
        workspace_name: str = "emulator",
        reply_shape: ReplyShape = "live",
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.authenticator = authenticator
        self.registry = registry
        self.connections = connections
        self.workspace_name = workspace_name
        self.reply_shape: ReplyShape = reply_shape
        self.limits = limits
        self._handlers: dict[
            str, Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any]]]
        ] = {
            "hello": self._hello,
            "isMaster": self._hello,
            "ismaster": self._hello,
            "ping": self._ping,
            "buildInfo": self._build_info,
            "buildinfo": self._build_info,
            "endSessions": self._ping,
            "saslStart": self._sasl_start,
            "saslContinue": self._sasl_continue,
            "authenticate": self._authenticate,
            "logout": self._logout,
            "connectionStatus": self._connection_status,
            "createStreamProcessor": self._create,
            "startStreamProcessor": self._start,
            "stopStreamProcessor": self._stop,
            "dropStreamProcessor": self._drop,
            "getStreamProcessor": self._get,
            "getStreamProcessorStats": self._stats,
            "startSampleStreamProcessor": self._start_sample,
            "getMoreSampleStreamProcessor": self._get_more,
            "modifyStreamProcessor": self._modify,
            "listStreamProcessors": self._list,
            "listStreamConnections": self._list_connections,
            "processStreamProcessor": self._process,
            "listWorkspaceDefaults": self._defaults,
        }

    async def dispatch(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        """Run ``command`` for ``session``; command errors become error replies."""
        name = next(iter(command), "")
        handler = self._handlers.get(name)
        try:
            if handler is None:
                raise CommandError(COMMAND_NOT_FOUND, f"no such command: '{name}'")
            depth = self.limits.max_nesting_depth
            if nesting_exceeds(command, depth):
                raise CommandError(
                    OVERFLOW,
                    f"{name}: documents are nested deeper than {depth} levels "
                    "(Limits.max_nesting_depth)",
                )
            if name in ASP_COMMANDS:
                self._authorize(session, command, name)
            return await handler(session, command)
        except CommandError as exc:
            return exc.to_reply()

    def _authorize(self, session: Session, command: Mapping[str, Any], name: str) -> None:
        if session.user is None:
            raise CommandError(UNAUTHORIZED, f"command {name} requires authentication")
        if ATLAS_ADMIN not in session.user.roles:
            raise CommandError(
                UNAUTHORIZED,
                f"not authorized on admin to execute command {name}: "
                f"user {session.user.name} lacks the {ATLAS_ADMIN} role",
            )
        database = command.get("$db", "admin")
        if database != "admin":
            raise CommandError(
                INVALID_NAMESPACE, f"{name} must run on the admin database, not {database!r}"
            )

    def _wrap_info(self, info: dict[str, Any]) -> dict[str, Any]:
        if self.reply_shape == "live":
            return {"ok": 1.0, "result": info}
        return {**info, "ok": 1.0}

    # -- handshake and auth -------------------------------------------------------------
    async def _hello(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        if isinstance(command.get("client"), Mapping):
            session.client_metadata = dict(command["client"])
        primary_key = "isWritablePrimary" if next(iter(command)) == "hello" else "ismaster"
        reply: dict[str, Any] = {
            "helloOk": True,
            primary_key: True,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": now(),
            "connectionId": session.connection_id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }
        mechs_for = command.get("saslSupportedMechs")
        if isinstance(mechs_for, str):
            reply["saslSupportedMechs"] = self.authenticator.supported_mechanisms(mechs_for)
        speculative = command.get("speculativeAuthenticate")
        if isinstance(speculative, Mapping):
            # on failure the client falls back to an explicit step and gets the error there
            with contextlib.suppress(CommandError):
                if speculative.get("saslStart"):
                    database = str(speculative.get("db", command.get("$db", "admin")))
                    reply["speculativeAuthenticate"] = self._begin_sasl(
                        session, speculative, database
                    )
                elif speculative.get("authenticate"):
                    reply["speculativeAuthenticate"] = self._x509(
                        session, speculative, X509_DATABASE
                    )
        reply["ok"] = 1.0
        return reply

    def _begin_sasl(
        self, session: Session, command: Mapping[str, Any], database: str
    ) -> dict[str, Any]:
        session.begin_authentication()
        conversation, reply = self.authenticator.start(command, database)
        session.conversation = conversation
        return reply

    async def _sasl_start(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self._begin_sasl(session, command, str(command.get("$db", "admin")))

    async def _sasl_continue(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        session.begin_authentication()
        conversation = session.conversation
        if conversation is None:
            raise CommandError(AUTHENTICATION_FAILED, "No SASL session state found")
        try:
            reply = conversation.proceed(command)
        except CommandError:
            session.conversation = None
            raise
        if conversation.user is not None:
            session.authenticated(conversation.user)
        return reply

    def _x509(self, session: Session, command: Mapping[str, Any], database: str) -> dict[str, Any]:
        session.begin_authentication()
        mechanism = command.get("mechanism")
        if mechanism != X509:
            raise CommandError(2, f"authenticate: unsupported mechanism {mechanism!r}")
        if database != X509_DATABASE:
            raise CommandError(
                AUTHENTICATION_FAILED, "X.509 authentication must use the $external database"
            )
        user = self.authenticator.x509(session.peer_subject, command.get("user"))
        session.authenticated(user)
        return {"dbname": X509_DATABASE, "user": user.name}

    async def _authenticate(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        reply = self._x509(session, command, str(command.get("$db", "admin")))
        return {**reply, "ok": 1.0}

    async def _logout(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        session.user = None
        return {"ok": 1.0}

    async def _connection_status(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        users = []
        roles = []
        if session.user is not None:
            users.append({"user": session.user.name, "db": session.user.database})
            roles = [{"role": r, "db": "admin"} for r in session.user.roles]
        return {
            "authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles},
            "ok": 1.0,
        }

    async def _ping(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return {"ok": 1.0}

    async def _build_info(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "7.0.0",
            "versionArray": [7, 0, 0, 0],
            "gitVersion": "airflow-provider-asp-emulator",
            "modules": ["atlas-stream-processing-emulator"],
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "ok": 1.0,
        }

    # -- ASP ----------------------------------------------------------------------------
    @staticmethod
    def _owner(session: Session) -> str:
        return session.user.name if session.user is not None else ""

    async def _create(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.create(command, owner=self._owner(session))
        return {"ok": 1.0}

    async def _start(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.start(command)
        return {"ok": 1.0}

    async def _stop(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.stop(command)
        return {"ok": 1.0}

    async def _drop(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.drop(command)
        return {"ok": 1.0}

    async def _get(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        processor = self.registry.get(processor_name(command, "getStreamProcessor"))
        return self._wrap_info(processor.info(self.registry.defaults.default_tier))

    async def _stats(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self.registry.stats(command, self.workspace_name)

    async def _start_sample(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self.registry.start_sample(command)

    async def _get_more(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self.registry.get_more(
            command, "messages" if self.reply_shape == "live" else "nextBatch"
        )

    async def _modify(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.modify(command, owner=self._owner(session))
        return {"ok": 1.0}

    async def _list(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        query = _filter(command.get("filter"))
        tier = self.registry.defaults.default_tier
        named = _names_only(query)
        if named is not None:  # by name, as an index would: not one match per processor
            visible = [p for p in self.registry.visible() if p.name in named]
            return {"ok": 1.0, "streamProcessors": [p.list_item(tier) for p in visible]}
        items = [p.list_item(tier) for p in self.registry.visible()]
        return {"ok": 1.0, "streamProcessors": [i for i in items if _matches(query, i)]}

    async def _list_connections(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        query = _filter(command.get("filter"))
        return {
            "ok": 1.0,
            "connections": [c for c in self.connections.list() if _matches(query, c)],
        }

    async def _process(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self.registry.process(command, owner=self._owner(session))

    async def _defaults(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        defaults = self.registry.defaults
        return {
            "ok": 1.0,
            "defaultTierSize": defaults.default_tier,
            "maxTierSize": defaults.max_tier,
        }
