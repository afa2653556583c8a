"""Bounded work per document: refused at create, or the processor FAILS as out of memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from asp_emulator import Limits, Workspace
from pymongo.errors import OperationFailure
from waiting import wait_for

EMIT = {"$emit": {"connectionName": "__testLog"}}
GROUP = [{"$group": {"_id": None, "n": {"$sum": 1}}}]


def hopping(interval_ms: int, hop_ms: int, lateness_ms: int = 0) -> dict[str, Any]:
    return {
        "$hoppingWindow": {
            "interval": {"size": interval_ms, "unit": "ms"},
            "hopSize": {"size": hop_ms, "unit": "ms"},
            "allowedLateness": {"size": lateness_ms, "unit": "ms"} if lateness_ms else 0,
            "pipeline": GROUP,
        }
    }


def refused(db: Any, command: dict[str, Any]) -> OperationFailure:
    with pytest.raises(OperationFailure) as info:
        db.command(command)
    return info.value


def test_a_window_opening_a_million_windows_per_document_is_refused(admin: Any, name: str) -> None:
    """1000 s with a 1 ms hop: +243 MB and a 4.6 s ping before; now refused at create."""
    pipeline = [{"$source": {"documents": [{"t": 1}]}}, hopping(1_000_000, 1), EMIT]
    began = time.monotonic()
    error = refused(admin, {"createStreamProcessor": name, "pipeline": pipeline})
    assert error.code == 9
    assert "puts each document in 1,000,000 windows" in str(error)
    assert "max_windows_per_document" in str(error)
    assert admin.command("ping")["ok"] == 1.0
    assert time.monotonic() - began < 5  # generous: it is a validation, not work


def test_the_same_refusal_for_process_and_modify(admin: Any, name: str) -> None:
    too_many = [{"$source": {"documents": []}}, hopping(10_000, 1)]
    assert refused(admin, {"processStreamProcessor": too_many}).code == 9
    admin.command({"createStreamProcessor": name, "pipeline": [{"$source": {"documents": []}}]})
    error = refused(admin, {"modifyStreamProcessor": name, "pipeline": too_many})
    assert error.code == 9


def test_a_hopping_window_at_the_limit_is_accepted(admin: Any, name: str) -> None:
    windows = Limits().max_windows_per_document
    pipeline = [{"$source": {"documents": []}}, hopping(windows, 1), EMIT]
    assert admin.command({"createStreamProcessor": name, "pipeline": pipeline})["ok"] == 1.0


@pytest.fixture(scope="module")
def small() -> Iterator[Workspace]:
    """A workspace with small processing limits."""
    limits = Limits(max_open_windows=50, max_buffered_documents=200, max_documents_per_input=100)
    with Workspace(limits=limits) as ws:
        yield ws


@pytest.fixture
def small_db(small: Workspace, connect: Any) -> Any:
    return connect(small).admin


def failed_with(ws: Workspace, name: str) -> tuple[int, str]:
    wait_for(lambda: ws.processors()[name] == "FAILED")
    info = ws.processor(name)
    return info["errorCode"], info["errorMsg"]


def test_too_many_open_windows_fail_the_processor(
    small: Workspace, small_db: Any, name: str
) -> None:
    base = datetime(2024, 1, 1)
    docs = [{"ts": base + timedelta(seconds=i)} for i in range(60)]  # a window each
    pipeline = [
        {"$source": {"documents": docs, "timeField": "$ts"}},
        {
            "$tumblingWindow": {
                "interval": {"size": 1, "unit": "second"},
                "allowedLateness": {"size": 1, "unit": "day"},
                "pipeline": GROUP,
            }
        },
        EMIT,
    ]
    small_db.command({"createStreamProcessor": name, "pipeline": pipeline})
    small_db.command({"startStreamProcessor": name})
    code, message = failed_with(small, name)
    assert code == 146
    assert "ran out of memory: 51 open windows" in message
    assert "Limits.max_open_windows" in message
    assert small.self_check() == []


def test_too_many_buffered_documents_fail_the_processor(
    small: Workspace, small_db: Any, name: str
) -> None:
    small.add_connection(f"{name}-in")
    pipeline = [
        {"$source": {"connectionName": f"{name}-in"}},
        {
            "$tumblingWindow": {
                "interval": {"size": 1, "unit": "day"},
                "pipeline": GROUP,
            }
        },
        EMIT,
    ]
    small_db.command({"createStreamProcessor": name, "pipeline": pipeline})
    small_db.command({"startStreamProcessor": name})
    small.feed(f"{name}-in", [{"i": i} for i in range(150)])
    wait_for(lambda: small.stats(name)["inputMessageCount"] == 150)
    assert small.processors()[name] == "STARTED"  # under the limit: fine
    small.feed(f"{name}-in", [{"i": i} for i in range(100)])
    code, message = failed_with(small, name)
    assert code == 146
    assert "201 documents buffered in open windows" in message
    assert "Limits.max_buffered_documents" in message


def test_an_unwind_beyond_the_limit_sends_the_input_to_the_dlq(
    small: Workspace, small_db: Any, name: str
) -> None:
    pipeline = [
        {
            "$source": {
                "documents": [{"n": 1, "a": list(range(100))}, {"n": 2, "a": list(range(101))}]
            }
        },
        {"$unwind": {"path": "$a", "includeArrayIndex": "i"}},
        {"$emit": {"connectionName": "__testLog", "topic": name}},
    ]
    small_db.command({"createStreamProcessor": name, "pipeline": pipeline})
    small_db.command({"startStreamProcessor": name})
    wait_for(lambda: small.stats(name)["dlqMessageCount"] == 1)
    out = small.emitted("__testLog", topic=name)
    assert len(out) == 100
    assert out[7] == {"n": 1, "a": 7, "i": 7}


def test_unwind_is_linear_in_the_array(admin: Any, workspace: Workspace, name: str) -> None:
    """mongomock's $unwind copies the whole document per element; ours does not."""
    doc = {"big": "x" * 100_000, "a": list(range(5_000))}
    pipeline = [
        {"$source": {"documents": [doc]}},
        {"$unwind": "$a"},
        {"$project": {"big": 0}},
        {"$emit": {"connectionName": "__testLog", "topic": name}},
    ]
    admin.command({"createStreamProcessor": name, "pipeline": pipeline})
    admin.command({"startStreamProcessor": name})
    wait_for(lambda: workspace.stats(name)["outputMessageCount"] == 5_000, timeout=30)
    assert admin.command("ping")["ok"] == 1.0


def nested(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"x": 1}
    for _ in range(depth - 1):
        query = {"$and": [query]}
    return query


def test_nesting_beyond_the_limit_is_a_clean_error(admin: Any, name: str) -> None:
    """A $match nested 400 deep answered 'internal error: maximum recursion depth exceeded'
    with a traceback; now code 15 (and no internal error, or this test would fail)."""
    pipeline = [{"$source": {"documents": []}}, {"$match": nested(200)}]  # 400 levels
    error = refused(admin, {"createStreamProcessor": name, "pipeline": pipeline})
    assert error.code == 15
    assert "nested deeper than 100 levels" in str(error)


def test_nesting_within_the_limit_is_accepted(admin: Any, name: str) -> None:
    pipeline = [{"$source": {"documents": []}}, {"$match": nested(40)}]  # 85 levels in all
    assert admin.command({"createStreamProcessor": name, "pipeline": pipeline})["ok"] == 1.0
