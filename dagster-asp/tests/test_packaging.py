"""What a Dagster user installs: ``dagster-asp`` with the core brings Dagster and no Airflow,
and every module imports; the Dagster environment holds the dagster family at the pinned
version (a resolver that silently fell back to an ancient dagster-postgres would pass every
other test). Real installs into a fresh virtual environment (uv, from its cache when warm)."""

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
CONSTRAINTS = REPO / "constraints-dagster.txt"
AIRFLOW = {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}
TEST_ONLY = {"asp-emulator", "pytest", "playwright", "mongomock", "scramp", "trustme"}


def pinned(name: str) -> str:
    for line in CONSTRAINTS.read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in {CONSTRAINTS.name}")


def run(*args: object, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True, timeout=300, cwd=cwd
    )
    return done.stdout


def test_the_environment_holds_the_dagster_family_at_the_pinned_version():
    family = ["dagster", "dagster-webserver", "dagster-dg-cli", "dagster-pipes", "dagster-shared"]
    for name in family:
        assert importlib.metadata.version(name) == pinned(name), name
    assert importlib.metadata.version("dagster-postgres") == pinned("dagster-postgres")
    assert pinned("dagster").startswith("1.13.")
    assert pinned("dagster-postgres").startswith("0.29.")
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert not installed & AIRFLOW, installed & AIRFLOW


@pytest.mark.system
@pytest.mark.timeout(600)
def test_dagster_asp_alone_brings_dagster_and_no_airflow(tmp_path):
    if not UV.exists():
        pytest.fail(f"uv is not installed next to {sys.executable}: run `make setup-dagster`")
    source = tmp_path / "src"
    for folder in ("core", "dagster-asp"):
        shutil.copytree(
            REPO / folder,
            source / folder,
            ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "tests", "benchmarks"),
        )
    venv = tmp_path / "venv"
    run(UV, "venv", "-q", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "-q", "--python", python, "-c", CONSTRAINTS,
        source / "core", source / "dagster-asp")  # fmt: skip
    frozen = run(UV, "pip", "freeze", "--python", python)
    names = {line.split("==")[0].split(" @ ")[0].strip().lower() for line in frozen.splitlines()}
    assert {"dagster-asp", "asp-core", "dagster"} <= names
    assert not names & AIRFLOW, names & AIRFLOW
    assert not names & TEST_ONLY, names & TEST_ONLY
    check = (
        "import importlib, pkgutil, sys\n"
        "import dagster_asp\n"
        "for m in pkgutil.walk_packages(dagster_asp.__path__, 'dagster_asp.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'airflow' not in {m.split('.')[0] for m in sys.modules}\n"
        "print(dagster_asp.AspProcessorsComponent.__name__)\n"
    )
    assert run(python, "-c", check, cwd=tmp_path).strip() == "AspProcessorsComponent"
