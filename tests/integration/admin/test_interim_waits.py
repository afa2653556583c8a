"""The core's bounded blocking waits on the Admin API (``asp_core.admin.interim_waits``)
against the emulator: READY after PENDING, FAILED in Atlas's words, gone after a 202, a
transient error costing one look, and the bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asp_core.admin import AdminClient, AdminForbiddenError, ServiceAccount, TokenCache
from asp_core.admin.interim_waits import (
    AdminConnectionFailedError,
    wait_for_connection,
    wait_for_workspace_gone,
)
from asp_core.errors import AspWaitTimeoutError, Unretryable
from asp_emulator import Workspace

KAFKA = {"type": "Kafka", "bootstrapServers": "broker:9092"}


@pytest.fixture(scope="module")
def slow() -> Iterator[Workspace]:
    """Connections READY and deletions gone 0.3 s after their request."""
    with Workspace(admin_api=True, admin_ready_delay=0.3, admin_delete_delay=0.3) as ws:
        yield ws


@pytest.fixture
def client(slow: Workspace) -> Iterator[AdminClient]:
    account = ServiceAccount(*slow.service_account())
    with AdminClient(
        slow.project_id,
        account,
        base_url=slow.admin_url,
        ca_file=slow.ca_file,
        token_cache=TokenCache(),
        backoff=0.01,
        timeout=10.0,
    ) as made:
        yield made
    slow.clear_admin_faults()


def test_pending_then_ready(slow: Workspace, client: AdminClient) -> None:
    created = client.create_connection(slow.workspace_name, {"name": "w_ready", **KAFKA})
    assert created["state"] == "PENDING"
    before = slow.admin_request_counts().get("GET connection", 0)
    verdict = wait_for_connection(
        client, slow.workspace_name, "w_ready", timeout=30, poll_interval=0.05
    )
    assert verdict.ready
    assert slow.admin_request_counts()["GET connection"] - before >= 2  # it did wait


def test_failed_raises_atlas_words_without_retry(slow: Workspace, client: AdminClient) -> None:
    slow.fail_admin_connection("w_failed", "TLS handshake with the brokers failed")
    client.create_connection(slow.workspace_name, {"name": "w_failed", **KAFKA})
    with pytest.raises(AdminConnectionFailedError) as caught:
        wait_for_connection(client, slow.workspace_name, "w_failed", timeout=30, poll_interval=0.05)
    assert isinstance(caught.value, Unretryable)
    assert str(caught.value) == (
        f"Connection 'w_failed' of workspace {slow.workspace_name!r} FAILED: "
        "TLS handshake with the brokers failed"
    )


def test_a_connection_deleted_while_awaited_ready_is_an_error(
    slow: Workspace, client: AdminClient
) -> None:
    with pytest.raises(AdminConnectionFailedError, match="is gone"):
        wait_for_connection(client, slow.workspace_name, "never_made", timeout=5,
                            poll_interval=0.05)  # fmt: skip


def test_gone_after_the_202_and_a_transient_error_costs_one_look(
    slow: Workspace, client: AdminClient
) -> None:
    client.create_connection(slow.workspace_name, {"name": "w_gone", **KAFKA})
    wait_for_connection(client, slow.workspace_name, "w_gone", timeout=30, poll_interval=0.05)
    client.delete_connection(slow.workspace_name, "w_gone")
    fault = slow.inject_admin_fault("GET", "*/connections/w_gone", status=503, times=6)
    verdict = wait_for_connection(
        client, slow.workspace_name, "w_gone", until="gone", timeout=30, poll_interval=0.05
    )
    assert verdict.gone
    assert fault.hits == 6


def test_workspace_gone(slow: Workspace, client: AdminClient) -> None:
    client.create_workspace("w_doomed")
    client.delete_workspace("w_doomed")
    wait_for_workspace_gone(client, "w_doomed", timeout=30, poll_interval=0.05)
    assert "w_doomed" not in {w["name"] for w in client.list_workspaces()}


def test_the_wait_is_bounded(slow: Workspace, client: AdminClient) -> None:
    client.create_workspace("w_lingering")
    with pytest.raises(AspWaitTimeoutError, match=r"not settled after 0\.2 s \(still there\)"):
        wait_for_workspace_gone(client, "w_lingering", timeout=0.2, poll_interval=0.05)


def test_an_error_no_look_can_fix_is_raised_at_once(slow: Workspace) -> None:
    reader = ServiceAccount(*slow.service_account(role="GROUP_READ_ONLY"))
    slow.inject_admin_fault("GET", "*/connections/w_any", status=403, times=1)
    with (
        AdminClient(
            slow.project_id, reader, base_url=slow.admin_url, ca_file=slow.ca_file
        ) as client,
        pytest.raises(AdminForbiddenError),
    ):
        wait_for_connection(client, slow.workspace_name, "w_any", timeout=30, poll_interval=0.05)
    slow.clear_admin_faults()
