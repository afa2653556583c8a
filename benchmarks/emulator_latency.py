"""Emulator benchmark: command latency and raw sample throughput.

Prints p50/p99 latency over 10,000 ``getStreamProcessor`` commands on one connection, and
the documents per second a raw ``getMoreSampleStreamProcessor`` loop reads from a processor
fed with inline documents. A script, not a test: ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from pymongo import MongoClient

from asp_emulator import Workspace


def latency(admin: Any, commands: int) -> tuple[float, float, float]:
    """(p50, p99, total seconds) of ``commands`` getStreamProcessor calls."""
    admin.command({"createStreamProcessor": "bench", "pipeline": []})
    for _ in range(200):
        admin.command({"getStreamProcessor": "bench"})
    timings = []
    began = time.perf_counter()
    for _ in range(commands):
        start = time.perf_counter_ns()
        admin.command({"getStreamProcessor": "bench"})
        timings.append((time.perf_counter_ns() - start) / 1000)
    total = time.perf_counter() - began
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], total


def throughput(ws: Workspace, admin: Any, documents: int, batch: int) -> tuple[float, float, float]:
    """(pipeline docs/s from feed to output, docs/s read through the sample protocol, seconds).

    The processor has already emitted the documents into the open cursor's buffer, so
    this measures the raw getMore loop, not the pipeline.
    """
    ws.add_connection("bench-in")
    admin.command(
        {
            "createStreamProcessor": "bench-sample",
            "pipeline": [{"$source": {"connectionName": "bench-in"}}],
        }
    )
    admin.command({"startStreamProcessor": "bench-sample"})
    start = {"startSampleStreamProcessor": "bench-sample", "limit": documents}
    cursor = admin.command(start)["cursorId"]
    fed = time.perf_counter()
    ws.feed("bench-in", ({"i": i, "payload": "x" * 100} for i in range(documents)))
    deadline = time.monotonic() + 60
    while ws.stats("bench-sample")["outputMessageCount"] < documents:
        if time.monotonic() > deadline:
            raise SystemExit("the processor did not emit the documents within 60 s")
        time.sleep(0.001)
    pipeline_rate = documents / (time.perf_counter() - fed)
    received = 0
    began = time.perf_counter()
    while cursor:
        reply = admin.command(
            {"getMoreSampleStreamProcessor": "bench-sample", "cursorId": cursor, "batchSize": batch}
        )
        received += len(reply["messages"])
        cursor = reply["cursorId"]
    elapsed = time.perf_counter() - began
    if received != documents:
        raise SystemExit(f"read {received} documents, expected {documents}")
    return pipeline_rate, received / elapsed, elapsed


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with Workspace() as ws, MongoClient[dict[str, Any]](ws.uri, maxPoolSize=1) as client:
        p50, p99, total = latency(client.admin, args.commands)
        print(
            f"getStreamProcessor x{args.commands}: "
            f"p50 {p50:.0f} us, p99 {p99:.0f} us, {total:.2f} s total"
        )
        pipeline_rate, rate, elapsed = throughput(ws, client.admin, args.documents, args.batch)
        print(f"pipeline throughput (feed to output): {pipeline_rate:,.0f} docs/s")
        print(
            f"sample throughput: {rate:,.0f} docs/s "
            f"({args.documents} docs in {elapsed:.2f} s, batch {args.batch})"
        )


if __name__ == "__main__":
    main()
