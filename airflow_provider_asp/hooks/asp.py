"""``AspHook``: the only place that knows the ``asp`` Airflow connection.

It turns the connection into workspace clients (sync for tasks, async for triggers),
caches them, closes them, and tests the connection. Credentials travel as client keyword
arguments, never inside a URI, and no message it builds contains the password.
"""

from __future__ import annotations

import collections
import hmac
import json
import os
import weakref
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_asp.exceptions import AspConnectionConfigError, AspConnectionError
from airflow_provider_asp.hooks import client_pool
from airflow_provider_asp.hooks.connection_form import (
    legacy_field_behaviour,
    legacy_form_widgets,
)
from airflow_provider_asp.hooks.workspace_settings import WorkspaceSettings
from airflow_provider_asp.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
)
from airflow_provider_asp.waiting.states import normalize_state

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_asp.stream_processing import StreamProcessors

ClientT = TypeVar("ClientT", bound="StreamProcessingClient | AsyncStreamProcessingClient")

_TLS_MARKERS = ("certificate", "ssl", "tls handshake")
#: Keys of pooled clients are HMACs of the client settings (password included), so that a
#: changed connection gets a new client, and a key shows nothing.
_POOL_KEY_SECRET = os.urandom(16)


def _first_line(text: str) -> str:
    """pymongo's error without the timeouts and topology dump it appends."""
    return text.split(" (configured timeouts")[0].split(", Timeout:")[0]


def describe_failure(exc: BaseException, settings: WorkspaceSettings) -> str:
    """One sentence saying what went wrong (authentication, TLS, reachability, time, a
    refusal or the settings), naming the command, the host, the configured timeouts and the
    underlying reason: its class, code, code name and labels, never an empty text. The
    password never appears (callers also :meth:`WorkspaceSettings.scrub` the result)."""
    from pymongo.errors import (
        ConfigurationError,
        ConnectionFailure,
        NetworkTimeout,
        OperationFailure,
        ServerSelectionTimeoutError,
    )

    from airflow_provider_asp.stream_processing.protocol import failed_command
    from airflow_provider_asp.waiting.verdict import describe_error

    where = settings.address
    command = failed_command(exc)
    doing = f" ({command})" if command else ""
    reason = describe_error(exc)
    timeouts = ", ".join(f"{k} {v} ms" for k, v in settings.timeouts_ms.items() if v)
    if isinstance(exc, OperationFailure) and exc.code == 18 and settings.uses_x509:
        return (
            f"Authentication failed at {where} for the client certificate "
            f"{settings.tls_certificate_key_file!r}: its subject must be a user of the "
            "workspace in '$external' (MONGODB-X509), and the certificate signed by a CA the "
            "workspace trusts."
        )
    if isinstance(exc, OperationFailure) and exc.code == 18:
        return (
            f"Authentication failed for user {settings.login!r} at {where}: check the "
            f"login, the password and the auth source ({settings.auth_source!r})."
        )
    if isinstance(exc, OperationFailure) and exc.code == 13:
        return f"Connected to {where}, but the user is not allowed to run this{doing}: {reason}"
    timed_out = isinstance(exc, NetworkTimeout) or getattr(exc, "timeout", False) is True
    if timed_out and not isinstance(exc, ServerSelectionTimeoutError):
        return (
            f"The workspace at {where} did not answer in time{doing} "
            f"(configured: {timeouts or 'pymongo defaults'}; or the task's own deadline): "
            f"{reason}"
        )
    if isinstance(exc, OperationFailure):
        return f"The workspace at {where} refused the command{doing}: {reason}"
    if isinstance(exc, ConnectionFailure):
        if any(marker in str(exc).lower() for marker in _TLS_MARKERS):
            return f"TLS with {where} failed (is the CA file right?){doing}: {reason}"
        return (
            f"Cannot reach the workspace at {where}{doing} "
            f"({timeouts or 'pymongo defaults'}): {reason}"
        )
    if isinstance(exc, (ConfigurationError, OSError, AspConnectionConfigError)):
        return f"Invalid connection settings: {_first_line(str(exc)) or reason}"
    return reason


def is_connection_problem(exc: BaseException) -> bool:
    """Whether ``exc`` is about reaching or logging in to the workspace (not a command)."""
    from pymongo.errors import ConnectionFailure, OperationFailure

    if isinstance(exc, OperationFailure):
        return exc.code in (13, 18)
    return isinstance(exc, ConnectionFailure)


#: Pool keys of the settings objects in use: an entry goes with its settings object, so no
#: password outlives the leases and lookups that hold it.
_POOL_KEYS: weakref.WeakKeyDictionary[WorkspaceSettings, dict[tuple[tuple[str, int], ...], str]]
_POOL_KEYS = weakref.WeakKeyDictionary()


def _pool_key(settings: WorkspaceSettings, extra: tuple[tuple[str, int], ...]) -> str:
    """The pooled client's key for these settings and client arguments (an HMAC: it shows
    nothing). Kept while the settings object lives: leases that come together share one
    settings object, and the JSON and HMAC cost about 0.1 ms a lease."""
    keys = _POOL_KEYS.setdefault(settings, {})
    key = keys.get(extra)
    if key is None:
        payload = json.dumps([settings.client_kwargs(), extra], sort_keys=True, default=str)
        digest = hmac.new(_POOL_KEY_SECRET, payload.encode(), "sha256").hexdigest()[:16]
        key = keys[extra] = f"{settings.conn_id}:{digest}"
    return key


class AspHook(BaseHook):
    """Connects to a MongoDB Atlas Stream Processing workspace.

    :param asp_conn_id: the ``asp`` connection to use.
    :param client_kwargs: passed to the pymongo client as is (``event_listeners``, ...).

    Use it as a context manager (``with`` or ``async with``) or call :meth:`close`.
    """

    conn_name_attr = "asp_conn_id"
    default_conn_name = "asp_default"
    conn_type = "asp"
    hook_name = "MongoDB Atlas Stream Processing"

    def __init__(self, asp_conn_id: str = default_conn_name, **client_kwargs: Any) -> None:
        super().__init__()
        self.asp_conn_id = asp_conn_id
        self._client_kwargs = client_kwargs
        self._client: StreamProcessingClient | None = None
        self._async_client: AsyncStreamProcessingClient | None = None

    # -- the connection form (Airflow < 3.2; newer versions read the provider info) ------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return legacy_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return legacy_field_behaviour()

    # -- settings -------------------------------------------------------------------------
    @cached_property
    def settings(self) -> WorkspaceSettings:
        """The checked connection (fetched once)."""
        conn = self.get_connection(self.asp_conn_id)
        return self._checked(WorkspaceSettings.from_connection(conn, conn.extra_dejson))

    async def asettings(self) -> WorkspaceSettings:
        """The checked connection, fetched without blocking the event loop."""
        conn: Connection = await self.aget_connection(self.asp_conn_id)
        aextra = getattr(conn, "aextra_dejson", None)
        extra = await aextra() if aextra is not None else conn.extra_dejson
        return self._checked(WorkspaceSettings.from_connection(conn, extra))

    def _checked(self, settings: WorkspaceSettings) -> WorkspaceSettings:
        if settings.tls_allow_invalid_certificates:
            self.log.warning(
                "INSECURE: connection %r has tls_allow_invalid_certificates on. The workspace "
                "certificate is NOT verified, so anyone on the network path can impersonate "
                "the workspace and read the credentials. Never use this in production.",
                settings.conn_id,
            )
        return settings

    def _new_client(self, cls: type[ClientT], settings: WorkspaceSettings) -> ClientT:
        try:
            return cls(**settings.client_kwargs(), **self._client_kwargs)
        except Exception as exc:
            raise AspConnectionConfigError(
                settings.conn_id, settings.scrub(describe_failure(exc, settings))
            ) from None

    # -- clients --------------------------------------------------------------------------
    def get_conn(self) -> StreamProcessingClient:
        """The workspace client, created on first use and cached."""
        if self._client is None:
            self._client = self._new_client(StreamProcessingClient, self.settings)
        return self._client

    def get_processors(self) -> StreamProcessors:
        """The workspace's stream processors (``get_conn().stream_processors()``)."""
        return self.get_conn().stream_processors()

    async def aget_conn(self) -> AsyncStreamProcessingClient:
        """The asyncio workspace client (for triggers), created on first use and cached."""
        if self._async_client is None:
            self._async_client = self._new_client(
                AsyncStreamProcessingClient, await self.asettings()
            )
        return self._async_client

    async def alease_shared_conn(self) -> client_pool.ClientLease:
        """A share of the asyncio client that every hook of this connection (same settings,
        same client arguments) uses in the running event loop. Triggers use it, so that
        many waits in one triggerer share one client and its connection pool. Give it back
        with ``await lease.release()``. The connection is looked up once for the leases
        of a loop that come together (:func:`client_pool.settings`)."""
        settings = await client_pool.settings(self.asp_conn_id, self.asettings)
        return client_pool.lease(
            self._pool_key(settings),
            settings,
            lambda: self._new_client(client_pool.PooledClient, settings),
        )

    def _pool_key(self, settings: WorkspaceSettings) -> str:
        extra = tuple(sorted((key, id(value)) for key, value in self._client_kwargs.items()))
        return _pool_key(settings, extra)

    def close(self) -> None:
        """Close the sync client (the async one needs :meth:`aclose`)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close both clients."""
        client, self._async_client = self._async_client, None
        if client is not None:
            await client.close()
        self.close()

    def __enter__(self) -> AspHook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> AspHook:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def explain(self, exc: BaseException) -> AspConnectionError | None:
        """For a failure to reach or log in to the workspace, an error saying which, in
        plain words and without secrets; None for anything else."""
        if not is_connection_problem(exc):
            return None
        settings = self.settings
        return AspConnectionError(
            settings.scrub(f"Connection {settings.conn_id!r}: {describe_failure(exc, settings)}")
        )

    # -- test_connection ------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """List the workspace's processors with a fresh client, within the connection's
        timeouts: ``(True, summary)`` or ``(False, what went wrong)``."""
        try:
            settings = self.settings
            client = self._new_client(StreamProcessingClient, settings)
        except AspConnectionConfigError as exc:
            return False, exc.reason
        try:
            with client:
                processors = client.stream_processors().list()
        except Exception as exc:
            return False, settings.scrub(describe_failure(exc, settings))
        states = collections.Counter(normalize_state(p.state) for p in processors)
        detail = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        user = f" as {settings.login!r}" if settings.login else ""
        return True, (
            f"Connected to the workspace at {settings.address}{user}: "
            f"{len(processors)} stream processor(s){f' ({detail})' if detail else ''}."
        )
