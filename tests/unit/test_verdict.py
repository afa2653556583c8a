"""Verdicts: how one look ends, the trigger event it travels as, and the exception it becomes."""

from __future__ import annotations

import datetime
import json

import pytest
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from asp_core.errors import (
    AspConnectionError,
    AspDlqLimitError,
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
    AspTlsError,
    AspWaitTimeoutError,
    is_unretryable,
)
from asp_core.stream_processing import StreamProcessorInfo
from asp_core.waiting.verdict import (
    Outcome,
    Reason,
    Verdict,
    describe_error,
    info_to_dict,
    is_transient,
    timed_out,
    transient,
)

CHANGED = datetime.datetime(2026, 3, 1, 8, 30)


def failed_info(retryable=False, msg="disk full", code=61):
    return StreamProcessorInfo.from_response(
        {
            "name": "p",
            "state": "FAILED",
            "lastStateChange": CHANGED,
            "errorMsg": msg,
            "errorCode": code,
            "errorRetryable": retryable,
            "pipeline": [{"$source": {"connectionName": "c"}}],
            "tier": "SP10",
            "processorId": "internal-id",
        }
    )


def through_json(event):
    return json.loads(json.dumps(event))


def test_constructors():
    success = Verdict.success("p", {"n": 1}, "done")
    assert (success.outcome, success.value, success.message, success.reason) == (
        Outcome.SUCCESS,
        {"n": 1},
        "done",
        None,
    )
    assert success.done

    pending = Verdict.pending("p", "not yet")
    assert pending.outcome is Outcome.PENDING
    assert not pending.done

    failure = Verdict.failure("p", Reason.WRONG_STATE, "is STOPPED")
    assert (failure.outcome, failure.reason, failure.message) == (
        Outcome.FAILURE,
        Reason.WRONG_STATE,
        "is STOPPED",
    )
    assert failure.done

    missing = Verdict.missing("p")
    assert missing.reason is Reason.MISSING
    assert missing.message == "Stream processor 'p' does not exist."
    assert missing.done


@pytest.mark.parametrize("retryable", [True, False, None])
def test_processor_failed_carries_the_server_error(retryable):
    verdict = Verdict.processor_failed(failed_info(retryable))
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.reason is Reason.PROCESSOR_FAILED
    assert verdict.processor_name == "p"
    assert (verdict.error_msg, verdict.error_code, verdict.error_retryable) == (
        "disk full",
        61,
        retryable,
    )
    assert "disk full" in verdict.message
    assert "errorCode 61" in verdict.message
    assert ("not retryable" in verdict.message) is (not retryable)


def test_info_to_dict_is_json_without_raw_or_internal_ids():
    plain = info_to_dict(failed_info())
    assert plain["name"] == "p"
    assert plain["state"] == "FAILED"
    assert plain["last_state_change"] == "2026-03-01T08:30:00+00:00"
    assert plain["error_code"] == 61
    assert "raw" not in plain
    assert "internal-id" not in json.dumps(plain)
    assert through_json(plain) == plain


# -- trigger events ------------------------------------------------------------------------
STATUS = {
    Reason.MISSING: "failed",
    Reason.PROCESSOR_FAILED: "failed",
    Reason.WRONG_STATE: "failed",
    Reason.DLQ_LIMIT: "failed",
    Reason.TIMEOUT: "timeout",
    Reason.CONNECTION: "error",
    Reason.CERTIFICATE: "failed",
    Reason.ERROR: "error",
}


def verdict_of(reason):
    if reason is Reason.PROCESSOR_FAILED:
        return Verdict.processor_failed(failed_info(True))
    if reason is Reason.MISSING:
        return Verdict.missing("p")
    return Verdict.failure("p", reason, f"Stream processor 'p': {reason.value}.")


def test_every_reason_has_a_status():
    assert set(STATUS) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_failure_event_round_trip(reason):
    verdict = verdict_of(reason)
    event = verdict.to_event()
    assert event["status"] == STATUS[reason]
    assert event["reason"] == reason.value
    assert event["processor_name"] == "p"
    assert "outcome" not in event
    assert Verdict.from_event(through_json(event)) == verdict


@pytest.mark.parametrize(
    "value", [{"n": 1, "docs": [{"a": None}, {"b": [1.5, "x"]}]}, [], None, 0, "text"]
)
def test_success_event_round_trip(value):
    verdict = Verdict.success("p", value, "done")
    event = verdict.to_event()
    assert event["status"] == "success"
    assert event["reason"] is None
    assert event["value"] == value
    assert Verdict.from_event(through_json(event)) == verdict


def test_a_pending_verdict_is_not_an_event():
    with pytest.raises(ValueError, match="pending"):
        Verdict.pending("p", "not yet").to_event()


def test_minimal_events():
    success = Verdict.from_event({"status": "success"})
    assert success.outcome is Outcome.SUCCESS
    assert success.processor_name == "?"
    assert success.value is None

    # a failure status without a reason is an error failure
    timeout = Verdict.from_event({"status": "timeout", "processor_name": "p"})
    assert (timeout.outcome, timeout.reason, timeout.processor_name) == (
        Outcome.FAILURE,
        Reason.ERROR,
        "p",
    )


@pytest.mark.parametrize(
    "event",
    [
        None,
        "success",
        ["status", "success"],
        [("status", "success")],
        42,
        {},
        {"processor_name": "p"},
        {"status": "done", "processor_name": "p"},
        {"status": "SUCCESS", "processor_name": "p"},
        {"status": None},
        {"status": "success", "processor_name": "p", "bogus": 1},
        {"status": "failed", "processor_name": "p", "reason": "missing", "outcome": "failure"},
    ],
)
def test_garbage_events_are_error_failures(event):
    verdict = Verdict.from_event(event)
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.reason is Reason.ERROR
    assert verdict.message.startswith("Unexpected trigger event")
    assert repr(event) in verdict.message
    assert isinstance(verdict.error(timeout_error=AspWaitTimeoutError, fatal=False), RuntimeError)


@pytest.mark.parametrize("reason", ["meteor", None, 3, "MISSING"])
def test_an_unknown_reason_is_an_error_failure(reason):
    verdict = Verdict.from_event(
        {"status": "failed", "processor_name": "p", "reason": reason, "message": "m"}
    )
    assert (verdict.outcome, verdict.reason, verdict.processor_name, verdict.message) == (
        Outcome.FAILURE,
        Reason.ERROR,
        "p",
        "m",
    )


# -- exceptions ----------------------------------------------------------------------------
def error_of(verdict, fatal=False, timeout_error=AspWaitTimeoutError, where=None):
    return verdict.error(timeout_error=timeout_error, fatal=fatal, where=where)


@pytest.mark.parametrize(
    ("retryable", "fatal", "expected"),
    [
        (True, False, AspProcessorFailedError),
        (True, True, AspProcessorFailedFatalError),
        (False, False, AspProcessorFailedFatalError),
        (False, True, AspProcessorFailedFatalError),
        (None, False, AspProcessorFailedFatalError),
    ],
)
def test_processor_failed_error(retryable, fatal, expected):
    verdict = Verdict.processor_failed(failed_info(retryable))
    error = error_of(verdict, fatal=fatal)
    assert type(error) is expected
    # only the retryable one lets Airflow retry the task
    assert is_unretryable(error) is (expected is AspProcessorFailedFatalError)
    assert (error.processor_name, error.error_msg, error.error_code, error.error_retryable) == (
        "p",
        "disk full",
        61,
        retryable,
    )
    assert "disk full" in str(error)
    # the same error after the trip through a trigger event
    again = error_of(Verdict.from_event(through_json(verdict.to_event())), fatal=fatal)
    assert type(again) is expected
    assert str(again) == str(error)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (Reason.WRONG_STATE, AspProcessorStateError),
        (Reason.DLQ_LIMIT, AspDlqLimitError),
        (Reason.TIMEOUT, AspWaitTimeoutError),
        (Reason.CONNECTION, AspConnectionError),
        (Reason.CERTIFICATE, AspTlsError),
        (Reason.ERROR, RuntimeError),
    ],
)
def test_failure_errors_carry_the_message(reason, expected):
    verdict = Verdict.failure("p", reason, "what happened")
    error = error_of(verdict)
    assert type(error) is expected
    assert str(error) == "what happened"
    with pytest.raises(expected, match="what happened"):
        verdict.result(timeout_error=AspWaitTimeoutError, fatal=False)


def test_missing_error():
    error = error_of(Verdict.missing("p"))
    assert type(error) is AspProcessorNotFoundError
    assert error.processor_name == "p"
    assert str(error) == "Stream processor 'p' does not exist."


def test_missing_error_names_where_it_was_looked_for():
    where = "connection 'asp_default', host 127.0.0.1:27017"
    error = error_of(Verdict.missing("p"), where=where)
    assert type(error) is AspProcessorNotFoundError
    assert error.processor_name == "p"
    assert str(error) == f"Stream processor 'p' does not exist ({where})."


def test_a_certificate_failure_is_permanent_anything_else_may_pass():
    from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

    for words in (
        "certificate verify failed: self-signed certificate in certificate chain",
        "certificate verify failed: IP address mismatch",
        "certificate verify failed: certificate has expired",
    ):
        for exc in (
            ServerSelectionTimeoutError(f"h:1: [SSL: CERTIFICATE_VERIFY_FAILED] {words}"),
            AutoReconnect(f"h:1: [SSL: CERTIFICATE_VERIFY_FAILED] {words}"),
        ):
            assert not is_transient(exc)
            assert Verdict.connection_failure("p", exc, "tls").reason is Reason.CERTIFICATE
            assert Verdict.connection_failure("p", exc, "tls").to_event()["status"] == "failed"
    refused = AutoReconnect("h:1: [Errno 111] Connection refused")
    assert is_transient(refused)
    assert Verdict.connection_failure("p", refused, "down").reason is Reason.CONNECTION


def test_timeout_is_the_callers_error():
    class SensorTimeout(Exception):
        pass

    verdict = Verdict.failure("p", Reason.TIMEOUT, "too slow")
    assert type(error_of(verdict, timeout_error=SensorTimeout)) is SensorTimeout
    assert type(error_of(verdict, timeout_error=TimeoutError)) is TimeoutError


def test_result_of_a_success_is_its_value():
    value = {"docs": [1, 2]}
    assert Verdict.success("p", value, "ok").result(timeout_error=TimeoutError, fatal=True) is (
        value
    )


def test_a_pending_verdict_has_no_result():
    verdict = Verdict.pending("p", "is STOPPED")
    error = error_of(verdict)
    assert type(error) is RuntimeError
    assert "not over" in str(error)
    assert "is STOPPED" in str(error)
    with pytest.raises(RuntimeError, match="not over"):
        verdict.result(timeout_error=TimeoutError, fatal=False)


# -- errors met while looking --------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "described"),
    [
        (AutoReconnect(""), "AutoReconnect"),
        (NetworkTimeout(""), "NetworkTimeout"),
        (AutoReconnect("connection reset"), "AutoReconnect: connection reset"),
        (
            NetworkTimeout("timed out (configured timeouts: socketTimeoutMS: 20000.0ms)"),
            "NetworkTimeout: timed out",
        ),
        (
            OperationFailure(
                "not primary",
                code=91,
                details={
                    "errmsg": "not primary",
                    "code": 91,
                    "errorLabels": ["RetryableWriteError"],
                },
            ),
            "OperationFailure: not primary (code 91; labels RetryableWriteError)",
        ),
        (
            OperationFailure("", code=91, details={"errorLabels": ["RetryableWriteError"]}),
            "OperationFailure (code 91; labels RetryableWriteError)",
        ),
        (
            OperationFailure("x", code=2, details={"errorLabels": ["B", "A"]}),
            "OperationFailure: x (code 2; labels A, B)",
        ),
        (OperationFailure("unauthorized", code=13), "OperationFailure: unauthorized (code 13)"),
        (
            ServerSelectionTimeoutError(
                "127.0.0.1:1: [Errno 111] Connection refused, Timeout: 5.0s, "
                "Topology Description: <TopologyDescription id: 1, ...>"
            ),
            "ServerSelectionTimeoutError: 127.0.0.1:1: [Errno 111] Connection refused",
        ),
        (ValueError(), "ValueError"),
    ],
)
def test_describe_error(exc, described):
    assert describe_error(exc) == described


class CommandTimedOut(Exception):
    timeout = True


class TimeoutIsTruthyButNotTrue(Exception):
    timeout = "yes"


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect(""),
        NetworkTimeout("timed out"),
        OperationFailure("not primary", code=91),
        OperationFailure("stepped down", code=189),
        OperationFailure("x", code=2, details={"errorLabels": ["RetryableError"]}),
        OperationFailure("x", code=2, details={"errorLabels": ["RetryableReadError"]}),
        ExecutionTimeout("operation exceeded time limit", code=50),
        CommandTimedOut("deadline share spent"),
        # the client reconnecting after a dropped connection
        ServerSelectionTimeoutError("127.0.0.1:27017: connection closed, Timeout: 0.4s"),
    ],
)
def test_transient_errors_are_pending(exc):
    verdict = transient("p", exc)
    assert verdict is not None
    assert verdict.outcome is Outcome.PENDING
    assert verdict.processor_name == "p"
    assert describe_error(exc) in verdict.message


@pytest.mark.parametrize(
    "exc",
    [
        OperationFailure("unauthorized", code=13),
        OperationFailure("does not exist", code=415),
        OperationFailure("x", code=2, details={"errorLabels": ["SomeOtherLabel"]}),
        ValueError("boom"),
        TimeoutIsTruthyButNotTrue("maybe"),
        # no server can be selected because of the certificate or the host name: at once
        ServerSelectionTimeoutError("h:1: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"),
        ServerSelectionTimeoutError("nowhere.invalid:27017: [Errno -2] Name or service not known"),
    ],
)
def test_other_errors_are_not_transient(exc):
    assert transient("p", exc) is None


def test_timed_out():
    verdict = timed_out("p", Verdict.pending("p", "is STOPPED; waiting for STARTED"), 2.5)
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILURE, Reason.TIMEOUT)
    assert verdict.message == (
        "Stream processor 'p': condition not met within 2.5 s (is STOPPED; waiting for STARTED)."
    )
    assert timed_out("p", None).message == "Stream processor 'p': condition not met in time."
    assert timed_out("p", Verdict.pending("p", ""), 30).message == (
        "Stream processor 'p': condition not met within 30 s."
    )
    error = error_of(timed_out("p", None, 1))
    assert type(error) is AspWaitTimeoutError
    assert "within 1 s" in str(error)
