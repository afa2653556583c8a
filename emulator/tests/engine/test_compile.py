"""compile_pipeline: validation errors (code 9) and what a valid pipeline compiles to."""

from __future__ import annotations

from typing import Any

import pytest
from asp_emulator.engine import Connections, PipelineError, compile_pipeline
from asp_emulator.engine.sinks import EmitSink, MergeSink
from asp_emulator.engine.stages import MatchOperator, ValidateOperator
from asp_emulator.engine.windows import WindowOperator

SOLAR = {"$source": {"connectionName": "sample_stream_solar"}}
DOCS = {"$source": {"documents": [{"a": 1}]}}
GROUP = {"$group": {"_id": "$a", "n": {"$sum": 1}}}
TUMBLING = {"$tumblingWindow": {"interval": {"size": 1, "unit": "second"}, "pipeline": [GROUP]}}


@pytest.fixture
def connections() -> Connections:
    conns = Connections()
    conns.add("kafka1", "kafka")
    return conns


INVALID: list[tuple[Any, str]] = [
    ("not a list", "pipeline must be an array"),
    ({"$source": {}}, "pipeline must be an array"),
    ([["$source"]], "stage 0: a pipeline stage must be a document with exactly one field"),
    (
        [{"$source": {"documents": []}, "$match": {}}],
        "stage 0: a pipeline stage must be a document",
    ),
    ([{}], "stage 0: a pipeline stage must be a document with exactly one field"),
    ([{"$match": {}}], "stage 0: the first stage must be $source, got '$match'"),
    ([SOLAR, {"$foo": {}}], "stage 1: unknown stage '$foo'"),
    ([SOLAR, {"match": {}}], "stage 1: unknown stage 'match'"),
    ([SOLAR, {"$lookup": {}}], "stage 1: stage '$lookup' is not supported by the emulator"),
    ([SOLAR, GROUP], "stage 1: $group is only allowed inside a window's pipeline"),
    ([SOLAR, SOLAR], "stage 1: $source is only allowed once, as the first stage"),
    ([DOCS, {"$match": {}}, SOLAR], "stage 2: $source is only allowed once"),
    ([{"$source": "x"}], "stage 0: $source must be a document"),
    ([{"$source": {}}], "stage 0: $source needs exactly one of 'connectionName' or 'documents'"),
    (
        [{"$source": {"connectionName": "kafka1", "documents": []}}],
        "stage 0: $source needs exactly one of",
    ),
    ([{"$source": {"connectionName": "nope"}}], "stage 0: unknown connection 'nope' in $source"),
    ([{"$source": {"connectionName": "__testLog"}}], "cannot be used in $source"),
    ([{"$source": {"documents": [1]}}], "stage 0: $source.documents[0] must be a document"),
    ([{"$source": {"documents": {"a": 1}}}], "$source.documents must be an array"),
    ([{"$source": {"documents": [], "bogus": 1}}], "$source: unknown field 'bogus'"),
    ([{"$source": {"documents": [], "timeField": 5}}], "stage 0: timeField must be an expression"),
    (
        [{"$source": {"connectionName": "kafka1", "topic": "t", "db": "d"}}],
        "cannot have both 'topic' and 'db'/'coll'",
    ),
    ([{"$source": {"connectionName": "kafka1", "topic": []}}], "$source.topic must be"),
    ([SOLAR, {"$match": 1}], "stage 1: $match must be a document"),
    ([SOLAR, {"$match": {"a": {"$bogus": 1}}}], "stage 1: unknown operator: $bogus"),
    ([SOLAR, {"$project": {}}], "stage 1: $project must be a non-empty document"),
    ([SOLAR, {"$addFields": {"x": {"$nope": 1}}}], "stage 1: Unrecognized expression '$nope'"),
    ([SOLAR, {"$set": []}], "stage 1: $set must be a non-empty document"),
    ([SOLAR, {"$unset": []}], "stage 1: $unset must be a field name"),
    ([SOLAR, {"$replaceRoot": {}}], "stage 1: $replaceRoot requires a 'newRoot'"),
    ([SOLAR, {"$unwind": "a"}], "stage 1: $unwind requires a field path"),
    ([SOLAR, {"$validate": {}}], "stage 1: $validate requires a 'validator' document"),
    (
        [SOLAR, {"$validate": {"validator": {}, "validationAction": "log"}}],
        "validationAction must be 'discard' or 'dlq'",
    ),
    (
        [SOLAR, {"$validate": {"validator": {"$jsonSchema": {"bsonType": "nope"}}}}],
        "stage 1: invalid $jsonSchema",
    ),
    (
        [SOLAR, {"$tumblingWindow": {"pipeline": [GROUP]}}],
        "stage 1: $tumblingWindow requires 'interval'",
    ),
    (
        [SOLAR, {"$tumblingWindow": {"interval": {"size": 1, "unit": "second"}}}],
        "stage 1: $tumblingWindow requires 'pipeline'",
    ),
    (
        [
            SOLAR,
            {"$tumblingWindow": {"interval": {"size": 1, "unit": "week"}, "pipeline": [GROUP]}},
        ],
        "$tumblingWindow.interval.unit must be one of ms, second, minute, hour, day, got 'week'",
    ),
    (
        [SOLAR, {"$tumblingWindow": {"interval": {"size": 0, "unit": "ms"}, "pipeline": [GROUP]}}],
        "$tumblingWindow.interval.size must be a positive integer, got 0",
    ),
    (
        [SOLAR, {"$tumblingWindow": {"interval": {"size": -5, "unit": "ms"}, "pipeline": [GROUP]}}],
        "must be a positive integer",
    ),
    (
        [
            SOLAR,
            {"$tumblingWindow": {"interval": {"size": 1.5, "unit": "ms"}, "pipeline": [GROUP]}},
        ],
        "$tumblingWindow.interval.size must be an integer",
    ),
    (
        [
            SOLAR,
            {
                "$tumblingWindow": {
                    "interval": {"size": 1, "unit": "ms"},
                    "pipeline": [{"$match": {}}],
                }
            },
        ],
        "$tumblingWindow.pipeline must contain a $group stage",
    ),
    (
        [
            SOLAR,
            {"$tumblingWindow": {"interval": {"size": 1, "unit": "ms"}, "pipeline": [{"$foo": 1}]}},
        ],
        "$tumblingWindow.pipeline[0]: unknown or unsupported stage '$foo'",
    ),
    (
        [
            SOLAR,
            {
                "$tumblingWindow": {
                    "interval": {"size": 1, "unit": "ms"},
                    "pipeline": [{"$group": {"_id": None, "t": {"$topN": {}}}}],
                }
            },
        ],
        "not supported by the emulator",
    ),
    (
        [SOLAR, {"$hoppingWindow": {"interval": {"size": 2, "unit": "ms"}, "pipeline": [GROUP]}}],
        "stage 1: $hoppingWindow requires 'hopSize'",
    ),
    ([SOLAR, {"$tumblingWindow": {**TUMBLING["$tumblingWindow"], "x": 1}}], "unknown field 'x'"),
    ([SOLAR, TUMBLING, TUMBLING], "stage 2: only one window stage is allowed"),
    ([SOLAR, {"$merge": {}}], "stage 1: $merge requires 'into'"),
    (
        [SOLAR, {"$merge": {"into": {"connectionName": "nope", "db": "d", "coll": "c"}}}],
        "stage 1: unknown connection 'nope' in $merge.into",
    ),
    (
        [SOLAR, {"$merge": {"into": {"connectionName": "kafka1", "db": "d"}}}],
        "requires 'db' and 'coll'",
    ),
    (
        [
            SOLAR,
            {
                "$merge": {
                    "into": {"connectionName": "kafka1", "db": "d", "coll": "c"},
                    "whenMatched": "x",
                }
            },
        ],
        "$merge.whenMatched must be one of replace, merge, keepExisting, fail",
    ),
    ([SOLAR, {"$emit": {}}], "stage 1: $emit requires a 'connectionName' string"),
    ([SOLAR, {"$emit": {"connectionName": "nope"}}], "stage 1: unknown connection 'nope' in $emit"),
    (
        [SOLAR, {"$emit": {"connectionName": "sample_stream_solar"}}],
        "is a source and cannot be used in $emit",
    ),
    (
        [SOLAR, {"$emit": {"connectionName": "__testLog"}}, {"$match": {}}],
        "stage 2: '$match' cannot follow the sink stage '$emit' (stage 1)",
    ),
    (
        [
            SOLAR,
            {"$emit": {"connectionName": "__testLog"}},
            {"$emit": {"connectionName": "__testLog"}},
        ],
        "stage 2: a pipeline can have only one sink",
    ),
]


@pytest.mark.parametrize(("stages", "message"), INVALID)
def test_invalid_pipelines_are_refused_with_code_9(
    connections: Connections, stages: Any, message: str
) -> None:
    with pytest.raises(PipelineError) as info:
        compile_pipeline(stages, connections)
    assert info.value.code == 9
    assert info.value.code_name == "FailedToParse"
    assert message in str(info.value)


def test_empty_pipeline_is_accepted(connections: Connections) -> None:
    pipeline = compile_pipeline([], connections)
    assert pipeline.stages == []
    assert pipeline.source is None
    assert pipeline.operators == ()


def test_valid_pipeline_compiles_every_stage(connections: Connections) -> None:
    stages = [
        {"$source": {"connectionName": "kafka1", "topic": "t", "timeField": "$ts"}},
        {"$validate": {"validator": {"$jsonSchema": {"required": ["a"]}}}},
        {"$match": {"a": {"$gt": 0}}},
        {"$project": {"a": 1}},
        {"$addFields": {"b": 1}},
        {"$set": {"c": 1}},
        {"$unset": "c"},
        {"$replaceRoot": {"newRoot": "$$ROOT"}},
        {"$replaceWith": "$$ROOT"},
        {"$unwind": {"path": "$arr", "preserveNullAndEmptyArrays": True}},
        TUMBLING,
        {"$merge": {"into": {"connectionName": "kafka1", "db": "d", "coll": "c"}}},
    ]
    pipeline = compile_pipeline(stages, connections)
    assert pipeline.stages == stages
    assert pipeline.source is not None
    assert pipeline.source.kind == "connection"
    assert pipeline.source.keys == ("t",)
    assert pipeline.source.source_type == "kafka"
    assert [op.index for op in pipeline.operators] == list(range(1, len(stages)))
    assert isinstance(pipeline.operators[0], ValidateOperator)
    assert pipeline.operators[0].action == "discard"  # the Atlas default
    assert isinstance(pipeline.operators[1], MatchOperator)
    assert isinstance(pipeline.window, WindowOperator)
    assert isinstance(pipeline.sink, MergeSink)
    assert pipeline.sink.when_matched == "merge"
    assert pipeline.sink.when_not_matched == "insert"


def test_source_variants(connections: Connections) -> None:
    solar = compile_pipeline([SOLAR], connections).source
    assert solar is not None
    assert solar.kind == "solar"
    assert solar.source_type == "inmemory"
    docs = compile_pipeline([DOCS], connections).source
    assert docs is not None
    assert docs.kind == "documents"
    assert len(docs.documents) == 1
    topics = compile_pipeline(
        [{"$source": {"connectionName": "kafka1", "topic": ["a", "b"]}}], connections
    ).source
    assert topics is not None
    assert topics.keys == ("a", "b")
    colls = compile_pipeline(
        [{"$source": {"connectionName": "kafka1", "db": "d", "coll": ["x", "y"]}}], connections
    ).source
    assert colls is not None
    assert colls.keys == ("d.x", "d.y")
    plain = compile_pipeline([{"$source": {"connectionName": "kafka1"}}], connections).source
    assert plain is not None
    assert plain.keys == (None,)


def test_source_only_pipeline_has_no_sink(connections: Connections) -> None:
    pipeline = compile_pipeline([SOLAR], connections)
    assert pipeline.sink is None
    assert pipeline.operators == ()


def test_emit_variants(connections: Connections) -> None:
    sink = compile_pipeline(
        [SOLAR, {"$emit": {"connectionName": "kafka1", "topic": "out"}}], connections
    ).sink
    assert isinstance(sink, EmitSink)
    assert sink.topic is not None
    assert sink.topic.constant == "out"
    dynamic = compile_pipeline(
        [SOLAR, {"$emit": {"connectionName": "kafka1", "topic": "$device_id"}}], connections
    ).sink
    assert isinstance(dynamic, EmitSink)
    assert dynamic.topic is not None
    assert dynamic.topic.constant is None


def test_connection_added_after_refusal_is_accepted(connections: Connections) -> None:
    stages = [{"$source": {"connectionName": "late"}}]
    with pytest.raises(PipelineError, match="unknown connection 'late'"):
        compile_pipeline(stages, connections)
    connections.add("late")
    assert compile_pipeline(stages, connections).source is not None
