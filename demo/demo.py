"""The demo: the ``asp_lifecycle`` example DAG against the embedded emulator.

``make demo`` runs this. It starts the emulator (TLS, a SCRAM user), points the
``asp_default`` connection at it, runs ``airflow dags test asp_lifecycle`` in a private
AIRFLOW_HOME, prints what happened (task states, processor states, sampled documents,
stats), then stops the emulator and removes the temporary home. Nothing is left running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from asp_emulator import Workspace

DAG_ID = "asp_lifecycle"
PASSWORD = "demo-Passw0rd-never-logged"
EXAMPLES = Path(__file__).resolve().parents[1] / "airflow_provider_asp" / "example_dags"


def airflow_env(home: Path, workspace: Workspace) -> dict[str, str]:
    """The environment of the Airflow commands: a private home and ``asp_default``."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_CONN_ASP_DEFAULT": json.dumps(workspace.airflow_connection()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    """Run ``airflow <args>``, its output into ``log``; stop the demo if it fails."""
    with log.open("a") as out:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=out, check=False
        )
    if result.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"airflow {' '.join(args)} failed (exit {result.returncode}); log: {log}")


def run_results(env: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Task states and return values of the latest run, read from the metadata database."""
    os.environ.update(env)
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun).filter(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc()).first()
        )
        assert run is not None, "no DAG run recorded"
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
        values = {
            row.task_id: row.value
            for row in session.query(XComModel).filter(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.key == "return_value",
            )
        }
    return states, values


def show(states: dict[str, str], values: dict[str, Any]) -> None:
    """Print the account of the run."""
    order = ["create", "start", "wait_until_running", "sample", "stats", "stop", "drop"]
    print("\nTasks")
    for task_id in order:
        print(f"  {task_id:<20} {states.get(task_id, '?')}")
    print("\nProcessor states reached")
    for task_id in ("create", "start", "stop"):
        info = values.get(task_id) or {}
        print(f"  after {task_id:<7} {info.get('state', '?')}")
    print("\nA few sampled documents")
    for doc in (values.get("sample") or [])[:3]:
        print(
            f"  {doc['device_id']}: {doc['obs']['watts']} W, {doc['obs']['temp']} C "
            f"({doc['kilowatts']} kW)"
        )
    stats = (values.get("stats") or {}).get("stats", {})
    print("\nStats")
    for key in ("inputMessageCount", "outputMessageCount", "dlqMessageCount"):
        print(f"  {key:<20} {stats.get(key, '?')}")


def main() -> None:
    """Run the demo."""
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="asp-demo-"))
    try:
        with Workspace(users={"demo": PASSWORD}) as workspace:
            print(f"ASP emulator on {workspace.host}:{workspace.port} (TLS, user 'demo')")
            env = airflow_env(home, workspace)
            log = home / "airflow-output.log"
            print("Preparing Airflow's metadata database ...")
            airflow(["db", "migrate"], env, log)
            print(f"Running: airflow dags test {DAG_ID}")
            airflow(["dags", "test", DAG_ID], env, log)
            states, values = run_results(env)
            show(states, values)
            leaked = any(
                PASSWORD in path.read_text(errors="replace")
                for path in home.rglob("*")
                if path.is_file() and path.suffix in (".log", ".json", "")
            )
            print(f"\nPassword in any log: {'YES (bug!)' if leaked else 'no'}")
            left = workspace.processors()
            print(f"Processors left on the workspace: {len(left)}")
        print(f"Emulator stopped. Demo took {time.monotonic() - began:.0f} s.")
        if leaked or left or any(state not in ("success", "skipped") for state in states.values()):
            raise SystemExit(1)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
