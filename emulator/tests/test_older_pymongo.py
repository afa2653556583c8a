"""The oldest pymongo we support (4.13, whose handshake is OP_QUERY isMaster) against the emulator.

Builds a throw-away virtual environment with ``uv`` (installed by ``make``) and runs a small
sync + async script there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from asp_emulator import Workspace

OLDEST = "pymongo==4.13.2"

SCRIPT = """
import asyncio, sys
import pymongo
from pymongo import AsyncMongoClient, MongoClient

uri = sys.argv[1]
with MongoClient(uri) as client:
    client.admin.command({"createStreamProcessor": "old-driver", "pipeline": []})
    client.admin.command({"startStreamProcessor": "old-driver"})
    info = client.admin.command({"getStreamProcessor": "old-driver"})["result"]
    print(pymongo.version, info["state"])

async def main():
    client = AsyncMongoClient(uri)
    reply = await client.admin.command({"listWorkspaceDefaults": 1})
    print("async", reply["defaultTierSize"])
    await client.close()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def old_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the pymongo 4.13 environment (make installs it)")
    venv = tmp_path_factory.mktemp("pymongo413") / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), OLDEST], check=True, timeout=300
    )
    return python


def test_pymongo_4_13_connects_authenticates_and_runs_commands(
    old_python: Path, workspace: Workspace
) -> None:
    legacy_before = workspace.opcode_counts().get("OP_QUERY", 0)
    result = subprocess.run(
        [str(old_python), "-c", SCRIPT, workspace.uri],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["4.13.2 STARTED", "async SP10"]
    # its handshakes came as legacy OP_QUERY isMaster, and were answered
    assert workspace.opcode_counts()["OP_QUERY"] > legacy_before
