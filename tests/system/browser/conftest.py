"""Airflow's real web UI in headless Chromium, against an emulated workspace.

- ``airflow_server``: ``airflow api-server -H 127.0.0.1`` on a free port, in a private
  AIRFLOW_HOME migrated first, in its own process group, with the login removed
  (``SIMPLE_AUTH_MANAGER_ALL_ADMINS``) and ``[core] test_connection`` enabled. The
  connection test runs in that process, so it reaches the emulator on 127.0.0.1 as any
  workspace.
- ``workspace``: one emulated workspace (with two processors, so the count means something).
- ``page``: a Playwright page in Debian's Chromium (never a downloaded browser); every wait
  is bounded.
- ``shot``: numbered screenshots in ``artifacts/browser/`` at the repository root.

``ASP_BROWSER_TESTS`` is the switch: ``0`` skips these tests, ``1`` makes a missing
Chromium or Playwright a failure, unset runs them when both are there and skips otherwise.
``ASP_CHROMIUM`` overrides the browser binary (default ``/usr/bin/chromium``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from asp_core.stream_processing import StreamProcessingClient
from asp_emulator import Workspace
from tests.support.browser import PASSWORD, PROCESSORS, AirflowServer
from tests.support.processes import free_port, pids_in_group, playwright_installed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts" / "browser"

SWITCH = "ASP_BROWSER_TESTS"
CHROMIUM = os.environ.get("ASP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Tall enough for the whole "Extra Fields" section of the dialog in one screenshot.
VIEWPORT: ViewportSize = {"width": 1400, "height": 1900}


MIGRATE_TIMEOUT = 120.0
HEALTH_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
#: Default bound for Playwright actions and ``expect`` assertions (ms).
UI_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _airflow() -> None:
    """Not the shared in-process Airflow: this test runs its own API server and home."""


def _switch() -> str:
    return os.environ.get(SWITCH, "").strip().lower()


@pytest.fixture(scope="session", autouse=True)
def browser_tests_enabled() -> None:
    """Honour ``ASP_BROWSER_TESTS=0`` before anything is started."""
    if _switch() in {"0", "false", "no", "off"}:
        pytest.skip(f"{SWITCH}=0: Airflow UI browser tests switched off")


# -- the API server -----------------------------------------------------------------------
def _server_env(home: Path) -> dict[str, str]:
    """The parent's environment without any AIRFLOW* variable (the root ``tests/conftest.py`` sets
    AIRFLOW_HOME and connections in ``os.environ``), plus this server's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__WORKERS": "1",
        }
    )
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _alive(server: AirflowServer) -> bool:
    """Whether the server or anything else in its process group still runs (zombies
    left to init do not count)."""
    if server.process.poll() is None:
        return True
    return any(state != "Z" for state in pids_in_group(server.pgid).values())


def _wait_gone(server: AirflowServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(server):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _stop(server: AirflowServer) -> None:
    """SIGTERM the group, SIGKILL it if anything is left after :data:`STOP_TIMEOUT`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pgid, signal.SIGTERM)
    if not _wait_gone(server, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pgid, signal.SIGKILL)
        _wait_gone(server, STOP_TIMEOUT)


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    home = tmp_path_factory.mktemp("airflow-ui-home")
    (home / "dags").mkdir()
    env = _server_env(home)
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    assert migrated.returncode == 0, f"airflow db migrate failed:\n{migrated.stderr[-3000:]}"

    port = free_port()
    log = home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group (pgid == pid)
        )
    server = AirflowServer(f"http://127.0.0.1:{port}", port, home, log, process)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while not _healthy(server.url):
            assert process.poll() is None, (
                f"api-server exited with {process.returncode}:\n{server.log_tail()}"
            )
            assert time.monotonic() < deadline, (
                f"api-server not healthy after {HEALTH_TIMEOUT:.0f} s:\n{server.log_tail()}"
            )
            time.sleep(0.25)
        yield server
    finally:
        _stop(server)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(log, ARTIFACTS / "api-server.log")
    left = {pid: state for pid, state in pids_in_group(server.pgid).items() if state != "Z"}
    assert process.returncode is not None, "api-server survived SIGTERM and SIGKILL"
    assert not left, f"api-server processes left after SIGTERM and SIGKILL: {left}"


# -- the workspace ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    with Workspace(users={"admin": PASSWORD}) as ws:
        with StreamProcessingClient(ws.uri) as client:
            for name in PROCESSORS:
                client.stream_processors().create(name, [{"$source": {"documents": [{"a": 1}]}}])
        yield ws


# -- the browser -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = []
    if not playwright_installed():
        missing.append("the playwright package (pip install playwright; no browser download)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        reason = "Airflow UI browser tests need " + " and ".join(missing)
        if _switch() in {"1", "true", "yes", "on"}:
            pytest.fail(f"{SWITCH}=1 but: {reason}")
        pytest.skip(f"{reason}; set {SWITCH}=1 to make this a failure")

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh temporary --user-data-dir of its own.
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, for the failure screenshot."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(30_000)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                new_page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png")
        context.close()


@pytest.fixture(scope="module")
def artifacts(browser: Browser) -> Path:
    """``artifacts/browser/``, emptied of the previous run's screenshots (only once a
    browser is there: a skipped run keeps them)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def shot(page: Page, artifacts: Path) -> Callable[[str], Path]:
    """``shot("name")`` saves ``artifacts/browser/NN-name.png`` of the whole page."""
    count = iter(range(1, 100))

    def take(name: str) -> Path:
        path = artifacts / f"{next(count):02d}-{name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled")
        return path

    return take
