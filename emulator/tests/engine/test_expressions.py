"""Pure helpers: dates, timeField, queries with $jsonSchema, $meta substitution."""

from __future__ import annotations

import datetime

import pytest
from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.expressions import (
    compile_query,
    compile_time_field,
    contains_meta,
    from_ms,
    resolve_meta,
    substitute_meta,
    to_ms,
)
from asp_emulator.engine.schema import compile_json_schema
from bson.int64 import Int64
from bson.objectid import ObjectId

UTC = datetime.timezone.utc


def test_ms_round_trip_naive_and_aware() -> None:
    naive = datetime.datetime(2024, 8, 12, 21, 41, 1, 788000)
    assert to_ms(naive) == 1723498861788
    assert to_ms(naive.replace(tzinfo=UTC)) == 1723498861788
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert (
        to_ms(datetime.datetime(2024, 8, 12, 23, 41, 1, 788000, tzinfo=plus_two)) == 1723498861788
    )
    assert from_ms(1723498861788) == naive
    assert from_ms(1723498861788).tzinfo is None


@pytest.mark.parametrize(
    ("spec", "doc", "expected"),
    [
        (
            {"$dateFromString": {"dateString": "$t"}},
            {"t": "2024-08-12T21:41:01.788+00:00"},
            1723498861788,
        ),
        (
            {"$dateFromString": {"dateString": "$t"}},
            {"t": "2024-08-12T21:41:01.788Z"},
            1723498861788,
        ),
        (
            {"$dateFromString": {"dateString": "$t"}},
            {"t": "2024-08-12T23:41:01.788+02:00"},
            1723498861788,
        ),
        (
            {"$dateFromString": {"dateString": "$t", "timezone": "Europe/Paris"}},
            {"t": "2024-08-12T23:41:01.788"},
            1723498861788,
        ),
        (
            {"$dateFromString": {"dateString": "$t", "format": "%d/%m/%Y %H:%M:%S.%L"}},
            {"t": "12/08/2024 21:41:01.788"},
            1723498861788,
        ),
        ({"$toDate": "$t"}, {"t": 1723498861788}, 1723498861788),
        ({"$toDate": "$t"}, {"t": Int64(1723498861788)}, 1723498861788),
        ({"$toDate": "$t"}, {"t": "2024-08-12T21:41:01.788Z"}, 1723498861788),
        ("$t", {"t": datetime.datetime(2024, 8, 12, 21, 41, 1, 788000)}, 1723498861788),
        ("$a.b", {"a": {"b": datetime.datetime(2024, 8, 12, 21, 41, 1, 788000)}}, 1723498861788),
    ],
)
def test_time_field_evaluates_to_epoch_ms(spec: object, doc: dict, expected: int) -> None:
    assert compile_time_field(spec)(doc) == expected


def test_to_date_of_object_id_uses_its_timestamp() -> None:
    oid = ObjectId.from_datetime(datetime.datetime(2024, 1, 1, tzinfo=UTC))
    assert compile_time_field({"$toDate": "$id"})({"id": oid}) == to_ms(
        datetime.datetime(2024, 1, 1)
    )


@pytest.mark.parametrize(
    ("spec", "doc", "reason"),
    [
        ({"$dateFromString": {"dateString": "$t"}}, {}, "dateString is missing or null"),
        (
            {"$dateFromString": {"dateString": "$t"}},
            {"t": "yesterday-ish"},
            "cannot parse 'yesterday-ish'",
        ),
        ({"$dateFromString": {"dateString": "$t"}}, {"t": 5}, "dateString must be a string"),
        ("$t", {"t": "2024-01-01"}, "timeField must evaluate to a date"),
        ("$t", {}, "timeField"),
        ({"$toDate": "$t"}, {"t": [1]}, "cannot convert"),
    ],
)
def test_time_field_errors_are_document_errors(spec: object, doc: dict, reason: str) -> None:
    with pytest.raises(DocumentError) as info:
        compile_time_field(spec)(doc)
    assert reason in info.value.reason


def test_date_from_string_on_null_and_on_error() -> None:
    fallback = datetime.datetime(2000, 1, 1)
    spec = {"$dateFromString": {"dateString": "$t", "onNull": fallback, "onError": fallback}}
    field = compile_time_field(spec)
    assert field({}) == to_ms(fallback)
    assert field({"t": "garbage"}) == to_ms(fallback)


def test_time_field_spec_errors() -> None:
    with pytest.raises(ValueError, match="dateString"):
        compile_time_field({"$dateFromString": {}})
    with pytest.raises(ValueError, match="timeField must be an expression"):
        compile_time_field("ts")


def test_compile_query_uses_mongomock_semantics() -> None:
    match = compile_query({"a": {"$gt": 1}, "tags": "x", "$expr": {"$lt": ["$a", "$b"]}})
    assert match({"a": 2, "b": 3, "tags": ["x", "y"]})
    assert not match({"a": 2, "b": 1, "tags": ["x"]})
    assert not match({"a": 1, "b": 3, "tags": ["x"]})
    with pytest.raises(ValueError, match="document"):
        compile_query([])


def test_json_schema_in_query_top_level_and_nested() -> None:
    schema = {"required": ["n"], "properties": {"n": {"bsonType": "int", "minimum": 1}}}
    top = compile_query({"$jsonSchema": schema, "kind": "a"})
    assert top({"n": 3, "kind": "a"})
    assert not top({"n": 3, "kind": "b"})
    assert not top({"n": 0, "kind": "a"})
    assert not top({"kind": "a"})
    nested = compile_query({"$or": [{"$jsonSchema": schema}, {"override": True}]})
    assert nested({"n": 2})
    assert nested({"override": True})
    assert not nested({"n": "2"})
    negated = compile_query({"$nor": [{"$jsonSchema": schema}]})
    assert negated({"n": "x"})
    assert not negated({"n": 5})
    both = compile_query({"$and": [{"$jsonSchema": schema}, {"n": {"$lt": 10}}]})
    assert both({"n": 5})
    assert not both({"n": 50})


@pytest.mark.parametrize(
    ("bson_type", "good", "bad"),
    [
        ("int", 5, Int64(5)),
        ("long", Int64(5), 5),
        ("long", 2**40, 1.0),
        ("double", 1.5, 1),
        ("string", "s", b"s"),
        ("bool", True, 1),
        ("date", datetime.datetime(2024, 1, 1), "2024-01-01"),
        ("objectId", ObjectId(), "x"),
        ("object", {"a": 1}, [1]),
        ("array", [1], {"a": 1}),
        ("null", None, 0),
        ("number", 1.5, True),
        (["int", "string"], "s", 1.5),
    ],
)
def test_bson_type_mapping(bson_type: object, good: object, bad: object) -> None:
    check = compile_json_schema({"properties": {"v": {"bsonType": bson_type}}})
    assert check({"v": good}) is None
    message = check({"v": bad})
    assert message is not None
    assert "bsonType" in message


def test_json_schema_reports_jsonschema_message_and_refuses_bad_schemas() -> None:
    check = compile_json_schema({"required": ["a"]})
    assert check({}) == "'a' is a required property"
    with pytest.raises(ValueError, match="invalid \\$jsonSchema"):
        compile_json_schema({"bsonType": "nope"})
    with pytest.raises(ValueError, match="must be an object"):
        compile_json_schema([])


def test_meta_substitution() -> None:
    meta = {"source": {"type": "kafka"}, "window": {"start": 1, "end": 2}}
    spec = {"$group": {"_id": {"$meta": "stream.window.start"}, "all": {"$meta": "stream"}}}
    assert contains_meta(spec)
    assert not contains_meta({"$group": {"_id": "$a"}})
    assert substitute_meta(spec, meta) == {
        "$group": {"_id": {"$literal": 1}, "all": {"$literal": meta}}
    }
    assert resolve_meta("stream.source.topic", meta) is None
    with pytest.raises(DocumentError, match="must start with 'stream'"):
        resolve_meta("source.type", meta)
