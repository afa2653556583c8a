"""A deferrable sensor under a real scheduler and a real triggerer (not ``dag.test()``).

The API server, scheduler, triggerer and DAG processor run as separate processes with a
home of their own (sqlite, LocalExecutor), every one bound to 127.0.0.1 (the log servers
are skipped: they would bind all interfaces; see :mod:`tests.support.airflow_cluster`).
The sensor waits for a processor that the test starts only once the task is DEFERRED; the
triggerer sees it STARTED and the task resumes and succeeds. The whole process tree is
stopped afterwards, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.airflow import PASSWORD
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster, running
from tests.support.operators import arrange

DAG_ID, TASK_ID, PROCESSOR = "asp_real_triggerer", "wait_started", "real_triggerer_proc"
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG
from airflow_provider_asp.sensors.asp import AspProcessorStateSensor

with DAG("{DAG_ID}", schedule="@once", start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    AspProcessorStateSensor(
        task_id="{TASK_ID}", processor_name="{PROCESSOR}", deferrable=True, poke_interval=1,
        timeout=120,
    )
'''


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[AirflowCluster]:
    settings = {
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW_CONN_ASP_DEFAULT": os.environ["AIRFLOW_CONN_ASP_DEFAULT"],
    }
    cluster = AirflowCluster(tmp_path / "home", settings=settings)
    cluster.migrate()
    (cluster.dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    with running(cluster):
        cluster.start_api_server()
        cluster.start_scheduler()
        cluster.start_triggerer()
        cluster.start_dag_processor()
        yield cluster


def task_state(cluster: AirflowCluster) -> str | None:
    rows = cluster.query("SELECT state FROM task_instance WHERE task_id = %s", TASK_ID)
    return rows[0][0] if rows else None


@pytest.mark.timeout(150)
def test_a_deferred_sensor_is_resumed_by_a_real_triggerer(workspace, client, deployment):
    cluster = deployment
    client.stream_processors().list()  # the emulator answers before anything starts
    arrange(client, PROCESSOR)  # CREATED: the sensor has to wait
    started = time.monotonic()
    cluster.wait_for(lambda: task_state(cluster) == "deferred", 75, "the task to defer")
    (classpath,) = cluster.query("SELECT classpath FROM trigger")[0]
    assert classpath == "airflow_provider_asp.triggers.asp.AspProcessorStateTrigger"
    assert workspace.processors()[PROCESSOR] == "CREATED"
    client.stream_processors().get(PROCESSOR).start()
    cluster.wait_for(lambda: task_state(cluster) == "success", 45, "the task to succeed")
    (try_number,) = cluster.query("SELECT try_number FROM task_instance")[0]
    assert try_number == 1  # resumed, not retried
    (value,) = cluster.query("SELECT value FROM xcom WHERE key = 'return_value'")[0]
    assert json.loads(value)["state"] == "STARTED"
    assert cluster.query("SELECT count(*) FROM trigger") == [(0,)]  # cleaned up
    listening = cluster.listening()
    assert ("127.0.0.1", cluster.port) in listening
    assert {ip for ip, _ in listening} <= LOOPBACK, listening
    assert time.monotonic() - started < 90
    written = [path for path in cluster.home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in written)
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
