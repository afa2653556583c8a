"""A real ``dagster-daemon run`` in a test: a temporary ``DAGSTER_HOME`` (SQLite or
PostgreSQL), a definitions file with the state sensor against the emulator, and the
instance read back from the test."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Optional

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import TickStatus

from asp_emulator import Workspace
from dagster_support.processes import stop
from dagster_support.workspaces import PASSWORD, USER

SENSOR = "asp_state_sensor"

DEFS = """
import dagster as dg
from dagster_asp import AspWorkspace, build_asp_state_sensor


@dg.op
def react(context) -> None:
    context.log.info("tags: %s", dict(context.run.tags))


@dg.job
def on_failure() -> None:
    react()


defs = dg.Definitions(
    jobs=[on_failure],
    sensors=[
        build_asp_state_sensor(
            target=on_failure,
            processor_names=[{name!r}],
            minimum_interval_seconds=1,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
    ],
    resources={{
        "asp": AspWorkspace(
            host={host!r},
            port={port!r},
            username={user!r},
            password=dg.EnvVar("ASP_PASSWORD"),
            tls_ca_file={ca!r},
            server_selection_timeout_ms=5000,
        )
    }},
)
"""


def write_home(home: Path, postgres_url: Optional[str] = None) -> None:  # noqa: UP045
    storage = ""
    if postgres_url:
        storage = f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n"
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "sensors:\n  use_threads: false\n"
        "run_monitoring:\n  enabled: false\n" + storage
    )


def write_defs(directory: Path, workspace: Workspace, name: str) -> Path:
    path = directory / "asp_defs.py"
    text = DEFS.format(
        name=name, host=workspace.host, port=workspace.port, user=USER, ca=workspace.ca_file
    )
    path.write_text(textwrap.dedent(text))
    return path


class Daemon:
    """``dagster-daemon run -f defs`` in a process group of its own."""

    def __init__(self, home: Path, defs: Path) -> None:
        self.home, self.defs = home, defs
        self.process: Optional[subprocess.Popen[bytes]] = None  # noqa: UP045
        self.log = home / "daemon.log"

    def start(self) -> None:
        env = {**os.environ, "DAGSTER_HOME": str(self.home), "ASP_PASSWORD": PASSWORD}
        daemon = Path(sys.executable).parent / "dagster-daemon"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(daemon),
                    "run",
                    "-f",
                    str(self.defs),
                    "--working-directory",
                    str(self.defs.parent),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.defs.parent,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def ticks(inst: dg.DagsterInstance) -> list[Any]:
    """The sensor's ticks, newest first ([] before its first)."""
    states = [s for s in inst.all_instigator_state() if s.name == SENSOR]
    if not states:
        return []
    state = states[0]
    found = inst.get_ticks(state.instigator_origin_id, state.selector_id, limit=200)
    failed = [t for t in found if t.status == TickStatus.FAILURE]
    if failed:
        raise AssertionError(f"a sensor tick failed: {failed[0].error}")
    return [t for t in found if t.status != TickStatus.STARTED]


def runs_of(inst: dg.DagsterInstance, processor: str) -> list[Any]:
    return list(inst.get_runs(dg.RunsFilter(tags={"asp/processor": processor})))


def wait(condition: Any, timeout: float, what: str, daemon: Daemon) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if daemon.process is not None and daemon.process.poll() is not None:
            raise AssertionError(
                f"the daemon exited while waiting for {what}:\n{daemon.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{daemon.log_tail()}")
        time.sleep(0.2)
