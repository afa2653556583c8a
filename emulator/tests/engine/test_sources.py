"""Sources under real asyncio runs: inline documents, fed connections, the solar generator."""

from __future__ import annotations

import asyncio
import datetime
import re

from asp_emulator.engine import Connections
from engine_support import EMIT, make_engine, running, settle, wait_until


async def test_inline_documents_are_emitted_once_then_the_processor_idles() -> None:
    conns = Connections()
    engine = make_engine([{"$source": {"documents": [{"i": i} for i in range(5)]}}, EMIT], conns)
    async with running(engine) as task:
        await wait_until(lambda: len(conns.emitted("__testLog")) == 5)
        await settle()
        assert not task.done()
    assert conns.emitted("__testLog") == [{"i": i} for i in range(5)]


async def test_inline_checkpoint_survives_restart_and_clear_checkpoints_replays() -> None:
    conns = Connections()
    engine = make_engine([{"$source": {"documents": [{"i": 1}, {"i": 2}]}}, EMIT], conns)
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 2)
    async with running(engine):
        await settle()
    assert len(conns.emitted("__testLog")) == 2
    engine.clear_checkpoints()
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 4)
    assert [d["i"] for d in conns.emitted("__testLog")] == [1, 2, 1, 2]


async def test_fed_connection_reads_backlog_then_polls_for_new_documents() -> None:
    conns = Connections()
    conns.add("k")
    conns.feed("k", [{"n": 0}, {"n": 1}])
    engine = make_engine([{"$source": {"connectionName": "k"}}, EMIT], conns)
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 2)
        conns.feed("k", [{"n": 2}])
        await wait_until(lambda: len(conns.emitted("__testLog")) == 3)
    conns.feed("k", [{"n": 3}, {"n": 4}])  # while stopped
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 5)
    assert [d["n"] for d in conns.emitted("__testLog")] == [0, 1, 2, 3, 4]
    engine.clear_checkpoints()
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 10)


async def test_documents_fed_from_another_thread_are_processed() -> None:
    conns = Connections()
    conns.add("k")
    engine = make_engine([{"$source": {"connectionName": "k"}}, EMIT], conns)
    async with running(engine):
        await asyncio.to_thread(conns.feed, "k", [{"n": i} for i in range(50)])
        await wait_until(lambda: len(conns.emitted("__testLog")) == 50)


async def test_topics_are_separate_logs() -> None:
    conns = Connections()
    conns.add("kafka", "kafka")
    conns.feed("kafka", [{"t": "a"}], topic="a")
    conns.feed("kafka", [{"t": "b"}], topic="b")
    conns.feed("kafka", [{"t": "none"}])
    conns.feed("kafka", [{"t": "c"}], topic="db.coll")
    only_a = make_engine([{"$source": {"connectionName": "kafka", "topic": "a"}}], conns, name="a")
    both = make_engine(
        [{"$source": {"connectionName": "kafka", "topic": ["a", "b"]}}], conns, name="ab"
    )
    coll = make_engine(
        [{"$source": {"connectionName": "kafka", "db": "db", "coll": "coll"}}], conns, name="c"
    )
    async with running(only_a), running(both), running(coll):
        await wait_until(lambda: len(both.recent_outputs()) == 2 and coll.recent_outputs())
        await settle()
    assert only_a.recent_outputs() == [{"t": "a"}]
    assert sorted(d["t"] for d in both.recent_outputs()) == ["a", "b"]
    assert coll.recent_outputs() == [{"t": "c"}]


async def test_ts_field_name_adds_the_event_time() -> None:
    conns = Connections()
    when = datetime.datetime(2024, 1, 1, 12, 0, 0)
    engine = make_engine(
        [{"$source": {"documents": [{"at": when}], "timeField": "$at", "tsFieldName": "_ts"}}],
        conns,
    )
    async with running(engine):
        await wait_until(engine.recent_outputs)
    assert engine.recent_outputs() == [{"at": when, "_ts": when}]


async def test_solar_documents_have_the_documented_shape() -> None:
    conns = Connections(solar_rate=500.0)
    engine = make_engine([{"$source": {"connectionName": "sample_stream_solar"}}], conns)
    before = datetime.datetime.now(datetime.timezone.utc)
    async with running(engine):
        await wait_until(lambda: len(engine.recent_outputs()) >= 20)
    after = datetime.datetime.now(datetime.timezone.utc)
    for doc in engine.recent_outputs():
        assert set(doc) == {"device_id", "group_id", "timestamp", "max_watts", "event_type", "obs"}
        assert re.fullmatch(r"device_[0-9]", doc["device_id"])
        assert isinstance(doc["group_id"], int)
        assert doc["max_watts"] == 450
        assert doc["event_type"] == 0
        assert isinstance(doc["obs"]["watts"], int)
        assert 0 <= doc["obs"]["watts"] <= 450
        assert isinstance(doc["obs"]["temp"], int)
        assert isinstance(doc["timestamp"], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", doc["timestamp"])
        stamp = datetime.datetime.fromisoformat(doc["timestamp"])
        assert before - datetime.timedelta(milliseconds=1) <= stamp <= after


async def test_solar_rate_controls_throughput_and_can_pause() -> None:
    conns = Connections(solar_rate=200.0)
    engine = make_engine([{"$source": {"connectionName": "sample_stream_solar"}}], conns)
    async with running(engine):
        await asyncio.sleep(0.5)
        produced = engine.stats()["inputMessageCount"]
        assert 60 <= produced <= 140  # 100 expected
        conns.solar_rate = 0
        await settle(0.05)
        paused = engine.stats()["inputMessageCount"]
        await settle(0.2)
        assert engine.stats()["inputMessageCount"] == paused


async def _first_solar_values(name: str) -> list[tuple]:
    engine = make_engine(
        [{"$source": {"connectionName": "sample_stream_solar"}}],
        Connections(solar_rate=1000.0),
        name=name,
    )
    async with running(engine):
        await wait_until(lambda: len(engine.recent_outputs()) >= 10)
    return [
        (d["device_id"], d["group_id"], d["obs"]["watts"]) for d in engine.recent_outputs()[:10]
    ]


async def test_solar_values_are_reproducible_per_processor_name() -> None:
    first = await _first_solar_values("same")
    assert await _first_solar_values("same") == first
    assert await _first_solar_values("different") != first


async def test_cancel_is_prompt_and_clean() -> None:
    conns = Connections(solar_rate=1000.0)
    engine = make_engine([{"$source": {"connectionName": "sample_stream_solar"}}], conns)
    task = asyncio.create_task(engine.run())
    await wait_until(lambda: engine.stats()["inputMessageCount"] > 0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert task in done
    assert task.cancelled()
