"""Real Airflow processes for system tests: an API server, a scheduler, a triggerer and a DAG
processor in a home of their own (sqlite, LocalExecutor), every one bound to 127.0.0.1 (the
log servers are skipped: they would bind all interfaces), and the whole process tree stopped
afterwards, SIGTERM then SIGKILL."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from tests.support.processes import free_port

LOCAL = {"127.0.0.1", "::1"}


class Tree:
    """Airflow processes started in sessions of their own, and every descendant seen of them."""

    def __init__(self, env: dict[str, str], logs: Path, port: int) -> None:
        self.env, self.logs, self.port = env, logs, port
        self.leaders: dict[str, subprocess.Popen[bytes]] = {}
        self.seen: dict[int, psutil.Process] = {}
        self._starts = 0

    def start(self, *args: str) -> None:
        """``airflow *args`` (its log: ``<command>.log``, one more for each restart)."""
        self._starts += 1
        log = (self.logs / f"{args[0]}-{self._starts}.log").open("wb")
        cmd = [str(Path(sys.executable).parent / "airflow"), *args]
        self.leaders[args[0]] = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def members(self) -> list[psutil.Process]:
        for leader in self.leaders.values():
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

    def stop_one(self, command: str) -> None:
        """Stop the process started as ``airflow <command>`` and its descendants."""
        leader = self.leaders.pop(command)
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(leader.pid)
            _terminate([parent, *parent.children(recursive=True)])
        leader.wait(5)

    def stop(self) -> None:
        _terminate(self.members())
        for leader in self.leaders.values():
            leader.wait(5)

    def log_tails(self) -> str:
        tails = {p.name: p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log")}
        return json.dumps(tails, indent=1)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only query of the metadata database."""
        db = Path(self.env["AIRFLOW_HOME"]) / "airflow.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()

    def airflow(self, *args: str) -> str:
        """Run ``airflow *args`` to its end (a CLI command); its output."""
        result = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout


def _terminate(members: list[psutil.Process]) -> None:
    for proc in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=8)
    for proc in alive:  # LocalExecutor workers ignore SIGTERM
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, tree: Tree) -> Any:
    """``condition()`` once it is truthy, looked at every half second; else fail with the
    processes' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; logs: {tree.log_tails()}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def airflow_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a private Airflow: this process's, without its ``AIRFLOW__``
    settings, plus a home, loopback-only servers and quick loops."""
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
            **extra,
        }
    )
    return env


def start_airflow(home: Path, logs: Path, **extra: str) -> Tree:
    """A migrated database in ``home`` (whose ``dags`` folder the caller filled), then the API
    server (healthy), the scheduler, the triggerer and the DAG processor. Stop the tree."""
    port = free_port()
    env = airflow_env(home, port, **extra)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    tree = Tree(env, logs, port)
    try:
        tree.start("api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1")
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        wait_for(lambda: answers(health), 60, "the API server", tree)
        tree.start("scheduler", "--skip-serve-logs")
        tree.start("triggerer", "--skip-serve-logs")
        tree.start("dag-processor")
    except BaseException:
        tree.stop()
        raise
    return tree
