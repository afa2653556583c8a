"""``AspHook``: the only place that knows the ``asp`` Airflow connection.

It turns the connection into workspace clients (sync for tasks, async for triggers),
caches them, closes them, and tests the connection. Credentials travel as client keyword
arguments, never inside a URI, and no message it builds contains the password.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_asp.hooks.clients import HeldClients
from airflow_provider_asp.hooks.connection_form import (
    legacy_field_behaviour,
    legacy_form_widgets,
    settings_from_connection,
)
from airflow_provider_asp.hooks.resolve import (
    admin_reference,
    aresolve_workspace,
    resolve_workspace,
)
from asp_core import client_pool
from asp_core.diagnosis import connection_error, connection_summary, describe_failure
from asp_core.errors import AspConnectionConfigError, AspConnectionError
from asp_core.settings import WorkspaceSettings
from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_asp.hooks.connection_form import AdminReference
    from asp_core.stream_processing import StreamProcessors

ClientT = TypeVar("ClientT", bound="StreamProcessingClient | AsyncStreamProcessingClient")


class AspHook(HeldClients, BaseHook):
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
        #: The ``asp_admin`` connection and workspace the connection names instead of a host
        #: (set once the settings are read; None: it has a host).
        self.admin_reference: AdminReference | None = None
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
        """The checked connection (fetched once; a workspace named through an
        ``asp_admin`` connection is looked up in the Admin API then)."""
        conn = self.get_connection(self.asp_conn_id)
        extra = conn.extra_dejson
        reference = self.admin_reference = admin_reference(conn, extra)
        resolved = None if reference is None else resolve_workspace(conn.conn_id, reference)
        return self._checked(settings_from_connection(conn, extra, resolved))

    async def asettings(self) -> WorkspaceSettings:
        """The checked connection, fetched (and a named workspace looked up) without
        blocking the event loop."""
        conn: Connection = await self.aget_connection(self.asp_conn_id)
        aextra = getattr(conn, "aextra_dejson", None)
        extra = await aextra() if aextra is not None else conn.extra_dejson
        reference = self.admin_reference = admin_reference(conn, extra)
        resolved = None if reference is None else await aresolve_workspace(conn.conn_id, reference)
        return self._checked(settings_from_connection(conn, extra, resolved))

    def _checked(self, settings: WorkspaceSettings) -> WorkspaceSettings:
        if settings.tls_allow_invalid_certificates:
            self.log.warning(
                "INSECURE: connection %r has tls_allow_invalid_certificates on. The workspace "
                "certificate is NOT verified, so anyone on the network path can impersonate "
                "the workspace and read the credentials. Never use this in production.",
                settings.source,
            )
        return settings

    def _new_client(self, cls: type[ClientT], settings: WorkspaceSettings) -> ClientT:
        try:
            return cls(**settings.client_kwargs(), **self._client_kwargs)
        except Exception as exc:
            raise AspConnectionConfigError(
                settings.source, settings.scrub(describe_failure(exc, settings))
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
            client_pool.pool_key(settings, self._client_kwargs),
            settings,
            lambda: self._new_client(client_pool.PooledClient, settings),
        )

    def explain(self, exc: BaseException) -> AspConnectionError | None:
        """For a failure to reach or log in to the workspace, an error saying which, in
        plain words and without secrets; None for anything else."""
        return connection_error(exc, self.settings)

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
        return True, connection_summary(settings, processors)
