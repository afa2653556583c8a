"""Real Airflow against the emulator: a private AIRFLOW_HOME (set before airflow is
imported), a migrated sqlite database, one emulated workspace and ``asp_default`` pointing
at it, DAG files written into the dags folder and run with ``dag.test()``, and pymongo
command monitoring to count what operators send.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="asp-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
(_HOME / "dags").mkdir()

import importlib.util  # noqa: E402
import itertools  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from asp_core.stream_processing import StreamProcessingClient  # noqa: E402
from asp_emulator import Workspace  # noqa: E402
from asp_emulator.monitoring import CommandRecorder  # noqa: E402
from tests.support.airflow import (  # noqa: E402
    _LOOKS,
    DAG_HEADER,
    PASSWORD,
    SOURCE,
    VIEWER_PASSWORD,
    Looks,
    connection_json,
)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The migrated metadata database, once per session (the home goes at exit)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=180,
    )
    return _HOME


@pytest.fixture(scope="session")
def workspace() -> Iterator[Workspace]:
    users: dict[str, Any] = {"admin": PASSWORD, "viewer": (VIEWER_PASSWORD, ["read"])}
    with Workspace(users=users, connections=[SOURCE]) as ws:
        yield ws


@pytest.fixture(scope="session")
def asp_default(airflow_home: Path, workspace: Workspace) -> Iterator[None]:
    """``asp_default`` (JSON form, with Atlas UI ids) for every test."""
    os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = connection_json(
        workspace,
        extra={"project_id": "proj0123", "workspace_name": "ws-test", "socket_timeout_ms": 5000},
    )
    yield
    os.environ.pop("AIRFLOW_CONN_ASP_DEFAULT", None)


@pytest.fixture
def add_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Define connection ``conn_id`` from a JSON or URI string for one test."""

    def add(conn_id: str, value: str) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        return conn_id

    return add


@pytest.fixture(scope="session")
def client(workspace: Workspace) -> Iterator[StreamProcessingClient]:
    """A client of its own, to arrange and inspect processors."""
    with StreamProcessingClient(workspace.uri) as sp_client:
        yield sp_client


_names = itertools.count(1)


@pytest.fixture
def name() -> str:
    """A processor name no other test uses."""
    return f"proc{next(_names)}"


#: The ASP commands a client sent, in order (pymongo's own commands left out).
Commands = CommandRecorder


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def monitored(commands: Commands) -> Callable[[Any], Any]:
    """Give an operator a real hook whose client reports its commands to ``commands``."""
    from airflow_provider_asp.hooks.asp import AspHook

    def attach(operator: Any) -> Any:
        operator.hook = AspHook(operator.asp_conn_id, event_listeners=[commands])
        return operator

    return attach


@dataclass
class DagResult:
    """What one ``dag.test()`` left behind."""

    dag_run: Any
    states: dict[str, str]
    xcoms: dict[tuple[str, str], Any]
    rendered: dict[str, Any]


_dag_ids = itertools.count(1)


@pytest.fixture
def run_dag(airflow_home: Path) -> Callable[..., DagResult]:
    """Write ``body`` (after :data:`DAG_HEADER`) as a DAG file, import it, ``dag.test()``.

    The body must define ``dag``; ``{dag_id}`` in it is replaced by a fresh id.
    """

    def run(body: str, dag_id: str | None = None) -> DagResult:
        dag_id = dag_id or f"asp_test_{next(_dag_ids)}"
        path = airflow_home / "dags" / f"{dag_id}.py"
        path.write_text(DAG_HEADER + body.replace("{dag_id}", dag_id))
        spec = importlib.util.spec_from_file_location(dag_id, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag_run = module.dag.test()
        return _collect(dag_id, dag_run)

    return run


def _collect(dag_id: str, dag_run: Any) -> DagResult:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    with create_session() as session:
        xcoms = {
            (row.task_id, row.key): row.value
            for row in session.query(XComModel).filter(
                XComModel.dag_id == dag_id, XComModel.run_id == dag_run.run_id
            )
        }
        rendered = {
            row.task_id: row.rendered_fields
            for row in session.query(RenderedTaskInstanceFields).filter(
                RenderedTaskInstanceFields.dag_id == dag_id,
                RenderedTaskInstanceFields.run_id == dag_run.run_id,
            )
        }
    return DagResult(dag_run, states, xcoms, rendered)


@pytest.fixture
def looks() -> Iterator[Looks]:
    """The process-wide look counter (registered for every client made after import)."""
    yield _LOOKS
    _LOOKS.join()


@pytest.fixture
def faults(workspace: Workspace) -> Iterator[Workspace]:
    """The workspace, with every injected fault cleared after the test."""
    yield workspace
    workspace.clear_faults()
