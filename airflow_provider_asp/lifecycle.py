"""What a stream processor's state means, written once for operators, sensors and triggers.

Which states count as running, stopped or failed; which server errors mean "missing";
when a wait is over (:func:`evaluate`, the condition a trigger reuses);
and the bounded synchronous wait (:func:`wait_for_state`). Nothing here imports pymongo.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_asp.exceptions import (
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspWaitTimeoutError,
)

if TYPE_CHECKING:
    import datetime

    from airflow_provider_asp.stream_processing import (
        AsyncStreamProcessors,
        StreamProcessorInfo,
        StreamProcessors,
    )

CREATED = "CREATED"
STARTED = "STARTED"
STOPPED = "STOPPED"
FAILED = "FAILED"

#: Spellings older services used: RUNNING became STARTED, ERROR became FAILED.
STATE_SYNONYMS: dict[str, str] = {"RUNNING": STARTED, "ERROR": FAILED}
#: The processor consumes its sources.
RUNNING_STATES: frozenset[str] = frozenset({STARTED})
#: Defined, not running, and not failed: nothing to stop.
IDLE_STATES: frozenset[str] = frozenset({CREATED, STOPPED})
FAILURE_STATES: frozenset[str] = frozenset({FAILED})
#: States a deploy can aim for.
DESIRED_STATES: tuple[str, ...] = (STARTED, STOPPED)

#: "Stream processor does not exist": the server's code, and the engine's older one.
NOT_FOUND_CODES: frozenset[int] = frozenset({415, 1_000_000})


class StepLogger(Protocol):
    """What the wait and the actions log through (a ``logging.Logger`` or a task's log)."""

    def info(self, event: str, *args: Any) -> Any: ...

    def warning(self, event: str, *args: Any) -> Any: ...

    def error(self, event: str, *args: Any) -> Any: ...


def normalize_state(state: str) -> str:
    """The state in upper case, with old synonyms mapped (``running`` -> ``STARTED``)."""
    upper = state.strip().upper()
    return STATE_SYNONYMS.get(upper, upper)


def is_running(state: str) -> bool:
    return normalize_state(state) in RUNNING_STATES


def is_failed(state: str) -> bool:
    return normalize_state(state) in FAILURE_STATES


def normalize_states(states: str | Iterable[str]) -> frozenset[str]:
    """A state or states, each normalized (``("running",)`` -> ``{"STARTED"}``)."""
    return frozenset(normalize_state(s) for s in ([states] if isinstance(states, str) else states))


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def is_not_found(exc: BaseException) -> bool:
    """Whether a server error says the processor does not exist."""
    return _error_code(exc) in NOT_FOUND_CODES or "does not exist" in str(exc).lower()


class Outcome(enum.Enum):
    """Where a wait stands after one look at the processor."""

    REACHED = "reached"
    FAILED = "failed"
    PENDING = "pending"


def evaluate(
    info: StreamProcessorInfo,
    target: str | Iterable[str],
    ignore_failure_at: datetime.datetime | None = None,
    failures: str | Iterable[str] = FAILURE_STATES,
) -> Outcome:
    """Compare the processor with the awaited state(s) ``target`` (``STARTED`` or ``STOPPED``
    for the operators; any states for the sensors).

    A state in ``failures`` (FAILED) ends the wait as a failure, unless it is the very
    failure seen before the action (same ``lastStateChange`` as ``ignore_failure_at``): the
    server has not moved yet. States compare after :func:`normalize_state`.
    """
    state = normalize_state(info.state)
    if state in normalize_states(target):
        return Outcome.REACHED
    if state in normalize_states(failures):
        stale = ignore_failure_at is not None and info.last_state_change == ignore_failure_at
        return Outcome.PENDING if stale else Outcome.FAILED
    return Outcome.PENDING


def stale_failure_at(info: StreamProcessorInfo) -> datetime.datetime | None:
    """For a FAILED processor about to be restarted: when it failed (``ignore_failure_at``
    of the wait that follows), else None."""
    return info.last_state_change if is_failed(info.state) else None


def find(processors: StreamProcessors, name: str) -> StreamProcessorInfo | None:
    """The processor, or None if it does not exist."""
    try:
        return processors.get_info(name)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


async def afind(processors: AsyncStreamProcessors, name: str) -> StreamProcessorInfo | None:
    """:func:`find` for the asyncio client."""
    try:
        return await processors.get_info(name)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def failure_error(info: StreamProcessorInfo) -> AspProcessorFailedError:
    """The error for a FAILED processor: fatal unless the server says it is retryable."""
    cls = AspProcessorFailedError if info.error_retryable else AspProcessorFailedFatalError
    return cls(info.name, info.error_msg, info.error_code, info.error_retryable)


def wait_for_state(
    read: Callable[[], StreamProcessorInfo],
    target: str,
    *,
    timeout: float,
    poll_interval: float,
    ignore_failure_at: datetime.datetime | None = None,
    log: StepLogger | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> StreamProcessorInfo:
    """Read the processor until it is in ``target``; return the last info read.

    The first read is immediate; then one every ``poll_interval`` seconds, the last one at
    the deadline. FAILED raises :func:`failure_error` at once; past ``timeout`` seconds
    :class:`AspWaitTimeoutError`.
    """
    deadline = clock() + timeout
    while True:
        info = read()
        outcome = evaluate(info, target, ignore_failure_at)
        if outcome is Outcome.REACHED:
            return info
        if outcome is Outcome.FAILED:
            raise failure_error(info)
        remaining = deadline - clock()
        if remaining <= 0:
            raise AspWaitTimeoutError(
                f"Stream processor {info.name!r} is {info.state}, not {target}, "
                f"after waiting {timeout:g} s."
            )
        if log is not None:
            log.info("Stream processor %r is %s; waiting for %s.", info.name, info.state, target)
        sleep(min(poll_interval, remaining))
