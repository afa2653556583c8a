"""``asp_core.admin.AsyncAdminClient`` (the source the blocking client is generated from)
against the emulated Admin API: the same CRUD and the same reliability, and one token per
credential however many tasks and threads ask at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from asp_core.admin import (
    AdminClient,
    AdminNotFoundError,
    AdminRequestError,
    AdminTimeoutError,
    ApiKey,
    AsyncAdminClient,
    ServiceAccount,
    TokenCache,
)
from asp_emulator import Workspace
from tests.support.admin_client import unique

SECRET = "never-shown-password"
MakeAsync = Callable[..., AsyncAdminClient]


@pytest.mark.parametrize("kind", ["service_account", "api_key"])
async def test_crud(ws: Workspace, make_async: MakeAsync, kind: str) -> None:
    role = "GROUP_STREAM_PROCESSING_OWNER"
    credential = (
        ApiKey(*ws.api_key(role=role))
        if kind == "api_key"
        else ServiceAccount(*ws.service_account(role=role))
    )
    async with make_async(credential) as client:
        assert (await client.get_workspace(ws.workspace_name))["name"] == ws.workspace_name
        workspace = unique("ws")
        await client.create_workspace(workspace, tier="SP10")
        assert workspace in [w["name"] for w in await client.list_workspaces(items_per_page=1)]
        updated = await client.update_workspace(workspace, {"streamConfig": {"tier": "SP30"}})
        assert updated["streamConfig"]["tier"] == "SP30"
        with pytest.raises(AdminRequestError, match="409"):
            await client.create_workspace(workspace)
        name = unique("kafka")
        definition = {
            "name": name,
            "type": "Kafka",
            "bootstrapServers": "broker:9092",
            "authentication": {"mechanism": "PLAIN", "username": "u", "password": SECRET},
        }
        created = await client.create_connection(ws.workspace_name, definition)
        assert "password" not in created["authentication"]
        listed = await client.list_connections(ws.workspace_name, items_per_page=1)
        assert name in [c["name"] for c in listed]
        assert SECRET not in repr(listed)
        changes = {"bootstrapServers": "b2:9092"}
        updated = await client.update_connection(ws.workspace_name, name, changes)
        assert updated["bootstrapServers"] == "b2:9092"
        await client.delete_connection(ws.workspace_name, name)
        with pytest.raises(AdminNotFoundError):
            await client.get_connection(ws.workspace_name, name)
        await client.delete_connection(ws.workspace_name, name)  # absent: success
        await client.delete_workspace(workspace)
        with pytest.raises(AdminNotFoundError):
            await client.get_workspace(workspace)


async def test_429_honours_retry_after(ws: Workspace, make_async: MakeAsync) -> None:
    client = make_async()
    await client.list_workspaces()  # the token first
    before = ws.admin_request_counts().get("GET workspaces", 0)
    ws.inject_admin_fault("GET", "*/streams", status=429, retry_after=1)
    started = time.monotonic()
    await client.list_workspaces()
    assert time.monotonic() - started >= 1.0
    assert ws.admin_request_counts()["GET workspaces"] == before + 2


async def test_a_500_after_the_create_is_resolved_by_looking(
    ws: Workspace, make_async: MakeAsync
) -> None:
    client = make_async()
    name = unique("lost")
    before = ws.admin_request_counts().get("POST connections", 0)
    ws.inject_admin_fault("POST", "*/connections", status=500, after_effect=True)
    created = await client.create_connection(ws.workspace_name, {"name": name, "type": "Sample"})
    assert created["name"] == name
    assert ws.admin_request_counts()["POST connections"] == before + 1  # no resend
    names = [c["name"] for c in await client.list_connections(ws.workspace_name)]
    assert names.count(name) == 1
    await client.delete_connection(ws.workspace_name, name)


async def test_one_token_for_concurrent_tasks_and_threads(
    ws: Workspace, make_async: MakeAsync, make_client: Callable[..., AdminClient]
) -> None:
    account = ServiceAccount(*ws.service_account())
    cache = TokenCache()
    clients = [make_async(account, token_cache=cache) for _ in range(3)]
    blocking = make_client(account, token_cache=cache)
    before = ws.admin_tokens_issued
    threads = [threading.Thread(target=blocking.list_workspaces) for _ in range(3)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(c.list_workspaces() for c in clients for _ in range(4)))
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert ws.admin_tokens_issued == before + 1
    ws.expire_admin_tokens()  # every holder gets a 401: still one new token
    await asyncio.gather(*(c.list_workspaces() for c in clients for _ in range(4)))
    assert ws.admin_tokens_issued == before + 2


async def test_a_silent_server_is_bounded_by_the_timeout(
    ws: Workspace, make_async: MakeAsync
) -> None:
    client = make_async(timeout=0.5, attempts=2)
    await client.list_workspaces()  # the token first
    ws.inject_admin_fault("GET", "*/streams", silent=True, times=2)
    started = time.monotonic()
    with pytest.raises(AdminTimeoutError):
        await client.list_workspaces()
    assert time.monotonic() - started < 20.0
