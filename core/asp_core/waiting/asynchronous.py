"""One look at a processor for a condition, and the bounded wait.

Written once for the asyncio client (the triggers); ``tools/synchro.py`` generates the twin
for the blocking client (operators' waits in the worker, sensors' pokes), so a wait is judged
the same way in every mode.

- :func:`look` reads what the condition needs (its ``read``: one reader here per kind of
  read, :data:`READERS`) and has the condition judge it. A transient error (network, a
  retryable code or label, a command that ran out of its share of the deadline) is a pending
  verdict: it costs one look, never the wait. Any other error is raised.
- :func:`wait` looks until the verdict is decided or the absolute ``deadline`` passes; every
  command is bounded by what is left of the deadline (pymongo's client-side operation timeout),
  never more than the connection's socket timeout (:func:`~.deadline.command_bound`), so a
  silent server costs at most the deadline plus a second.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.errors import OperationFailure

from asp_core.stream_processing import SampleCursorTimeout
from asp_core.waiting import states
from asp_core.waiting.conditions import (
    Condition,
    JudgesInfo,
    JudgesSample,
    JudgesStats,
    Read,
    stats_state,
)
from asp_core.waiting.deadline import command_bound, raise_if_cancelled
from asp_core.waiting.verdict import Verdict, describe_error, timed_out, transient

if TYPE_CHECKING:
    from asp_core.stream_processing import (
        AsyncStreamProcessors,
        StreamProcessorInfo,
    )

#: Each pause between looks is ``poll_interval`` less up to this fraction, so that waits
#: started together do not stay in step, and none looks less often than ``poll_interval``.
POLL_JITTER = 0.1


async def find(processors: AsyncStreamProcessors, name: str) -> StreamProcessorInfo | None:
    """The processor, or None if it does not exist."""
    try:
        return await processors.get_info(name)
    except Exception as exc:
        if states.is_not_found(exc):
            return None
        raise


async def look(
    condition: Condition,
    processors: AsyncStreamProcessors,
    *,
    deadline: float | None = None,
    command_timeout: float | None = None,
) -> Verdict:
    """One look for ``condition``; the look bounded by the absolute ``deadline`` (seconds
    since the epoch) and the ``command_timeout`` (see :func:`~.deadline.command_bound`).
    Transient errors give a pending verdict; any other error is raised."""
    try:
        with pymongo.timeout(command_bound(deadline, command_timeout)):
            return await _read_and_judge(condition, processors)
    except Exception as exc:
        verdict = transient(condition.processor_name, exc)
        if verdict is None:
            raise
        return verdict


async def wait(
    condition: Condition,
    processors: AsyncStreamProcessors,
    *,
    deadline: float,
    poll_interval: float,
    command_timeout: float | None = None,
    on_pending: Callable[[Verdict], Any] | None = None,
) -> Verdict:
    """Look every ``poll_interval`` seconds until the verdict is decided or ``deadline``
    (seconds since the epoch) passes: then a ``timeout`` failure that tells the last look.
    ``on_pending`` hears each pending verdict whose message differs from the last one."""
    name, last = condition.processor_name, None
    while True:
        try:
            verdict = await look(
                condition, processors, deadline=deadline, command_timeout=command_timeout
            )
        except Exception as exc:
            if time.time() < deadline:
                raise
            # the last look ran into the deadline (e.g. server selection cut short by it)
            return timed_out(name, Verdict.pending(name, describe_error(exc)))
        raise_if_cancelled()
        if verdict.done:
            return verdict
        if on_pending is not None and (last is None or verdict.message != last.message):
            on_pending(verdict)
        last = verdict
        remaining = deadline - time.time()
        if remaining <= 0:
            return timed_out(name, last)
        pause = poll_interval * random.uniform(1 - POLL_JITTER, 1)
        await asyncio.sleep(min(pause, remaining))


async def _read_and_judge(condition: Condition, processors: AsyncStreamProcessors) -> Verdict:
    verdict: Verdict = await READERS[condition.read](condition, processors)
    return verdict


async def _info(condition: JudgesInfo, processors: AsyncStreamProcessors) -> Verdict:
    """Read the processor's info (None if it does not exist)."""
    return condition.judge(await find(processors, condition.processor_name))


async def _sample(condition: JudgesSample, processors: AsyncStreamProcessors) -> Verdict:
    """Gate on the state, read one sample cursor, judge what matched."""
    name, found = condition.processor_name, list[Any]()
    verdict = condition.gate(await find(processors, name))
    if verdict is not None:
        return verdict
    cursor = processors.get(name).sample(limit=condition.limit, timeout=condition.sample_timeout)
    try:
        async with cursor:
            async for document in cursor:
                if condition.take(found, document):
                    break
    except SampleCursorTimeout:
        pass
    except OperationFailure:  # it stopped, failed or went away meanwhile?
        verdict = condition.gate(await find(processors, name))
        if verdict is not None:
            return verdict
        raise
    if cursor.cursor_id == 0 and len(found) < condition.min_documents:
        # The cursor ended short: the processor may have stopped or failed meanwhile.
        verdict = condition.gate(await find(processors, name))
        if verdict is not None:
            return verdict
    return condition.judge(found)


async def _stats(condition: JudgesStats, processors: AsyncStreamProcessors) -> Verdict:
    """Read the stats; a FAILED processor (confirmed by its info) fails the wait."""
    name = condition.processor_name
    try:
        reply: dict[str, Any] | None = await processors.get(name).stats()
    except Exception as exc:
        if not states.is_not_found(exc):
            raise
        reply = None
    if reply is not None and states.is_failed(stats_state(reply)):
        info = await find(processors, name)
        if info is not None and states.is_failed(info.state):
            return Verdict.processor_failed(info)
    return condition.judge(reply)


#: The reader of each kind of read: it reads what the condition needs and has it judge.
READERS: dict[Read, Callable[[Any, AsyncStreamProcessors], Any]] = {
    Read.INFO: _info,
    Read.SAMPLE: _sample,
    Read.STATS: _stats,
}
