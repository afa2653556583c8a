"""Time bounds on pymongo's client-side operation timeout (CSOT).

Every command the clients send obeys CSOT: the deadline of a ``pymongo.timeout(seconds)``
block around the call (the *caller's* deadline), or else the client's ``timeoutMS`` per
command. A sample cursor has deadlines of its own (its ``timeout``, ``to_list``'s).
:class:`CommandBound` puts them together for one command of a cursor: the cursor's own
deadline is entered as a ``pymongo.timeout`` block when it is the nearest, and a timeout
error then means that the cursor's own time ran out (``to_list`` returns, iteration raises
:class:`~.sampling.SampleCursorTimeout`); any other timeout error is raised as it is.
Back-off pauses end at the caller's deadline (:func:`pause`).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import pymongo

# pymongo keeps the deadline of pymongo.timeout() blocks in the context variables of its
# private _csot module (4.2 and later). This module is the one place that reads it:
# tests/unit/test_timeouts.py pins how it is read here.
from pymongo import _csot

from asp_core.stream_processing.protocol import is_timeout_error

__all__ = ["CommandBound", "caller_deadline", "pause", "remaining"]

_SMALLEST = 1e-6  # seconds: the shortest bound handed to pymongo.timeout


def caller_deadline() -> float | None:
    """The deadline (a ``time.monotonic()`` reading) of the ``pymongo.timeout`` block around
    this call, nested blocks taken together; None outside any (and inside
    ``pymongo.timeout(None)`` or ``pymongo.timeout(0)``, which pymongo runs unbounded)."""
    if not _csot.get_timeout():
        return None
    deadline = _csot.get_deadline()
    return deadline if math.isfinite(deadline) else None


def remaining() -> float | None:
    """Seconds left of the ``pymongo.timeout`` block around this call; None outside any."""
    return _csot.remaining()


def pause(wait: float, now: float) -> float:
    """``wait`` seconds, cut so that the pause ends by the caller's deadline."""
    deadline = caller_deadline()
    if deadline is None:
        return wait
    return max(0.0, min(wait, deadline - now))


@dataclass(frozen=True)
class CommandBound:
    """How one command of a sample cursor is bounded, decided just before it is sent.

    ``remaining`` is the time the cursor's own deadline leaves the command when that
    deadline is the nearest one; None when the caller's ``pymongo.timeout``, the client's
    ``timeoutMS`` (or nothing) bounds it instead.
    """

    remaining: float | None = None

    @classmethod
    def at(
        cls, own: float | None, now: float, operation_timeout: float | None = None
    ) -> CommandBound:
        """The bound of a command sent at ``now`` under the cursor's deadline ``own``;
        ``operation_timeout`` is the client's ``timeoutMS`` in seconds (pymongo's
        ``client.options.timeout``), which applies outside any ``pymongo.timeout`` block."""
        if own is None:
            return cls()
        other = caller_deadline()
        if other is None and operation_timeout:
            other = now + operation_timeout
        if other is not None and other < own:
            return cls()
        return cls(own - now)

    @property
    def expired(self) -> bool:
        """Whether the cursor's own deadline binds and has passed: send nothing."""
        return self.remaining is not None and self.remaining <= 0

    def scope(self) -> AbstractContextManager[object]:
        """The ``pymongo.timeout`` block to send the command in (nested in the caller's
        block, if any: pymongo keeps the nearer deadline)."""
        if self.remaining is None:
            return nullcontext()
        # never pymongo.timeout(0), which pymongo runs unbounded: a deadline that has just
        # passed makes pymongo raise its timeout error without sending anything
        return pymongo.timeout(max(self.remaining, _SMALLEST))

    def ran_out(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by the command, is the cursor's own deadline running out."""
        return self.remaining is not None and is_timeout_error(exc)
