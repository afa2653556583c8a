"""What the event triggers decide, as pure code: when a batch of output documents is sent,
which documents a new sample cursor replays, when a state is a new transition, when a counter
crosses a threshold or a step, what each event's payload holds and what a watcher remembers.
No Airflow, no pymongo, no clock: callers pass ``now`` and ``sent_at``.

The orchestrators' watchers (Airflow's :mod:`~airflow_provider_asp.triggers.events`) read the
workspace and feed what they read to these classes; the payloads made here become their events,
the same for every orchestrator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from asp_core.errors import AspInputError
from asp_core.jsonable import to_jsonable
from asp_core.waiting import states

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo

#: Bounds of the output trigger's arguments.
MAX_BATCH_LIMIT = 10_000
MIN_PAYLOAD_BYTES = 1_024
MAX_PAYLOAD_BYTES = 1_048_576
DEFAULT_PAYLOAD_BYTES = 65_536
#: Bytes an output event's payload takes besides its documents (names, counts, times).
ENVELOPE_BYTES = 512
#: Documents remembered (by digest) to skip what a new sample cursor replays; also the number
#: of first documents of a new cursor checked against them.
REPLAY_MEMORY = 1_000


# -- JSON sizes and digests --------------------------------------------------------------------
def json_bytes(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (what a payload costs in the metadata database)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def canonical(document: Any) -> bytes:
    """A JSON document as compact JSON with sorted keys (as long as its compact JSON)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def digest(document: Any, encoded: bytes | None = None) -> str:
    """A short, stable digest of a JSON document (key order ignored); ``encoded``: its
    :func:`canonical` form, if already made."""
    text = canonical(document) if encoded is None else encoded
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def memory_key(kind: str, processor_name: str, semantics: Mapping[str, Any]) -> str:
    """The asset state store key of one watcher: its kind, processor and what it watches
    for (not its tuning: a changed ``max_wait`` keeps the memory)."""
    return f"asp_{kind}:{processor_name}:{digest(dict(semantics))}"


def plain_json(value: Any, label: str) -> Any:
    """``value`` if it is made of JSON values only (a trigger's kwargs must be: Airflow turns
    anything else into its ``str()``, which may change on every parse)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AspInputError(
            f"{label} must be made of JSON values (dicts, lists, strings, numbers, booleans, "
            f"None): {exc}."
        ) from None
    return value


# -- output: batches -----------------------------------------------------------------------------
@dataclasses.dataclass
class Batch:
    """Matching documents waiting to become one event.

    A batch is sent when it holds ``max_batch`` documents, when ``max_wait`` seconds passed
    since its first document, or when the next document would take its payload past
    ``max_payload_bytes``. A document that alone is too large is not carried: it counts in
    ``oversized`` (and opens the batch, so that its event still tells of it).
    """

    max_batch: int
    max_wait: float
    max_payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    documents: list[Any] = dataclasses.field(default_factory=list)
    oversized: int = 0
    opened_at: float | None = None
    _bytes: int = 0

    def add(self, document: Any, now: float, size: int | None = None) -> list[Batch]:
        """Add a matching (JSON) document (``size``: its bytes as compact JSON, if known);
        the batches it completes, ready to send."""
        ready: list[Batch] = []
        size = (json_bytes(document) if size is None else size) + 1
        room = self.max_payload_bytes - ENVELOPE_BYTES
        if size > room:
            self._open(now)
            self.oversized += 1
            return ready
        if self._bytes + size > room and self.documents:
            ready.append(self.take())
        self._open(now)
        self.documents.append(document)
        self._bytes += size
        if len(self.documents) >= self.max_batch:
            ready.append(self.take())
        return ready

    def _open(self, now: float) -> None:
        if self.opened_at is None:
            self.opened_at = now

    @property
    def pending(self) -> bool:
        return self.opened_at is not None

    def due(self, now: float) -> bool:
        """Whether the batch waited ``max_wait`` seconds since its first document."""
        return self.opened_at is not None and now - self.opened_at >= self.max_wait

    def wait_left(self, now: float) -> float | None:
        """Seconds until the batch is due (None: empty)."""
        return None if self.opened_at is None else max(0.0, self.opened_at + self.max_wait - now)

    def take(self) -> Batch:
        """The batch so far (to send); this one starts empty."""
        full = Batch(
            self.max_batch,
            self.max_wait,
            self.max_payload_bytes,
            self.documents,
            self.oversized,
            self.opened_at,
            self._bytes,
        )
        self.documents, self.oversized, self.opened_at, self._bytes = [], 0, None, 0
        return full


def _stamped(payload: dict[str, Any], sent_at: str | None) -> dict[str, Any]:
    """``payload`` with ``sent_at`` (an ISO 8601 time) last, when given."""
    return payload if sent_at is None else {**payload, "sent_at": sent_at}


def output_payload(
    processor_name: str, batch: Batch, *, sent_at: str | None = None
) -> dict[str, Any]:
    """An output event's payload: the processor, the documents (JSON), how many, and how many
    matching documents were too large to carry."""
    payload = {
        "kind": "output",
        "processor_name": processor_name,
        "documents": batch.documents,
        "count": len(batch.documents),
        "oversized": batch.oversized,
    }
    return _stamped(payload, sent_at)


# -- output: what a new cursor replays -----------------------------------------------------------
class SeenDocuments:
    """Digests of the last ``capacity`` documents read, oldest first."""

    def __init__(self, capacity: int = REPLAY_MEMORY, digests: Iterable[str] = ()) -> None:
        self.capacity = capacity
        self._order: deque[str] = deque(maxlen=capacity)
        self._counts: dict[str, int] = {}
        for item in digests:
            self.add(item)

    def add(self, item: str) -> None:
        if len(self._order) == self.capacity:
            oldest = self._order[0]
            left = self._counts[oldest] - 1
            if left:
                self._counts[oldest] = left
            else:
                del self._counts[oldest]
        self._order.append(item)
        self._counts[item] = self._counts.get(item, 0) + 1

    def __contains__(self, item: object) -> bool:
        return item in self._counts

    def __len__(self) -> int:
        return len(self._order)

    def snapshot(self) -> list[str]:
        return list(self._order)


class ReplayGuard:
    """Skips what a new sample cursor hands out again: among the first ``window`` documents
    of each new cursor, those already seen (by digest) are replays. Past the window nothing
    is skipped, so identical documents later on are events like any others."""

    def __init__(self, seen: SeenDocuments, window: int = REPLAY_MEMORY) -> None:
        self.seen = seen
        self.window = window
        self._left = 0
        self.skipped = 0

    def new_cursor(self) -> None:
        self._left = self.window
        self.skipped = 0

    def is_replay(self, item: str) -> bool:
        """Whether the document of digest ``item`` is a replay; remembers it either way."""
        replay = False
        if self._left > 0:
            self._left -= 1
            replay = item in self.seen
        if replay:
            self.skipped += 1
        else:
            self.seen.add(item)
        return replay


def select_output(
    document: Mapping[str, Any],
    guard: ReplayGuard,
    *,
    match: Mapping[str, Any] | None = None,
    check: Callable[[Any], Any] | None = None,
    include_dlq: bool = False,
) -> tuple[Any, int] | None:
    """A document of the output as JSON and its bytes as compact JSON, if it belongs in an
    event; None if it is a replay of a new cursor (:class:`ReplayGuard`, which remembers it
    either way), a dead letter (``_dlqMessage``) unless ``include_dlq``, or does not satisfy
    ``match`` and ``check`` (given the JSON form)."""
    from asp_core.waiting.matching import matches

    plain = to_jsonable(document)
    encoded = canonical(plain)
    if guard.is_replay(digest(plain, encoded)):
        return None
    if "_dlqMessage" in document and not include_dlq:
        return None
    if match is not None and not matches(match, document):
        return None
    if check is not None and not check(plain):
        return None
    return plain, len(encoded)


# -- state: transitions --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Transition:
    """The processor entered a watched state."""

    state: str
    previous_state: str | None
    key: str


@dataclasses.dataclass
class TransitionWatch:
    """Tells a processor's entries into ``states``, once per transition.

    A transition is known by its state and ``lastStateChange``: the same FAILED with the same
    ``lastStateChange`` is the same failure, however often it is looked at, and across
    restarts when ``last_key`` is remembered. A service that gives no ``lastStateChange``
    is judged by the state alone: an entry is a change from the previous look.
    """

    states: frozenset[str]
    last_key: str | None = None
    previous_state: str | None = None
    _looked: bool = False

    @classmethod
    def restored(cls, watched: Iterable[str], memory: Mapping[str, Any]) -> TransitionWatch:
        """A watch of ``watched`` that goes on from what :meth:`memory` gave (``{}``: none)."""
        last_key = memory.get("last_key")
        return cls(frozenset(watched), last_key=last_key if isinstance(last_key, str) else None)

    def memory(self) -> dict[str, Any]:
        """What a restarted watch needs (JSON): the last transition told."""
        return {"last_key": self.last_key}

    @classmethod
    def resumed(cls, watched: Iterable[str], memory: Mapping[str, Any]) -> TransitionWatch:
        """A watch that goes on from what :meth:`continuation` gave as if it had never
        stopped: the next look is not a first look, and ``previous_state`` is the last one
        seen. For pollers that live one look at a time (a Dagster sensor's tick); ``{}`` is
        a watch that never looked."""
        watch = cls.restored(watched, memory)
        previous = memory.get("previous_state")
        watch.previous_state = previous if isinstance(previous, str) else None
        watch._looked = memory.get("looked") is True
        return watch

    def continuation(self) -> dict[str, Any]:
        """What :meth:`resumed` needs (JSON): :meth:`memory`, the last state seen and
        whether the watch looked at all."""
        return {**self.memory(), "previous_state": self.previous_state, "looked": self._looked}

    def look_at(self, info: StreamProcessorInfo | None) -> Transition | None:
        """One look at the processor's info (None: it does not exist)."""
        if info is None:
            return self.look(None, None)
        changed = info.last_state_change
        return self.look(info.state, None if changed is None else str(to_jsonable(changed)))

    def look(self, state: str | None, changed_at: str | None) -> Transition | None:
        """One look (``state`` None: the processor does not exist)."""
        current = None if state is None else states.normalize_state(state)
        previous, first = self.previous_state, not self._looked
        self.previous_state, self._looked = current, True
        if current is None or current not in self.states:
            return None
        key = f"{current}@{changed_at or '?'}"
        if changed_at is not None:
            new = key != self.last_key
        else:
            new = previous != current and not (first and key == self.last_key)
        if not new:
            return None
        self.last_key = key
        return Transition(current, previous, key)


def state_payload(
    processor_name: str,
    transition: Transition,
    info: StreamProcessorInfo,
    *,
    sent_at: str | None = None,
) -> dict[str, Any]:
    """A state event's payload: the state entered, the one before, when, and the processor's
    error (None but for a failure)."""
    changed = info.last_state_change
    payload = {
        "kind": "state",
        "processor_name": processor_name,
        "state": transition.state,
        "previous_state": transition.previous_state,
        "last_state_change": None if changed is None else to_jsonable(changed),
        "error_msg": info.error_msg,
        "error_code": info.error_code,
        "error_retryable": info.error_retryable,
    }
    return _stamped(payload, sent_at)


# -- stats: counters -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Crossing:
    """A counter crossed the threshold, or one or more steps."""

    reason: str  # "threshold" | "step"
    value: int
    previous: int | None
    mark: int
    crossed: int = 1


@dataclasses.dataclass
class CounterWatch:
    """Tells when a counter crosses ``threshold`` (upwards, once per crossing: it must fall
    below it again to cross it again) or grows by ``step`` from its first value seen
    (marks at ``base + k * step``; one event per look however many marks it passed). A
    counter that goes down (a re-created processor) starts again from its new value.

    ``above`` and ``base`` are what a restart needs; ``previous`` is the last look's value.
    """

    threshold: int | None = None
    step: int | None = None
    above: bool | None = None
    base: int | None = None
    previous: int | None = None

    @classmethod
    def restored(
        cls, threshold: int | None, step: int | None, memory: Mapping[str, Any]
    ) -> CounterWatch:
        """A watch that goes on from what :meth:`memory` gave (``{}``: none)."""
        above, base = memory.get("above"), memory.get("base")
        return cls(
            threshold,
            step,
            above=above if isinstance(above, bool) else None,
            base=base if isinstance(base, int) else None,
        )

    def look(self, value: int) -> list[Crossing]:
        crossings: list[Crossing] = []
        previous = self.previous
        self.previous = value
        if self.threshold is not None:
            above = value >= self.threshold
            if above and not self.above:
                crossings.append(Crossing("threshold", value, previous, self.threshold))
            self.above = above
        if self.step is not None:
            if (
                self.base is None
                or value < self.base
                or (previous is not None and value < previous)
            ):
                self.base = value
            elif value >= self.base + self.step:
                crossed = (value - self.base) // self.step
                self.base += crossed * self.step
                crossings.append(Crossing("step", value, previous, self.base, crossed))
        return crossings

    def memory(self) -> dict[str, Any]:
        """What a restarted watch needs (JSON): whether above the threshold, the last mark."""
        return {"above": self.above, "base": self.base}


def stats_payload(
    processor_name: str,
    counter: str,
    watch: CounterWatch,
    crossing: Crossing,
    stats: Mapping[str, Any],
    *,
    sent_at: str | None = None,
) -> dict[str, Any]:
    """A stats event's payload: the counter, its value and the last one before, why it is an
    event (``"threshold"`` or ``"step"``) and the mark passed, the watch's threshold and step,
    and the whole stats (JSON)."""
    payload = {
        "kind": "stats",
        "processor_name": processor_name,
        "counter": counter,
        "value": crossing.value,
        "previous": crossing.previous,
        "reason": crossing.reason,
        "mark": crossing.mark,
        "crossed": crossing.crossed,
        "threshold": watch.threshold,
        "step": watch.step,
        "stats": stats,
    }
    return _stamped(payload, sent_at)


# -- pollers that live one tick at a time ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TickBudget:
    """The seconds one tick of a poller may spend (a Dagster sensor must answer well within
    its evaluation timeout): work stops when the budget is spent and the rest waits for the
    next tick. ``started`` and ``now`` come from the same clock (the caller's)."""

    seconds: float
    started: float

    def left(self, now: float) -> float:
        """Seconds left (never below 0)."""
        return max(0.0, self.started + self.seconds - now)

    def spent(self, now: float) -> bool:
        """Whether no time is left."""
        return self.left(now) <= 0.0
