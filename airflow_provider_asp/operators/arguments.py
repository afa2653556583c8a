"""Checks of operator arguments after templating, run before any client exists.

Every check raises :class:`~airflow_provider_asp.exceptions.AspInputError` (the task fails
without retrying: a retry renders the same templates). Names and pipelines are checked by
the client's own validation (:mod:`~airflow_provider_asp.stream_processing.protocol`),
imported when a check runs, so importing this module does not import pymongo.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_asp.exceptions import AspInputError


def processor_name(value: Any, label: str = "processor_name") -> str:
    """A non-blank string (the client's own check)."""
    from airflow_provider_asp.stream_processing.protocol import check_name

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
    from airflow_provider_asp.stream_processing.protocol import check_pipeline

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


def operation_time(value: Any) -> Any:
    """``start_at_operation_time`` as a BSON Timestamp (from a Timestamp, an aware datetime
    or epoch seconds), or None."""
    if value is None:
        return None
    from bson.timestamp import Timestamp

    if isinstance(value, Timestamp):
        return value
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return Timestamp(int(value.timestamp()), 1)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Timestamp(value, 1)
    raise AspInputError(
        "start_at_operation_time must be a bson Timestamp, a timezone-aware datetime or "
        f"epoch seconds, not {value!r}."
    )


@contextlib.contextmanager
def client_checks() -> Iterator[None]:
    """Turn the client's own option checks (``InvalidOperation``) into AspInputError."""
    from pymongo.errors import InvalidOperation

    try:
        yield
    except (InvalidOperation, TypeError) as exc:
        raise AspInputError(str(exc)) from None
