"""The example DAGs, run as a user runs them: ``airflow dags test``, sync and deferrable.

Each run is a real ``airflow`` process against the session's emulated workspace. The
deferrable mode is Airflow's own switch, ``[operators] default_deferrable``. Reliability
runs put the emulator's faults under ``asp_lifecycle``. Every log of every run is searched
for the password.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from asp_emulator import Workspace
from tests.support.airflow import PASSWORD

EXAMPLES = Path(__file__).resolve().parents[2] / "airflow_provider_asp" / "example_dags"
_runs = itertools.count(1)


@dataclass
class Run:
    """What one ``airflow dags test`` left behind."""

    returncode: int
    output: str
    state: str
    states: dict[str, str]
    values: dict[str, Any]


def dags_test(
    home: Path,
    dag_id: str,
    *,
    deferrable: bool,
    conf: dict[str, Any] | None = None,
    env_extra: dict[str, str] | None = None,
) -> Run:
    """``airflow dags test dag_id`` in a subprocess (with ``env_extra`` in its environment);
    its task states and return values."""
    env = {**os.environ, **(env_extra or {})}
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLES)
    env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = str(deferrable)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # a logical date of its own identifies each run
    logical_date = datetime(2030, 1, 1, tzinfo=timezone.utc) + timedelta(hours=next(_runs))
    command = [sys.executable, "-m", "airflow", "dags", "test", dag_id, logical_date.isoformat()]
    if conf:
        command += ["--conf", json.dumps(conf)]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    state, states, values = _read_run(dag_id, logical_date)
    return Run(result.returncode, result.stdout + result.stderr, state, states, values)


def _read_run(dag_id: str, logical_date: datetime) -> tuple[str, dict[str, str], dict[str, Any]]:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag_run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
            .one_or_none()
        )
        if dag_run is None:
            return "missing", {}, {}
        run_id = dag_run.run_id
        states = {
            ti.task_id: str(ti.state)
            for ti in session.query(TaskInstance).filter(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        }
        values = {
            row.task_id: row.value
            for row in session.query(XComModel).filter(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.key == "return_value",
            )
        }
    return str(dag_run.state), states, values


def assert_no_password(home: Path, run: Run) -> None:
    assert PASSWORD not in run.output
    for path in home.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert PASSWORD not in path.read_text(errors="replace"), path


def deferred(run: Run) -> bool:
    """Whether a task of the run was deferred and its trigger run (inline in dags test)."""
    return "Pausing task as DEFERRED" in run.output and "running trigger in line" in run.output


#: Seconds a start or stop takes in the emulator while the example DAGs run: the waits
#: are real, and in deferrable mode they really go to the trigger.
TRANSITION_DELAY = 1.0


@pytest.fixture
def slow_transitions(workspace: Workspace) -> Iterator[Workspace]:
    workspace.set_transition_delay(TRANSITION_DELAY)
    yield workspace
    workspace.set_transition_delay(0.0)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_asp_lifecycle(airflow_home: Path, slow_transitions: Workspace, deferrable: bool) -> None:
    workspace = slow_transitions
    name = f"lifecycle_{'deferrable' if deferrable else 'sync'}"
    run = dags_test(
        airflow_home, "asp_lifecycle", deferrable=deferrable, conf={"processor_name": name}
    )
    assert run.returncode == 0, run.output[-3000:]
    assert deferred(run) is deferrable  # the waits for STARTED and STOPPED take time
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}, run.states  # no watcher to skip
    assert "watcher" not in run.states  # setup/teardown instead
    assert run.values["start"]["state"] in ("CREATED", "STARTED")
    assert len(run.values["sample"]) == 5
    assert all(doc["obs"]["watts"] >= 100 for doc in run.values["sample"])
    assert run.values["stats"]["stats"]["outputMessageCount"] >= 5
    assert run.values["stop"]["state"] == "STOPPED"
    assert name not in workspace.processors()
    assert_no_password(airflow_home, run)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_asp_deploy_is_idempotent(
    airflow_home: Path, slow_transitions: Workspace, deferrable: bool
) -> None:
    workspace = slow_transitions
    definition = json.loads((EXAMPLES / "asp_deploy_processor.json").read_text())
    name = definition["name"]
    first = dags_test(airflow_home, "asp_deploy", deferrable=deferrable)
    assert first.returncode == 0, first.output[-3000:]
    assert deferred(first) is deferrable  # the deploy's start takes time
    assert first.state == "success", first.states
    assert workspace.processors()[name] == "STARTED"
    assert workspace.processor(name)["pipeline"] == definition["pipeline"]
    second = dags_test(airflow_home, "asp_deploy", deferrable=deferrable)
    assert second.returncode == 0, second.output[-3000:]
    assert second.state == "success", second.states
    assert second.values["deploy"]["actions"] == []
    assert second.values["deploy"]["changed"] == []
    assert workspace.processors()[name] == "STARTED"
    with workspace_client(workspace) as client:
        client.stream_processors().get(name).drop()
    assert_no_password(airflow_home, second)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_asp_watch_hands_the_matching_document_on(
    airflow_home: Path, workspace: Workspace, deferrable: bool
) -> None:
    # Pause the solar source so that nothing matches at the sensor's first look; resume it
    # once the sensor has been waiting a while (poking, or deferred in the triggerer).
    rate = workspace.connections.solar_rate
    workspace.connections.solar_rate = 0
    done = threading.Event()
    resumer = threading.Thread(target=resume_after_first_sample, args=(workspace, rate, done))
    resumer.start()
    try:
        run = dags_test(airflow_home, "asp_watch", deferrable=deferrable)
    finally:
        done.set()
        resumer.join()
        workspace.connections.solar_rate = rate
    assert run.returncode == 0, run.output[-3000:]
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}, run.states  # no watcher to skip
    assert "watcher" not in run.states  # setup/teardown instead
    matched = run.values["wait_for_hot_panel"]
    assert matched
    assert matched[0]["obs"]["temp"] >= 25
    assert matched[0]["obs"]["watts"] >= 200
    assert run.values["report"].startswith(matched[0]["device_id"])
    assert deferred(run)  # the sensor is deferrable in both modes of the DAG
    assert "solar_watch" not in workspace.processors()
    assert_no_password(airflow_home, run)


def resume_after_first_sample(workspace: Workspace, rate: float, done: threading.Event) -> None:
    """Restore the solar rate 4 s after the first sample cursor opens (bounded: 120 s)."""
    opened = workspace.command_counts().get("startSampleStreamProcessor", 0)
    deadline = time.monotonic() + 120
    while not done.is_set() and time.monotonic() < deadline:
        if workspace.command_counts().get("startSampleStreamProcessor", 0) > opened:
            done.wait(4.0)
            break
        done.wait(0.1)
    workspace.connections.solar_rate = rate


def workspace_client(workspace: Workspace) -> Any:
    from asp_core.stream_processing import StreamProcessingClient

    return StreamProcessingClient(workspace.uri)


def test_asp_lifecycle_survives_transient_faults(airflow_home: Path, workspace: Workspace) -> None:
    """Retryable errors and dropped connections on the way: the run ends where it should."""
    name = "lifecycle_faults"
    workspace.inject_fault("getStreamProcessor", times=2, code=6, error_labels=["RetryableError"])
    workspace.inject_fault("createStreamProcessor", close_connection=True)
    workspace.inject_fault("startStreamProcessor", close_connection=True)
    workspace.inject_fault("getStreamProcessorStats", code=91, error_labels=["RetryableError"])
    try:
        run = dags_test(
            airflow_home, "asp_lifecycle", deferrable=False, conf={"processor_name": name}
        )
    finally:
        workspace.clear_faults()
    assert_no_password(airflow_home, run)
    assert name not in workspace.processors()  # dropped by the teardown, never duplicated
    # with the DAG's retries, every fault is absorbed
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}, run.states  # no watcher to skip
    assert "watcher" not in run.states  # setup/teardown instead
    assert run.values["stop"]["state"] == "STOPPED"


def test_asp_lifecycle_with_a_processor_failing_at_runtime(
    airflow_home: Path, workspace: Workspace
) -> None:
    """A processor that FAILS as it starts fails the run with its message; the teardown
    (``drop.as_teardown(setups=create)``) still drops it."""
    name = "lifecycle_failing"
    workspace.fail_processor_on_start(name, "Kafka partition 3 unreachable", 419)
    run = dags_test(airflow_home, "asp_lifecycle", deferrable=False, conf={"processor_name": name})
    assert run.state == "failed", (run.states, run.values)
    assert "Kafka partition 3 unreachable" in run.output
    assert f"Stream processor {name!r} FAILED" in run.output
    # The start's look sees it FAILED (not retryable: no retry); what follows never runs.
    # (A failure in the middle of a sample: tests/integration, deterministically.)
    assert run.states["start"] == "failed", run.states
    assert {run.states[t] for t in ("wait_until_running", "sample", "stats", "stop")} == {
        "upstream_failed"
    }
    # Setup/teardown: the run fails for the start, not for a watcher task; the teardown
    # still dropped what its setup created.
    assert "watcher" not in run.states
    assert run.states["create"] == "success"
    assert run.states["drop"] == "success"
    assert name not in workspace.processors()
    assert_no_password(airflow_home, run)
