"""Command dispatch: handshake, authentication and the thirteen ASP commands."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from asp_emulator.auth import ATLAS_ADMIN, Authenticator, Conversation
from asp_emulator.engine import Connections
from asp_emulator.errors import (
    AUTHENTICATION_FAILED,
    COMMAND_NOT_FOUND,
    INVALID_NAMESPACE,
    UNAUTHORIZED,
    CommandError,
)
from asp_emulator.processors import ProcessorRegistry, now, processor_name

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
    user: str | None = None
    conversation: Conversation | None = None
    client_metadata: dict[str, Any] = field(default_factory=dict)


def _filter(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CommandError(9, "filter must be a document")
    return dict(value)


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
    ) -> None:
        self.authenticator = authenticator
        self.registry = registry
        self.connections = connections
        self.workspace_name = workspace_name
        self.reply_shape: ReplyShape = reply_shape
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
            if name in ASP_COMMANDS:
                self._authorize(session, command, name)
            return await handler(session, command)
        except CommandError as exc:
            return exc.to_reply()

    def _authorize(self, session: Session, command: Mapping[str, Any], name: str) -> None:
        if session.user is None:
            raise CommandError(UNAUTHORIZED, f"command {name} requires authentication")
        if ATLAS_ADMIN not in self.authenticator.users[session.user].roles:
            raise CommandError(
                UNAUTHORIZED,
                f"not authorized on admin to execute command {name}: "
                f"user {session.user} lacks the {ATLAS_ADMIN} role",
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
        if isinstance(speculative, Mapping) and speculative.get("saslStart"):
            # on failure the client falls back to an explicit saslStart and gets the error there
            with contextlib.suppress(CommandError):
                reply["speculativeAuthenticate"] = self._begin_sasl(session, speculative)
        reply["ok"] = 1.0
        return reply

    def _begin_sasl(self, session: Session, command: Mapping[str, Any]) -> dict[str, Any]:
        conversation, reply = self.authenticator.start(command)
        session.conversation = conversation
        return reply

    async def _sasl_start(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self._begin_sasl(session, command)

    async def _sasl_continue(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        conversation = session.conversation
        if conversation is None:
            raise CommandError(AUTHENTICATION_FAILED, "No SASL session state found")
        try:
            reply = conversation.proceed(command)
        except CommandError:
            session.conversation = None
            raise
        if conversation.done:
            session.user = conversation.user
        return reply

    async def _logout(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        session.user = None
        return {"ok": 1.0}

    async def _connection_status(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        users = []
        roles = []
        if session.user is not None:
            users.append({"user": session.user, "db": "admin"})
            roles = [
                {"role": r, "db": "admin"} for r in self.authenticator.users[session.user].roles
            ]
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
    async def _create(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.create(command, owner=session.user or "")
        return {"ok": 1.0}

    async def _start(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        self.registry.start(command)
        return {"ok": 1.0}

    async def _stop(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        await self.registry.stop(command)
        return {"ok": 1.0}

    async def _drop(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        await self.registry.drop(command)
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
        self.registry.modify(command, owner=session.user or "")
        return {"ok": 1.0}

    async def _list(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        query = _filter(command.get("filter"))
        tier = self.registry.defaults.default_tier
        items = [p.list_item(tier) for p in self.registry.visible()]
        return {"ok": 1.0, "streamProcessors": [i for i in items if _matches(query, i)]}

    async def _list_connections(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        query = _filter(command.get("filter"))
        return {
            "ok": 1.0,
            "connections": [c for c in self.connections.list() if _matches(query, c)],
        }

    async def _process(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        return self.registry.process(command, owner=session.user or "")

    async def _defaults(self, session: Session, command: dict[str, Any]) -> dict[str, Any]:
        defaults = self.registry.defaults
        return {
            "ok": 1.0,
            "defaultTierSize": defaults.default_tier,
            "maxTierSize": defaults.max_tier,
        }
