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
from typing import Any, Literal, overload

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


@overload
def integer(
    value: Any,
    label: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    allow_none: Literal[False] = False,
) -> int: ...


@overload
def integer(
    value: Any, label: str, *, minimum: int = 1, maximum: int | None = None, allow_none: bool
) -> int | None: ...


def integer(
    value: Any,
    label: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """An integer (not a bool) of at least ``minimum`` and at most ``maximum``; None too
    with ``allow_none``."""
    if value is None and allow_none:
        return None
    whole = isinstance(value, int) and not isinstance(value, bool)
    if whole and value >= minimum and (maximum is None or value <= maximum):
        return int(value)
    if maximum is None and minimum in (0, 1):
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
    else:
        upper = f" and at most {maximum:,}" if maximum is not None else ""
        kind = f"an integer of at least {minimum:,}{upper}"
    raise AspInputError(f"{label} must be {kind}, not {value!r}.")


def states(value: Any, label: str, *, allow_empty: bool = False) -> frozenset[str]:
    """A state or a list of states (open strings), normalized (RUNNING = STARTED)."""
    from asp_core.waiting.states import normalize_states

    given = [value] if isinstance(value, str) else value
    valid = isinstance(given, (list, tuple, set, frozenset)) and all(
        isinstance(state, str) and state.strip() for state in given
    )
    if not valid or (not given and not allow_empty):
        raise AspInputError(f"{label} must be a state or a list of states, not {value!r}.")
    return normalize_states(given)


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


def _iso_time(
    text: str, label: str = "start_at_operation_time", forms: str = OPERATION_TIME_FORMS
) -> datetime.datetime:
    """An ISO-8601 string with an offset, as an aware datetime."""
    import pendulum

    try:
        parsed = pendulum.parse(text.strip(), tz=None)
    except Exception:
        raise AspInputError(f"{label} {text!r} is not a time: give {forms}.") from None
    if not isinstance(parsed, datetime.datetime) or parsed.tzinfo is None:
        raise AspInputError(
            f"{label} {text!r} has no UTC offset, so it names no instant: give {forms}."
        )
    return parsed


#: What :func:`instant` accepts.
INSTANT_FORMS = (
    "an aware datetime, epoch seconds, or an ISO-8601 string with an offset "
    "(e.g. a rendered {{ data_interval_start }})"
)


def instant(value: Any, label: str) -> float | None:
    """An instant as epoch seconds, or None: an aware datetime, epoch seconds, or an
    ISO-8601 string with an offset. A naive time is refused: it names no instant."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _iso_time(value, label, INSTANT_FORMS)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.timestamp()
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value >= 0:
        return float(value)
    naive = isinstance(value, datetime.datetime)
    raise AspInputError(
        f"{label} must be {INSTANT_FORMS}, not {'a naive datetime ' if naive else ''}{value!r}."
    )


@contextlib.contextmanager
def client_checks() -> Iterator[None]:
    """Turn the client's own option checks (``InvalidOperation``) into AspInputError."""
    from pymongo.errors import InvalidOperation

    try:
        yield
    except (InvalidOperation, TypeError) as exc:
        raise AspInputError(str(exc)) from None
