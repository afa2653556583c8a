"""A sensor on the connection registry (the Atlas Administration API): wait until a
connection is READY. Poke, reschedule and deferrable modes judge each look alike
(:class:`~airflow_provider_asp.triggers.admin.AdminWait`); FAILED fails the task at once.
Importing this module sends nothing and reads no connection.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_asp.errors import AirflowErrorsMixin
from airflow_provider_asp.operators.admin_base import checked_name
from airflow_provider_asp.operators.base import DEFAULT_DEFERRABLE, DEFER_MARGIN
from asp_core import arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.admin import AspAdminHook
    from airflow_provider_asp.triggers.admin import AdminLook, AdminWait

__all__ = ["AspConnectionReadySensor"]


class AspConnectionReadySensor(AirflowErrorsMixin, BaseSensorOperator):
    """Wait until a connection of a workspace's registry is READY; returns
    ``{"workspace_name", "connection_name", "state"}``.

    :param workspace_name: the workspace (templated).
    :param connection_name: the connection (templated).
    :param asp_admin_conn_id: the ``asp_admin`` connection (templated).
    :param missing_ok: wait for a missing connection to appear instead of failing.
    :param deferrable: wait in the triggerer after a first look
        (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between looks in the triggerer (default: ``poke_interval``).

    ``poke_interval``, ``timeout``, ``mode`` and the rest are ``BaseSensorOperator``'s;
    ``timeout`` also bounds the deferred wait.
    """

    template_fields: Sequence[str] = ("workspace_name", "connection_name", "asp_admin_conn_id")
    ui_color = "#00684A"

    def __init__(
        self,
        *,
        workspace_name: str,
        connection_name: str,
        asp_admin_conn_id: str = "asp_admin_default",
        missing_ok: bool = False,
        deferrable: bool = DEFAULT_DEFERRABLE,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace_name = workspace_name
        self.connection_name = connection_name
        self.asp_admin_conn_id = asp_admin_conn_id
        self.missing_ok = missing_ok
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._end_time = 0.0

    @cached_property
    def hook(self) -> AspAdminHook:
        from airflow_provider_asp.hooks.admin import AspAdminHook

        return AspAdminHook(self.asp_admin_conn_id)

    def _wait(self) -> AdminWait:
        from airflow_provider_asp.triggers.admin import AdminWait

        return AdminWait(
            "ready",
            checked_name(self.workspace_name, "workspace_name"),
            checked_name(self.connection_name, "connection_name"),
            self.missing_ok,
        )

    def _result(self, look: AdminLook) -> dict[str, Any]:
        return {
            "workspace_name": self.workspace_name,
            "connection_name": self.connection_name,
            "state": look.state,
        }

    def execute(self, context: Context) -> Any:
        self._wait()  # the names, checked before anything is sent
        self._end_time = time.time() + self.timeout
        try:
            return super().execute(context)
        finally:
            self.hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One look; a pending one defers in deferrable mode."""
        wait = self._wait()
        look = wait.wait(self.hook.get_conn(), 0, self._poll_interval())
        self.log.info("%s", look.message)
        if look.status == "success":
            return PokeReturnValue(True, self._result(look))
        if look.status != "pending":
            look.raise_unless_success()
        if self.deferrable:
            self._defer(wait)
        return False

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Back from the triggerer: its event becomes the poke's value or exception."""
        from airflow_provider_asp.triggers.admin import AdminLook

        look = AdminLook.from_event(event)
        self.log.info("%s", look.message)
        if look.status == "timeout":
            raise AirflowSensorTimeout(look.message)
        look.raise_unless_success()
        return self._result(look)

    def _poll_interval(self) -> float:
        interval = self.poke_interval if self.poll_interval is None else self.poll_interval
        return arguments.seconds(interval, "poll_interval")

    def _defer(self, wait: AdminWait) -> None:
        from airflow_provider_asp.triggers.admin import AspAdminWaitTrigger

        left = max(self._end_time - time.time(), 0.0)
        self.log.info("Deferring: waiting up to %.0f s more in the triggerer.", left)
        self.defer(
            trigger=AspAdminWaitTrigger(
                **wait.to_kwargs(),
                end_time=self._end_time,
                asp_admin_conn_id=self.asp_admin_conn_id,
                poll_interval=self._poll_interval(),
            ),
            method_name="execute_complete",
            timeout=datetime.timedelta(seconds=left) + DEFER_MARGIN,
        )
