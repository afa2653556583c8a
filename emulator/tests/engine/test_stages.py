"""Per-document stages under real runs, and documents that go to the DLQ."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from asp_emulator.engine import Connections
from engine_support import make_engine, running, wait_until

DLQ = {"connectionName": "cluster", "db": "errors", "coll": "dlq"}


async def outputs_of(stages: list[Any], docs: list[dict], *, expected: int) -> list[dict]:
    """Run inline ``docs`` through ``stages`` (no sink) and return what came out."""
    engine = make_engine([{"$source": {"documents": docs}}, *stages])
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] == len(docs))
        await wait_until(lambda: len(engine.recent_outputs()) >= expected)
    return engine.recent_outputs()


@pytest.mark.parametrize(
    ("stages", "docs", "expected"),
    [
        (
            [{"$match": {"a": {"$gte": 2}}}],
            [{"a": 1}, {"a": 2}, {"a": 3}],
            [{"a": 2}, {"a": 3}],
        ),
        (
            [{"$project": {"_id": 0, "a": 1, "sum": {"$add": ["$a", "$b"]}}}],
            [{"_id": 1, "a": 1, "b": 2, "c": 3}],
            [{"a": 1, "sum": 3}],
        ),
        (
            [{"$addFields": {"b": {"$multiply": ["$a", 10]}, "n.x": 1}}],
            [{"a": 2, "n": {"y": 0}}],
            [{"a": 2, "n": {"y": 0, "x": 1}, "b": 20}],
        ),
        ([{"$set": {"a": {"$toUpper": "$a"}}}], [{"a": "x"}], [{"a": "X"}]),
        ([{"$unset": "b"}], [{"a": 1, "b": 2}], [{"a": 1}]),
        (
            [{"$unset": ["b", "c.d"]}],
            [{"a": 1, "b": 2, "c": {"d": 1, "e": 2}}],
            [{"a": 1, "c": {"e": 2}}],
        ),
        ([{"$replaceRoot": {"newRoot": "$inner"}}], [{"inner": {"x": 1}, "y": 2}], [{"x": 1}]),
        ([{"$replaceWith": {"k": "$a"}}], [{"a": 5}], [{"k": 5}]),
        (
            [{"$unwind": "$arr"}],
            [{"arr": [1, 2], "k": 0}],
            [{"arr": 1, "k": 0}, {"arr": 2, "k": 0}],
        ),
        (
            [{"$match": {"$expr": {"$gt": ["$a", "$b"]}}}, {"$project": {"_id": 0, "a": 1}}],
            [{"a": 2, "b": 1}, {"a": 1, "b": 2}],
            [{"a": 2}],
        ),
        (
            [{"$addFields": {"kind": {"$meta": "stream.source.type"}}}],
            [{"a": 1}],
            [{"a": 1, "kind": "inmemory"}],
        ),
    ],
)
async def test_stage_transforms_documents(
    stages: list[Any], docs: list[dict], expected: list[dict]
) -> None:
    assert await outputs_of(stages, docs, expected=len(expected)) == expected


async def test_validate_discards_by_default() -> None:
    conns = Connections()
    samples: list[dict] = []
    engine = make_engine(
        [
            {"$source": {"documents": [{"n": 1}, {"n": "x"}, {"n": 3}]}},
            {
                "$validate": {
                    "validator": {"$jsonSchema": {"properties": {"n": {"bsonType": "int"}}}}
                }
            },
        ],
        conns,
        samples=samples,
    )
    async with running(engine):
        await wait_until(lambda: engine.stats()["inputMessageCount"] == 3)
        await wait_until(lambda: len(samples) == 2)
    assert samples == [{"n": 1}, {"n": 3}]
    assert engine.stats()["dlqMessageCount"] == 0


async def test_validate_dlq_writes_the_collection_and_samples_dlq_messages() -> None:
    conns = Connections()
    conns.add("cluster", "atlas")
    samples: list[dict] = []
    schema = {"required": ["n"], "properties": {"n": {"bsonType": "int", "minimum": 0}}}
    engine = make_engine(
        [
            {"$source": {"documents": [{"n": 1}, {"n": -1}, {"other": True}, {"n": 2}]}},
            {"$validate": {"validator": {"$jsonSchema": schema}, "validationAction": "dlq"}},
        ],
        conns,
        name="validator",
        dlq=DLQ,
        samples=samples,
    )
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    async with running(engine):
        await wait_until(lambda: len(samples) == 4)
    dead = conns.collection("cluster", "errors", "dlq")
    assert [d["doc"] for d in dead] == [{"n": -1}, {"other": True}]
    first = dead[0]
    assert first["processorName"] == "validator"
    assert first["operatorName"] == "$validate"
    assert first["_stream_meta"] == {"source": {"type": "inmemory"}}
    assert first["errInfo"]["reason"].startswith(
        "Input document found to be invalid in $validate stage"
    )
    assert "-1 is less than the minimum of 0" in first["errInfo"]["reason"]
    assert "'n' is a required property" in dead[1]["errInfo"]["reason"]
    assert before - datetime.timedelta(seconds=1) <= first["dlqTime"]
    assert [s for s in samples if "_dlqMessage" not in s] == [{"n": 1}, {"n": 2}]
    message = samples[1]["_dlqMessage"]
    assert set(message) == {"_stream_meta", "errInfo", "doc", "processorName", "dlqTime"}
    assert message["doc"] == {"n": -1}
    assert message["_stream_meta"] == {"source": {"type": "inmemory"}}
    stats = engine.stats()
    assert stats["dlqMessageCount"] == 2
    assert stats["outputMessageCount"] == 2


async def test_expression_errors_go_to_the_dlq_and_processing_continues() -> None:
    conns = Connections()
    conns.add("cluster")
    engine = make_engine(
        [
            {"$source": {"documents": [{"a": 1}, {"a": [1, 2]}, {"a": 3}]}},
            {"$addFields": {"b": {"$add": ["$a", 1]}}},
            {"$replaceRoot": {"newRoot": {"b": "$b"}}},
        ],
        conns,
        dlq=DLQ,
    )
    async with running(engine):
        await wait_until(lambda: len(engine.recent_outputs()) == 3)
    outputs = [d for d in engine.recent_outputs() if "_dlqMessage" not in d]
    assert outputs == [{"b": 2}, {"b": 4}]
    (dead,) = conns.collection("cluster", "errors", "dlq")
    assert dead["operatorName"] == "$addFields"
    assert dead["doc"] == {"a": [1, 2]}
    assert dead["errInfo"]["reason"].startswith("$addFields failed:")


async def test_replace_root_of_a_non_document_goes_to_the_dlq() -> None:
    samples: list[dict] = []
    engine = make_engine(
        [{"$source": {"documents": [{"x": 5}]}}, {"$replaceRoot": {"newRoot": "$x"}}],
        samples=samples,
    )
    async with running(engine):
        await wait_until(lambda: samples)
    (sample,) = samples
    assert (
        "'newRoot' expression must evaluate to an object"
        in sample["_dlqMessage"]["errInfo"]["reason"]
    )


async def test_unparseable_time_field_goes_to_the_dlq_from_source() -> None:
    conns = Connections()
    conns.add("cluster")
    engine = make_engine(
        [
            {
                "$source": {
                    "documents": [{"t": "2024-01-01T00:00:00Z"}, {"t": "garbage"}, {}],
                    "timeField": {"$dateFromString": {"dateString": "$t"}},
                }
            }
        ],
        conns,
        dlq=DLQ,
    )
    async with running(engine):
        await wait_until(lambda: len(engine.recent_outputs()) == 3)
    dead = conns.collection("cluster", "errors", "dlq")
    assert [d["operatorName"] for d in dead] == ["$source", "$source"]
    assert "cannot parse 'garbage'" in dead[0]["errInfo"]["reason"]
    assert "missing or null" in dead[1]["errInfo"]["reason"]
    stats = engine.stats()
    assert (stats["inputMessageCount"], stats["outputMessageCount"], stats["dlqMessageCount"]) == (
        3,
        1,
        2,
    )


async def test_without_dlq_failures_are_counted_and_sampled_only() -> None:
    samples: list[dict] = []
    conns = Connections()
    engine = make_engine(
        [{"$source": {"documents": [{"a": "x"}]}}, {"$set": {"b": {"$add": ["$a", 1]}}}],
        conns,
        samples=samples,
    )
    async with running(engine):
        await wait_until(lambda: samples)
    assert "_dlqMessage" in samples[0]
    assert engine.stats()["dlqMessageCount"] == 1
