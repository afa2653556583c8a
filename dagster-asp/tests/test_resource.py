"""``AspWorkspace``: the core's checks and messages, clients made on first use and closed
when the run ends, and the password nowhere in what Dagster shows."""

import asyncio

import dagster as dg
import pytest

from asp_core.errors import AspConnectionConfigError
from asp_core.stream_processing import AsyncStreamProcessingClient, StreamProcessingClient
from dagster_asp.resource import AspWorkspace
from dagster_support.workspaces import PASSWORD, resource_for


def test_the_settings_are_the_cores_with_the_cores_messages():
    settings = AspWorkspace(
        host="ws.example", password="s3cret", connect_timeout_ms=2000
    ).settings()
    assert (settings.host, settings.port, settings.connect_timeout_ms) == (
        "ws.example",
        27017,
        2000,
    )
    with pytest.raises(AspConnectionConfigError, match="hostname only") as caught:
        AspWorkspace(host="mongodb://ws.example", password="s3cret").settings()
    assert "s3cret" not in str(caught.value)
    with pytest.raises(AspConnectionConfigError, match="needs 'tls_certificate_key_file'"):
        AspWorkspace(host="ws", auth_mechanism="MONGODB-X509").settings()


def test_a_run_uses_one_client_and_closes_it_at_the_end(asp_workspace, capfd):
    seen: list[StreamProcessingClient] = []

    @dg.asset
    def listing(asp: AspWorkspace) -> int:
        client = asp.get_client()
        assert asp.get_client() is client
        seen.append(client)
        return len(client.stream_processors().list())

    resource = resource_for(asp_workspace)
    result = dg.materialize([listing], resources={"asp": resource})
    assert result.success
    assert result.output_for_node("listing") >= 0
    (client,) = seen
    with pytest.raises(Exception, match=r"closed|Cannot use MongoClient after close"):
        client.stream_processors().list()
    captured = capfd.readouterr()
    assert PASSWORD not in captured.out + captured.err
    assert PASSWORD not in repr(resource.settings())


def test_async_clients_are_closed_with_the_resource(asp_workspace):
    resource = resource_for(asp_workspace)
    loop = asyncio.new_event_loop()
    try:

        async def use() -> AsyncStreamProcessingClient:
            client = resource.get_async_client()
            assert isinstance(await client.stream_processors().list(), list)
            return client

        client = loop.run_until_complete(use())
        resource.close()  # what the end of a run or tick does
        with pytest.raises(Exception, match=r"closed|after close"):
            loop.run_until_complete(client.stream_processors().list())
    finally:
        loop.close()


def test_the_resource_has_exactly_the_cores_fields():
    from asp_core.settings import FIELDS

    assert set(AspWorkspace.model_fields) == set(FIELDS)
