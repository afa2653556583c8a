"""Errors raised by the processing engine."""

from __future__ import annotations

FAILED_TO_PARSE = 9
"""Server error code used for every pipeline refused at compile time."""


class PipelineError(Exception):
    """A pipeline refused at create/modify/process time.

    ``str(exc)`` names the stage index and the problem, e.g.
    ``"stage 2: unknown stage '$foo'"``.
    """

    def __init__(
        self, message: str, code: int = FAILED_TO_PARSE, code_name: str = "FailedToParse"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.code_name = code_name


class ProcessorFailure(Exception):
    """Raised by ``ProcessorEngine.run()`` when the processor fails at runtime."""

    def __init__(self, message: str, code: int, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


class DocumentError(Exception):
    """One document could not be processed by a stage; it goes to the dead letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stage_error(index: int, message: str) -> PipelineError:
    """A ``PipelineError`` whose message is prefixed with the stage index."""
    return PipelineError(f"stage {index}: {message}")
