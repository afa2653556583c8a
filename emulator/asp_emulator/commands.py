"""The commands a workspace answers, in one table: :data:`COMMANDS`.

Each entry names how the command document is read (a parser of :mod:`asp_emulator.protocol`),
the :class:`Dispatcher` method that runs it, and whether it is an ASP command (an
authenticated ``atlasAdmin`` user, on ``admin``). To add a command: a request type and its
parser in ``protocol.py``, a handler here, its line in :data:`COMMANDS`, and the domain work
in ``processors.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from asp_emulator import control, protocol
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
    COMMAND_FAILED,
    COMMAND_NOT_FOUND,
    INVALID_NAMESPACE,
    OVERFLOW,
    UNAUTHORIZED,
    CommandError,
)
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.options import now
from asp_emulator.processors import ProcessorRegistry
from asp_emulator.protocol import (
    Create,
    Document,
    GetMoreSample,
    Listing,
    Modify,
    Named,
    NoArguments,
    Process,
    Reply,
    ReplyShape,
    Start,
    StartSample,
    Stats,
)
from asp_emulator.testing import Failure, ProcessorKnobs
from asp_emulator.wire import nesting_exceeds

MAX_WIRE_VERSION = 21  # MongoDB 7.0: inside what pymongo 4.13 to 4.20 accept
_AUTH_STEPS = frozenset({"saslStart", "saslContinue", "authenticate"})

R = TypeVar("R")


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


@dataclass(frozen=True)
class Command(Generic[R]):
    """One command: ``parse`` reads its document into a request, ``handler`` answers it;
    ``auth``: an ASP command (an authenticated ``atlasAdmin`` user, on ``admin``)."""

    parse: Callable[[Mapping[str, Any]], R]
    handler: Callable[[Dispatcher, Session, R], Reply]
    auth: bool = True
    emulator: bool = False
    """The emulator's own control command (:mod:`asp_emulator.control`), not Atlas's."""


class Dispatcher:
    """Runs a command document through its :data:`COMMANDS` entry; returns the reply."""

    def __init__(
        self,
        authenticator: Authenticator,
        registry: ProcessorRegistry,
        connections: Connections,
        *,
        workspace_name: str = "emulator",
        reply_shape: ReplyShape = "live",
        limits: Limits = DEFAULT_LIMITS,
        knobs: ProcessorKnobs | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.knobs = knobs
        self.registry = registry
        self.connections = connections
        self.workspace_name = workspace_name
        self.reply_shape: ReplyShape = reply_shape
        self.limits = limits
        self.commands: Mapping[str, Command[Any]] = COMMANDS

    async def dispatch(self, session: Session, command: dict[str, Any]) -> Reply:
        """Run ``command`` for ``session``; command errors become error replies. Stream
        processing commands and authentications go to the workspace's audit log."""
        name = next(iter(command), "")
        entry = self.commands.get(name)
        user_before = session.user
        try:
            if entry is None:
                raise CommandError(COMMAND_NOT_FOUND, f"no such command: '{name}'")
            depth = self.limits.max_nesting_depth
            if nesting_exceeds(command, depth):
                raise CommandError(
                    OVERFLOW,
                    f"{name}: documents are nested deeper than {depth} levels "
                    "(Limits.max_nesting_depth)",
                )
            if entry.auth:
                self._authorize(session, command, name)
            reply = entry.handler(self, session, entry.parse(command))
        except CommandError as exc:
            reply = exc.to_reply()
        self._audit(session, name, entry, command, reply, user_before)
        return reply

    def _audit(
        self,
        session: Session,
        name: str,
        entry: Command[Any] | None,
        command: Mapping[str, Any],
        reply: Reply,
        user_before: User | None,
    ) -> None:
        journal = self.registry.journal
        outcome = (
            "ok" if reply.get("ok") == 1 else f"error {reply.get('codeName', reply.get('code'))}"
        )
        if entry is not None and entry.auth and not entry.emulator:
            actor = session.user.name if session.user is not None else "(unauthenticated)"
            target = command.get(name)
            processor = target if isinstance(target, str) else None
            journal.audit(actor, name, outcome, processor, via="wire")
        elif user_before is None and session.user is not None:
            journal.audit(session.user.name, "authenticate", "ok", via="wire")
        elif name in _AUTH_STEPS and outcome != "ok":
            journal.audit("(unknown)", "authenticate", outcome, via="wire")

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

    # -- handshake and auth -------------------------------------------------------------
    def _hello(self, session: Session, command: Document) -> Reply:
        if isinstance(command.get("client"), Mapping):
            session.client_metadata = dict(command["client"])
        primary_key = "isWritablePrimary" if next(iter(command)) == "hello" else "ismaster"
        reply: Reply = {
            "helloOk": True,
            primary_key: True,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": self.limits.max_message_bytes,
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

    def _begin_sasl(self, session: Session, command: Mapping[str, Any], database: str) -> Reply:
        session.begin_authentication()
        conversation, reply = self.authenticator.start(command, database)
        session.conversation = conversation
        return reply

    def _sasl_start(self, session: Session, command: Document) -> Reply:
        return self._begin_sasl(session, command, str(command.get("$db", "admin")))

    def _sasl_continue(self, session: Session, command: Document) -> Reply:
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

    def _x509(self, session: Session, command: Mapping[str, Any], database: str) -> Reply:
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

    def _authenticate(self, session: Session, command: Document) -> Reply:
        reply = self._x509(session, command, str(command.get("$db", "admin")))
        return {**reply, "ok": 1.0}

    def _logout(self, session: Session, command: Document) -> Reply:
        session.user = None
        return protocol.ok()

    def _connection_status(self, session: Session, command: Document) -> Reply:
        users = []
        roles = []
        if session.user is not None:
            users.append({"user": session.user.name, "db": session.user.database})
            roles = [{"role": r, "db": "admin"} for r in session.user.roles]
        return {
            "authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles},
            "ok": 1.0,
        }

    def _ping(self, session: Session, command: Document) -> Reply:
        return protocol.ok()

    def _build_info(self, session: Session, command: Document) -> Reply:
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

    @property
    def _tier_default(self) -> str:
        return self.registry.defaults.default_tier

    def _create(self, session: Session, request: Create) -> Reply:
        self.registry.create(request, owner=self._owner(session))
        return protocol.ok()

    def _start(self, session: Session, request: Start) -> Reply:
        self.registry.start(request)
        return protocol.ok()

    def _stop(self, session: Session, request: Named) -> Reply:
        self.registry.stop(request.name)
        return protocol.ok()

    def _drop(self, session: Session, request: Named) -> Reply:
        self.registry.drop(request.name)
        return protocol.ok()

    def _get(self, session: Session, request: Named) -> Reply:
        info = protocol.processor_info(self.registry.get(request.name), self._tier_default)
        return protocol.info_reply(info, self.reply_shape)

    def _stats(self, session: Session, request: Stats) -> Reply:
        processor, stats = self.registry.stats(request)
        return protocol.stats_reply(self.workspace_name, processor, stats)

    def _start_sample(self, session: Session, request: StartSample) -> Reply:
        return protocol.cursor_reply(self.registry.start_sample(request))

    def _get_more(self, session: Session, request: GetMoreSample) -> Reply:
        batch, cursor_id = self.registry.get_more(request)
        return protocol.batch_reply(batch, cursor_id, self.reply_shape)

    def _modify(self, session: Session, request: Modify) -> Reply:
        self.registry.modify(request, owner=self._owner(session))
        return protocol.ok()

    def _list(self, session: Session, request: Listing) -> Reply:
        query = request.filter
        named = _names_only(query)
        if named is not None:  # by name, as an index would: not one match per processor
            visible = [p for p in self.registry.visible() if p.name in named]
            return protocol.processors_reply(
                [protocol.list_item(p, self._tier_default) for p in visible]
            )
        items = [protocol.list_item(p, self._tier_default) for p in self.registry.visible()]
        return protocol.processors_reply([i for i in items if _matches(query, i)])

    def _list_connections(self, session: Session, request: Listing) -> Reply:
        connections = self.connections.list()
        return protocol.connections_reply([c for c in connections if _matches(request.filter, c)])

    def _process(self, session: Session, request: Process) -> Reply:
        name, cursor_id = self.registry.process(request, owner=self._owner(session))
        return protocol.process_reply(name, cursor_id)

    def _defaults(self, session: Session, request: NoArguments) -> Reply:
        defaults = self.registry.defaults
        return protocol.defaults_reply(defaults.default_tier, defaults.max_tier)

    # -- the emulator's own control commands ----------------------------------------------
    def _fail_processor(self, session: Session, request: control.FailProcessor) -> Reply:
        if self.knobs is None:
            raise CommandError(COMMAND_NOT_FOUND, f"no such command: '{control.FAIL_PROCESSOR}'")
        failure = Failure(request.message, request.code, request.retryable)
        try:
            self.knobs.fail(request.name, failure, request.after_documents)
        except ValueError as exc:  # not STARTED
            raise CommandError(COMMAND_FAILED, f"{control.FAIL_PROCESSOR}: {exc}") from exc
        state = self.registry.get(request.name).state
        return {"ok": 1.0, "name": request.name, "state": state}


def _open(handler: Callable[[Dispatcher, Session, Document], Reply]) -> Command[Document]:
    """A command anyone may send (handshake, authentication, sessions); its handler reads
    the document itself."""
    return Command(protocol.document, handler, auth=False)


COMMANDS: Mapping[str, Command[Any]] = {
    # handshake, authentication, sessions: anyone may send them
    "hello": _open(Dispatcher._hello),
    "isMaster": _open(Dispatcher._hello),
    "ismaster": _open(Dispatcher._hello),
    "ping": _open(Dispatcher._ping),
    "buildInfo": _open(Dispatcher._build_info),
    "buildinfo": _open(Dispatcher._build_info),
    "endSessions": _open(Dispatcher._ping),
    "saslStart": _open(Dispatcher._sasl_start),
    "saslContinue": _open(Dispatcher._sasl_continue),
    "authenticate": _open(Dispatcher._authenticate),
    "logout": _open(Dispatcher._logout),
    "connectionStatus": _open(Dispatcher._connection_status),
    # the thirteen ASP commands: an atlasAdmin user, on admin
    "createStreamProcessor": Command(protocol.parse_create, Dispatcher._create),
    "startStreamProcessor": Command(protocol.parse_start, Dispatcher._start),
    "stopStreamProcessor": Command(protocol.parse_named, Dispatcher._stop),
    "dropStreamProcessor": Command(protocol.parse_named, Dispatcher._drop),
    "getStreamProcessor": Command(protocol.parse_named, Dispatcher._get),
    "getStreamProcessorStats": Command(protocol.parse_stats, Dispatcher._stats),
    "startSampleStreamProcessor": Command(protocol.parse_start_sample, Dispatcher._start_sample),
    "getMoreSampleStreamProcessor": Command(protocol.parse_get_more_sample, Dispatcher._get_more),
    "modifyStreamProcessor": Command(protocol.parse_modify, Dispatcher._modify),
    "listStreamProcessors": Command(protocol.parse_listing, Dispatcher._list),
    "listStreamConnections": Command(protocol.parse_listing, Dispatcher._list_connections),
    "processStreamProcessor": Command(protocol.parse_process, Dispatcher._process),
    "listWorkspaceDefaults": Command(protocol.parse_no_arguments, Dispatcher._defaults),
    # the emulator's own, never Atlas's: as authenticated as the ASP commands
    control.FAIL_PROCESSOR: Command(
        control.parse_fail_processor, Dispatcher._fail_processor, emulator=True
    ),
}
"""Every command the workspace answers, by name; anything else is CommandNotFound (59)."""

ASP_COMMANDS = frozenset(
    name for name, command in COMMANDS.items() if command.auth and not command.emulator
)
EMULATOR_COMMANDS = frozenset(name for name, command in COMMANDS.items() if command.emulator)
