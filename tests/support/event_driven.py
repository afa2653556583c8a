"""The ``asp_event_driven`` example in a real deployment: its names, and reading what its
watchers and DAGs did from the metadata database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from asp_emulator import Workspace
from tests.support.airflow_cluster import AirflowCluster

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "airflow_provider_asp"
    / "example_dags"
    / "asp_event_driven.py"
)
PROCESSOR = "asp_event_driven"
#: The workspace connection the deploy DAG is told to read (its ``source`` param).
FEED = "asp_event_driven_feed"
CONSUMER, REMEDIATION, DEPLOY = (
    "asp_event_driven",
    "asp_event_driven_remediation",
    "asp_event_driven_deploy",
)
HOT_ASSET, FAILURE_ASSET = "asp_event_driven_hot_panels", "asp_event_driven_failures"
OUTPUT_TRIGGER = "airflow_provider_asp.triggers.events.AspProcessorOutputEventTrigger"
STATE_TRIGGER = "airflow_provider_asp.triggers.events.AspProcessorStateEventTrigger"
#: The processor keeps readings of 300 W or more, the output watcher those of 400 W or more.
HOT_WATTS = 400


def as_json(value: Any) -> Any:
    """A JSON column's value (SQLite gives text, psycopg2 gives it decoded)."""
    if isinstance(value, (bytes, memoryview)):
        value = bytes(value).decode()
    return json.loads(value) if isinstance(value, str) else value


def readings(prefix: str, watts: list[int]) -> list[dict[str, Any]]:
    """Solar panel readings, one per value of ``watts`` (distinct devices)."""
    return [
        {"device_id": f"{prefix}_{i}", "obs": {"watts": value, "temp": 20}}
        for i, value in enumerate(watts)
    ]


def hot(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The readings the output watcher sends."""
    return [doc for doc in documents if doc["obs"]["watts"] >= HOT_WATTS]


def trigger_dag(cluster: AirflowCluster, dag_id: str, conf: dict[str, Any]) -> None:
    """``airflow dags trigger`` (the CLI) in the deployment's environment."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "trigger", dag_id, "--conf", json.dumps(conf)],
        env=cluster.env,
        capture_output=True,
        check=True,
        timeout=120,
    )


def runs(cluster: AirflowCluster, dag_id: str) -> list[tuple[str, str]]:
    return cluster.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s", dag_id)


def done_runs(cluster: AirflowCluster, dag_id: str) -> list[str]:
    """Run ids of finished runs; a failed run fails the test at once."""
    states = runs(cluster, dag_id)
    assert "failed" not in {state for _, state in states}, f"{dag_id}: {states}"
    return [run_id for run_id, state in states if state == "success"]


def returned(cluster: AirflowCluster, dag_id: str, task_id: str) -> list[Any]:
    rows = cluster.query(
        "SELECT value FROM xcom WHERE dag_id = %s AND task_id = %s AND key = 'return_value'",
        dag_id,
        task_id,
    )
    return [as_json(value) for (value,) in rows]


def consumed(cluster: AirflowCluster) -> list[dict[str, Any]]:
    """Every reading the consumer DAG's finished runs handled (a failed run fails)."""
    done_runs(cluster, CONSUMER)
    return [
        doc
        for value in returned(cluster, CONSUMER, "handle_hot_panels")
        for doc in value["readings"]
    ]


def asset_events(cluster: AirflowCluster, asset: str) -> list[dict[str, Any]]:
    rows = cluster.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = %s "
        "ORDER BY e.id",
        asset,
    )
    return [as_json(extra) for (extra,) in rows]


def sent(cluster: AirflowCluster) -> list[dict[str, Any]]:
    """Every reading the output watcher sent, in the order of its asset events."""
    events = asset_events(cluster, HOT_ASSET)
    return [doc for event in events for doc in event["payload"]["documents"]]


def watcher_holders(cluster: AirflowCluster) -> dict[str, int | None]:
    """``{trigger classpath: triggerer job id or None}`` of the two watchers (one trigger
    row each)."""
    rows = cluster.query(
        "SELECT classpath, triggerer_id FROM trigger WHERE classpath IN (%s, %s)",
        OUTPUT_TRIGGER,
        STATE_TRIGGER,
    )
    held = {classpath: job for classpath, job in rows}
    assert len(held) == len(rows), f"more than one trigger row per watcher: {rows}"
    return held


def watchers_running(cluster: AirflowCluster) -> bool:
    """Both watchers' triggers are held by a triggerer."""
    rows = cluster.query("SELECT classpath FROM trigger WHERE triggerer_id IS NOT NULL")
    return {OUTPUT_TRIGGER, STATE_TRIGGER} <= {classpath for (classpath,) in rows}


def count(workspace: Workspace, command: str) -> int:
    return int(workspace.command_counts().get(command, 0))


def looks(workspace: Workspace) -> int:
    """Reads of processors (a triggerer's reads that come together share one list)."""
    return count(workspace, "getStreamProcessor") + count(workspace, "listStreamProcessors")


def by_device(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(documents, key=lambda doc: str(doc["device_id"]))


def assert_remediated_once(cluster: AirflowCluster, workspace: Workspace) -> None:
    """Fail the processor (not retryable): the remediation DAG runs and reports it."""
    workspace.fail_processor(PROCESSOR, "sink unreachable", code=4242, retryable=False)
    cluster.wait_for(lambda: done_runs(cluster, REMEDIATION), 120, "the remediation run")
    (report,) = returned(cluster, REMEDIATION, "report_failure")
    assert {k: report[k] for k in ("state", "error_msg", "error_code", "error_retryable")} == {
        "state": "FAILED",
        "error_msg": "sink unreachable",
        "error_code": 4242,
        "error_retryable": False,
    }
