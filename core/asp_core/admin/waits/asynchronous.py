"""Bounded waits on the Admin API: a connection READY, a connection gone, a workspace gone.

Written once for asyncio (triggers); ``tools/synchro.py`` generates the twin for blocking
code (operators, sensors, Dagster ops). Each wait looks (one GET, one attempt, bounded by
the client's ``timeout``), judges what it saw, and pauses ``poll_interval`` seconds (never
past the deadline) until the judgment is final or ``timeout`` seconds have passed: a silent
server costs at most ``timeout`` plus one request's timeout. A look that fails in a way a
retry can fix (429, 5xx, no answer) costs that look, never the wait (after a 429 the next
look waits its ``Retry-After``, if longer); any other error is raised, and so is a 404 that
says the project is missing. Connections are judged by
:func:`asp_core.admin.deploy.judge_connection`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asp_core.admin.deploy import ConnectionVerdict, judge_connection
from asp_core.admin.errors import (
    AdminApiError,
    AdminConnectionFailedError,
    AdminNotFoundError,
    AdminWaitTimeoutError,
    is_gone,
)
from asp_core.admin.retries import AsyncFetch, retryable

if TYPE_CHECKING:
    from asp_core.admin import AsyncAdminClient

#: Seconds between looks unless told otherwise.
POLL_INTERVAL = 5.0
#: Atlas's private-networking connections take 20 to 30 minutes to become READY.
READY_TIMEOUT = 2400.0
#: Deletes return 202 and finish later.
GONE_TIMEOUT = 600.0

_UNSEEN = object()  # a look that failed transiently: nothing seen


async def connection_ready(
    client: AsyncAdminClient,
    workspace: str,
    name: str,
    *,
    timeout: float = READY_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """The connection's document once it is READY. FAILED raises
    :class:`AdminConnectionFailedError` with Atlas's words; gone raises
    :class:`AdminNotFoundError`; past ``timeout``, :class:`AdminWaitTimeoutError`."""
    what = f"connection {name!r} of workspace {workspace!r}"

    async def look() -> dict[str, Any] | None:
        return await client.get_connection(workspace, name, attempts=1)

    def final(doc: dict[str, Any] | None) -> bool:
        verdict = judge_connection(doc)
        if verdict.failed:
            raise AdminConnectionFailedError(f"{what} is FAILED: {verdict.message}")
        if verdict.gone:
            raise AdminNotFoundError(f"{what} is gone (deleted while waiting for READY)")
        return verdict.ready

    doc = await _until(look, final, f"{what} READY", timeout, poll_interval, _state_of)
    assert doc is not None
    return doc


async def connection_gone(
    client: AsyncAdminClient,
    workspace: str,
    name: str,
    *,
    timeout: float = GONE_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
) -> None:
    """Return once the connection is gone (a 404; a delete answers 202 and finishes
    later); past ``timeout``, :class:`AdminWaitTimeoutError`."""

    async def look() -> dict[str, Any] | None:
        return await client.get_connection(workspace, name, attempts=1)

    what = f"connection {name!r} of workspace {workspace!r} gone"
    await _until(look, _gone, what, timeout, poll_interval, _state_of)


async def workspace_gone(
    client: AsyncAdminClient,
    name: str,
    *,
    timeout: float = GONE_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
) -> None:
    """Return once the workspace is gone (a 404 after the delete's 202); past ``timeout``,
    :class:`AdminWaitTimeoutError`."""

    async def look() -> dict[str, Any] | None:
        return await client.get_workspace(name, attempts=1)

    what = f"workspace {name!r} gone"
    await _until(look, _gone, what, timeout, poll_interval, lambda doc: "still there")


async def wait_for(
    client: AsyncAdminClient,
    workspace: str,
    kind: str,
    connection: str | None = None,
    *,
    timeout: float,
    poll_interval: float = POLL_INTERVAL,
) -> dict[str, Any] | None:
    """The wait ``kind`` names: ``"ready"`` (:func:`connection_ready`, its document) or
    ``"gone"`` (:func:`connection_gone`, or :func:`workspace_gone` without a connection;
    None)."""
    if kind == "ready":
        if connection is None:
            raise ValueError("a READY wait needs a connection")
        return await connection_ready(
            client, workspace, connection, timeout=timeout, poll_interval=poll_interval
        )
    if kind != "gone":
        raise ValueError(f"kind must be ready or gone, not {kind!r}")
    if connection is None:
        await workspace_gone(client, workspace, timeout=timeout, poll_interval=poll_interval)
    else:
        await connection_gone(
            client, workspace, connection, timeout=timeout, poll_interval=poll_interval
        )
    return None


def _gone(doc: dict[str, Any] | None) -> bool:
    return doc is None


def _state_of(doc: dict[str, Any] | None) -> str:
    verdict: ConnectionVerdict = judge_connection(doc)
    return "gone" if verdict.gone else f"state {verdict.state}"


async def _until(
    look: AsyncFetch,
    final: Callable[[dict[str, Any] | None], bool],
    what: str,
    timeout: float,
    poll_interval: float,
    describe: Callable[[dict[str, Any] | None], str],
) -> dict[str, Any] | None:
    """Look until ``final`` says so (it may raise); the last document (None: gone)."""
    if timeout < 0 or poll_interval <= 0:
        raise ValueError("timeout must be >= 0 and poll_interval > 0")
    deadline = time.monotonic() + timeout
    seen: Any = _UNSEEN
    last_error = ""
    while True:
        last_error, pause = "", poll_interval
        try:
            seen = await look()
        except AdminNotFoundError as exc:
            if not is_gone(exc):  # the project is missing, or no Atlas answered
                raise
            seen = None
        except AdminApiError as exc:
            if not retryable(exc):
                raise
            last_error = str(exc).splitlines()[0]
            asked = getattr(exc, "retry_after", None)  # a 429's Retry-After
            pause = max(poll_interval, asked or 0.0)
        if not last_error and final(seen):
            return seen
        left = deadline - time.monotonic()
        if left <= 0:
            last = "nothing seen" if seen is _UNSEEN else f"last seen: {describe(seen)}"
            if last_error:
                last += f"; last look: {last_error}"
            error = AdminWaitTimeoutError(f"{what}: not within {timeout:g} s ({last})")
            error.last_seen = last
            raise error
        await asyncio.sleep(min(pause, left))
