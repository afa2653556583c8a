"""Helpers of the client tests: command recording, sync/async neutral calls, pipelines."""

from __future__ import annotations

import inspect
from typing import Any

from pymongo import monitoring

from airflow_provider_asp.stream_processing import AsyncSampleCursor, SampleCursor

#: Commands pymongo sends on its own (handshake, auth, session end); not recorded.
DRIVER_COMMANDS = frozenset(
    {"hello", "ismaster", "isMaster", "saslStart", "saslContinue", "endSessions", "ping"}
)


class Recorder(monitoring.CommandListener):
    """Records the ASP command documents pymongo sends, without the fields pymongo adds."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []
        self.failures: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in DRIVER_COMMANDS:
            self.commands.append(
                {
                    key: value
                    for key, value in event.command.items()
                    if key != "lsid" and not key.startswith("$")
                }
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failures.append(event.command_name)

    def names(self) -> list[str]:
        return [next(iter(command)) for command in self.commands]

    def items(self) -> list[list[tuple[str, Any]]]:
        """Each command as its (key, value) list: compares key order too."""
        return [list(command.items()) for command in self.commands]

    def clear(self) -> None:
        self.commands.clear()
        self.failures.clear()


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
