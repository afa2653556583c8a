"""The example code location loads without sending anything, and ``make demo-dagster``'s
script runs whole."""

import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = "dagster_asp.examples.definitions"


def test_loading_the_example_sends_nothing(monkeypatch):
    """The ``asp`` and ``asp_admin`` resources point at a listening socket nobody serves:
    loading the module and resolving its definitions connects zero times."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        for name, value in {
            "ASP_HOST": "127.0.0.1",
            "ASP_PORT": str(listener.getsockname()[1]),
            "ASP_USERNAME": "u",
            "ASP_PASSWORD": "p",
            "ASP_TLS_CA_FILE": "",
            "ASP_ADMIN_URL": f"https://127.0.0.1:{listener.getsockname()[1]}",
            "ASP_ADMIN_PROJECT_ID": "0123456789abcdef01234567",
            "ASP_ADMIN_CLIENT_ID": "id",
            "ASP_ADMIN_CLIENT_SECRET": "secret",
        }.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop(MODULE, None)
        example = importlib.import_module(MODULE)
        repo = example.defs.get_repository_def()
        assert {s.name for s in repo.sensor_defs} == {
            "asp_state_sensor",
            "asp_stats_sensor",
            "asp_output_sensor",
        }
        keys = repo.asset_graph.get_all_asset_keys()
        assert dg.AssetKey(["cluster0", "energy", "high"]) in keys
        assert dg.AssetKey(["asp_workspace", "emulator"]) in keys
        assert dg.AssetKey(["asp_connection", "emulator", "cluster0"]) in keys
        with pytest.raises(BlockingIOError):
            listener.accept()  # zero connections were made


def test_demo_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASP_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(REPO / "demo" / "dagster_demo.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "asp_workspace/emulator           action: none" in out
    assert "asp_connection/emulator/cluster0 action: create  state: READY" in out
    assert "steps: ['create', 'start']  changed: True  state: STARTED" in out
    assert "changed: False" in out
    assert "check processor_running  on cluster0/energy/high passed" in out
    assert "observation on cluster0/energy/high" in out
    assert "run requested: job consume_high, 20 documents" in out
    assert "run_key asp-state:solar_high:FAILED@" in out
    assert "asp/error_msg          'Kafka broker unreachable'" in out
    assert "Processors left on the workspace: 0" in out
    assert "Password in any output: no" in out
    assert f"dagster dev -m {MODULE} -h 127.0.0.1" in out
    assert "demo-Passw0rd-never-logged" not in out + done.stderr
