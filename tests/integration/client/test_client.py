"""The client itself against the emulator: connection rules, address, context managers,
and input refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from bson.timestamp import Timestamp
from pymongo import monitoring
from pymongo.errors import InvalidOperation, OperationFailure

from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    GetStreamProcessorSamplesOptions,
    StartStreamProcessorOptions,
    StreamProcessingClient,
)
from tests.support.client import call, documents_pipeline


class AuthDatabases(monitoring.CommandListener):
    """The database each authentication command went to."""

    def __init__(self) -> None:
        self.databases: set[str] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("saslStart", "saslContinue"):
            self.databases.add(event.database_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def plain_uri(workspace, path: str = "") -> str:
    """A URI with credentials and nothing else: no tls, no authSource."""
    return f"mongodb://{workspace.username}:{workspace.password}@{workspace.host}:{workspace.port}/{path}"


async def test_address_and_context_managers(workspace):
    with StreamProcessingClient(workspace.uri) as client:
        assert client.address == (workspace.host, workspace.port)
        assert client.mongo_client.admin.command("ping")["ok"] == 1.0
    async with AsyncStreamProcessingClient(workspace.uri) as aclient:
        assert await aclient.address == (workspace.host, workspace.port)
    closing = StreamProcessingClient(workspace.uri)
    closing.stream_processors().list()
    closing.close()
    with pytest.raises(InvalidOperation):  # pymongo refuses a closed client
        closing.stream_processors().list()


async def test_tls_is_switched_on_and_auth_source_defaults_to_admin(workspace):
    listener = AuthDatabases()
    # no tls in the URI (the emulator only speaks TLS) and a database in the path
    with StreamProcessingClient(
        plain_uri(workspace, "otherdb"), tlsCAFile=workspace.ca_file, event_listeners=[listener]
    ) as client:
        assert isinstance(client.stream_processors().list(), list)
    assert listener.databases == {"admin"}
    alistener = AuthDatabases()
    async with AsyncStreamProcessingClient(
        plain_uri(workspace, "otherdb"), tlsCAFile=workspace.ca_file, event_listeners=[alistener]
    ) as aclient:
        assert isinstance(await aclient.stream_processors().list(), list)
    assert alistener.databases == {"admin"}


async def test_an_explicit_auth_source_is_kept(workspace):
    listener = AuthDatabases()
    # Atlas (and the emulator) know database users in admin only: refused, but there
    with (
        StreamProcessingClient(
            plain_uri(workspace, "?authSource=elsewhere"),
            tlsCAFile=workspace.ca_file,
            event_listeners=[listener],
        ) as client,
        pytest.raises(OperationFailure) as info,
    ):
        client.stream_processors().workspace_defaults()
    assert info.value.code == 18
    assert listener.databases == {"elsewhere"}


def refused_calls(client, name):
    """Calls that must raise InvalidOperation before sending anything."""
    sps = client.stream_processors()
    proc = sps.get(name)
    pipeline = documents_pipeline([{"a": 1}])
    return [
        lambda: sps.create("", pipeline),
        lambda: sps.create("   ", pipeline),
        lambda: sps.create(name, []),
        lambda: sps.create(name, {"$source": {}}),
        lambda: sps.get(""),
        lambda: sps.get_info(" "),
        lambda: sps.list([("name", name)]),
        lambda: sps.process([]),
        lambda: sps.process(pipeline, limit=-1),
        lambda: proc.start(StartStreamProcessorOptions(workers=0)),
        lambda: proc.start(
            StartStreamProcessorOptions(start_after={}, start_at_operation_time=Timestamp(1, 1))
        ),
        lambda: proc.get_stream_processor_samples(GetStreamProcessorSamplesOptions(cursor_id=0)),
        lambda: proc.get_stream_processor_samples(GetStreamProcessorSamplesOptions(limit=-1)),
        lambda: proc.sample(limit=-1),
        lambda: proc.sample(batch_size=-1),
        lambda: proc.sample(timeout=-1),
        lambda: proc.modify(),
        lambda: proc.modify([]),
        lambda: proc.modify(new_name=" "),
        lambda: proc.modify(tier="SP1"),
    ]


async def test_refused_input_sends_nothing(client, recorder, name):
    for refused in refused_calls(client, name):
        with pytest.raises(InvalidOperation):
            await call(refused())
    assert recorder.commands == []
    cursor = client.stream_processors().get(name).sample()
    with pytest.raises(InvalidOperation):
        await call(cursor.to_list(-1))
    with pytest.raises(InvalidOperation):
        await call(cursor.to_list(1, timeout=-1))
    assert recorder.commands == []
