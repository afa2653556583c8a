"""MongoDB query and expression evaluation, delegated to mongomock.

Adds what mongomock lacks and stream processing needs: ``$jsonSchema`` in queries,
``$dateFromString``/``$toDate`` for ``$source.timeField`` and the stream ``$meta``
expression (substituted with literal values before mongomock sees the spec).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pendulum
from bson.int64 import Int64
from bson.objectid import ObjectId
from mongomock.aggregate import _parse_expression
from mongomock.filtering import filter_applies
from pendulum.parsing.exceptions import ParserError

from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.schema import compile_json_schema

EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = EPOCH.replace(tzinfo=datetime.timezone.utc)
_ONE_MS = datetime.timedelta(milliseconds=1)

Predicate = Callable[[dict[str, Any]], bool]


# -- dates --------------------------------------------------------------------------------------


def to_ms(value: datetime.datetime) -> int:
    """Epoch milliseconds of a datetime; a naive datetime is UTC (the BSON convention)."""
    if value.tzinfo is None:
        return (value - EPOCH) // _ONE_MS
    return (value - _EPOCH_UTC) // _ONE_MS


def from_ms(ms: int) -> datetime.datetime:
    """A naive UTC datetime (what BSON decoding returns by default) from epoch milliseconds."""
    return EPOCH + datetime.timedelta(milliseconds=ms)


def evaluate(expression: Any, doc: Mapping[str, Any]) -> Any:
    """Evaluate an aggregation expression against ``doc`` with mongomock."""
    return _parse_expression(expression, doc)


def _tz(name: Any) -> datetime.tzinfo:
    if not isinstance(name, str):
        raise DocumentError(f"timezone must be a string, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    try:
        offset = datetime.datetime.fromisoformat(f"2000-01-01T00:00:00{name}").tzinfo
    except ValueError:
        offset = None
    if offset is None:
        raise DocumentError(f"unrecognized timezone {name!r}")
    return offset


def parse_date_string(text: str, fmt: str | None = None, tz: Any = None) -> datetime.datetime:
    """Parse like ``$dateFromString``: ISO 8601 by default, or a MongoDB ``format``."""
    try:
        if fmt is not None:
            parsed = datetime.datetime.strptime(text, fmt.replace("%L", "%f"))
        else:
            try:
                parsed = datetime.datetime.fromisoformat(text)
            except ValueError:
                loose = pendulum.parse(text, strict=False)
                if not isinstance(loose, datetime.datetime):
                    raise ValueError("not a date and time") from None
                parsed = loose
    except (ValueError, TypeError, ParserError) as exc:
        raise DocumentError(f"$dateFromString: cannot parse {text!r}: {exc}") from exc
    if parsed.tzinfo is None and tz is not None:
        parsed = parsed.replace(tzinfo=_tz(tz))
    return parsed


def _date_from_string(args: Any, doc: Mapping[str, Any]) -> Any:
    if not isinstance(args, Mapping) or "dateString" not in args:
        raise DocumentError("$dateFromString requires a 'dateString' argument")
    try:
        text = evaluate(args["dateString"], doc)
    except KeyError:
        text = None
    if text is None:
        if "onNull" in args:
            return evaluate(args["onNull"], doc)
        raise DocumentError("$dateFromString: dateString is missing or null")
    try:
        if not isinstance(text, str):
            raise DocumentError(f"$dateFromString: dateString must be a string, got {text!r}")
        fmt = evaluate(args["format"], doc) if "format" in args else None
        tz = evaluate(args["timezone"], doc) if "timezone" in args else None
        return parse_date_string(text, fmt, tz)
    except DocumentError:
        if "onError" in args:
            return evaluate(args["onError"], doc)
        raise


def _to_date(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        return parse_date_string(value)
    if isinstance(value, (int, float, Int64)) and not isinstance(value, bool):
        return from_ms(int(value))
    if isinstance(value, ObjectId):
        return value.generation_time
    raise DocumentError(f"$toDate: cannot convert {value!r} to a date")


def compile_time_field(spec: Any) -> Callable[[dict[str, Any]], int]:
    """Compile ``$source.timeField`` into ``doc -> event time (epoch ms)``.

    Supports ``{$dateFromString: {...}}``, ``{$toDate: <expr>}`` and any expression that
    evaluates to a date (e.g. ``"$ts"``). Raises ``ValueError`` for a malformed spec and,
    per document, ``DocumentError``.
    """
    if isinstance(spec, Mapping) and len(spec) == 1 and "$dateFromString" in spec:
        args = spec["$dateFromString"]
        if not isinstance(args, Mapping) or "dateString" not in args:
            raise ValueError("$dateFromString requires a 'dateString' argument")

        def compute(doc: dict[str, Any]) -> Any:
            return _date_from_string(args, doc)

    elif isinstance(spec, Mapping) and len(spec) == 1 and "$toDate" in spec:
        inner = spec["$toDate"]

        def compute(doc: dict[str, Any]) -> Any:
            return _to_date(evaluate(inner, doc))

    elif (isinstance(spec, str) and spec.startswith("$")) or isinstance(spec, Mapping):

        def compute(doc: dict[str, Any]) -> Any:
            return evaluate(spec, doc)

    else:
        raise ValueError("timeField must be an expression, e.g. {$dateFromString: ...} or '$field'")

    def event_time(doc: dict[str, Any]) -> int:
        try:
            value = compute(doc)
        except DocumentError:
            raise
        except KeyError as exc:
            raise DocumentError(f"timeField: field {exc} is missing") from exc
        except Exception as exc:
            raise DocumentError(f"timeField: {exc}") from exc
        if not isinstance(value, datetime.datetime):
            raise DocumentError(f"timeField must evaluate to a date, got {value!r}")
        return to_ms(value)

    return event_time


# -- queries ------------------------------------------------------------------------------------


def _has_json_schema(query: Any) -> bool:
    if isinstance(query, Mapping):
        if "$jsonSchema" in query:
            return True
        return any(
            isinstance(query.get(op), list) and any(_has_json_schema(q) for q in query[op])
            for op in ("$and", "$or", "$nor")
        )
    return False


def _combine(op: str, subs: list[Predicate]) -> Predicate:
    def combined(doc: dict[str, Any]) -> bool:
        if op == "$and":
            return all(p(doc) for p in subs)
        if op == "$or":
            return any(p(doc) for p in subs)
        return not any(p(doc) for p in subs)

    return combined


def compile_query(query: Any) -> Predicate:
    """Compile a query document (``$match``/``$validate``) into a predicate.

    Plain queries go to ``mongomock.filtering.filter_applies``; ``$jsonSchema`` parts
    (top level or inside ``$and``/``$or``/``$nor``) are checked with ``jsonschema`` and
    combined with the rest. Raises ``ValueError`` for a malformed query.
    """
    if not isinstance(query, Mapping):
        raise ValueError("the query must be a document")
    query = dict(query)
    if not _has_json_schema(query):
        return lambda doc: bool(filter_applies(query, doc))
    parts: list[Predicate] = []
    schema = query.pop("$jsonSchema", None)
    if schema is not None:
        check = compile_json_schema(schema)
        parts.append(lambda doc: check(doc) is None)
    for op in ("$and", "$or", "$nor"):
        subqueries = query.get(op)
        if isinstance(subqueries, list) and any(_has_json_schema(q) for q in subqueries):
            del query[op]
            parts.append(_combine(op, [compile_query(q) for q in subqueries]))
    if query:
        rest = dict(query)
        parts.append(lambda doc: bool(filter_applies(rest, doc)))
    return lambda doc: all(p(doc) for p in parts)


# -- stream $meta ---------------------------------------------------------------------------------


def contains_meta(spec: Any) -> bool:
    """Whether an expression/stage spec uses the ``$meta`` expression anywhere."""
    if isinstance(spec, Mapping):
        return "$meta" in spec or any(contains_meta(v) for v in spec.values())
    if isinstance(spec, list):
        return any(contains_meta(v) for v in spec)
    return False


def resolve_meta(path: Any, meta: Mapping[str, Any]) -> Any:
    """Resolve a ``$meta`` path such as ``"stream.window.start"`` (``None`` when absent)."""
    if not isinstance(path, str):
        raise DocumentError(f"$meta argument must be a string, got {path!r}")
    parts = path.split(".")
    if parts[0] != "stream":
        raise DocumentError(f"$meta path must start with 'stream', got {path!r}")
    value: Any = meta
    for part in parts[1:]:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def substitute_meta(spec: Any, meta: Mapping[str, Any]) -> Any:
    """A copy of ``spec`` where every ``{$meta: path}`` is replaced with ``{$literal: value}``."""
    if isinstance(spec, Mapping):
        if len(spec) == 1 and "$meta" in spec:
            return {"$literal": resolve_meta(spec["$meta"], meta)}
        return {k: substitute_meta(v, meta) for k, v in spec.items()}
    if isinstance(spec, list):
        return [substitute_meta(v, meta) for v in spec]
    return spec
