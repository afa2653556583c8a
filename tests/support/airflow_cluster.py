"""A real Airflow deployment for system tests: API server, scheduler (LocalExecutor), DAG
processor and any number of triggerers, each an ``airflow`` command in a session of its
own, sharing one private ``AIRFLOW_HOME`` and one metadata database (PostgreSQL from
:mod:`tests.support.postgres`, or SQLite in the home).

Everything binds 127.0.0.1: the API server by ``-H``, and the scheduler's and triggerers'
log servers, which would bind every interface, are skipped (``--skip-serve-logs``).
:meth:`AirflowCluster.stop` sends SIGTERM to every process seen in the tree (task
processes put themselves in process groups of their own, so groups alone miss them),
then SIGKILL to whatever is left (LocalExecutor workers ignore SIGTERM), and reports
any survivor.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]

from tests.support.postgres import PostgresCluster
from tests.support.processes import free_port

T = TypeVar("T")

MIGRATE_TIMEOUT = 180.0
HEALTH_TIMEOUT = 90.0
TERM_GRACE = 10.0
KILL_GRACE = 10.0
LOOPBACK = frozenset({"127.0.0.1", "::1"})


@dataclass
class Service:
    """One ``airflow`` command, leader of its own session and process group."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class AirflowCluster:
    """The processes of one deployment and the database they share.

    :param home: the ``AIRFLOW_HOME`` (its ``dags/`` is the DAGs folder).
    :param database: the PostgreSQL cluster, or None for SQLite in ``home``.
    :param settings: extra environment (``AIRFLOW__SECTION__KEY`` settings, connections)
        for every process.
    """

    home: Path
    database: PostgresCluster | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)
    #: Services ended on purpose by :meth:`kill`.
    killed: set[str] = field(default_factory=set)
    _seen: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def dags(self) -> Path:
        return self.home / "dags"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The parent's environment without any AIRFLOW* variable (the root conftest sets
        some for in-process tests), plus this deployment's settings."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        venv_bin = str(Path(sys.executable).parent)
        database = (
            self.database.sqlalchemy_url
            if self.database is not None
            else f"sqlite:///{self.home / 'airflow.db'}"
        )
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PATH": os.pathsep.join([venv_bin, env.get("PATH", "")]),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                # The scheduler's health server would listen on every interface.
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            }
        )
        env.update(self.settings)
        return env

    @property
    def _jwt_secret(self) -> str:
        secret_file = self.home / ".jwt-secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(16))
        return secret_file.read_text()

    # -- processes ---------------------------------------------------------------------
    def migrate(self) -> None:
        """``airflow db migrate``."""
        self.dags.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Service:
        """Start ``airflow ARGS`` as ``name`` (its log: ``home/name.log``)."""
        if name in self.services:
            raise ValueError(f"{name} is already started")
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), *args],
                env={**self.env, **(env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = self.services[name] = Service(name, process, log)
        self.members()
        return service

    def start_api_server(self) -> Service:
        """The API server on 127.0.0.1 (one worker), once it answers its health check."""
        service = self.start("api-server", "api-server", "-H", "127.0.0.1", "-p", str(self.port))
        self.wait_for(self.healthy, HEALTH_TIMEOUT, "the API server to answer")
        return service

    def start_scheduler(self) -> Service:
        return self.start("scheduler", "scheduler", "--skip-serve-logs")

    def start_dag_processor(self) -> Service:
        return self.start("dag-processor", "dag-processor")

    def start_triggerer(self, name: str = "triggerer") -> Service:
        return self.start(name, "triggerer", "--skip-serve-logs")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def members(self) -> list[psutil.Process]:
        """Every live process of the deployment, and each one seen since is remembered
        (a process whose parent died is no longer anyone's child)."""
        for service in self.services.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                leader = psutil.Process(service.pid)
                for proc in [leader, *leader.children(recursive=True)]:
                    self._seen.setdefault(proc.pid, proc)
        alive = []
        for proc in self._seen.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def group(self, name: str) -> list[psutil.Process]:
        """The live processes of service ``name``'s process group."""
        pgid = self.services[name].pid
        found = []
        for proc in self.members():
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if os.getpgid(proc.pid) == pgid:
                    found.append(proc)
        return found

    def kill(self, name: str, timeout: float = KILL_GRACE) -> None:
        """SIGKILL service ``name``'s whole process group (a machine dying under it), and
        wait until it is gone."""
        service = self.services[name]
        victims = self.group(name)
        self.killed.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(victims, timeout=timeout)
        service.process.wait(timeout)
        if alive:
            raise AssertionError(f"{name} survived SIGKILL: {alive}")

    def listening(self) -> set[tuple[str, int]]:
        """``(address, port)`` of every listening TCP socket of the deployment."""
        found = set()
        for proc in self.members():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port))
        return found

    def stop(self) -> list[psutil.Process]:
        """SIGTERM every process, SIGKILL what is left after :data:`TERM_GRACE`; returns
        the processes still alive after that (none, normally)."""
        members = self.members()
        for proc in members:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=TERM_GRACE)
        alive = [*alive, *(p for p in self.members() if p not in alive)]
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        for service in self.services.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.pid, signal.SIGKILL)
        _, left = psutil.wait_procs(alive, timeout=KILL_GRACE)
        for service in self.services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(KILL_GRACE)
        return [*left, *(p for p in self.members() if p not in left)]

    # -- reading the deployment ---------------------------------------------------------
    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (``%s`` placeholders) on the metadata DB."""
        if self.database is not None:
            return self.database.query(sql, *args)
        db = self.home / "airflow.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql.replace("%s", "?"), args).fetchall()

    def log_tails(self, chars: int = 3000) -> dict[str, str]:
        tails = {}
        for service in self.services.values():
            with contextlib.suppress(OSError):
                tails[service.name] = service.log.read_text(errors="replace")[-chars:]
        return tails

    def wait_for(
        self, condition: Callable[[], T], timeout: float, what: str, every: float = 0.5
    ) -> T:
        """``condition()``'s first truthy value within ``timeout`` seconds; else an
        AssertionError with the tail of every log. Fails early when a service exits."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self.members()
            exited = {
                s.name: s.process.returncode
                for s in self.services.values()
                if s.process.poll() is not None and s.name not in self.killed
            }
            if exited or time.monotonic() > deadline:
                why = f"{exited} exited" if exited else f"{timeout:.0f} s passed"
                tails = json.dumps(self.log_tails(), indent=1)
                raise AssertionError(f"waiting for {what}: {why}; logs: {tails}")
            time.sleep(every)


@contextlib.contextmanager
def running(cluster: AirflowCluster) -> Iterator[AirflowCluster]:
    """Stop every process of ``cluster`` after the block, even when it fails; then fail
    if any survived."""
    left: list[psutil.Process] = []
    try:
        yield cluster
    finally:
        left = cluster.stop()
    assert not left, f"processes left after SIGTERM and SIGKILL: {left}"
