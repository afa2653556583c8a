"""Errors the provider raises. Each says what happened in plain words; none carries secrets.

Errors that a retry cannot fix (bad input, a missing processor, a definition conflict, a
processor the server reports as failed for good) derive from ``AirflowFailException``, so
the task fails at once without using its retries.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class AspInputError(AirflowFailException, ValueError):
    """An operator argument is invalid; raised before any command is sent."""


class AspProcessorNotFoundError(AirflowFailException, LookupError):
    """The stream processor does not exist."""

    def __init__(self, processor_name: str) -> None:
        super().__init__(f"Stream processor {processor_name!r} does not exist.")
        self.processor_name = processor_name


class AspDefinitionConflictError(AirflowFailException):
    """A processor of that name exists with a different definition."""


class AspProcessorStateError(AirflowFailException):
    """The processor is in a state the requested action cannot work from."""


class AspDlqLimitError(AirflowFailException):
    """The processor sent more messages to its dead letter queue than a sensor allows."""


class AspWaitTimeoutError(TimeoutError):
    """A processor did not reach the awaited state in time (retryable)."""


class AspProcessorFailedError(RuntimeError):
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


class AspProcessorFailedFatalError(AspProcessorFailedError, AirflowFailException):
    """A FAILED processor whose error the server marks as not retryable."""


class AspConnectionConfigError(ValueError):
    """The Airflow connection to the workspace is incomplete or has an invalid value.

    ``reason`` says what is wrong without naming the connection (the UI's Test button runs
    on a temporary connection id the user never sees).
    """

    def __init__(self, conn_id: str, reason: str) -> None:
        super().__init__(f"Connection {conn_id!r}: {reason}")
        self.conn_id = conn_id
        self.reason = reason


class AspConnectionError(ConnectionError):
    """The workspace could not be reached, refused the credentials, or did not answer."""


class AspUncertainOutcomeError(ConnectionError):
    """A command that changes a processor got no clear answer, and looking at the processor
    afterwards could not show that it took effect (retryable: the retry looks first).

    The message names the command and the processor's last known state, so a task that may
    have started a processor says so.
    """
