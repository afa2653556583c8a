"""A triggerer dies with every deferred wait on it; the other triggerer finishes them all.

Real Airflow 3.3 on PostgreSQL (a private cluster on 127.0.0.1): API server, scheduler
(LocalExecutor), DAG processor and two triggerers, every one bound to 127.0.0.1. One DAG
of deferrable tasks against the emulator: state sensors waiting for STOPPED on STARTED
processors, and deferrable starts of CREATED processors. The first triggerer takes every
trigger; the second starts; the first is SIGKILLed (its whole process group, as a machine
dies). The sensors' processors are stopped only once every trigger is on the survivor and
the survivor has looked at each, so the waits are real and their ends do not race the
kill. Every task must succeed on its first try (resumed, never retried), each processor
must have been started exactly once, and nothing may be left deferred, running or
listening beyond loopback.

The failover's pace is set by two settings (see ``FAILOVER_SETTINGS``): a triggerer's
triggers go to another once its job's ``latest_heartbeat`` is older than ``[triggerer]
triggerer_health_check_threshold`` seconds; a triggerer heartbeats every ``[triggerer]
job_heartbeat_sec`` seconds; the survivor claims at most ``[triggerer]
max_trigger_to_select_per_loop`` (50) of them per loop of about a second.

Starts defer only on a workspace with ``transition_delay`` (start and stop take effect
that long after their acknowledgement): the starts' delay outlasts the kill and the
takeover by far, so their waits are normally taken over too (the test counts them, it does
not depend on it), and the stops the test sends take a little while too. On a workspace
without, starts succeed at once and only the sensors defer.
"""

from __future__ import annotations

import collections
import inspect
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asp_core.stream_processing import StreamProcessingClient, StreamProcessors
from asp_emulator import Workspace
from tests.support.airflow import PASSWORD, SOURCE, connection_json, pipeline
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster
from tests.support.failover import FAILOVER_SETTINGS, deployed, live_triggerers
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.system

DAG_ID = "asp_failover"
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "failover"
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: State sensors (always deferred) and deferrable starts (deferred with transition_delay).
SENSORS = int(os.environ.get("ASP_FAILOVER_SENSORS", "60"))
STARTS = int(os.environ.get("ASP_FAILOVER_STARTS", "20"))
#: Seconds between two looks of a trigger.
POLL = 2.0
#: Seconds the deferrable starts and the test's stops take to take effect, when the
#: workspace supports transition delays.
START_DELAY = 60.0
STOP_DELAY = 2.0
#: Seconds a task may wait at most (so a lost wait fails the test instead of hanging it).
TASK_TIMEOUT = 600
DEPLOYMENT_SETTINGS = {
    **FAILOVER_SETTINGS,
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(SENSORS + STARTS),
    "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT": str(SENSORS + STARTS),
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}

DAG_FILE = """\
import pendulum
from airflow.sdk import DAG
from airflow_provider_asp.operators.asp import AspStartProcessorOperator
from airflow_provider_asp.sensors.asp import AspProcessorStateSensor

SENSED = {sensed!r}
STARTED = {started!r}

with DAG(
    "{dag_id}", schedule="@once", start_date=pendulum.datetime(2024, 1, 1), catchup=False,
    max_active_tasks={count}, default_args={{"retries": 0}},
):
    for name in SENSED:
        AspProcessorStateSensor(
            task_id=f"wait_{{name}}", processor_name=name, target_states="STOPPED",
            deferrable=True, poke_interval={poll}, timeout={timeout}, priority_weight=10,
        )
    for name in STARTED:
        AspStartProcessorOperator(
            task_id=f"start_{{name}}", processor_name=name, deferrable=True,
            poll_interval={poll}, timeout={timeout}, priority_weight=1,
        )
"""


def delays_supported() -> bool:
    """Whether this emulator has transition delays (``Workspace(transition_delay=...)``)."""
    return "transition_delay" in inspect.signature(Workspace).parameters


def set_delay(workspace: Workspace, seconds: float) -> None:
    """Starts and stops sent from now on take ``seconds`` to take effect (if supported)."""
    if delays_supported():
        workspace.set_transition_delay(seconds)  # type: ignore[attr-defined, unused-ignore]


# -- reading the deployment ------------------------------------------------------------
def task_states(cluster: AirflowCluster) -> dict[str, str]:
    rows = cluster.query("SELECT task_id, state FROM task_instance WHERE dag_id = %s", DAG_ID)
    return {task: str(state) for task, state in rows}


def triggers(cluster: AirflowCluster) -> dict[str, int | None]:
    """``{task_id: triggerer job id}`` of every deferred task's trigger."""
    rows = cluster.query(
        "SELECT ti.task_id, t.triggerer_id FROM trigger t "
        "JOIN task_instance ti ON ti.trigger_id = t.id WHERE ti.dag_id = %s",
        DAG_ID,
    )
    return {task: triggerer for task, triggerer in rows}


def snapshot(cluster: AirflowCluster) -> dict[str, tuple[str | None, int | None]]:
    """``{task_id: (state, triggerer job id of its trigger or None)}`` of every task."""
    rows = cluster.query(
        "SELECT ti.task_id, ti.state, t.triggerer_id FROM task_instance ti "
        "LEFT JOIN trigger t ON t.id = ti.trigger_id WHERE ti.dag_id = %s",
        DAG_ID,
    )
    return {task: (state, triggerer) for task, state, triggerer in rows}


def looked_at_by(cluster: AirflowCluster, job: int, tasks: set[str]) -> set[str]:
    """The tasks whose trigger log written by triggerer ``job`` shows a look (Airflow
    writes a trigger's log next to its task's, suffixed ``.trigger.<job id>.log``)."""
    seen = set()
    for task in tasks:
        folder = cluster.home / "logs" / f"dag_id={DAG_ID}"
        for log in folder.glob(f"run_id=*/task_id={task}/attempt=*.log.trigger.{job}.log"):
            if "waiting for STOPPED" in log.read_text(errors="replace"):
                seen.add(task)
    return seen


def ran_triggers(cluster: AirflowCluster, tasks: set[str]) -> set[str]:
    """The tasks that have a trigger log: they deferred and a triggerer ran the trigger."""
    folder = cluster.home / "logs" / f"dag_id={DAG_ID}"
    return {task for task in tasks if any(folder.glob(f"run_id=*/task_id={task}/*.trigger.*"))}


def finished(cluster: AirflowCluster) -> dict[str, str]:
    """``{task_id: state}`` once every task and the DAG run have ended, else ``{}``."""
    states = task_states(cluster)
    runs = cluster.query("SELECT state FROM dag_run WHERE dag_id = %s", DAG_ID)
    ended = set(states.values()) <= FINISHED and runs and runs[0][0] in {"success", "failed"}
    return states if ended else {}


def xcom_states(cluster: AirflowCluster) -> dict[str, str]:
    rows = cluster.query(
        "SELECT task_id, value FROM xcom WHERE dag_id = %s AND key = 'return_value'", DAG_ID
    )
    return {task: _json(value)["state"] for task, value in rows}


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, memoryview)):
        value = bytes(value).decode()
    return json.loads(value) if isinstance(value, str) else value


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with Workspace(users={"admin": PASSWORD}, connections=[SOURCE]) as ws:
        yield ws


@pytest.fixture
def deployment(
    postgres_cluster: PostgresCluster, workspace: Workspace, tmp_path: Path
) -> Iterator[AirflowCluster]:
    """The deployment's processes, not started yet; stopped (and their logs kept in
    ``artifacts/failover/``) afterwards."""
    settings = {**DEPLOYMENT_SETTINGS, "AIRFLOW_CONN_ASP_DEFAULT": connection_json(workspace)}
    cluster = AirflowCluster(tmp_path / "home", postgres_cluster, settings)
    cluster.migrate()
    with deployed(cluster, ARTIFACTS):
        yield cluster


@dataclass
class Plan:
    """The processors and the tasks that wait for them."""

    sensed: list[str]
    started: list[str]
    delayed: bool

    @property
    def waits(self) -> set[str]:
        return {f"wait_{name}" for name in self.sensed}

    @property
    def starts(self) -> set[str]:
        return {f"start_{name}" for name in self.started}

    def dag_file(self) -> str:
        return DAG_FILE.format(
            dag_id=DAG_ID,
            sensed=self.sensed,
            started=self.started,
            count=len(self.sensed) + len(self.started),
            poll=POLL,
            timeout=TASK_TIMEOUT,
        )


def arrange(workspace: Workspace, processors: StreamProcessors, plan: Plan) -> None:
    """Sensed processors STARTED, the others CREATED."""
    for name in [*plan.sensed, *plan.started]:
        processors.create(name, pipeline(source=SOURCE))
    for name in plan.sensed:
        processors.get(name).start()
    deadline = time.monotonic() + 30
    while not all(workspace.processors()[n] == "STARTED" for n in plan.sensed):
        assert time.monotonic() < deadline, "the sensed processors did not start"
        time.sleep(0.2)


@pytest.mark.timeout(600)
def test_the_surviving_triggerer_finishes_every_wait_of_a_killed_one(
    workspace: Workspace, deployment: AirflowCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = deployment
    plan = Plan(
        [f"sensed{i:03d}" for i in range(SENSORS)],
        [f"started{i:03d}" for i in range(STARTS)],
        delayed=delays_supported(),
    )
    waits, starts = plan.waits, plan.starts
    figures: dict[str, Any] = {"sensors": SENSORS, "starts": STARTS, "delayed": plan.delayed}
    with StreamProcessingClient(workspace.uri) as client:
        processors = client.stream_processors()
        arrange(workspace, processors, plan)
        set_delay(workspace, START_DELAY)
        counts_before = workspace.command_counts()
        (cluster.dags / f"{DAG_ID}.py").write_text(plan.dag_file())

        began = time.monotonic()
        cluster.start_api_server()
        cluster.start_scheduler()
        cluster.start_dag_processor()
        cluster.start_triggerer("triggerer-a")

        # 1. Every wait deferred, on the only triggerer, which has looked at each. A
        # deferred start may end before the others defer (its delay is up): it counts
        # once its trigger has run.
        def all_deferred() -> bool:
            now = snapshot(cluster)  # one statement: one consistent view
            if set(now) != waits | starts:
                return False
            held = {task for task, (state, job) in now.items() if state == "deferred" and job}
            if not plan.delayed:
                return waits <= held
            others = starts - held
            return (
                waits <= held
                and all(now[task][0] != "deferred" for task in others)
                and others <= ran_triggers(cluster, others)
            )

        cluster.wait_for(all_deferred, 300, "every wait to defer")
        ((first,),) = cluster.query("SELECT id FROM job WHERE job_type = 'TriggererJob'")
        cluster.wait_for(
            lambda: looked_at_by(cluster, first, waits) == waits,
            60,
            "the first triggerer to look at every wait",
        )
        figures["deferred_after_start_s"] = round(time.monotonic() - began, 1)
        held = triggers(cluster)
        assert set(held.values()) == {first}
        states = task_states(cluster)
        assert {states[task] for task in held} == {"deferred"}

        # 2. The second triggerer joins; it takes nothing from a live triggerer.
        cluster.start_triggerer("triggerer-b")
        second = cluster.wait_for(
            lambda: [job for job in live_triggerers(cluster) if job != first],
            90,
            "the second triggerer's first heartbeat",
        )[0]
        held = triggers(cluster)
        assert waits <= set(held)
        assert set(held.values()) == {first}

        # 3. The holder dies with every trigger on it.
        killed_at = time.time()
        cluster.kill("triggerer-a")
        figures["held_by_killed"] = {"waits": len(waits), "starts": len(set(held) & starts)}

        # 4. The survivor takes every trigger over and looks at each wait.
        def taken_over() -> bool:
            now = triggers(cluster)
            return set(now) >= waits and set(now.values()) == {second}

        cluster.wait_for(taken_over, 120, "the survivor to take the triggers over")
        figures["kill_to_takeover_s"] = round(time.time() - killed_at, 1)
        assert first not in live_triggerers(cluster)
        cluster.wait_for(
            lambda: looked_at_by(cluster, second, waits) == waits,
            60,
            "the survivor to look at every wait",
        )
        figures["kill_to_survivor_looked_at_all_s"] = round(time.time() - killed_at, 1)
        assert looked_at_by(cluster, first, waits) == waits  # both ran them

        # 5. Only now can the waits end.
        set_delay(workspace, STOP_DELAY)
        stopped_at = time.time()
        for name in plan.sensed:
            processors.get(name).stop()
        states = cluster.wait_for(lambda: finished(cluster), 300, "every task to end")
        (last_end,) = cluster.query(
            "SELECT max(end_date) FROM task_instance WHERE dag_id = %s", DAG_ID
        )[0]
        figures["kill_to_last_task_end_s"] = round(last_end.timestamp() - killed_at, 1)
        figures["stops_to_last_task_end_s"] = round(last_end.timestamp() - stopped_at, 1)
        counts = collections.Counter(workspace.command_counts())
        counts.subtract(counts_before)
        final = workspace.processors()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\nfailover figures: {json.dumps(figures)}")

    # Every task ended right, on its first try: resumed, never retried.
    assert states == {task: "success" for task in waits | starts}
    tries = cluster.query("SELECT try_number FROM task_instance WHERE dag_id = %s", DAG_ID)
    assert {n for (n,) in tries} == {1}
    results = xcom_states(cluster)
    assert {task: results[task] for task in waits} == dict.fromkeys(waits, "STOPPED")
    assert {task: results[task] for task in starts} == dict.fromkeys(starts, "STARTED")
    if plan.delayed:
        assert ran_triggers(cluster, starts) == starts  # every start waited in a triggerer
    # Each processor started once: the sensed ones by the test, the others by their task.
    assert counts["startStreamProcessor"] == STARTS
    assert counts["stopStreamProcessor"] == SENSORS
    assert {final[name] for name in plan.sensed} == {"STOPPED"}
    assert {final[name] for name in plan.started} == {"STARTED"}
    # Nothing is left deferred, in a triggerer or running.
    assert cluster.query("SELECT count(*) FROM trigger") == [(0,)]
    assert cluster.query("SELECT state FROM dag_run WHERE dag_id = %s", DAG_ID) == [("success",)]
    # Every listening socket of the deployment and its database is on loopback.
    listening = cluster.listening()
    assert ("127.0.0.1", cluster.port) in listening
    assert {address for address, _ in listening} <= LOOPBACK, listening
    assert cluster.database is not None
    assert cluster.database.listening() == {("127.0.0.1", cluster.database.port)}
