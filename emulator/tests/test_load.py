"""Processing never makes commands wait, and idle processors cost nothing.

Bounds here are generous (the machine is shared); ``benchmarks/emulator_load.py`` measures.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asp_emulator import Workspace
from pymongo import MongoClient
from test_connection_limits import MB, rss
from waiting import wait_for

IDLE = "idle"


def pipeline(connection: str) -> list[dict[str, Any]]:
    return [
        {"$source": {"connectionName": connection}},
        {"$match": {"obs.watts": {"$gte": 100}}},
        {"$emit": {"connectionName": "__testLog", "topic": connection}},
    ]


@pytest.fixture
def loaded() -> Iterator[tuple[Workspace, Any]]:
    with (
        Workspace(connections=[IDLE], solar_rate=200.0) as ws,
        MongoClient[dict[str, Any]](ws.uri) as client,
    ):
        yield ws, client.admin


def start(db: Any, name: str, connection: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": pipeline(connection)})
    db.command({"startStreamProcessor": name})


def test_idle_processors_cost_nothing(loaded: tuple[Workspace, Any]) -> None:
    ws, db = loaded
    scheduler = ws._registry.scheduler
    for i in range(300):
        start(db, f"idle{i}", IDLE)
    wait_for(lambda: scheduler.steps >= 300)  # each looked once at its source when started
    steps = scheduler.steps
    for _ in range(200):
        db.command({"getStreamProcessor": "idle0"})
    assert scheduler.steps == steps  # nothing was polled meanwhile
    ws.feed(IDLE, [{"obs": {"watts": 300}}])  # wakes every reader of the connection
    wait_for(lambda: len(ws.emitted("__testLog", topic=IDLE)) == 300)
    assert steps + 300 <= scheduler.steps < steps + 300 + 50


def test_commands_stay_quick_while_processors_run(loaded: tuple[Workspace, Any]) -> None:
    """300 idle processors and 50 on the solar source at 200 docs/s each."""
    ws, db = loaded
    for i in range(300):
        start(db, f"idle{i}", IDLE)
    for i in range(50):
        start(db, f"solar{i}", "sample_stream_solar")
    wait_for(lambda: ws.stats("solar49")["inputMessageCount"] > 0)
    before = sum(ws.stats(f"solar{i}")["inputMessageCount"] for i in range(50))
    timings = []
    for _ in range(200):
        began = time.perf_counter()
        db.command({"getStreamProcessor": "idle0"})
        timings.append(time.perf_counter() - began)
    after = sum(ws.stats(f"solar{i}")["inputMessageCount"] for i in range(50))
    assert after > before + 100  # they really processed meanwhile
    assert statistics.median(timings) < 0.1, statistics.median(timings)
    assert max(timings) < 2.0


def test_created_processors_are_small(loaded: tuple[Workspace, Any]) -> None:
    _, db = loaded
    for i in range(20):  # warm up
        db.command({"createStreamProcessor": f"warm{i}", "pipeline": pipeline(IDLE)})
    before = rss()
    count = 2_000
    for i in range(count):
        db.command({"createStreamProcessor": f"p{i}", "pipeline": pipeline(IDLE)})
    per_processor = (rss() - before) / count
    assert per_processor < 40 * 1024, f"{per_processor / 1024:.1f} KB per processor"
    assert rss() - before < 100 * MB
