"""Event latency of the output trigger, and its memory over an hour's worth of documents.

Three measurements, on the emulator's ``sample_stream_solar`` source (each reading carries
the wall-clock time it was made, ms precision: its arrival in the workspace):

1. ``trigger``: an ``AspProcessorOutputEventTrigger`` in this process's event loop, as in a
   triggerer, at 1, 100 and 10,000 documents per second: latency from a reading's arrival to
   the event that carries it, and how many of the readings made reached an event (a sample
   is a tap: what a busy stream makes faster than it is read is not seen).
2. ``airflow``: the same watcher on an asset under a real scheduler, triggerer, DAG processor
   and API server (sqlite, LocalExecutor, loopback only): latency from arrival to the asset
   event row, and to the start of the consumer DAG run that consumed it.
3. ``memory``: the trigger reads an hour's worth of documents at 100 per second (360,000)
   from a source as fast as the emulator goes; this process's RSS and number of Python
   objects along the way.

The emulator runs in a process of its own (its CPU is not the trigger's); on a 2-core machine
everything still shares two cores. A script, not a test: figures, no pass or fail.
"""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home when first imported: a private one, before any airflow import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-bench-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

import argparse
import asyncio
import atexit
import contextlib
import datetime
import gc
import json
import multiprocessing
import shutil
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
PROCESSOR = "bench_events"
RATES = (1, 100, 10_000)
#: Seconds of stream at each rate.
SECONDS = {1: 20.0, 100: 15.0, 10_000: 10.0}
#: The watcher of both measurements: every reading matches.
WATCH: dict[str, Any] = {
    "match": {"obs.watts": {"$gte": 0}},
    "max_batch": 1_000,
    "max_wait": 1.0,
    "poll_interval": 1.0,
}


# -- the emulator, in a process of its own -----------------------------------------------------
def serve_workspace(conn: Connection, pipeline: list[dict[str, Any]]) -> None:
    """A workspace with the processor STARTED on the solar source at 0 docs/s; then answer
    ``("rate", r)``, ``("input",)`` (readings made so far) and ``("stop",)``."""
    from asp_core.stream_processing import StreamProcessingClient
    from asp_emulator import Workspace

    with Workspace(solar_rate=0) as ws, StreamProcessingClient(ws.uri) as client:
        processors = client.stream_processors()
        processors.create(PROCESSOR, pipeline)
        processors.get(PROCESSOR).start()
        conn.send(ws.airflow_connection())
        while (request := conn.recv())[0] != "stop":
            if request[0] == "rate":
                ws.connections.solar_rate = float(request[1])
                conn.send(None)
            elif request[0] == "input":
                conn.send(int(ws.stats(PROCESSOR)["inputMessageCount"]))


class Emulator:
    def __init__(self, pipeline: list[dict[str, Any]]) -> None:
        self._conn, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=serve_workspace, args=(theirs, pipeline)
        )
        self._process.start()
        self.connection: dict[str, Any] = self._conn.recv()
        os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = json.dumps(self.connection)

    def rate(self, rate: float) -> None:
        self._conn.send(("rate", rate))
        self._conn.recv()

    def made(self) -> int:
        self._conn.send(("input",))
        return int(self._conn.recv())

    def stop(self) -> None:
        self._conn.send(("stop",))
        self._process.join(30)


SOLAR = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$emit": {"connectionName": "__testLog"}},
]


def made_at(document: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(document["timestamp"]).timestamp()


def at(value: str) -> float:
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0}
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000),
        "max_ms": round(ordered[-1] * 1000),
    }


# -- 1. the trigger alone ------------------------------------------------------------------------
async def trigger_latency(emulator: Emulator, rate: int) -> dict[str, Any]:
    from airflow_provider_asp.triggers.events import AspProcessorOutputEventTrigger

    trigger = AspProcessorOutputEventTrigger(processor_name=PROCESSOR, **WATCH)
    latencies: list[float] = []
    events = 0
    stream: Any = trigger.run()
    reading = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(2.0)  # the cursor is open
    before = await asyncio.to_thread(emulator.made)
    since = time.time()  # a new cursor may first hand out older readings: not counted
    await asyncio.to_thread(emulator.rate, rate)
    end = time.monotonic() + SECONDS[rate]
    stopped, made = False, 0
    while True:
        if not stopped and time.monotonic() >= end:
            await asyncio.to_thread(emulator.rate, 0)
            made = await asyncio.to_thread(emulator.made) - before
            stopped = True
        # after the stream stopped: until no event came for max_wait + 3 s
        timeout = WATCH["max_wait"] + 3 if stopped else max(0.0, end - time.monotonic())
        done, _ = await asyncio.wait({reading}, timeout=timeout)
        if not done:
            if stopped:
                break
            continue
        event = reading.result()
        events += 1
        sent = at(event.payload["sent_at"])
        latencies += [
            sent - made_at(doc) for doc in event.payload["documents"] if made_at(doc) >= since
        ]
        reading = asyncio.ensure_future(stream.__anext__())
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    await stream.aclose()
    await trigger.cleanup()
    return {
        "rate_per_s": rate,
        "seconds": SECONDS[rate],
        "made": made,
        "delivered": len(latencies),
        "delivered_pct": round(100 * len(latencies) / made, 1) if made else None,
        "events": events,
        "arrival_to_event": summary(latencies),
    }


# -- 2. under real Airflow processes ------------------------------------------------------------
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task
from airflow_provider_asp.triggers.events import AspProcessorOutputEventTrigger

readings = Asset("bench_readings", watchers=[AssetWatcher(
    name="bench_readings",
    trigger=AspProcessorOutputEventTrigger(processor_name="{PROCESSOR}", **{WATCH!r}),
)])

with DAG("bench_consumer", schedule=[readings], start_date=pendulum.datetime(2026, 1, 1),
         catchup=False, max_active_runs=64):
    @task
    def consume(triggering_asset_events=None):
        return sum(len(e.extra["payload"]["documents"]) for e in triggering_asset_events[readings])
    consume()
'''


def airflow_latency(emulator: Emulator, tmp: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO))  # the tests' harness of real Airflow processes
    from tests.support.airflow_cluster import AirflowCluster, running

    settings = {
        "AIRFLOW_CONN_ASP_DEFAULT": json.dumps(emulator.connection),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    }
    cluster = AirflowCluster(tmp / "home", settings=settings)
    cluster.migrate()
    (cluster.dags / "bench_consumer.py").write_text(DAG_FILE)
    results = []
    with running(cluster):
        cluster.start_api_server()
        cluster.start_scheduler()
        cluster.start_triggerer()
        cluster.start_dag_processor()
        cluster.wait_for(
            lambda: cluster.query("SELECT 1 FROM trigger WHERE triggerer_id IS NOT NULL"),
            180,
            "the watcher to run",
        )
        time.sleep(3.0)  # the watcher's cursor is open
        for rate in RATES:
            first_event = len(cluster.query("SELECT id FROM asset_event"))
            before = emulator.made()
            emulator.rate(rate)
            time.sleep(SECONDS[rate])
            emulator.rate(0)
            made = emulator.made() - before

            def settled() -> bool:
                events = cluster.query("SELECT count(*) FROM asset_event")[0][0]
                busy = cluster.query(
                    "SELECT count(*) FROM dag_run WHERE state IN ('queued', 'running')"
                )[0][0]
                busy += cluster.query("SELECT count(*) FROM asset_dag_run_queue")[0][0]
                time.sleep(WATCH["max_wait"] + 2)
                later = cluster.query("SELECT count(*) FROM asset_event")[0][0]
                return bool(events == later and busy == 0)

            cluster.wait_for(settled, 600, f"the runs of rate {rate}")
            results.append(_airflow_figures(cluster, rate, first_event, made))
    return results


def _airflow_figures(tree: Any, rate: int, skip: int, made: int) -> dict[str, Any]:
    rows = tree.query(
        "SELECT e.id, e.timestamp, e.extra, r.start_date FROM asset_event e "
        "LEFT JOIN dagrun_asset_event d ON d.event_id = e.id "
        "LEFT JOIN dag_run r ON r.id = d.dag_run_id ORDER BY e.id"
    )[skip:]
    to_event, to_row, to_run, runs = [], [], [], set()
    for _, stamp, extra, run_start in rows:
        payload = json.loads(extra)["payload"]
        sent, row = at(payload["sent_at"]), at(stamp)
        for doc in payload["documents"]:
            arrived = made_at(doc)
            to_event.append(sent - arrived)
            to_row.append(row - arrived)
            if run_start is not None:
                to_run.append(at(run_start) - arrived)
        runs.add(run_start)
    return {
        "rate_per_s": rate,
        "made": made,
        "delivered_pct": round(100 * len(to_event) / made, 1) if made else None,
        "asset_events": len(rows),
        "dag_runs": len(runs - {None}),
        "arrival_to_trigger_event": summary(to_event),
        "arrival_to_asset_event_row": summary(to_row),
        "arrival_to_dag_run_start": summary(to_run),
    }


# -- 3. memory over an hour's worth --------------------------------------------------------------
async def memory_flat(emulator: Emulator, documents: int) -> dict[str, Any]:
    from airflow_provider_asp.triggers.events import AspProcessorOutputEventTrigger

    process = psutil.Process()
    trigger = AspProcessorOutputEventTrigger(processor_name=PROCESSOR, **WATCH)
    stream: Any = trigger.run()
    seen, checkpoints, next_mark = 0, [], documents // 10
    started = time.monotonic()
    await asyncio.to_thread(emulator.rate, 50_000)
    while seen < documents:
        event = await asyncio.wait_for(stream.__anext__(), 60)
        seen += len(event.payload["documents"])
        if seen >= next_mark:
            checkpoints.append(
                {
                    "documents": seen,
                    "rss_mb": round(process.memory_info().rss / 2**20, 1),
                    "python_objects": len(gc.get_objects()),
                }
            )
            next_mark += documents // 10
    elapsed = time.monotonic() - started
    await asyncio.to_thread(emulator.rate, 0)
    await stream.aclose()
    await trigger.cleanup()
    return {
        "documents": seen,
        "seconds": round(elapsed, 1),
        "documents_per_s": round(seen / elapsed),
        "checkpoints": checkpoints,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("trigger", "airflow", "memory", "all"), default="all")
    parser.add_argument("--documents", type=int, default=360_000, help="memory part")
    args = parser.parse_args()
    figures: dict[str, Any] = {"watch": WATCH}
    parts = ("trigger", "airflow", "memory") if args.part == "all" else (args.part,)
    for part in parts:
        emulator = Emulator(SOLAR)
        try:
            if part == "trigger":
                figures["trigger"] = [
                    asyncio.run(trigger_latency(emulator, rate)) for rate in RATES
                ]
            elif part == "airflow":
                with tempfile.TemporaryDirectory(prefix="asp-bench-airflow-") as tmp:
                    figures["airflow"] = airflow_latency(emulator, Path(tmp))
            else:
                figures["memory"] = asyncio.run(memory_flat(emulator, args.documents))
        finally:
            emulator.stop()
        print(json.dumps({part: figures[part]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
