"""The synchronous stream processing client, a thin executor over :mod:`.protocol`.

Every method builds its command with :mod:`.protocol` (or asks the cursor's
:class:`~.sampling.SampleState` what to send next), sends it to the ``admin`` database
through pymongo's :class:`~pymongo.mongo_client.MongoClient`, and returns what the
command's parser makes of the reply. :mod:`.asynchronous` is the same on
:class:`~pymongo.asynchronous.mongo_client.AsyncMongoClient`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from pymongo import MongoClient
from pymongo.errors import PyMongoError
from tenacity import Retrying

from airflow_provider_asp.stream_processing import protocol
from airflow_provider_asp.stream_processing._base import (
    Closing,
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

__all__ = ["SampleCursor", "StreamProcessingClient", "StreamProcessor", "StreamProcessors"]

T = TypeVar("T")


class StreamProcessingClient(Closing):
    """A client of one Atlas Stream Processing workspace.

    Built like :class:`~pymongo.mongo_client.MongoClient`: a ``mongodb://`` URI (or host
    and port) and keyword arguments, which pass through to pymongo (``tlsCAFile``,
    ``event_listeners``, ...). ``mongodb+srv://`` and disabling TLS raise
    :class:`~pymongo.errors.ConfigurationError`; TLS is switched on and ``authSource``
    defaults to ``admin``. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs = workspace_client_kwargs(host, kwargs)
        self._client: MongoClient[dict[str, Any]] = MongoClient(host, port, **kwargs)
        self._admin = self._client.admin

    @property
    def mongo_client(self) -> MongoClient[dict[str, Any]]:
        """The underlying pymongo client (for ``ping`` and other plain commands)."""
        return self._client

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the workspace (connects if needed), as pymongo reports it."""
        return self._client.address

    def stream_processors(self) -> StreamProcessors:
        """The workspace's stream processors."""
        return StreamProcessors(self)

    def close(self) -> None:
        """Close the underlying pymongo client."""
        self._client.close()

    def _run(self, command: Command[T]) -> T:
        """Send ``command`` (a retryable read under the retry policy, unless the client was
        built with ``retryReads=False``) and parse the reply."""
        if command.retryable and self._client.options.retry_reads:
            reply = Retrying(**protocol.RETRY_READS)(self._send, command.document)
        else:
            reply = self._send(command.document)
        return command.parse(reply)

    def _send(self, document: Document) -> Reply:
        # pymongo adds lsid/$clusterTime to the mapping it is given: send a copy.
        return self._admin.command(dict(document))


class StreamProcessors:
    """The stream processors of a workspace (``client.stream_processors()``)."""

    def __init__(self, client: StreamProcessingClient) -> None:
        self._client = client

    def create(
        self,
        name: str,
        pipeline: Sequence[Mapping[str, Any]],
        options: CreateStreamProcessorOptions | None = None,
    ) -> None:
        """Create a processor (``createStreamProcessor``); it starts in state CREATED."""
        self._client._run(protocol.create(name, pipeline, options))

    def get(self, name: str) -> StreamProcessor:
        """A handle on the processor ``name``; sends nothing."""
        return StreamProcessor(self._client, name)

    def get_info(self, name: str) -> StreamProcessorInfo:
        """Describe a processor (``getStreamProcessor``, retried once on a retryable error)."""
        return self._client._run(protocol.get_info(name))

    def list(self, filter: Mapping[str, Any] | None = None) -> builtins.list[StreamProcessorInfo]:
        """The processors, optionally matching ``filter`` (``listStreamProcessors``)."""
        return self._client._run(protocol.list_processors(filter))

    def list_connections(
        self, filter: Mapping[str, Any] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The workspace's connections (``listStreamConnections``)."""
        return self._client._run(protocol.list_connections(filter))

    def workspace_defaults(self) -> dict[str, Any]:
        """The workspace's tier defaults (``listWorkspaceDefaults``), without ``ok``."""
        return self._client._run(protocol.workspace_defaults())

    def process(
        self,
        pipeline: Sequence[Mapping[str, Any]],
        *,
        limit: int | None = None,
        dlq: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> SampleCursor:
        """Run ``pipeline`` as an ephemeral processor (``processStreamProcessor``) and read
        its output through a :class:`SampleCursor`; closing (or exhausting) the cursor
        drops the processor. Nothing is sent before the first fetch."""
        state = SampleState.process(
            pipeline, limit, dlq, batch_size, backoff=backoff, timeout=timeout
        )
        return SampleCursor(self._client, state)


class StreamProcessor(ProcessorHandleBase):
    """One stream processor of a workspace, by name (``stream_processors().get(name)``)."""

    def __init__(self, client: StreamProcessingClient, name: str) -> None:
        super().__init__(name)
        self._client = client

    def start(self, options: StartStreamProcessorOptions | None = None) -> None:
        """Start the processor (``startStreamProcessor``)."""
        self._client._run(protocol.start(self._name, options))

    def stop(self) -> None:
        """Stop the processor (``stopStreamProcessor``)."""
        self._client._run(protocol.stop(self._name))

    def drop(self) -> None:
        """Drop the processor (``dropStreamProcessor``)."""
        self._client._run(protocol.drop(self._name))

    def stats(self, options: GetStreamProcessorStatsOptions | None = None) -> dict[str, Any]:
        """The raw ``getStreamProcessorStats`` reply (retried once on a retryable error)."""
        return self._client._run(protocol.stats(self._name, options))

    def modify(
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
        self._name = self._client._run(command)

    def get_stream_processor_samples(
        self, options: GetStreamProcessorSamplesOptions | None = None
    ) -> GetStreamProcessorSamplesResult:
        """One sample fetch, tracking the cursor id yourself: without ``cursor_id`` it opens
        a cursor (``startSampleStreamProcessor``, then the first
        ``getMoreSampleStreamProcessor`` unless the opening reply carried documents); with
        one it continues that cursor. Never waits."""
        cursor = SampleCursor(self._client, SampleState.fetch(self._name, options))
        documents = cursor.next_batch()
        return GetStreamProcessorSamplesResult(cursor.cursor_id or 0, documents)

    def sample(
        self,
        limit: int | None = None,
        batch_size: int | None = None,
        *,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> SampleCursor:
        """A cursor over the processor's output; nothing is sent before the first fetch.

        ``limit`` goes to ``startSampleStreamProcessor``, ``batch_size`` to every
        ``getMoreSampleStreamProcessor``; ``timeout`` is an overall deadline in seconds.
        """
        state = SampleState.sample(self._name, limit, batch_size, backoff=backoff, timeout=timeout)
        return SampleCursor(self._client, state)


class SampleCursor(SampleCursorBase, Closing):
    """Documents sampled from a processor, fetched as iteration needs them.

    Iteration ends when the server returns ``cursorId: 0`` (or ``limit`` documents
    arrived). Empty batches are re-polled after a growing pause (:class:`Backoff`); past
    the cursor's ``timeout`` iteration raises :class:`SampleCursorTimeout`.
    """

    def __init__(self, client: StreamProcessingClient, state: SampleState) -> None:
        super().__init__(state)
        self._client = client

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The documents, fetched as the buffer runs dry (a generator over this cursor's
        buffer, so ``next(cursor)`` and several loops share one position)."""
        buffer = self._state.buffer
        while True:
            while buffer:
                yield buffer.popleft()
            self._fill(NEXT)
            if not buffer:
                return

    def __next__(self) -> dict[str, Any]:
        document = self._state.pop()
        if document is None:
            self._fill(NEXT)
            document = self._state.pop()
            if document is None:
                raise StopIteration
        return document

    next = __next__

    def try_next(self) -> dict[str, Any] | None:
        """The next document if one is buffered or one poll brings it, else None (no wait)."""
        self._fill(POLL)
        return self._state.pop()

    def next_batch(self) -> list[dict[str, Any]]:
        """The buffered documents, or what one poll brings (maybe none); never waits."""
        self._fill(POLL)
        return self._state.take()

    def to_list(
        self, length: int | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``length`` documents (all, without it), returned when the cursor is
        exhausted or after ``timeout`` seconds, whichever comes first; never raises
        :class:`SampleCursorTimeout`."""
        self._fill(Round.to_list(length, timeout, time.monotonic()))
        return self._state.take(length)

    def close(self) -> None:
        """Stop fetching; a ``process()`` cursor drops its ephemeral processor (errors
        ignored)."""
        self._drop(self._state.close())

    def _fill(self, goal: Round) -> None:
        sent = False
        while step := self._state.next_send(time.monotonic(), goal, sent):
            if step.wait:
                time.sleep(step.wait)
            self._client._run(step.command)
            sent = True
        self._drop(self._state.release())

    def _drop(self, command: Command[None] | None) -> None:
        if command is not None:
            with suppress(PyMongoError):
                self._client._run(command)
