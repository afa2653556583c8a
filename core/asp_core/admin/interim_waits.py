"""Bounded blocking waits on the Admin API: a connection READY (or FAILED), a connection or
a workspace gone. Interim: the one place these waits live until the core's async waits
(with their generated sync twin) replace them.

Each wait looks (one GET), judges the document with
:func:`~asp_core.admin.deploy.judge_connection`, and looks again every ``poll_interval``
seconds until the answer is settled or ``timeout`` seconds have passed. A transient error
(429, 5xx, no answer) costs one look, never the wait. A wait lasts at most ``timeout`` plus
one call of the client (its ``deadline``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from asp_core.admin.client import AdminClient
from asp_core.admin.deploy import ConnectionVerdict, judge_connection
from asp_core.admin.errors import (
    AdminApiError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminServerError,
    AdminTimeoutError,
)
from asp_core.errors import AspWaitTimeoutError, Unretryable

log = logging.getLogger(__name__)

Until = Literal["ready", "gone"]


class AdminConnectionFailedError(Unretryable, AdminApiError):
    """Atlas reports the connection FAILED (``message``: its words), or it vanished while
    awaited READY: no retry fixes either."""


def _transient(exc: AdminApiError) -> bool:
    return exc.retry and (
        isinstance(exc, (AdminRateLimitedError, AdminServerError, AdminTimeoutError))
        or type(exc) is AdminApiError  # a lost connection
    )


def _poll(
    look: Callable[[], Any],
    settled: Callable[[Any], bool],
    what: str,
    *,
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """``look()`` until ``settled(result)``; :class:`AspWaitTimeoutError` after ``timeout``."""
    if timeout < 0 or poll_interval <= 0:
        raise ValueError("timeout must be >= 0 and poll_interval > 0")
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            result = look()
        except AdminApiError as exc:
            if not _transient(exc):
                raise
            last = str(exc).splitlines()[0]
            log.warning("%s: %s; looking again", what, last)
        else:
            if settled(result):
                return result
            last = _describe(result)
        left = deadline - time.monotonic()
        if left <= 0:
            raise AspWaitTimeoutError(f"{what}: not settled after {timeout:g} s ({last}).")
        sleep(min(poll_interval, left))


def _describe(result: Any) -> str:
    if isinstance(result, ConnectionVerdict):
        return "gone" if result.gone else f"state {result.state}"
    return "still there" if result else "gone"


def wait_for_connection(
    client: AdminClient,
    workspace: str,
    name: str,
    *,
    until: Until = "ready",
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> ConnectionVerdict:
    """Wait until connection ``name`` of ``workspace`` is READY (``until="ready"``) or gone
    (``until="gone"``). Awaiting READY, FAILED or gone raises
    :class:`AdminConnectionFailedError` with Atlas's words."""

    def look() -> ConnectionVerdict:
        try:
            return judge_connection(client.get_connection(workspace, name))
        except AdminNotFoundError:
            return judge_connection(None)

    def settled(verdict: ConnectionVerdict) -> bool:
        return verdict.gone if until == "gone" else verdict.settled

    what = f"Connection {name!r} of workspace {workspace!r}"
    verdict: ConnectionVerdict = _poll(
        look,
        settled,
        f"{what} ({until.upper()} awaited)",
        timeout=timeout,
        poll_interval=poll_interval,
        sleep=sleep,
    )
    if until == "ready":
        raise_unless_ready(verdict, workspace, name)
    return verdict


def raise_unless_ready(verdict: ConnectionVerdict, workspace: str, name: str) -> None:
    """:class:`AdminConnectionFailedError` for a FAILED or gone connection (its words)."""
    what = f"Connection {name!r} of workspace {workspace!r}"
    if verdict.failed:
        raise AdminConnectionFailedError(f"{what} FAILED: {verdict.message}")
    if verdict.gone:
        raise AdminConnectionFailedError(f"{what} is gone (deleted while awaited READY).")


def wait_for_workspace_gone(
    client: AdminClient,
    name: str,
    *,
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until workspace ``name`` no longer exists (its delete answered 202)."""

    def look() -> bool:
        try:
            client.get_workspace(name)
        except AdminNotFoundError:
            return False
        return True

    _poll(
        look,
        lambda there: not there,
        f"Workspace {name!r} (deletion awaited)",
        timeout=timeout,
        poll_interval=poll_interval,
        sleep=sleep,
    )
