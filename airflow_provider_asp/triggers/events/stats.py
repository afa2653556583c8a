"""The stats trigger: an asset event when a counter of a processor's stats crosses a
threshold or grows by a step (what a crossing is: :class:`asp_core.event_rules.CounterWatch`).

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_asp.triggers.events.watcher import AspEventTrigger, now_iso, refused
from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.waiting import states

if TYPE_CHECKING:
    from asp_core.stream_processing import AsyncStreamProcessors

__all__ = ["AspProcessorStatsEventTrigger"]


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
    own = ("counter", "threshold", "step")

    def __init__(
        self,
        *,
        counter: str = "dlqMessageCount",
        threshold: int | None = None,
        step: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with refused():
            if not isinstance(counter, str) or not counter.strip():
                raise AspInputError(f"counter must be the name of a stats field, not {counter!r}.")
            if threshold is None and step is None:
                raise AspInputError("Give threshold, step or both: there is nothing to watch for.")
            self.threshold = (
                None if threshold is None else arguments.integer(threshold, "threshold", minimum=0)
            )
            self.step = None if step is None else arguments.integer(step, "step", minimum=1)
        self.counter = counter

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        from asp_core.waiting.conditions import count, stats_document, stats_state

        memory = self.memory()
        watch = rules.CounterWatch.restored(self.threshold, self.step, await memory.load())
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
                        yield self._event(watch, crossing, stats)
                    await memory.save(watch.memory())
                await asyncio.sleep(self.poll_interval)

    async def _stats(self, processors: AsyncStreamProcessors) -> dict[str, Any] | None:
        try:
            return await processors.get(self.processor_name).stats()
        except Exception as exc:
            if states.is_not_found(exc):
                return None
            raise

    def _event(
        self, watch: rules.CounterWatch, crossing: rules.Crossing, stats: dict[str, Any]
    ) -> TriggerEvent:
        self.log.info(
            "%s of %r is %d (%s %d): sending an event.",
            self.counter,
            self.processor_name,
            crossing.value,
            "reached" if crossing.reason == "threshold" else "passed mark",
            crossing.mark,
        )
        payload = rules.stats_payload(
            self.processor_name, self.counter, watch, crossing, stats, sent_at=now_iso()
        )
        return TriggerEvent(payload)
