"""Processors really run: filter, window, DLQ, sinks and stats, seen through the wire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from asp_emulator import Workspace
from waiting import wait_for

EMIT = {"$emit": {"connectionName": "__testLog"}}


def run(admin: Any, name: str, pipeline: list[Any], **options: Any) -> None:
    command: dict[str, Any] = {"createStreamProcessor": name, "pipeline": pipeline}
    if options:
        command["options"] = options
    admin.command(command)
    admin.command({"startStreamProcessor": name})


def sample(admin: Any, name: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    cursor = admin.command({"startSampleStreamProcessor": name})["cursorId"]
    docs: list[dict[str, Any]] = []

    def pull() -> bool:
        docs.extend(
            admin.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})["messages"]
        )
        return len(docs) >= count

    wait_for(pull, timeout)
    return docs


def test_filter_and_reshape_fed_connection(workspace: Workspace, admin: Any, name: str) -> None:
    conn = f"{name}-in"
    workspace.add_connection(conn)
    pipeline = [
        {"$source": {"connectionName": conn, "topic": "readings"}},
        {"$match": {"value": {"$gt": 10}}},
        {"$addFields": {"double": {"$multiply": ["$value", 2]}}},
        {"$project": {"_id": 0, "value": 1, "double": 1}},
        {"$emit": {"connectionName": "__testLog", "topic": name}},
    ]
    run(admin, name, pipeline)
    workspace.feed(conn, [{"value": v} for v in (5, 11, 20, 3)], topic="readings")
    wait_for(lambda: len(workspace.emitted("__testLog", topic=name)) == 2)
    assert workspace.emitted("__testLog", topic=name) == [
        {"value": 11, "double": 22},
        {"value": 20, "double": 40},
    ]
    stats = workspace.stats(name)
    assert (stats["inputMessageCount"], stats["outputMessageCount"], stats["dlqMessageCount"]) == (
        4,
        2,
        0,
    )
    workspace.feed(conn, [{"value": 99}], topic="readings")  # fed while running
    wait_for(lambda: len(workspace.emitted("__testLog", topic=name)) == 3)


def test_validate_sends_failures_to_the_dlq(workspace: Workspace, admin: Any, name: str) -> None:
    dlq = {"connectionName": "__testLog", "db": "dead", "coll": name}
    pipeline = [
        {"$source": {"documents": [{"t": 1}, {"t": "hot"}, {"t": 2}]}},
        {"$validate": {"validator": {"t": {"$type": "number"}}, "validationAction": "dlq"}},
        {"$merge": {"into": {"connectionName": "__testLog", "db": "out", "coll": name}}},
    ]
    run(admin, name, pipeline, dlq=dlq)
    wait_for(lambda: workspace.stats(name)["dlqMessageCount"] == 1)
    dead = workspace.collection("__testLog", "dead", name)
    assert [d["doc"]["t"] for d in dead] == ["hot"]
    assert dead[0]["processorName"] == name
    assert dead[0]["errInfo"]["reason"]
    wait_for(lambda: len(workspace.collection("__testLog", "out", name)) == 2)
    assert sorted(d["t"] for d in workspace.collection("__testLog", "out", name)) == [1, 2]
    samples = sample(admin, name, 3)
    assert any("_dlqMessage" in d for d in samples)
    stats = workspace.stats(name)
    assert (stats["inputMessageCount"], stats["outputMessageCount"]) == (3, 2)
    assert stats["dlqMessageSize"] > 0


def test_tumbling_window_groups_by_event_time(workspace: Workspace, admin: Any, name: str) -> None:
    base = datetime(2024, 8, 12, 21, 41, 0, tzinfo=timezone.utc)
    docs = [
        {"device": "a", "watts": w, "ts": (base + timedelta(seconds=s)).isoformat()}
        for s, w in ((0, 10), (1, 30), (2, 20), (11, 5), (12, 7), (25, 1))
    ]
    pipeline = [
        {"$source": {"documents": docs, "timeField": {"$dateFromString": {"dateString": "$ts"}}}},
        {
            "$tumblingWindow": {
                "interval": {"size": 10, "unit": "second"},
                "pipeline": [
                    {"$group": {"_id": "$device", "max": {"$max": "$watts"}, "n": {"$sum": 1}}}
                ],
            }
        },
        {"$emit": {"connectionName": "__testLog", "topic": name}},
    ]
    run(admin, name, pipeline)
    wait_for(lambda: len(workspace.emitted("__testLog", topic=name)) >= 3, 15)
    out = workspace.emitted("__testLog", topic=name)
    summary = [(d["_stream_meta"]["window"]["start"].second, d["max"], d["n"]) for d in out]
    assert summary[:3] == [(0, 30, 3), (10, 7, 2), (20, 1, 1)]


def test_solar_source_documents_and_rate(workspace: Workspace, admin: Any, name: str) -> None:
    run(
        admin,
        name,
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$match": {"obs.watts": {"$gte": 0}}},
        ],
    )
    docs = sample(admin, name, 5)
    doc = docs[0]
    assert doc["device_id"].startswith("device_")
    assert isinstance(doc["group_id"], int)
    assert isinstance(doc["timestamp"], str)
    assert {"watts", "temp"} <= set(doc["obs"])
    admin.command({"stopStreamProcessor": name})


def test_fail_processor_after_documents(workspace: Workspace, admin: Any, name: str) -> None:
    conn = f"{name}-in"
    workspace.add_connection(conn)
    run(admin, name, [{"$source": {"connectionName": conn}}, EMIT])
    workspace.fail_processor(
        name, "Kafka broker unreachable", 419, retryable=True, after_documents=3
    )
    workspace.feed(conn, [{"i": 1}, {"i": 2}])
    wait_for(lambda: workspace.stats(name)["inputMessageCount"] == 2)
    assert workspace.processors()[name] == "STARTED"
    workspace.feed(conn, [{"i": 3}, {"i": 4}])
    wait_for(lambda: workspace.processors()[name] == "FAILED")
    reply = admin.command({"getStreamProcessor": name})["result"]
    assert (reply["errorMsg"], reply["errorCode"], reply["errorRetryable"]) == (
        "Kafka broker unreachable",
        419,
        True,
    )
    assert workspace.stats(name)["status"] == "error"


def test_fail_processor_refuses_a_processor_that_is_not_running(
    workspace: Workspace, admin: Any, name: str
) -> None:
    admin.command({"createStreamProcessor": name, "pipeline": []})
    with pytest.raises(ValueError, match="CREATED"):
        workspace.fail_processor(name, "boom")


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_a_processor_armed_to_fail_on_start_fails_as_it_starts_once(
    workspace: Workspace, admin: Any, name: str, delay: float
) -> None:
    workspace.fail_processor_on_start(name, "sink unreachable", 4242, retryable=True)
    workspace.set_transition_delay(delay)
    try:
        admin.command(
            {"createStreamProcessor": name, "pipeline": [{"$source": {"documents": []}}, EMIT]}
        )
        admin.command({"startStreamProcessor": name})
        wait_for(lambda: workspace.processors()[name] == "FAILED")
        reply = admin.command({"getStreamProcessor": name})["result"]
        assert (reply["errorMsg"], reply["errorCode"], reply["errorRetryable"]) == (
            "sink unreachable",
            4242,
            True,
        )
        assert reply["hasStarted"] is True
        admin.command({"startStreamProcessor": name})  # once: the next start runs
        wait_for(lambda: workspace.processors()[name] == "STARTED")
    finally:
        workspace.set_transition_delay(0.0)
    admin.command({"stopStreamProcessor": name})


def test_restart_resumes_from_checkpoint_and_clear_checkpoints_rereads(
    workspace: Workspace, admin: Any, name: str
) -> None:
    pipeline = [
        {"$source": {"documents": [{"i": 1}, {"i": 2}]}},
        {"$emit": {"connectionName": "__testLog", "topic": name}},
    ]
    run(admin, name, pipeline)
    wait_for(lambda: len(workspace.emitted("__testLog", topic=name)) == 2)
    admin.command({"stopStreamProcessor": name})
    admin.command({"startStreamProcessor": name})
    admin.command({"stopStreamProcessor": name})
    assert len(workspace.emitted("__testLog", topic=name)) == 2
    admin.command({"startStreamProcessor": name, "options": {"clearCheckpoints": True}})
    wait_for(lambda: len(workspace.emitted("__testLog", topic=name)) == 4)


def test_a_failed_processor_s_cursor_delivers_what_it_held(
    workspace: Workspace, admin: Any, name: str
) -> None:
    conn = f"{name}-in"
    workspace.add_connection(conn)
    run(admin, name, [{"$source": {"connectionName": conn}}, EMIT])
    cursor = admin.command({"startSampleStreamProcessor": name})["cursorId"]
    workspace.feed(conn, [{"i": i} for i in range(5)])
    wait_for(lambda: workspace.stats(name)["outputMessageCount"] == 5)
    workspace.fail_processor(name, "disk full", 125)
    last = admin.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})
    assert [d["i"] for d in last["messages"]] == [0, 1, 2, 3, 4]
    assert last["cursorId"] == 0
