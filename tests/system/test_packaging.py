"""What a user installs: the core alone brings no orchestrator (no Airflow, no Dagster) and
every one of its modules imports; the provider (with ``constraints.txt``) brings no emulator,
no console script and no test-only library, and its modules import; the emulator installs on
its own with its command and its pytest fixtures. Real installs into fresh virtual environments
(uv, from its cache when warm), from a copy of the repository's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
#: Distributions that only the emulator or the tests need.
TEST_ONLY = {"mongomock", "scramp", "trustme", "asp-emulator", "pytest", "playwright"}


def run(
    *args: object, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def copy_of_repository(into: Path) -> Path:
    """The files git tracks (and new ones it does not ignore): no build leftovers."""
    listed = run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=REPO
    ).stdout
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def venv(path: Path) -> Path:
    run(UV, "venv", "-q", "--python", sys.executable, path)
    return path / "bin" / "python"


def installed(python: Path) -> set[str]:
    frozen = run(UV, "pip", "freeze", "--python", python).stdout
    return {line.split("==")[0].split(" @ ")[0].strip().lower() for line in frozen.splitlines()}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists():
        pytest.fail(f"uv is not installed next to {sys.executable}: run `make setup`")
    return copy_of_repository(tmp_path_factory.mktemp("repo"))


#: Distributions of an orchestrator: the core must bring none.
ORCHESTRATORS = {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "dagster"}


@pytest.mark.timeout(600)
def test_the_core_alone_has_no_orchestrator_and_every_module_imports(source, tmp_path):
    python = venv(tmp_path / "venv")
    constraints = source / "constraints.txt"
    run(UV, "pip", "install", "-q", "--python", python, "-c", constraints, source / "core")
    names = installed(python)
    assert "asp-core" in names
    assert {"pymongo", "tenacity", "pendulum", "mongoquery"} <= names
    assert not names & ORCHESTRATORS, names & ORCHESTRATORS
    assert not names & TEST_ONLY, names & TEST_ONLY
    assert "airflow-provider-asp" not in names
    check = (
        "import importlib, pkgutil, sys\n"
        "import asp_core\n"
        "modules = [m.name for m in pkgutil.walk_packages(asp_core.__path__, 'asp_core.')]\n"
        "for name in modules:\n"
        "    importlib.import_module(name)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "assert not loaded & {'airflow', 'dagster'}, loaded & {'airflow', 'dagster'}\n"
        "from asp_core.stream_processing import StreamProcessingClient\n"
        "from asp_core.settings import WorkspaceSettings\n"
        "settings = WorkspaceSettings.from_uri('mongodb://u:p%40ss@ws.example:27018/?tls=true')\n"
        "assert (settings.port, settings.password) == (27018, 'p@ss')\n"
        "print(len(modules))\n"
    )
    assert int(run(python, "-c", check, cwd=tmp_path).stdout) >= 25


@pytest.mark.timeout(600)
def test_the_provider_alone_has_no_emulator_and_no_test_only_dependency(source, tmp_path):
    python = venv(tmp_path / "venv")
    constraints = source / "constraints.txt"
    run(UV, "pip", "install", "-q", "--python", python, "-c", constraints, source / "core", source)
    names = installed(python)
    assert {"airflow-provider-asp", "asp-core"} <= names
    assert "dagster" not in names
    assert not names & TEST_ONLY, names & TEST_ONLY
    assert "mongoquery" in names
    scripts = {p.name for p in (tmp_path / "venv" / "bin").iterdir()}
    assert "asp-emulator" not in scripts
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    check = (
        "import importlib.util\n"
        "import airflow_provider_asp.operators.asp, airflow_provider_asp.sensors.asp\n"
        "import airflow_provider_asp.triggers.asp, airflow_provider_asp.hooks.asp\n"
        "import airflow_provider_asp.operators.admin, airflow_provider_asp.sensors.admin\n"
        "import airflow_provider_asp.triggers.admin, airflow_provider_asp.hooks.admin\n"
        "import asp_core.waiting.synchronous, asp_core.stream_processing\n"
        "import asp_core.admin.apply.synchronous, asp_core.admin.steps\n"
        "from asp_core.waiting.matching import matches\n"
        "assert matches({'a': {'$gt': 1}}, {'a': 2})\n"
        "assert importlib.util.find_spec('asp_emulator') is None\n"
        "assert importlib.util.find_spec('mongomock') is None\n"
        "print('ok')\n"
    )
    assert run(python, "-c", check, env=env).stdout.strip() == "ok"


@pytest.mark.timeout(600)
def test_the_emulator_installs_on_its_own_with_its_command_and_fixtures(source, tmp_path):
    python = venv(tmp_path / "venv")
    emulator = source / "emulator"
    constraints = source / "constraints.txt"
    run(UV, "pip", "install", "-q", "--python", python, "-c", constraints, emulator, "pytest")
    names = installed(python)
    assert "asp-emulator" in names
    assert "apache-airflow" not in names
    assert "airflow-provider-asp" not in names
    help_text = run(tmp_path / "venv" / "bin" / "asp-emulator", "serve", "--help").stdout
    assert "--port" in help_text
    # a user's test suite: no conftest, no pytest_plugins line, the fixture is just there
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_user.py").write_text(
        "from pymongo import MongoClient\n\n"
        "def test_workspace(asp_workspace):\n"
        "    with MongoClient(asp_workspace.uri) as client:\n"
        "        client.admin.command({'createStreamProcessor': 'p', 'pipeline': []})\n"
        "    assert asp_workspace.processors() == {'p': 'CREATED'}\n"
    )
    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", suite, cwd=suite)
    assert "1 passed" in result.stdout
