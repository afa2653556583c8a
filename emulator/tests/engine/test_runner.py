"""ProcessorEngine: stats, faults, samples history, checkpoints across modify, speed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import bson
import pytest
from asp_emulator.engine import (
    Connections,
    ProcessorEngine,
    ProcessorFailure,
    compile_pipeline,
)
from bson.int64 import Int64
from engine_support import EMIT, make_engine, running, settle, wait_until

DOCS = [{"i": i, "pad": "x" * i} for i in range(10)]


async def run_to_end(engine: ProcessorEngine, inputs: int) -> None:
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] >= inputs)
        await settle(0.02)


async def test_stats_count_and_size_what_went_in_and_came_out() -> None:
    conns = Connections()
    engine = make_engine(
        [{"$source": {"documents": DOCS}}, {"$match": {"i": {"$lt": 4}}}, {"$set": {"y": 1}}, EMIT],
        conns,
    )
    await run_to_end(engine, len(DOCS))
    emitted = conns.emitted("__testLog")
    assert [d["i"] for d in emitted] == [0, 1, 2, 3]
    stats = engine.stats()
    in_size = sum(len(bson.encode(d)) for d in DOCS)
    out_size = sum(len(bson.encode(d)) for d in emitted)
    assert stats["inputMessageCount"] == Int64(10)
    assert isinstance(stats["inputMessageCount"], Int64)
    assert stats["inputMessageSize"] == float(in_size)
    assert isinstance(stats["inputMessageSize"], float)
    assert stats["outputMessageCount"] == 4
    assert stats["outputMessageSize"] == float(out_size)
    assert stats["dlqMessageCount"] == 0
    assert stats["dlqMessageSize"] == 0.0
    assert stats["scaleFactor"] == Int64(1)
    assert isinstance(stats["scaleFactor"], Int64)
    assert stats["name"] == "proc"
    assert stats["status"] == "running"
    assert stats["ok"] == 1
    assert stats["stateSize"] == 0.0
    assert "operatorStats" not in stats
    assert "latency" not in stats

    scaled = engine.stats(scale=1024)
    assert scaled["scaleFactor"] == 1024
    assert scaled["inputMessageSize"] == pytest.approx(in_size / 1024)
    assert scaled["outputMessageSize"] == pytest.approx(out_size / 1024)
    assert scaled["inputMessageCount"] == 10
    with pytest.raises(ValueError, match="scale"):
        engine.stats(scale=0)


async def test_verbose_stats_have_one_entry_per_stage_and_latency() -> None:
    conns = Connections()
    engine = make_engine(
        [{"$source": {"documents": DOCS}}, {"$match": {"i": {"$lt": 4}}}, {"$set": {"y": 1}}, EMIT],
        conns,
    )
    await run_to_end(engine, len(DOCS))
    stats = engine.stats(verbose=True)
    ops = stats["operatorStats"]
    assert [op["name"] for op in ops] == [
        "SourceOperator",
        "MatchOperator",
        "SetOperator",
        "EmitOperator",
    ]
    assert [(op["inputMessageCount"], op["outputMessageCount"]) for op in ops] == [
        (10, 10),
        (10, 4),
        (4, 4),
        (4, 4),
    ]
    matched = sum(len(bson.encode(d)) for d in DOCS[:4])
    assert ops[1]["outputMessageSize"] == matched
    assert ops[2]["inputMessageSize"] == matched
    assert ops[3]["outputMessageSize"] == stats["outputMessageSize"]
    for op in ops:
        assert set(op) >= {
            "dlqMessageCount",
            "dlqMessageSize",
            "stateSize",
            "maxMemoryUsage",
            "executionTimeMillis",
        }
    latency = stats["latency"]
    assert latency["unit"] == "microseconds"
    assert latency["count"] == 4
    assert 0 <= latency["p50"] <= latency["p99"] <= latency["sum"]
    assert latency["start"] <= latency["end"]


async def test_dlq_stats_are_attributed_to_the_failing_stage() -> None:
    engine = make_engine(
        [{"$source": {"documents": [{"a": 1}, {"a": "x"}]}}, {"$set": {"b": {"$add": ["$a", 1]}}}]
    )
    await run_to_end(engine, 2)
    stats = engine.stats(verbose=True)
    assert stats["dlqMessageCount"] == 1
    assert stats["dlqMessageSize"] > 0
    assert stats["operatorStats"][1]["dlqMessageCount"] == 1
    assert stats["operatorStats"][1]["dlqMessageSize"] == stats["dlqMessageSize"]
    assert stats["operatorStats"][0]["dlqMessageCount"] == 0


async def test_stats_accumulate_across_stop_and_start() -> None:
    conns = Connections()
    conns.add("k")
    engine = make_engine([{"$source": {"connectionName": "k"}}, EMIT], conns)
    conns.feed("k", [{"n": 1}, {"n": 2}])
    await run_to_end(engine, 2)
    conns.feed("k", [{"n": 3}])
    await run_to_end(engine, 3)
    assert engine.stats()["inputMessageCount"] == 3
    assert engine.stats()["outputMessageCount"] == 3


async def test_fail_after_zero_fails_even_when_idle() -> None:
    engine = make_engine([{"$source": {"documents": []}}])
    task = asyncio.create_task(engine.run())
    await settle(0.02)
    engine.fail_after(0, "boom", 125, retryable=True)
    with pytest.raises(ProcessorFailure) as info:
        await asyncio.wait_for(task, timeout=1)
    assert (str(info.value), info.value.code, info.value.retryable) == ("boom", 125, True)


async def test_fail_after_n_documents_then_restart_resumes_without_loss() -> None:
    conns = Connections()
    conns.add("k")
    conns.feed("k", [{"n": i} for i in range(10)])
    engine = make_engine([{"$source": {"connectionName": "k"}}, EMIT], conns)
    engine.fail_after(3, "injected", 1)
    with pytest.raises(ProcessorFailure, match="injected") as info:
        await asyncio.wait_for(engine.run(), timeout=1)
    assert info.value.code == 1
    assert not info.value.retryable
    assert [d["n"] for d in conns.emitted("__testLog")] == [0, 1, 2]
    async with running(engine) as task:
        await wait_until(lambda: len(conns.emitted("__testLog")) == 10)
        await settle(0.02)
        assert not task.done()
    assert [d["n"] for d in conns.emitted("__testLog")] == list(range(10))


async def test_recent_outputs_replay_outputs_and_dlq_messages_bounded() -> None:
    engine = make_engine(
        [
            {"$source": {"documents": [{"a": i} for i in range(8)] + [{"a": "x"}]}},
            {"$set": {"b": {"$add": ["$a", 1]}}},
        ],
        recent_outputs_size=5,
    )
    await run_to_end(engine, 9)
    recent = engine.recent_outputs()
    assert len(recent) == 5
    assert [d["a"] for d in recent[:4]] == [4, 5, 6, 7]
    assert recent[4]["_dlqMessage"]["doc"] == {"a": "x"}


async def test_a_failing_sample_callback_does_not_stop_processing(internal_errors: Any) -> None:
    conns = Connections()

    def explode(doc: dict) -> None:
        raise RuntimeError("cursor gone")

    pipeline = compile_pipeline([{"$source": {"documents": [{"a": 1}, {"a": 2}]}}, EMIT], conns)
    engine = ProcessorEngine("p", pipeline, conns, on_sample=explode, poll_interval=0.005)
    async with running(engine):
        await wait_until(lambda: len(conns.emitted("__testLog")) == 2)
    assert (
        internal_errors.take()
        == ["on_sample callback of processor p failed: RuntimeError('cursor gone')"] * 2
    )


async def test_adopt_checkpoint_keeps_offsets_stats_and_id() -> None:
    conns = Connections()
    conns.add("k")
    conns.feed("k", [{"n": 1}, {"n": 2}])
    old = make_engine([{"$source": {"connectionName": "k"}}, EMIT], conns)
    await run_to_end(old, 2)
    conns.feed("k", [{"n": 3}])
    new = make_engine(
        [{"$source": {"connectionName": "k"}}, {"$set": {"v": 2}}, EMIT], conns, name="renamed"
    )
    new.adopt_checkpoint(old)
    await run_to_end(new, 3)
    assert conns.emitted("__testLog")[2:] == [{"n": 3, "v": 2}]
    stats = new.stats()
    assert stats["inputMessageCount"] == 3
    assert stats["name"] == "renamed"
    assert stats["processorId"] == old.stats()["processorId"]


async def test_adopt_checkpoint_with_a_different_source_starts_from_the_beginning() -> None:
    conns = Connections()
    conns.add("k")
    conns.add("other")
    conns.feed("k", [{"n": 1}])
    conns.feed("other", [{"o": 1}])
    old = make_engine([{"$source": {"connectionName": "k"}}], conns)
    await run_to_end(old, 1)
    new = make_engine([{"$source": {"connectionName": "other"}}], conns)
    new.adopt_checkpoint(old)
    await run_to_end(new, 2)
    assert new.recent_outputs() == [{"o": 1}]
    assert new.stats()["inputMessageCount"] == 2


async def test_empty_pipeline_runs_idle_and_produces_nothing() -> None:
    engine = make_engine([])
    async with running(engine) as task:
        await settle(0.05)
        assert not task.done()
    stats = engine.stats(verbose=True)
    assert stats["inputMessageCount"] == 0
    assert stats["outputMessageCount"] == 0
    assert [op["name"] for op in stats["operatorStats"]] == ["SourceOperator"]
    assert "watermark" not in stats


async def test_ten_thousand_documents_are_processed_quickly() -> None:
    conns = Connections()
    docs = [{"i": i, "name": f"n{i}"} for i in range(10_000)]
    engine = make_engine(
        [
            {"$source": {"documents": docs}},
            {"$match": {"i": {"$gte": 0}}},
            {"$addFields": {"double": {"$multiply": ["$i", 2]}}},
            EMIT,
        ],
        conns,
    )
    started = time.perf_counter()
    async with running(engine):
        await wait_until(lambda: engine.stats()["outputMessageCount"] == 10_000, timeout=10)
    assert time.perf_counter() - started < 3
    assert conns.emitted("__testLog")[-1] == {"i": 9999, "name": "n9999", "double": 19998}
