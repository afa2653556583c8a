"""A deferrable Admin API operator under a real scheduler and a real triggerer (not
``dag.test()``): the deploy creates a connection that stays PENDING, the task defers, the
triggerer looks through the async client and dies (SIGKILL); a new triggerer takes the
trigger up from its kwargs alone and looks again; once the test lets the connection become
READY, the task resumes and succeeds, nothing created twice. Secrets appear in no file of
the deployment."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from asp_emulator import Workspace
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster, running

DAG_ID, TASK_ID, CONNECTION = "asp_admin_triggerer", "deploy", "deferred_hook"
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG
from airflow_provider_asp.operators.admin import AspDeployConnectionOperator

with DAG("{DAG_ID}", schedule="@once", start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    AspDeployConnectionOperator(
        task_id="{TASK_ID}", workspace_name="{{workspace}}", connection_name="{CONNECTION}",
        definition={{"type": "Https", "url": "https://hooks.example/deferred"}},
        deferrable=True, poll_interval=1, timeout=120,
    )
'''


@pytest.fixture
def pending_ws() -> Iterator[Workspace]:
    """Connections stay PENDING until the test finishes their transition."""
    with Workspace(admin_api=True, admin_ready_delay=3600) as ws:
        yield ws


@pytest.fixture
def deployment(tmp_path: Path, pending_ws: Workspace) -> Iterator[tuple[AirflowCluster, str]]:
    conn = pending_ws.airflow_admin_connection("GROUP_STREAM_PROCESSING_OWNER")
    settings = {
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # a dead triggerer's triggers go to another after 5 s without its heartbeat
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
        "AIRFLOW_CONN_ASP_ADMIN_DEFAULT": json.dumps(conn),
    }
    cluster = AirflowCluster(tmp_path / "home", settings=settings)
    cluster.migrate()
    dag = DAG_FILE.replace("{workspace}", pending_ws.workspace_name)
    (cluster.dags / f"{DAG_ID}.py").write_text(dag)
    with running(cluster):
        cluster.start_api_server()
        cluster.start_scheduler()
        cluster.start_triggerer()
        cluster.start_dag_processor()
        yield cluster, conn["password"]


def task_state(cluster: AirflowCluster) -> str | None:
    rows = cluster.query("SELECT state FROM task_instance WHERE task_id = %s", TASK_ID)
    return rows[0][0] if rows else None


def looks(ws: Workspace) -> int:
    return ws.admin_request_counts().get("GET connection", 0)


@pytest.mark.timeout(240)
def test_a_deferred_deploy_is_resumed_by_a_new_triggerer(pending_ws, deployment) -> None:
    cluster, secret = deployment
    started = time.monotonic()
    cluster.wait_for(lambda: task_state(cluster) == "deferred", 75, "the task to defer")
    (classpath,) = cluster.query("SELECT classpath FROM trigger")[0]
    assert classpath == "airflow_provider_asp.triggers.admin.AspAdminWaitTrigger"
    (kwargs,) = cluster.query("SELECT kwargs FROM trigger")[0]
    assert secret not in str(kwargs)
    seen = looks(pending_ws)
    # the triggerer looks (through the async client) before the connection is READY
    cluster.wait_for(lambda: looks(pending_ws) > seen + 1, 45, "the triggerer to look")
    cluster.kill("triggerer")  # a machine dying under it, mid-wait
    seen = looks(pending_ws)
    cluster.start_triggerer("triggerer-2")
    cluster.wait_for(lambda: looks(pending_ws) > seen + 1, 90, "the new triggerer to look")
    assert task_state(cluster) == "deferred"
    pending_ws.finish_admin_transitions()
    cluster.wait_for(lambda: task_state(cluster) == "success", 45, "the task to succeed")
    (try_number,) = cluster.query("SELECT try_number FROM task_instance")[0]
    assert try_number == 1  # resumed, not retried
    (value,) = cluster.query("SELECT value FROM xcom WHERE key = 'return_value'")[0]
    assert json.loads(value) == {
        "workspace_name": pending_ws.workspace_name,
        "connection_name": CONNECTION,
        "action": "create",
        "changed": [],
        "state": "READY",
    }
    assert pending_ws.admin_request_counts().get("POST connections") == 1
    assert cluster.query("SELECT count(*) FROM trigger") == [(0,)]  # cleaned up
    assert {ip for ip, _ in cluster.listening()} <= LOOPBACK
    assert time.monotonic() - started < 200
    written = [path for path in cluster.home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in written)
    assert not [path for path in written if secret.encode() in path.read_bytes()]
