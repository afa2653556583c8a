"""What the sensors and triggers wait for, written once for both.

A condition looks at a processor once and returns a
:class:`~airflow_provider_asp.verdict.Verdict`. Sensors look with the sync client
(``check``), triggers with the asyncio one (``acheck``); both hand what they read to the
same ``judge``. Conditions travel to triggers as JSON kwargs (:func:`to_kwargs`,
:func:`from_kwargs`). Nothing here imports pymongo at import time.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_asp import lifecycle
from airflow_provider_asp.exceptions import AspInputError
from airflow_provider_asp.lifecycle import Outcome
from airflow_provider_asp.serialization import to_jsonable
from airflow_provider_asp.verdict import DLQ, MISSING, STATE, Verdict, info_to_dict

if TYPE_CHECKING:
    from airflow_provider_asp.stream_processing import (
        AsyncStreamProcessors,
        StreamProcessorInfo,
        StreamProcessors,
    )

#: ``fn(value) -> bool``, or the dotted path of one.
CheckFn = Callable[[Any], Any] | str


# -- conditions as trigger kwargs ----------------------------------------------------------
def to_kwargs(condition: Any) -> dict[str, Any]:
    """A condition's fields but the processor name, as JSON values for a trigger: state
    sets as sorted lists, times in ISO 8601, a callable ``check_fn`` as its dotted path."""
    kwargs = {}
    for field in dataclasses.fields(condition):
        value = getattr(condition, field.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, datetime.datetime):
            value = value.isoformat()
        elif field.name == "check_fn" and callable(value):
            value = callable_path(value)
        kwargs[field.name] = value
    del kwargs["processor_name"]
    return kwargs


def from_kwargs(cls: Any, processor_name: str, kwargs: Mapping[str, Any]) -> Any:
    """The condition that :func:`to_kwargs` gave ``kwargs`` for (unknown keys: TypeError)."""
    known = {field.name for field in dataclasses.fields(cls)} - {"processor_name"}
    if unknown := sorted(set(kwargs) - known):
        raise TypeError(f"{cls.__name__} has no {', '.join(unknown)}.")
    values = dict(kwargs)
    for key, value in kwargs.items():
        if key.endswith("_states"):
            values[key] = lifecycle.normalize_states(value)
        elif key == "ignore_failure_at" and value is not None:
            values[key] = datetime.datetime.fromisoformat(value)
    return cls(processor_name, **values)


# -- check_fn: a callable, or a dotted path the triggerer can import ----------------------
def resolve_callable(spec: Any, label: str = "check_fn") -> Callable[..., Any]:
    """``spec`` if callable, else the callable its dotted path names."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or "." not in spec.strip(". "):
        raise AspInputError(f"{label} must be a callable or a dotted path, not {spec!r}.")
    module, _, attribute = spec.strip().rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise AspInputError(f"{label} {spec!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise AspInputError(f"{label} {spec!r} is not callable.")
    return found


def callable_path(spec: Any, label: str = "check_fn") -> str:
    """The dotted path of ``spec``, for a trigger: a path as given, or a module-level
    function's ``module.name``; lambdas, nested functions and functions of DAG files
    (which the triggerer cannot import) are refused."""
    if isinstance(spec, str):
        resolve_callable(spec, label)
        return spec.strip()
    module = getattr(spec, "__module__", None) or ""
    path = f"{module}.{getattr(spec, '__qualname__', '')}"
    importable = module not in ("", "__main__") and not module.startswith("unusual_prefix_")
    if not importable or "<" in path or _resolves_to(path, label) is not spec:
        raise AspInputError(
            f"{label} {spec!r} cannot travel to the triggerer: in deferrable mode give a "
            "dotted path, or a function defined at the top level of an importable module "
            "(not a lambda, a nested function or a function of a DAG file)."
        )
    return path


def _resolves_to(path: str, label: str) -> Any:
    try:
        return resolve_callable(path, label)
    except AspInputError:
        return None


def matches(query: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether ``document`` satisfies the MongoDB query ``query`` (mongomock evaluates it,
    as the emulator evaluates ``$match``)."""
    from mongomock.filtering import filter_applies

    try:
        return bool(filter_applies(query, document))
    except KeyError:  # an $expr on a missing field: not a match, as on the server
        return False


def check_query(query: Mapping[str, Any], label: str = "match") -> None:
    """Raise AspInputError if ``query`` is not a valid MongoDB query (unknown operator...)."""
    try:
        matches(query, {})
    except Exception as exc:
        raise AspInputError(f"{label} is not a valid query: {exc}") from None


# -- the three conditions -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class StateCondition:
    """The processor is in one of ``target_states``; one of ``failure_states`` (FAILED)
    fails the wait; a missing processor fails it unless ``missing_ok``."""

    processor_name: str
    target_states: frozenset[str] = frozenset({lifecycle.STARTED})
    failure_states: frozenset[str] = lifecycle.FAILURE_STATES
    missing_ok: bool = False
    ignore_failure_at: datetime.datetime | None = None

    def judge(self, info: StreamProcessorInfo | None) -> Verdict:
        name, targets = self.processor_name, " or ".join(sorted(self.target_states))
        if info is None:
            if self.missing_ok:
                return Verdict.pending(name, f"Stream processor {name!r} does not exist.")
            return Verdict.failure(name, MISSING, f"Stream processor {name!r} does not exist.")
        outcome = lifecycle.evaluate(
            info, self.target_states, self.ignore_failure_at, self.failure_states
        )
        where = f"Stream processor {name!r} is {info.state}"
        if outcome is Outcome.REACHED:
            return Verdict.reached(name, info_to_dict(info), f"{where}.")
        if outcome is Outcome.PENDING:
            return Verdict.pending(name, f"{where}; waiting for {targets}.")
        if lifecycle.is_failed(info.state):
            return Verdict.processor_failed(info)
        failures = ", ".join(sorted(self.failure_states))
        return Verdict.failure(
            name, STATE, f"Stream processor {name!r} is {info.state}, a failure state ({failures})."
        )

    def check(self, processors: StreamProcessors) -> Verdict:
        return self.judge(lifecycle.find(processors, self.processor_name))

    async def acheck(self, processors: AsyncStreamProcessors) -> Verdict:
        return self.judge(await lifecycle.afind(processors, self.processor_name))


@dataclasses.dataclass(frozen=True)
class SampleCondition:
    """At least ``min_documents`` documents of one sample of a STARTED processor satisfy
    ``match`` and ``check_fn``. One look reads one cursor for up to ``limit`` documents
    and ``sample_timeout`` seconds, and stops at the ``min_documents``-th match."""

    processor_name: str
    min_documents: int = 1
    match: Mapping[str, Any] | None = None
    check_fn: CheckFn | None = None
    limit: int = 100
    sample_timeout: float = 10.0

    def gate(self, info: StreamProcessorInfo | None) -> Verdict | None:
        """A failed verdict unless the processor is STARTED."""
        name = self.processor_name
        if info is None:
            return Verdict.failure(name, MISSING, f"Stream processor {name!r} does not exist.")
        if lifecycle.is_failed(info.state):
            return Verdict.processor_failed(info)
        if not lifecycle.is_running(info.state):
            message = f"Stream processor {name!r} is {info.state}: sampling needs it STARTED."
            return Verdict.failure(name, STATE, message)
        return None

    def take(self, found: list[Any], document: Mapping[str, Any]) -> bool:
        """Keep ``document`` if it matches; whether enough have matched."""
        plain = to_jsonable(document)
        if (self.match is None or matches(self.match, document)) and (
            self.check_fn is None or resolve_callable(self.check_fn)(plain)
        ):
            found.append(plain)
        return len(found) >= self.min_documents

    def judge(self, found: list[Any]) -> Verdict:
        name, count = self.processor_name, len(found)
        if count >= self.min_documents:
            return Verdict.reached(name, found, f"{count} sampled document(s) of {name!r} match.")
        return Verdict.pending(
            name, f"{count} of {self.min_documents} document(s) matched in a sample of {name!r}."
        )

    def check(self, processors: StreamProcessors) -> Verdict:
        from pymongo.errors import OperationFailure

        from airflow_provider_asp.stream_processing import SampleCursorTimeout

        name, found = self.processor_name, list[Any]()
        verdict = self.gate(lifecycle.find(processors, name))
        if verdict is not None:
            return verdict
        try:
            cursor = processors.get(name).sample(limit=self.limit, timeout=self.sample_timeout)
            with cursor:
                for document in cursor:
                    if self.take(found, document):
                        break
        except SampleCursorTimeout:
            pass
        except OperationFailure:  # it stopped, failed or went away meanwhile?
            verdict = self.gate(lifecycle.find(processors, name))
            if verdict is not None:
                return verdict
            raise
        return self.judge(found)

    async def acheck(self, processors: AsyncStreamProcessors) -> Verdict:
        from pymongo.errors import OperationFailure

        from airflow_provider_asp.stream_processing import SampleCursorTimeout

        name, found = self.processor_name, list[Any]()
        verdict = self.gate(await lifecycle.afind(processors, name))
        if verdict is not None:
            return verdict
        try:
            cursor = processors.get(name).sample(limit=self.limit, timeout=self.sample_timeout)
            async with cursor:
                async for document in cursor:
                    if self.take(found, document):
                        break
        except SampleCursorTimeout:
            pass
        except OperationFailure:
            verdict = self.gate(await lifecycle.afind(processors, name))
            if verdict is not None:
                return verdict
            raise
        return self.judge(found)


#: Stats sensor thresholds: (argument, stats field).
STATS_FIELDS = (
    ("min_output_messages", "outputMessageCount"),
    ("min_input_messages", "inputMessageCount"),
)
DLQ_FIELD = "dlqMessageCount"


@dataclasses.dataclass(frozen=True)
class StatsCondition:
    """The processor's stats reach ``min_output_messages``/``min_input_messages`` and
    satisfy ``check_fn``; more than ``max_dlq_messages`` dead-lettered messages, or a
    FAILED processor, fail the wait."""

    processor_name: str
    min_output_messages: int | None = None
    min_input_messages: int | None = None
    max_dlq_messages: int | None = None
    check_fn: CheckFn | None = None

    def judge(self, reply: Mapping[str, Any] | None) -> Verdict:
        name = self.processor_name
        if reply is None:
            return Verdict.failure(name, MISSING, f"Stream processor {name!r} does not exist.")
        stats = {k: v for k, v in to_jsonable(reply.get("stats", reply)).items() if k != "ok"}
        dlq = _count(stats, DLQ_FIELD)
        if self.max_dlq_messages is not None and dlq > self.max_dlq_messages:
            return Verdict.failure(
                name,
                DLQ,
                f"Stream processor {name!r} sent {dlq} message(s) to its dead letter queue, "
                f"more than max_dlq_messages={self.max_dlq_messages}.",
            )
        unmet = [
            f"{field} {_count(stats, field)} < {minimum}"
            for argument, field in STATS_FIELDS
            if (minimum := getattr(self, argument)) is not None and _count(stats, field) < minimum
        ]
        if not unmet and self.check_fn is not None and not resolve_callable(self.check_fn)(stats):
            unmet.append("check_fn is false")
        if unmet:
            return Verdict.pending(name, f"Stats of {name!r}: {', '.join(unmet)}.")
        return Verdict.reached(name, stats, f"Stats of {name!r} meet the thresholds.")

    def check(self, processors: StreamProcessors) -> Verdict:
        name = self.processor_name
        try:
            reply: dict[str, Any] | None = processors.get(name).stats()
        except Exception as exc:
            if not lifecycle.is_not_found(exc):
                raise
            reply = None
        if reply is not None and lifecycle.is_failed(_state(reply)):
            info = lifecycle.find(processors, name)
            if info is not None and lifecycle.is_failed(info.state):
                return Verdict.processor_failed(info)
        return self.judge(reply)

    async def acheck(self, processors: AsyncStreamProcessors) -> Verdict:
        name = self.processor_name
        try:
            reply: dict[str, Any] | None = await processors.get(name).stats()
        except Exception as exc:
            if not lifecycle.is_not_found(exc):
                raise
            reply = None
        if reply is not None and lifecycle.is_failed(_state(reply)):
            info = await lifecycle.afind(processors, name)
            if info is not None and lifecycle.is_failed(info.state):
                return Verdict.processor_failed(info)
        return self.judge(reply)


def _count(stats: Mapping[str, Any], field: str) -> int:
    value = stats.get(field)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _state(reply: Mapping[str, Any]) -> str:
    """The state a stats reply gives: ``state``, or ``stats.status`` (lower case)."""
    stats = reply.get("stats")
    status = stats.get("status") if isinstance(stats, Mapping) else None
    return str(reply.get("state") or status or "")
