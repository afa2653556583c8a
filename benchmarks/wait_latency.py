"""From a processor's change to the task's end: how long each kind of wait takes to notice.

For each wait (start and stop operators, the state, sample and stats sensors), in the worker
and deferred (the trigger run to its event in this process, as the triggerer runs it), the
emulator makes the change happen at a moment it records (a start or stop that takes
``DELAY`` seconds, or a document fed), and the script reports the time from that moment to
the task's return. Poll interval 1 s; every figure should be below it plus a little. A
script, not a test.
"""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home when first imported: a private one, before any airflow import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-bench-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

import atexit
import json
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from asp_emulator import Workspace

atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

POLL = 1.0
DELAY = 1.5
ROUNDS = 5


def changed_at(ws: Workspace, name: str, state: str) -> Callable[[], float]:
    """Start watching ``name`` for ``state`` (every 2 ms, in a thread); the returned function
    gives the moment it was first seen (after the task ended)."""
    seen: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ws.processors().get(name) == state:
                seen.append(time.monotonic())
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def moment() -> float:
        thread.join(60)
        return seen[0]

    return moment


def run(task: Any, deferred: bool) -> Any:
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    try:
        return task.execute({})
    except TaskDeferred as deferral:
        if not deferred:
            raise
        trigger, method, extra = deferral.trigger, deferral.method_name, deferral.kwargs

    async def event() -> Any:
        events = trigger.run()
        try:
            return await events.__anext__()
        finally:
            await trigger.cleanup()

    payload = asyncio.run(event()).payload
    return task.resume_execution(method, {**(extra or {}), "event": payload}, {})


def measure(ws: Workspace, kind: str, deferred: bool, index: int) -> float:
    """One round: seconds from the change to the task's end."""
    from airflow_provider_asp.operators.asp import (
        AspStartProcessorOperator,
        AspStopProcessorOperator,
    )
    from airflow_provider_asp.sensors.asp import (
        AspProcessorSampleSensor,
        AspProcessorStateSensor,
        AspProcessorStatsSensor,
    )
    from asp_core.stream_processing import StreamProcessingClient

    name = f"{kind.replace(' ', '_')}_{'d' if deferred else 'w'}_{index}"
    common: dict[str, Any] = {"task_id": "t", "processor_name": name, "deferrable": deferred}
    feed_name = f"feed_{name}"  # a connection of its own: nothing fed before
    ws.add_connection(feed_name)
    pipeline = [
        {"$source": {"connectionName": feed_name}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    with StreamProcessingClient(ws.uri) as client:
        sps = client.stream_processors()
        sps.create(name, pipeline)
        if kind in ("stop operator", "state sensor", "sample sensor", "stats sensor"):
            ws.set_transition_delay(0)
            sps.get(name).start()
        ws.set_transition_delay(DELAY)
        task: Any
        if kind == "start operator":
            moment = changed_at(ws, name, "STARTED")
            task = AspStartProcessorOperator(poll_interval=POLL, **common)
        elif kind == "stop operator":
            moment = changed_at(ws, name, "STOPPED")
            task = AspStopProcessorOperator(poll_interval=POLL, **common)
        elif kind == "state sensor":
            moment = changed_at(ws, name, "STOPPED")
            task = AspProcessorStateSensor(
                target_states=["STOPPED"], poke_interval=POLL, timeout=60, **common
            )
            threading.Timer(0.5, lambda: sps.get(name).stop()).start()
        else:
            fed: list[float] = []

            def feed() -> None:
                fed.append(time.monotonic())
                ws.feed(feed_name, [{"n": index}])

            threading.Timer(0.5, feed).start()
            moment = lambda: fed[0]  # noqa: E731
            if kind == "sample sensor":
                task = AspProcessorSampleSensor(
                    poke_interval=POLL, timeout=60, sample_timeout=0.5, **common
                )
            else:
                task = AspProcessorStatsSensor(
                    min_output_messages=1, poke_interval=POLL, timeout=60, **common
                )
        run(task, deferred)
        ended = time.monotonic()
        took = ended - moment()
        ws.set_transition_delay(0)
        sps.get(name).drop()
    return took


def main() -> None:
    kinds = ["start operator", "stop operator", "state sensor", "sample sensor", "stats sensor"]
    results: dict[str, dict[str, float]] = {}
    with Workspace() as ws:
        os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = json.dumps(ws.airflow_connection())
        for kind in kinds:
            for deferred in (False, True):
                rounds = [measure(ws, kind, deferred, i) for i in range(ROUNDS)]
                label = f"{kind}, {'deferred' if deferred else 'in the worker'}"
                results[label] = {
                    "median_s": round(statistics.median(rounds), 3),
                    "max_s": round(max(rounds), 3),
                }
                print(
                    f"{label:40} median {statistics.median(rounds):.3f} s, max {max(rounds):.3f} s"
                )
    print(json.dumps({"poll_interval_s": POLL, "results": results}, indent=1))


if __name__ == "__main__":
    main()
