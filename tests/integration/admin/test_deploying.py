"""A connection's delete while it is still deploying, against the emulated Admin API (real
httpx, real TLS): Atlas answers 409 ``STREAM_KAFKA_CONNECTION_IS_DEPLOYING`` to a DELETE of
a Kafka connection until it is READY or FAILED; the client asks again with backoff until
its deadline, and the waits for gone work after such a delete. Connections stay PENDING
and deletions DELETING until the test says (``finish_admin_transitions``)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from asp_core.admin import (
    AdminClient,
    AdminConnectionDeployingError,
    AdminRequestError,
    AdminWaitTimeoutError,
    AsyncAdminClient,
    ServiceAccount,
)
from asp_core.admin.waits import synchronous as waits
from asp_core.errors import Unretryable
from asp_emulator import Workspace
from tests.support.admin_client import client_options, unique, wait_until

POLL = 0.02
#: the client's pauses between refusals: short, so that the tests wait for conditions only
FAST = {"backoff": 0.01, "max_wait": 0.05}


@pytest.fixture(scope="module")
def slow() -> Iterator[Workspace]:
    with Workspace(admin_api=True, admin_ready_delay=3600, admin_delete_delay=3600) as ws:
        yield ws


@pytest.fixture
def client(slow: Workspace) -> Iterator[AdminClient]:
    account = ServiceAccount(*slow.service_account())
    with AdminClient(slow.project_id, account, **client_options(slow, **FAST)) as c:
        yield c
    slow.clear_admin_faults()


@pytest.fixture
async def aclient(slow: Workspace) -> AsyncIterator[AsyncAdminClient]:
    account = ServiceAccount(*slow.service_account())
    async with AsyncAdminClient(slow.project_id, account, **client_options(slow, **FAST)) as c:
        yield c
    slow.clear_admin_faults()


def _deletes(ws: Workspace) -> int:
    return ws.admin_request_counts().get("DELETE connection", 0)


def _kafka(client: AdminClient, ws: Workspace) -> str:
    name = unique("kafka")
    body = {"name": name, "type": "Kafka", "bootstrapServers": "broker:9092"}
    assert client.create_connection(ws.workspace_name, body)["state"] == "PENDING"
    return name


def test_a_delete_while_deploying_waits_then_succeeds_once_ready(
    slow: Workspace, client: AdminClient
) -> None:
    name = _kafka(client, slow)
    before = _deletes(slow)
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            client.delete_connection(slow.workspace_name, name, deadline=60)
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    deleter = threading.Thread(target=delete)
    deleter.start()
    try:
        wait_until(lambda: _deletes(slow) >= before + 3)  # refused, asked again, and again
        assert deleter.is_alive()
        assert client.get_connection(slow.workspace_name, name)["state"] == "PENDING"
        slow.finish_admin_transitions()  # READY: the next DELETE is accepted
    finally:
        deleter.join(30)
    assert not deleter.is_alive()
    assert errors == []
    # the waits for gone work after it: DELETING (202), then gone
    assert client.get_connection(slow.workspace_name, name)["state"] == "DELETING"
    with pytest.raises(AdminWaitTimeoutError, match="last seen: state DELETING"):
        waits.connection_gone(client, slow.workspace_name, name, timeout=0.1, poll_interval=POLL)
    slow.finish_admin_transitions()
    waits.connection_gone(client, slow.workspace_name, name, poll_interval=POLL)


async def test_a_connection_that_stays_deploying_bounds_the_delete(
    slow: Workspace, client: AdminClient, aclient: AsyncAdminClient
) -> None:
    name = _kafka(client, slow)
    before = _deletes(slow)
    started = time.monotonic()
    with pytest.raises(AdminConnectionDeployingError) as caught:
        await aclient.delete_connection(slow.workspace_name, name, deadline=0.3)
    assert time.monotonic() - started < 0.3 + 5.0  # the deadline, one request, slack
    assert _deletes(slow) - before >= 2  # it asked again
    said = str(caught.value)
    assert f"connection {name!r} of workspace {slow.workspace_name!r} is still deploying" in said
    assert "STREAM_KAFKA_CONNECTION_IS_DEPLOYING" in said
    assert "0.3 s" in said
    assert caught.value.status == 409
    assert isinstance(caught.value, AdminWaitTimeoutError)  # a later retry may succeed
    assert not isinstance(caught.value, Unretryable)
    assert client.get_connection(slow.workspace_name, name)["state"] == "PENDING"  # untouched
    slow.fail_admin_connection(name, "broker unreachable")  # FAILED: deletable
    await aclient.delete_connection(slow.workspace_name, name)
    slow.finish_admin_transitions()


def test_the_client_deadline_bounds_it_not_the_attempts(slow: Workspace) -> None:
    account = ServiceAccount(*slow.service_account())
    options = client_options(slow, attempts=1, deadline=0.3, **FAST)
    with AdminClient(slow.project_id, account, **options) as client:
        name = _kafka(client, slow)
        before = _deletes(slow)
        with pytest.raises(AdminConnectionDeployingError, match=r"deadline of 0\.3 s"):
            client.delete_connection(slow.workspace_name, name)
        assert _deletes(slow) - before >= 2  # one attempt allowed, yet asked again
        slow.finish_admin_transitions()
        client.delete_connection(slow.workspace_name, name)
        slow.finish_admin_transitions()


def test_a_lost_answer_then_deploying_is_looked_at_then_bounded(
    slow: Workspace, client: AdminClient
) -> None:
    # a 500 leaves the first DELETE's outcome unknown: a look (PENDING) says it did not
    # happen; the resends are refused as deploying, until the deadline
    name = _kafka(client, slow)
    slow.inject_admin_fault("DELETE", f"*/connections/{name}", status=500)
    with pytest.raises(AdminConnectionDeployingError):
        client.delete_connection(slow.workspace_name, name, deadline=0.3)
    slow.finish_admin_transitions()
    client.delete_connection(slow.workspace_name, name)
    assert client.get_connection(slow.workspace_name, name)["state"] == "DELETING"
    slow.finish_admin_transitions()


def test_no_other_409_is_retried(slow: Workspace, client: AdminClient) -> None:
    name = _kafka(client, slow)
    slow.finish_admin_transitions()
    slow.inject_admin_fault("DELETE", f"*/connections/{name}", status=409)
    before = _deletes(slow)
    with pytest.raises(AdminRequestError) as caught:
        client.delete_connection(slow.workspace_name, name, deadline=60)
    assert not isinstance(caught.value, AdminConnectionDeployingError)
    assert caught.value.status == 409
    assert _deletes(slow) - before == 1
    client.delete_connection(slow.workspace_name, name)
    slow.finish_admin_transitions()


def test_a_ready_or_non_kafka_connection_is_deleted_at_once(
    slow: Workspace, client: AdminClient
) -> None:
    hooks = unique("https")
    body = {"name": hooks, "type": "Https", "url": "https://example.com"}
    assert client.create_connection(slow.workspace_name, body)["state"] == "PENDING"
    before = _deletes(slow)
    client.delete_connection(slow.workspace_name, hooks)  # not Kafka: accepted while PENDING
    assert _deletes(slow) - before == 1
    slow.finish_admin_transitions()
    waits.connection_gone(client, slow.workspace_name, hooks, timeout=5, poll_interval=POLL)
