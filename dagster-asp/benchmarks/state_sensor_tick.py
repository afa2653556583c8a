"""Benchmark (not a test): one tick of the state sensor over 1,000 processors on the
emulator (commands sent, time), and the cost of ``import dagster_asp``.

    .venv-dagster/bin/python dagster-asp/benchmarks/state_sensor_tick.py [--processors 1000]
"""

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$emit": {"connectionName": "__testLog"}},
]


def import_cost(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import dagster_asp"], check=True)
        times.append(time.perf_counter() - started)
    base = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - started)
    return statistics.median(times) - statistics.median(base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processors", type=int, default=1000)
    args = parser.parse_args()

    import dagster as dg
    from pymongo import MongoClient

    from asp_emulator import Workspace
    from dagster_asp import AspWorkspace, build_asp_state_sensor

    @dg.op
    def react() -> None:
        pass

    @dg.job
    def on_failure() -> None:
        react()

    with Workspace(users={"admin": "admin-password"}, solar_rate=0.01) as ws:
        admin: Any = MongoClient(ws.uri).admin
        names = [f"bench-{i:04d}" for i in range(args.processors)]
        for name in names:
            admin.command({"createStreamProcessor": name, "pipeline": PIPELINE})
        admin.client.close()
        for name in names[:10]:
            ws.fail_processor_on_start(name, "benchmark failure")
        asp = AspWorkspace(
            host=ws.host,
            port=ws.port,
            username="admin",
            password="admin-password",
            tls_ca_file=ws.ca_file,
        )
        sensor = build_asp_state_sensor(
            target=on_failure, processor_names=names, states=["FAILED", "CREATED"]
        )
        cursor = None
        for label in ("first tick (every CREATED processor is an event)", "second tick"):
            before = dict(ws.command_counts())
            context = dg.build_sensor_context(cursor=cursor, resources={"asp": asp})
            started = time.perf_counter()
            with context:
                result = sensor.evaluate_tick(context)
            spent = time.perf_counter() - started
            after = ws.command_counts()
            sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
            cursor = result.cursor
            print(
                f"{label}: {spent:.3f} s, {len(result.run_requests or [])} run requests, "
                f"commands {sent}, cursor {len(cursor or '')} bytes"
            )
    print(f"import dagster_asp: {import_cost():.2f} s (median of 5, above `python -c pass`)")


if __name__ == "__main__":
    main()
