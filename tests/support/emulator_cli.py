"""``asp-emulator serve`` as a user starts it: a process group of its own, its ready line and
export lines read from its output, and stopped (SIGTERM, then SIGKILL) by whoever started it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERM_GRACE = 15.0
ENV_NAMES = (
    "AIRFLOW_CONN_ASP_DEFAULT",
    "ASP_HOST",
    "ASP_PORT",
    "ASP_USERNAME",
    "ASP_PASSWORD",
    "ASP_TLS_CA_FILE",
)


@dataclass
class Served:
    """A running ``asp-emulator serve``: its process, ready line and export lines."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]
    exports: list[str]


def venv_path() -> str:
    """PATH with this interpreter's ``bin`` first (``airflow``, ``asp-emulator``)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def stop_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM ``process``'s group, SIGKILL it if anything is left after a grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(TERM_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(TERM_GRACE)


@contextlib.contextmanager
def serve(
    args: Sequence[str] = (), *, shell: str | None = None, cwd: Path | None = None
) -> Iterator[Served]:
    """``asp-emulator serve ARGS`` (or the shell command line ``shell``), until the block ends."""
    env = {**os.environ, "PATH": venv_path()}
    command = ["bash", "-c", f"exec {shell}"] if shell else ["asp-emulator", "serve", *args]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        process.stdout.readline()  # the comment line
        exports = [process.stdout.readline().rstrip("\n") for _ in range(2)]
        yield Served(process, ready, exports)
    finally:
        stop_group(process)


def shell_values(lines: Sequence[str], names: Sequence[str] = ENV_NAMES) -> dict[str, str]:
    """The variables ``names`` after bash ran ``lines`` (each value exactly, NUL-separated)."""
    script = "\n".join([*lines, *(f'printf "%s\\0" "${{{name}}}"' for name in names)])
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return dict(zip(names, done.stdout.split("\0")[: len(names)], strict=True))
