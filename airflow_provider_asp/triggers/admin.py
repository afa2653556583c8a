"""Waiting on the Atlas Administration API: a connection READY, a connection or workspace
gone. The waits are the core's (:mod:`asp_core.admin.waits`: bounded, a transient look
costs a look, connections judged by :func:`~asp_core.admin.deploy.judge_connection`);
:class:`AdminWait` says what is awaited and turns each wait's end into an
:class:`AdminLook`, the one outcome a worker's wait, a sensor's poke and
:class:`AspAdminWaitTrigger`'s event share.

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

from asp_core.errors import AspError, Unretryable

if TYPE_CHECKING:
    from asp_core.admin import AdminClient, AsyncAdminClient

__all__ = ["AdminLook", "AdminWait", "AspAdminWaitTrigger"]

Kind = Literal["ready", "gone"]
Status = Literal["success", "pending", "failed", "timeout", "error"]
_ENDS = ("success", "failed", "timeout", "error")


class AspAdminCallError(AspError):
    """The triggerer's call to the Admin API failed in a way a retry may fix (the message
    says why, without secrets), with no error of :mod:`asp_core.admin.errors` to name."""


class AspAdminCallRefusedError(Unretryable, AspAdminCallError):
    """The triggerer's call to the Admin API failed in a way no retry fixes."""


def _core_error(name: str | None) -> type[AspError] | None:
    """The class of :mod:`asp_core.admin.errors` called ``name`` (None: no such class)."""
    from asp_core.admin import errors

    found = getattr(errors, name, None) if name else None
    if isinstance(found, type) and issubclass(found, errors.AdminApiError):
        return found
    return None


@dataclasses.dataclass(frozen=True)
class AdminLook:
    """How a wait ended, or one look: ``status`` (``success``, ``pending``, ``failed``,
    ``timeout`` or ``error``), the connection's ``state`` (None when gone or for a
    workspace), what to log; for an ``error``, the core's error class (``error``, e.g.
    ``AdminForbiddenError``), raised again in the task with the same words."""

    status: Status
    message: str
    state: str | None = None
    unretryable: bool = False
    error: str | None = None

    def to_event(self, resume: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = dataclasses.asdict(self)
        if resume is not None:
            event["resume"] = dict(resume)
        return event

    @classmethod
    def from_event(cls, event: Any) -> AdminLook:
        if not isinstance(event, Mapping) or event.get("status") not in _ENDS:
            return cls("error", f"unexpected trigger event: {event!r}")
        error = event.get("error")
        return cls(
            event["status"],
            str(event.get("message") or ""),
            event.get("state"),
            bool(event.get("unretryable")),
            error if isinstance(error, str) else None,
        )

    def raise_unless_success(self) -> None:
        """The core's exception for a wait that did not succeed (a success returns)."""
        from asp_core.admin.errors import AdminConnectionFailedError, AdminWaitTimeoutError

        if self.status == "success":
            return
        if self.status == "failed":
            raise AdminConnectionFailedError(self.message)
        if self.status == "timeout":
            raise AdminWaitTimeoutError(self.message)
        core = _core_error(self.error)
        if core is not None:
            raise core(self.message)
        if self.unretryable:
            raise AspAdminCallRefusedError(self.message)
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

    def to_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # -- judgments ------------------------------------------------------------------------
    def judge(self, doc: Mapping[str, Any] | None) -> AdminLook:
        """The look for a document already read (None: a 404)."""
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
            return AdminLook("failed", f"{self.what} is FAILED: {verdict.message}", "FAILED")
        if verdict.gone:
            return self._missing(f"{self.what} does not exist.")
        return AdminLook("pending", f"{self.what} is {verdict.state}.", verdict.state)

    def _missing(self, message: str) -> AdminLook:
        if self.missing_ok:
            return AdminLook("pending", f"{self.what} does not exist yet.")
        return AdminLook("failed", message)

    def ended(self, result: Mapping[str, Any] | None) -> AdminLook:
        """The look of a core wait that returned (``result``: the READY document)."""
        state = None if result is None else judge_connection_state(result)
        return AdminLook("success", self.judge(result).message, state)

    def ended_with(self, exc: BaseException, *, first: bool = False) -> AdminLook | None:
        """The look of a core wait that raised ``exc``; None for an error the caller
        raises (or reports). ``first``: a single look (timeout 0), pending when undecided."""
        from asp_core.admin.errors import (
            AdminConnectionFailedError,
            AdminNotFoundError,
            AdminWaitTimeoutError,
        )

        if isinstance(exc, AdminWaitTimeoutError):
            if first:
                detail = f" ({exc.last_seen})" if exc.last_seen else ""
                return AdminLook("pending", f"{self.what} is not {self.awaited} yet{detail}.")
            return AdminLook("timeout", str(exc))
        if isinstance(exc, AdminConnectionFailedError):
            return AdminLook("failed", str(exc), "FAILED")
        if isinstance(exc, AdminNotFoundError) and self.kind == "ready":
            return self._missing(f"{self.what} does not exist." if first else str(exc))
        return None

    @property
    def awaited(self) -> str:
        return "READY" if self.kind == "ready" else "gone"

    # -- the core's waits -----------------------------------------------------------------
    def wait(self, client: AdminClient, timeout: float, poll_interval: float) -> AdminLook:
        """Wait in this thread, up to ``timeout`` seconds (0: one look, pending when
        undecided); an error no wait judges (401, 403, ...) is raised."""
        from asp_core.admin.waits import synchronous as waits

        try:
            doc = waits.wait_for(
                client,
                self.workspace,
                self.kind,
                self.connection,
                timeout=timeout,
                poll_interval=poll_interval,
            )
            return self.ended(doc)
        except Exception as exc:
            look = self.ended_with(exc, first=timeout == 0)
            if look is None:
                raise
            return look

    async def await_(
        self, client: AsyncAdminClient, deadline: float, poll_interval: float
    ) -> AdminLook:
        """Wait in the event loop until ``deadline`` (seconds since the epoch); a
        connection missing with ``missing_ok`` is looked for again until then."""
        from asp_core.admin.waits import asynchronous as waits

        while True:
            timeout = max(deadline - time.time(), 0.0)
            try:
                doc = await waits.wait_for(
                    client,
                    self.workspace,
                    self.kind,
                    self.connection,
                    timeout=timeout,
                    poll_interval=poll_interval,
                )
                return self.ended(doc)
            except Exception as exc:
                look = self.ended_with(exc)
                if look is None:
                    raise
            if look.status != "pending":
                return look
            left = deadline - time.time()
            if left <= 0:
                message = f"{self.what} READY: not within the deadline (last seen: gone)"
                return AdminLook("timeout", message)
            await asyncio.sleep(min(poll_interval, left))


def judge_connection_state(doc: Mapping[str, Any]) -> str | None:
    from asp_core.admin.deploy import judge_connection

    return judge_connection(doc).state


class AspAdminWaitTrigger(BaseTrigger):
    """Waits through the Admin API (the core's async waits) until the wait is decided or
    ``end_time`` (seconds since the epoch) has passed; yields one event
    (:meth:`AdminLook.to_event`, with ``resume`` echoed for the task).

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
        """Wait until decided or time is up; yield that one event."""
        look = await self._wait()
        self.log.info("%s", look.message)
        yield TriggerEvent(look.to_event(self.resume))

    async def _wait(self) -> AdminLook:
        from airflow_provider_asp.hooks.admin import AspAdminHook
        from asp_core.admin.errors import AdminApiError

        # each look bounded by what is left (the request timeout capped), as in the worker
        hook = AspAdminHook(self.asp_admin_conn_id, within=self.end_time - time.time())
        try:
            async with hook:
                client = await hook.aget_conn()
                self.log.info("Waiting for %s to be %s.", self.wait.what, self.wait.awaited)
                return await self.wait.await_(client, self.end_time, self.poll_interval)
        except Exception as exc:
            unretryable = isinstance(exc, Unretryable)
            if isinstance(exc, AdminApiError):  # the worker's words: the core's error's own
                name = type(exc).__name__
                return AdminLook("error", hook.scrub(str(exc)), None, unretryable, name)
            return AdminLook("error", hook.explain(exc), unretryable=unretryable)
