"""Errors of the core. Each says what happened in plain words; none carries secrets.

Every error is an :class:`AspError`. Errors that no retry can fix (bad input, a missing
processor, a definition conflict, a processor the server reports as failed for good) are
also :class:`Unretryable`; each orchestrator maps that marker at its boundary (Airflow:
``AirflowFailException``, Dagster: ``Failure(allow_retries=False)``), so a task or run
fails at once without using its retries.
"""

from __future__ import annotations

from typing import Any


class AspError(Exception):
    """Base of every error the core raises on purpose."""


class Unretryable(AspError):
    """Marker: no retry can fix this error; fail at once."""


def is_unretryable(exc: BaseException) -> bool:
    """Whether ``exc`` is marked as an error no retry can fix."""
    return isinstance(exc, Unretryable)


def explanation(exc: BaseException) -> str:
    """The error's one-line explanation: the first line of its message (its class name when
    it has none), what an orchestrator logs at ERROR before any traceback."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


#: The attribute marking an error whose explanation was logged (logged once however many
#: entry points it leaves).
_LOGGED = "_asp_explained"


def log_explanation(log: Any, exc: BaseException) -> None:
    """Log ``exc``'s :func:`explanation` at ERROR on ``log`` (a logger, Dagster's
    ``context.log``), once per error."""
    if getattr(exc, _LOGGED, False):
        return
    setattr(exc, _LOGGED, True)
    log.error("%s", explanation(exc))


class AspInputError(Unretryable, ValueError):
    """An operator argument is invalid; raised before any command is sent."""


class AspProcessorNotFoundError(Unretryable, LookupError):
    """The stream processor does not exist; ``where`` names the connection and host looked
    at (``WorkspaceSettings.where``), when known."""

    def __init__(self, processor_name: str, where: str | None = None) -> None:
        at = f" ({where})" if where else ""
        super().__init__(f"Stream processor {processor_name!r} does not exist{at}.")
        self.processor_name = processor_name
        self.where = where


class AspDefinitionConflictError(Unretryable):
    """A processor of that name exists with a different definition."""


class AspDefinitionRefusedError(Unretryable, ValueError):
    """The workspace refused a processor's definition (its pipeline or options);
    :mod:`asp_core.refusals` words it. ``stage`` counts from 1, as a user does (None when the
    refusal names none); ``operator`` is that stage's operator (``$match``)."""

    def __init__(
        self,
        message: str,
        *,
        processor_name: str = "?",
        stage: int | None = None,
        operator: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.processor_name = processor_name
        self.stage = stage
        self.operator = operator
        self.suggestion = suggestion


class AspProcessorStateError(Unretryable):
    """The processor is in a state the requested action cannot work from."""


class AspDlqLimitError(Unretryable):
    """The processor sent more messages to its dead letter queue than a sensor allows."""


class AspWaitTimeoutError(AspError, TimeoutError):
    """A processor did not reach the awaited state in time (retryable)."""


class AspProcessorFailedError(AspError, RuntimeError):
    """The server reports the processor as FAILED; carries its ``errorMsg`` and ``errorCode``.

    Raised as is when the server says the error is retryable (a task retry may restart
    it); otherwise as :class:`AspProcessorFailedFatalError`.
    """

    def __init__(
        self,
        processor_name: str,
        error_msg: str | None,
        error_code: int | None,
        error_retryable: bool | None,
    ) -> None:
        retry = "retryable" if error_retryable else "not retryable"
        super().__init__(
            f"Stream processor {processor_name!r} FAILED: {error_msg or '(no message)'} "
            f"(errorCode {error_code}, {retry})."
        )
        self.processor_name = processor_name
        self.error_msg = error_msg
        self.error_code = error_code
        self.error_retryable = error_retryable


class AspProcessorFailedFatalError(AspProcessorFailedError, Unretryable):
    """A FAILED processor whose error the server marks as not retryable."""


class AspConnectionConfigError(AspError, ValueError):
    """The workspace's connection settings are incomplete or have an invalid value.

    ``source`` names where the settings came from (an Airflow connection id, a Dagster
    resource); ``reason`` says what is wrong without naming it (the Airflow UI's Test button
    runs on a temporary connection id the user never sees).
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"Connection {source!r}: {reason}")
        self.source = source
        self.reason = reason


class AspConnectionError(AspError, ConnectionError):
    """The workspace could not be reached, refused the credentials, or did not answer."""


class AspTlsError(AspConnectionError, Unretryable):
    """The workspace's certificate failed verification (an unknown CA, another host's name,
    expired): no retry fixes that, so the task fails at once."""


class AspUncertainOutcomeError(AspError, ConnectionError):
    """A command that changes a processor got no clear answer, and looking at the processor
    afterwards could not show that it took effect (retryable: the retry looks first).

    The message names the command and the processor's last known state, so a task that may
    have started a processor says so.
    """
