"""Emulator under load: command latency while processors run, memory, throughput, waits.

The emulator runs in a process of its own (``asp-emulator serve``), so the figures are its
alone and the client does not share its interpreter lock. Prints:

- ``getStreamProcessor`` latency (p50, p99, max) on one connection while N processors run:
  none; 100 on ``sample_stream_solar``; 1,000 reading an idle connection plus the 100.
  Goal: p99 under 20 ms.
- The emulator's memory (RSS) with 10,000 created processors, 1,000 of them running, and
  per idle processor. Goal: under 300 MB.
- Documents per second through ``$source`` (inline documents), ``$match``, ``$emit``.
- 5,000 state waits: 5,000 processors started with a transition delay, each awaited by its
  own coroutine polling ``getStreamProcessor`` on one async client; with the CPU time the
  emulator and the client spent (the client's pool is the queue).
- 2,000 idle TLS connections: how many the emulator accepts (``max_connections``), and its
  memory per connection.

A script, not a test (``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

IDLE = "idle"
SOLAR_PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$match": {"obs.watts": {"$gte": 100}}},
    {"$emit": {"connectionName": "__testLog"}},
]
IDLE_PIPELINE = [
    {"$source": {"connectionName": IDLE}},
    {"$match": {"obs.watts": {"$gte": 100}}},
    {"$emit": {"connectionName": "__testLog"}},
]


@contextlib.contextmanager
def emulator(*options: str) -> Iterator[tuple[dict[str, Any], int]]:
    """``asp-emulator serve`` in a subprocess: (its ready line, its pid)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asp_emulator", "serve", "--connection", IDLE, *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        yield ready, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def latency(admin: Any, commands: int) -> tuple[float, float, float]:
    """(p50, p99, max) in ms of ``commands`` getStreamProcessor round trips."""
    for _ in range(100):
        admin.command({"getStreamProcessor": "probe"})
    timings = []
    for _ in range(commands):
        started = time.perf_counter()
        admin.command({"getStreamProcessor": "probe"})
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], timings[-1]


def create(admin: Any, prefix: str, count: int, pipeline: list[Any], start: bool) -> None:
    for i in range(count):
        admin.command({"createStreamProcessor": f"{prefix}{i}", "pipeline": pipeline})
        if start:
            admin.command({"startStreamProcessor": f"{prefix}{i}"})


def latency_under_load(commands: int) -> None:
    print(
        f"== getStreamProcessor latency, {commands:,} commands on one connection (goal p99 < 20 ms)"
    )
    with emulator() as (ready, pid), MongoClient[dict[str, Any]](ready["uri"]) as client:
        admin = client.admin
        admin.command({"createStreamProcessor": "probe", "pipeline": []})
        steps = [
            ("no processors running", 0, 0),
            ("100 on sample_stream_solar (20 docs/s each)", 0, 100),
            ("1,000 on an idle connection + the 100 solar", 1_000, 0),
        ]
        for label, idle, solar in steps:
            create(admin, "idle", idle, IDLE_PIPELINE, start=True)
            create(admin, "solar", solar, SOLAR_PIPELINE, start=True)
            time.sleep(1.0)  # let the solar processors reach their pace
            p50, p99, worst = latency(admin, commands)
            print(
                f"{label:48} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:6.2f} ms"
                f"  (emulator RSS {rss_mb(pid):.0f} MB)"
            )


def memory(created: int, running: int) -> None:
    print(f"== memory: {created:,} created processors, {running:,} of them running (goal < 300 MB)")
    with emulator() as (ready, pid), MongoClient[dict[str, Any]](ready["uri"]) as client:
        admin = client.admin
        admin.command({"ping": 1})
        time.sleep(0.5)
        empty = rss_mb(pid)
        began = time.perf_counter()
        create(admin, "p", created, IDLE_PIPELINE, start=False)
        made = time.perf_counter() - began
        full = rss_mb(pid)
        for i in range(running):
            admin.command({"startStreamProcessor": f"p{i}"})
        time.sleep(0.5)
        total = rss_mb(pid)
        print(f"empty workspace                 {empty:6.0f} MB")
        print(
            f"{created:,} created                 {full:6.0f} MB "
            f"({(full - empty) * 1024 / created:.1f} KB per idle processor, "
            f"created in {made:.1f} s)"
        )
        print(f"{running:,} of them running         {total:6.0f} MB")


def throughput(documents: int) -> None:
    print(f"== throughput: {documents:,} inline documents through $match and $emit")
    docs = [{"i": i, "obs": {"watts": i % 450}, "pad": "x" * 64} for i in range(documents)]
    pipeline = [
        {"$source": {"documents": docs}},
        {"$match": {"obs.watts": {"$gte": 100}}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    with emulator() as (ready, _), MongoClient[dict[str, Any]](ready["uri"]) as client:
        admin = client.admin
        admin.command({"createStreamProcessor": "through", "pipeline": pipeline})
        began = time.perf_counter()
        admin.command({"startStreamProcessor": "through"})
        deadline = time.monotonic() + 120
        while True:
            stats = admin.command({"getStreamProcessorStats": "through"})["stats"]
            if stats["inputMessageCount"] >= documents:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the processor did not read its documents within 120 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - began
        print(
            f"{documents / elapsed:,.0f} docs/s in, {stats['outputMessageCount'] / elapsed:,.0f} "
            f"docs/s out ({elapsed:.2f} s)"
        )


async def _state_waits(uri: str, count: int, poll: float) -> tuple[float, list[float]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, maxPoolSize=50)
    try:
        admin = client.admin
        for i in range(count):
            await admin.command({"createStreamProcessor": f"w{i}", "pipeline": IDLE_PIPELINE})
        timings: list[float] = []

        async def wait(name: str) -> None:
            await admin.command({"startStreamProcessor": name})
            while True:
                started = time.perf_counter()
                reply = await admin.command({"getStreamProcessor": name})
                timings.append((time.perf_counter() - started) * 1000)
                if reply["result"]["state"] == "STARTED":
                    return
                await asyncio.sleep(poll)

        began = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(wait(f"w{i}") for i in range(count))), 300)
        return time.perf_counter() - began, sorted(timings)
    finally:
        await client.close()


def state_waits(count: int, delay: float, poll: float) -> None:
    print(
        f"== {count:,} state waits: start with a {delay} s transition delay, "
        f"poll every {poll} s until STARTED"
    )
    with emulator("--transition-delay", str(delay)) as (ready, pid):
        emulator_cpu, client_cpu = cpu_seconds(pid), own_cpu_seconds()
        elapsed, timings = asyncio.run(_state_waits(ready["uri"], count, poll))
        emulator_cpu = cpu_seconds(pid) - emulator_cpu
        client_cpu = own_cpu_seconds() - client_cpu
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]
        commands = 2 * count + len(timings)  # creates, starts, looks
        print(
            f"all {count:,} STARTED after {elapsed:.2f} s; {len(timings):,} looks, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (queued in the client's pool of 50)"
        )
        print(
            f"CPU: emulator {emulator_cpu:.1f} s ({emulator_cpu / commands * 1e6:.0f} us per "
            f"command), client {client_cpu:.1f} s; emulator RSS {rss_mb(pid):.0f} MB"
        )


def idle_connections(count: int) -> None:
    print(f"== {count:,} idle TLS connections (default max_connections 1,000)")
    with emulator() as (ready, pid):
        context = ssl.create_default_context(cafile=ready["ca_file"])
        before = rss_mb(pid)
        held: list[ssl.SSLSocket] = []
        refused = 0
        try:
            for _ in range(count):
                raw = socket.create_connection((ready["host"], ready["port"]), timeout=10)
                try:
                    held.append(context.wrap_socket(raw, server_hostname=ready["host"]))
                except (OSError, ssl.SSLError):
                    raw.close()
                    refused += 1
            time.sleep(0.5)
            grown = rss_mb(pid) - before
            print(
                f"{len(held):,} accepted, {refused:,} refused before TLS; emulator RSS "
                f"+{grown:.0f} MB ({grown * 1024 / max(1, len(held)):.0f} KB per connection)"
            )
        finally:
            for sock in held:
                sock.close()


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2_000)
    parser.add_argument("--created", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=1_000)
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--waits", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=2_000)
    args = parser.parse_args()
    latency_under_load(args.commands)
    memory(args.created, args.running)
    throughput(args.documents)
    state_waits(args.waits, delay=1.0, poll=0.5)
    idle_connections(args.connections)


if __name__ == "__main__":
    main()
