"""``Workspace``: a local Atlas Stream Processing workspace, served in a background thread."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import os
import shutil
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from asp_emulator import protocol, wire
from asp_emulator.admin import AdminFault, AdminFaults, AdminServer, Credentials, Project
from asp_emulator.admin.engines import WireSide
from asp_emulator.auth import (
    X509,
    X509_DATABASE,
    Authenticator,
    UserSpec,
    parse_users,
    parse_x509_users,
)
from asp_emulator.commands import Dispatcher
from asp_emulator.engine import Connections
from asp_emulator.faults import Fault, Faults
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.options import WorkspaceDefaults
from asp_emulator.processors import ProcessorRegistry
from asp_emulator.protocol import REPLY_SHAPES, ReplyShape
from asp_emulator.server import Server
from asp_emulator.testing import Failure, ProcessorKnobs
from asp_emulator.tls import CertificateAuthority, TlsFiles, normalize_subject, server_context

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_USERS: Mapping[str, UserSpec] = {"admin": "admin-password"}
_CALL_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host or None, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


class NonLoopbackWarning(UserWarning):
    """A workspace is asked to listen on an address other machines can reach."""


def warn_if_not_loopback(host: str, *, stacklevel: int = 2) -> None:
    """Warn (:class:`NonLoopbackWarning`, and a WARNING log line) when ``host`` is not a
    loopback address. Called when a :class:`Workspace` is made, before anything listens."""
    if is_loopback(host):
        return
    message = (
        f"binding {host!r}, which is not a loopback address: the workspace is reachable "
        "from other machines. It is a test double; its users, passwords and certificates "
        "are not secrets."
    )
    log.warning("%s", message)
    warnings.warn(message, NonLoopbackWarning, stacklevel=stacklevel + 1)


class Workspace:
    """A local ASP workspace that real pymongo connects to over TLS.

    ``users`` maps each user name to a password (the user gets ``atlasAdmin``) or to
    ``(password, [roles])``; they authenticate with SCRAM against ``admin``. The first user's
    credentials go into :attr:`uri`. ``x509_users`` maps certificate subjects (RFC 2253,
    ``"CN=etl,OU=pipelines,O=acme"``) to roles; :meth:`client_certificate` issues their
    certificates. ``limits`` bounds what clients and documents may cost (:class:`Limits`);
    ``transition_delay`` makes start and stop take effect that many seconds after they are
    acknowledged.

    With ``admin_api`` it also serves the Atlas Administration API (workspaces, connection
    registries, processors and logs of project ``project_id``) over HTTPS at :attr:`admin_url`,
    on 127.0.0.1, sharing the wire's state (a workspace created there answers on the wire at
    the hostname it reports); connections created there are
    READY ``admin_ready_delay`` seconds later, deletions are gone ``admin_delete_delay``
    seconds after their 202, and tokens last ``admin_token_ttl`` seconds.

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
        x509_users: Mapping[str, Sequence[str]] | Iterable[str] = (),
        limits: Limits | None = None,
        transition_delay: float = 0.0,
        admin_api: bool = False,
        project_id: str = "0123456789abcdef01234567",
        admin_ready_delay: float = 0.0,
        admin_delete_delay: float = 0.0,
        admin_token_ttl: float = 3600.0,
    ) -> None:
        if reply_shape not in REPLY_SHAPES:
            raise ValueError(f"reply_shape must be one of {REPLY_SHAPES}, not {reply_shape!r}")
        if (tls_cert_key_file is None) != (tls_ca_file is None):
            raise ValueError("give both tls_cert_key_file and tls_ca_file, or neither")
        self._users = parse_users(users if users is not None else DEFAULT_USERS)
        if not self._users:
            raise ValueError("a workspace needs at least one user")
        self._x509_users = parse_x509_users(x509_users)
        self.limits = limits if limits is not None else DEFAULT_LIMITS
        _check_delay(transition_delay)
        warn_if_not_loopback(host, stacklevel=2)
        self.host = host
        self._requested_port = port
        self.port = 0
        self._tls_given = (
            TlsFiles(tls_cert_key_file, tls_ca_file) if tls_cert_key_file and tls_ca_file else None
        )
        self._tmpdir: str | None = None
        self._authority: CertificateAuthority | None = None
        self._certificates = itertools.count(1)
        self.tls: TlsFiles | None = None
        self.connections = Connections(solar_rate=solar_rate)
        for name in connections:
            self.connections.add(name)
        self.faults = Faults()
        self._defaults = WorkspaceDefaults(default_tier, max_tier)
        self._registry = ProcessorRegistry(
            self.connections,
            self._defaults,
            process_ttl=process_ttl,
            limits=self.limits,
            transition_delay=transition_delay,
        )
        self._knobs = ProcessorKnobs(self._registry)
        self._dispatcher = Dispatcher(
            Authenticator(self._users, self._x509_users),
            self._registry,
            self.connections,
            workspace_name=workspace_name,
            reply_shape=reply_shape,
            limits=self.limits,
            knobs=self._knobs,
        )
        self.workspace_name = workspace_name
        self.project_id = project_id
        self._admin: AdminServer | None = None
        self.admin_port = 0
        if admin_api:
            _check_delay(admin_ready_delay)
            _check_delay(admin_delete_delay)
            project = Project(
                project_id,
                workspace_name,
                self.connections,
                lambda: [f"{self.host}:{self.port}"],
                {"tier": default_tier, "maxTierSize": max_tier},
                ready_delay=admin_ready_delay,
                delete_delay=admin_delete_delay,
                engine=self._registry,
                launch=self._launch_wire_side,
            )
            self._admin = AdminServer(
                project, Credentials(admin_token_ttl), AdminFaults(), self.limits
            )
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Workspace:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("workspace already started")
        self._tmpdir = tempfile.mkdtemp(prefix="asp-emulator-")
        if self._tls_given is None:
            self._authority = CertificateAuthority(self._tmpdir)
            self.tls = self._authority.write_server_files(("localhost", "127.0.0.1"))
        else:
            self.tls = self._tls_given
        self._server = Server(self._dispatcher, self.faults, server_context(self.tls), self.limits)
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
                if self._admin is not None:
                    assert self.tls is not None
                    self.admin_port = loop.run_until_complete(
                        self._admin.start(server_context(self.tls))
                    )
                loop.call_soon(self._registry.open)
            except BaseException as exc:
                failure.append(exc)
                if self._server is not None:  # the wire may be listening already
                    loop.run_until_complete(self._server.close())
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
        if self._admin is not None:
            await self._admin.close()
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
        self._authority = None

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
        password = self._users[self.username].password
        assert password is not None
        return password

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
        assert secret is not None
        query = urlencode({"tls": "true", "tlsCAFile": self.ca_file, "authSource": "admin"})
        credentials = f"{quote(user, safe='')}:{quote(secret, safe='')}"
        return f"mongodb://{credentials}@{self.host}:{self.port}/?{query}"

    @property
    def uri(self) -> str:
        """A URI pymongo accepts as is: first user's credentials, TLS with :attr:`ca_file`."""
        return self.uri_for()

    def client_certificate(self, subject: str) -> str:
        """Issue a client certificate for ``subject`` and return its PEM file (certificate
        and key), signed by the workspace's CA.

        ``subject`` is RFC 2253 with exactly ``CN``, ``OU`` and ``O`` (what ``trustme``
        issues), e.g. ``"CN=etl,OU=pipelines,O=acme"``; declare it in ``x509_users`` to let
        it in. Only a workspace that made its own certificates can issue them.
        """
        if self._authority is None or self._tmpdir is None:
            raise RuntimeError(
                "client certificates are issued by a started workspace with its own CA "
                "(not with tls_cert_key_file/tls_ca_file: sign them with your CA)"
            )
        path = os.path.join(self._tmpdir, f"client-{next(self._certificates)}.pem")
        return self._authority.issue_client_certificate(normalize_subject(subject), path)

    def x509_uri(self, certificate: str) -> str:
        """A ``mongodb://`` URI that authenticates with the client certificate file
        ``certificate`` (MONGODB-X509, ``$external``)."""
        query = urlencode(
            {
                "tls": "true",
                "tlsCAFile": self.ca_file,
                "tlsCertificateKeyFile": certificate,
                "authMechanism": X509,
                "authSource": X509_DATABASE,
            }
        )
        return f"mongodb://{self.host}:{self.port}/?{query}"

    def airflow_connection(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        client_certificate: str | None = None,
    ) -> dict[str, Any]:
        """An Airflow connection (type ``asp``) to this workspace, as the JSON form's dict.

        Use ``json.dumps(ws.airflow_connection())`` as ``AIRFLOW_CONN_ASP_DEFAULT``. With
        ``client_certificate`` (a file from :meth:`client_certificate`) it authenticates
        with MONGODB-X509 and has no login or password.
        """
        if client_certificate is not None:
            return {
                "conn_type": "asp",
                "host": self.host,
                "port": self.port,
                "extra": {
                    "tls_ca_file": self.ca_file,
                    "tls_certificate_key_file": client_certificate,
                    "auth_mechanism": X509,
                },
            }
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
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        client_certificate: str | None = None,
    ) -> str:
        """The same connection as an Airflow URI: ``asp://user:pass@host:port/?tls_ca_file=...``."""
        conn = self.airflow_connection(username, password, client_certificate=client_certificate)
        query = urlencode(conn["extra"])
        if client_certificate is not None:
            return f"asp://{self.host}:{self.port}/?{query}"
        credentials = f"{quote(conn['login'], safe='')}:{quote(conn['password'], safe='')}"
        return f"asp://{credentials}@{self.host}:{self.port}/?{query}"

    # -- the Admin API (admin_api=True) ------------------------------------------------------
    @property
    def admin_api(self) -> bool:
        """Whether this workspace serves the Admin API."""
        return self._admin is not None

    async def _launch_wire_side(self, name: str, stream_config: dict[str, str]) -> WireSide:
        """The wire side of workspace ``name``, created over the Admin API: its own
        registry and processors, served on 127.0.0.1 (a free port) with this workspace's
        TLS, users, limits and reply shape."""
        assert self.tls is not None
        connections = Connections(solar_rate=self.connections.solar_rate)
        defaults = WorkspaceDefaults(
            stream_config.get("tier", self._defaults.default_tier),
            stream_config.get("maxTierSize", self._defaults.max_tier),
        )
        registry = ProcessorRegistry(
            connections,
            defaults,
            process_ttl=self._registry.process_ttl,
            limits=self.limits,
            transition_delay=self._registry.transition_delay,
        )
        knobs = ProcessorKnobs(registry)
        dispatcher = Dispatcher(
            Authenticator(self._users, self._x509_users),
            registry,
            connections,
            workspace_name=name,
            reply_shape=self._dispatcher.reply_shape,
            limits=self.limits,
            knobs=knobs,
        )
        server = Server(dispatcher, Faults(), server_context(self.tls), self.limits)
        port = await server.start("127.0.0.1", 0)
        registry.open()
        return WireSide(name, registry, server, port)

    def connections_of(self, workspace_name: str) -> Connections:
        """The connection registry of a workspace of the Admin API's project (this
        workspace's own or one created over HTTP): feed its in-memory topics and read what
        its processors emitted and merged, as with :meth:`feed` and :meth:`emitted`."""
        admin = self._admin_server()

        async def find() -> Connections:
            return admin.project.engine(workspace_name).connections

        return self._call(find)

    def _admin_server(self) -> AdminServer:
        if self._admin is None:
            raise RuntimeError("the Admin API is served by Workspace(admin_api=True) only")
        return self._admin

    @property
    def admin_url(self) -> str:
        """The Admin API's base URL (``https://127.0.0.1:<port>``); trust :attr:`ca_file`."""
        self._admin_server()
        if not self.admin_port:
            raise RuntimeError("workspace not started")
        return f"https://127.0.0.1:{self.admin_port}"

    def service_account(self, role: str = "GROUP_OWNER") -> tuple[str, str]:
        """A new service account with this project role: ``(client_id, client_secret)``."""
        admin = self._admin_server()

        async def make() -> tuple[str, str]:
            cred = admin.credentials.new("sa", role)
            return cred.id, cred.secret

        return self._call(make)

    def api_key(self, role: str = "GROUP_OWNER") -> tuple[str, str]:
        """A new API key with this project role: ``(public_key, private_key)``."""
        admin = self._admin_server()

        async def make() -> tuple[str, str]:
            cred = admin.credentials.new("key", role)
            return cred.id, cred.secret

        return self._call(make)

    def airflow_admin_connection(
        self, role: str = "GROUP_OWNER", *, api_key: bool = False
    ) -> dict[str, Any]:
        """An Airflow connection (type ``asp_admin``) to this Admin API, as the JSON form's
        dict, with a new service account (or API key) of ``role``: use
        ``json.dumps(ws.airflow_admin_connection())`` as ``AIRFLOW_CONN_ASP_ADMIN_DEFAULT``."""
        login, secret = self.api_key(role) if api_key else self.service_account(role)
        extra = {
            "project_id": self.project_id,
            "auth_type": "api_key" if api_key else "service_account",
            "base_url": self.admin_url,
            "tls_ca_file": self.ca_file,
        }
        return {"conn_type": "asp_admin", "login": login, "password": secret, "extra": extra}

    def inject_admin_fault(
        self,
        method: str = "*",
        path: str = "*",
        *,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        after_effect: bool = False,
        silent: bool = False,
        late_effect: bool = False,
    ) -> AdminFault:
        """Answer the next ``times`` Admin API requests matching ``method`` and ``path``
        (fnmatch patterns on the URL path) with ``status`` (and ``Retry-After``), after the
        effect with ``after_effect``, or never (until stop) with ``silent``. With
        ``late_effect`` the effect happens just before the next request with the same
        method and path is handled (a request still under way when the client looked)."""
        admin = self._admin_server()
        fault = AdminFault(
            method, path, status, times, retry_after, after_effect, silent, late_effect
        )

        async def arm() -> AdminFault:
            return admin.faults.add(fault)

        return self._call(arm)

    def clear_admin_faults(self) -> None:
        """Disarm every Admin API fault."""
        admin = self._admin_server()

        async def clear() -> None:
            admin.faults.clear()

        self._call(clear)

    def expire_admin_tokens(self) -> None:
        """Make every Bearer token issued so far expire now."""
        admin = self._admin_server()

        async def expire() -> None:
            admin.credentials.expire_tokens()

        self._call(expire)

    def finish_admin_transitions(self) -> None:
        """Make pending connections READY and pending deletions gone, now."""
        admin = self._admin_server()

        async def finish() -> None:
            admin.project.finish_transitions()

        self._call(finish)

    def fail_admin_connection(
        self, name: str, message: str, *, workspace: str | None = None
    ) -> None:
        """Make connection ``name`` (made over the Admin API; of this workspace unless
        ``workspace`` names another of the project) FAILED; ``message`` goes to that
        workspace's operational log."""
        admin = self._admin_server()

        async def fail() -> None:
            admin.project.fail_connection(workspace or self.workspace_name, name, message)

        self._call(fail)

    @property
    def admin_tokens_issued(self) -> int:
        """How many Bearer tokens ``/api/oauth/token`` has issued."""
        return self._admin_server().credentials.tokens_issued

    def admin_connection_counts(self) -> dict[str, int]:
        """The Admin API port's connections: ``open`` now, ``refused`` at the
        ``max_connections`` cap, ``timed_out`` (closed past a deadline)."""
        listener = self._admin_server().listener
        if listener is None:
            return {"open": 0, "refused": 0, "timed_out": 0}
        return {
            "open": listener.connections_open,
            "refused": listener.connections_refused,
            "timed_out": listener.connections_timed_out,
        }

    def admin_request_counts(self) -> dict[str, int]:
        """Admin API requests received, by ``"METHOD route"`` (``"POST connections"``)."""
        return dict(self._admin_server().request_counts)

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
            return protocol.processor_info(self._registry.get(name), self._defaults.default_tier)

        return self._call(read)

    def stats(self, name: str, *, verbose: bool = False) -> dict[str, Any]:
        """The processor's stats document."""

        async def read() -> dict[str, Any]:
            return self._registry.stats(protocol.Stats(name, 1, verbose))[1]

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
            self._knobs.fail(name, Failure(message, code, retryable), after_documents)

        self._call(fail)

    def fail_processor_on_start(
        self, name: str, message: str, code: int = 125, *, retryable: bool = False
    ) -> None:
        """Make ``name`` (there or created later) FAIL as soon as it next starts, with this
        errorMsg/errorCode: its start takes effect, then it is FAILED (a sink it cannot
        reach). Once; the start after that runs."""

        async def arm() -> None:
            self._knobs.fail_on_start(name, Failure(message, code, retryable))

        self._call(arm)

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
        after_effect: bool = False,
    ) -> Fault:
        """Fail, delay or drop the connection on the next ``times`` ``command``s (-1: always);
        before the command runs, or with ``after_effect`` once it ran (a lost reply)."""
        return self.faults.add(
            Fault(
                command,
                times,
                code,
                message,
                tuple(error_labels),
                close_connection,
                delay,
                after_effect,
            )
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
        """How many client connections the server has accepted (TLS handshake done)."""
        return self._server.connections_accepted if self._server else 0

    @property
    def connections_open(self) -> int:
        """How many client connections are open now (TLS handshakes included)."""
        return self._server.connections_open if self._server else 0

    @property
    def connections_refused(self) -> int:
        """How many connections were closed at once because ``max_connections`` were open."""
        return self._server.connections_refused if self._server else 0

    # -- transitions ----------------------------------------------------------------------
    @property
    def transition_delay(self) -> float:
        """Seconds between acknowledging a start or stop and its taking effect."""
        return self._registry.transition_delay

    def set_transition_delay(self, seconds: float) -> None:
        """Change :attr:`transition_delay` for the starts and stops that follow (pending
        ones keep their time)."""
        _check_delay(seconds)
        if self._loop is None:
            self._registry.transition_delay = seconds
            return

        async def change() -> None:
            self._registry.transition_delay = seconds

        self._call(change)

    def self_check(self) -> list[str]:
        """Broken internal rules, e.g. processing that outlived its processor (empty when
        all is well; the emulator's own tests assert it)."""

        async def check() -> list[str]:
            return self._knobs.inconsistencies()

        return self._call(check)


def _check_delay(seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"transition_delay must be a number of seconds >= 0, not {seconds!r}")
