"""Running sensors, operators and triggers as Airflow does, without a DAG run: ``execute()``;
on deferral, the trigger rebuilt from ``serialize()`` through Airflow's serde (as the
triggerer does), run to its one event, and the task resumed with that event through
``resume_execution`` (as the task runner does)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow.triggers.base import BaseTrigger, TriggerEvent

#: Fast waits for tests: look every 50 ms, give up after 5 s.
FAST: dict[str, Any] = {"poke_interval": 0.05, "timeout": 5}
MODES = ("poke", "deferrable")


def rebuilt(trigger: BaseTrigger) -> BaseTrigger:
    """The trigger as the triggerer builds it: classpath and kwargs through serde."""
    from airflow.sdk.serde import deserialize, serialize

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    restored = deserialize(serialize(kwargs))
    assert isinstance(restored, dict)
    return cls(**restored)


async def only_event(trigger: BaseTrigger) -> TriggerEvent:
    """The trigger's event; asserts it yields exactly one and then returns."""
    events = trigger.run()
    try:
        event = await events.__anext__()
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()
    finally:
        await trigger.cleanup()
    return event


def run_task(task: Any, *, defers: bool | None = None) -> Any:
    """``task.execute({})``; when it defers, the trigger's event resumes it. ``defers``:
    whether it must defer (None: either)."""
    try:
        result = task.execute({})
    except TaskDeferred as deferred:
        if defers is False or deferred.timeout is None:
            raise AssertionError(f"unexpected deferral (timeout {deferred.timeout})") from None
        event = asyncio.run(only_event(rebuilt(deferred.trigger)))
        kwargs = {**(deferred.kwargs or {}), "event": event.payload}
        return task.resume_execution(deferred.method_name, kwargs, {})
    if defers:
        raise AssertionError("the task did not defer")
    return result


def run_deferring(task: Any) -> tuple[Any, list[TaskDeferred]]:
    """Run ``task`` as Airflow does through every deferral (each trigger rebuilt and run to
    its event, the task resumed with it); returns the result and the deferrals, in order."""
    deferrals: list[TaskDeferred] = []
    method: str | None = None
    kwargs: dict[str, Any] = {}
    while len(deferrals) < 10:
        try:
            if method is None:
                return task.execute({}), deferrals
            return task.resume_execution(method, kwargs, {}), deferrals
        except TaskDeferred as raised:
            deferrals.append(raised)
        deferred = deferrals[-1]
        if deferred.timeout is None:
            raise AssertionError("a deferral without a timeout")
        event = asyncio.run(only_event(rebuilt(deferred.trigger)))
        method = deferred.method_name
        kwargs = {**(deferred.kwargs or {}), "event": event.payload}
    raise AssertionError("deferring without end")


def in_mode(mode: str) -> dict[str, Any]:
    """Sensor arguments of a mode of :data:`MODES`."""
    return {"deferrable": mode == "deferrable", **FAST}
