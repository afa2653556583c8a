"""Processes a test starts: in a process group of their own, stopped by the test (SIGTERM,
then SIGKILL of the group and of any descendant that left it), read from /proc."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live process."""
    found: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp ...
            if fields[0] != "Z":
                found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def family(pid: int) -> set[int]:
    """``pid``'s process group and every descendant of ``pid`` (wherever its group is)."""
    table = _table()
    found = {p for p, (_, group) in table.items() if group == pid}
    found.add(pid)
    grew = True
    while grew:
        more = {p for p, (parent, _) in table.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return {p for p in found if p in table}


def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the whole family of ``process`` (group leader) at once."""
    for pid in family(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the family, then SIGKILL whatever is left after ``grace`` seconds; reaped."""
    members = family(process.pid)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and members & set(_table()):
        if process.poll() is not None and not (members - {process.pid}) & set(_table()):
            break
        time.sleep(0.1)
    for pid in members | family(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
