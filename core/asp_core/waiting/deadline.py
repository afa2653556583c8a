"""How long one command may take: what is left of an absolute deadline, and never more than
the connection's socket timeout (which pymongo's client-side operation timeout replaces for
the commands it bounds)."""

from __future__ import annotations

import time

#: A command may take at least this long, even at the deadline: one last look is always
#: possible, and a silent server costs at most the deadline plus this.
MIN_COMMAND_SECONDS = 1.0


def command_bound(deadline: float | None, command_timeout: float | None) -> float | None:
    """Seconds for one command: ``command_timeout`` (the socket timeout) at most, what is
    left until ``deadline`` (seconds since the epoch) but at least :data:`MIN_COMMAND_SECONDS`;
    None when neither bounds it."""
    bounds = []
    if deadline is not None:
        bounds.append(max(deadline - time.time(), MIN_COMMAND_SECONDS))
    if command_timeout is not None:
        bounds.append(command_timeout)
    return min(bounds) if bounds else None


def raise_if_cancelled() -> None:
    """Raise CancelledError if the running asyncio task is being cancelled: pymongo sends each
    command inside ``asyncio.wait_for``, which on Python 3.11 can swallow a cancellation that
    arrives as the send completes. Outside a running event loop (the blocking client), nothing."""
    import asyncio

    try:
        task = asyncio.current_task()
    except RuntimeError:
        return
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError
