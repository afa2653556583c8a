"""``asp_core.admin.waits`` against the emulated Admin API, where connections stay PENDING
and deletions unfinished until the test says (``finish_admin_transitions``): READY with
the document, FAILED with the server's words, gone after a 202, every wait bounded."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from asp_core.admin import (
    AdminClient,
    AdminConnectionFailedError,
    AdminNotFoundError,
    AdminWaitTimeoutError,
    AsyncAdminClient,
    ServiceAccount,
)
from asp_core.admin.waits import asynchronous as async_waits
from asp_core.admin.waits import synchronous as waits
from asp_core.errors import Unretryable
from asp_emulator import Workspace
from tests.support.admin_client import client_options, unique

POLL = 0.02


@pytest.fixture(scope="module")
def slow() -> Iterator[Workspace]:
    with Workspace(admin_api=True, admin_ready_delay=3600, admin_delete_delay=3600) as ws:
        yield ws


@pytest.fixture
def client(slow: Workspace) -> Iterator[AdminClient]:
    account = ServiceAccount(*slow.service_account())
    with AdminClient(slow.project_id, account, **client_options(slow, timeout=5.0)) as c:
        yield c
    slow.clear_admin_faults()


@pytest.fixture
async def aclient(slow: Workspace) -> AsyncIterator[AsyncAdminClient]:
    account = ServiceAccount(*slow.service_account())
    async with AsyncAdminClient(slow.project_id, account, **client_options(slow, timeout=5.0)) as c:
        yield c
    slow.clear_admin_faults()


def _gets(ws: Workspace) -> int:
    return ws.admin_request_counts().get("GET connection", 0)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_ready_after_pending(slow: Workspace, aclient: AsyncAdminClient) -> None:
    name = unique("https")
    created = await aclient.create_connection(
        slow.workspace_name, {"name": name, "type": "Https", "url": "https://example.com"}
    )
    assert created["state"] == "PENDING"
    before = _gets(slow)
    wait = asyncio.create_task(
        async_waits.connection_ready(aclient, slow.workspace_name, name, poll_interval=POLL)
    )
    await _until(lambda: _gets(slow) >= before + 2)  # it has looked, and looked again
    assert not wait.done()
    await asyncio.to_thread(slow.finish_admin_transitions)
    doc = await asyncio.wait_for(wait, 10)
    assert doc["state"] == "READY"
    assert doc["url"] == "https://example.com"


def test_ready_is_bounded_and_says_what_it_saw(slow: Workspace, client: AdminClient) -> None:
    name = unique("pending")
    client.create_connection(slow.workspace_name, {"name": name, "type": "Sample"})
    started = time.monotonic()
    with pytest.raises(AdminWaitTimeoutError, match="last seen: state PENDING") as caught:
        waits.connection_ready(client, slow.workspace_name, name, timeout=0.3, poll_interval=POLL)
    assert 0.3 <= time.monotonic() - started < 5.0
    assert name in str(caught.value)


def test_failed_is_final_and_unretryable(slow: Workspace, client: AdminClient) -> None:
    name = unique("kafka")
    client.create_connection(
        slow.workspace_name, {"name": name, "type": "Kafka", "bootstrapServers": "broker:9092"}
    )
    slow.fail_admin_connection(name, "Broker unreachable: broker:9092")
    with pytest.raises(AdminConnectionFailedError, match=f"{name}.* is FAILED") as e:
        waits.connection_ready(client, slow.workspace_name, name, poll_interval=POLL)
    assert isinstance(e.value, Unretryable)
    said = gzip.decompress(client.download_logs(slow.workspace_name)).decode()
    assert f"connection {name} FAILED: Broker unreachable: broker:9092" in said


def test_a_connection_deleted_while_waiting_is_an_error(
    slow: Workspace, client: AdminClient
) -> None:
    name = unique("gone")
    client.create_connection(slow.workspace_name, {"name": name, "type": "Sample"})
    client.delete_connection(slow.workspace_name, name)
    slow.finish_admin_transitions()
    with pytest.raises(AdminNotFoundError, match="gone"):
        waits.connection_ready(client, slow.workspace_name, name, poll_interval=POLL)


def test_transient_errors_cost_a_look_not_the_wait(slow: Workspace, client: AdminClient) -> None:
    name = unique("flaky")
    client.create_connection(slow.workspace_name, {"name": name, "type": "Sample"})
    slow.finish_admin_transitions()
    slow.inject_admin_fault("GET", f"*/connections/{name}", status=503, times=2)
    doc = waits.connection_ready(client, slow.workspace_name, name, poll_interval=POLL)
    assert doc["state"] == "READY"
    client.delete_connection(slow.workspace_name, name)


def test_a_429_look_waits_its_retry_after(slow: Workspace, client: AdminClient) -> None:
    # the next look came poll_interval later, however long Atlas asked to wait
    name = unique("limited")
    client.create_connection(slow.workspace_name, {"name": name, "type": "Sample"})
    slow.finish_admin_transitions()
    slow.inject_admin_fault("GET", f"*/connections/{name}", status=429, retry_after=1)
    started = time.monotonic()
    assert waits.connection_ready(client, slow.workspace_name, name, poll_interval=POLL)
    assert time.monotonic() - started >= 1.0
    client.delete_connection(slow.workspace_name, name)


def test_a_silent_server_is_bounded(slow: Workspace) -> None:
    account = ServiceAccount(*slow.service_account())
    with AdminClient(slow.project_id, account, **client_options(slow, timeout=0.3)) as client:
        client.list_workspaces()  # the token first
        slow.inject_admin_fault("GET", "*/connections/*", silent=True, times=-1)
        started = time.monotonic()
        with pytest.raises(AdminWaitTimeoutError, match="no answer"):
            waits.connection_ready(
                client, slow.workspace_name, "any", timeout=0.5, poll_interval=POLL
            )
        assert time.monotonic() - started < 0.5 + 0.3 + 2.0  # the wait, one request, slack
        slow.clear_admin_faults()


async def test_workspace_gone_after_its_202(slow: Workspace, aclient: AsyncAdminClient) -> None:
    name = unique("ws")
    await aclient.create_workspace(name)
    await aclient.delete_workspace(name)
    assert (await aclient.get_workspace(name))["name"] == name  # 202: still there
    with pytest.raises(AdminWaitTimeoutError, match=r"workspace .*last seen: still there"):
        await async_waits.workspace_gone(aclient, name, timeout=0.2, poll_interval=POLL)
    wait = asyncio.create_task(async_waits.workspace_gone(aclient, name, poll_interval=POLL))
    await asyncio.to_thread(slow.finish_admin_transitions)
    await asyncio.wait_for(wait, 10)
    with pytest.raises(AdminNotFoundError):
        await aclient.get_workspace(name)


def test_connection_gone_after_its_202(slow: Workspace, client: AdminClient) -> None:
    name = unique("del")
    client.create_connection(slow.workspace_name, {"name": name, "type": "Sample"})
    client.delete_connection(slow.workspace_name, name)
    assert client.get_connection(slow.workspace_name, name)["state"] == "DELETING"
    with pytest.raises(AdminWaitTimeoutError, match="last seen: state DELETING"):
        waits.connection_gone(client, slow.workspace_name, name, timeout=0.2, poll_interval=POLL)
    slow.finish_admin_transitions()
    waits.connection_gone(client, slow.workspace_name, name, poll_interval=POLL)
