"""GENERATED from airflow_provider_asp/waiting/asynchronous.py by tools/synchro.py: do not edit.

One look at a processor for a condition, and the bounded wait, on the synchronous client.

- :func:`look` reads what the condition needs and judges it. A transient error (network, a
  retryable code or label, a command that ran out of its share of the deadline) is a pending
  verdict: it costs one look, never the wait. Any other error is raised.
- :func:`wait` looks until the verdict is decided or the absolute ``deadline`` passes; every
  command is bounded by what is left of the deadline (pymongo's client-side operation timeout),
  never more than the connection's socket timeout (:func:`~.deadline.command_bound`), so a
  silent server costs at most the deadline plus a second.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.errors import OperationFailure

from airflow_provider_asp.stream_processing import SampleCursorTimeout
from airflow_provider_asp.waiting import states
from airflow_provider_asp.waiting.conditions import (
    Condition,
    SampleCondition,
    StateCondition,
    StatsCondition,
    stats_state,
)
from airflow_provider_asp.waiting.deadline import command_bound
from airflow_provider_asp.waiting.verdict import Verdict, timed_out, transient

if TYPE_CHECKING:
    from airflow_provider_asp.stream_processing import (
        StreamProcessorInfo,
        StreamProcessors,
    )

#: Each pause between looks is ``poll_interval`` give or take this fraction, so that waits
#: started together do not stay in step.
POLL_JITTER = 0.1


def find(processors: StreamProcessors, name: str) -> StreamProcessorInfo | None:
    """The processor, or None if it does not exist."""
    try:
        return processors.get_info(name)
    except Exception as exc:
        if states.is_not_found(exc):
            return None
        raise


def look(
    condition: Condition,
    processors: StreamProcessors,
    *,
    deadline: float | None = None,
    command_timeout: float | None = None,
) -> Verdict:
    """One look for ``condition``; the look bounded by the absolute ``deadline`` (seconds
    since the epoch) and the ``command_timeout`` (see :func:`~.deadline.command_bound`).
    Transient errors give a pending verdict; any other error is raised."""
    try:
        with pymongo.timeout(command_bound(deadline, command_timeout)):
            return _read_and_judge(condition, processors)
    except Exception as exc:
        verdict = transient(condition.processor_name, exc)
        if verdict is None:
            raise
        return verdict


def wait(
    condition: Condition,
    processors: StreamProcessors,
    *,
    deadline: float,
    poll_interval: float,
    command_timeout: float | None = None,
    on_pending: Callable[[Verdict], Any] | None = None,
) -> Verdict:
    """Look every ``poll_interval`` seconds until the verdict is decided or ``deadline``
    (seconds since the epoch) passes: then a ``timeout`` failure that tells the last look.
    ``on_pending`` hears each pending verdict whose message differs from the last one."""
    last: Verdict | None = None
    while True:
        verdict = look(condition, processors, deadline=deadline, command_timeout=command_timeout)
        if verdict.done:
            return verdict
        if on_pending is not None and (last is None or verdict.message != last.message):
            on_pending(verdict)
        last = verdict
        remaining = deadline - time.time()
        if remaining <= 0:
            return timed_out(condition.processor_name, last)
        pause = poll_interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
        time.sleep(min(pause, remaining))


def _read_and_judge(condition: Condition, processors: StreamProcessors) -> Verdict:
    if isinstance(condition, StateCondition):
        return condition.judge(find(processors, condition.processor_name))
    if isinstance(condition, SampleCondition):
        return _sample(condition, processors)
    return _stats(condition, processors)


def _sample(condition: SampleCondition, processors: StreamProcessors) -> Verdict:
    """Gate on the state, read one sample cursor, judge what matched."""
    name, found = condition.processor_name, list[Any]()
    verdict = condition.gate(find(processors, name))
    if verdict is not None:
        return verdict
    cursor = processors.get(name).sample(limit=condition.limit, timeout=condition.sample_timeout)
    try:
        with cursor:
            for document in cursor:
                if condition.take(found, document):
                    break
    except SampleCursorTimeout:
        pass
    except OperationFailure:  # it stopped, failed or went away meanwhile?
        verdict = condition.gate(find(processors, name))
        if verdict is not None:
            return verdict
        raise
    if cursor.cursor_id == 0 and len(found) < condition.min_documents:
        # The cursor ended short: the processor may have stopped or failed meanwhile.
        verdict = condition.gate(find(processors, name))
        if verdict is not None:
            return verdict
    return condition.judge(found)


def _stats(condition: StatsCondition, processors: StreamProcessors) -> Verdict:
    """Read the stats; a FAILED processor (confirmed by its info) fails the wait."""
    name = condition.processor_name
    try:
        reply: dict[str, Any] | None = processors.get(name).stats()
    except Exception as exc:
        if not states.is_not_found(exc):
            raise
        reply = None
    if reply is not None and states.is_failed(stats_state(reply)):
        info = find(processors, name)
        if info is not None and states.is_failed(info.state):
            return Verdict.processor_failed(info)
    return condition.judge(reply)
