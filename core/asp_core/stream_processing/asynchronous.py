"""The asynchronous stream processing client, a thin executor over :mod:`.protocol`.

Every method builds its command with :mod:`.protocol` (or asks the cursor's
:class:`~.sampling.SampleState` what to send next), sends it to the ``admin`` database
through pymongo's :class:`~pymongo.asynchronous.mongo_client.AsyncMongoClient`, and returns
what the command's parser makes of the reply. Every call obeys a ``pymongo.timeout`` block
around it; a sample cursor also bounds each command by its own deadline (:mod:`.timeouts`),
and its back-off pauses use :func:`asyncio.sleep`.

Under a ``pymongo.timeout`` block pymongo waits the whole block to select a server, even when
the workspace's certificate fails verification, which no wait fixes: before a command on a
client with no server known yet, a server is selected within ``serverSelectionTimeoutMS``
(as pymongo does outside such a block) through pymongo's private topology, and a certificate
failure is raised there; anything else is left to the command, within the block.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from pymongo.server_selectors import writable_server_selector
from tenacity import AsyncRetrying

from asp_core.stream_processing import protocol, timeouts
from asp_core.stream_processing._base import (
    AsyncClosing,
    ProcessorHandleBase,
    SampleCursorBase,
)
from asp_core.stream_processing.config import workspace_client_kwargs
from asp_core.stream_processing.options import (
    CreateStreamProcessorOptions,
    GetStreamProcessorSamplesOptions,
    GetStreamProcessorSamplesResult,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
)
from asp_core.stream_processing.protocol import Command, Document, Reply
from asp_core.stream_processing.sampling import (
    NEXT,
    POLL,
    Backoff,
    Round,
    SampleState,
)

__all__ = [
    "AsyncSampleCursor",
    "AsyncStreamProcessingClient",
    "AsyncStreamProcessor",
    "AsyncStreamProcessors",
]

T = TypeVar("T")


class AsyncStreamProcessingClient(AsyncClosing):
    """A client of one Atlas Stream Processing workspace.

    Built like :class:`~pymongo.asynchronous.mongo_client.AsyncMongoClient`: a ``mongodb://``
    URI (or host and port) and keyword arguments, which pass through to pymongo
    (``tlsCAFile``, ``event_listeners``, ``timeoutMS``, ...). ``mongodb+srv://`` and
    disabling TLS raise :class:`~pymongo.errors.ConfigurationError`; TLS is switched on and
    ``authSource`` defaults to ``admin``. Use it as a context manager (``async with``), or
    call ``await client.close()``. Bound any call with ``with pymongo.timeout(seconds):``.
    """

    def __init__(
        self,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs = workspace_client_kwargs(host, kwargs)
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(host, port, **kwargs)
        self._admin = self._client.admin

    @property
    def mongo_client(self) -> AsyncMongoClient[dict[str, Any]]:
        """The underlying pymongo client (for ``ping`` and other plain commands)."""
        return self._client

    @property
    async def address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the workspace (connects if needed), as pymongo reports it:
        ``await client.address``."""
        return await self._client.address

    def stream_processors(self) -> AsyncStreamProcessors:
        """The workspace's stream processors."""
        return AsyncStreamProcessors(self)

    async def close(self) -> None:
        """Close the underlying pymongo client."""
        await self._client.close()

    async def _run(self, command: Command[T]) -> T:
        """Send ``command`` (a retryable read under the retry policy, unless the client was
        built with ``retryReads=False``) and parse the reply."""
        try:
            if command.retryable and self._client.options.retry_reads:
                retrying = AsyncRetrying(**protocol.RETRY_READS)
                reply: Reply = await retrying(self._send, command.document)
            else:
                reply = await self._send(command.document)
        except PyMongoError as exc:
            protocol.note_command(exc, command.name)
            raise
        return command.parse(reply)

    async def _send(self, document: Document) -> Reply:
        await self._check_certificate()
        # pymongo adds lsid/$clusterTime (and maxTimeMS under CSOT) to the mapping it is
        # given: send a copy.
        return await self._admin.command(dict(document))

    async def _check_certificate(self) -> None:
        """Under a ``pymongo.timeout`` block, with no server known yet: select one within
        ``serverSelectionTimeoutMS`` and raise a certificate failure (see the module)."""
        left = timeouts.remaining()
        if left is None or left <= 0 or self._client.topology_description.has_writable_server():
            return
        bound = min(left, self._client.options.server_selection_timeout)
        topology = await self._client._get_topology()
        try:
            await topology.select_server(
                writable_server_selector, "stream processing", server_selection_timeout=bound
            )
        except ServerSelectionTimeoutError as exc:
            if protocol.is_certificate_failure(exc):
                raise


class AsyncStreamProcessors:
    """The stream processors of a workspace (``client.stream_processors()``)."""

    def __init__(self, client: AsyncStreamProcessingClient) -> None:
        self._client = client

    async def create(
        self,
        name: str,
        pipeline: Sequence[Mapping[str, Any]],
        options: CreateStreamProcessorOptions | None = None,
    ) -> None:
        """Create a processor (``createStreamProcessor``); it starts in state CREATED."""
        await self._client._run(protocol.create(name, pipeline, options))

    def get(self, name: str) -> AsyncStreamProcessor:
        """A handle on the processor ``name``; sends nothing."""
        return AsyncStreamProcessor(self._client, name)

    async def get_info(self, name: str) -> StreamProcessorInfo:
        """Describe a processor (``getStreamProcessor``, retried once on a retryable error)."""
        return await self._client._run(protocol.get_info(name))

    async def list(
        self, filter: Mapping[str, Any] | None = None
    ) -> builtins.list[StreamProcessorInfo]:
        """The processors, optionally matching ``filter`` (``listStreamProcessors``)."""
        return await self._client._run(protocol.list_processors(filter))

    async def list_connections(
        self, filter: Mapping[str, Any] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The workspace's connections (``listStreamConnections``)."""
        return await self._client._run(protocol.list_connections(filter))

    async def workspace_defaults(self) -> dict[str, Any]:
        """The workspace's tier defaults (``listWorkspaceDefaults``), without ``ok``."""
        return await self._client._run(protocol.workspace_defaults())

    def process(
        self,
        pipeline: Sequence[Mapping[str, Any]],
        *,
        limit: int | None = None,
        dlq: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> AsyncSampleCursor:
        """Run ``pipeline`` as an ephemeral processor (``processStreamProcessor``) and read
        its output through a cursor (:class:`AsyncSampleCursor`); closing (or exhausting) it
        drops the processor. Nothing is sent before the first fetch."""
        state = SampleState.process(
            pipeline, limit, dlq, batch_size, backoff=backoff, timeout=timeout
        )
        return AsyncSampleCursor(self._client, state)


class AsyncStreamProcessor(ProcessorHandleBase):
    """One stream processor of a workspace, by name (``stream_processors().get(name)``)."""

    def __init__(self, client: AsyncStreamProcessingClient, name: str) -> None:
        super().__init__(name)
        self._client = client

    async def start(self, options: StartStreamProcessorOptions | None = None) -> None:
        """Start the processor (``startStreamProcessor``)."""
        await self._client._run(protocol.start(self._name, options))

    async def stop(self) -> None:
        """Stop the processor (``stopStreamProcessor``)."""
        await self._client._run(protocol.stop(self._name))

    async def drop(self) -> None:
        """Drop the processor (``dropStreamProcessor``)."""
        await self._client._run(protocol.drop(self._name))

    async def stats(self, options: GetStreamProcessorStatsOptions | None = None) -> dict[str, Any]:
        """The raw ``getStreamProcessorStats`` reply (retried once on a retryable error)."""
        return await self._client._run(protocol.stats(self._name, options))

    async def modify(
        self,
        pipeline: Sequence[Mapping[str, Any]] | None = None,
        *,
        new_name: str | None = None,
        dlq: Mapping[str, Any] | None = None,
        tier: str | None = None,
        resume_from_checkpoint: bool | None = None,
    ) -> None:
        """Change a stopped processor (``modifyStreamProcessor``); after a rename this
        handle refers to ``new_name``."""
        command = protocol.modify(
            self._name,
            pipeline,
            new_name=new_name,
            dlq=dlq,
            tier=tier,
            resume_from_checkpoint=resume_from_checkpoint,
        )
        self._name = await self._client._run(command)

    async def get_stream_processor_samples(
        self, options: GetStreamProcessorSamplesOptions | None = None
    ) -> GetStreamProcessorSamplesResult:
        """One sample fetch, tracking the cursor id yourself: without ``cursor_id`` it opens
        a cursor (``startSampleStreamProcessor``, then the first
        ``getMoreSampleStreamProcessor`` unless the opening reply carried documents); with
        one it continues that cursor. Never waits."""
        cursor = AsyncSampleCursor(self._client, SampleState.fetch(self._name, options))
        documents = await cursor.next_batch()
        return GetStreamProcessorSamplesResult(cursor.cursor_id or 0, documents)

    def sample(
        self,
        limit: int | None = None,
        batch_size: int | None = None,
        *,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> AsyncSampleCursor:
        """A cursor over the processor's output; nothing is sent before the first fetch.

        ``limit`` goes to ``startSampleStreamProcessor``, ``batch_size`` to every
        ``getMoreSampleStreamProcessor``; ``timeout`` is an overall deadline in seconds,
        which also bounds every command the cursor sends.
        """
        state = SampleState.sample(self._name, limit, batch_size, backoff=backoff, timeout=timeout)
        return AsyncSampleCursor(self._client, state)


class AsyncSampleCursor(SampleCursorBase, AsyncClosing):
    """Documents sampled from a processor, fetched as iteration (``async for``) needs them.

    Iteration ends when the server returns ``cursorId: 0`` (or ``limit`` documents
    arrived). Empty batches are re-polled after a growing pause (:class:`Backoff`). The
    cursor's ``timeout`` bounds every command it sends (``pymongo.timeout``): past it
    iteration raises :class:`SampleCursorTimeout`, and ``to_list()`` returns what it has.
    A ``pymongo.timeout`` block around a call bounds it too; its expiry raises pymongo's
    timeout error, and the documents fetched stay buffered for the next call.
    """

    def __init__(self, client: AsyncStreamProcessingClient, state: SampleState) -> None:
        super().__init__(state)
        self._client = client

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """The documents, fetched as the buffer runs dry (a generator over this cursor's
        buffer, so ``await cursor.next()`` and several loops share one position)."""
        buffer = self._state.buffer
        while True:
            while buffer:
                yield buffer.popleft()
            await self._fill(NEXT)
            if not buffer:
                return

    async def __anext__(self) -> dict[str, Any]:
        document = self._state.pop()
        if document is None:
            await self._fill(NEXT)
            document = self._state.pop()
            if document is None:
                raise StopAsyncIteration
        return document

    next = __anext__

    async def try_next(self) -> dict[str, Any] | None:
        """The next document if one is buffered or one poll brings it, else None (no wait)."""
        await self._fill(POLL)
        return self._state.pop()

    async def next_batch(self) -> list[dict[str, Any]]:
        """The buffered documents, or what one poll brings (maybe none); never waits."""
        await self._fill(POLL)
        return self._state.take()

    async def to_list(
        self, length: int | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``length`` documents (all, without it), returned when the cursor is
        exhausted or after ``timeout`` seconds (or the cursor's own timeout), whichever
        comes first; never raises :class:`SampleCursorTimeout`."""
        await self._fill(Round.to_list(length, timeout, time.monotonic()))
        return self._state.take(length)

    async def close(self) -> None:
        """Stop fetching; a ``process()`` cursor drops its ephemeral processor (errors
        ignored)."""
        await self._drop(self._state.close())

    async def _fill(self, goal: Round) -> None:
        """Send what the state asks for until the round for ``goal`` ends; each command
        within the cursor's deadline (and the caller's ``pymongo.timeout``)."""
        operation_timeout = self._client.mongo_client.options.timeout
        sent = False
        while step := self._state.next_send(time.monotonic(), goal, sent):
            if step.wait:
                await asyncio.sleep(timeouts.pause(step.wait, time.monotonic()))
            bound = timeouts.CommandBound.at(step.deadline, time.monotonic(), operation_timeout)
            if bound.expired:
                self._state.expire(goal)
                break
            try:
                with bound.scope():
                    await self._client._run(step.command)
            except PyMongoError as exc:
                if not bound.ran_out(exc):
                    raise
                self._state.expire(goal, exc)
                break
            sent = True
        await self._drop(self._state.release())

    async def _drop(self, command: Command[None] | None) -> None:
        if command is not None:
            with suppress(PyMongoError):
                await self._client._run(command)
