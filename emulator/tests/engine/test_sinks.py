"""$emit and $merge sinks under real runs."""

from __future__ import annotations

from typing import Any

import pytest
from asp_emulator.engine import Connections
from bson.objectid import ObjectId
from engine_support import make_engine, running, wait_until

INTO = {"connectionName": "cluster", "db": "app", "coll": "out"}


def cluster() -> Connections:
    conns = Connections()
    conns.add("cluster", "atlas")
    conns.add("kafka", "kafka")
    return conns


async def run_all(conns: Connections, stages: list[Any], count: int, **options: Any) -> Any:
    engine = make_engine(stages, conns, **options)
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] == count)
        await wait_until(lambda: len(engine.recent_outputs()) >= 1 or count == 0)
    return engine


async def test_emit_to_test_log_topic_dynamic_topic_and_db_coll() -> None:
    conns = cluster()
    docs = [{"k": "x", "v": 1}, {"k": "y", "v": 2}]
    await run_all(
        conns, [{"$source": {"documents": docs}}, {"$emit": {"connectionName": "__testLog"}}], 2
    )
    await run_all(
        conns,
        [{"$source": {"documents": docs}}, {"$emit": {"connectionName": "kafka", "topic": "t"}}],
        2,
    )
    await run_all(
        conns,
        [{"$source": {"documents": docs}}, {"$emit": {"connectionName": "kafka", "topic": "$k"}}],
        2,
    )
    await run_all(
        conns,
        [
            {"$source": {"documents": docs}},
            {"$emit": {"connectionName": "kafka", "db": "d", "coll": "c"}},
        ],
        2,
    )
    assert conns.emitted("__testLog") == docs
    assert conns.emitted("kafka", "t") == docs
    assert conns.emitted("kafka", "x") == [docs[0]]
    assert conns.emitted("kafka", "y") == [docs[1]]
    assert conns.emitted("kafka", "d.c") == docs
    assert conns.emitted("kafka") == []


async def test_emit_with_a_topic_expression_that_fails_goes_to_the_dlq() -> None:
    conns = cluster()
    engine = await run_all(
        conns,
        [
            {"$source": {"documents": [{"k": "ok"}, {"k": 5}]}},
            {"$emit": {"connectionName": "kafka", "topic": "$k"}},
        ],
        2,
        dlq={"connectionName": "cluster", "db": "e", "coll": "dlq"},
    )
    await wait_until(lambda: len(engine.recent_outputs()) == 2)
    assert conns.emitted("kafka", "ok") == [{"k": "ok"}]
    (dead,) = conns.collection("cluster", "e", "dlq")
    assert dead["operatorName"] == "$emit"
    assert "$emit.topic must evaluate to a non-empty string" in dead["errInfo"]["reason"]


async def test_merge_inserts_documents_and_generates_ids() -> None:
    conns = cluster()
    await run_all(
        conns, [{"$source": {"documents": [{"a": 1}, {"a": 2}]}}, {"$merge": {"into": INTO}}], 2
    )
    stored = conns.collection("cluster", "app", "out")
    assert [d["a"] for d in stored] == [1, 2]
    assert all(isinstance(d["_id"], ObjectId) for d in stored)


EXISTING = {"_id": 1, "key": "k", "a": "old", "keep": True}


@pytest.mark.parametrize(
    ("when_matched", "expected"),
    [
        ("replace", {"_id": 1, "key": "k", "a": "new"}),
        ("merge", {"_id": 1, "key": "k", "a": "new", "keep": True}),
        ("keepExisting", EXISTING),
    ],
)
async def test_merge_when_matched(when_matched: str, expected: dict) -> None:
    conns = cluster()
    conns.with_collection("cluster", "app", "out", lambda c: c.insert_one(dict(EXISTING)))
    merge = {"into": INTO, "on": "key", "whenMatched": when_matched}
    await run_all(
        conns,
        [
            {"$source": {"documents": [{"key": "k", "a": "new"}, {"key": "other", "a": 1}]}},
            {"$merge": merge},
        ],
        2,
    )
    stored = conns.collection("cluster", "app", "out")
    assert stored[0] == expected
    assert [(d["key"], d["a"]) for d in stored[1:]] == [("other", 1)]


async def test_merge_when_matched_fail_sends_the_document_to_the_dlq() -> None:
    conns = cluster()
    conns.with_collection("cluster", "app", "out", lambda c: c.insert_one({"_id": 7, "a": 0}))
    engine = await run_all(
        conns,
        [
            {"$source": {"documents": [{"_id": 7, "a": 1}, {"_id": 8, "a": 2}]}},
            {"$merge": {"into": INTO, "whenMatched": "fail"}},
        ],
        2,
        dlq={"connectionName": "cluster", "db": "app", "coll": "dlq"},
    )
    await wait_until(lambda: len(engine.recent_outputs()) == 2)
    assert conns.collection("cluster", "app", "out") == [{"_id": 7, "a": 0}, {"_id": 8, "a": 2}]
    (dead,) = conns.collection("cluster", "app", "dlq")
    assert dead["operatorName"] == "$merge"
    assert dead["doc"] == {"_id": 7, "a": 1}
    assert "whenMatched: 'fail'" in dead["errInfo"]["reason"]
    assert engine.stats()["outputMessageCount"] == 1


@pytest.mark.parametrize(
    ("when_not_matched", "stored"), [("insert", 1), ("discard", 0), ("fail", 0)]
)
async def test_merge_when_not_matched(when_not_matched: str, stored: int) -> None:
    conns = cluster()
    engine = make_engine(
        [
            {"$source": {"documents": [{"_id": 1}]}},
            {"$merge": {"into": INTO, "whenNotMatched": when_not_matched}},
        ],
        conns,
    )
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] == 1)
    assert len(conns.collection("cluster", "app", "out")) == stored
    assert engine.stats()["dlqMessageCount"] == (1 if when_not_matched == "fail" else 0)


async def test_merge_upserts_on_compound_keys_and_dynamic_collections() -> None:
    conns = cluster()
    docs = [
        {"dev": "a", "day": 1, "v": 1},
        {"dev": "a", "day": 1, "v": 2},
        {"dev": "b", "day": 1, "v": 3},
    ]
    merge = {"into": {**INTO, "coll": "$dev"}, "on": ["dev", "day"], "whenMatched": "replace"}
    await run_all(conns, [{"$source": {"documents": docs}}, {"$merge": merge}], 3)
    a_docs = conns.collection("cluster", "app", "a")
    assert [(d["dev"], d["v"]) for d in a_docs] == [("a", 2)]
    assert [(d["dev"], d["v"]) for d in conns.collection("cluster", "app", "b")] == [("b", 3)]


async def test_merge_with_a_missing_on_field_goes_to_the_dlq() -> None:
    conns = cluster()
    samples: list[dict] = []
    engine = make_engine(
        [{"$source": {"documents": [{"x": 1}]}}, {"$merge": {"into": INTO, "on": "key"}}],
        conns,
        samples=samples,
    )
    async with running(engine):
        await wait_until(lambda: samples)
    assert "the 'on' field 'key' is missing" in samples[0]["_dlqMessage"]["errInfo"]["reason"]
    assert conns.collection("cluster", "app", "out") == []
