"""Benchmark (not a test): what materializing a processor asset costs against the emulator,
the first time (create and start) and again unchanged (one read, nothing written), and the
commands each sends.

    .venv-dagster/bin/python dagster-asp/benchmarks/materialize.py [--repeats 5]
"""

import argparse
import statistics
import tempfile
import time
from typing import Any

PIPELINE: list[dict[str, Any]] = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$match": {"obs.watts": {"$gt": 200}}},
    {"$emit": {"connectionName": "__testLog"}},
]


def asp_counts(counts: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in counts.items() if "StreamProcessor" in name}


def sent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import dagster as dg

    from asp_emulator import Workspace
    from dagster_asp import AspProcessor, AspWorkspace, build_asp_processor_assets

    first: list[float] = []
    again: list[float] = []
    commands: dict[str, dict[str, int]] = {}
    with Workspace(users={"admin": "admin-password"}) as ws, tempfile.TemporaryDirectory() as home:
        instance = dg.DagsterInstance.local_temp(home)
        asp = AspWorkspace(
            host=ws.host,
            port=ws.port,
            username="admin",
            password="admin-password",
            tls_ca_file=ws.ca_file,
        )
        for i in range(args.repeats):
            assets = build_asp_processor_assets(
                [AspProcessor(f"bench_{i}", PIPELINE)], timeout=60, poll_interval=0.2
            )
            for label, times in (("first", first), ("again", again)):
                before = asp_counts(ws.command_counts())
                started = time.perf_counter()
                result = dg.materialize(assets, resources={"asp": asp}, instance=instance)
                times.append(time.perf_counter() - started)
                assert result.success
                commands[label] = sent(before, asp_counts(ws.command_counts()))
    print(f"repeats: {args.repeats} (median, max)")
    print(f"materialize, create + start: {statistics.median(first):.2f} s, {max(first):.2f} s")
    print(f"  commands: {commands['first']}")
    print(f"materialize again, unchanged: {statistics.median(again):.2f} s, {max(again):.2f} s")
    print(f"  commands: {commands['again']}")


if __name__ == "__main__":
    main()
