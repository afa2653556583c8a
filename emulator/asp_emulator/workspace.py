"""``Workspace``: a local Atlas Stream Processing workspace, served in a background thread."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from asp_emulator import wire
from asp_emulator.auth import Authenticator, UserSpec, parse_users
from asp_emulator.commands import REPLY_SHAPES, Dispatcher, ReplyShape
from asp_emulator.engine import Connections
from asp_emulator.faults import Fault, Faults
from asp_emulator.processors import ProcessorRegistry, WorkspaceDefaults
from asp_emulator.server import Server
from asp_emulator.tls import TlsFiles, make_certificates, server_context

T = TypeVar("T")

DEFAULT_USERS: Mapping[str, UserSpec] = {"admin": "admin-password"}
_CALL_TIMEOUT = 30.0


class Workspace:
    """A local ASP workspace that real pymongo connects to over TLS.

    ``users`` maps each user name to a password (the user gets ``atlasAdmin``) or to
    ``(password, [roles])``. The first user's credentials go into :attr:`uri`.

    >>> with Workspace(users={"admin": "secret"}) as ws:            # doctest: +SKIP
    ...     MongoClient(ws.uri).admin.command({"listStreamProcessors": 1})
    """

    def __init__(
        self,
        users: Mapping[str, UserSpec] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_shape: ReplyShape = "live",
        tls_cert_key_file: str | None = None,
        tls_ca_file: str | None = None,
        solar_rate: float = 20.0,
        connections: Iterable[str] = (),
        default_tier: str = "SP10",
        max_tier: str = "SP50",
        workspace_name: str = "emulator",
        process_ttl: float = 600.0,
    ) -> None:
        if reply_shape not in REPLY_SHAPES:
            raise ValueError(f"reply_shape must be one of {REPLY_SHAPES}, not {reply_shape!r}")
        if (tls_cert_key_file is None) != (tls_ca_file is None):
            raise ValueError("give both tls_cert_key_file and tls_ca_file, or neither")
        self._users = parse_users(users if users is not None else DEFAULT_USERS)
        if not self._users:
            raise ValueError("a workspace needs at least one user")
        self.host = host
        self._requested_port = port
        self.port = 0
        self._tls_given = (
            TlsFiles(tls_cert_key_file, tls_ca_file) if tls_cert_key_file and tls_ca_file else None
        )
        self._tmpdir: str | None = None
        self.tls: TlsFiles | None = None
        self.connections = Connections(solar_rate=solar_rate)
        for name in connections:
            self.connections.add(name)
        self.faults = Faults()
        self._defaults = WorkspaceDefaults(default_tier, max_tier)
        self._registry = ProcessorRegistry(
            self.connections, self._defaults, process_ttl=process_ttl
        )
        self._dispatcher = Dispatcher(
            Authenticator(self._users),
            self._registry,
            self.connections,
            workspace_name=workspace_name,
            reply_shape=reply_shape,
        )
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Workspace:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("workspace already started")
        if self._tls_given is None:
            self._tmpdir = tempfile.mkdtemp(prefix="asp-emulator-")
            self.tls = make_certificates(self._tmpdir)
        else:
            self.tls = self._tls_given
        self._server = Server(self._dispatcher, self.faults, server_context(self.tls))
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                assert self._server is not None
                self.port = loop.run_until_complete(
                    self._server.start(self.host, self._requested_port)
                )
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name="asp-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            self._cleanup_files()
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        await self._registry.shutdown()
        if self._server is not None:
            await self._server.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        """Stop processors, close connections and the port, remove generated files."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._thread = None
        self._loop = None
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Workspace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the workspace is serving."""
        return self._thread is not None and self._thread.is_alive()

    # -- where and who ------------------------------------------------------------------
    @property
    def username(self) -> str:
        """The first user's name (the one in :attr:`uri`)."""
        return next(iter(self._users))

    @property
    def password(self) -> str:
        """The first user's password."""
        return self._users[self.username].password

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the server certificate."""
        if self.tls is None:
            raise RuntimeError("workspace not started")
        return self.tls.ca_file

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return self.host, self.port

    def uri_for(self, username: str | None = None, password: str | None = None) -> str:
        """A ``mongodb://`` URI with TLS options and these credentials (default: first user)."""
        user = username if username is not None else self.username
        secret = password if password is not None else self._users[user].password
        query = urlencode({"tls": "true", "tlsCAFile": self.ca_file, "authSource": "admin"})
        credentials = f"{quote(user, safe='')}:{quote(secret, safe='')}"
        return f"mongodb://{credentials}@{self.host}:{self.port}/?{query}"

    @property
    def uri(self) -> str:
        """A URI pymongo accepts as is: first user's credentials, TLS with :attr:`ca_file`."""
        return self.uri_for()

    def airflow_connection(
        self, username: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        """An Airflow connection (type ``asp``) to this workspace, as the JSON form's dict.

        Use ``json.dumps(ws.airflow_connection())`` as ``AIRFLOW_CONN_ASP_DEFAULT``.
        """
        user = username if username is not None else self.username
        return {
            "conn_type": "asp",
            "host": self.host,
            "port": self.port,
            "login": user,
            "password": password if password is not None else self._users[user].password,
            "extra": {"tls_ca_file": self.ca_file},
        }

    def airflow_connection_uri(
        self, username: str | None = None, password: str | None = None
    ) -> str:
        """The same connection as an Airflow URI: ``asp://user:pass@host:port/?tls_ca_file=...``."""
        conn = self.airflow_connection(username, password)
        credentials = f"{quote(conn['login'], safe='')}:{quote(conn['password'], safe='')}"
        query = urlencode(conn["extra"])
        return f"asp://{credentials}@{self.host}:{self.port}/?{query}"

    # -- inspection and control from tests ----------------------------------------------
    def _call(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._loop is None:
            raise RuntimeError("workspace not started")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(_CALL_TIMEOUT)

    def processors(self) -> dict[str, str]:
        """``{name: state}`` of the persistent processors."""

        async def read() -> dict[str, str]:
            return {p.name: p.state for p in self._registry.visible()}

        return self._call(read)

    def processor(self, name: str) -> dict[str, Any]:
        """The processor's ``getStreamProcessor`` document."""

        async def read() -> dict[str, Any]:
            return self._registry.get(name).info(self._defaults.default_tier)

        return self._call(read)

    def stats(self, name: str, *, verbose: bool = False) -> dict[str, Any]:
        """The processor's stats document."""

        async def read() -> dict[str, Any]:
            command = {"getStreamProcessorStats": name, "options": {"verbose": verbose}}
            return self._registry.stats(command, self._dispatcher.workspace_name)["stats"]

        return self._call(read)

    def add_connection(self, name: str, type: str = "inmemory") -> None:
        """Add a named in-memory connection that processors can read and tests can feed."""
        self.connections.add(name, type)

    def feed(
        self, connection: str, docs: Iterable[Mapping[str, Any]], topic: str | None = None
    ) -> None:
        """Append documents to an in-memory connection (a topic, if given)."""
        self.connections.feed(connection, docs, topic)

    def emitted(
        self, connection: str = "__testLog", topic: str | None = None
    ) -> list[dict[str, Any]]:
        """What ``$emit`` wrote to ``connection``."""
        return self.connections.emitted(connection, topic)

    def collection(self, connection: str, db: str, coll: str) -> list[dict[str, Any]]:
        """A ``$merge`` or DLQ target collection's documents."""
        return self.connections.collection(connection, db, coll)

    def fail_processor(
        self,
        name: str,
        message: str,
        code: int = 125,
        *,
        retryable: bool = False,
        after_documents: int | None = None,
    ) -> None:
        """Make a running processor FAIL with this errorMsg/errorCode, now or after N documents."""

        async def fail() -> None:
            await self._registry.fail(name, message, code, retryable, after_documents)

        self._call(fail)

    def inject_fault(
        self,
        command: str,
        *,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
        error_labels: Sequence[str] = (),
        close_connection: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Fail, delay or drop the connection on the next ``times`` ``command``s (-1: always)."""
        return self.faults.add(
            Fault(command, times, code, message, tuple(error_labels), close_connection, delay)
        )

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self.faults.clear()

    def set_reply_shape(self, shape: ReplyShape) -> None:
        """Switch between the live server's reply shapes and the draft spec's."""
        if shape not in REPLY_SHAPES:
            raise ValueError(f"reply_shape must be one of {REPLY_SHAPES}")
        self._dispatcher.reply_shape = shape

    @property
    def reply_shape(self) -> ReplyShape:
        """``"live"`` (wrapped info, ``messages``) or ``"spec"`` (flat info, ``nextBatch``)."""
        return self._dispatcher.reply_shape

    def command_counts(self) -> dict[str, int]:
        """How many commands of each name the server has received (handshakes included)."""
        return dict(self._server.command_counts) if self._server else {}

    def opcode_counts(self) -> dict[str, int]:
        """How many requests arrived as ``OP_MSG`` and as legacy ``OP_QUERY``."""
        names = {wire.OP_MSG: "OP_MSG", wire.OP_QUERY: "OP_QUERY"}
        counts = self._server.opcode_counts if self._server else {}
        return {names[code]: count for code, count in counts.items()}

    @property
    def connections_accepted(self) -> int:
        """How many client connections the server has accepted."""
        return self._server.connections_accepted if self._server else 0
