"""The asyncio TLS server: reads messages, applies faults, dispatches, writes replies."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections import Counter

from asp_emulator import wire
from asp_emulator.commands import Dispatcher, Session
from asp_emulator.errors import CommandError
from asp_emulator.faults import Faults

log = logging.getLogger(__name__)

_IDLE_TIMEOUT = 3600.0  # a connection that sends nothing for an hour is closed


class Server:
    """Serves one workspace on ``host:port`` over TLS."""

    def __init__(self, dispatcher: Dispatcher, faults: Faults, context: ssl.SSLContext) -> None:
        self.dispatcher = dispatcher
        self.faults = faults
        self.context = context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._connection_ids = itertools.count(1)
        self._reply_ids = itertools.count(1)
        self.connections_accepted = 0
        self.command_counts: Counter[str] = Counter()
        self.opcode_counts: Counter[int] = Counter()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one)."""
        self._server = await asyncio.start_server(
            self._serve, host, port, ssl=self.context, ssl_handshake_timeout=10.0
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.connections_accepted += 1
        session = Session(connection_id=next(self._connection_ids))
        try:
            await self._converse(session, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, TimeoutError):
            pass  # the client went away or sent garbage
        except wire.ProtocolError as exc:
            log.info("closing connection %d: %s", session.connection_id, exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _converse(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            header = wire.parse_header(
                await asyncio.wait_for(reader.readexactly(wire.HEADER_SIZE), _IDLE_TIMEOUT)
            )
            payload = await reader.readexactly(header.length - wire.HEADER_SIZE)
            request = wire.parse_request(header, payload)
            reply = await self._answer(session, request)
            if reply is None:
                return  # a fault closed the connection
            if request.more_to_come:
                continue
            writer.write(wire.build_reply(request, reply, next(self._reply_ids) % 2**31))
            await writer.drain()

    async def _answer(self, session: Session, request: wire.Request) -> dict | None:
        self.command_counts[request.command_name] += 1
        self.opcode_counts[request.op_code] += 1
        fault = self.faults.take(request.command_name)
        if fault is not None:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.close_connection:
                return None
            if fault.code is not None:
                message = fault.message or f"injected fault on {request.command_name}"
                return CommandError(fault.code, message, fault.error_labels).to_reply()
        try:
            return await self.dispatcher.dispatch(session, request.body)
        except Exception as exc:  # never let one bad command take the server down
            log.exception("command %s failed", request.command_name)
            return CommandError(1, f"internal error: {exc}").to_reply()
