"""Tumbling and hopping windows under real runs: aggregates, bounds, lateness, state."""

from __future__ import annotations

import datetime
from typing import Any

import bson
from asp_emulator.engine import Connections
from engine_support import make_engine, running, settle, wait_until

T0 = datetime.datetime(2024, 1, 1, 10, 0, 0)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def window_stage(kind: str = "$tumblingWindow", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "interval": {"size": 1, "unit": "minute"},
        "allowedLateness": 0,
        "pipeline": [
            {"$group": {"_id": "$k", "total": {"$sum": "$v"}, "n": {"$count": {}}}},
            {"$sort": {"_id": 1}},
        ],
    }
    body.update(spec)
    return {kind: body}


def results(engine: Any) -> list[tuple]:
    return [
        (
            d["_stream_meta"]["window"]["start"],
            d["_stream_meta"]["window"]["end"],
            d["_id"],
            d["total"],
        )
        for d in engine.recent_outputs()
        if "_dlqMessage" not in d
    ]


async def test_tumbling_window_groups_exactly_per_window() -> None:
    docs = [
        {"ts": at(5), "k": "a", "v": 1},
        {"ts": at(20), "k": "a", "v": 2},
        {"ts": at(40), "k": "b", "v": 5},
        {"ts": at(70), "k": "a", "v": 10},
        {"ts": at(110), "k": "b", "v": 1},
        {"ts": at(150), "k": "a", "v": 7},
    ]
    conns = Connections()
    engine = make_engine(
        [
            {"$source": {"documents": docs, "timeField": "$ts"}},
            window_stage(),
            {"$emit": {"connectionName": "__testLog"}},
        ],
        conns,
    )
    async with running(engine):
        await wait_until(lambda: len(results(engine)) == 5)
    assert results(engine) == [
        (at(0), at(60), "a", 3),
        (at(0), at(60), "b", 5),
        (at(60), at(120), "a", 10),
        (at(60), at(120), "b", 1),
        (at(120), at(180), "a", 7),
    ]
    first = conns.emitted("__testLog")[0]
    assert first == {
        "_id": "a",
        "total": 3,
        "n": 2,
        "_stream_meta": {"source": {"type": "inmemory"}, "window": {"start": at(0), "end": at(60)}},
    }
    stats = engine.stats()
    assert (stats["inputMessageCount"], stats["outputMessageCount"]) == (6, 5)
    assert stats["stateSize"] == 0
    assert stats["watermark"] >= at(180)


async def test_hopping_window_puts_documents_in_every_overlapping_window() -> None:
    docs = [{"ts": at(10), "v": 1}, {"ts": at(40), "v": 2}, {"ts": at(70), "v": 4}]
    stage = window_stage(
        "$hoppingWindow",
        hopSize={"size": 30, "unit": "second"},
        pipeline=[{"$group": {"_id": None, "total": {"$sum": "$v"}}}],
    )
    engine = make_engine([{"$source": {"documents": docs, "timeField": "$ts"}}, stage])
    async with running(engine):
        await wait_until(lambda: len(results(engine)) == 4)
    assert results(engine) == [
        (at(-30), at(30), None, 1),
        (at(0), at(60), None, 3),
        (at(30), at(90), None, 6),
        (at(60), at(120), None, 4),
    ]


async def test_late_documents_go_to_the_dlq() -> None:
    conns = Connections()
    conns.add("cluster")
    docs = [
        {"ts": at(5), "k": "a", "v": 1},
        {"ts": at(70), "k": "a", "v": 10},
        {"ts": at(30), "k": "a", "v": 100},
    ]
    engine = make_engine(
        [{"$source": {"documents": docs, "timeField": "$ts"}}, window_stage()],
        conns,
        dlq={"connectionName": "cluster", "db": "d", "coll": "dlq"},
    )
    async with running(engine):
        await wait_until(lambda: len(results(engine)) == 2)
    assert results(engine) == [(at(0), at(60), "a", 1), (at(60), at(120), "a", 10)]
    (dead,) = conns.collection("cluster", "d", "dlq")
    assert dead["operatorName"] == "$tumblingWindow"
    assert dead["errInfo"]["reason"] == "Input document arrived late."
    assert dead["doc"]["v"] == 100
    late = [d for d in engine.recent_outputs() if "_dlqMessage" in d]
    assert late[0]["_dlqMessage"]["doc"]["v"] == 100


async def test_allowed_lateness_keeps_a_window_open_for_late_documents() -> None:
    docs = [
        {"ts": at(5), "k": "a", "v": 1},
        {"ts": at(70), "k": "a", "v": 10},
        {"ts": at(30), "k": "a", "v": 100},
    ]
    engine = make_engine(
        [
            {"$source": {"documents": docs, "timeField": "$ts"}},
            window_stage(allowedLateness={"size": 1, "unit": "minute"}),
        ]
    )
    async with running(engine):
        await wait_until(lambda: len(results(engine)) == 2)
    assert results(engine) == [(at(0), at(60), "a", 101), (at(60), at(120), "a", 10)]
    assert engine.stats()["dlqMessageCount"] == 0


async def test_idle_source_closes_windows_and_closed_windows_stay_closed() -> None:
    conns = Connections()
    conns.add("k")
    engine = make_engine(
        [{"$source": {"connectionName": "k", "timeField": "$ts"}}, window_stage()], conns
    )
    async with running(engine):
        await settle()
        conns.feed("k", [{"ts": at(1), "k": "a", "v": 1}, {"ts": at(2), "k": "a", "v": 2}])
        await wait_until(lambda: len(results(engine)) == 1)
        conns.feed("k", [{"ts": at(3), "k": "a", "v": 4}])
        await wait_until(lambda: engine.stats()["dlqMessageCount"] == 1)
        conns.feed("k", [{"ts": at(300), "k": "a", "v": 8}])
        await wait_until(lambda: len(results(engine)) == 2)
    assert results(engine) == [(at(0), at(60), "a", 3), (at(300), at(360), "a", 8)]


async def test_open_windows_survive_restart_and_report_state_size() -> None:
    conns = Connections()
    conns.add("k")
    future = datetime.datetime(2100, 1, 1)
    docs = [{"ts": future, "k": "a", "v": 1}, {"ts": future, "k": "b", "v": 2}]
    conns.feed("k", docs)
    engine = make_engine(
        [{"$source": {"connectionName": "k", "timeField": "$ts"}}, window_stage()], conns
    )
    size = sum(len(bson.encode(d)) for d in docs)
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] == 2)
        await settle()
    stats = engine.stats(verbose=True)
    assert stats["stateSize"] == size
    assert stats["memoryTrackerBytes"] == size
    window_op = stats["operatorStats"][1]
    assert window_op["name"] == "TumblingWindowOperator"
    assert window_op["stateSize"] == size
    assert window_op["minOpenWindowStartTime"] == future
    assert engine.recent_outputs() == []
    conns.feed("k", [{"ts": future + datetime.timedelta(minutes=5), "k": "a", "v": 4}])
    async with running(engine):
        await wait_until(lambda: len(results(engine)) == 2)
    assert [r[2:] for r in results(engine)] == [("a", 1), ("b", 2)]
    assert engine.stats()["stateSize"] == len(bson.encode({"ts": future, "k": "a", "v": 4}))


async def test_clear_checkpoints_drops_open_windows() -> None:
    future = datetime.datetime(2100, 1, 1)
    engine = make_engine(
        [
            {"$source": {"documents": [{"ts": future, "k": "a", "v": 1}], "timeField": "$ts"}},
            window_stage(),
        ]
    )
    async with running(engine):
        await wait_until(lambda: engine.stats()["stateSize"] > 0)
    engine.clear_checkpoints()
    assert engine.stats()["stateSize"] == 0
    assert "watermark" not in engine.stats()


async def test_solar_tumbling_windows_close_in_real_time() -> None:
    conns = Connections(solar_rate=300.0)
    engine = make_engine(
        [
            {
                "$source": {
                    "connectionName": "sample_stream_solar",
                    "timeField": {"$dateFromString": {"dateString": "$timestamp"}},
                }
            },
            {
                "$tumblingWindow": {
                    "interval": {"size": 100, "unit": "ms"},
                    "allowedLateness": 0,
                    "pipeline": [
                        {
                            "$group": {
                                "_id": "$device_id",
                                "n": {"$count": {}},
                                "max_watts": {"$max": "$obs.watts"},
                                "median_watts": {
                                    "$median": {"input": "$obs.watts", "method": "approximate"}
                                },
                            }
                        }
                    ],
                }
            },
        ],
        conns,
    )
    async with running(engine):
        await wait_until(
            lambda: (
                len({d["_stream_meta"]["window"]["start"] for d in engine.recent_outputs()}) >= 3
            )
        )
    stats = engine.stats()
    outputs = engine.recent_outputs()
    assert sum(d["n"] for d in outputs) <= stats["inputMessageCount"]
    assert stats["dlqMessageCount"] == 0
    for doc in outputs:
        window = doc["_stream_meta"]["window"]
        assert window["end"] - window["start"] == datetime.timedelta(milliseconds=100)
        assert window["start"].microsecond % 100_000 == 0
        assert 0 <= doc["median_watts"] <= doc["max_watts"] <= 450


async def test_processing_time_boundary_ignores_the_time_field() -> None:
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    engine = make_engine(
        [
            {"$source": {"documents": [{"ts": at(0), "k": "a", "v": 1}], "timeField": "$ts"}},
            window_stage(interval={"size": 50, "unit": "ms"}, boundary="processingTime"),
        ]
    )
    async with running(engine):
        await wait_until(lambda: results(engine))
    ((start, _end, key, total),) = results(engine)
    assert (key, total) == ("a", 1)
    assert start >= before - datetime.timedelta(milliseconds=50)


async def test_a_failing_window_pipeline_sends_the_window_to_the_dlq() -> None:
    conns = Connections()
    conns.add("cluster")
    stage = window_stage(
        pipeline=[
            {"$group": {"_id": None, "total": {"$sum": "$v"}}},
            {"$addFields": {"ratio": {"$divide": ["$total", 0]}}},
        ]
    )
    engine = make_engine(
        [{"$source": {"documents": [{"ts": at(1), "v": 1}], "timeField": "$ts"}}, stage],
        conns,
        dlq={"connectionName": "cluster", "db": "d", "coll": "dlq"},
    )
    async with running(engine):
        await wait_until(lambda: engine.stats()["dlqMessageCount"] == 1)
    (dead,) = conns.collection("cluster", "d", "dlq")
    assert dead["operatorName"] == "$tumblingWindow"
    assert dead["doc"] == {"_stream_meta": {"window": {"start": at(0), "end": at(60)}}}
    assert dead["errInfo"]["reason"].startswith("$tumblingWindow pipeline failed")
    assert engine.stats()["outputMessageCount"] == 0


async def test_modify_keeps_open_windows_and_recomputes_them_with_the_new_pipeline() -> None:
    conns = Connections()
    conns.add("k")
    future = datetime.datetime(2100, 1, 1)
    conns.feed("k", [{"ts": future, "k": "a", "v": 1}, {"ts": future, "k": "a", "v": 2}])
    source = {"$source": {"connectionName": "k", "timeField": "$ts"}}
    old = make_engine([source, window_stage()], conns)
    async with running(old):
        await wait_until(lambda: old.stats()["stateSize"] > 0)
    new = make_engine(
        [source, window_stage(pipeline=[{"$group": {"_id": "$k", "total": {"$max": "$v"}}}])],
        conns,
    )
    new.adopt_checkpoint(old)
    assert new.stats()["stateSize"] == old.stats(verbose=True)["operatorStats"][1]["maxMemoryUsage"]
    assert old.stats()["stateSize"] == 0
    conns.feed("k", [{"ts": future + datetime.timedelta(hours=1), "k": "b", "v": 9}])
    async with running(new):
        await wait_until(lambda: results(new))
    assert results(new) == [(future, future + datetime.timedelta(minutes=1), "a", 2)]
    assert new.stats()["inputMessageCount"] == 3
