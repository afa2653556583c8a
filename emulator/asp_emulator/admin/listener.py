"""The Admin API's port, held to the wire server's :class:`~asp_emulator.limits.Limits`
before any authentication.

aiohttp parses HTTP; this module only accepts (:mod:`asp_emulator.accepting`, as the wire
server does: over ``max_connections`` closed before TLS) and times: it gives
the TLS handshake ``tls_handshake_timeout``, a silent connection (before its first request
and between two) ``unauthenticated_idle_timeout``, and a request from its first byte to its
last (headers and body) ``message_timeout``. A periodic reaper closes the
connections past their deadline. Header lines are bounded by aiohttp's ``max_line_size`` and
``max_field_size`` (``max_unauthenticated_message_bytes``, at most 8 KiB; over: 400), bodies by
``client_max_size`` (the server's :data:`~asp_emulator.admin.server.MAX_BODY`; over: 413).
A request aiohttp cannot parse gets an Atlas error document naming what is wrong, never
the bytes it quoted (they may be a credential), and one INFO line that does not quote them
either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from asp_emulator.accepting import Acceptor
from asp_emulator.admin.errors import error_response
from asp_emulator.limits import Limits

log = logging.getLogger(__name__)
#: aiohttp's own default for a header line, the most a header may take here
MAX_HEADER_LINE = 8190


@dataclass(eq=False)
class _Connection:
    transport: asyncio.Transport | None = None
    deadline: float | None = None
    reading: bool = False  # a request's bytes have started and it is not read whole yet


class GuardedHandler(web.RequestHandler):
    """aiohttp's protocol, telling :class:`Listener` when bytes come and when it closes."""

    def __init__(self, listener: Listener, record: _Connection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listener = listener
        self._record = record

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._listener.made(self._record, transport)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._listener.started(self._record)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._listener.forget(self._record)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse is the client's doing: Atlas's 400 (or the
        parser's status) and one INFO line, both without the bytes the parser quoted."""
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        what = malformed(exc)
        log.info("refused a malformed request: %s", what)
        response = error_response(status, "INVALID_REQUEST", f"Malformed request: {what}.")
        response.force_close()
        return response


def malformed(exc: HttpProcessingError) -> str:
    """What the parser found wrong, without the request bytes its message quotes (after
    the first ``:``, such as a header line carrying a token)."""
    said = str(getattr(exc, "message", "") or type(exc).__name__)
    return said.split(":", 1)[0].splitlines()[0].strip()[:120] or type(exc).__name__


class Listener(Acceptor):
    """Serves ``runner`` (set up) over TLS on 127.0.0.1 within ``limits``."""

    what = "Admin API connection"

    def __init__(self, runner: web.AppRunner, context: ssl.SSLContext, limits: Limits) -> None:
        super().__init__(limits)
        self.runner = runner
        self.context = context
        self._open: set[_Connection] = set()
        self._by_handler: dict[object, _Connection] = {}
        self._reaper: asyncio.TimerHandle | None = None
        self.connections_timed_out = 0

    @property
    def connections_open(self) -> int:
        """Connections accepted and not closed yet (TLS handshakes included)."""
        return len(self._open)

    @staticmethod
    def handler_args(limits: Limits) -> dict[str, Any]:
        """aiohttp's parser and keep-alive settings for ``limits``."""
        line = min(MAX_HEADER_LINE, limits.max_unauthenticated_message_bytes)
        return {
            "max_line_size": line,
            "max_field_size": line,
            "max_headers": 64,
            # a backstop: the reaper closes idle connections first
            "keepalive_timeout": limits.unauthenticated_idle_timeout + 1.0,
        }

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1; returns it."""
        port = self._listen("127.0.0.1", 0)
        self._reaper = asyncio.get_running_loop().call_later(self._interval(), self._reap)
        return port

    async def close(self) -> None:
        """Stop accepting and abort every connection still in its TLS handshake."""
        if self._reaper is not None:
            self._reaper.cancel()
        await self._stop()

    def _admit(self, sock: socket.socket) -> None:
        record = _Connection()  # the handshake is bounded by ssl_handshake_timeout
        self._open.add(record)
        self._spawn(self._connect(sock, record))

    async def _connect(self, sock: socket.socket, record: _Connection) -> None:
        loop = asyncio.get_running_loop()
        server = self.runner.server
        assert server is not None

        def protocol() -> GuardedHandler:
            handler = GuardedHandler(
                self,
                record,
                manager=server,
                loop=loop,
                access_log=None,
                **self.handler_args(self.limits),
            )
            self._by_handler[handler] = record
            return handler

        try:
            await loop.connect_accepted_socket(
                protocol,
                sock,
                ssl=self.context,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            self.forget(record)
            with contextlib.suppress(OSError):
                sock.close()

    # -- deadlines ----------------------------------------------------------------------------
    def made(self, record: _Connection, transport: asyncio.Transport) -> None:
        """TLS is up: the first request's bytes are due within the idle timeout."""
        record.transport = transport
        record.deadline = time.monotonic() + self.limits.unauthenticated_idle_timeout

    def started(self, record: _Connection) -> None:
        """Bytes came: a request has begun, due whole within ``message_timeout``."""
        if not record.reading:
            record.reading = True
            record.deadline = time.monotonic() + self.limits.message_timeout

    def read(self, handler: object) -> None:
        """The request on ``handler`` is read whole (headers and body): no deadline while
        it is answered."""
        record = self._by_handler.get(handler)
        if record is not None:
            record.reading = False
            record.deadline = None

    def answered(self, handler: object) -> None:
        """The request on ``handler`` is answered: the next one is due within the idle
        timeout."""
        record = self._by_handler.get(handler)
        if record is not None and not record.reading:
            record.deadline = time.monotonic() + self.limits.unauthenticated_idle_timeout

    def forget(self, record: _Connection) -> None:
        self._open.discard(record)
        for handler in [h for h, r in self._by_handler.items() if r is record]:
            del self._by_handler[handler]

    def _interval(self) -> float:
        shortest = min(
            self.limits.message_timeout,
            self.limits.unauthenticated_idle_timeout,
            self.limits.tls_handshake_timeout,
        )
        return min(1.0, max(0.02, shortest / 4))

    def _reap(self) -> None:
        now = time.monotonic()
        for record in list(self._open):
            if record.deadline is not None and now >= record.deadline:
                record.deadline = None
                if record.transport is not None:
                    self.connections_timed_out += 1
                    record.transport.abort()
        self._reaper = asyncio.get_running_loop().call_later(self._interval(), self._reap)
