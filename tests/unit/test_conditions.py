"""The wait conditions (state, sample, stats) judged on what one look read, and their trip
to a trigger as JSON kwargs."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest
from bson import Decimal128, Int64, ObjectId

from asp_core.errors import AspInputError
from asp_core.stream_processing import StreamProcessorInfo
from asp_core.waiting import asynchronous, synchronous
from asp_core.waiting.conditions import (
    JudgesInfo,
    JudgesSample,
    JudgesStats,
    Read,
    SampleCondition,
    StateCondition,
    StatsCondition,
    count,
    from_kwargs,
    stats_document,
    stats_state,
    to_kwargs,
)
from asp_core.waiting.verdict import Outcome, Reason, Verdict
from tests.support import checks

T1 = datetime.datetime(2026, 1, 1, 9, 0)
T2 = datetime.datetime(2026, 1, 1, 9, 5)
PIPELINE = [{"$source": {"connectionName": "src"}}, {"$emit": {"connectionName": "__testLog"}}]


def info(state, changed=T1, **fields):
    return StreamProcessorInfo.from_response(
        {
            "name": "p",
            "state": state,
            "lastStateChange": changed,
            "pipeline": PIPELINE,
            "tier": "SP10",
            **fields,
        }
    )


def failed(changed=T1, retryable=False):
    return info("FAILED", changed, errorMsg="disk full", errorCode=61, errorRetryable=retryable)


# -- state ---------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["STARTED", "RUNNING", "running", "started"])
def test_state_target_reached(state):
    verdict = StateCondition("p").judge(info(state))
    assert verdict.outcome is Outcome.SUCCESS
    assert verdict.message == f"Stream processor 'p' is {state}."
    value = verdict.value
    assert value["name"] == "p"
    assert value["state"] == state
    assert value["pipeline"] == PIPELINE
    assert value["last_state_change"] == "2026-01-01T09:00:00+00:00"
    assert "raw" not in value
    assert json.loads(json.dumps(value)) == value


def test_state_targets_are_normalized_and_any_of_several():
    condition = StateCondition("p", frozenset({"running", "STOPPED"}))
    assert condition.judge(info("STARTED")).outcome is Outcome.SUCCESS
    assert condition.judge(info("STOPPED")).outcome is Outcome.SUCCESS
    assert condition.judge(info("CREATED")).outcome is Outcome.PENDING


@pytest.mark.parametrize("state", ["STOPPED", "CREATED", "SOME_NEW_STATE", ""])
def test_state_pending(state):
    verdict = StateCondition("p", frozenset({"STARTED", "STOPPED"}) - {state}).judge(info(state))
    assert verdict.outcome is Outcome.PENDING
    assert verdict.message.startswith(f"Stream processor 'p' is {state}; waiting for ")


def test_state_pending_message_names_the_targets():
    verdict = StateCondition("p", frozenset({"STOPPED", "CREATED"})).judge(info("STARTED"))
    assert verdict.message == "Stream processor 'p' is STARTED; waiting for CREATED or STOPPED."


@pytest.mark.parametrize("spelling", ["FAILED", "ERROR"])
@pytest.mark.parametrize("target", ["STARTED", "STOPPED"])
def test_state_failed_processor_fails_the_wait(spelling, target):
    verdict = StateCondition("p", frozenset({target})).judge(
        info(spelling, errorMsg="disk full", errorCode=61, errorRetryable=True)
    )
    assert verdict.outcome is Outcome.FAILURE
    assert verdict.reason is Reason.PROCESSOR_FAILED
    assert (verdict.error_msg, verdict.error_code, verdict.error_retryable) == (
        "disk full",
        61,
        True,
    )
    assert "disk full" in verdict.message


def test_state_another_failure_state_is_the_wrong_state():
    condition = StateCondition(
        "p", frozenset({"STARTED"}), failure_states=frozenset({"FAILED", "STOPPED"})
    )
    verdict = condition.judge(info("STOPPED"))
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILURE, Reason.WRONG_STATE)
    assert verdict.message == "Stream processor 'p' is STOPPED, a failure state (FAILED, STOPPED)."
    assert condition.judge(failed()).reason is Reason.PROCESSOR_FAILED


def test_state_failed_is_pending_when_not_a_failure_state():
    condition = StateCondition("p", frozenset({"STOPPED"}), failure_states=frozenset())
    assert condition.judge(failed()).outcome is Outcome.PENDING


def test_state_missing():
    verdict = StateCondition("p").judge(None)
    assert verdict == Verdict.missing("p")
    tolerant = StateCondition("p", frozenset({"STOPPED"}), missing_ok=True).judge(None)
    assert tolerant.outcome is Outcome.PENDING
    assert tolerant.message == "Stream processor 'p' does not exist."


def test_stale_failure_is_ignored():
    """The FAILED seen before a start (same lastStateChange) is not the start's outcome."""
    condition = StateCondition("p", ignore_failure_at=T1)
    assert condition.judge(failed(T1)).outcome is Outcome.PENDING
    # a failure after the start fails the wait
    assert condition.judge(failed(T2)).reason is Reason.PROCESSOR_FAILED
    assert condition.judge(failed(None)).reason is Reason.PROCESSOR_FAILED
    # the target reached is a success whatever the time
    assert condition.judge(info("STARTED", T1)).outcome is Outcome.SUCCESS
    # without ignore_failure_at every FAILED counts
    assert StateCondition("p").judge(failed(T1)).reason is Reason.PROCESSOR_FAILED


def test_stale_rule_applies_to_other_failure_states():
    condition = StateCondition("p", failure_states=frozenset({"STOPPED"}), ignore_failure_at=T1)
    assert condition.judge(info("STOPPED", T1)).outcome is Outcome.PENDING
    assert condition.judge(info("STOPPED", T2)).reason is Reason.WRONG_STATE


# -- sample --------------------------------------------------------------------------------
def test_sample_gate():
    condition = SampleCondition("p")
    assert condition.gate(info("STARTED")) is None
    assert condition.gate(info("RUNNING")) is None
    assert condition.gate(None) == Verdict.missing("p")
    verdict = condition.gate(failed())
    assert verdict is not None
    assert verdict.reason is Reason.PROCESSOR_FAILED
    assert verdict.error_msg == "disk full"
    for state in ("STOPPED", "CREATED"):
        verdict = condition.gate(info(state))
        assert verdict is not None
        assert verdict.reason is Reason.WRONG_STATE
        assert verdict.message == f"Stream processor 'p' is {state}: sampling needs it STARTED."


def test_sample_take_keeps_matching_documents_as_json():
    oid = ObjectId("65a1b2c3d4e5f60718293a4b")
    condition = SampleCondition("p", min_documents=2, match={"_id": {"$exists": True}, "n": 1})
    found: list = []
    assert condition.take(found, {"_id": oid, "n": 2}) is False
    assert found == []
    raw = {"_id": oid, "n": 1, "at": T1, "big": Int64(2**40), "d": Decimal128("1.10")}
    assert condition.take(found, raw) is False
    assert found == [
        {
            "_id": "65a1b2c3d4e5f60718293a4b",
            "n": 1,
            "at": "2026-01-01T09:00:00+00:00",
            "big": 2**40,
            "d": "1.10",
        }
    ]
    assert raw["_id"] is oid  # the document itself is left alone
    assert condition.take(found, {"_id": oid, "n": 1}) is True
    assert len(found) == 2
    assert json.loads(json.dumps(found)) == found


def test_sample_match_sees_bson_values():
    oid = ObjectId("65a1b2c3d4e5f60718293a4b")
    condition = SampleCondition("p", match={"_id": oid, "at": {"$gte": T1}})
    found: list = []
    assert condition.take(found, {"_id": oid, "at": T2})
    assert found == [{"_id": str(oid), "at": "2026-01-01T09:05:00+00:00"}]
    assert not condition.take([], {"_id": str(oid), "at": T2})
    assert not condition.take([], {"_id": oid, "at": T1 - datetime.timedelta(seconds=1)})


@pytest.mark.parametrize("check_fn", [checks.is_hit, "tests.support.checks.is_hit"])
def test_sample_check_fn(check_fn):
    condition = SampleCondition("p", match={"n": {"$gt": 0}}, check_fn=check_fn)
    found: list = []
    assert not condition.take(found, {"n": 1, "hit": False})
    assert not condition.take(found, {"n": 0, "hit": True})  # check_fn and match both count
    assert condition.take(found, {"n": 2, "hit": True})
    assert found == [{"n": 2, "hit": True}]


def test_sample_check_fn_sees_json():
    seen = []

    def check(document):
        seen.append(document)
        return True

    oid = ObjectId("65a1b2c3d4e5f60718293a4b")
    SampleCondition("p", check_fn=check).take([], {"_id": oid, "at": T1})
    assert seen == [{"_id": str(oid), "at": "2026-01-01T09:00:00+00:00"}]


def test_sample_without_match_or_check_takes_everything():
    condition = SampleCondition("p", min_documents=3)
    found: list = []
    assert [condition.take(found, {"i": i}) for i in range(3)] == [False, False, True]
    assert found == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_sample_judge():
    condition = SampleCondition("p", min_documents=2)
    pending = condition.judge([{"a": 1}])
    assert pending.outcome is Outcome.PENDING
    assert pending.message == "1 of 2 document(s) matched in a sample of 'p'."
    assert condition.judge([]).outcome is Outcome.PENDING
    success = condition.judge([{"a": 1}, {"a": 2}])
    assert success.outcome is Outcome.SUCCESS
    assert success.value == [{"a": 1}, {"a": 2}]
    assert success.message == "2 sampled document(s) of 'p' match."
    assert condition.judge([{}, {}, {}]).outcome is Outcome.SUCCESS


# -- stats ---------------------------------------------------------------------------------
def stats_reply(flat=False, **counts):
    stats = {"name": "p", "status": "running", **counts}
    return {"ok": 1, **stats} if flat else {"ok": 1, "stats": stats}


@pytest.mark.parametrize("flat", [False, True])
def test_stats_thresholds(flat):
    condition = StatsCondition("p", min_output_messages=5, min_input_messages=10)
    verdict = condition.judge(stats_reply(flat, inputMessageCount=10, outputMessageCount=4))
    assert verdict.outcome is Outcome.PENDING
    assert verdict.message == "Stats of 'p': outputMessageCount 4 < 5."
    verdict = condition.judge(stats_reply(flat))
    assert verdict.message == ("Stats of 'p': outputMessageCount 0 < 5, inputMessageCount 0 < 10.")
    verdict = condition.judge(stats_reply(flat, inputMessageCount=Int64(10), outputMessageCount=5))
    assert verdict.outcome is Outcome.SUCCESS
    assert verdict.value == {
        "name": "p",
        "status": "running",
        "inputMessageCount": 10,
        "outputMessageCount": 5,
    }
    assert verdict.message == "Stats of 'p' meet the thresholds."


def test_stats_without_thresholds_succeed_at_once():
    assert StatsCondition("p").judge(stats_reply()).outcome is Outcome.SUCCESS


@pytest.mark.parametrize("flat", [False, True])
def test_stats_dlq_limit(flat):
    condition = StatsCondition("p", min_output_messages=1, max_dlq_messages=2)
    at_limit = condition.judge(stats_reply(flat, outputMessageCount=1, dlqMessageCount=2))
    assert at_limit.outcome is Outcome.SUCCESS
    over = condition.judge(stats_reply(flat, outputMessageCount=1, dlqMessageCount=3))
    assert (over.outcome, over.reason) == (Outcome.FAILURE, Reason.DLQ_LIMIT)
    assert over.message == (
        "Stream processor 'p' sent 3 message(s) to its dead letter queue, "
        "more than max_dlq_messages=2."
    )
    # the limit fails the wait even before the thresholds are met
    early = condition.judge(stats_reply(flat, dlqMessageCount=3))
    assert early.reason is Reason.DLQ_LIMIT
    assert StatsCondition("p", max_dlq_messages=0).judge(stats_reply(dlqMessageCount=1)).done
    # no limit: any count
    assert StatsCondition("p").judge(stats_reply(dlqMessageCount=10**6)).outcome is (
        Outcome.SUCCESS
    )


@pytest.mark.parametrize("check_fn", [checks.has_output, "tests.support.checks.has_output"])
def test_stats_check_fn(check_fn):
    condition = StatsCondition("p", check_fn=check_fn)
    pending = condition.judge(stats_reply(outputMessageCount=0))
    assert pending.outcome is Outcome.PENDING
    assert pending.message == "Stats of 'p': check_fn is false."
    assert condition.judge(stats_reply(outputMessageCount=1)).outcome is Outcome.SUCCESS


def test_stats_check_fn_sees_the_stats_without_the_envelope():
    seen = []

    def check(stats):
        seen.append(stats)
        return True

    StatsCondition("p", check_fn=check).judge(stats_reply(outputMessageCount=Int64(3)))
    StatsCondition("p", check_fn=check).judge(stats_reply(True, outputMessageCount=3))
    expected = {"name": "p", "status": "running", "outputMessageCount": 3}
    assert seen == [expected, expected]


def test_stats_check_fn_runs_only_once_thresholds_are_met():
    calls = []

    def check(stats):
        calls.append(stats)
        return True

    condition = StatsCondition("p", min_output_messages=2, check_fn=check)
    assert condition.judge(stats_reply(outputMessageCount=1)).outcome is Outcome.PENDING
    assert calls == []
    assert condition.judge(stats_reply(outputMessageCount=2)).outcome is Outcome.SUCCESS
    assert len(calls) == 1


def test_stats_missing():
    assert StatsCondition("p", min_output_messages=1).judge(None) == Verdict.missing("p")


def test_stats_helpers():
    assert stats_document({"ok": 1, "stats": {"a": Int64(1), "ok": 1}}) == {"a": 1}
    assert stats_document({"ok": 1, "a": 2}) == {"a": 2}
    assert count({"n": 3}, "n") == 3
    assert count({"n": 2.9}, "n") == 2
    assert count({}, "n") == 0
    assert count({"n": "7"}, "n") == 0
    assert count({"n": True}, "n") == 0
    assert count({"n": None}, "n") == 0
    assert stats_state({"state": "FAILED", "stats": {"status": "running"}}) == "FAILED"
    assert stats_state({"stats": {"status": "failed"}}) == "failed"
    assert stats_state({"ok": 1}) == ""
    assert stats_state({"stats": "unexpected"}) == ""


# -- as trigger kwargs ---------------------------------------------------------------------
def through_json(kwargs):
    return json.loads(json.dumps(kwargs))


def test_state_condition_kwargs_round_trip():
    condition = StateCondition(
        "p",
        frozenset({"STOPPED", "STARTED"}),
        frozenset({"FAILED", "CREATED"}),
        missing_ok=True,
        ignore_failure_at=T1,
    )
    kwargs = to_kwargs(condition)
    assert kwargs == {
        "target_states": ["STARTED", "STOPPED"],
        "failure_states": ["CREATED", "FAILED"],
        "missing_ok": True,
        "ignore_failure_at": "2026-01-01T09:00:00",
    }
    back = from_kwargs(StateCondition, "p", through_json(kwargs))
    assert back == condition
    # the stale rule still recognises the same failure after the trip
    assert back.judge(info("CREATED", T1)).outcome is Outcome.PENDING


def test_state_condition_kwargs_with_an_aware_time_and_defaults():
    aware = datetime.datetime(2026, 1, 1, 9, tzinfo=datetime.timezone.utc)
    condition = StateCondition("p", ignore_failure_at=aware)
    back = from_kwargs(StateCondition, "p", through_json(to_kwargs(condition)))
    assert back == condition
    assert back.ignore_failure_at.tzinfo is not None
    default = StateCondition("p")
    assert to_kwargs(default)["ignore_failure_at"] is None
    assert from_kwargs(StateCondition, "p", through_json(to_kwargs(default))) == default


def test_state_kwargs_are_normalized_on_the_way_in():
    condition = from_kwargs(
        StateCondition, "q", {"target_states": ["running"], "failure_states": "error"}
    )
    assert condition == StateCondition("q", frozenset({"STARTED"}), frozenset({"FAILED"}))


def test_sample_condition_kwargs_round_trip():
    condition = SampleCondition(
        "p",
        min_documents=3,
        match={"a.b": {"$in": [1, 2]}, "$or": [{"c": None}, {"d": {"$exists": False}}]},
        check_fn="tests.support.checks.is_hit",
        limit=50,
        sample_timeout=2.5,
    )
    kwargs = to_kwargs(condition)
    assert "processor_name" not in kwargs
    back = from_kwargs(SampleCondition, "p", through_json(kwargs))
    assert back == condition
    # the key order of match survives
    assert list(back.match) == ["a.b", "$or"]


def test_a_callable_check_fn_travels_as_its_dotted_path():
    condition = SampleCondition("p", check_fn=checks.is_hit)
    kwargs = to_kwargs(condition)
    assert kwargs["check_fn"] == "tests.support.checks.is_hit"
    back = from_kwargs(SampleCondition, "p", through_json(kwargs))
    assert back == dataclasses.replace(condition, check_fn="tests.support.checks.is_hit")
    found: list = []
    assert back.take(found, {"hit": 1})
    assert not back.take([], {"hit": 0})


def test_a_check_fn_the_triggerer_cannot_import_does_not_travel():
    with pytest.raises(AspInputError, match="cannot travel to the triggerer"):
        to_kwargs(StatsCondition("p", check_fn=lambda stats: True))


def test_stats_condition_kwargs_round_trip():
    condition = StatsCondition(
        "p",
        min_output_messages=5,
        min_input_messages=None,
        max_dlq_messages=0,
        check_fn=checks.has_output,
    )
    kwargs = to_kwargs(condition)
    assert kwargs == {
        "min_output_messages": 5,
        "min_input_messages": None,
        "max_dlq_messages": 0,
        "check_fn": "tests.support.checks.has_output",
    }
    back = from_kwargs(StatsCondition, "p", through_json(kwargs))
    assert back == dataclasses.replace(condition, check_fn="tests.support.checks.has_output")
    assert back.judge(stats_reply(outputMessageCount=5)).outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    ("cls", "kwargs", "unknown"),
    [
        (StateCondition, {"target_states": ["STARTED"], "bogus": 1}, "bogus"),
        (SampleCondition, {"min_output_messages": 1}, "min_output_messages"),
        (StatsCondition, {"match": {}, "limit": 3}, "limit, match"),
        (StatsCondition, {"processor_name": "other"}, "processor_name"),
    ],
)
def test_unknown_kwargs(cls, kwargs, unknown):
    with pytest.raises(TypeError, match=f"{cls.__name__} has no {unknown}"):
        from_kwargs(cls, "p", kwargs)


# -- what each condition reads -----------------------------------------------------------------
def test_each_condition_names_its_read_and_each_read_has_one_reader():
    # Checked by mypy too: each condition is what the reader of its read takes.
    readers: tuple[JudgesInfo, JudgesSample, JudgesStats] = (
        StateCondition("p"),
        SampleCondition("p"),
        StatsCondition("p"),
    )
    assert [type(condition).read for condition in readers] == [Read.INFO, Read.SAMPLE, Read.STATS]
    assert set(asynchronous.READERS) == set(synchronous.READERS) == set(Read)
    # ``read`` is no field: it never travels as a trigger kwarg.
    assert "read" not in to_kwargs(StateCondition("p"))
