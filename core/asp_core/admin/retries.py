"""The pure rules of the Admin API clients' retries and looks (shared by the async client
and the sync client generated from it)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from tenacity import RetryCallState
from tenacity.stop import stop_base

from asp_core.admin.errors import (
    AdminApiError,
    AdminRateLimitedError,
    AdminServerError,
    AdminTimeoutError,
)

#: A write's look: ``(happened, document)``; the document answers a write that happened.
Look = Callable[[], tuple[bool, Any]]
AsyncLook = Callable[[], Awaitable[tuple[bool, Any]]]
#: A wait's look: the document, or None when it is gone.
Fetch = Callable[[], dict[str, Any] | None]
AsyncFetch = Callable[[], Awaitable[dict[str, Any] | None]]


#: Atlas's ``errorCode`` of its 409 to a DELETE of a Kafka connection still being
#: provisioned (PENDING): "currently deploying. Please retry the request later."
KAFKA_DEPLOYING = "STREAM_KAFKA_CONNECTION_IS_DEPLOYING"


def retryable(exc: BaseException, also: Callable[[BaseException], bool] | None = None) -> bool:
    """Whether a call's error is worth another attempt (429, 5xx, timeout, lost connection,
    or what ``also`` says), unless it is a write whose outcome stayed unknown."""
    if isinstance(exc, AdminApiError) and not exc.retry:
        return False
    if also is not None and also(exc):
        return True
    return isinstance(exc, (AdminRateLimitedError, AdminServerError, AdminTimeoutError)) or (
        type(exc) is AdminApiError  # a lost connection
    )


def deploying(exc: BaseException) -> bool:
    """Whether ``exc`` is Atlas's refusal to delete a connection that is still deploying
    (409 :data:`KAFKA_DEPLOYING`); no other 409 is."""
    return (
        isinstance(exc, AdminApiError) and exc.status == 409 and exc.error_code == KAFKA_DEPLOYING
    )


class StopAfterAttempts(stop_base):
    """tenacity's ``stop_after_attempt``, not counting the attempts whose error ``excused``
    says (refusals to wait out: only the call's deadline bounds those). One per call."""

    def __init__(self, attempts: int, excused: Callable[[BaseException], bool]) -> None:
        self.attempts = attempts
        self.excused = excused
        self.counted = 0

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None or not self.excused(exc):
            self.counted += 1
        return self.counted >= self.attempts


def unknown_outcome(exc: AdminApiError) -> bool:
    """Whether a request's error leaves its effect unknown: no answer, a 5xx, or an answer
    that is not Atlas's. A 4xx (a 429 too) says the request was not carried out."""
    return isinstance(exc, (AdminServerError, AdminTimeoutError)) or type(exc) is AdminApiError


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date); None when absent."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(state: RetryCallState, first: float, most: float) -> float:
    """The pause before the next attempt: ``Retry-After`` when the error carried one, else
    ``first`` doubled per attempt; never more than ``most``."""
    exc = state.outcome.exception() if state.outcome else None
    after = getattr(exc, "retry_after", None)
    if after is not None:
        return min(float(after), most)
    return min(first * 2 ** (state.attempt_number - 1), most)


def json_of(response: httpx.Response) -> Any:
    """The answer's JSON document, or None."""
    try:
        return response.json()
    except ValueError:
        return None


def contains(doc: Any, changes: Any) -> bool:
    """Whether ``doc`` shows every one of ``changes``. A field it does not show (a
    write-only secret, a PATCH field stored under another name) is not confirmed: the look
    says the write did not happen, and the write (a PATCH: the same again) is resent."""
    if isinstance(changes, Mapping):
        return isinstance(doc, Mapping) and all(
            k in doc and contains(doc[k], v) for k, v in changes.items()
        )
    return bool(doc == changes)


def explain(state: RetryCallState) -> str:
    """The first line of the failed attempt's error (for the retry's log line)."""
    exc = state.outcome.exception() if state.outcome else None
    return str(exc).splitlines()[0] if exc else "?"
