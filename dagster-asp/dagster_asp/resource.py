"""``AspWorkspace``: the Dagster resource of one Atlas Stream Processing workspace.

Its fields are the Airflow connection's settings; :meth:`AspWorkspace.settings` checks them
with the core (:class:`asp_core.settings.WorkspaceSettings`), so a bad value gets the same
message in both orchestrators. Clients are made on first use (loading definitions sends
nothing) and closed when the run or the sensor tick ends. The password (meant for
``dg.EnvVar``) never appears in logs, metadata, tags or errors.
"""

import asyncio
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from asp_core.settings import (
    DEFAULT_PORT,
    DEFAULT_SOCKET_TIMEOUT_MS,
    FIELDS,
    WorkspaceSettings,
)
from asp_core.stream_processing import AsyncStreamProcessingClient, StreamProcessingClient
from dagster_asp.clients import close_clients


class AspWorkspace(dg.ConfigurableResource):
    """One Atlas Stream Processing workspace (or the emulator).

    ``password`` is meant for ``dg.EnvVar("ASP_PASSWORD")``; ``tls_ca_file`` for a private CA
    or the emulator (empty for Atlas: the system's CAs); ``auth_mechanism="MONGODB-X509"``
    with ``tls_certificate_key_file`` for X.509.
    """

    host: str
    port: int = DEFAULT_PORT
    username: Optional[str] = None  # noqa: UP045 - Dagster's config schema reads Optional
    password: Optional[str] = None  # noqa: UP045
    tls_ca_file: Optional[str] = None  # noqa: UP045
    tls_certificate_key_file: Optional[str] = None  # noqa: UP045
    auth_mechanism: Optional[str] = None  # noqa: UP045
    auth_source: str = "admin"
    app_name: Optional[str] = None  # noqa: UP045
    connect_timeout_ms: Optional[int] = None  # noqa: UP045
    server_selection_timeout_ms: Optional[int] = None  # noqa: UP045
    socket_timeout_ms: int = DEFAULT_SOCKET_TIMEOUT_MS
    tls_allow_invalid_certificates: bool = False
    project_id: Optional[str] = None  # noqa: UP045 - for the link to the Atlas UI
    workspace_name: Optional[str] = None  # noqa: UP045

    _client: Optional[StreamProcessingClient] = PrivateAttr(default=None)  # noqa: UP045
    _async_clients: list[tuple[AsyncStreamProcessingClient, asyncio.AbstractEventLoop]] = (
        PrivateAttr(default_factory=list)
    )

    def settings(self, source: str = "asp") -> WorkspaceSettings:
        """The checked settings (the core's checks and messages)."""
        fields = {name: getattr(self, name) for name in FIELDS}
        return WorkspaceSettings.from_mapping(fields, source=source)

    def get_client(self) -> StreamProcessingClient:
        """The workspace client, made on first use; closed when the run or tick ends."""
        if self._client is None:
            self._client = StreamProcessingClient(**self.settings().client_kwargs())
        return self._client

    def get_async_client(self) -> AsyncStreamProcessingClient:
        """An asyncio workspace client for the running event loop; closed when the run or
        tick ends (or by the caller, ``await client.close()``, before its loop ends)."""
        loop = asyncio.get_running_loop()
        client = AsyncStreamProcessingClient(**self.settings().client_kwargs())
        self._async_clients.append((client, loop))
        return client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the clients this resource made (idempotent)."""
        client, self._client = self._client, None
        clients, self._async_clients = self._async_clients, []
        close_clients(client, clients)
