"""Waiting on the Atlas Administration API: a connection READY, a connection or workspace
gone. One :class:`AdminWait` says what is awaited and judges each look (with the core's
:func:`~asp_core.admin.deploy.judge_connection`); the operators and sensors look from the
worker, and :class:`AspAdminWaitTrigger` looks from the triggerer on the async client.

Kwargs hold the connection id and names, never a secret. Importing this module sends
nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent

from asp_core.errors import AspError, AspWaitTimeoutError, Unretryable

if TYPE_CHECKING:
    from asp_core.admin import AdminClient, AsyncAdminClient

__all__ = ["AdminLook", "AdminWait", "AspAdminStateError", "AspAdminWaitTrigger"]

Kind = Literal["ready", "gone"]
Status = Literal["success", "pending", "failed", "timeout", "error"]


class AspAdminStateError(Unretryable):
    """A connection is FAILED (or gone while awaited READY): no wait or retry fixes it."""


class AspAdminCallError(AspError):
    """The triggerer's call to the Admin API failed (the message says why, without secrets)."""


@dataclasses.dataclass(frozen=True)
class AdminLook:
    """One look: ``status`` (``success``, ``pending``, ``failed``, ``timeout`` or
    ``error``), the connection's ``state`` (None when gone or for a workspace), what to log."""

    status: Status
    message: str
    state: str | None = None
    unretryable: bool = False

    def to_event(self, resume: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = dataclasses.asdict(self)
        if resume is not None:
            event["resume"] = dict(resume)
        return event

    @classmethod
    def from_event(cls, event: Any) -> AdminLook:
        if not isinstance(event, Mapping) or event.get("status") not in (
            "success",
            "failed",
            "timeout",
            "error",
        ):
            return cls("error", f"unexpected trigger event: {event!r}")
        return cls(
            event["status"],
            str(event.get("message") or ""),
            event.get("state"),
            bool(event.get("unretryable")),
        )

    def raise_unless_success(self) -> None:
        """The exception of a look that did not succeed (a success returns)."""
        if self.status == "success":
            return
        if self.status == "failed":
            raise AspAdminStateError(self.message)
        if self.status == "timeout":
            raise AspWaitTimeoutError(self.message)
        if self.unretryable:
            raise AspAdminStateError(self.message)
        raise AspAdminCallError(self.message)


@dataclasses.dataclass(frozen=True)
class AdminWait:
    """What is awaited: connection ``connection`` of ``workspace`` READY (``ready``), or
    that connection, or without one the workspace, gone (``gone``). ``missing_ok``: a
    connection awaited READY that does not exist yet is pending, not a failure."""

    kind: Kind
    workspace: str
    connection: str | None = None
    missing_ok: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("ready", "gone"):
            raise ValueError(f"kind must be ready or gone, not {self.kind!r}")
        if self.kind == "ready" and not self.connection:
            raise ValueError("a READY wait needs a connection")

    @property
    def what(self) -> str:
        if self.connection is None:
            return f"workspace {self.workspace!r}"
        return f"connection {self.connection!r} of workspace {self.workspace!r}"

    def judge(self, doc: Mapping[str, Any] | None) -> AdminLook:
        """The look for the document read (None: 404)."""
        from asp_core.admin.deploy import judge_connection

        if self.kind == "gone":
            if doc is None:
                return AdminLook("success", f"{self.what} is gone.")
            state = doc.get("state") if self.connection is not None else None
            at = f" ({state})" if state else ""
            return AdminLook("pending", f"{self.what} is still there{at}.", state)
        verdict = judge_connection(doc)
        if verdict.ready:
            return AdminLook("success", f"{self.what} is READY.", verdict.state)
        if verdict.failed:
            return AdminLook("failed", f"{self.what} FAILED: {verdict.message}", verdict.state)
        if verdict.gone:
            if self.missing_ok:
                return AdminLook("pending", f"{self.what} does not exist yet.")
            return AdminLook("failed", f"{self.what} does not exist.")
        return AdminLook("pending", f"{self.what} is {verdict.state}.", verdict.state)

    def timed_out(self, seconds: float, last: AdminLook) -> AdminLook:
        awaited = "READY" if self.kind == "ready" else "gone"
        return AdminLook(
            "timeout", f"{self.what} not {awaited} within {seconds:.0f} s ({last.message})"
        )

    # -- looks ----------------------------------------------------------------------------
    def look(self, client: AdminClient) -> AdminLook:
        """One look through the sync client."""
        from asp_core.admin import AdminNotFoundError

        try:
            if self.connection is None:
                doc = client.get_workspace(self.workspace)
            else:
                doc = client.get_connection(self.workspace, self.connection)
        except AdminNotFoundError:
            doc = None
        return self.judge(doc)

    async def alook(self, client: AsyncAdminClient) -> AdminLook:
        """One look through the async client."""
        from asp_core.admin import AdminNotFoundError

        try:
            if self.connection is None:
                doc = await client.get_workspace(self.workspace)
            else:
                doc = await client.get_connection(self.workspace, self.connection)
        except AdminNotFoundError:
            doc = None
        return self.judge(doc)

    def to_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AspAdminWaitTrigger(BaseTrigger):
    """Looks through the Admin API until the wait is decided or ``end_time`` (seconds
    since the epoch) has passed; yields one event (:meth:`AdminLook.to_event`, with
    ``resume`` echoed for the task).

    :param kind: ``ready`` or ``gone`` (:class:`AdminWait`).
    :param workspace: the workspace.
    :param connection: the connection (None: the workspace itself, for ``gone``).
    :param missing_ok: a connection awaited READY may not exist yet.
    :param asp_admin_conn_id: the ``asp_admin`` connection.
    :param poll_interval: seconds between two looks.
    :param resume: where the deferred task resumes (JSON).
    """

    def __init__(
        self,
        *,
        kind: Kind,
        workspace: str,
        end_time: float,
        connection: str | None = None,
        missing_ok: bool = False,
        asp_admin_conn_id: str = "asp_admin_default",
        poll_interval: float = 5.0,
        resume: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.wait = AdminWait(kind, workspace, connection, missing_ok)
        self.end_time = float(end_time)
        self.asp_admin_conn_id = asp_admin_conn_id
        self.poll_interval = float(poll_interval)
        self.resume = resume

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            **self.wait.to_kwargs(),
            "end_time": self.end_time,
            "asp_admin_conn_id": self.asp_admin_conn_id,
            "poll_interval": self.poll_interval,
        }
        if self.resume is not None:
            kwargs["resume"] = self.resume
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look until decided or time is up; yield that one event."""
        look = await self._wait()
        self.log.info("%s", look.message)
        yield TriggerEvent(look.to_event(self.resume))

    async def _wait(self) -> AdminLook:
        from airflow_provider_asp.hooks.admin import AspAdminHook

        hook = AspAdminHook(self.asp_admin_conn_id)
        started = time.time()
        try:
            async with hook:
                client = await hook.aget_conn()
                while True:
                    look = await self.wait.alook(client)
                    if look.status != "pending":
                        return look
                    left = self.end_time - time.time()
                    if left <= 0:
                        return self.wait.timed_out(time.time() - started, look)
                    self.log.info("%s", look.message)
                    await asyncio.sleep(min(self.poll_interval, left))
        except Exception as exc:
            return _failed_call(hook, exc)


def _failed_call(hook: Any, exc: BaseException) -> AdminLook:
    """The error look for ``exc``, in the hook's words (without the secret)."""
    try:
        message = hook.explain(exc)
    except Exception:
        message = type(exc).__name__
    return AdminLook("error", message, unretryable=isinstance(exc, Unretryable))
