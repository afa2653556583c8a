"""The README's marked code blocks (``<!-- marker -->`` then a fenced block), and shell blocks
run as a user runs them: bash, in a directory, in a session of its own that is stopped after."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

from tests.support.emulator_cli import stop_group, venv_path

README = Path(__file__).resolve().parents[2] / "README.md"
RUN_TIMEOUT = 600.0


def block(marker: str) -> str:
    """The fenced block that follows ``<!-- marker -->`` in the README (dedented: a block in
    a list item is indented)."""
    match = re.search(rf"<!-- {marker} -->\s*```[a-z]*\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no {marker} block"
    return textwrap.dedent(match.group(1))


def user_env(**extra: str) -> dict[str, str]:
    """The test's environment without any AIRFLOW* or ASP_* variable (the conftests set
    some), the virtualenv's ``bin`` first on PATH, plus ``extra``."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "ASP_"))
    }
    return {**env, "PATH": venv_path(), **extra}


def run_shell(
    script: str, cwd: Path, env: Mapping[str, str], timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``script`` under ``bash -eu -o pipefail`` in ``cwd``; whatever it leaves behind in its
    session is stopped (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(
        ["bash", "-eu", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        stop_group(process)
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")
