"""The ``asp_event_driven`` example under a real scheduler, DAG processor and triggerer.

The example file is the only DAG file. Its deploy DAG (triggered with the CLI) deploys the
processor on a connection the test feeds; the watchers of the two assets run in the
triggerer. Documents fed into the connection start the consumer DAG, which gets exactly the
matching documents; a failure injected into the processor starts the remediation DAG once:
looked at again and again, and after the triggerer is killed and another one takes over (the
transition told is remembered in the asset's state store), it is still one event and one
run. Every process listens on loopback only, no log holds the password, and every process is
stopped afterwards (:mod:`tests.support.airflow_cluster`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow import PASSWORD
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster, running
from tests.support.event_driven import (
    DEPLOY,
    EXAMPLE,
    FEED,
    PROCESSOR,
    REMEDIATION,
    assert_remediated_once,
    asset_events,
    consumed,
    done_runs,
    looks,
    runs,
    trigger_dag,
    watchers_running,
)


@pytest.fixture
def airflow(tmp_path: Path, workspace, client) -> Iterator[AirflowCluster]:
    settings = {
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW_CONN_ASP_DEFAULT": os.environ["AIRFLOW_CONN_ASP_DEFAULT"],
    }
    cluster = AirflowCluster(tmp_path / "home", settings=settings)
    cluster.migrate()
    shutil.copy(EXAMPLE, cluster.dags / EXAMPLE.name)
    workspace.add_connection(FEED)
    try:
        with running(cluster):
            cluster.start_api_server()
            cluster.start_scheduler()
            cluster.start_triggerer()
            cluster.start_dag_processor()
            yield cluster
    finally:
        if PROCESSOR in workspace.processors():
            client.stream_processors().get(PROCESSOR).drop()


@pytest.mark.timeout(480)
def test_processor_output_and_failure_start_their_dags(workspace, airflow):
    cluster = airflow
    cluster.wait_for(lambda: watchers_running(cluster), 120, "the watchers to run in the triggerer")
    cursors = workspace.command_counts().get("startSampleStreamProcessor", 0)
    trigger_dag(cluster, DEPLOY, {"source": FEED})
    cluster.wait_for(lambda: done_runs(cluster, DEPLOY), 120, "the deploy run")
    assert workspace.processors()[PROCESSOR] == "STARTED"
    cluster.wait_for(
        lambda: workspace.command_counts().get("startSampleStreamProcessor", 0) > cursors,
        60,
        "the output watcher to open a sample cursor",
    )

    # Output: the processor keeps >= 300 W, the watcher >= 400 W.
    readings: list[dict[str, Any]] = [
        {"device_id": f"device_{i}", "obs": {"watts": watts, "temp": 20}}
        for i, watts in enumerate([450, 320, 410, 100, 500])
    ]
    workspace.feed(FEED, readings)
    hot = [r for r in readings if r["obs"]["watts"] >= 400]

    cluster.wait_for(lambda: len(consumed(cluster)) >= len(hot), 120, "the consumer DAG's runs")
    assert sorted(consumed(cluster), key=lambda d: d["device_id"]) == hot  # each once, nothing else
    events = asset_events(cluster, "asp_event_driven_hot_panels")  # one, unless a batch split
    assert {(e["from_trigger"], e["payload"]["processor_name"]) for e in events} == {
        (True, PROCESSOR)
    }
    assert sum(e["payload"]["count"] for e in events) == len(hot)

    # Failure: one event, one remediation run, however often it is looked at.
    assert_remediated_once(cluster, workspace)
    (restart,) = cluster.query("SELECT state FROM task_instance WHERE task_id = 'restart'")
    assert restart == ("skipped",)  # not retryable: not restarted
    seen = looks(workspace)
    cluster.wait_for(lambda: looks(workspace) >= seen + 4, 60, "more looks at the processor")
    assert len(asset_events(cluster, "asp_event_driven_failures")) == 1

    # A new triggerer: the watchers start again and remember the failure they told.
    remembered = cluster.query("SELECT key FROM asset_state_store")
    assert any(key.startswith("asp_state:asp_event_driven:") for (key,) in remembered)
    cluster.kill("triggerer")  # a machine dying under it
    cluster.start_triggerer("triggerer-2")
    seen = looks(workspace)  # both watchers look every 5 s: three looks each, about
    cluster.wait_for(lambda: looks(workspace) >= seen + 6, 120, "the new triggerer's looks")
    assert len(asset_events(cluster, "asp_event_driven_failures")) == 1
    assert len(runs(cluster, REMEDIATION)) == 1
    assert workspace.processors()[PROCESSOR] == "FAILED"

    listening = cluster.listening()
    assert ("127.0.0.1", cluster.port) in listening
    assert {ip for ip, _ in listening} <= LOOPBACK, listening
    written = [path for path in cluster.home.rglob("*") if path.is_file()]
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
