"""Processes, their sockets and free ports, read from /proc: for the system tests that start
real Airflow processes and must prove they listen on loopback only and leave nothing behind."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path


def playwright_installed() -> bool:
    try:
        return importlib.util.find_spec("playwright") is not None
    except (ImportError, ValueError):
        return False


def free_port() -> int:
    """A local port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the process tree and its sockets, from /proc ------------------------------------------
def pids_in_group(pgid: int) -> dict[int, str]:
    """The processes of process group ``pgid``: pid -> state letter (``Z`` for zombies)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            found[int(entry.name)] = fields[0]
    return found


def _socket_inodes(pids: Iterator[int] | list[int]) -> set[str]:
    inodes: set[str] = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def _decode(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net/tcp{,6} print each 32-bit word of the address in host (little-endian) order.
    ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(ordered), int(port, 16)


def listening_sockets(pgid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by process group ``pgid``."""
    inodes = _socket_inodes(list(pids_in_group(pgid)))
    found: list[tuple[str, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                    address, port = _decode(fields[1])
                    found.append((str(address), port))
    return found


def non_loopback_addresses() -> set[str]:
    """This machine's IPv4 addresses other than loopback (best effort, may be empty)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    for probe in ("10.255.255.255", "192.0.2.1"):
        # A connected UDP socket sends nothing; it only picks the outgoing address.
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            found.add(str(s.getsockname()[0]))
    return {a for a in found if not ipaddress.ip_address(a).is_loopback and a != "0.0.0.0"}
