"""Wire commands per client operation, and sample throughput of the client's cursor
against a hand-written ``admin.command`` loop, on one emulated workspace in one run.

    python benchmarks/client_commands.py [--rounds 40] [--repeats 5]

Part 1 counts, with pymongo command monitoring, the commands each operation sends
(expected: one for create, start, stop, drop, get_info, stats, modify; ``1 + ceil(n /
batch)`` fetches to sample ``n`` documents). Part 2 reads the same replayed output
(1,000 documents) through ``SampleCursor`` and through a raw loop of
``startSampleStreamProcessor`` / ``getMoreSampleStreamProcessor`` commands, interleaved,
sync and async, and prints documents per second and the ratio (goal: >= 0.95). Part 3
prices the bounds (pymongo's client-side operation timeout): ``get_info`` inside
``pymongo.timeout(30)`` against a bare call, and a cursor with ``timeout=60`` (each command
in its own ``pymongo.timeout`` block, with ``maxTimeMS``) against one without.
A script, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import inspect
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pymongo
from bson.int64 import Int64

import airflow_provider_asp
from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
    StreamProcessor,
)
from asp_core.stream_processing.sampling import SampleState
from asp_emulator import Workspace
from asp_emulator.monitoring import DRIVER_COMMANDS, CommandRecorder

HISTORY = 1_000  # outputs the emulator replays to a new sample cursor
PIPELINE: list[dict[str, Any]] = [
    {"$source": {"documents": [{"i": i, "payload": "x" * 32} for i in range(HISTORY)]}},
    {"$emit": {"connectionName": "__testLog"}},
]
BATCH_KEYS = ("messages", "nextBatch")


def read_all(proc: StreamProcessor, limit: int, batch: int | None) -> int:
    return len(list(proc.sample(limit=limit, batch_size=batch)))


def commands_per_operation(uri: str) -> None:
    counter = CommandRecorder(ignore=DRIVER_COMMANDS - {"ping"})
    rows: list[tuple[str, int, str, str]] = []

    def row(operation: str, expected: int, run: Callable[[], Any]) -> None:
        counter.take()
        run()
        names = counter.take()
        verdict = "ok" if len(names) == expected else "UNEXPECTED"
        rows.append(
            (operation, expected, ", ".join(sorted(set(names))) + f" x{len(names)}", verdict)
        )

    with StreamProcessingClient(uri, event_listeners=[counter]) as client:
        sps = client.stream_processors()
        proc = sps.get("bench_ops")
        row("create", 1, lambda: sps.create("bench_ops", PIPELINE))
        row("get_info", 1, lambda: sps.get_info("bench_ops"))
        row("start", 1, proc.start)
        row("stats", 1, proc.stats)
        for n, batch in [(10, None), (250, 100), (1000, 100), (1000, 1000), (999, 10)]:
            expected = 1 + math.ceil(n / (batch or 1000))  # emulator default batch: 1000
            row(
                f"sample n={n} batch={batch}",
                expected,
                functools.partial(read_all, proc, n, batch),
            )
        row("stop", 1, proc.stop)
        row("modify", 1, lambda: proc.modify(PIPELINE, resume_from_checkpoint=False))
        row("drop", 1, proc.drop)
        row("list", 1, sps.list)
        row("list_connections", 1, sps.list_connections)
        row("workspace_defaults", 1, sps.workspace_defaults)
    print("Wire commands per operation (pymongo command monitoring)")
    print(f"  {'operation':<26} {'expected':>8}  {'sent':<44} check")
    for operation, expected, sent, verdict in rows:
        print(f"  {operation:<26} {expected:>8}  {sent:<44} {verdict}")


Docs = list[dict[str, Any]]
Reader = Callable[[], Docs | Awaitable[Docs]]


def _batch(reply: dict[str, Any]) -> Docs:
    return next((reply[key] for key in BATCH_KEYS if key in reply), [])


def raw_batches(client: StreamProcessingClient, name: str, limit: int, size: int) -> Iterator[Docs]:
    """The loop a user would write with pymongo alone: start, then getMore until id 0."""
    admin = client.mongo_client.admin
    reply = admin.command({"startSampleStreamProcessor": name, "limit": limit})
    cursor_id = int(reply["cursorId"])
    while cursor_id:
        reply = admin.command(
            {"getMoreSampleStreamProcessor": name, "cursorId": Int64(cursor_id), "batchSize": size}
        )
        cursor_id = int(reply["cursorId"])
        yield _batch(reply)


async def raw_batches_async(
    client: AsyncStreamProcessingClient, name: str, limit: int, size: int
) -> AsyncIterator[Docs]:
    admin = client.mongo_client.admin
    reply = await admin.command({"startSampleStreamProcessor": name, "limit": limit})
    cursor_id = int(reply["cursorId"])
    while cursor_id:
        reply = await admin.command(
            {"getMoreSampleStreamProcessor": name, "cursorId": Int64(cursor_id), "batchSize": size}
        )
        cursor_id = int(reply["cursorId"])
        yield _batch(reply)


class Rates:
    """Documents per second of each reader, one figure per repeat."""

    def __init__(self, variants: Iterable[str]) -> None:
        self.samples: dict[str, list[float]] = {variant: [] for variant in variants}

    def add(self, seconds: dict[str, float], documents: dict[str, int]) -> None:
        for variant, elapsed in seconds.items():
            self.samples[variant].append(documents[variant] / elapsed)

    def report(self, label: str) -> None:
        """Each pair: the client's way against the raw loop doing the same; the ratio is
        the median of the per-repeat ratios, with their range."""
        for how in ("per document", "whole list"):
            cursor, raw = self.samples[f"cursor, {how}"], self.samples[f"raw loop, {how}"]
            ratios = sorted(c / r for c, r in zip(cursor, raw, strict=True))
            print(
                f"  {label:<18} {how:<13} cursor {statistics.median(cursor):>11,.0f} docs/s"
                f"   raw loop {statistics.median(raw):>11,.0f} docs/s"
                f"   ratio {statistics.median(ratios):.3f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
            )


async def measure(readers: dict[str, Reader], rounds: int, repeats: int) -> Rates:
    """Run every reader ``rounds`` times per repeat, interleaved round by round (a sync
    reader just blocks the event loop while it runs)."""
    rates = Rates(readers)
    for _ in range(repeats):
        seconds = dict.fromkeys(readers, 0.0)
        documents = dict.fromkeys(readers, 0)
        for _ in range(rounds):
            for variant, read in readers.items():
                began = time.perf_counter()
                result = read()
                if inspect.isawaitable(result):
                    result = await result
                documents[variant] += len(result)
                seconds[variant] += time.perf_counter() - began
        rates.add(seconds, documents)
    return rates


async def throughput_sync(uri: str, size: int, rounds: int, repeats: int) -> None:
    with StreamProcessingClient(uri) as client:
        proc = client.stream_processors().get("bench_tp")

        def raw_docs() -> Iterator[dict[str, Any]]:
            for batch in raw_batches(client, "bench_tp", HISTORY, size):
                yield from batch

        readers: dict[str, Reader] = {
            "raw loop, per document": lambda: [doc for doc in raw_docs()],
            "cursor, per document": lambda: [doc for doc in proc.sample(HISTORY, size)],
            "raw loop, whole list": lambda: list(
                itertools.chain.from_iterable(raw_batches(client, "bench_tp", HISTORY, size))
            ),
            "cursor, whole list": lambda: proc.sample(HISTORY, size).to_list(),
        }
        (await measure(readers, rounds, repeats)).report(f"sync, batch {size}")


async def throughput_async(uri: str, size: int, rounds: int, repeats: int) -> None:
    async with AsyncStreamProcessingClient(uri) as client:
        proc = client.stream_processors().get("bench_tp")

        async def raw_docs() -> AsyncIterator[dict[str, Any]]:
            async for batch in raw_batches_async(client, "bench_tp", HISTORY, size):
                for doc in batch:
                    yield doc

        async def raw_per_document() -> Docs:
            return [doc async for doc in raw_docs()]

        async def cursor_per_document() -> Docs:
            return [doc async for doc in proc.sample(HISTORY, size)]

        async def raw_whole_list() -> Docs:
            documents: Docs = []
            async for batch in raw_batches_async(client, "bench_tp", HISTORY, size):
                documents.extend(batch)
            return documents

        readers: dict[str, Reader] = {
            "raw loop, per document": raw_per_document,
            "cursor, per document": cursor_per_document,
            "raw loop, whole list": raw_whole_list,
            "cursor, whole list": lambda: proc.sample(HISTORY, size).to_list(),
        }
        (await measure(readers, rounds, repeats)).report(f"async, batch {size}")


CALLS = 50  # get_info calls per read in part 3
#: The processor part 3 describes: a small reply, so that the figures are about the call.
SMALL: list[dict[str, Any]] = [
    {"$source": {"documents": [{"i": 0}]}},
    {"$emit": {"connectionName": "__testLog"}},
]


@dataclasses.dataclass
class Pair:
    """Items per second of a bounded reader and of the same reader unbounded."""

    label: str
    unit: str
    bounded: list[float] = dataclasses.field(default_factory=list)
    bare: list[float] = dataclasses.field(default_factory=list)

    def report(self) -> None:
        ratios = sorted(b / u for b, u in zip(self.bounded, self.bare, strict=True))
        print(
            f"  {self.label:<34} bounded {statistics.median(self.bounded):>11,.0f} {self.unit}"
            f"   bare {statistics.median(self.bare):>11,.0f} {self.unit}"
            f"   ratio {statistics.median(ratios):.3f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
        )


async def bound_costs(uri: str, rounds: int, repeats: int) -> None:
    """Part 3: what a bound costs per call and per sampled document, sync and async."""

    def info_calls(sps: Any) -> Docs:
        return [sps.get_info("bench_small").raw for _ in range(CALLS)]

    def bounded_info_calls(sps: Any) -> Docs:
        with pymongo.timeout(30):
            return [sps.get_info("bench_small").raw for _ in range(CALLS)]

    async def ainfo_calls(sps: Any) -> Docs:
        return [(await sps.get_info("bench_small")).raw for _ in range(CALLS)]

    async def abounded_info_calls(sps: Any) -> Docs:
        with pymongo.timeout(30):
            return [(await sps.get_info("bench_small")).raw for _ in range(CALLS)]

    with StreamProcessingClient(uri) as client:
        sps = client.stream_processors()
        sps.create("bench_small", SMALL)
        proc = sps.get("bench_tp")
        pairs: dict[str, tuple[Pair, Reader, Reader]] = {
            "sync get_info": (
                Pair("sync get_info", "calls/s"),
                functools.partial(bounded_info_calls, sps),
                functools.partial(info_calls, sps),
            ),
            "sync cursor, batch 100": (
                Pair("sync cursor, batch 100, whole list", "docs/s"),
                lambda: proc.sample(HISTORY, 100, timeout=60).to_list(),
                lambda: proc.sample(HISTORY, 100).to_list(),
            ),
        }
        await measure_pairs(pairs, rounds, repeats)
    async with AsyncStreamProcessingClient(uri) as aclient:
        asps = aclient.stream_processors()
        aproc = asps.get("bench_tp")
        apairs: dict[str, tuple[Pair, Reader, Reader]] = {
            "async get_info": (
                Pair("async get_info", "calls/s"),
                functools.partial(abounded_info_calls, asps),
                functools.partial(ainfo_calls, asps),
            ),
            "async cursor, batch 100": (
                Pair("async cursor, batch 100, whole list", "docs/s"),
                lambda: aproc.sample(HISTORY, 100, timeout=60).to_list(),
                lambda: aproc.sample(HISTORY, 100).to_list(),
            ),
        }
        await measure_pairs(apairs, rounds, repeats)


async def measure_pairs(
    pairs: dict[str, tuple[Pair, Reader, Reader]], rounds: int, repeats: int
) -> None:
    readers: dict[str, Reader] = {}
    for key, (_, bounded, bare) in pairs.items():
        readers[f"{key} bounded"] = bounded
        readers[f"{key} bare"] = bare
    rates = await measure(readers, rounds, repeats)
    for key, (pair, _, _) in pairs.items():
        pair.bounded = rates.samples[f"{key} bounded"]
        pair.bare = rates.samples[f"{key} bare"]
        pair.report()


def state_machine_cost(batches: int = 2_000, size: int = 100) -> None:
    """What the cursor itself costs, without I/O: canned replies fed to ``SampleState``."""
    batch = [{"i": i} for i in range(size)]
    reply = {"ok": 1.0, "cursorId": Int64(7), "messages": batch}
    state = SampleState.sample("bench", batch_size=size)
    opening = state.next_send(0.0)
    assert opening is not None
    opening.command.parse({"ok": 1.0, "cursorId": Int64(7)})
    began, delivered = time.perf_counter(), 0
    for _ in range(batches):
        step = state.next_send(0.0)
        assert step is not None
        step.command.parse(reply)
        buffer = state.buffer
        while buffer:
            buffer.popleft()
            delivered += 1
    elapsed = time.perf_counter() - began
    print(
        f"  without I/O: {elapsed / batches * 1e6:.1f} us per getMore (build + parse) and"
        f" hand-out of {size} documents; {elapsed / delivered * 1e9:.0f} ns per document"
    )


@contextlib.contextmanager
def emulator(in_process: bool) -> Iterator[str]:
    """A workspace's URI: served by an ``asp-emulator serve`` child process (so that the
    server does not share this process's GIL), or by a thread of this process."""
    if in_process:
        with Workspace(users={"admin": "secret"}) as ws:
            yield ws.uri
        return
    root = str(Path(airflow_provider_asp.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    command = [
        sys.executable,
        "-m",
        "asp_emulator",
        "serve",
        "--user",
        "admin:secret",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())["uri"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="cursors per measurement")
    parser.add_argument("--repeats", type=int, default=9, help="measurements (median shown)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the workspace from a thread of this process",
    )
    args = parser.parse_args()
    with emulator(args.in_process) as uri:
        commands_per_operation(uri)
        with StreamProcessingClient(uri) as client:
            sps = client.stream_processors()
            sps.create("bench_tp", PIPELINE)
            sps.get("bench_tp").start()
            # wait until the whole inline source went through (and so is replayed)
            while sps.get("bench_tp").stats()["stats"]["outputMessageCount"] < HISTORY:
                time.sleep(0.05)
        where = "a thread of this process" if args.in_process else "a child process"
        print()
        print(
            f"Sample throughput (emulator in {where}): {HISTORY} replayed documents per"
            f" cursor, {args.rounds} cursors per measurement, median of {args.repeats}"
        )
        for size in (100, 1000):
            asyncio.run(throughput_sync(uri, size, args.rounds, args.repeats))
            asyncio.run(throughput_async(uri, size, args.rounds, args.repeats))
        state_machine_cost()
        print()
        print(
            "Cost of bounds (CSOT): bounded = inside pymongo.timeout(30) for get_info"
            f" ({CALLS} calls per read), a cursor with timeout=60; median of {args.repeats}"
        )
        asyncio.run(bound_costs(uri, args.rounds, args.repeats))


if __name__ == "__main__":
    main()
