"""What the event triggers share: arguments checked when the DAG file is parsed, a watch that
never ends by itself, errors watched through with a growing pause, the processor's state
logged when it changes, and a memory in the watched assets' state store.

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_asp.triggers.base import AspTrigger
from airflow_provider_asp.triggers.state_store import TriggerMemory
from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.waiting import states
from asp_core.waiting.deadline import raise_if_cancelled

if TYPE_CHECKING:
    from asp_core.stream_processing import AsyncStreamProcessors, StreamProcessorInfo

T = TypeVar("T")

#: Pauses after errors (seconds): the first, then doubling with each error in a row, at most.
ERROR_PAUSE = (1.0, 60.0)
#: Empty polls (and errors) counted in a row, at most: the pause stopped growing long before,
#: and ``Backoff.delay`` overflows a float past about a thousand.
IDLE_POLLS_CAP = 64


class AspWatcherArgumentError(AspInputError, TypeError):
    """An event trigger's argument is invalid. A TypeError too: the triggerer reports a
    trigger whose kwargs it cannot build from as failed to inflate, and carries on."""


@contextlib.contextmanager
def refused() -> Iterator[None]:
    """Argument checks' errors, as :class:`AspWatcherArgumentError`."""
    try:
        yield
    except AspInputError as exc:
        raise AspWatcherArgumentError(str(exc)) from None


def now_iso() -> str:
    """The time now, in ISO 8601 (an event's ``sent_at``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def finder(name: str) -> Callable[[AsyncStreamProcessors], Awaitable[StreamProcessorInfo | None]]:
    """A read of the processor's info (None if it does not exist), for :meth:`attempt`."""
    from asp_core.waiting import asynchronous

    async def find(processors: AsyncStreamProcessors) -> StreamProcessorInfo | None:
        return await asynchronous.find(processors, name)

    return find


class AspEventTrigger(AspTrigger, BaseEventTrigger):
    """What the event triggers share: the processor, the connection, the pooled client, the
    state log and errors watched through.

    :param processor_name: the stream processor to watch (it need not exist yet).
    :param asp_conn_id: the ``asp`` connection.
    :param poll_interval: seconds between two looks.
    """

    kind: ClassVar[str]
    default_poll_interval: ClassVar[float] = 5.0
    serialized = ("processor_name", "asp_conn_id", "poll_interval")
    public_module = "airflow_provider_asp.triggers.events"
    #: This trigger's kwargs beyond the processor, the connection and the interval.
    own: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        processor_name: str,
        asp_conn_id: str = "asp_default",
        poll_interval: float | None = None,
    ) -> None:
        super().__init__()
        with refused():
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
        self._errors = 0
        self._said: str | None = None

    # -- what each trigger defines --------------------------------------------------------
    def own_kwargs(self) -> dict[str, Any]:
        """This trigger's kwargs beyond the processor, the connection and the interval."""
        return {name: getattr(self, name) for name in self.own}

    def more_kwargs(self) -> dict[str, Any]:
        return self.own_kwargs()

    def semantics(self) -> dict[str, Any]:
        """What the trigger watches for (its memory is kept per processor and semantics)."""
        return self.own_kwargs()

    def watch(self) -> AsyncIterator[TriggerEvent]:
        raise NotImplementedError

    # -- Airflow's side -------------------------------------------------------------------
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
            await self.release()

    def describe(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.own_kwargs().items())

    def memory(self) -> TriggerMemory:
        key = rules.memory_key(self.kind, self.processor_name, self.semantics())
        return TriggerMemory(self, key, self.log)

    # -- reading, and errors watched through ----------------------------------------------
    @property
    def command_timeout(self) -> float | None:
        """The connection's socket timeout, once leased (each command's bound)."""
        settings = self.settings
        return None if settings is None else settings.command_timeout

    async def attempt(
        self, doing: str, action: Callable[[AsyncStreamProcessors], Awaitable[T]]
    ) -> tuple[bool, T | None]:
        """``(True, action(processors))``, each command bounded by the connection's socket
        timeout; on any error, ``(False, None)`` after logging it and pausing."""
        import pymongo

        from asp_core.waiting.deadline import command_bound

        try:
            lease = await self.lease()
            with pymongo.timeout(command_bound(None, self.command_timeout)):
                value = await action(lease.processors)
        except Exception as exc:
            await self.after_error(exc, doing)
            return False, None
        raise_if_cancelled()
        self._errors = 0
        return True, value

    async def after_error(self, exc: BaseException, doing: str) -> None:
        """Log the error (in plain words, without the password) and pause: 1 s, doubling
        with each error in a row, at most a minute. The trigger never ends on an error."""
        from asp_core.stream_processing.sampling import Backoff
        from asp_core.waiting.verdict import describe_error, transient

        raise_if_cancelled()
        self._errors = min(self._errors + 1, IDLE_POLLS_CAP)
        delay = Backoff(ERROR_PAUSE[0], ERROR_PAUSE[1]).delay(self._errors)
        settings = self.settings
        problem = self.connection_problem(exc)
        if transient(self.processor_name, exc) is not None:
            text = f"Transient error {doing}: {describe_error(exc)}"
            level = logging.INFO
        elif problem is not None:
            text, level = problem, logging.WARNING
            await self.release()  # read the connection again next time
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
