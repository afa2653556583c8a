"""How one look ends, how that travels from the triggerer to the worker, and which exception
it becomes.

A :class:`Verdict` is one look at a processor: a success (with the value the task returns), a
failure (with its :class:`Reason`), or pending. A trigger sends it as its event's payload
(:meth:`Verdict.to_event`); the resumed task rebuilds it (:meth:`Verdict.from_event`) and
returns its value or raises the same exception as a wait in the worker (:meth:`Verdict.result`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from asp_core.errors import (
    AspConnectionError,
    AspDlqLimitError,
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
    AspTlsError,
)
from asp_core.jsonable import to_jsonable

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo


class Outcome(enum.Enum):
    """Where a wait stands after one look."""

    SUCCESS = "success"
    PENDING = "pending"
    FAILURE = "failure"


class Reason(str, enum.Enum):
    """Why a wait ended without success; each becomes one exception (:meth:`Verdict.error`)."""

    MISSING = "missing"
    PROCESSOR_FAILED = "processor_failed"
    WRONG_STATE = "wrong_state"
    DLQ_LIMIT = "dlq_limit"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CERTIFICATE = "certificate"
    ERROR = "error"


#: Event keys that travel beside a verdict: where a deferred lifecycle task resumes.
EVENT_EXTRAS = frozenset({"resume"})

#: Trigger event ``status`` of each reason (``success`` for a success).
_STATUS: dict[Reason, str] = {
    Reason.MISSING: "failed",
    Reason.PROCESSOR_FAILED: "failed",
    Reason.WRONG_STATE: "failed",
    Reason.DLQ_LIMIT: "failed",
    Reason.TIMEOUT: "timeout",
    Reason.CONNECTION: "error",
    Reason.CERTIFICATE: "failed",
    Reason.ERROR: "error",
}


def info_to_dict(info: StreamProcessorInfo) -> dict[str, Any]:
    """The processor info as plain JSON (typed fields only; internal ids stay out)."""
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "raw"}
    return dict(to_jsonable(fields))


def failure_error(info: StreamProcessorInfo, *, fatal: bool = False) -> AspProcessorFailedError:
    """The error for a FAILED processor: fatal (no task retries) unless the server says the
    error is retryable and ``fatal`` is off."""
    retryable = bool(info.error_retryable) and not fatal
    cls = AspProcessorFailedError if retryable else AspProcessorFailedFatalError
    return cls(info.name, info.error_msg, info.error_code, info.error_retryable)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One look at a processor: a success (``value`` is the task's result), a failure
    (``reason`` says why) or pending."""

    outcome: Outcome
    processor_name: str
    message: str = ""
    reason: Reason | None = None
    value: Any = None
    error_msg: str | None = None
    error_code: int | None = None
    error_retryable: bool | None = None

    @classmethod
    def success(cls, name: str, value: Any, message: str) -> Verdict:
        return cls(Outcome.SUCCESS, name, message, value=value)

    @classmethod
    def pending(cls, name: str, message: str) -> Verdict:
        return cls(Outcome.PENDING, name, message)

    @classmethod
    def failure(cls, name: str, reason: Reason, message: str) -> Verdict:
        return cls(Outcome.FAILURE, name, message, reason)

    @classmethod
    def missing(cls, name: str) -> Verdict:
        return cls.failure(name, Reason.MISSING, f"Stream processor {name!r} does not exist.")

    @classmethod
    def connection_failure(cls, name: str, exc: BaseException, message: str) -> Verdict:
        """A failure to reach or log in to the workspace (``message`` says it): a certificate
        that fails verification fails the task for good, anything else may pass."""
        from asp_core.stream_processing.protocol import is_certificate_failure

        reason = Reason.CERTIFICATE if is_certificate_failure(exc) else Reason.CONNECTION
        return cls.failure(name, reason, message)

    @classmethod
    def processor_failed(cls, info: StreamProcessorInfo) -> Verdict:
        """The processor is FAILED: its ``errorMsg``, ``errorCode`` and retryability."""
        return cls(
            Outcome.FAILURE,
            info.name,
            str(failure_error(info)),
            Reason.PROCESSOR_FAILED,
            error_msg=info.error_msg,
            error_code=info.error_code,
            error_retryable=info.error_retryable,
        )

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.PENDING

    def to_event(self) -> dict[str, Any]:
        """The trigger event's payload (JSON): ``status`` plus the verdict's fields."""
        if self.outcome is Outcome.PENDING:
            raise ValueError("a pending verdict is not an event")
        status = "success" if self.outcome is Outcome.SUCCESS else _STATUS[self.reason_or_error]
        fields = dataclasses.asdict(self)
        fields.pop("outcome")
        fields["reason"] = None if self.reason is None else self.reason.value
        return {"status": status, **fields}

    @property
    def reason_or_error(self) -> Reason:
        return self.reason or Reason.ERROR

    @classmethod
    def from_event(cls, event: Any) -> Verdict:
        """The verdict a trigger sent (keys in :data:`EVENT_EXTRAS` are for the task, not the
        verdict); anything unexpected is an ``error`` failure."""
        names = {f.name for f in dataclasses.fields(cls)} - {"outcome"}
        status = event.get("status") if isinstance(event, Mapping) else None
        extra = set(event) - names - {"status", *EVENT_EXTRAS} if status else set()
        if status not in {"success", *_STATUS.values()} or extra:
            return cls.failure("?", Reason.ERROR, f"Unexpected trigger event: {event!r}")
        fields = {key: event[key] for key in names if key in event}
        fields.setdefault("processor_name", "?")
        if status == "success":
            fields["reason"] = None
            return cls(Outcome.SUCCESS, **fields)
        try:
            fields["reason"] = Reason(fields.get("reason"))
        except ValueError:
            fields["reason"] = Reason.ERROR
        return cls(Outcome.FAILURE, **fields)

    def result(
        self,
        *,
        timeout_error: Callable[[str], BaseException],
        fatal: bool,
        where: str | None = None,
    ) -> Any:
        """The value of a success; else raise :meth:`error`."""
        if self.outcome is Outcome.SUCCESS:
            return self.value
        raise self.error(timeout_error=timeout_error, fatal=fatal, where=where)

    def error(
        self,
        *,
        timeout_error: Callable[[str], BaseException],
        fatal: bool,
        where: str | None = None,
    ) -> BaseException:
        """The exception of a failure. ``fatal``: a FAILED processor fails the task without
        retries even if the server calls the error retryable (sensors). ``where`` names the
        connection and host of a missing processor (``WorkspaceSettings.where``)."""
        name, message = self.processor_name, self.message
        if self.outcome is Outcome.PENDING:
            return RuntimeError(f"Stream processor {name!r}: the wait is not over ({message}).")
        reason = self.reason_or_error
        if reason is Reason.PROCESSOR_FAILED:
            retryable = bool(self.error_retryable) and not fatal
            cls = AspProcessorFailedError if retryable else AspProcessorFailedFatalError
            return cls(name, self.error_msg, self.error_code, self.error_retryable)
        if reason is Reason.MISSING:
            return AspProcessorNotFoundError(name, where)
        errors: dict[Reason, Callable[[str], BaseException]] = {
            Reason.WRONG_STATE: AspProcessorStateError,
            Reason.DLQ_LIMIT: AspDlqLimitError,
            Reason.TIMEOUT: timeout_error,
            Reason.CONNECTION: AspConnectionError,
            Reason.CERTIFICATE: AspTlsError,
        }
        return errors.get(reason, RuntimeError)(message)


def transient(name: str, exc: BaseException) -> Verdict | None:
    """A pending verdict if ``exc`` is a passing fault that the next look may not meet (see
    :func:`is_transient`); None for any other error."""
    if not is_transient(exc):
        return None
    return Verdict.pending(name, f"Transient error, still waiting: {describe_error(exc)}")


#: Words of a server selection failure that will not pass by itself: the certificate is not
#: trusted, or the host name does not resolve.
PERMANENT_SELECTION_FAILURES = (
    "certificate",
    "ssl",
    "tls",
    "name or service not known",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo",
)


def is_transient(exc: BaseException) -> bool:
    """A network error, a retryable code or label, or a command that ran out of its share
    of the deadline, including a server selection cut short while the client reconnects
    after a blip. Not a certificate that fails verification
    (:func:`~asp_core.stream_processing.protocol.is_certificate_failure`), nor a selection
    that fails on TLS or the host name: that does not pass by itself, and fails at once."""
    from pymongo.errors import ServerSelectionTimeoutError

    from asp_core.stream_processing.protocol import (
        is_certificate_failure,
        is_retryable_read_error,
    )

    if is_certificate_failure(exc):
        return False
    if isinstance(exc, ServerSelectionTimeoutError):
        text = str(exc).lower()
        return not any(words in text for words in PERMANENT_SELECTION_FAILURES)
    return is_retryable_read_error(exc) or getattr(exc, "timeout", False) is True


def describe_error(exc: BaseException) -> str:
    """The error's class and message (without pymongo's appended details), with its code,
    code name and labels: never empty, even when the message is."""
    text = str(exc).split(", full error")[0].split(" (configured timeouts")[0]
    text = text.split(", Timeout:")[0]  # a server selection's topology dump
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    kind = type(exc).__name__
    server = getattr(exc, "details", None)
    server = server if isinstance(server, Mapping) else {}
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else server.get("code")
    details = [f"code {code}"] if isinstance(code, int) else []
    code_name = server.get("codeName")
    if code_name:
        details.append(str(code_name))
    labels = getattr(exc, "_error_labels", None)
    if labels:
        details.append("labels " + ", ".join(sorted(labels)))
    suffix = f" ({'; '.join(details)})" if details else ""
    return f"{kind}: {first_line}{suffix}" if first_line else f"{kind}{suffix}"


def timed_out(name: str, last: Verdict | None, timeout: float | None = None) -> Verdict:
    """The verdict of a wait whose time is up; ``last`` is the last look's verdict."""
    where = f" ({last.message})" if last is not None and last.message else ""
    within = f" within {timeout:g} s" if timeout is not None else " in time"
    return Verdict.failure(
        name, Reason.TIMEOUT, f"Stream processor {name!r}: condition not met{within}{where}."
    )
