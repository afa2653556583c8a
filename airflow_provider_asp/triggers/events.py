"""Event triggers: DAGs that start when a stream processor does something.

Airflow 3 schedules a DAG on an asset; an :class:`~airflow.sdk.AssetWatcher` on that asset runs
an event trigger in the triggerer for as long as the DAG is unpaused, and every event the
trigger yields becomes an asset event. Three triggers watch a processor:

- :class:`AspProcessorOutputEventTrigger`: its output, read through the sample protocol;
  documents that satisfy ``match`` and ``check_fn`` go out in batches.
- :class:`AspProcessorStateEventTrigger`: its entries into ``states`` (FAILED, say), once
  per transition.
- :class:`AspProcessorStatsEventTrigger`: a counter of its stats crossing a threshold or
  growing by a step.

Semantics:

- They never end on their own: a missing, stopped, dropped or failed processor, a network
  error, a retryable code or a refused login is logged and watched through, with a growing
  pause between tries (1 s doubling to a minute), because Airflow re-creates a trigger that
  returns or raises at once, without any pause.
- A sample is a tap, not a replay: documents the processor emits while no cursor is open
  (the triggerer restarting, the trigger's DAG paused, the processor stopped) are not seen,
  and a busy stream read more slowly than it flows loses its oldest unread documents.
- Events are at least once. What a trigger must remember across triggerer restarts (the last
  transition told, counter marks, digests of the last 1,000 documents sent) goes to the
  watched assets' state store (Airflow 3.3+; the documents' digests at most every 2 s), so
  a restart does not tell a failure again nor resend documents a new cursor hands out again;
  a crash right after an event may still repeat it. Consumers should be idempotent.
- Kwargs are plain JSON, the same on every parse (their hash identifies the watcher); bad
  arguments are refused when the trigger is built, that is when the DAG file is parsed.

Triggers of one connection share one pooled client (:meth:`AspHook.alease_shared_conn`).
What the triggers decide is pure code in :mod:`~asp_core.event_rules`.

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.jsonable import to_jsonable
from asp_core.waiting import states
from asp_core.waiting.deadline import raise_if_cancelled
from asp_core.waiting.matching import callable_path, check_query

if TYPE_CHECKING:
    from asp_core.client_pool import ClientLease
    from asp_core.stream_processing import (
        AsyncSampleCursor,
        AsyncStreamProcessors,
        StreamProcessorInfo,
    )

__all__ = [
    "AspProcessorOutputEventTrigger",
    "AspProcessorStateEventTrigger",
    "AspProcessorStatsEventTrigger",
    "AspWatcherArgumentError",
]

T = TypeVar("T")

#: Pauses after errors (seconds): the first, then doubling with each error in a row, at most.
ERROR_PAUSE = (1.0, 60.0)
#: While the output trigger's processor is not running, it looks at it this often (seconds).
STATE_LOOK_INTERVAL = 5.0
#: Documents asked for by each poll of the output trigger's sample cursor.
SAMPLE_BATCH = 1_000
#: Empty polls (and errors) counted in a row, at most: the pause stopped growing long before,
#: and ``Backoff.delay`` overflows a float past about a thousand.
IDLE_POLLS_CAP = 64
#: The output trigger writes the digests of documents it sent at most this often (seconds).
MEMORY_SAVE_INTERVAL = 2.0
#: Bound on one read or write of the asset state store (seconds).
MEMORY_TIMEOUT = 10.0


class AspWatcherArgumentError(AspInputError, TypeError):
    """An event trigger's argument is invalid. A TypeError too: the triggerer reports a
    trigger whose kwargs it cannot build from as failed to inflate, and carries on."""


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """Argument checks' errors, as :class:`AspWatcherArgumentError`."""
    try:
        yield
    except AspInputError as exc:
        raise AspWatcherArgumentError(str(exc)) from None


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class TriggerMemory:
    """A few JSON values a watcher keeps across triggerer restarts, under one key of each
    watched asset's state store (Airflow 3.3+). Without a store (``dag.test()``, tests,
    older Airflow) it lives in memory only; its errors are logged, never raised."""

    def __init__(self, trigger: BaseEventTrigger, key: str, log: Any) -> None:
        self._trigger = trigger
        self.key = key
        self._log = log
        self._saved: Any = None

    def _accessors(self) -> list[Any]:
        store = getattr(self._trigger, "asset_state_store", None)
        if store is None:
            return []
        # One watched asset: the store itself. Several (identical watchers of two assets
        # share one trigger): Airflow offers no public way to list them, so the accessors of
        # each asset are read from the store's own tables.
        per_asset = [
            *getattr(store, "_by_name", {}).values(),
            *getattr(store, "_by_uri", {}).values(),
        ]
        return per_asset if len(per_asset) > 1 else [store]

    async def load(self) -> dict[str, Any]:
        """What was saved last (``{}`` if nothing)."""
        for accessor in self._accessors():
            try:
                value = await asyncio.wait_for(accessor.aget(self.key), MEMORY_TIMEOUT)
            except Exception as exc:
                self._log.warning("Could not read the asset state store: %s", exc)
                continue
            finally:
                raise_if_cancelled()
            if isinstance(value, dict):
                self._saved = value
                return dict(value)
        return {}

    async def save(self, value: dict[str, Any]) -> None:
        """Save ``value`` unless it is what was saved last."""
        if value == self._saved:
            return
        for accessor in self._accessors():
            try:
                await asyncio.wait_for(accessor.aset(self.key, value), MEMORY_TIMEOUT)
            except Exception as exc:
                self._log.warning("Could not write the asset state store: %s", exc)
            raise_if_cancelled()
        self._saved = value


class AspEventTrigger(BaseEventTrigger):
    """What the event triggers share: the processor, the connection, the pooled client, the
    state log and errors watched through.

    :param processor_name: the stream processor to watch (it need not exist yet).
    :param asp_conn_id: the ``asp`` connection.
    :param poll_interval: seconds between two looks.
    """

    kind: ClassVar[str]
    default_poll_interval: ClassVar[float] = 5.0

    def __init__(
        self,
        *,
        processor_name: str,
        asp_conn_id: str = "asp_default",
        poll_interval: float | None = None,
    ) -> None:
        super().__init__()
        with _refused():
            # Checked here, without the client's own check: that would import pymongo into
            # every parse of the DAG file.
            if not isinstance(processor_name, str) or not processor_name.strip():
                raise AspInputError(
                    f"processor_name must be a non-empty string, not {processor_name!r}."
                )
            if not isinstance(asp_conn_id, str) or not asp_conn_id.strip():
                raise AspInputError(f"asp_conn_id must be a non-empty string, not {asp_conn_id!r}.")
            interval = self.default_poll_interval if poll_interval is None else poll_interval
            self.poll_interval = arguments.seconds(interval, "poll_interval")
        self.processor_name = processor_name
        self.asp_conn_id = asp_conn_id
        self._lease: ClientLease | None = None
        self._errors = 0
        self._said: str | None = None

    # -- what each trigger defines --------------------------------------------------------
    def own_kwargs(self) -> dict[str, Any]:
        """This trigger's kwargs beyond the processor, the connection and the interval."""
        return {}

    def semantics(self) -> dict[str, Any]:
        """What the trigger watches for (its memory is kept per processor and semantics)."""
        return self.own_kwargs()

    def watch(self) -> AsyncIterator[TriggerEvent]:
        raise NotImplementedError

    # -- Airflow's side -------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "processor_name": self.processor_name,
            "asp_conn_id": self.asp_conn_id,
            "poll_interval": self.poll_interval,
            **self.own_kwargs(),
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch until cancelled; yields an event each time the processor does what is
        watched for. Never returns on its own: even an unexpected error only restarts the
        watch, after a pause."""
        self.log.info(
            "Watching stream processor %r (%s) through connection %r.",
            self.processor_name,
            self.describe(),
            self.asp_conn_id,
        )
        try:
            while True:
                try:
                    async for event in self.watch():
                        yield event
                except Exception as exc:
                    self.log.exception("Unexpected error watching %r.", self.processor_name)
                    await self.after_error(exc, "watching")
        finally:
            await self._release()

    async def cleanup(self) -> None:
        """Give back this trigger's share of the pooled client."""
        await self._release()

    def describe(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.own_kwargs().items())

    def memory(self) -> TriggerMemory:
        key = rules.memory_key(self.kind, self.processor_name, self.semantics())
        return TriggerMemory(self, key, self.log)

    # -- reading, and errors watched through ----------------------------------------------
    async def _lease_processors(self) -> tuple[AsyncStreamProcessors, float | None]:
        if self._lease is None:
            from airflow_provider_asp.hooks.asp import AspHook

            self._lease = await AspHook(asp_conn_id=self.asp_conn_id).alease_shared_conn()
        return self._lease.processors, self._lease.settings.command_timeout

    async def _release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()

    async def attempt(
        self, doing: str, action: Callable[[AsyncStreamProcessors], Awaitable[T]]
    ) -> tuple[bool, T | None]:
        """``(True, action(processors))``, each command bounded by the connection's socket
        timeout; on any error, ``(False, None)`` after logging it and pausing."""
        import pymongo

        from asp_core.waiting.deadline import command_bound

        try:
            processors, command_timeout = await self._lease_processors()
            with pymongo.timeout(command_bound(None, command_timeout)):
                value = await action(processors)
        except Exception as exc:
            await self.after_error(exc, doing)
            return False, None
        raise_if_cancelled()
        self._errors = 0
        return True, value

    async def after_error(self, exc: BaseException, doing: str) -> None:
        """Log the error (in plain words, without the password) and pause: 1 s, doubling
        with each error in a row, at most a minute. The trigger never ends on an error."""
        from asp_core.diagnosis import describe_failure, is_connection_problem
        from asp_core.stream_processing.sampling import Backoff
        from asp_core.waiting.verdict import describe_error, transient

        raise_if_cancelled()
        self._errors = min(self._errors + 1, IDLE_POLLS_CAP)
        delay = Backoff(ERROR_PAUSE[0], ERROR_PAUSE[1]).delay(self._errors)
        settings = None if self._lease is None else self._lease.settings
        if transient(self.processor_name, exc) is not None:
            text = f"Transient error {doing}: {describe_error(exc)}"
            level = logging.INFO
        elif settings is not None and is_connection_problem(exc):
            text = f"Connection {settings.source!r}: {describe_failure(exc, settings)}"
            level = logging.WARNING
            await self._release()  # read the connection again next time
        else:
            text = f"Error {doing}: {describe_error(exc)}"
            level = logging.WARNING
        if settings is not None:
            text = settings.scrub(text)
        self.log.log(
            level, "%s Still watching %r; next try in %.1f s.", text, self.processor_name, delay
        )
        self._said = None
        await asyncio.sleep(delay)

    def note_state(self, state: str | None, watching: str) -> None:
        """Log the processor's state when it changes: missing, running or not."""
        name = self.processor_name
        if state is None:
            message = (
                f"Stream processor {name!r} does not exist (not created yet, or dropped); "
                "still watching for it."
            )
        elif not state:
            message = f"Stream processor {name!r} exists: watching {watching}."
        elif states.is_running(state):
            message = f"Stream processor {name!r} is {state}: watching {watching}."
        else:
            message = f"Stream processor {name!r} is {state}; still watching {watching}."
        if message != self._said:
            self._said = message
            self.log.info("%s", message)


def _find(name: str) -> Callable[[AsyncStreamProcessors], Awaitable[StreamProcessorInfo | None]]:
    from asp_core.waiting import asynchronous

    async def find(processors: AsyncStreamProcessors) -> StreamProcessorInfo | None:
        return await asynchronous.find(processors, name)

    return find


class AspProcessorOutputEventTrigger(AspEventTrigger):
    """Emits an asset event for documents of the processor's output that satisfy ``match``
    and ``check_fn``, in batches.

    It follows the output through the sample protocol (a tap, not a replay: documents the
    processor emits while no cursor is open, e.g. while the triggerer restarts, are not
    seen). A batch goes out when it holds ``max_batch`` documents, ``max_wait`` seconds after
    its first document, or before its payload would pass ``max_payload_bytes``. Payload:
    ``{"kind": "output", "processor_name", "documents": [...JSON...], "count", "oversized",
    "sent_at"}``; ``oversized`` counts matching documents left out because alone they are
    larger than the payload may be.

    :param match: a MongoDB query document the documents must satisfy (plain JSON).
    :param check_fn: the dotted path of ``fn(document) -> bool`` (importable by the
        triggerer), applied to the JSON form of each matching document.
    :param max_batch: documents per event at most (1 to 10,000).
    :param max_wait: seconds a batch waits for more documents after its first.
    :param max_payload_bytes: size of an event's payload as JSON at most (1 KiB to 1 MiB).
    :param include_dlq: also consider the ``_dlqMessage`` documents a sample carries.
    :param poll_interval: the longest pause between two polls of a quiet cursor (polls
        right after a non-empty one are immediate; pauses grow from 50 ms). While the
        processor is not running it is looked at every 5 s.
    """

    kind = "output"
    default_poll_interval = 1.0

    def __init__(
        self,
        *,
        match: Mapping[str, Any] | None = None,
        check_fn: str | None = None,
        max_batch: int = 100,
        max_wait: float = 5.0,
        max_payload_bytes: int = rules.DEFAULT_PAYLOAD_BYTES,
        include_dlq: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with _refused():
            if match is not None:
                check_query(rules.plain_json(match, "match"))
            self.match = None if match is None else dict(match)
            self.check_fn = None if check_fn is None else callable_path(check_fn)
            self.max_batch = arguments.integer(
                max_batch, "max_batch", minimum=1, maximum=rules.MAX_BATCH_LIMIT
            )
            self.max_wait = arguments.seconds(max_wait, "max_wait")
            self.max_payload_bytes = arguments.integer(
                max_payload_bytes,
                "max_payload_bytes",
                minimum=rules.MIN_PAYLOAD_BYTES,
                maximum=rules.MAX_PAYLOAD_BYTES,
            )
            if not isinstance(include_dlq, bool):
                raise AspInputError(f"include_dlq must be True or False, not {include_dlq!r}.")
            self.include_dlq = include_dlq
        self._check: Callable[[Any], Any] | None = None
        self._sent: collections.deque[str] = collections.deque(maxlen=rules.REPLAY_MEMORY)
        self._saved_at = 0.0
        self._unsaved = False

    def own_kwargs(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "check_fn": self.check_fn,
            "max_batch": self.max_batch,
            "max_wait": self.max_wait,
            "max_payload_bytes": self.max_payload_bytes,
            "include_dlq": self.include_dlq,
        }

    def semantics(self) -> dict[str, Any]:
        return {"match": self.match, "check_fn": self.check_fn, "include_dlq": self.include_dlq}

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        from asp_core.waiting.matching import resolve_callable

        memory = self.memory()
        remembered = (await memory.load()).get("sent", [])
        self._sent.extend(str(item) for item in remembered if isinstance(item, str))
        guard = rules.ReplayGuard(rules.SeenDocuments(digests=self._sent))
        batch = rules.Batch(self.max_batch, self.max_wait, self.max_payload_bytes)
        self._check = None if self.check_fn is None else resolve_callable(self.check_fn)
        find = _find(self.processor_name)
        while True:
            ok, info = await self.attempt("looking at the processor", find)
            if not ok:
                continue
            self.note_state(None if info is None else info.state, "its output")
            if info is None or not states.is_running(info.state):
                if batch.pending:
                    yield self._event(batch.take())
                await self._remember(memory, force=True)
                await asyncio.sleep(STATE_LOOK_INTERVAL)
                continue
            ok, cursor = await self.attempt("opening a sample cursor", self._cursor)
            if not ok or cursor is None:
                continue
            guard.new_cursor()
            try:
                async for event in self._follow(cursor, guard, batch, memory):
                    yield event
            finally:
                await cursor.close()
            await asyncio.sleep(self.poll_interval)  # the cursor ended: look again, calmly

    async def _cursor(self, processors: AsyncStreamProcessors) -> AsyncSampleCursor:
        """A sample cursor (nothing is sent before its first poll)."""
        return processors.get(self.processor_name).sample(batch_size=SAMPLE_BATCH)

    async def _follow(
        self,
        cursor: AsyncSampleCursor,
        guard: rules.ReplayGuard,
        batch: rules.Batch,
        memory: TriggerMemory,
    ) -> AsyncIterator[TriggerEvent]:
        """Poll the cursor until it ends or fails; the events its documents make."""
        import pymongo

        from asp_core.stream_processing.sampling import Backoff
        from asp_core.waiting.deadline import command_bound
        from asp_core.waiting.verdict import transient

        idle = Backoff(initial=0.05, maximum=self.poll_interval, factor=2.0)
        command_timeout = None if self._lease is None else self._lease.settings.command_timeout
        empty = told = 0
        while True:
            try:
                with pymongo.timeout(command_bound(None, command_timeout)):
                    documents = await cursor.next_batch()
            except Exception as exc:
                await self.after_error(exc, "reading the sample")
                if transient(self.processor_name, exc) is not None:
                    continue  # the cursor is still good: the same getMore again
                return  # it stopped, failed or went away: look at it again
            raise_if_cancelled()
            self._errors = 0
            now = time.monotonic()
            for document in documents:
                for ready in self._take(document, guard, batch, now):
                    yield self._event(ready)
            if guard.skipped > told:
                self.log.info(
                    "Skipped %d document(s) the new sample cursor handed out again.",
                    guard.skipped - told,
                )
                told = guard.skipped
            if batch.due(now):
                yield self._event(batch.take())
            if not cursor.alive:
                if batch.pending:
                    yield self._event(batch.take())
                return
            await self._remember(memory)
            if documents:
                empty = 0
                await asyncio.sleep(0)
                continue
            empty = min(empty + 1, IDLE_POLLS_CAP)
            pause = idle.delay(empty)
            left = batch.wait_left(time.monotonic())
            await asyncio.sleep(pause if left is None else min(pause, left))

    def _take(
        self, document: Mapping[str, Any], guard: rules.ReplayGuard, batch: rules.Batch, now: float
    ) -> list[rules.Batch]:
        """Batches that ``document`` completes (none if it is a replay or does not match)."""
        from asp_core.waiting.matching import matches

        plain = to_jsonable(document)
        encoded = rules.canonical(plain)
        if guard.is_replay(rules.digest(plain, encoded)):
            return []
        if "_dlqMessage" in document and not self.include_dlq:
            return []
        if self.match is not None and not matches(self.match, document):
            return []
        if self._check is not None:
            try:
                if not self._check(plain):
                    return []
            except Exception as exc:
                self.log.warning(
                    "check_fn %s failed on a document, which is left out: %s", self.check_fn, exc
                )
                return []
        return batch.add(plain, now, size=len(encoded))

    def _event(self, batch: rules.Batch) -> TriggerEvent:
        self._sent.extend(rules.digest(document) for document in batch.documents)
        self._unsaved = True
        self.log.info(
            "%d matching document(s) of %r: sending an event.",
            len(batch.documents) + batch.oversized,
            self.processor_name,
        )
        if batch.oversized:
            self.log.warning(
                "%d matching document(s) of %r are larger than max_payload_bytes=%d: the "
                "event counts them in 'oversized' but does not carry them.",
                batch.oversized,
                self.processor_name,
                self.max_payload_bytes,
            )
        return TriggerEvent(rules.output_payload(self.processor_name, batch, sent_at=_now_iso()))

    async def _remember(self, memory: TriggerMemory, *, force: bool = False) -> None:
        """Save the digests of the documents sent lately (at most every 2 s), so that a
        restarted trigger skips them if a new cursor hands them out again."""
        now = time.monotonic()
        if self._unsaved and (force or now - self._saved_at >= MEMORY_SAVE_INTERVAL):
            self._unsaved, self._saved_at = False, now
            await memory.save({"sent": list(self._sent)})


class AspProcessorStateEventTrigger(AspEventTrigger):
    """Emits an asset event each time the processor enters one of ``states``.

    A transition is known by its state and ``lastStateChange``: one failure is one event,
    however often the trigger looks, and across triggerer restarts (remembered in the
    asset's state store). A processor found in a watched state on the very first look is an
    event too (nobody was told yet). Payload: ``{"kind": "state", "processor_name",
    "state", "previous_state", "last_state_change", "error_msg", "error_code",
    "error_retryable", "sent_at"}``.

    :param states: the states to tell, e.g. ``["FAILED"]`` (open strings; RUNNING means
        STARTED and ERROR means FAILED).
    :param poll_interval: seconds between two looks.
    """

    kind = "state"

    def __init__(self, *, states: Sequence[str] | str = ("FAILED",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with _refused():
            self.states = sorted(arguments.states(states, "states"))

    def own_kwargs(self) -> dict[str, Any]:
        return {"states": list(self.states)}

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        memory = self.memory()
        remembered = await memory.load()
        last_key = remembered.get("last_key")
        transitions = rules.TransitionWatch(
            frozenset(self.states), last_key=last_key if isinstance(last_key, str) else None
        )
        find = _find(self.processor_name)
        watching = f"for entries into {' or '.join(self.states)}"
        while True:
            ok, info = await self.attempt("looking at the processor", find)
            if ok:
                self.note_state(None if info is None else info.state, watching)
                changed = None
                if info is not None and info.last_state_change is not None:
                    changed = to_jsonable(info.last_state_change)
                transition = transitions.look(None if info is None else info.state, changed)
                if transition is not None and info is not None:
                    yield self._event(info, transition)
                    await memory.save({"last_key": transition.key})
                await asyncio.sleep(self.poll_interval)

    def _event(self, info: StreamProcessorInfo, transition: rules.Transition) -> TriggerEvent:
        error = f": {info.error_msg} (errorCode {info.error_code})" if info.error_msg else ""
        self.log.info(
            "Stream processor %r entered %s%s: sending an event.",
            self.processor_name,
            transition.state,
            error,
        )
        changed = info.last_state_change
        return TriggerEvent(
            {
                "kind": "state",
                "processor_name": self.processor_name,
                "state": transition.state,
                "previous_state": transition.previous_state,
                "last_state_change": None if changed is None else to_jsonable(changed),
                "error_msg": info.error_msg,
                "error_code": info.error_code,
                "error_retryable": info.error_retryable,
                "sent_at": _now_iso(),
            }
        )


class AspProcessorStatsEventTrigger(AspEventTrigger):
    """Emits an asset event when a counter of the processor's stats crosses ``threshold``
    (upwards; once per crossing) or grows by ``step`` (e.g. 100 more DLQ messages).

    Marks of ``step`` count from the first value seen; a counter that goes down (the
    processor was re-created) counts again from there. A counter already past
    ``threshold`` on the very first look is an event. What was told is remembered in the
    asset's state store. Payload: ``{"kind": "stats", "processor_name", "counter",
    "value", "previous", "reason" ("threshold" or "step"), "mark", "crossed", "threshold",
    "step", "stats", "sent_at"}``.

    :param counter: a numeric field of the stats (``dlqMessageCount``,
        ``outputMessageCount``, ``inputMessageCount``, ``kafkaTotalOffsetLag``, ...).
    :param threshold: tell when the counter reaches it.
    :param step: tell when the counter grew by it (at least 1).
    :param poll_interval: seconds between two looks.
    """

    kind = "stats"

    def __init__(
        self,
        *,
        counter: str = "dlqMessageCount",
        threshold: int | None = None,
        step: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with _refused():
            if not isinstance(counter, str) or not counter.strip():
                raise AspInputError(f"counter must be the name of a stats field, not {counter!r}.")
            if threshold is None and step is None:
                raise AspInputError("Give threshold, step or both: there is nothing to watch for.")
            self.threshold = (
                None if threshold is None else arguments.integer(threshold, "threshold", minimum=0)
            )
            self.step = None if step is None else arguments.integer(step, "step", minimum=1)
        self.counter = counter

    def own_kwargs(self) -> dict[str, Any]:
        return {"counter": self.counter, "threshold": self.threshold, "step": self.step}

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        from asp_core.waiting.conditions import count, stats_document, stats_state

        memory = self.memory()
        remembered = await memory.load()
        above, base = remembered.get("above"), remembered.get("base")
        watch = rules.CounterWatch(
            self.threshold,
            self.step,
            above=above if isinstance(above, bool) else None,
            base=base if isinstance(base, int) else None,
        )
        watching = f"its {self.counter}"
        while True:
            ok, reply = await self.attempt("reading the stats", self._stats)
            if ok:
                self.note_state(None if reply is None else stats_state(reply), watching)
                if reply is not None:
                    stats = stats_document(reply)
                    if self.counter not in stats:
                        self.log.debug(
                            "The stats of %r have no %s (yet).", self.processor_name, self.counter
                        )
                    for crossing in watch.look(count(stats, self.counter)):
                        yield self._event(crossing, stats)
                    await memory.save(watch.memory())
                await asyncio.sleep(self.poll_interval)

    async def _stats(self, processors: AsyncStreamProcessors) -> dict[str, Any] | None:
        try:
            return await processors.get(self.processor_name).stats()
        except Exception as exc:
            if states.is_not_found(exc):
                return None
            raise

    def _event(self, crossing: rules.Crossing, stats: dict[str, Any]) -> TriggerEvent:
        self.log.info(
            "%s of %r is %d (%s %d): sending an event.",
            self.counter,
            self.processor_name,
            crossing.value,
            "reached" if crossing.reason == "threshold" else "passed mark",
            crossing.mark,
        )
        return TriggerEvent(
            {
                "kind": "stats",
                "processor_name": self.processor_name,
                "counter": self.counter,
                "value": crossing.value,
                "previous": crossing.previous,
                "reason": crossing.reason,
                "mark": crossing.mark,
                "crossed": crossing.crossed,
                "threshold": self.threshold,
                "step": self.step,
                "stats": stats,
                "sent_at": _now_iso(),
            }
        )
