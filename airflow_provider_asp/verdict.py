"""How a wait ends, and how that travels from the triggerer to the worker.

A :class:`Verdict` is one look at a processor: reached (with the value the task returns),
failed (with why), or pending. A trigger sends it as its event's payload
(:meth:`Verdict.to_event`); the resumed task rebuilds it (:meth:`Verdict.from_event`) and
returns its value or raises the same exception as a poke would (:meth:`Verdict.result`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_asp import lifecycle
from airflow_provider_asp.exceptions import (
    AspConnectionError,
    AspDlqLimitError,
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
)
from airflow_provider_asp.lifecycle import Outcome
from airflow_provider_asp.serialization import to_jsonable

if TYPE_CHECKING:
    from airflow_provider_asp.stream_processing import StreamProcessorInfo

#: Why a wait ended without success; each becomes one exception (see Verdict.error).
MISSING, FAILED, STATE, DLQ, TIMEOUT, CONNECTION, ERROR = (
    "missing",
    "failed",
    "state",
    "dlq",
    "timeout",
    "connection",
    "error",
)
#: Trigger event statuses: ``success`` and the ways a wait ends otherwise.
_STATUS = {
    MISSING: "failed",
    FAILED: "failed",
    STATE: "failed",
    DLQ: "failed",
    TIMEOUT: "timeout",
    CONNECTION: "error",
    ERROR: "error",
}


def info_to_dict(info: StreamProcessorInfo) -> dict[str, Any]:
    """The processor info as plain JSON (typed fields only; internal ids stay out)."""
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "raw"}
    return dict(to_jsonable(fields))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One look at a processor: reached (``value`` is the task's result), failed
    (``reason`` says why) or pending."""

    outcome: Outcome
    processor_name: str
    message: str = ""
    reason: str | None = None
    value: Any = None
    error_msg: str | None = None
    error_code: int | None = None
    error_retryable: bool | None = None

    @classmethod
    def reached(cls, name: str, value: Any, message: str) -> Verdict:
        return cls(Outcome.REACHED, name, message, value=value)

    @classmethod
    def pending(cls, name: str, message: str) -> Verdict:
        return cls(Outcome.PENDING, name, message)

    @classmethod
    def failure(cls, name: str, reason: str, message: str) -> Verdict:
        return cls(Outcome.FAILED, name, message, reason)

    @classmethod
    def processor_failed(cls, info: StreamProcessorInfo) -> Verdict:
        """The processor is FAILED: its ``errorMsg``, ``errorCode`` and retryability."""
        message = str(lifecycle.failure_error(info))
        return cls(
            Outcome.FAILED,
            info.name,
            message,
            FAILED,
            error_msg=info.error_msg,
            error_code=info.error_code,
            error_retryable=info.error_retryable,
        )

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.PENDING

    def to_event(self) -> dict[str, Any]:
        """The trigger event's payload (JSON): ``status`` plus the verdict's fields."""
        status = "success" if self.outcome is Outcome.REACHED else _STATUS[self.reason or ERROR]
        fields = dataclasses.asdict(self)
        fields.pop("outcome")
        return {"status": status, **fields}

    @classmethod
    def from_event(cls, event: Any) -> Verdict:
        """The verdict a trigger sent; anything unexpected is an ``error`` verdict."""
        names = {f.name for f in dataclasses.fields(cls)} - {"outcome"}
        status = event.get("status") if isinstance(event, Mapping) else None
        if status not in {"success", *_STATUS.values()} or set(event) - names - {"status"}:
            return cls.failure("?", ERROR, f"Unexpected trigger event: {event!r}")
        fields = {key: event[key] for key in names if key in event}
        fields.setdefault("processor_name", "?")
        outcome = Outcome.REACHED if status == "success" else Outcome.FAILED
        if outcome is Outcome.FAILED and fields.get("reason") not in _STATUS:
            fields["reason"] = ERROR
        return cls(outcome, **fields)

    def result(self, *, timeout_error: Callable[[str], BaseException], fatal: bool) -> Any:
        """The value when reached; else raise :meth:`error`."""
        if self.outcome is Outcome.REACHED:
            return self.value
        raise self.error(timeout_error=timeout_error, fatal=fatal)

    def error(self, *, timeout_error: Callable[[str], BaseException], fatal: bool) -> BaseException:
        """The exception for a failed verdict. ``fatal``: a FAILED processor fails the task
        without retries even if the server calls the error retryable (sensors)."""
        name, message = self.processor_name, self.message
        if self.outcome is Outcome.PENDING:
            return RuntimeError(f"Stream processor {name!r}: the wait is not over ({message}).")
        if self.reason == FAILED:
            retryable = bool(self.error_retryable) and not fatal
            cls = AspProcessorFailedError if retryable else AspProcessorFailedFatalError
            return cls(name, self.error_msg, self.error_code, self.error_retryable)
        if self.reason == MISSING:
            return AspProcessorNotFoundError(name)
        errors: dict[str | None, Callable[[str], BaseException]] = {
            STATE: AspProcessorStateError,
            DLQ: AspDlqLimitError,
            TIMEOUT: timeout_error,
            CONNECTION: AspConnectionError,
        }
        return errors.get(self.reason, RuntimeError)(message)


def transient(name: str, exc: BaseException) -> Verdict | None:
    """A pending verdict if ``exc`` is a passing fault (a network error, a retryable code
    or label) that the next look may not meet; None for any other error."""
    from airflow_provider_asp.stream_processing.protocol import is_retryable_read_error

    if not is_retryable_read_error(exc):
        return None
    first_line = str(exc).split(", full error")[0]
    return Verdict.pending(name, f"Transient error, still waiting: {first_line}")


def timed_out(name: str, last: Verdict | None) -> Verdict:
    """The verdict of a wait whose time is up; ``last`` is the last look's verdict."""
    where = f" ({last.message})" if last is not None and last.message else ""
    return Verdict.failure(
        name, TIMEOUT, f"Stream processor {name!r}: condition not met in time{where}."
    )
