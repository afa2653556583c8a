"""1,000 state triggers for 1,000 processors in one event loop, as in one triggerer.

Each trigger waits for its own CREATED processor to be STARTED. Reports the connections
the workspace accepted while they ran (pooled: one client for the connection), the memory
the process added (RSS), the time of the first polling round (all 1,000 looks at once,
cold: connection lookups, TLS handshakes, authentication), how far the second round's
looks spread (each pause is the poll interval +-10 %, so triggers drift apart on purpose),
the longest stall of the event loop in the first round and after it, the longest pause of
the garbage collector (``--gc-freeze`` freezes the imported modules first, as Airflow's DAG
processor does), and the time from starting every processor to the last event. The
emulator runs in a process of its own, so the figures are the triggers' alone. A script,
not a test.
"""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home when first imported: a private one, before any airflow import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-bench-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # not 2,000 lines of waiting

import argparse
import asyncio
import atexit
import gc
import json
import multiprocessing
import shutil
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import psutil  # type: ignore[import-untyped]
from pymongo import monitoring

# The private AIRFLOW_HOME goes when the process ends (children too).
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

GOALS = "goals: connections bounded by the pool, < 150 MB added, a round < 2 s on 2 cores"


class GcPauses:
    """The longest pause of Python's cyclic garbage collector (it stops the loop too)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


class Looks(monitoring.CommandListener):
    """When each getStreamProcessor reply arrived (any client of this process)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "getStreamProcessor":
            with self._lock:
                self.times.append(time.perf_counter())

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark stalled")
        await asyncio.sleep(0.01)


async def stalls(stop: asyncio.Event, worst: list[float]) -> None:
    """The longest time the loop took to come back to a 10 ms sleep."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.01)


async def bench(workspace: Connection, count: int, poll: float, looks: Looks) -> dict[str, Any]:
    from airflow_provider_asp.hooks.client_pool import shared_clients
    from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger

    process = psutil.Process()
    rss0, accepted0 = process.memory_info().rss, ask(workspace, "accepted")
    end_time = time.time() + 600
    triggers = [
        AspProcessorStateTrigger(processor_name=f"bench{i}", end_time=end_time, poll_interval=poll)
        for i in range(count)
    ]
    stop, worst = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(stalls(stop, worst))
    t0 = time.perf_counter()
    runs = [asyncio.create_task(first_event(trigger)) for trigger in triggers]
    await until(lambda: len(looks.times) >= count)
    cold, cold_stall, worst[0] = looks.times[count - 1] - t0, worst[0], 0.0
    await until(lambda: len(looks.times) >= 2 * count)
    second = looks.times[count : 2 * count]
    warm = second[-1] - second[0]
    leases = shared_clients()
    rss1, accepted1 = process.memory_info().rss, ask(workspace, "accepted")
    t1 = time.perf_counter()
    await asyncio.to_thread(ask, workspace, "start_all")
    events = await asyncio.gather(*runs)
    fired = time.perf_counter() - t1
    for trigger in triggers:
        await trigger.cleanup()
    stop.set()
    await ticker
    return {
        "triggers": count,
        "poll_interval_s": poll,
        "pooled_clients": len(leases),
        "leases_per_client": sorted(leases.values()),
        "connections_opened": accepted1 - accepted0,
        "memory_added_mb": round((rss1 - rss0) / 2**20, 1),
        "first_round_s": round(cold, 3),
        "second_round_spread_s": round(warm, 3),
        "max_loop_stall_first_round_ms": round(cold_stall * 1000, 1),
        "max_loop_stall_after_ms": round(worst[0] * 1000, 1),
        "start_all_to_last_event_s": round(fired, 3),
        "events": sorted({event.payload["status"] for event in events}),
        "clients_left": len(shared_clients()),
    }


async def first_event(trigger: Any) -> Any:
    return await anext(trigger.run())


def ask(workspace: Connection, request: str) -> Any:
    workspace.send(request)
    return workspace.recv()


def serve_workspace(conn: Connection, count: int) -> None:
    """The emulator's process: ``count`` CREATED processors, then answer requests."""
    from airflow_provider_asp.stream_processing import StreamProcessingClient
    from asp_emulator import Workspace

    stages: list[dict[str, Any]] = [
        {"$source": {"documents": []}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    with Workspace() as ws, StreamProcessingClient(ws.uri) as client:
        processors = client.stream_processors()
        for i in range(count):
            processors.create(f"bench{i}", stages)
        conn.send(ws.airflow_connection())
        while (request := conn.recv()) != "stop":
            if request == "start_all":
                for i in range(count):
                    processors.get(f"bench{i}").start()
            conn.send(ws.connections_accepted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() the imported modules first"
    )
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    emulator = multiprocessing.get_context("spawn").Process(
        target=serve_workspace, args=(theirs, args.count)
    )
    emulator.start()
    try:
        os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = json.dumps(ours.recv())
        looks = Looks()
        monitoring.register(looks)
        import airflow_provider_asp.hooks.asp
        import airflow_provider_asp.triggers.asp  # noqa: F401

        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        pauses = GcPauses()
        figures = asyncio.run(bench(ours, args.count, args.poll_interval, looks))
        figures["longest_gc_pause_ms"] = round(pauses.longest * 1000, 1)
        figures["gc_freeze"] = args.gc_freeze
    finally:
        ours.send("stop")
        emulator.join(30)
    print(json.dumps(figures, indent=2))
    print(GOALS)


if __name__ == "__main__":
    main()
