"""What a wait waits for: a state, matching documents in a sample, or stats thresholds.

Each condition is a frozen dataclass that names the read one look needs (its ``read``, a
:class:`Read`) and whose ``judge`` turns what that read gave into a
:class:`~.verdict.Verdict`. Judging is pure; reading is done by :mod:`.asynchronous` (and
the generated :mod:`.synchronous`), one reader per kind of read, so a new condition that
needs an existing read is one class here. Conditions travel to triggers as JSON kwargs
(:func:`to_kwargs`, :func:`from_kwargs`). Nothing here imports pymongo.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from asp_core.jsonable import to_jsonable
from asp_core.waiting import states
from asp_core.waiting.matching import (
    CheckFn,
    callable_path,
    matches,
    resolve_callable,
)
from asp_core.waiting.verdict import Reason, Verdict, info_to_dict

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo


class Read(enum.Enum):
    """What one look reads for a condition, and what its ``judge`` is then given."""

    #: The processor's info (None: it does not exist): ``judge(info)``, see :class:`JudgesInfo`.
    INFO = "info"
    #: One sample cursor of a running processor: see :class:`JudgesSample`.
    SAMPLE = "sample"
    #: The processor's stats reply (None: it does not exist); a FAILED one is confirmed by its
    #: info and fails the wait: ``judge(reply)``, see :class:`JudgesStats`.
    STATS = "stats"


class JudgesInfo(Protocol):
    """A condition judged on the processor's info (``read = Read.INFO``)."""

    read: ClassVar[Read]

    @property
    def processor_name(self) -> str: ...

    def judge(self, info: StreamProcessorInfo | None, /) -> Verdict: ...


class JudgesSample(Protocol):
    """A condition judged on documents of one sample (``read = Read.SAMPLE``): ``gate`` on
    the info first, a cursor of ``limit`` documents and ``sample_timeout`` seconds, each
    document given to ``take`` until it says enough, then ``judge`` on what it kept."""

    read: ClassVar[Read]

    @property
    def processor_name(self) -> str: ...
    @property
    def min_documents(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def sample_timeout(self) -> float: ...

    def gate(self, info: StreamProcessorInfo | None, /) -> Verdict | None: ...
    def take(self, found: list[Any], document: Mapping[str, Any], /) -> bool: ...
    def judge(self, found: list[Any], /) -> Verdict: ...


class JudgesStats(Protocol):
    """A condition judged on the processor's stats reply (``read = Read.STATS``)."""

    read: ClassVar[Read]

    @property
    def processor_name(self) -> str: ...

    def judge(self, reply: Mapping[str, Any] | None, /) -> Verdict: ...


@dataclasses.dataclass(frozen=True)
class StateCondition:
    """The processor is in one of ``target_states``; one of ``failure_states`` (FAILED)
    fails the wait; a missing processor fails it unless ``missing_ok``.

    ``ignore_failure_at``: a FAILED processor whose ``lastStateChange`` is this time is the
    failure seen before the action that restarts it (the server has not moved yet): pending.
    """

    read: ClassVar[Read] = Read.INFO

    processor_name: str
    target_states: frozenset[str] = frozenset({states.STARTED})
    failure_states: frozenset[str] = states.FAILURE_STATES
    missing_ok: bool = False
    ignore_failure_at: datetime.datetime | None = None

    def judge(self, info: StreamProcessorInfo | None) -> Verdict:
        name, targets = self.processor_name, " or ".join(sorted(self.target_states))
        if info is None:
            if self.missing_ok:
                return Verdict.pending(name, f"Stream processor {name!r} does not exist.")
            return Verdict.missing(name)
        state = states.normalize_state(info.state)
        where = f"Stream processor {name!r} is {info.state}"
        if state in states.normalize_states(self.target_states):
            return Verdict.success(name, info_to_dict(info), f"{where}.")
        stale = self.ignore_failure_at is not None and info.last_state_change == (
            self.ignore_failure_at
        )
        if state not in states.normalize_states(self.failure_states) or stale:
            return Verdict.pending(name, f"{where}; waiting for {targets}.")
        if states.is_failed(state):
            return Verdict.processor_failed(info)
        failures = ", ".join(sorted(self.failure_states))
        return Verdict.failure(name, Reason.WRONG_STATE, f"{where}, a failure state ({failures}).")


@dataclasses.dataclass(frozen=True)
class SampleCondition:
    """At least ``min_documents`` documents of one sample of a STARTED processor satisfy
    ``match`` and ``check_fn``. One look reads one cursor for up to ``limit`` documents
    and ``sample_timeout`` seconds, and stops at the ``min_documents``-th match."""

    read: ClassVar[Read] = Read.SAMPLE

    processor_name: str
    min_documents: int = 1
    match: Mapping[str, Any] | None = None
    check_fn: CheckFn | None = None
    limit: int = 100
    sample_timeout: float = 10.0

    def gate(self, info: StreamProcessorInfo | None) -> Verdict | None:
        """A failure unless the processor is STARTED (sampling needs it running)."""
        name = self.processor_name
        if info is None:
            return Verdict.missing(name)
        if states.is_failed(info.state):
            return Verdict.processor_failed(info)
        if not states.is_running(info.state):
            message = f"Stream processor {name!r} is {info.state}: sampling needs it STARTED."
            return Verdict.failure(name, Reason.WRONG_STATE, message)
        return None

    def take(self, found: list[Any], document: Mapping[str, Any]) -> bool:
        """Keep ``document`` (as JSON) if it matches; whether enough have matched."""
        plain = to_jsonable(document)
        if (self.match is None or matches(self.match, document)) and (
            self.check_fn is None or resolve_callable(self.check_fn)(plain)
        ):
            found.append(plain)
        return len(found) >= self.min_documents

    def judge(self, found: list[Any]) -> Verdict:
        name, count = self.processor_name, len(found)
        if count >= self.min_documents:
            return Verdict.success(name, found, f"{count} sampled document(s) of {name!r} match.")
        return Verdict.pending(
            name, f"{count} of {self.min_documents} document(s) matched in a sample of {name!r}."
        )


#: Stats thresholds: (argument, stats field).
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

    read: ClassVar[Read] = Read.STATS

    processor_name: str
    min_output_messages: int | None = None
    min_input_messages: int | None = None
    max_dlq_messages: int | None = None
    check_fn: CheckFn | None = None

    def judge(self, reply: Mapping[str, Any] | None) -> Verdict:
        name = self.processor_name
        if reply is None:
            return Verdict.missing(name)
        stats = stats_document(reply)
        dlq = count(stats, DLQ_FIELD)
        if self.max_dlq_messages is not None and dlq > self.max_dlq_messages:
            return Verdict.failure(
                name,
                Reason.DLQ_LIMIT,
                f"Stream processor {name!r} sent {dlq} message(s) to its dead letter queue, "
                f"more than max_dlq_messages={self.max_dlq_messages}.",
            )
        unmet = [
            f"{field} {count(stats, field)} < {minimum}"
            for argument, field in STATS_FIELDS
            if (minimum := getattr(self, argument)) is not None and count(stats, field) < minimum
        ]
        if not unmet and self.check_fn is not None and not resolve_callable(self.check_fn)(stats):
            unmet.append("check_fn is false")
        if unmet:
            return Verdict.pending(name, f"Stats of {name!r}: {', '.join(unmet)}.")
        return Verdict.success(name, stats, f"Stats of {name!r} meet the thresholds.")


Condition = StateCondition | SampleCondition | StatsCondition


def stats_document(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The stats of a ``getStreamProcessorStats`` reply (flat or under ``stats``), as JSON."""
    return {k: v for k, v in to_jsonable(reply.get("stats", reply)).items() if k != "ok"}


def count(stats: Mapping[str, Any], field: str) -> int:
    """A counter of the stats (0 when absent or not a number)."""
    value = stats.get(field)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def stats_state(reply: Mapping[str, Any]) -> str:
    """The state a stats reply gives: ``state``, or ``stats.status`` (lower case)."""
    stats = reply.get("stats")
    status = stats.get("status") if isinstance(stats, Mapping) else None
    return str(reply.get("state") or status or "")


# -- conditions as trigger kwargs ----------------------------------------------------------
def to_kwargs(condition: Condition) -> dict[str, Any]:
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


def from_kwargs(cls: type[Condition], processor_name: str, kwargs: Mapping[str, Any]) -> Any:
    """The condition that :func:`to_kwargs` gave ``kwargs`` for (unknown keys: TypeError)."""
    known = {field.name for field in dataclasses.fields(cls)} - {"processor_name"}
    if unknown := sorted(set(kwargs) - known):
        raise TypeError(f"{cls.__name__} has no {', '.join(unknown)}.")
    values = dict(kwargs)
    for key, value in kwargs.items():
        if key.endswith("_states"):
            values[key] = states.normalize_states(value)
        elif key == "ignore_failure_at" and value is not None:
            values[key] = datetime.datetime.fromisoformat(value)
    return cls(processor_name, **values)
