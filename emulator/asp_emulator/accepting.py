"""Accepting connections within :class:`~asp_emulator.limits.Limits`: what the wire server
and the Admin API's port share.

Connections are accepted by the server's own loop on its listening socket, so that one over
``Limits.max_connections`` is closed before its TLS handshake costs anything. A subclass says
how many connections are open and what to do with an admitted socket; deadlines stay its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Coroutine
from typing import Any

from asp_emulator.limits import Limits

log = logging.getLogger(__name__)

_BACKLOG = 128
#: accept() failures that pass when some descriptors or buffers are freed
_TRANSIENT = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Acceptor:
    """Listens and accepts; ``what`` names its connections in log lines."""

    what = "connection"

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.connections_refused = 0
        self._listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._at_limit = False

    @property
    def connections_open(self) -> int:
        """Connections accepted and not closed yet (TLS handshakes included)."""
        raise NotImplementedError

    def _admit(self, sock: socket.socket) -> None:
        """Take an accepted socket under the connection limit."""
        raise NotImplementedError

    def _listen(self, host: str, port: int) -> int:
        """Bind ``host:port`` (0: a free port), accept on it; returns the bound port."""
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(_BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listeners.append(listener)
        self._spawn(self._accept(listener))
        return int(listener.getsockname()[1])

    async def _stop(self) -> None:
        """Cancel the accept loops first (nothing new comes in), then every connection's
        task, and close the listening sockets."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in _TRANSIENT:
                    log.warning("cannot accept %ss: %s", self.what, exc)
                    await asyncio.sleep(0.1)
                    continue
                raise
            if self.connections_open >= self.limits.max_connections:
                self._refuse(sock)
                continue
            self._at_limit = False
            self._admit(sock)

    def _refuse(self, sock: socket.socket) -> None:
        self.connections_refused += 1
        with contextlib.suppress(OSError):
            sock.close()
        if not self._at_limit:
            self._at_limit = True
            log.warning(
                "%s limit reached: %d connections are open (Limits.max_connections); "
                "refusing new ones until some close",
                self.what,
                self.limits.max_connections,
            )
