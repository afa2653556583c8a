"""A private PostgreSQL cluster for system tests: Debian's server binaries, a temporary
directory, ``initdb`` and ``pg_ctl``, listening on 127.0.0.1 on a free port only (and a
Unix socket inside that directory), stopped and removed afterwards.

``initdb`` refuses to run as root: as root, the cluster directory belongs to the
``postgres`` user (made by Debian's package) and the server runs as that user through
``runuser``; as anyone else, it runs as the caller. Missing binaries are installed with
``apt-get install postgresql`` when :func:`ensure_installed` may (root and apt-get).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from tests.support.processes import free_port

#: Where Debian puts each major version's server binaries.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_TIMEOUT = 600.0
COMMAND_TIMEOUT = 120.0
#: Server settings for a disposable test cluster: no durability, enough connections for
#: every Airflow process's pool (five of them with pool_size 5 + max_overflow 10, sync
#: and async) with room to spare.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "300",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
USER = "airflow"
DATABASE = "airflow"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, and they could not be installed."""


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` directory with ``initdb`` and ``pg_ctl``, else
    the directory of an ``initdb`` on PATH, else None."""
    found = [Path(p) for p in sorted(Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")))]
    found = [p for p in found if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    return None


def ensure_installed(*, install: bool = True) -> Path:
    """The server's ``bin`` directory; installs Debian's ``postgresql`` first when it is
    missing, ``install`` allows it, this is root and apt-get exists (as the Makefile's
    ``chromium`` target installs the browser). :class:`PostgresUnavailable` otherwise."""
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if not install:
        raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed and this is not root with apt-get: "
            "run `sudo apt-get install postgresql`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("apt-get installed postgresql, but no initdb was found")
    return bin_dir


@dataclass
class PostgresCluster:
    """One running cluster: ``directory`` holds ``data/``, ``pg.log`` and the socket."""

    bin_dir: Path
    directory: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "pg.log"

    @property
    def sqlalchemy_url(self) -> str:
        """Airflow's ``[database] sql_alchemy_conn`` for the ``airflow`` database (trust
        authentication: no password)."""
        return f"postgresql+psycopg2://{USER}@{self.host}:{self.port}/{DATABASE}"

    def connect(self, dbname: str = DATABASE) -> Any:
        """A psycopg2 connection (autocommit) as the ``airflow`` superuser."""
        import psycopg2  # type: ignore[import-untyped]

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=USER, dbname=dbname, connect_timeout=10
        )
        conn.autocommit = True
        return conn

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """Rows of one statement, on a connection of its own."""
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def postmaster_pid(self) -> int | None:
        """The server's pid, from ``postmaster.pid`` (None when it is not running)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def listening(self) -> set[tuple[str, int]]:
        """``(address, port)`` of the server's listening TCP sockets."""
        pid = self.postmaster_pid()
        if pid is None:
            return set()
        found = set()
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
        return found

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return "(no log)"


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when this is root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str], what: str, cluster: PostgresCluster | None = None) -> None:
    done = subprocess.run(
        _as_owner(command),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        log = cluster.log_tail() if cluster is not None else ""
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr[-2000:]}\n{log}")


def _private_directory() -> Path:
    """A new directory in the system temp dir (pytest's tmp_path is root's 0700 tree,
    which the ``postgres`` user cannot enter), owned by the server's user."""
    directory = Path(tempfile.mkdtemp(prefix="asp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    directory.chmod(0o700)
    return directory


def _options(directory: Path, port: int) -> str:
    settings = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
    return f"-h 127.0.0.1 -p {port} -k {directory} {settings}"


def start(bin_dir: Path, *, attempts: int = 3) -> PostgresCluster:
    """``initdb`` a new cluster (user ``airflow``, trust authentication), start it on a
    free port of 127.0.0.1 and create the ``airflow`` database. A port taken between the
    choice and the start is retried with another one."""
    directory = _private_directory()
    cluster = PostgresCluster(bin_dir, directory, 0)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data),
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
        for attempt in range(attempts):
            cluster.port = free_port()
            try:
                _run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(cluster.data),
                        "-o",
                        _options(directory, cluster.port),
                        "-l",
                        str(cluster.log),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ],
                    "pg_ctl start",
                    cluster,
                )
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        conn = cluster.connect("postgres")
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            conn.close()
    except BaseException:
        stop(cluster)
        raise
    return cluster


def stop(cluster: PostgresCluster, timeout: float = 30.0) -> None:
    """Stop the server (fast shutdown; SIGKILL if it is still there after ``timeout``)
    and remove the cluster directory."""
    try:
        if cluster.postmaster_pid() is not None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run(
                    [
                        str(cluster.bin_dir / "pg_ctl"),
                        "-D",
                        str(cluster.data),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(int(timeout)),
                        "stop",
                    ],
                    "pg_ctl stop",
                )
            pid = cluster.postmaster_pid()
            if pid is not None:
                _kill_server(pid, timeout)
    finally:
        shutil.rmtree(cluster.directory, ignore_errors=True)


def _kill_server(pid: int, timeout: float) -> None:
    """SIGKILL the postmaster and its backends (the server's own process group is not
    ours, so by pid: the postmaster, then whatever still has it as parent)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        server = psutil.Process(pid)
        family = [server, *server.children(recursive=True)]
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(family, timeout=timeout)


@contextlib.contextmanager
def cluster(*, install: bool = True) -> Iterator[PostgresCluster]:
    """A running cluster for the ``with`` block; stopped and removed afterwards."""
    running = start(ensure_installed(install=install))
    try:
        yield running
    finally:
        stop(running)
