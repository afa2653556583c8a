"""A deferrable sensor under a real scheduler and a real triggerer (not ``dag.test()``).

The API server, scheduler, triggerer and DAG processor run as separate processes with a
home of their own (sqlite, LocalExecutor), every one bound to 127.0.0.1 (the log servers
are skipped: they would bind all interfaces). The sensor waits for a processor that the
test starts only once the task is DEFERRED; the triggerer sees it STARTED and the task
resumes and succeeds. The whole process tree is stopped afterwards, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from tests.support.airflow import PASSWORD
from tests.support.operators import arrange
from tests.support.processes import free_port

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
LOCAL = {"127.0.0.1", "::1"}


class Tree:
    """Processes started in sessions of their own, and every descendant seen of them."""

    def __init__(self, env: dict[str, str], logs: Path, port: int) -> None:
        self.env, self.logs, self.port = env, logs, port
        self.leaders: list[subprocess.Popen[bytes]] = []
        self.seen: dict[int, psutil.Process] = {}

    def start(self, *args: str) -> None:
        log = (self.logs / f"{args[0]}.log").open("wb")
        cmd = [str(Path(sys.executable).parent / "airflow"), *args]
        self.leaders.append(
            subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def members(self) -> list[psutil.Process]:
        for leader in self.leaders:
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(leader.pid)
                for proc in [parent, *parent.children(recursive=True)]:
                    self.seen.setdefault(proc.pid, proc)
        return [proc for proc in self.seen.values() if proc.is_running()]

    def listening(self) -> set[tuple[str, int]]:
        """``(ip, port)`` of every listening socket of the tree."""
        found = set()
        for proc in self.members():
            with contextlib.suppress(psutil.NoSuchProcess):
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port))
        return found

    def stop(self) -> None:
        members = self.members()
        for proc in members:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=8)
        for proc in alive:  # LocalExecutor workers ignore SIGTERM
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        for leader in self.leaders:
            leader.wait(5)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, tree: Tree) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    tails = {p.name: p.read_text(errors="replace")[-3000:] for p in tree.logs.glob("*.log")}
    raise AssertionError(f"timed out waiting for {what}; logs: {json.dumps(tails, indent=1)}")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG_FILE)
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{venv_bin}:{env.get('PATH', '')}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    procs = Tree(env, tmp_path, port)
    try:
        procs.start("api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1")
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        wait_for(lambda: _answers(health), 60, "the API server", procs)
        procs.start("scheduler", "--skip-serve-logs")
        procs.start("triggerer", "--skip-serve-logs")
        procs.start("dag-processor")
        yield procs
    finally:
        procs.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def query(tree: Tree, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = Path(tree.env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


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
