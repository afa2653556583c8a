"""What every trigger of this provider shares: the kwargs Airflow rebuilds it from, its share
of the connection's pooled client in the triggerer, and the words for a failure to reach the
workspace (:mod:`asp_core.diagnosis`).

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from airflow_provider_asp.hooks.asp import AspHook
    from asp_core.client_pool import ClientLease
    from asp_core.settings import WorkspaceSettings


class AspTrigger(BaseTrigger):
    """A trigger of one processor through one ``asp`` connection.

    ``serialize()`` gives the attributes named in :attr:`serialized`, in that order, then
    :meth:`more_kwargs`. Triggers of one connection share one pooled client
    (:meth:`AspHook.alease_shared_conn`); ``cleanup()`` only gives this trigger's share back.
    """

    #: The kwargs :meth:`serialize` gives first, each the attribute of that name, in this
    #: order (an event trigger's hash depends on the order: never reorder).
    serialized: ClassVar[tuple[str, ...]] = ("processor_name", "asp_conn_id")
    #: The public module the classpath names (None: the class's own). Airflow stores the
    #: classpath, and an event trigger's hash includes it: a public path keeps both when
    #: the class moves between internal modules.
    public_module: ClassVar[str | None] = None

    processor_name: str
    asp_conn_id: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lease: ClientLease | None = None

    # -- Airflow's side -------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {name: getattr(self, name) for name in self.serialized}
        module = self.public_module or type(self).__module__
        return f"{module}.{type(self).__qualname__}", {
            **kwargs,
            **self.more_kwargs(),
        }

    def more_kwargs(self) -> dict[str, Any]:
        """Kwargs after those of :attr:`serialized` (optional ones, a condition's)."""
        return {}

    async def cleanup(self) -> None:
        """Give back this trigger's share of the pooled client; nothing else."""
        await self.release()

    # -- the pooled client ----------------------------------------------------------------
    def hook(self) -> AspHook:
        from airflow_provider_asp.hooks.asp import AspHook

        return AspHook(asp_conn_id=self.asp_conn_id)

    async def lease(self) -> ClientLease:
        """This trigger's share of its connection's pooled client (taken on first use)."""
        if self._lease is None:
            self._lease = await self.hook().alease_shared_conn()
        return self._lease

    async def release(self) -> None:
        """Give the share back (the next :meth:`lease` reads the connection again)."""
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()

    @property
    def settings(self) -> WorkspaceSettings | None:
        """The connection's settings, once leased."""
        return None if self._lease is None else self._lease.settings

    def connection_problem(self, exc: BaseException) -> str | None:
        """For a failure to reach or log in to the workspace, what went wrong with which
        connection, without the password; None for anything else (or before a lease)."""
        from asp_core.diagnosis import connection_message

        settings = self.settings
        return None if settings is None else connection_message(exc, settings)
