"""Workspaces created over the Admin API answer on the wire at the hostname they report,
with their own connection registry and processors (real pymongo over TLS); deleting one
stops its listener. A Kafka connection of the registry is an in-memory topic log."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from adminapi import Api
from asp_emulator import Workspace
from asp_emulator.admin.errors import ApiError
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from waiting import wait_for

REGION = {"cloudProvider": "AWS", "region": "VIRGINIA_USA"}


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True, admin_delete_delay=3600) as workspace:
        yield workspace


@pytest.fixture
def api(ws: Workspace) -> Iterator[Api]:
    client = Api(ws)
    yield client
    client.http.close()


@pytest.fixture
def wire(ws: Workspace) -> Iterator[Callable[[str], MongoClient[dict[str, Any]]]]:
    """``wire(hostname)``: a pymongo client of the workspace at ``host:port`` (closed after)."""
    clients: list[MongoClient[dict[str, Any]]] = []

    def connect(hostname: str) -> MongoClient[dict[str, Any]]:
        query = urlencode({"tls": "true", "tlsCAFile": ws.ca_file, "authSource": "admin"})
        uri = f"mongodb://{ws.username}:{ws.password}@{hostname}/?{query}"
        client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def _listening(hostname: str) -> bool:
    host, port = hostname.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return False
    return True


def _create(api: Api, name: str) -> str:
    reply = api("POST", body={"name": name, "dataProcessRegion": REGION})
    assert reply.status_code == 200
    (hostname,) = reply.json()["hostnames"]
    return str(hostname)


def _processors(client: MongoClient[dict[str, Any]]) -> list[str]:
    reply = client.admin.command({"listStreamProcessors": 1})
    return sorted(p["name"] for p in reply["streamProcessors"])


def test_a_created_workspace_answers_on_the_wire_with_its_own_processors(
    ws: Workspace, api: Api, wire: Callable[[str], MongoClient[dict[str, Any]]]
) -> None:
    hostname = _create(api, "onwire")
    host, port = hostname.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) not in (ws.port, ws.admin_port)
    assert api("GET", "/onwire").json()["hostnames"] == [hostname]
    created = wire(hostname)
    own = wire(f"{ws.host}:{ws.port}")
    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    created.admin.command({"createStreamProcessor": "only_there", "pipeline": pipeline})
    own.admin.command({"createStreamProcessor": "only_here", "pipeline": pipeline})
    assert _processors(created) == ["only_there"]
    assert "only_there" not in _processors(own)
    assert ws.processors().get("only_there") is None
    with pytest.raises(OperationFailure):  # same users, checked by the new listener too
        MongoClient(
            f"mongodb://{ws.username}:wrong@{hostname}/?tls=true&tlsCAFile={ws.ca_file}",
            serverSelectionTimeoutMS=5000,
        ).admin.command({"listStreamProcessors": 1})
    own.admin.command({"dropStreamProcessor": "only_here"})
    assert api("DELETE", "/onwire").status_code == 202
    ws.finish_admin_transitions()
    wait_for(lambda: not _listening(hostname))


def test_its_registry_is_its_own_and_kafka_is_an_in_memory_topic_log(
    ws: Workspace, api: Api, wire: Callable[[str], MongoClient[dict[str, Any]]]
) -> None:
    hostname = _create(api, "withkafka")
    kafka = {"name": "orders", "type": "Kafka", "bootstrapServers": "broker:9092"}
    assert api("POST", "/withkafka/connections", kafka).status_code == 200
    registry = ws.connections_of("withkafka")
    assert registry.exists("orders")
    assert not ws.connections.exists("orders")  # the emulator's own registry is apart
    client = wire(hostname)
    listed = client.admin.command({"listStreamConnections": 1})
    assert "orders" in json.dumps(listed, default=str)
    pipeline = [
        {"$source": {"connectionName": "orders", "topic": "in"}},
        {"$match": {"qty": {"$gt": 1}}},
        {"$emit": {"connectionName": "orders", "topic": "big"}},
    ]
    client.admin.command({"createStreamProcessor": "big_orders", "pipeline": pipeline})
    client.admin.command({"startStreamProcessor": "big_orders"})
    registry.feed("orders", [{"qty": 1}, {"qty": 5}, {"qty": 7}], topic="in")
    emitted = wait_for(
        lambda: (
            len(registry.emitted("orders", topic="big")) == 2
            and registry.emitted("orders", topic="big")
        )
    )
    assert [doc["qty"] for doc in emitted] == [5, 7]
    own = wire(f"{ws.host}:{ws.port}")
    with pytest.raises(OperationFailure, match="orders"):  # not in the own workspace's registry
        own.admin.command({"createStreamProcessor": "nope", "pipeline": pipeline})
    assert api("DELETE", "/withkafka").status_code == 202
    ws.finish_admin_transitions()
    wait_for(lambda: not _listening(hostname))


def test_a_deleting_workspace_answers_until_it_is_gone(
    ws: Workspace, api: Api, wire: Callable[[str], MongoClient[dict[str, Any]]]
) -> None:
    hostname = _create(api, "going")
    assert api("DELETE", "/going").status_code == 202
    assert api("GET", "/going").status_code == 200  # deletion takes admin_delete_delay
    assert _processors(wire(hostname)) == []
    ws.finish_admin_transitions()
    assert api("GET", "/going").status_code == 404
    wait_for(lambda: not _listening(hostname))
    assert api("GET", "/going/connections").status_code == 404
    with pytest.raises(ApiError) as gone:
        ws.connections_of("going")
    assert gone.value.status == 404


def test_networking_changes_are_refused_with_atlas_code(ws: Workspace, api: Api) -> None:
    path = f"/{ws.workspace_name}/connections"
    body = {"name": "netk", "type": "Kafka", "networking": {"access": {"type": "PUBLIC"}}}
    assert api("POST", path, body).status_code == 200
    ws.finish_admin_transitions()
    changed = api("PATCH", f"{path}/netk", {"networking": {"access": {"type": "VPC"}}})
    assert changed.status_code == 400
    assert changed.json()["errorCode"] == "STREAM_NETWORKING_ACCESS_TYPE_CANNOT_BE_MODIFIED"
    assert changed.json()["parameters"] == ["networking"]
    same = api("PATCH", f"{path}/netk", {"networking": {"access": {"type": "PUBLIC"}}})
    assert same.status_code == 200
    assert api("DELETE", f"{path}/netk").status_code == 202
    ws.finish_admin_transitions()


def test_tiers_of_a_created_workspace_bound_its_processors(
    ws: Workspace, api: Api, wire: Callable[[str], MongoClient[dict[str, Any]]]
) -> None:
    body = {
        "name": "small",
        "dataProcessRegion": REGION,
        "streamConfig": {"tier": "SP2", "maxTierSize": "SP5"},
    }
    reply = api("POST", body=body)
    assert reply.status_code == 200
    (hostname,) = reply.json()["hostnames"]
    client = wire(hostname)
    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    with pytest.raises(OperationFailure, match="SP5"):
        client.admin.command(
            {"createStreamProcessor": "big", "pipeline": pipeline, "options": {"tier": "SP10"}}
        )
    assert api("PATCH", "/small", {"streamConfig": {"maxTierSize": "SP10"}}).status_code == 200
    client.admin.command(
        {"createStreamProcessor": "big", "pipeline": pipeline, "options": {"tier": "SP10"}}
    )
    assert api("DELETE", "/small").status_code == 202
    ws.finish_admin_transitions()
    wait_for(lambda: not _listening(hostname))


def test_stopping_the_emulator_stops_the_created_workspaces() -> None:
    with Workspace(admin_api=True) as ws:
        api = Api(ws)
        try:
            hostname = _create(api, "left")
        finally:
            api.http.close()
        assert _listening(hostname)
    assert not _listening(hostname)


def test_a_workspace_deleted_while_it_starts_is_created_then_gone() -> None:
    # a DELETE that came while the new workspace's wire server started made the create
    # answer 404 and left that wire server listening (no record to stop it)
    with Workspace(admin_api=True) as ws:
        admin = ws._admin  # its launcher is held, to order the race
        assert admin is not None
        project = admin.project
        launch, reached, release = project._launch, threading.Event(), threading.Event()
        assert launch is not None

        async def held(name: str, config: dict[str, str]) -> Any:
            reached.set()
            await asyncio.to_thread(release.wait, 10)
            return await launch(name, config)

        project._launch = held
        creator, deleter = Api(ws), Api(ws)
        answers: list[httpx.Response] = []
        body = {"name": "racing", "dataProcessRegion": REGION}
        thread = threading.Thread(target=lambda: answers.append(creator("POST", body=body)))
        thread.start()
        try:
            assert reached.wait(10)
            assert creator("POST", body=body).status_code == 409  # the name is taken meanwhile
            assert deleter("DELETE", "/racing").status_code == 202
        finally:
            release.set()
            thread.join(10)
            creator.close()
        assert answers[0].status_code == 200
        (hostname,) = answers[0].json()["hostnames"]
        assert deleter("GET", "/racing").status_code == 404
        wait_for(lambda: not _listening(hostname))
        deleter.close()
