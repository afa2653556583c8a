"""The asyncio TLS server: accepts within limits, reads messages, applies faults, dispatches.

Connections are accepted within ``Limits.max_connections`` (:mod:`asp_emulator.accepting`).
Each connection then runs in one task; its deadlines (TLS handshake, idle, the rest of a message,
authentication) are enforced by one periodic reaper rather than a timer per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field

from asp_emulator import protocol, wire
from asp_emulator.accepting import Acceptor
from asp_emulator.commands import Dispatcher, Session
from asp_emulator.errors import OVERFLOW, CommandError
from asp_emulator.faults import Faults
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.tls import accept_tls, peer_subject

log = logging.getLogger(__name__)


@dataclass
class Client:
    """One open connection and the deadline it is held to."""

    id: int
    session: Session
    transport: asyncio.WriteTransport | None = None
    deadline: float | None = None
    waiting_for: str = "the TLS handshake"
    closed_reason: str | None = field(default=None, repr=False)

    def expect(self, what: str, seconds: float | None) -> None:
        """From now on, ``what`` must arrive within ``seconds`` (None: no deadline)."""
        self.waiting_for = what
        self.deadline = None if seconds is None else time.monotonic() + seconds


class Server(Acceptor):
    """Serves one workspace on ``host:port`` over TLS."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        faults: Faults,
        context: ssl.SSLContext,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(limits)
        self.dispatcher = dispatcher
        self.faults = faults
        self.context = context
        self._clients: dict[int, Client] = {}
        self._reaper: asyncio.TimerHandle | None = None
        self._ids = itertools.count(1)
        self._reply_ids = itertools.count(1)
        self.connections_accepted = 0
        self.command_counts: Counter[str] = Counter()
        self.opcode_counts: Counter[int] = Counter()

    @property
    def connections_open(self) -> int:
        """Connections accepted and not closed yet (TLS handshakes included)."""
        return len(self._clients)

    # -- listening ------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one)."""
        bound = self._listen(host, port)
        self._reaper = asyncio.get_running_loop().call_later(self._reap_interval(), self._reap)
        return bound

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        if self._reaper is not None:
            self._reaper.cancel()
        await self._stop()

    def _admit(self, sock: socket.socket) -> None:
        client = Client(next(self._ids), Session(connection_id=0))
        client.session.connection_id = client.id
        client.expect("the TLS handshake", None)  # bounded by the handshake timeout
        self._clients[client.id] = client
        self._spawn(self._connection(client, sock))

    # -- deadlines ------------------------------------------------------------------------
    def _reap_interval(self) -> float:
        shortest = min(
            self.limits.message_timeout,
            self.limits.auth_timeout,
            self.limits.unauthenticated_idle_timeout,
            self.limits.idle_timeout,
        )
        return min(1.0, max(0.02, shortest / 4))

    def _reap(self) -> None:
        now = time.monotonic()
        for client in list(self._clients.values()):
            if client.deadline is not None and now >= client.deadline:
                client.closed_reason = f"{client.waiting_for} did not come in time"
                client.deadline = None
                if client.transport is not None:
                    client.transport.abort()
        self._reaper = asyncio.get_running_loop().call_later(self._reap_interval(), self._reap)

    # -- one connection -------------------------------------------------------------------
    async def _connection(self, client: Client, sock: socket.socket) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await accept_tls(sock, self.context, self.limits.tls_handshake_timeout)
            client.transport = writer.transport
            client.session.peer_subject = peer_subject(writer)
            self.connections_accepted += 1
            await self._converse(client, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass  # the client went away, sent garbage, or a deadline closed it
        except wire.ProtocolError as exc:
            log.info("closing connection %d: %s", client.id, exc)
        except asyncio.CancelledError:
            pass
        finally:
            del self._clients[client.id]
            if client.closed_reason is not None:
                log.info("closed connection %d: %s", client.id, client.closed_reason)
            if writer is not None:
                writer.transport.abort()
            else:
                with contextlib.suppress(OSError):
                    sock.close()

    def _header_wait(self, session: Session) -> tuple[str, float]:
        limits = self.limits
        if session.user is not None:
            return "a message", limits.idle_timeout
        if session.auth_started is not None:
            left = session.auth_started + limits.auth_timeout - time.monotonic()
            return "authentication", min(left, limits.unauthenticated_idle_timeout)
        return "a message before authentication", limits.unauthenticated_idle_timeout

    async def _converse(
        self, client: Client, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = client.session
        limits = self.limits
        while True:
            client.expect(*self._header_wait(session))
            header = wire.parse_header(
                await reader.readexactly(wire.HEADER_SIZE), limits.max_message_bytes
            )
            if session.user is None and header.length > limits.max_unauthenticated_message_bytes:
                raise wire.ProtocolError(
                    f"a message of {header.length:,} bytes before authentication (at most "
                    f"{limits.max_unauthenticated_message_bytes:,}, "
                    "Limits.max_unauthenticated_message_bytes)"
                )
            client.expect("the rest of a message", limits.message_timeout)
            payload = await reader.readexactly(header.length - wire.HEADER_SIZE)
            client.expect("a reply", None)
            try:
                request = wire.parse_request(header, payload)
            except wire.NestingTooDeep as exc:
                request = wire.Request(header.request_id, header.op_code, {})
                reply: dict | None = CommandError(OVERFLOW, str(exc)).to_reply()
            else:
                reply = await self._answer(session, request)
            if reply is None:
                return  # a fault closed the connection
            if session.auth_expired(limits.auth_timeout):
                client.closed_reason = "authentication did not succeed in time"
                return
            if request.more_to_come:
                continue
            writer.write(self._encode(request, reply))
            await writer.drain()

    def _encode(self, request: wire.Request, reply: dict) -> bytes:
        """The reply's message; one longer than ``Limits.max_message_bytes`` would break the
        client's connection, so it is refused with an error reply instead."""
        request_id = next(self._reply_ids) % 2**31
        message = wire.build_reply(request, reply, request_id)
        limit = self.limits.max_message_bytes
        if len(message) <= limit:
            return message
        refusal = protocol.reply_too_large(request.command_name, len(message), limit)
        return wire.build_reply(request, refusal, request_id)

    async def _answer(self, session: Session, request: wire.Request) -> dict | None:
        self.command_counts[request.command_name] += 1
        self.opcode_counts[request.op_code] += 1
        fault = self.faults.take(request.command_name)
        if fault is None:
            return await self._dispatch(session, request)
        reply = await self._dispatch(session, request) if fault.after_effect else None
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault.close_connection:
            return None  # the connection closes: no reply
        if fault.code is not None:
            message = fault.message or f"injected fault on {request.command_name}"
            return CommandError(fault.code, message, fault.error_labels).to_reply()
        return reply if fault.after_effect else await self._dispatch(session, request)

    async def _dispatch(self, session: Session, request: wire.Request) -> dict | None:
        try:
            return await self.dispatcher.dispatch(session, request.body)
        except Exception as exc:  # never let one bad command take the server down
            log.exception("internal error in command %s", request.command_name)
            return CommandError(1, f"internal error: {exc}").to_reply()
