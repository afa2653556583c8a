"""Checks of operator arguments after templating, run before any client exists.

Every check raises :class:`~asp_core.errors.AspInputError` (the task fails
without retrying: a retry renders the same templates). Names and pipelines are checked by
the client's own validation (:mod:`~asp_core.stream_processing.protocol`),
imported when a check runs, so importing this module does not import pymongo.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from asp_core.errors import AspInputError


def processor_name(value: Any, label: str = "processor_name") -> str:
    """A non-blank string (the client's own check)."""
    from asp_core.stream_processing.protocol import check_name

    with client_checks():
        return check_name(value, label)


def _json(value: Any, label: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise AspInputError(f"{label} is not valid JSON: {exc}") from None


def pipeline(value: Any) -> list[dict[str, Any]]:
    """A non-empty list of stage documents, given as a list or a JSON string."""
    from asp_core.stream_processing.protocol import check_pipeline

    with client_checks():
        stages = check_pipeline(_json(value, "pipeline"))
    return [dict(stage) for stage in stages]


def document(value: Any, label: str) -> dict[str, Any] | None:
    """None, or a document given as a mapping or a JSON string."""
    doc = _json(value, label)
    if doc is not None and not isinstance(doc, Mapping):
        raise AspInputError(f"{label} must be a document, not {type(doc).__name__}.")
    return None if doc is None else dict(doc)


def one_of(value: Any, label: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise AspInputError(f"{label} must be one of {', '.join(choices)}, not {value!r}.")
    return str(value)


def seconds(value: Any, label: str) -> float:
    """A positive, finite number of seconds."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise AspInputError(f"{label} must be a positive number of seconds, not {value!r}.")
    return float(value)


def count(value: Any, label: str) -> int:
    """A positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AspInputError(f"{label} must be a positive integer, not {value!r}.")
    return value


#: What ``start_at_operation_time`` accepts, shown when a value is refused.
OPERATION_TIME_FORMS = (
    'an ISO-8601 string with an offset such as "{{ data_interval_start }}" renders '
    '("2026-01-01T00:00:00+00:00"), a timezone-aware datetime, epoch seconds (1767225600) '
    "or a bson Timestamp"
)


def operation_time(value: Any) -> Any:
    """``start_at_operation_time`` as a BSON Timestamp, or None. Accepts a Timestamp, an
    aware datetime, epoch seconds, or an ISO-8601 string with an offset (a rendered
    ``{{ data_interval_start }}``), parsed with pendulum. A naive time is refused: it names
    no instant."""
    if value is None:
        return None
    from bson.timestamp import Timestamp

    if isinstance(value, Timestamp):
        return value
    if isinstance(value, str):
        value = _iso_time(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return Timestamp(int(value.timestamp()), 1)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value >= 0:
        return Timestamp(int(value), 1)
    naive = isinstance(value, datetime.datetime)
    raise AspInputError(
        f"start_at_operation_time must be {OPERATION_TIME_FORMS}, not "
        f"{'a naive datetime ' if naive else ''}{value!r}."
    )


def _iso_time(text: str) -> datetime.datetime:
    """An ISO-8601 string with an offset, as an aware datetime."""
    import pendulum

    try:
        parsed = pendulum.parse(text.strip(), tz=None)
    except Exception:
        raise AspInputError(
            f"start_at_operation_time {text!r} is not a time: give {OPERATION_TIME_FORMS}."
        ) from None
    if not isinstance(parsed, datetime.datetime) or parsed.tzinfo is None:
        raise AspInputError(
            f"start_at_operation_time {text!r} has no UTC offset, so it names no instant: "
            f"give {OPERATION_TIME_FORMS}."
        )
    return parsed


@contextlib.contextmanager
def client_checks() -> Iterator[None]:
    """Turn the client's own option checks (``InvalidOperation``) into AspInputError."""
    from pymongo.errors import InvalidOperation

    try:
        yield
    except (InvalidOperation, TypeError) as exc:
        raise AspInputError(str(exc)) from None
