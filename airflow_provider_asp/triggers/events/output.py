"""The output trigger: an asset event for documents of a processor's output that satisfy a
query and a check, in batches (what a batch is: :class:`asp_core.event_rules.Batch`).

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_asp.triggers.events.watcher import (
    IDLE_POLLS_CAP,
    AspEventTrigger,
    finder,
    now_iso,
    refused,
)
from airflow_provider_asp.triggers.state_store import TriggerMemory
from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.waiting import states
from asp_core.waiting.deadline import raise_if_cancelled
from asp_core.waiting.matching import callable_path, check_query

if TYPE_CHECKING:
    from asp_core.stream_processing import AsyncSampleCursor, AsyncStreamProcessors

__all__ = ["AspProcessorOutputEventTrigger"]

#: While the processor is not running, the trigger looks at it this often (seconds).
STATE_LOOK_INTERVAL = 5.0
#: Documents asked for by each poll of the sample cursor.
SAMPLE_BATCH = 1_000
#: The trigger writes the digests of documents it sent at most this often (seconds).
MEMORY_SAVE_INTERVAL = 2.0


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
    own = ("match", "check_fn", "max_batch", "max_wait", "max_payload_bytes", "include_dlq")

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
        with refused():
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

    def semantics(self) -> dict[str, Any]:
        return {"match": self.match, "check_fn": self.check_fn, "include_dlq": self.include_dlq}

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        from asp_core.waiting.matching import resolve_callable

        memory = self.memory()
        remembered = (await memory.load()).get("sent", [])
        self._sent.extend(str(item) for item in remembered if isinstance(item, str))
        guard = rules.ReplayGuard(rules.SeenDocuments(digests=self._sent))
        batch = rules.Batch(self.max_batch, self.max_wait, self.max_payload_bytes)
        if self.check_fn is not None:
            self._check = self._forgiving(resolve_callable(self.check_fn))
        find = finder(self.processor_name)
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
        empty = told = 0
        while True:
            try:
                with pymongo.timeout(command_bound(None, self.command_timeout)):
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
        selected = rules.select_output(
            document, guard, match=self.match, check=self._check, include_dlq=self.include_dlq
        )
        if selected is None:
            return []
        plain, size = selected
        return batch.add(plain, now, size=size)

    def _forgiving(self, check: Callable[[Any], Any]) -> Callable[[Any], bool]:
        """``check``, but one that fails leaves the document out, with a warning."""

        def checked(document: Any) -> bool:
            try:
                return bool(check(document))
            except Exception as exc:
                self.log.warning(
                    "check_fn %s failed on a document, which is left out: %s", self.check_fn, exc
                )
                return False

        return checked

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
        return TriggerEvent(rules.output_payload(self.processor_name, batch, sent_at=now_iso()))

    async def _remember(self, memory: TriggerMemory, *, force: bool = False) -> None:
        """Save the digests of the documents sent lately (at most every 2 s), so that a
        restarted trigger skips them if a new cursor hands them out again."""
        now = time.monotonic()
        if self._unsaved and (force or now - self._saved_at >= MEMORY_SAVE_INTERVAL):
            self._unsaved, self._saved_at = False, now
            await memory.save({"sent": list(self._sent)})
