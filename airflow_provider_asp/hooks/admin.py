"""``AspAdminHook``: the only place that knows the ``asp_admin`` Airflow connection (the
Atlas Administration API of one project).

It turns the connection into Admin API clients (sync for tasks, async for triggers),
closes them, and tests the connection. The secret (client secret or private key) is
masked in Airflow's logs as soon as it is read and never appears in a message it builds.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_asp.hooks.admin_form import (
    ADMIN_CONN_FIELDS,
    ADMIN_UI_FIELD_BEHAVIOUR,
    AdminSettings,
    admin_settings_from_connection,
)
from airflow_provider_asp.hooks.clients import HeldClients
from airflow_provider_asp.hooks.connection_form import legacy_field_behaviour, legacy_form_widgets
from asp_core.errors import AspConnectionConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from asp_core.admin import AdminClient, AsyncAdminClient


#: The client's own bound of a call with its retries (``AdminClient(deadline=...)``).
DEFAULT_DEADLINE = 300.0
#: The least ``within`` gives a call: time for an answer, even with the try's time spent.
MIN_WITHIN = 1.0


def _mask(settings: AdminSettings) -> AdminSettings:
    from airflow.sdk.log import mask_secret

    mask_secret(settings.secret)
    return settings


class AspAdminHook(HeldClients, BaseHook):
    """Calls the Atlas Administration API of one project (workspaces, connections).

    :param asp_admin_conn_id: the ``asp_admin`` connection to use.
    :param within: seconds any one call of its clients may take, retries included (their
        request timeout and deadline are capped by it; None: the connection's and the
        client's own).
    :param client_kwargs: passed to ``AdminClient`` (``attempts``, ``deadline``, ...).

    Use it as a context manager (``with`` or ``async with``) or call :meth:`close`.
    """

    conn_name_attr = "asp_admin_conn_id"
    default_conn_name = "asp_admin_default"
    conn_type = "asp_admin"
    hook_name = "MongoDB Atlas Administration API"

    def __init__(
        self,
        asp_admin_conn_id: str = default_conn_name,
        *,
        within: float | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__()
        self.asp_admin_conn_id = asp_admin_conn_id
        self._within = within
        self._client_kwargs = client_kwargs
        self._client: AdminClient | None = None
        self._async_client: AsyncAdminClient | None = None
        self._asettings: AdminSettings | None = None

    # -- the connection form (Airflow < 3.2; newer versions read the provider info) ------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return legacy_form_widgets(ADMIN_CONN_FIELDS)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return legacy_field_behaviour(ADMIN_UI_FIELD_BEHAVIOUR)

    # -- settings -------------------------------------------------------------------------
    @cached_property
    def settings(self) -> AdminSettings:
        """The checked connection (fetched once; its secret masked in the logs)."""
        conn = self.get_connection(self.asp_admin_conn_id)
        return _mask(admin_settings_from_connection(conn, conn.extra_dejson))

    async def asettings(self) -> AdminSettings:
        """The checked connection, fetched without blocking the event loop."""
        conn: Connection = await self.aget_connection(self.asp_admin_conn_id)
        aextra = getattr(conn, "aextra_dejson", None)
        extra = await aextra() if aextra is not None else conn.extra_dejson
        self._asettings = _mask(admin_settings_from_connection(conn, extra))
        return self._asettings

    # -- clients --------------------------------------------------------------------------
    def _kwargs(self, settings: AdminSettings, **overrides: Any) -> dict[str, Any]:
        kwargs = {**settings.client_kwargs(), **self._client_kwargs, **overrides}
        if self._within is not None:
            within = max(float(self._within), MIN_WITHIN)
            kwargs["timeout"] = min(float(kwargs["timeout"]), within)
            kwargs["deadline"] = min(float(kwargs.get("deadline", DEFAULT_DEADLINE)), within)
        return kwargs

    def new_client(self, **overrides: Any) -> AdminClient:
        """A new client of the connection (the caller closes it)."""
        from asp_core.admin import AdminClient

        return AdminClient(**self._kwargs(self.settings, **overrides))

    def get_conn(self) -> AdminClient:
        """The Admin API client, created on first use and cached."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    async def aget_conn(self) -> AsyncAdminClient:
        """The asyncio client (for triggers), created on first use and cached; the
        connection is read without blocking the event loop."""
        from asp_core.admin import AsyncAdminClient

        if self._async_client is None:
            settings = self._asettings or await self.asettings()
            self._async_client = AsyncAdminClient(**self._kwargs(settings))
        return self._async_client

    def scrub(self, text: str) -> str:
        """``text`` without the secret (once the settings were read)."""
        settings = self._asettings or self.__dict__.get("settings")
        return text if settings is None else settings.scrub(text)

    def explain(self, exc: BaseException) -> str:
        """What went wrong, in one sentence without the secret (with the settings already
        read: a trigger never reads the connection synchronously)."""
        from asp_core.admin.diagnosis import describe_admin_failure
        from asp_core.errors import explanation

        settings = self._asettings or self.__dict__.get("settings")
        if settings is None:  # the connection could not be read
            return explanation(exc)
        text = describe_admin_failure(
            exc, base_url=settings.base_url, who=settings.who, project=settings.project_id
        )
        return settings.scrub(text)

    # -- test_connection ------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """List the project's workspaces with a fresh client, without retries:
        ``(True, summary)`` or ``(False, what went wrong)`` (401: the credential; 403: the
        role; TLS: the CA file)."""
        try:
            settings = self.settings
            client = self.new_client(attempts=1)
        except AspConnectionConfigError as exc:
            return False, exc.reason
        try:
            with client:
                workspaces = client.list_workspaces()
        except Exception as exc:
            return False, self.explain(exc)
        names = ", ".join(sorted(str(w.get("name")) for w in workspaces)) or "none"
        return True, (
            f"Admin API at {settings.base_url} as {settings.who}: project "
            f"{settings.project_id} has {len(workspaces)} workspace(s) ({names})."
        )
