"""The retry rule of a connection's delete refused while the connection deploys (409
``STREAM_KAFKA_CONNECTION_IS_DEPLOYING``): which errors it covers, and how tenacity stops."""

from __future__ import annotations

from collections.abc import Iterator

from tenacity import Retrying, retry_if_exception, stop_before_delay, wait_none

from asp_core.admin.errors import AdminApiError, AdminServerError, error_for
from asp_core.admin.retries import (
    KAFKA_DEPLOYING,
    StopAfterAttempts,
    deploying,
    retryable,
)

PATH = "/api/atlas/v2/groups/g/streams/ws/connections/kafka1"


def _answer(status: int, code: str | None) -> AdminApiError:
    body = {"error": status, "errorCode": code, "detail": "words"} if code else None
    return error_for(status, "DELETE", PATH, body)


def test_only_atlas_409_deploying_is_the_deploying_refusal() -> None:
    assert deploying(_answer(409, KAFKA_DEPLOYING))
    for other in (
        _answer(409, "STREAM_TENANT_HAS_STREAM_PROCESSORS"),
        _answer(409, "STREAM_CONNECTION_NAME_ALREADY_EXISTS"),
        _answer(409, None),  # no Atlas document
        _answer(400, KAFKA_DEPLOYING),  # the code under another status
        _answer(500, KAFKA_DEPLOYING),
    ):
        assert not deploying(other), other
    assert not deploying(ValueError(KAFKA_DEPLOYING))


def test_the_refusal_is_retried_only_where_asked() -> None:
    refused = _answer(409, KAFKA_DEPLOYING)
    assert not retryable(refused)  # a 4xx: no call but a connection's delete retries it
    assert retryable(refused, also=deploying)
    assert not retryable(_answer(409, "STREAM_TENANT_HAS_STREAM_PROCESSORS"), also=deploying)
    assert retryable(_answer(503, "SERVICE_UNAVAILABLE"), also=deploying)  # still as before
    refused.retry = False  # a write whose outcome stayed unknown is never resent
    assert not retryable(refused, also=deploying)


def _run(
    errors: Iterator[BaseException], attempts: int, deadline: float = 3600.0
) -> tuple[list[str], BaseException | None]:
    """What a function raising ``errors`` (then returning) was called with each time, and
    the error it ended with (None: it succeeded), retried as the client does."""
    calls: list[str] = []

    def call() -> None:
        error = next(errors, None)
        calls.append("ok" if error is None else str(getattr(error, "status", "?")))
        if error is not None:
            raise error

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: retryable(exc, also=deploying)),
        stop=StopAfterAttempts(attempts, deploying) | stop_before_delay(deadline),
        wait=wait_none(),
        reraise=True,
    )
    try:
        retrying(call)
    except AdminApiError as exc:
        return calls, exc
    return calls, None


def test_refusals_do_not_use_up_the_attempts() -> None:
    refusals = (_answer(409, KAFKA_DEPLOYING) for _ in range(10))
    assert _run(refusals, attempts=3) == (["409"] * 10 + ["ok"], None)


def test_other_errors_still_count_between_refusals() -> None:
    def errors() -> Iterator[BaseException]:
        while True:
            yield _answer(409, KAFKA_DEPLOYING)
            yield AdminServerError("DELETE answered 500", status=500)

    calls, error = _run(errors(), attempts=3)
    assert calls == ["409", "500"] * 3  # the third 500 ends it
    assert isinstance(error, AdminServerError)


def test_refusals_stop_at_the_deadline() -> None:
    calls, error = _run(iter(lambda: _answer(409, KAFKA_DEPLOYING), None), 3, deadline=0.0)
    assert calls == ["409"]
    assert error is not None
    assert deploying(error)


def test_without_refusals_it_is_stop_after_attempt() -> None:
    failures = iter(lambda: AdminServerError("DELETE answered 503", status=503), None)
    assert _run(failures, attempts=4)[0] == ["503"] * 4
    other_409 = iter(lambda: _answer(409, "STREAM_TENANT_HAS_STREAM_PROCESSORS"), None)
    assert _run(other_409, attempts=4)[0] == ["409"]  # never retried
