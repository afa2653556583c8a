"""The thirteen ASP commands, their state rules and refusals, in both reply shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asp_emulator import Workspace
from bson import Int64, Timestamp
from pymongo.errors import OperationFailure
from waiting import wait_for

EMIT = {"$emit": {"connectionName": "__testLog"}}


def inline(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"$source": {"documents": list(docs)}}, EMIT]


def info_of(reply: dict[str, Any], shape: str) -> dict[str, Any]:
    if shape == "live":
        assert set(reply) == {"ok", "result"}
        return reply["result"]
    assert "result" not in reply
    return reply


def fails(code: int, call: Any, *args: Any) -> OperationFailure:
    with pytest.raises(OperationFailure) as info:
        call(*args)
    assert info.value.code == code, info.value.details
    return info.value


@pytest.fixture
def db(any_workspace: Workspace, connect: Any) -> Any:
    return connect(any_workspace).admin


def test_full_lifecycle_and_info_fields(any_workspace: Workspace, db: Any, name: str) -> None:
    shape = any_workspace.reply_shape
    assert db.command({"createStreamProcessor": name, "pipeline": inline({"a": 1})}) == {"ok": 1.0}
    info = info_of(db.command({"getStreamProcessor": name}), shape)
    assert info["name"] == name
    assert info["state"] == "CREATED"
    assert info["pipeline"] == inline({"a": 1})
    assert info["pipelineVersion"] == 1
    assert info["errorMsg"] == ""
    assert info["hasStarted"] is False
    assert "tenantID" in info  # an internal field clients must hide
    assert db.command({"startStreamProcessor": name}) == {"ok": 1.0}
    assert info_of(db.command({"getStreamProcessor": name}), shape)["state"] == "STARTED"
    assert db.command({"stopStreamProcessor": name}) == {"ok": 1.0}
    info = info_of(db.command({"getStreamProcessor": name}), shape)
    assert (info["state"], info["hasStarted"]) == ("STOPPED", True)
    assert db.command({"dropStreamProcessor": name}) == {"ok": 1.0}
    assert name not in any_workspace.processors()
    fails(415, db.command, {"getStreamProcessor": name})


def test_duplicate_name_is_refused(db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline()})
    error = fails(416, db.command, {"createStreamProcessor": name, "pipeline": inline()})
    assert name in str(error)


def test_unknown_processor_errors(db: Any) -> None:
    for command in (
        "startStreamProcessor",
        "stopStreamProcessor",
        "dropStreamProcessor",
        "getStreamProcessor",
        "getStreamProcessorStats",
        "startSampleStreamProcessor",
        "modifyStreamProcessor",
    ):
        error = fails(415, db.command, {command: "no-such-processor", "pipeline": inline()})
        assert "no-such-processor" in str(error)


@pytest.mark.parametrize("bad", ["", "   ", 5, None])
def test_bad_names_are_refused(db: Any, bad: Any) -> None:
    fails(9, db.command, {"createStreamProcessor": bad, "pipeline": inline()})


def test_start_rules(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline()})
    db.command({"startStreamProcessor": name})
    error = fails(416, db.command, {"startStreamProcessor": name})
    assert "already running" in str(error)
    db.command({"stopStreamProcessor": name})
    db.command({"startStreamProcessor": name})  # STOPPED -> STARTED
    any_workspace.fail_processor(name, "boom", 125)
    assert any_workspace.processors()[name] == "FAILED"
    db.command({"startStreamProcessor": name})  # FAILED -> STARTED clears the error
    info = any_workspace.processor(name)
    assert (info["state"], info["errorMsg"], info["errorCode"]) == ("STARTED", "", 0)


def test_stop_only_when_started(db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline()})
    error = fails(125, db.command, {"stopStreamProcessor": name})
    assert "CREATED" in str(error)


def test_drop_running_processor_stops_it_first(
    any_workspace: Workspace, db: Any, name: str
) -> None:
    db.command(
        {
            "createStreamProcessor": name,
            "pipeline": [{"$source": {"connectionName": "sample_stream_solar"}}],
        }
    )
    db.command({"startStreamProcessor": name})
    wait_for(lambda: any_workspace.stats(name)["inputMessageCount"] > 0)
    db.command({"dropStreamProcessor": name})
    assert name not in any_workspace.processors()


def test_start_options_in_either_placement(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline(), "options": {"tier": "SP5"}})
    db.command(
        {
            "startStreamProcessor": name,
            "workers": 2,
            "options": {
                "tier": "SP10",
                "clearCheckpoints": True,
                "enableAutoScaling": True,
                "startAtOperationTime": Timestamp(1, 1),
            },
        }
    )
    info = any_workspace.processor(name)
    assert (info["tier"], info["enableAutoScaling"]) == ("SP10", True)
    db.command({"stopStreamProcessor": name})
    db.command({"startStreamProcessor": name, "tier": "SP30"})  # mongosh puts options on top
    assert any_workspace.processor(name)["tier"] == "SP30"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"options": {"tier": "SP7"}}, "invalid tier"),
        ({"workers": 0}, "workers"),
        ({"workers": "two"}, "workers"),
        ({"options": {"clearCheckpoints": "yes"}}, "clearCheckpoints"),
        (
            {"options": {"startAfter": {"t": 1}, "startAtOperationTime": Timestamp(1, 1)}},
            "mutually exclusive",
        ),
    ],
)
def test_invalid_start_options(db: Any, name: str, extra: dict[str, Any], message: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline()})
    error = fails(420, db.command, {"startStreamProcessor": name, **extra})
    assert message in str(error)


def test_tier_above_workspace_maximum(connect: Any, name: str) -> None:
    with Workspace(max_tier="SP10") as small:
        db = connect(small).admin
        error = fails(
            420,
            db.command,
            {"createStreamProcessor": name, "pipeline": inline(), "options": {"tier": "SP30"}},
        )
        assert "maximum tier SP10" in str(error)
        assert db.command({"listWorkspaceDefaults": 1}) == {
            "ok": 1.0,
            "defaultTierSize": "SP10",
            "maxTierSize": "SP10",
        }


def test_create_options_and_dlq(any_workspace: Workspace, db: Any, name: str) -> None:
    dlq = {"connectionName": "__testLog", "db": "d", "coll": "dlq"}
    db.command(
        {
            "createStreamProcessor": name,
            "pipeline": inline(),
            "options": {"dlq": dlq, "streamMetaFieldName": "meta", "failover": True},
        }
    )
    info = any_workspace.processor(name)
    assert (info["dlq"], info["streamMetaFieldName"], info["failoverEnabled"]) == (
        dlq,
        "meta",
        True,
    )
    error = fails(
        420,
        db.command,
        {
            "createStreamProcessor": name + "x",
            "pipeline": inline(),
            "options": {"dlq": {"connectionName": "nope", "db": "d", "coll": "c"}},
        },
    )
    assert "nope" in str(error)


@pytest.mark.parametrize(
    "pipeline",
    [
        [{"$match": {}}],  # no $source
        [{"$source": {"documents": []}}, {"$frobnicate": {}}],  # unknown stage
        [{"$source": {"connectionName": "no-such-connection"}}],
        "not a list",
        [{"$source": {"documents": []}, "$match": {}}],  # two keys in one stage
    ],
)
def test_bad_pipelines_fail_to_parse(
    any_workspace: Workspace, db: Any, name: str, pipeline: Any
) -> None:
    fails(9, db.command, {"createStreamProcessor": name, "pipeline": pipeline})
    assert name not in any_workspace.processors()


def test_empty_pipeline_is_accepted(db: Any, name: str) -> None:
    assert db.command({"createStreamProcessor": name, "pipeline": []})["ok"] == 1.0


def test_modify_rules(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline({"a": 1})})
    db.command({"startStreamProcessor": name})
    error = fails(125, db.command, {"modifyStreamProcessor": name, "pipeline": inline({"a": 2})})
    assert "stopped" in str(error)
    db.command({"stopStreamProcessor": name})
    error = fails(420, db.command, {"modifyStreamProcessor": name, "pipeline": inline({"a": 2})})
    assert "$source" in str(error)
    new_pipeline = [{"$source": {"documents": [{"a": 1}]}}, {"$match": {"a": 1}}, EMIT]
    db.command({"modifyStreamProcessor": name, "pipeline": new_pipeline, "tier": "SP30"})
    info = any_workspace.processor(name)
    assert (info["pipeline"], info["pipelineVersion"], info["tier"]) == (new_pipeline, 2, "SP30")
    db.command(
        {"modifyStreamProcessor": name, "pipeline": inline({"b": 1}), "resumeFromCheckpoint": False}
    )
    db.command({"modifyStreamProcessor": name, "resumeFromCheckpoint": False})  # mongosh's form
    fails(9, db.command, {"modifyStreamProcessor": name, "pipeline": "not a list"})
    db.command({"modifyStreamProcessor": name, "name": name + "-renamed"})
    assert any_workspace.processors()[name + "-renamed"] == "STOPPED"
    assert name not in any_workspace.processors()
    fails(9, db.command, {"modifyStreamProcessor": name + "-renamed"})


def test_list_processors_with_filters(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name + "-a", "pipeline": inline()})
    db.command({"createStreamProcessor": name + "-b", "pipeline": inline()})
    db.command({"startStreamProcessor": name + "-b"})
    everything = db.command({"listStreamProcessors": 1})["streamProcessors"]
    assert {name + "-a", name + "-b"} <= {p["name"] for p in everything}
    query: dict[str, Any] | None
    for query in (None, {}):
        assert len(
            db.command({"listStreamProcessors": 1, "filter": query})["streamProcessors"]
        ) == len(everything)
    mine = db.command(
        {"listStreamProcessors": 1, "filter": {"name": {"$regex": f"^{name}-"}, "state": "STARTED"}}
    )
    assert [(p["name"], p["state"], p["tier"]) for p in mine["streamProcessors"]] == [
        (name + "-b", "STARTED", "SP10")
    ]
    item = mine["streamProcessors"][0]
    assert {
        "id",
        "name",
        "pipeline",
        "state",
        "errorMsg",
        "lastModified",
        "lastStateChange",
    } <= set(item)


@pytest.mark.parametrize(
    "by_name",
    [
        lambda names: {"name": {"$in": names}},
        lambda names: {"name": names[0]},
        lambda names: {"name": {"$in": [*names, "no-such-processor"]}},
        lambda names: {"name": {"$in": []}},
    ],
)
def test_list_by_names_lists_what_the_general_filter_lists(
    db: Any, name: str, by_name: Callable[[list[str]], dict[str, Any]]
) -> None:
    names = [f"{name}-{i}" for i in range(3)]
    for each in names:
        db.command({"createStreamProcessor": each, "pipeline": inline()})
    db.command({"startStreamProcessor": names[1]})
    query = by_name(names)
    general = {**query, "id": {"$exists": True}}  # the same selection, without the shortcut
    fast = db.command({"listStreamProcessors": 1, "filter": query})["streamProcessors"]
    slow = db.command({"listStreamProcessors": 1, "filter": general})["streamProcessors"]
    assert fast == slow
    assert {p["name"] for p in fast} <= set(names)


def test_list_connections_and_defaults(db: Any) -> None:
    connections = db.command({"listStreamConnections": 1})["connections"]
    assert {"name": "sample_stream_solar", "type": "inmemory"} in connections
    only = db.command({"listStreamConnections": 1, "filter": {"name": "sample_stream_solar"}})
    assert [c["name"] for c in only["connections"]] == ["sample_stream_solar"]
    assert db.command({"listWorkspaceDefaults": 1}) == {
        "ok": 1.0,
        "defaultTierSize": "SP10",
        "maxTierSize": "SP50",
    }


def test_stats_in_every_state(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": inline({"a": 1}, {"a": 2})})
    reply = db.command({"getStreamProcessorStats": name})
    assert (reply["name"], reply["state"], reply["stats"]["status"]) == (name, "CREATED", "created")
    assert reply["ns"].endswith("." + name)
    assert reply["pipeline"] == inline({"a": 1}, {"a": 2})
    db.command({"startStreamProcessor": name})
    wait_for(
        lambda: db.command({"getStreamProcessorStats": name})["stats"]["outputMessageCount"] == 2
    )
    stats = db.command(
        {"getStreamProcessorStats": name, "options": {"scale": 1024, "verbose": True}}
    )["stats"]
    assert stats["scaleFactor"] == 1024
    assert stats["inputMessageCount"] == 2
    assert "operatorStats" in stats
    top = db.command({"getStreamProcessorStats": name, "scale": 1, "verbose": False})[
        "stats"
    ]  # Node's placement
    assert "operatorStats" not in top
    assert top["inputMessageSize"] == pytest.approx(stats["inputMessageSize"] * 1024)
    fails(420, db.command, {"getStreamProcessorStats": name, "options": {"scale": 0}})


def test_cursor_id_types_and_sample_protocol(any_workspace: Workspace, db: Any, name: str) -> None:
    shape = any_workspace.reply_shape
    batch_key = "messages" if shape == "live" else "nextBatch"
    db.command({"createStreamProcessor": name, "pipeline": inline(*({"i": i} for i in range(5)))})
    fails(125, db.command, {"startSampleStreamProcessor": name})  # not running
    db.command({"startStreamProcessor": name})
    wait_for(lambda: any_workspace.stats(name)["outputMessageCount"] == 5)
    started = db.command({"startSampleStreamProcessor": name, "limit": 4})
    assert set(started) == {"ok", "cursorId"}
    assert isinstance(started["cursorId"], Int64)
    assert started["cursorId"] > 0
    cursor_id = int(started["cursorId"])
    first = db.command(
        {"getMoreSampleStreamProcessor": name, "cursorId": Int64(cursor_id), "batchSize": 2}
    )
    assert [d["i"] for d in first[batch_key]] == [0, 1]
    assert first["cursorId"] == cursor_id
    # old mongosh spelled it cursorID; doubles come from JavaScript clients
    second = db.command(
        {"getMoreSampleStreamProcessor": name, "cursorID": float(cursor_id), "batchSize": 5}
    )
    assert [d["i"] for d in second[batch_key]] == [2, 3]
    assert second["cursorId"] == 0  # limit reached
    fails(43, db.command, {"getMoreSampleStreamProcessor": name, "cursorId": Int64(cursor_id)})
    fails(9, db.command, {"getMoreSampleStreamProcessor": name, "cursorId": 0})


def test_stop_and_drop_end_sample_cursors(any_workspace: Workspace, db: Any, name: str) -> None:
    db.command(
        {
            "createStreamProcessor": name,
            "pipeline": [{"$source": {"connectionName": "sample_stream_solar"}}],
        }
    )
    db.command({"startStreamProcessor": name})
    cursor = db.command({"startSampleStreamProcessor": name})["cursorId"]
    wait_for(lambda: any_workspace.stats(name)["outputMessageCount"] > 3)
    db.command({"stopStreamProcessor": name})
    batch_key = "messages" if any_workspace.reply_shape == "live" else "nextBatch"
    last = db.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})
    assert last["cursorId"] == 0
    assert len(last[batch_key]) > 0  # what it held is still delivered
    assert {"device_id", "obs", "timestamp"} <= set(last[batch_key][0])
    db.command({"startStreamProcessor": name})
    cursor = db.command({"startSampleStreamProcessor": name})["cursorId"]
    held = any_workspace.stats(name)["outputMessageCount"]
    wait_for(lambda: any_workspace.stats(name)["outputMessageCount"] > held + 3)
    db.command({"dropStreamProcessor": name})
    last = db.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})
    assert last["cursorId"] == 0
    assert len(last[batch_key]) > 3  # a dropped processor's cursor delivers what it held
    fails(415, db.command, {"getMoreSampleStreamProcessor": name, "cursorId": cursor})


def test_process_is_ephemeral_and_read_through_samples(any_workspace: Workspace, db: Any) -> None:
    batch_key = "messages" if any_workspace.reply_shape == "live" else "nextBatch"
    pipeline = [
        {"$source": {"documents": [{"v": i} for i in range(6)]}},
        {"$match": {"v": {"$gte": 3}}},
    ]
    reply = db.command({"processStreamProcessor": pipeline, "options": {"limit": 3}})
    temp, cursor = reply["name"], reply["cursorId"]
    assert temp not in any_workspace.processors()  # not persisted, not listed
    docs: list[dict[str, Any]] = []

    def pull() -> bool:
        more = db.command({"getMoreSampleStreamProcessor": temp, "cursorId": cursor})
        docs.extend(more[batch_key])
        return more["cursorId"] == 0

    wait_for(pull)
    assert [d["v"] for d in docs] == [3, 4, 5]
    wait_for(lambda: fails_quietly(db, temp))


def fails_quietly(db: Any, name: str) -> bool:
    try:
        db.command({"getStreamProcessor": name})
    except OperationFailure as exc:
        return exc.code == 415
    return False
