"""What the event triggers decide, without a server: batches, replays, transitions, crossings,
the payloads of their events and what they remember."""

from __future__ import annotations

import datetime
import json

import pytest

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.event_rules import (
    Batch,
    CounterWatch,
    ReplayGuard,
    SeenDocuments,
    TransitionWatch,
)
from asp_core.stream_processing import StreamProcessorInfo


# -- batches -----------------------------------------------------------------------------------
def test_a_batch_goes_out_when_it_holds_max_batch_documents():
    batch = Batch(max_batch=3, max_wait=10)
    assert batch.add({"i": 1}, now=0) == []
    assert batch.add({"i": 2}, now=1) == []
    (ready,) = batch.add({"i": 3}, now=2)
    assert ready.documents == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert ready.opened_at == 0
    assert not batch.pending
    assert batch.documents == []


def test_a_batch_is_due_max_wait_after_its_first_document():
    batch = Batch(max_batch=100, max_wait=5)
    assert not batch.due(now=100)
    assert batch.wait_left(now=100) is None
    batch.add({"i": 1}, now=10)
    batch.add({"i": 2}, now=14)
    assert not batch.due(now=14.9)
    assert batch.wait_left(now=14) == pytest.approx(1)
    assert batch.due(now=15)
    assert batch.take().documents == [{"i": 1}, {"i": 2}]
    assert batch.wait_left(now=15) is None


def test_a_batch_never_passes_max_payload_bytes():
    big = {"text": "x" * 300}
    batch = Batch(max_batch=100, max_wait=5, max_payload_bytes=1_500)
    sent = []
    for _ in range(10):
        sent += batch.add(big, now=0)
    sent.append(batch.take())
    assert [len(b.documents) for b in sent] == [3, 3, 3, 1]
    for item in sent:
        payload = rules.output_payload("p", item, sent_at="2026-01-01T00:00:00+00:00")
        assert rules.json_bytes(payload) <= 1_500


def test_a_document_too_large_alone_is_counted_not_carried():
    batch = Batch(max_batch=10, max_wait=5, max_payload_bytes=1_024)
    assert batch.add({"text": "x" * 2_000}, now=3) == []
    assert batch.pending  # the event still tells of it
    assert batch.due(now=8)
    taken = batch.take()
    assert (taken.documents, taken.oversized) == ([], 1)
    payload = rules.output_payload("p", taken)
    assert payload == {
        "kind": "output",
        "processor_name": "p",
        "documents": [],
        "count": 0,
        "oversized": 1,
    }


# -- replays -----------------------------------------------------------------------------------
def test_seen_documents_forget_the_oldest_beyond_capacity():
    seen = SeenDocuments(capacity=3, digests=["a", "b", "a"])
    assert "a" in seen
    seen.add("c")  # drops the first "a"; one "a" is left
    assert "a" in seen
    seen.add("d")  # drops "b"
    assert "b" not in seen
    assert seen.snapshot() == ["a", "c", "d"]
    assert len(seen) == 3


def test_a_new_cursor_skips_what_it_replays_and_only_within_its_window():
    guard = ReplayGuard(SeenDocuments(capacity=100), window=5)
    guard.new_cursor()
    assert [guard.is_replay(d) for d in "abc"] == [False, False, False]
    guard.new_cursor()  # hands out a, b, c again, then d
    assert [guard.is_replay(d) for d in "abcd"] == [True, True, True, False]
    assert guard.skipped == 3
    assert guard.is_replay("e") is False  # the 5th document: last one checked
    assert guard.is_replay("a") is False  # past the window: an event like any other


def test_a_guard_restored_from_memory_skips_documents_sent_before_a_restart():
    guard = ReplayGuard(SeenDocuments(digests=[rules.digest({"x": 1})]))
    guard.new_cursor()
    assert guard.is_replay(rules.digest({"x": 1}))
    assert not guard.is_replay(rules.digest({"x": 2}))


def test_digests_ignore_key_order():
    assert rules.digest({"a": 1, "b": [1, 2]}) == rules.digest({"b": [1, 2], "a": 1})
    assert rules.digest({"a": 1}) != rules.digest({"a": 2})


# -- transitions -------------------------------------------------------------------------------
def test_one_event_per_transition_known_by_last_state_change():
    watch = TransitionWatch(frozenset({"FAILED"}))
    assert watch.look("STARTED", "t1") is None
    failed = watch.look("FAILED", "t2")
    assert failed == rules.Transition("FAILED", "STARTED", "FAILED@t2")
    assert watch.look("FAILED", "t2") is None  # the same failure, looked at again
    assert watch.look("STARTED", "t3") is None
    assert watch.look("FAILED", "t4") == rules.Transition("FAILED", "STARTED", "FAILED@t4")


def test_a_failure_between_two_looks_is_still_one_event():
    watch = TransitionWatch(frozenset({"FAILED"}))
    watch.look("FAILED", "t1")
    # restarted and failed again between two looks: only lastStateChange tells
    assert watch.look("FAILED", "t9") == rules.Transition("FAILED", "FAILED", "FAILED@t9")


def test_the_first_look_tells_a_failure_unless_it_was_told_before_a_restart():
    assert TransitionWatch(frozenset({"FAILED"})).look("FAILED", "t1") is not None
    remembered = TransitionWatch(frozenset({"FAILED"}), last_key="FAILED@t1")
    assert remembered.look("FAILED", "t1") is None
    assert remembered.look("FAILED", "t2") is not None


def test_without_last_state_change_a_transition_is_a_change_of_state():
    watch = TransitionWatch(frozenset({"FAILED"}), last_key="FAILED@?")
    assert watch.look("FAILED", None) is None  # told before the restart
    assert watch.look("FAILED", None) is None
    assert watch.look("STARTED", None) is None
    assert watch.look("FAILED", None) == rules.Transition("FAILED", "STARTED", "FAILED@?")


def test_states_are_normalized_and_a_missing_processor_is_no_transition():
    watch = TransitionWatch(arguments.states(["error", "stopped"], "states"))
    assert watch.look(None, None) is None
    assert watch.look("ERROR", "t1") == rules.Transition("FAILED", None, "FAILED@t1")
    assert watch.look("stopped", "t2") == rules.Transition("STOPPED", "FAILED", "STOPPED@t2")


def failed_info(changed: datetime.datetime | None) -> StreamProcessorInfo:
    return StreamProcessorInfo.from_response(
        {
            "name": "p",
            "state": "FAILED",
            "lastStateChange": changed,
            "errorMsg": "boom",
            "errorCode": 125,
            "errorRetryable": False,
        }
    )


CHANGED = datetime.datetime(2026, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)


def test_a_look_at_the_info_keys_the_transition_by_last_state_change_in_iso_8601():
    watch = TransitionWatch(frozenset({"FAILED"}))
    assert watch.look_at(None) is None
    told = watch.look_at(failed_info(CHANGED))
    assert told == rules.Transition("FAILED", None, "FAILED@2026-01-01T09:00:00+00:00")
    assert watch.look_at(failed_info(CHANGED)) is None
    assert TransitionWatch(frozenset({"FAILED"})).look_at(failed_info(None)) == (
        rules.Transition("FAILED", None, "FAILED@?")
    )


def test_a_transition_watch_goes_on_from_its_memory():
    watch = TransitionWatch(frozenset({"FAILED"}))
    watch.look_at(failed_info(CHANGED))
    memory = json.loads(json.dumps(watch.memory()))  # as the state store keeps it
    again = TransitionWatch.restored(["FAILED"], memory)
    assert again.look_at(failed_info(CHANGED)) is None
    assert TransitionWatch.restored(["FAILED"], {"last_key": 3}).last_key is None
    assert TransitionWatch.restored(["FAILED"], {}).look_at(failed_info(CHANGED)) is not None


def test_the_state_payload_is_the_documented_one_in_its_order():
    info = failed_info(CHANGED)
    transition = TransitionWatch(frozenset({"FAILED"})).look_at(info)
    assert transition is not None
    payload = rules.state_payload("p", transition, info, sent_at="2026-01-01T09:00:05+00:00")
    assert json.dumps(payload) == json.dumps(
        {
            "kind": "state",
            "processor_name": "p",
            "state": "FAILED",
            "previous_state": None,
            "last_state_change": "2026-01-01T09:00:00+00:00",
            "error_msg": "boom",
            "error_code": 125,
            "error_retryable": False,
            "sent_at": "2026-01-01T09:00:05+00:00",
        }
    )
    assert "sent_at" not in rules.state_payload("p", transition, info)


# -- counters ----------------------------------------------------------------------------------
def test_a_threshold_is_told_once_per_crossing():
    watch = CounterWatch(threshold=100)
    assert watch.look(10) == []
    assert watch.look(120) == [rules.Crossing("threshold", 120, 10, 100)]
    assert watch.look(500) == []
    assert watch.look(0) == []  # re-created: below again
    assert watch.look(100) == [rules.Crossing("threshold", 100, 0, 100)]


def test_a_threshold_already_passed_on_the_first_look_is_told_unless_remembered():
    assert CounterWatch(threshold=5).look(7) == [rules.Crossing("threshold", 7, None, 5)]
    assert CounterWatch(threshold=5, above=True).look(7) == []


def test_steps_count_from_the_first_value_and_tell_each_look_once():
    watch = CounterWatch(step=100)
    assert watch.look(30) == []  # the base
    assert watch.look(129) == []
    assert watch.look(130) == [rules.Crossing("step", 130, 129, 130, 1)]
    assert watch.look(399) == [rules.Crossing("step", 399, 130, 330, 2)]
    assert watch.memory() == {"above": None, "base": 330}
    assert watch.look(10) == []  # went down: counts again from 10
    assert watch.look(110) == [rules.Crossing("step", 110, 10, 110, 1)]


def test_a_remembered_base_survives_a_restart():
    watch = CounterWatch(step=50, base=200)
    assert watch.look(240) == []
    assert watch.look(250) == [rules.Crossing("step", 250, 240, 250, 1)]


def test_a_counter_watch_goes_on_from_its_memory():
    watch = CounterWatch(threshold=100, step=50)
    watch.look(120)
    memory = json.loads(json.dumps(watch.memory()))
    again = CounterWatch.restored(100, 50, memory)
    assert (again.above, again.base) == (True, 120)
    assert again.look(130) == []
    assert again.look(170) == [rules.Crossing("step", 170, 130, 170, 1)]
    assert CounterWatch.restored(100, None, {"above": "yes", "base": "7"}) == CounterWatch(100)


def test_the_stats_payload_is_the_documented_one_in_its_order():
    watch = CounterWatch(threshold=None, step=100)
    stats = {"dlqMessageCount": 250, "outputMessageCount": 9}
    watch.look(30)
    (crossing,) = watch.look(250)
    payload = rules.stats_payload(
        "p", "dlqMessageCount", watch, crossing, stats, sent_at="2026-01-01T09:00:05+00:00"
    )
    assert json.dumps(payload) == json.dumps(
        {
            "kind": "stats",
            "processor_name": "p",
            "counter": "dlqMessageCount",
            "value": 250,
            "previous": 30,
            "reason": "step",
            "mark": 230,
            "crossed": 2,
            "threshold": None,
            "step": 100,
            "stats": stats,
            "sent_at": "2026-01-01T09:00:05+00:00",
        }
    )


def test_the_output_payload_is_the_documented_one_in_its_order():
    batch = Batch(max_batch=2, max_wait=5)
    (full,) = batch.add({"a": 1}, now=0) + batch.add({"b": 2}, now=1)
    payload = rules.output_payload("p", full, sent_at="2026-01-01T09:00:05+00:00")
    assert list(payload) == ["kind", "processor_name", "documents", "count", "oversized", "sent_at"]
    assert payload["documents"] == [{"a": 1}, {"b": 2}]
    assert payload["count"] == 2


def test_an_output_document_belongs_in_an_event_unless_replayed_dead_or_unmatched():
    guard = ReplayGuard(SeenDocuments(digests=[rules.digest({"w": 1})]))
    guard.new_cursor()
    assert rules.select_output({"w": 1}, guard) is None  # handed out again by a new cursor
    assert rules.select_output({"w": 500}, guard) == ({"w": 500}, len(b'{"w":500}'))
    dead = {"_dlqMessage": {"errInfo": "x"}}
    assert rules.select_output(dead, guard) is None
    assert rules.select_output({**dead, "n": 2}, guard, include_dlq=True) is not None
    assert rules.select_output({"w": 2}, guard, match={"w": {"$gte": 400}}) is None
    assert rules.select_output({"w": 401}, guard, match={"w": {"$gte": 400}}) is not None
    assert rules.select_output({"w": 402}, guard, check=lambda doc: doc["w"] > 402) is None


# -- arguments ---------------------------------------------------------------------------------
def test_plain_json_refuses_what_airflow_would_turn_into_a_string():
    assert rules.plain_json({"a": [1, "b", None, True]}, "match") == {"a": [1, "b", None, True]}
    with pytest.raises(AspInputError, match="match must be made of JSON values"):
        rules.plain_json({"t": object()}, "match")
    with pytest.raises(AspInputError, match="match must be made of JSON values"):
        rules.plain_json({"x": float("nan")}, "match")


def test_memory_keys_follow_what_is_watched_not_how():
    key = rules.memory_key("output", "p", {"match": {"a": 1}, "check_fn": None})
    assert key.startswith("asp_output:p:")
    assert key == rules.memory_key("output", "p", {"check_fn": None, "match": {"a": 1}})
    assert key != rules.memory_key("output", "p", {"match": {"a": 2}, "check_fn": None})
    assert key != rules.memory_key("output", "q", {"match": {"a": 1}, "check_fn": None})


def test_a_known_size_counts_as_the_measured_one():
    document = {"b": 1, "a": "x" * 10}
    assert len(rules.canonical(document)) == rules.json_bytes(document)
    assert rules.digest(document, rules.canonical(document)) == rules.digest(document)
    one, two = Batch(10, 1), Batch(10, 1)
    one.add(document, now=0)
    two.add(document, now=0, size=len(rules.canonical(document)))
    assert one._bytes == two._bytes


def test_a_resumed_transition_watch_goes_on_as_if_it_never_stopped():
    watch = TransitionWatch(frozenset({"FAILED"}))
    assert watch.look("STARTED", "t0") is None
    memory = json.loads(json.dumps(watch.continuation()))
    assert memory == {"last_key": None, "previous_state": "STARTED", "looked": True}
    again = TransitionWatch.resumed(["FAILED"], memory)
    assert again.look("FAILED", "t1") == rules.Transition("FAILED", "STARTED", "FAILED@t1")
    told = TransitionWatch.resumed(["FAILED"], json.loads(json.dumps(again.continuation())))
    assert told.look("FAILED", "t1") is None  # the same failure, told once


def test_a_resumed_watch_without_times_tells_each_entry_once():
    watch = TransitionWatch.resumed(["FAILED"], {})
    assert watch.look("FAILED", None) is not None  # first look: an event
    for state, told in (("FAILED", False), ("STARTED", False), ("FAILED", True)):
        watch = TransitionWatch.resumed(["FAILED"], watch.continuation())
        assert (watch.look(state, None) is not None) is told
    assert TransitionWatch.resumed(["FAILED"], {"previous_state": 1, "looked": "yes"}) == (
        TransitionWatch(frozenset({"FAILED"}))
    )


def test_a_tick_budget_counts_down_on_the_callers_clock():
    budget = rules.TickBudget(40.0, started=100.0)
    assert budget.left(110.0) == 30.0
    assert not budget.spent(110.0)
    assert budget.left(141.0) == 0.0
    assert budget.spent(140.0)
