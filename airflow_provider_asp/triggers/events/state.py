"""The state trigger: an asset event each time a processor enters one of the watched states
(what a transition is: :class:`asp_core.event_rules.TransitionWatch`).

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_asp.triggers.events.watcher import AspEventTrigger, finder, now_iso, refused
from asp_core import arguments
from asp_core import event_rules as rules

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo

__all__ = ["AspProcessorStateEventTrigger"]


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
    own = ("states",)

    def __init__(self, *, states: Sequence[str] | str = ("FAILED",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with refused():
            self.states = sorted(arguments.states(states, "states"))

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        memory = self.memory()
        transitions = rules.TransitionWatch.restored(self.states, await memory.load())
        find = finder(self.processor_name)
        watching = f"for entries into {' or '.join(self.states)}"
        while True:
            ok, info = await self.attempt("looking at the processor", find)
            if ok:
                self.note_state(None if info is None else info.state, watching)
                transition = transitions.look_at(info)
                if transition is not None and info is not None:
                    yield self._event(info, transition)
                    await memory.save(transitions.memory())
                await asyncio.sleep(self.poll_interval)

    def _event(self, info: StreamProcessorInfo, transition: rules.Transition) -> TriggerEvent:
        error = f": {info.error_msg} (errorCode {info.error_code})" if info.error_msg else ""
        self.log.info(
            "Stream processor %r entered %s%s: sending an event.",
            self.processor_name,
            transition.state,
            error,
        )
        payload = rules.state_payload(self.processor_name, transition, info, sent_at=now_iso())
        return TriggerEvent(payload)
