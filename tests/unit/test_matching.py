"""MongoDB queries on sampled documents (mongoquery), the operators refused before any
command is sent, and check_fn callables and their dotted paths."""

from __future__ import annotations

import datetime
import re
import sys
import types

import pytest
from bson import ObjectId

from asp_core.errors import AspInputError
from asp_core.waiting.matching import (
    SUPPORTED_OPERATORS,
    callable_path,
    check_query,
    matches,
    resolve_callable,
)
from tests.support import checks

T0 = datetime.datetime(2026, 1, 1, 12, 0)
OID = ObjectId("65a1b2c3d4e5f60718293a4b")


@pytest.mark.parametrize(
    ("query", "document", "expected"),
    [
        # equality, dotted paths, array indexes
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {}, False),
        ({}, {"a": 1}, True),
        ({"a.b": 1}, {"a": {"b": 1}}, True),
        ({"a.b": 1}, {"a": {"b": 2}}, False),
        ({"a.b.c": "x"}, {"a": {"b": {"c": "x"}}}, True),
        ({"a.b": 1}, {"a": [{"b": 2}, {"b": 1}]}, True),
        ({"a.b": 3}, {"a": [{"b": 2}, {"b": 1}]}, False),
        ({"a.1": 5}, {"a": [4, 5]}, True),
        ({"a.0": 5}, {"a": [4, 5]}, False),
        # a scalar matches an array holding it; an array matches the same array
        ({"a": 2}, {"a": [1, 2, 3]}, True),
        ({"a": 4}, {"a": [1, 2, 3]}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": {"$eq": [1, 2]}}, {"a": [1, 2]}, True),
        # comparisons
        ({"n": {"$gt": 2}}, {"n": 3}, True),
        ({"n": {"$gt": 2}}, {"n": 2}, False),
        ({"n": {"$gte": 2, "$lt": 5}}, {"n": 2}, True),
        ({"n": {"$gte": 2, "$lt": 5}}, {"n": 5}, False),
        ({"n": {"$lte": 1.5}}, {"n": 1.5}, True),
        ({"n": {"$gt": 2}}, {"n": "3"}, False),
        ({"n": {"$gt": 2}}, {}, False),
        ({"n": {"$ne": 1}}, {"n": 2}, True),
        ({"n": {"$ne": 1}}, {"n": 1}, False),
        ({"n": {"$ne": 1}}, {}, True),
        # $in / $nin, on scalars and arrays
        ({"a": {"$in": [1, 9]}}, {"a": 9}, True),
        ({"a": {"$in": [1, 9]}}, {"a": 5}, False),
        ({"a": {"$in": [1, 9]}}, {"a": [5, 9]}, True),
        ({"a": {"$in": [1, 9]}}, {}, False),
        ({"a": {"$nin": [1, 9]}}, {"a": 5}, True),
        ({"a": {"$nin": [1, 9]}}, {"a": 1}, False),
        ({"a": {"$nin": [1, 9]}}, {}, True),
        # $exists, also through arrays of documents
        ({"a": {"$exists": True}}, {"a": None}, True),
        ({"a": {"$exists": True}}, {}, False),
        ({"a": {"$exists": False}}, {}, True),
        ({"a": {"$exists": False}}, {"a": 0}, False),
        ({"a.b": {"$exists": True}}, {"a": {"b": 0}}, True),
        ({"a.b": {"$exists": False}}, {"a": {"c": 1}}, True),
        ({"a.b": {"$exists": True}}, {"a": [{"c": 1}, {"b": 2}]}, True),
        ({"a.b": {"$exists": True}}, {"a": [{"c": 1}]}, False),
        # $regex
        ({"s": {"$regex": "^ab"}}, {"s": "abc"}, True),
        ({"s": {"$regex": "^ab"}}, {"s": "xabc"}, False),
        ({"s": {"$regex": "b"}}, {"s": "abc"}, True),
        ({"s": {"$regex": "/^AB/i"}}, {"s": "abc"}, True),
        ({"s": {"$regex": "^1"}}, {"s": 12}, False),
        ({"s": {"$regex": re.compile("^ab", re.IGNORECASE)}}, {"s": "ABc"}, True),
        ({"s": {"$not": {"$regex": "^ab"}}}, {"s": "xyz"}, True),
        ({"s": {"$not": {"$regex": "^ab"}}}, {"s": "abz"}, False),
        # $elemMatch: one element satisfies every condition
        ({"a": {"$elemMatch": {"b": 1, "c": 2}}}, {"a": [{"b": 1, "c": 2}]}, True),
        (
            {"a": {"$elemMatch": {"b": 1, "c": 2}}},
            {"a": [{"b": 1, "c": 1}, {"b": 2, "c": 2}]},
            False,
        ),
        ({"a": {"$elemMatch": {"$gt": 2, "$lt": 5}}}, {"a": [1, 6, 3]}, True),
        ({"a": {"$elemMatch": {"$gt": 2, "$lt": 5}}}, {"a": [1, 6]}, False),
        ({"a": {"$elemMatch": {"b": 1}}}, {"a": {"b": 1}}, False),
        # logical operators
        ({"$and": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 2}, True),
        ({"$and": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 3}, False),
        ({"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
        ({"$or": [{"a": 1}, {"b": 2}]}, {"a": 2, "b": 1}, False),
        ({"$nor": [{"a": 1}, {"b": 2}]}, {"a": 2}, True),
        ({"$nor": [{"a": 1}, {"b": 2}]}, {"b": 2}, False),
        ({"n": {"$not": {"$gt": 3}}}, {"n": 1}, True),
        ({"n": {"$not": {"$gt": 3}}}, {"n": 4}, False),
        ({"n": {"$not": {"$gt": 3}}}, {}, True),
        (
            {"$or": [{"a.b": {"$in": [1, 2]}}, {"$and": [{"c": 1}, {"d": {"$exists": True}}]}]},
            {"c": 1, "d": None},
            True,
        ),
        # array operators
        ({"a": {"$size": 2}}, {"a": [1, 2]}, True),
        ({"a": {"$size": 2}}, {"a": [1]}, False),
        ({"a": {"$size": 0}}, {"a": []}, True),
        ({"a": {"$size": 1}}, {"a": "x"}, False),
        ({"a": {"$size": 1}}, {}, False),
        ({"a": {"$all": [1, 2]}}, {"a": [2, 1, 3]}, True),
        ({"a": {"$all": [1, 2]}}, {"a": [1, 3]}, False),
        ({"a": {"$all": [{"$elemMatch": {"b": 1}}]}}, {"a": [{"b": 1}]}, True),
        # $mod on numbers
        ({"n": {"$mod": [3, 1]}}, {"n": 4}, True),
        ({"n": {"$mod": [3, 1]}}, {"n": 6}, False),
        # $type
        ({"a": {"$type": "string"}}, {"a": "x"}, True),
        ({"a": {"$type": "string"}}, {"a": 1}, False),
        ({"a": {"$type": 2}}, {"a": "x"}, True),
        ({"a": {"$type": "double"}}, {"a": 1.5}, True),
        ({"a": {"$type": "number"}}, {"a": 1.5}, True),
        ({"a": {"$type": "number"}}, {"a": 7}, True),
        ({"a": {"$type": "number"}}, {"a": "7"}, False),
        ({"a": {"$type": "null"}}, {"a": None}, True),
        ({"a": {"$type": "array"}}, {"a": [1]}, True),
        ({"a": {"$type": "object"}}, {"a": {"b": 1}}, True),
        ({"a": {"$type": "bool"}}, {"a": False}, True),
        # datetimes (BSON dates decode as datetime) and ObjectIds, as sampled documents hold them
        ({"t": {"$gt": T0}}, {"t": T0 + datetime.timedelta(seconds=1)}, True),
        ({"t": {"$gt": T0}}, {"t": T0}, False),
        ({"t": {"$gte": T0, "$lt": T0 + datetime.timedelta(days=1)}}, {"t": T0}, True),
        ({"t": T0}, {"t": T0}, True),
        ({"t": {"$gt": T0}}, {"t": "2027-01-01"}, False),
        ({"_id": OID}, {"_id": OID}, True),
        ({"_id": OID}, {"_id": str(OID)}, False),
        ({"_id": {"$in": [OID]}}, {"_id": OID}, True),
        # $comment changes nothing
        ({"$comment": "why", "a": 1}, {"a": 1}, True),
        ({"$comment": "why", "a": 1}, {"a": 2}, False),
    ],
)
def test_matches(query, document, expected):
    assert matches(query, document) is expected


def test_matches_takes_any_mapping_and_leaves_it_alone():
    query = types.MappingProxyType({"a": {"$in": [1, 2]}})
    document = {"a": 2}
    assert matches(query, document)
    assert dict(query) == {"a": {"$in": [1, 2]}}
    assert document == {"a": 2}


def test_none_does_not_match_a_missing_field():
    """The documented difference from the server: ``{"a": None}`` needs ``a`` present."""
    assert not matches({"a": None}, {})
    assert matches({"a": None}, {"a": None})
    assert not matches({"a": None}, {"a": 0})
    # what to write instead
    assert matches({"a": {"$exists": False}}, {})
    assert matches({"$or": [{"a": None}, {"a": {"$exists": False}}]}, {})


@pytest.mark.parametrize(
    "query",
    [
        {"a": 1},
        {},
        {"a.b": {"$gte": 1, "$lte": 3}},
        {"$and": [{"a": {"$in": [1]}}, {"$or": [{"b": {"$exists": True}}, {"c": None}]}]},
        {"$nor": [{"a": {"$elemMatch": {"b": {"$regex": "^x"}}}}]},
        {"a": {"$not": {"$size": 2}}, "$comment": "c"},
        {"a": {"$all": [1]}, "b": {"$size": 2}},
        {"t": {"$gt": T0}, "_id": OID},
    ],
)
def test_check_query_accepts_supported_queries(query):
    check_query(query)


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ({"$expr": {"$gt": ["$a", 1]}}, "$expr"),
        ({"$where": "this.a > 1"}, "$where"),
        ({"loc": {"$near": [0, 0]}}, "$near"),
        ({"loc": {"$geoWithin": {"$centerSphere": [[0, 0], 1]}}}, "$geoWithin"),
        ({"$text": {"$search": "coffee"}}, "$text"),
        ({"a": {"$jsonSchema": {}}}, "$jsonSchema"),
        ({"a": {"$bitsAllSet": 3}}, "$bitsAllSet"),
        # nested deep, inside $and/$or lists and $elemMatch
        ({"$and": [{"a": 1}, {"b": {"$where": "x"}}]}, "$where"),
        ({"$or": [{"a": 1}, {"$and": [{"$expr": {"$eq": ["$a", 1]}}]}]}, "$expr"),
        ({"a": {"$elemMatch": {"b": {"$near": [1, 2]}}}}, "$near"),
        ({"a": {"$not": {"$foo": 1}}}, "$foo"),
    ],
)
def test_check_query_refuses_unsupported_operators(query, refused):
    with pytest.raises(AspInputError, match=re.escape(refused)) as caught:
        check_query(query)
    message = str(caught.value)
    assert message.startswith("match is not a valid query")
    assert "is not supported" in message


def test_check_query_names_the_argument():
    with pytest.raises(AspInputError, match=r"^filter is not a valid query: \$where"):
        check_query({"$where": "1"}, label="filter")


@pytest.mark.parametrize(
    ("query", "kind"),
    [([{"a": 1}], "list"), ("{'a': 1}", "str"), (None, "NoneType"), (3, "int")],
)
def test_check_query_refuses_what_is_not_a_document(query, kind):
    with pytest.raises(AspInputError, match=f"match must be a document, not {kind}"):
        check_query(query)


@pytest.mark.parametrize(
    "query",
    [
        {"$and": {"a": 1}},
        {"$nor": 5},
        {"a": {"$in": 1}},
        {"a": {"$size": "two"}},
        {"a": {"$type": "no-such-type"}},
    ],
)
def test_check_query_refuses_malformed_arguments(query):
    with pytest.raises(AspInputError, match="match is not a valid query"):
        check_query(query)


def test_supported_operators_are_what_check_query_lets_through():
    assert {"$expr", "$where", "$text", "$near", "$geoWithin"}.isdisjoint(SUPPORTED_OPERATORS)
    assert {"$eq", "$in", "$exists", "$regex", "$elemMatch", "$and", "$or", "$nor", "$not"} <= (
        SUPPORTED_OPERATORS
    )


# The server's semantics mongoquery 1.4.3 does not follow: refused, translated, or documented.
@pytest.mark.parametrize(
    "query",
    [{"n": {"$mod": [2, 0]}}, {"t": {"$type": "date"}}, {"$and": [{"n": {"$mod": [3, 1]}}]}],
)
def test_operators_mongoquery_gets_wrong_are_refused(query):
    with pytest.raises(AspInputError, match=r"is not supported"):
        check_query(query)


@pytest.mark.parametrize(
    "query",
    [
        {"s": {"$regex": "^ab", "$options": "i"}},
        {"s": {"$options": "i", "$regex": "^ab"}},
        {"s": re.compile("^ab", re.IGNORECASE)},
        {"s": {"$regex": re.compile("^ab", re.IGNORECASE)}},
    ],
)
def test_regex_options_are_honoured(query):
    check_query(query)
    assert matches(query, {"s": "ABC"})
    assert matches(query, {"s": "abc"})
    assert not matches(query, {"s": "xab"})


@pytest.mark.parametrize(
    ("query", "document", "expected"),
    [
        # documented: comparisons do not look inside arrays ...
        ({"a": {"$gt": 2}}, {"a": [1, 5]}, False),
        ({"a": {"$regex": "^x"}}, {"a": ["y", "xz"]}, False),
        # ... $elemMatch does, as the docstring advises
        ({"a": {"$elemMatch": {"$gt": 2}}}, {"a": [1, 5]}, True),
        ({"a": {"$elemMatch": {"$regex": "^x"}}}, {"a": ["y", "xz"]}, True),
        ({"a": {"$elemMatch": {"$gt": 9}}}, {"a": [1, 5]}, False),
    ],
)
def test_arrays_behave_as_documented(query, document, expected):
    assert matches(query, document) is expected


def test_check_query_refuses_an_invalid_regex():
    with pytest.raises(AspInputError, match=r"\$regex '\(':"):
        check_query({"s": {"$regex": "("}})
    with pytest.raises(AspInputError, match=r"\$regex '\[':"):
        check_query({"$or": [{"s": {"$regex": "["}}]})


# -- check_fn ------------------------------------------------------------------------------
def test_resolve_callable_returns_a_callable_as_it_is():
    def local(document):
        return True

    assert resolve_callable(checks.is_hit) is checks.is_hit
    assert resolve_callable(local) is local
    assert resolve_callable(len) is len


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("tests.support.checks.is_hit", checks.is_hit),
        (" tests.support.checks.has_output ", checks.has_output),
        ("json.dumps", __import__("json").dumps),
    ],
)
def test_resolve_callable_imports_a_dotted_path(path, found):
    assert resolve_callable(path) is found


def test_resolved_checks_judge_documents():
    assert resolve_callable("tests.support.checks.is_hit")({"hit": 1}) is True
    assert resolve_callable("tests.support.checks.is_hit")({"hit": 0}) is False
    assert resolve_callable("tests.support.checks.has_output")({"outputMessageCount": 1})
    assert not resolve_callable("tests.support.checks.has_output")({})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("is_hit", "must be a callable or a dotted path"),
        ("", "must be a callable or a dotted path"),
        (".", "must be a callable or a dotted path"),
        (None, "must be a callable or a dotted path"),
        (42, "must be a callable or a dotted path"),
        ("tests.support.checks.no_such_check", "cannot be imported"),
        ("no_such_module_asp.fn", "cannot be imported"),
        ("math.pi", "is not callable"),
    ],
)
def test_resolve_callable_refuses(spec, message):
    with pytest.raises(AspInputError, match=message):
        resolve_callable(spec)


def test_resolve_callable_names_the_argument():
    with pytest.raises(
        AspInputError, match=r"^transform must be a callable or a dotted path, not .x."
    ):
        resolve_callable("x", label="transform")


def test_callable_path_of_a_module_level_function():
    assert callable_path(checks.is_hit) == "tests.support.checks.is_hit"
    assert callable_path(checks.has_output) == "tests.support.checks.has_output"
    assert resolve_callable(callable_path(checks.is_hit)) is checks.is_hit


def test_callable_path_of_a_path_is_the_path_once_checked():
    assert callable_path(" tests.support.checks.is_hit ") == "tests.support.checks.is_hit"
    with pytest.raises(AspInputError, match="cannot be imported"):
        callable_path("tests.support.checks.nothing_here")


def _function_in_module(module_name):
    namespace = {"__name__": module_name}
    exec("def check(document):\n    return True\n", namespace)
    return namespace["check"]


def test_callable_path_refuses_what_the_triggerer_cannot_import():
    def nested(document):
        return True

    refused = [
        lambda document: True,
        nested,
        _function_in_module("__main__"),
        _function_in_module("unusual_prefix_0123abcd_my_dag"),
        _function_in_module("no_such_module_asp"),
    ]
    for spec in refused:
        with pytest.raises(AspInputError, match="cannot travel to the triggerer"):
            callable_path(spec)


def test_callable_path_refuses_a_name_bound_to_something_else():
    impostor = _function_in_module("tests.support.checks")
    impostor.__qualname__ = "is_hit"  # the path resolves to the real is_hit, not this one
    with pytest.raises(AspInputError, match="cannot travel to the triggerer"):
        callable_path(impostor)


def test_callable_path_refuses_functions_of_the_main_module_and_of_dag_files(monkeypatch):
    """Even where the worker can import them: the triggerer runs neither the worker's
    ``__main__`` nor the DAG files Airflow loads as ``unusual_prefix_*`` modules."""
    script_check = _function_in_module("__main__")
    monkeypatch.setattr(sys.modules["__main__"], "check", script_check, raising=False)
    assert resolve_callable("__main__.check") is script_check

    dag_module = types.ModuleType("unusual_prefix_0123abcd_my_dag")
    dag_module.check = _function_in_module(dag_module.__name__)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, dag_module.__name__, dag_module)
    assert resolve_callable("unusual_prefix_0123abcd_my_dag.check") is dag_module.check

    for spec in (script_check, dag_module.check):
        with pytest.raises(AspInputError, match="cannot travel to the triggerer"):
            callable_path(spec)
