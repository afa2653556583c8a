"""The README's recipes, run as written; their blocks are read from README.md, so the README
cannot drift. Nothing listens beyond 127.0.0.1; everything started is stopped.

- "Your first DAG against the emulator" (serve, source, ``airflow db migrate``, ``airflow dags
  test``) in a temporary directory, against ``asp-emulator serve`` started as it says.
- "Run ``asp_event_driven`` step by step" under a real scheduler, triggerer, DAG processor and
  API server (:mod:`tests.support.airflow_cluster`), with the variables ``serve`` prints for
  the session's workspace: copy the file, unpause, deploy, a consumer run, ``asp-emulator
  fail``, one remediation run, stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from asp_emulator import Workspace
from asp_emulator.ready import environment
from tests.support.airflow import PASSWORD
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster, running
from tests.support.emulator_cli import serve
from tests.support.event_driven import (
    CONSUMER,
    DEPLOY,
    EXAMPLE,
    FAILURE_ASSET,
    PROCESSOR,
    REMEDIATION,
    asset_events,
    consumed,
    done_runs,
    looks,
    returned,
    runs,
    watchers_running,
)
from tests.support.processes import listening_sockets
from tests.support.readme import block, run_shell, user_env


def test_your_first_dag_against_the_emulator(tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "first_dag.py"
    dag_file.parent.mkdir()
    dag_file.write_text(block("first-dag-file"))
    serve_line = block("first-dag-serve").strip()
    assert serve_line.startswith("asp-emulator serve ")
    with serve(shell=serve_line, cwd=tmp_path) as served:
        listening = listening_sockets(served.process.pid)
        assert listening
        assert {address for address, _ in listening} == {"127.0.0.1"}, listening

        done = run_shell(block("first-dag-run"), tmp_path, user_env())
        assert done.returncode == 0, done.stdout[-4000:]
        for task_id in ("create", "start", "sample", "drop"):
            assert f"[DAG TEST] end task task_id={task_id} " in done.stdout
        finished = [line for line in done.stdout.splitlines() if "DagRun Finished" in line]
        assert len(finished) == 1
        assert "dag_id=first_dag," in finished[0]
        assert "state=success," in finished[0]
        with MongoClient[dict[str, Any]](served.ready["uri"]) as client:
            listed = client.admin.command({"listStreamProcessors": 1})
        assert listed["streamProcessors"] == []  # the teardown dropped "first"
    assert not (tmp_path / "asp-emulator.env").exists()  # serve removed it as it stopped


STOP = "asp_event_driven_stop"
EXAMPLE_DAGS = (DEPLOY, CONSUMER, REMEDIATION, STOP)


@pytest.fixture
def deployment(tmp_path: Path, workspace: Workspace, client: Any) -> Iterator[AirflowCluster]:
    """Scheduler, triggerer, DAG processor and API server, with the variables
    ``asp-emulator serve`` prints for the session's workspace, DAGs paused at creation (as
    Airflow's default is), and an empty DAGs folder."""
    settings = {
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        **environment(workspace),
    }
    cluster = AirflowCluster(tmp_path / "home", settings=settings)
    cluster.migrate()
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


def paused(cluster: AirflowCluster) -> dict[str, bool]:
    rows = cluster.query("SELECT dag_id, is_paused FROM dag WHERE dag_id LIKE 'asp_event_driven%'")
    return {dag_id: bool(is_paused) for dag_id, is_paused in rows}


def step(cluster: AirflowCluster, marker: str) -> str:
    """Run the README's block ``marker`` in the deployment's environment; its output."""
    done = run_shell(block(marker), cluster.home, cluster.env, timeout=180)
    assert done.returncode == 0, f"{marker}: {done.stdout[-3000:]}"
    return done.stdout


@pytest.mark.timeout(600)
def test_the_event_driven_recipe(workspace: Workspace, deployment: AirflowCluster) -> None:
    cluster = deployment
    step(cluster, "event-driven-dags")
    assert (cluster.dags / EXAMPLE.name).read_bytes() == EXAMPLE.read_bytes()
    cluster.wait_for(lambda: set(paused(cluster)) == set(EXAMPLE_DAGS), 120, "the four DAGs")
    assert all(paused(cluster).values())

    step(cluster, "event-driven-unpause")
    assert not any(paused(cluster).values())
    cluster.wait_for(lambda: watchers_running(cluster), 120, "the watchers to run")

    step(cluster, "event-driven-deploy")
    cluster.wait_for(lambda: done_runs(cluster, DEPLOY), 120, "the deploy run")
    assert workspace.processors()[PROCESSOR] == "STARTED"
    hot = cluster.wait_for(lambda: consumed(cluster), 120, "a consumer run with hot readings")
    assert all(reading["obs"]["watts"] >= 400 for reading in hot)

    said = step(cluster, "event-driven-fail")
    assert "'asp_event_driven' fails now: sink unreachable (errorCode 4242" in said
    cluster.wait_for(lambda: done_runs(cluster, REMEDIATION), 120, "the remediation run")
    (report,) = returned(cluster, REMEDIATION, "report_failure")
    assert (report["error_msg"], report["error_code"], report["error_retryable"]) == (
        "sink unreachable",
        4242,
        False,
    )
    seen = looks(workspace)  # looked at again and again: still one run
    cluster.wait_for(lambda: looks(workspace) >= seen + 4, 60, "more looks at the processor")
    assert len(runs(cluster, REMEDIATION)) == 1
    assert len(asset_events(cluster, FAILURE_ASSET)) == 1

    step(cluster, "event-driven-stop")
    cluster.wait_for(lambda: done_runs(cluster, STOP), 120, "the stop run")
    assert PROCESSOR not in workspace.processors()
    assert paused(cluster) == {DEPLOY: False, CONSUMER: True, REMEDIATION: True, STOP: False}
    stopped = cluster.query("SELECT task_id, state FROM task_instance WHERE dag_id = %s", STOP)
    assert sorted(stopped) == [("drop", "success"), ("stop", "success")]

    assert {ip for ip, _ in cluster.listening()} <= LOOPBACK
    written = [path for path in cluster.home.rglob("*") if path.is_file()]
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
