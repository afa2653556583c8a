"""10,000 state waits in one event loop, as in one triggerer: what they cost and where.

Each ``AspProcessorStateTrigger`` waits for its own CREATED processor to be STARTED, looking
every ``--poll-interval`` seconds through the triggerer's pooled client (one per connection
per event loop). The emulator serves the workspace from a process of its own, so the
trigger process's figures are the triggers' alone. A script, not a test; ``--profile``
writes a cProfile of the trigger process.

Phases and figures (goals for 10,000 waits on 2 cores: connections bounded by the pool,
memory added < 300 MB, the first round < 2 s, every event within one poll interval + 2 s of
its processor's start):

- leases: every trigger's lease on the pooled client alone (connection lookup and
  settings; no network): ``leases_s``.
- first round: from starting the triggers to each one's first look done, cold: lookups,
  leases, the pool's TLS handshakes and authentications, the looks (``first_round_s``).
  Each trigger's first look is seen by its own "waiting for STARTED" log record (one per
  trigger), not by pymongo command monitoring, which would add its own cost to each look.
- steady state: ``--steady-rounds`` poll intervals of looks: looks asked per second (the
  pooled client's count; the first round's looks come back together, so the window holds
  them unevenly), commands served per second (the emulator's count), looks per round (one
  command a round, see ``asp_core/batched_reads.py``), CPU per look, the longest event-loop
  stall and GC pause, first round and after.
- state change: the emulator starts every processor, noting when each start was
  acknowledged (CLOCK_MONOTONIC, one clock for both processes); each trigger's lag is
  its event's time minus its processor's start (``lag_max_s``, ``lag_p50_s``).
- resources: connections the emulator accepted, the pooled clients and their leases,
  memory (RSS, sampled every 100 ms) added since the triggers were made, collections per
  GC generation.
"""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home when first imported: a private one, before any airflow import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-bench-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # not 10,000 lines of waiting

import argparse
import asyncio
import atexit
import cProfile
import gc
import json
import multiprocessing
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psutil  # type: ignore[import-untyped]

# The private AIRFLOW_HOME goes when the process ends (children too).
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

GOALS = (
    "goals for 10,000: connections bounded by the pool, memory added < 300 MB, "
    "first round < 2 s on 2 cores, lag_max_s <= poll interval + 2 s"
)
PHASE_TIMEOUT = 600.0


class GcPauses:
    """The longest pause of Python's cyclic garbage collector (it stops the loop too),
    and how many collections of each generation ran."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.total = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.longest = max(self.longest, pause)
        self.total += pause
        self.collections[info["generation"]] += 1

    def reset(self) -> None:
        self.longest = self.total = 0.0
        self.collections = [0, 0, 0]


class FirstLooks:
    """Stands in for a trigger's logger: notes when each trigger logs its first pending
    verdict ("... waiting for STARTED."), i.e. when its first look is done."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def info(self, message: str, *args: Any) -> None:
        if args and "waiting for" in str(args[0]):
            self.times.append(time.monotonic())

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@dataclass
class Loop:
    """The event loop's longest stall (late wake-ups of a 10 ms sleep) and peak RSS."""

    stall: float = 0.0
    peak_rss: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self) -> None:
        process, ticks = psutil.Process(), 0
        while not self.stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.stall = max(self.stall, time.perf_counter() - before - 0.01)
            ticks += 1
            if ticks % 10 == 0:
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark stalled: {what}")
        await asyncio.sleep(0.01)


async def leases(count: int) -> float:
    """Seconds for ``count`` concurrent leases on the pooled client (then released)."""
    from airflow_provider_asp.hooks.asp import AspHook

    t0 = time.perf_counter()
    taken = await asyncio.gather(*(AspHook().alease_shared_conn() for _ in range(count)))
    elapsed = time.perf_counter() - t0
    for lease in taken:
        await lease.release()
    return elapsed


async def bench(workspace: Connection, args: argparse.Namespace, pauses: GcPauses) -> dict:
    from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
    from asp_core.client_pool import PooledClient, shared_clients

    count, poll = args.count, args.poll_interval
    looks = FirstLooks()

    class Trigger(AspProcessorStateTrigger):
        """The provider's trigger, its log records counted instead of written."""

        @property
        def log(self) -> Any:
            return looks

    figures: dict[str, Any] = {"triggers": count, "poll_interval_s": poll}
    figures["leases_s"] = round(await leases(count), 3)
    gc.collect()
    objects0 = len(gc.get_objects())
    pauses.reset()
    process = psutil.Process()
    rss0, accepted0 = process.memory_info().rss, ask(workspace, "accepted")
    loop = Loop(peak_rss=rss0)
    watcher = asyncio.create_task(loop.watch())
    end_time = time.time() + 3600
    triggers = [
        Trigger(processor_name=f"bench{i}", end_time=end_time, poll_interval=poll)
        for i in range(count)
    ]
    events: dict[str, float] = {}

    async def first_event(trigger: Any) -> Any:
        event = await anext(trigger.run())
        events[trigger.processor_name] = time.monotonic()
        return event

    t0 = time.monotonic()
    runs = [asyncio.create_task(first_event(trigger)) for trigger in triggers]
    await until(lambda: len(looks.times) >= count, "the first round")
    figures["first_round_s"] = round(looks.times[-1] - t0, 3)
    figures["first_round_first_look_s"] = round(looks.times[0] - t0, 3)
    figures["max_loop_stall_first_round_ms"] = round(loop.stall * 1000, 1)
    figures["longest_gc_pause_first_round_ms"] = round(pauses.longest * 1000, 1)
    figures["gc_collections_first_round"] = list(pauses.collections)
    figures["gc_total_first_round_ms"] = round(pauses.total * 1000, 1)
    figures["memory_added_first_round_mb"] = round((loop.peak_rss - rss0) / 2**20, 1)
    figures["gc_tracked_objects_per_trigger"] = round((len(gc.get_objects()) - objects0) / count)
    loop.stall = 0.0
    pauses.reset()
    if args.first_round_only:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        loop.stop.set()
        await watcher
        return figures

    lease = triggers[0]._lease
    assert lease is not None
    assert isinstance(lease.client, PooledClient)
    reads = lease.client.reads  # the pooled client's batched reads
    served0, asked0, rounds0, t1 = (
        ask(workspace, "looks"),
        reads.requests,
        reads.rounds,
        time.monotonic(),
    )
    cpu0, emulator_cpu0, kernel0 = _cpu(process), ask(workspace, "cpu"), _system_cpu(process)
    await asyncio.sleep(args.steady_rounds * poll)
    served = ask(workspace, "looks") - served0
    asked, rounds = reads.requests - asked0, reads.rounds - rounds0
    cpu, emulator_cpu = _cpu(process) - cpu0, ask(workspace, "cpu") - emulator_cpu0
    figures["steady_cpu_kernel_share"] = round((_system_cpu(process) - kernel0) / max(cpu, 1e-9), 2)
    elapsed = time.monotonic() - t1
    figures["steady_looks_per_s"] = round(asked / elapsed, 1)
    figures["steady_looks_per_s_expected"] = round(count / poll, 1)
    figures["steady_commands_per_s"] = round(served / elapsed, 1)
    figures["steady_looks_per_round"] = round(asked / max(rounds, 1), 1)
    figures["steady_cpu_percent"] = round(cpu / elapsed * 100, 1)
    figures["steady_emulator_cpu_percent"] = round(emulator_cpu / elapsed * 100, 1)
    figures["steady_cpu_us_per_look"] = round(cpu / max(asked, 1) * 1e6, 1)
    figures["max_loop_stall_steady_ms"] = round(loop.stall * 1000, 1)
    figures["longest_gc_pause_steady_ms"] = round(pauses.longest * 1000, 1)
    figures["gc_collections_steady"] = list(pauses.collections)
    leased = shared_clients()
    figures["pooled_clients"] = len(leased)
    figures["leases_per_client"] = sorted(leased.values())
    figures["connections_opened"] = ask(workspace, "accepted") - accepted0
    loop.stall = 0.0

    started: dict[str, float] = await asyncio.to_thread(ask, workspace, "start_all")
    outcomes = await asyncio.wait_for(asyncio.gather(*runs), PHASE_TIMEOUT)
    lags = sorted(events[name] - started[name] for name in events)
    figures["start_all_s"] = round(max(started.values()) - min(started.values()), 3)
    figures["lag_p50_s"] = round(statistics.median(lags), 3)
    figures["lag_max_s"] = round(lags[-1], 3)
    figures["max_loop_stall_events_ms"] = round(loop.stall * 1000, 1)
    figures["events"] = sorted({event.payload["status"] for event in outcomes})
    figures["memory_added_mb"] = round((loop.peak_rss - rss0) / 2**20, 1)
    for trigger in triggers:
        await trigger.cleanup()
    figures["clients_left"] = len(shared_clients())
    loop.stop.set()
    await watcher
    figures["longest_gc_pause_ms"] = round(pauses.longest * 1000, 1)
    if args.breakdown:
        figures["look_cpu_us"] = await breakdown(min(count, 2000))
    return figures


async def breakdown(count: int) -> dict[str, float]:
    """CPU (this process, GC off, median of 3) per look, layer by layer, ``count`` looks 50
    at a time through one pooled lease: the trigger's look (batched, as triggers look, and
    alone), the client's lone ``get_info`` under ``pymongo.timeout`` and without it, the
    command without the client's retry wrapper, pymongo's bare ``command``; and one
    ``listStreamProcessors`` of every processor."""
    import pymongo

    from airflow_provider_asp.hooks.asp import AspHook
    from asp_core.stream_processing import AsyncStreamProcessors
    from asp_core.waiting import asynchronous, conditions

    lease = await AspHook().alease_shared_conn()
    processors, client = lease.processors, lease.client
    plain = AsyncStreamProcessors(client)  # one getStreamProcessor per look
    names = [f"bench{i}" for i in range(count)]
    document = {"getStreamProcessor": names[0]}
    condition = conditions.StateCondition(
        names[0], frozenset({"STOPPED"}), frozenset({"FAILED"}), False
    )
    deadline = time.time() + 600
    layers: dict[str, Callable[[str], Any]] = {
        "trigger_look_batched": lambda name: asynchronous.look(
            condition, processors, deadline=deadline, command_timeout=60
        ),
        "trigger_look_alone": lambda name: asynchronous.look(
            condition, plain, deadline=deadline, command_timeout=60
        ),
        "client_get_info_under_pymongo_timeout": lambda name: _timed(plain.get_info(name)),
        "client_get_info": plain.get_info,
        "client_without_retry_wrapper": lambda name: client._send({"getStreamProcessor": name}),
        "pymongo_command": lambda name: client.mongo_client.admin.command(dict(document)),
    }
    slots = asyncio.Semaphore(50)

    async def _timed(look: Any) -> Any:
        with pymongo.timeout(60):
            return await look

    async def one(call: Callable[[str], Any], name: str) -> None:
        async with slots:
            await call(name)

    figures: dict[str, float] = {}
    process = psutil.Process()
    gc.collect()
    gc.disable()  # GC pauses land at random: not one layer's cost
    try:
        # Warm: the pool grows to its size (TLS handshakes, authentication) before any layer.
        await asyncio.gather(*(one(layers["pymongo_command"], name) for name in names))
        for label, call in layers.items():
            await asyncio.gather(*(one(call, name) for name in names[:100]))
            costs = []
            for _ in range(3):
                cpu0 = _cpu(process)
                await asyncio.gather(*(one(call, name) for name in names))
                costs.append((_cpu(process) - cpu0) / count * 1e6)
            figures[label] = round(statistics.median(costs), 1)
        costs = []
        for _ in range(3):
            cpu0 = _cpu(process)
            listed = await processors.list()
            costs.append((_cpu(process) - cpu0) * 1000)
        figures["list_all_processors_ms"] = round(statistics.median(costs), 1)
        figures["list_all_processors_count"] = len(listed)
    finally:
        gc.enable()
        await lease.release()
    return figures


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _system_cpu(process: psutil.Process) -> float:
    return float(process.cpu_times().system)


def ask(workspace: Connection, request: str) -> Any:
    workspace.send(request)
    return workspace.recv()


def serve_workspace(conn: Connection, count: int) -> None:
    """The emulator's process: ``count`` CREATED processors, then answer requests:
    ``accepted`` (connections), ``looks`` (getStreamProcessor commands), ``start_all``
    (``{name: monotonic time its start was acknowledged}``)."""
    from asp_core.stream_processing import StreamProcessingClient
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
                started = {}
                for i in range(count):
                    processors.get(f"bench{i}").start()
                    started[f"bench{i}"] = time.monotonic()
                conn.send(started)
            elif request == "looks":
                counts = ws.command_counts()
                conn.send(
                    counts.get("getStreamProcessor", 0) + counts.get("listStreamProcessors", 0)
                )
            elif request == "cpu":
                conn.send(_cpu(psutil.Process()))
            else:
                conn.send(ws.connections_accepted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--steady-rounds", type=float, default=2.0)
    parser.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="gc.freeze() what is imported before the triggers start (Airflow's "
        "triggerer does not; its DAG processor does)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        help="commands a pooled client lets into pymongo at once (default: the pool's)",
    )
    parser.add_argument("--profile", help="write a cProfile of the trigger process here")
    parser.add_argument(
        "--breakdown",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then measure the CPU of one look, layer by layer",
    )
    parser.add_argument(
        "--first-round-only", action="store_true", help="stop after the first round (to profile it)"
    )
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    emulator = multiprocessing.get_context("spawn").Process(
        target=serve_workspace, args=(theirs, args.count)
    )
    emulator.start()
    try:
        os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = json.dumps(ours.recv())
        import asp_core.waiting.asynchronous  # noqa: F401
        from asp_core import client_pool

        if args.max_in_flight is not None:
            client_pool.MAX_IN_FLIGHT = args.max_in_flight

        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        pauses = GcPauses()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        figures = asyncio.run(bench(ours, args, pauses))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        figures["gc_freeze"] = args.gc_freeze
        figures["max_in_flight"] = getattr(client_pool, "MAX_IN_FLIGHT", None)
    finally:
        ours.send("stop")
        emulator.join(60)
    print(json.dumps(figures, indent=2))
    print(GOALS)


if __name__ == "__main__":
    main()
