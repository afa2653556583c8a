"""The asyncio stream processing client, a thin executor over :mod:`.protocol`.

The twin of :mod:`.client` on pymongo's
:class:`~pymongo.asynchronous.mongo_client.AsyncMongoClient`: the same commands (built by
:mod:`.protocol`), the same cursor state machine (:mod:`.sampling`), awaited; back-off
pauses use :func:`asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from tenacity import AsyncRetrying

from airflow_provider_asp.stream_processing import protocol
from airflow_provider_asp.stream_processing._base import (
    AsyncClosing,
    ProcessorHandleBase,
    SampleCursorBase,
)
from airflow_provider_asp.stream_processing.config import workspace_client_kwargs
from airflow_provider_asp.stream_processing.options import (
    CreateStreamProcessorOptions,
    GetStreamProcessorSamplesOptions,
    GetStreamProcessorSamplesResult,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
)
from airflow_provider_asp.stream_processing.protocol import Command, Document, Reply
from airflow_provider_asp.stream_processing.sampling import (
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
    """The asyncio twin of :class:`~.client.StreamProcessingClient` (same arguments and
    rules); use ``async with`` or ``await client.close()``."""

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
        """The underlying pymongo client."""
        return self._client

    @property
    async def address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the workspace (connects if needed): ``await client.address``."""
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
        if command.retryable and self._client.options.retry_reads:
            reply: Reply = await AsyncRetrying(**protocol.RETRY_READS)(self._send, command.document)
        else:
            reply = await self._send(command.document)
        return command.parse(reply)

    async def _send(self, document: Document) -> Reply:
        # pymongo adds lsid/$clusterTime to the mapping it is given: send a copy.
        return await self._admin.command(dict(document))


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
        """Create a processor (``createStreamProcessor``)."""
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
        """Run ``pipeline`` as an ephemeral processor and read its output (see
        :meth:`.client.StreamProcessors.process`); nothing is sent before the first fetch."""
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
        """One sample fetch, tracking the cursor id yourself (see
        :meth:`.client.StreamProcessor.get_stream_processor_samples`). Never waits."""
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
        """A cursor over the processor's output (see :meth:`.client.StreamProcessor.sample`);
        nothing is sent before the first fetch."""
        state = SampleState.sample(self._name, limit, batch_size, backoff=backoff, timeout=timeout)
        return AsyncSampleCursor(self._client, state)


class AsyncSampleCursor(SampleCursorBase, AsyncClosing):
    """The asyncio twin of :class:`~.client.SampleCursor`: ``async for``, ``await``."""

    def __init__(self, client: AsyncStreamProcessingClient, state: SampleState) -> None:
        super().__init__(state)
        self._client = client

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """The documents, fetched as the buffer runs dry (see ``SampleCursor.__iter__``)."""
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
        """Up to ``length`` documents, returned on exhaustion or after ``timeout`` seconds;
        never raises :class:`SampleCursorTimeout`."""
        await self._fill(Round.to_list(length, timeout, time.monotonic()))
        return self._state.take(length)

    async def close(self) -> None:
        """Stop fetching; a ``process()`` cursor drops its ephemeral processor (errors
        ignored)."""
        await self._drop(self._state.close())

    async def _fill(self, goal: Round) -> None:
        sent = False
        while step := self._state.next_send(time.monotonic(), goal, sent):
            if step.wait:
                await asyncio.sleep(step.wait)
            await self._client._run(step.command)
            sent = True
        await self._drop(self._state.release())

    async def _drop(self, command: Command[None] | None) -> None:
        if command is not None:
            with suppress(PyMongoError):
                await self._client._run(command)
