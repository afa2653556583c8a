"""The Dagster UI (``dagster-webserver``) shows a processor asset's metadata and check result,
in Debian's headless Chromium (Playwright, never a downloaded browser).

The example's assets are materialized in-process against the emulator first, into the same
``DAGSTER_HOME`` the webserver then serves. ``ASP_BROWSER_TESTS``: ``0`` skips; otherwise a
missing Chromium or Playwright is a failure. Screenshot: ``artifacts/dagster_ui/``.
"""

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from asp_emulator import Workspace
from dagster_support.processes import free_port, stop

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "dagster_ui"
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
PASSWORD = "ui-Passw0rd"
MODULE = "dagster_asp.examples.definitions"
UI_TIMEOUT_MS = 30_000


def _browser_or_skip() -> None:
    switch = os.environ.get("ASP_BROWSER_TESTS", "").strip().lower()
    if switch in {"0", "false", "no", "off"}:
        pytest.skip("ASP_BROWSER_TESTS=0: browser tests switched off")
    missing = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        pytest.fail("the Dagster UI browser test needs " + " and ".join(missing))


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_asset_page_shows_state_and_check(monkeypatch, dagster_home: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with Workspace(users={"demo": PASSWORD}, connections=["cluster0"]) as workspace:
        env = {
            "ASP_HOST": workspace.host,
            "ASP_PORT": str(workspace.port),
            "ASP_USERNAME": "demo",
            "ASP_PASSWORD": PASSWORD,
            "ASP_TLS_CA_FILE": workspace.ca_file,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from dagster_asp.examples import definitions as example

        with dg.DagsterInstance.get() as instance:
            result = dg.materialize(
                example.processor_assets, resources={"asp": example.asp}, instance=instance
            )
            assert result.success

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = dagster_home / "webserver.log"
        bin_dir = Path(sys.executable).parent
        with log.open("wb") as out:
            command = [str(bin_dir / "dagster-webserver"), "-m", MODULE]
            server = subprocess.Popen(
                [*command, "-h", "127.0.0.1", "-p", str(port)],
                env={**os.environ, **env, "DAGSTER_HOME": str(dagster_home)},
                cwd=dagster_home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while not _serving(url):
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.25)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
                )
                try:
                    page = browser.new_page(viewport={"width": 1600, "height": 1400})
                    page.set_default_timeout(UI_TIMEOUT_MS)
                    try:
                        page.goto(f"{url}/assets/cluster0/energy/high")
                        expect(page.get_by_text("asp/state").first).to_be_visible()
                        expect(page.get_by_text("STARTED").first).to_be_visible()
                        page.screenshot(path=ARTIFACTS / "01-asset-overview.png", full_page=True)
                        page.goto(f"{url}/assets/cluster0/energy/high?view=checks")
                        page.get_by_text("processor_running").first.click()
                        expect(page).to_have_url(re.compile("processor_running"))
                        latest = page.get_by_text("is STARTED").first  # its description
                        expect(latest).to_be_visible()
                        expect(page.get_by_text("Passed").first).to_be_visible()
                        page.screenshot(path=ARTIFACTS / "02-asset-checks.png", full_page=True)
                    except BaseException:
                        with contextlib.suppress(Exception):
                            page.screenshot(path=ARTIFACTS / "FAILED.png", full_page=True)
                        raise
                    assert PASSWORD not in page.content()
                finally:
                    browser.close()
        finally:
            stop(server)
            with contextlib.suppress(OSError):
                (ARTIFACTS / "webserver.log").write_bytes(log.read_bytes())
        assert server.returncode is not None
