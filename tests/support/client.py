"""Helpers of the client tests: command recording, sync/async neutral calls, pipelines."""

from __future__ import annotations

import inspect
from typing import Any

from pymongo import monitoring

from asp_core.stream_processing import AsyncSampleCursor, SampleCursor
from asp_emulator.monitoring import DRIVER_COMMANDS, CommandRecorder

__all__ = ["DRIVER_COMMANDS", "Recorder", "call", "documents_pipeline", "drain"]


class Recorder(CommandRecorder):
    """The emulator's command recorder, with the ``maxTimeMS`` pymongo adds to every command
    sent under a client-side operation timeout kept apart: ``commands`` hold what the client
    built, ``max_time_ms`` the bound each one was sent with (None: unbounded)."""

    def __init__(self) -> None:
        super().__init__()
        self.max_time_ms: list[int | None] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        before = len(self.commands)
        super().started(event)
        if len(self.commands) > before:
            self.max_time_ms.append(self.commands[-1].pop("maxTimeMS", None))

    def clear(self) -> None:
        super().clear()
        self.max_time_ms.clear()


async def call(value: Any) -> Any:
    """The result of a sync call, or of an async one once awaited."""
    return await value if inspect.isawaitable(value) else value


async def drain(cursor: SampleCursor | AsyncSampleCursor) -> list[dict[str, Any]]:
    """Iterate a sync or async cursor to its end (``for`` / ``async for``)."""
    if isinstance(cursor, AsyncSampleCursor):
        return [document async for document in cursor]
    return list(cursor)


def documents_pipeline(docs: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """A pipeline over inline documents, with an optional ``$match``, emitting to __testLog."""
    stages: list[dict[str, Any]] = [{"$source": {"documents": docs}}]
    if match:
        stages.append({"$match": match})
    stages.append({"$emit": {"connectionName": "__testLog"}})
    return stages


SOLAR_PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$emit": {"connectionName": "__testLog"}},
]
