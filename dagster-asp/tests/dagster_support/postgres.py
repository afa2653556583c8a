"""A private PostgreSQL cluster for the daemon tests, as the Airflow system tests' harness
(``tests/support/postgres.py``) makes it: Debian's binaries, ``initdb`` as the ``postgres``
user when this is root, 127.0.0.1 on a free port only, stopped and removed afterwards.

``ASP_POSTGRES_TESTS``: ``0`` skips; otherwise a PostgreSQL that is missing and cannot be
installed (root with apt-get) is a failure.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster_support.processes import free_port

SWITCH = "ASP_POSTGRES_TESTS"
USER, DATABASE = "dagster", "dagster"
SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def switched_off() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in {"0", "false", "no", "off"}


def bin_dir() -> Path:
    """Debian's newest server ``bin`` directory; ``apt-get install postgresql`` first when
    missing (root with apt-get), as CI does. RuntimeError if there is none."""
    for attempt in range(2):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if found:
            return max(found, key=lambda p: int(p.parent.parent.name)).parent
        if attempt or os.geteuid() != 0 or shutil.which("apt-get") is None:
            break
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "postgresql"],
        ):
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
    raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")


@dataclass
class Cluster:
    bin_dir: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        """A SQLAlchemy URL of the ``dagster`` database (trust authentication)."""
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"


def _run(command: list[str], what: str) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """A running cluster with a ``dagster`` database, for the ``with`` block."""
    directory = Path(tempfile.mkdtemp(prefix="dagster-asp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    directory.chmod(0o700)
    running = Cluster(bin_dir(), directory, free_port())
    data, log = directory / "data", directory / "pg.log"
    try:
        _run(
            [
                str(running.bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            "initdb",
        )
        options = f"-h 127.0.0.1 -p {running.port} -k {directory} {SETTINGS}"
        _run(
            [
                str(running.bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )
        _run(
            [
                str(running.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(running.port),
                "-U",
                USER,
                DATABASE,
            ],
            "createdb",
        )
        yield running
    finally:
        with contextlib.suppress(Exception):
            _run(
                [
                    str(running.bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                "pg_ctl stop",
            )
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)
