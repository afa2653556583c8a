"""``AspAdmin``: the Dagster resource of one Atlas project's Administration API.

It builds the core's :class:`~asp_core.admin.AdminClient` on first use (loading definitions
sends nothing) and closes it when the run ends (an asyncio asset gets an
:class:`~asp_core.admin.AsyncAdminClient`, closed too). The credential is a service account
(``client_id``, ``client_secret``: OAuth 2.0 client credentials, Atlas's recommended method)
or an API key (``public_key``, ``private_key``: HTTP Digest); the secret halves are meant for
``dg.EnvVar`` and never appear in ``repr``, logs, metadata or errors. Its token is the
process's: one per credential, reused until shortly before it expires.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from asp_core.admin import ATLAS_URL, AdminClient, ApiKey, AsyncAdminClient, ServiceAccount
from asp_core.admin.auth import Credential
from asp_core.errors import AspConnectionConfigError
from dagster_asp.clients import close_clients

#: How errors name the resource.
SOURCE = "asp_admin"
#: The least time :meth:`AspAdmin.bounded_client` gives a call.
MIN_WITHIN = 1.0


class AspAdmin(dg.ConfigurableResource):
    """One Atlas project (``project_id``, Atlas's ``groupId``) through the Admin API.

    Give a service account (``client_id`` + ``client_secret``) or an API key
    (``public_key`` + ``private_key``), the secrets as ``dg.EnvVar``. ``base_url`` is Atlas
    (set it for the emulator); ``ca_file`` a PEM CA to trust instead of the system's;
    ``timeout`` bounds each request, ``attempts`` and ``deadline`` each call with its retries.
    """

    project_id: str = Field(description="The Atlas project ID (groupId).")
    client_id: Optional[str] = Field(default=None, description="Service account client ID.")  # noqa: UP045
    client_secret: Optional[str] = Field(  # noqa: UP045
        default=None, repr=False, description="Service account secret (use dg.EnvVar)."
    )
    public_key: Optional[str] = Field(default=None, description="API key public key.")  # noqa: UP045
    private_key: Optional[str] = Field(  # noqa: UP045
        default=None, repr=False, description="API key private key (use dg.EnvVar)."
    )
    base_url: str = Field(default=ATLAS_URL, description="The Admin API's base URL.")
    ca_file: Optional[str] = Field(  # noqa: UP045
        default=None, description="A PEM CA file to trust (empty: the system's CAs)."
    )
    timeout: float = Field(default=30.0, description="Seconds each request may take.")
    attempts: int = Field(default=5, description="Attempts per call (429, 5xx, no answer).")
    deadline: float = Field(default=300.0, description="Seconds per call, retries included.")

    _client: Optional[AdminClient] = PrivateAttr(default=None)  # noqa: UP045
    _async_clients: list[tuple[AsyncAdminClient, asyncio.AbstractEventLoop]] = PrivateAttr(
        default_factory=list
    )

    def credential(self) -> Credential:
        """The service account or the API key (:class:`AspConnectionConfigError` when the
        fields name neither, both, or half of one; the message names fields, never values)."""
        account = (self.client_id, self.client_secret)
        key = (self.public_key, self.private_key)
        if any(account) and any(key):
            raise AspConnectionConfigError(
                SOURCE, "give a service account or an API key, not both."
            )
        for pair, names in ((account, ("client_id", "client_secret")),
                            (key, ("public_key", "private_key"))):  # fmt: skip
            if any(pair) and not all(pair):
                missing = names[0] if not pair[0] else names[1]
                raise AspConnectionConfigError(SOURCE, f"{missing} is missing.")
        if all(account):
            return ServiceAccount(str(self.client_id), str(self.client_secret))
        if all(key):
            return ApiKey(str(self.public_key), str(self.private_key))
        raise AspConnectionConfigError(
            SOURCE,
            "give a service account (client_id, client_secret) or an API key "
            "(public_key, private_key).",
        )

    def _client_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not self.project_id:
            raise AspConnectionConfigError(SOURCE, "project_id is empty.")
        kwargs = {
            "base_url": self.base_url,
            "ca_file": self.ca_file or None,
            "timeout": self.timeout,
            "attempts": self.attempts,
            "deadline": self.deadline,
        }
        return (self.project_id, self.credential()), kwargs

    def get_client(self) -> AdminClient:
        """The Admin API client, made on first use; closed when the run ends."""
        if self._client is None:
            args, kwargs = self._client_args()
            self._client = AdminClient(*args, **kwargs)
        return self._client

    @contextlib.contextmanager
    def bounded_client(self, seconds: float) -> Iterator[AdminClient]:
        """A client of its own whose every call, retries included, ends within about
        ``seconds`` (its request timeout and deadline capped by them, at least a second);
        closed when the block ends. What a step with a ``timeout`` uses, so a silent Admin
        API costs the step's timeout, not the resource's ``deadline``."""
        args, kwargs = self._client_args()
        within = max(float(seconds), MIN_WITHIN)
        kwargs["timeout"] = min(float(kwargs["timeout"]), within)
        kwargs["deadline"] = min(float(kwargs["deadline"]), within)
        with AdminClient(*args, **kwargs) as client:
            yield client

    def get_async_client(self) -> AsyncAdminClient:
        """An asyncio Admin API client for the running event loop; closed when the run ends
        (or by the caller, ``await client.close()``, before its loop ends)."""
        loop = asyncio.get_running_loop()
        args, kwargs = self._client_args()
        client = AsyncAdminClient(*args, **kwargs)
        self._async_clients.append((client, loop))
        return client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the clients this resource made (idempotent)."""
        client, self._client = self._client, None
        clients, self._async_clients = self._async_clients, []
        close_clients(client, clients)
