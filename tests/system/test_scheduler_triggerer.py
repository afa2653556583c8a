"""A deferrable sensor under a real scheduler and a real triggerer (not ``dag.test()``).

The API server, scheduler, triggerer and DAG processor run as separate processes with a
home of their own (``tests/support/airflow_processes.py``: sqlite, LocalExecutor, every one
bound to 127.0.0.1). The sensor waits for a processor that the test starts only once the
task is DEFERRED; the triggerer sees it STARTED and the task resumes and succeeds. The whole
process tree is stopped afterwards, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow import PASSWORD
from tests.support.airflow_processes import LOCAL, Tree, start_airflow, wait_for
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
def tree(tmp_path: Path) -> Iterator[Tree]:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG_FILE)
    procs = start_airflow(home, tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


def query(tree: Tree, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return tree.query(sql, *args)


def task_state(tree: Tree) -> str | None:
    rows = query(tree, "SELECT state FROM task_instance WHERE task_id = ?", TASK_ID)
    return rows[0][0] if rows else None


@pytest.mark.timeout(150)
def test_a_deferred_sensor_is_resumed_by_a_real_triggerer(workspace, client, tree):
    client.stream_processors().list()  # the emulator answers before anything starts
    arrange(client, PROCESSOR)  # CREATED: the sensor has to wait
    started = time.monotonic()
    wait_for(lambda: task_state(tree) == "deferred", 75, "the task to defer", tree)
    (classpath,) = query(tree, "SELECT classpath FROM trigger")[0]
    assert classpath == "airflow_provider_asp.triggers.asp.AspProcessorStateTrigger"
    assert workspace.processors()[PROCESSOR] == "CREATED"
    client.stream_processors().get(PROCESSOR).start()
    wait_for(lambda: task_state(tree) == "success", 45, "the task to succeed", tree)
    (try_number,) = query(tree, "SELECT try_number FROM task_instance")[0]
    assert try_number == 1  # resumed, not retried
    (value,) = query(tree, "SELECT value FROM xcom WHERE key = 'return_value'")[0]
    assert json.loads(value)["state"] == "STARTED"
    assert query(tree, "SELECT count(*) FROM trigger") == [(0,)]  # cleaned up
    listening = tree.listening()
    assert ("127.0.0.1", tree.port) in listening
    assert {ip for ip, _ in listening} <= LOCAL, listening
    assert time.monotonic() - started < 90
    written = [path for path in tree.logs.rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in written)
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
