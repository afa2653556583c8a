"""``asp_core.admin.AdminClient`` against the emulated Admin API: CRUD, the wire sharing the
registry, and reliability (429, lost answers, tokens, roles, silence)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pymongo import MongoClient

from asp_core.admin import (
    AdminAuthenticationError,
    AdminClient,
    AdminForbiddenError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminTimeoutError,
    ApiKey,
    ServiceAccount,
    TokenCache,
)
from asp_core.errors import Unretryable
from asp_emulator import Workspace
from tests.support.admin_client import unique, wait_until

SECRET = "never-shown-password"


def test_workspaces(ws: Workspace, client: AdminClient) -> None:
    own = client.get_workspace(ws.workspace_name)
    assert own["hostnames"] == [f"{ws.host}:{ws.port}"]
    name = unique("ws")
    created = client.create_workspace(name, tier="SP10", max_tier_size="SP30")
    assert created["streamConfig"] == {"tier": "SP10", "maxTierSize": "SP30"}
    assert name in [w["name"] for w in client.list_workspaces(items_per_page=1)]
    updated = client.update_workspace(name, {"streamConfig": {"tier": "SP30"}})
    assert updated["streamConfig"]["tier"] == "SP30"
    with pytest.raises(AdminRequestError, match="409"):
        client.create_workspace(name)
    client.delete_workspace(name)
    with pytest.raises(AdminNotFoundError):
        client.get_workspace(name)
    client.delete_workspace(name)  # absent: success


def test_workspace_with_sample_connections(client: AdminClient) -> None:
    name = unique("sample")
    client.create_workspace(name, sample_connections=True)
    assert [c["name"] for c in client.list_connections(name)] == ["sample_stream_solar"]
    client.delete_workspace(name)


def test_connections(ws: Workspace, client: AdminClient) -> None:
    name = unique("kafka")
    definition = {
        "name": name,
        "type": "Kafka",
        "bootstrapServers": "broker:9092",
        "authentication": {"mechanism": "PLAIN", "username": "u", "password": SECRET},
    }
    created = client.create_connection(ws.workspace_name, definition)
    assert created["state"] == "READY"
    assert "password" not in created["authentication"]
    assert client.get_connection(ws.workspace_name, name)["bootstrapServers"] == "broker:9092"
    listed = client.list_connections(ws.workspace_name, items_per_page=1)
    assert name in [c["name"] for c in listed]
    assert SECRET not in repr(listed)
    updated = client.update_connection(ws.workspace_name, name, {"bootstrapServers": "b2:9092"})
    assert updated["bootstrapServers"] == "b2:9092"
    client.delete_connection(ws.workspace_name, name)
    with pytest.raises(AdminNotFoundError):
        client.get_connection(ws.workspace_name, name)
    client.delete_connection(ws.workspace_name, name)  # a 404 on delete is success


def test_a_connection_made_over_http_is_used_on_the_wire(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client()
    source = unique("orders")
    client.create_connection(ws.workspace_name, {"name": source, "type": "Kafka"})
    processor = unique("p")
    mongo: MongoClient[dict[str, Any]]
    with MongoClient(ws.uri) as mongo:
        mongo.admin.command(
            {
                "createStreamProcessor": processor,
                "pipeline": [
                    {"$source": {"connectionName": source, "topic": "t"}},
                    {"$emit": {"connectionName": "__testLog", "topic": processor}},
                ],
            }
        )
        mongo.admin.command({"startStreamProcessor": processor})
        ws.feed(source, [{"n": 1}, {"n": 2}], topic="t")
        docs = wait_until(
            lambda: len(ws.emitted(topic=processor)) == 2 and ws.emitted(topic=processor)
        )
        assert [d["n"] for d in docs] == [1, 2]
        mongo.admin.command({"dropStreamProcessor": processor})
    client.delete_connection(ws.workspace_name, source)
    assert not ws.connections.exists(source)


def test_429_honours_retry_after(ws: Workspace, make_client: Callable[..., AdminClient]) -> None:
    client = make_client()
    client.list_workspaces()  # the token first
    before = ws.admin_request_counts().get("GET workspaces", 0)
    ws.inject_admin_fault("GET", "*/streams", status=429, retry_after=1)
    started = time.monotonic()
    client.list_workspaces()
    assert time.monotonic() - started >= 1.0
    assert ws.admin_request_counts()["GET workspaces"] == before + 2


def test_429_without_retry_after_backs_off_then_gives_up(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client(attempts=3)
    ws.inject_admin_fault("GET", "*/streams", status=429, times=2)
    client.list_workspaces()
    ws.inject_admin_fault("GET", "*/streams", status=429, times=-1)
    with pytest.raises(AdminRateLimitedError) as caught:
        client.list_workspaces()
    assert caught.value.retry_after is None
    assert not isinstance(caught.value, Unretryable)


def test_5xx_on_a_read_is_retried(ws: Workspace, make_client: Callable[..., AdminClient]) -> None:
    ws.inject_admin_fault("GET", f"*/streams/{ws.workspace_name}", status=503, times=2)
    assert make_client().get_workspace(ws.workspace_name)["name"] == ws.workspace_name


def test_a_500_after_the_create_is_resolved_by_looking(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client()
    name = unique("lost")
    before = ws.admin_request_counts().get("POST connections", 0)
    ws.inject_admin_fault("POST", "*/connections", status=500, after_effect=True)
    created = client.create_connection(ws.workspace_name, {"name": name, "type": "Sample"})
    assert created["name"] == name
    assert ws.admin_request_counts()["POST connections"] == before + 1  # no resend
    names = [c["name"] for c in client.list_connections(ws.workspace_name)]
    assert names.count(name) == 1
    client.delete_connection(ws.workspace_name, name)


def test_a_500_before_the_create_is_resent_after_looking(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client()
    name = unique("resent")
    before = ws.admin_request_counts().get("POST connections", 0)
    ws.inject_admin_fault("POST", "*/connections", status=500)
    assert client.create_connection(ws.workspace_name, {"name": name, "type": "Sample"})
    assert ws.admin_request_counts()["POST connections"] == before + 2
    client.delete_connection(ws.workspace_name, name)


def test_one_token_per_credential(ws: Workspace, make_client: Callable[..., AdminClient]) -> None:
    account = ServiceAccount(*ws.service_account())
    cache = TokenCache()
    clients = [make_client(account, token_cache=cache) for _ in range(4)]
    before = ws.admin_tokens_issued
    threads = [threading.Thread(target=c.list_workspaces) for c in clients for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clients[0].get_workspace(ws.workspace_name)
    assert ws.admin_tokens_issued == before + 1
    other = make_client(ServiceAccount(*ws.service_account()), token_cache=cache)
    other.list_workspaces()
    assert ws.admin_tokens_issued == before + 2


def test_an_expired_token_is_refreshed_once(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client()
    client.list_workspaces()
    before = ws.admin_tokens_issued
    ws.expire_admin_tokens()
    client.list_workspaces()
    assert ws.admin_tokens_issued == before + 1
    ws.inject_admin_fault("GET", "*/streams", status=401, times=-1)
    with pytest.raises(AdminAuthenticationError):
        client.list_workspaces()
    assert ws.admin_tokens_issued == before + 2  # one refresh, then the error


def test_a_wrong_secret_is_refused_without_echoing_it(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client_id, _ = ws.service_account()
    client = make_client(ServiceAccount(client_id, SECRET))
    with pytest.raises(AdminAuthenticationError) as caught:
        client.list_workspaces()
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(ServiceAccount(client_id, SECRET))


def test_403_names_the_missing_role(
    ws: Workspace, make_client: Callable[..., AdminClient], caplog: pytest.LogCaptureFixture
) -> None:
    public, private = ws.api_key(role="GROUP_READ_ONLY")
    client = make_client(ApiKey(public, private))
    assert client.list_workspaces()
    with caplog.at_level(logging.DEBUG), pytest.raises(AdminForbiddenError) as caught:
        client.create_connection(ws.workspace_name, {"name": "ro", "type": "Sample"})
    message = str(caught.value)
    assert "Project Owner or Project Stream Processing Owner" in message
    assert isinstance(caught.value, Unretryable)
    assert private not in message
    assert private not in caplog.text


def test_a_silent_server_is_bounded_by_the_timeout(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client(timeout=0.5, attempts=2)
    client.list_workspaces()  # the token first
    ws.inject_admin_fault("GET", "*/streams", silent=True, times=2)
    started = time.monotonic()
    with pytest.raises(AdminTimeoutError):
        client.list_workspaces()
    assert time.monotonic() - started < 20.0


def test_secrets_are_not_logged_on_retries(
    ws: Workspace, make_client: Callable[..., AdminClient], caplog: pytest.LogCaptureFixture
) -> None:
    client_id, secret = ws.service_account()
    client = make_client(ServiceAccount(client_id, secret))
    ws.inject_admin_fault("GET", "*/streams", status=503, times=2)
    with caplog.at_level(logging.DEBUG):
        client.list_workspaces()
    assert "retrying" in caplog.text
    assert secret not in caplog.text
