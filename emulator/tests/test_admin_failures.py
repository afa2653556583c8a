"""The emulated Admin API's FAILED connections on demand (``fail_admin_connection``): armed
before the connection exists, or at once for one that does; never on the wire once FAILED."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpx
import pytest
from asp_emulator import Workspace

V1 = "application/vnd.atlas.2023-02-01+json"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True) as workspace:
        yield workspace


@pytest.fixture
def api(ws: Workspace) -> Iterator[httpx.Client]:
    client_id, secret = ws.service_account()
    with httpx.Client(
        base_url=f"{ws.admin_url}/api/atlas/v2/groups/{ws.project_id}/streams/{ws.workspace_name}",
        verify=ssl.create_default_context(cafile=ws.ca_file),
        timeout=10,
    ) as http:
        token = http.post(
            f"{ws.admin_url}/api/oauth/token",
            auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        http.headers.update({"Authorization": f"Bearer {token}", "Accept": V1})
        yield http


def create(api: httpx.Client, name: str) -> httpx.Response:
    body = json.dumps({"name": name, "type": "Kafka", "bootstrapServers": "b:9092"})
    return api.post("/connections", content=body, headers={"Content-Type": V1})


def wire_names(ws: Workspace) -> set[str]:
    return {c["name"] for c in ws.connections.list()}


def test_armed_before_creation_the_connection_ends_failed(ws: Workspace, api: httpx.Client) -> None:
    ws.fail_admin_connection("armed", "SASL authentication failed")
    assert create(api, "armed").status_code == 200
    doc = api.get("/connections/armed").json()
    assert (doc["state"], doc["errorMessage"]) == ("FAILED", "SASL authentication failed")
    assert "armed" not in wire_names(ws)


def test_a_ready_connection_fails_at_once_and_leaves_the_wire(
    ws: Workspace, api: httpx.Client
) -> None:
    assert create(api, "ready_then_failed").json()["state"] == "READY"
    assert "ready_then_failed" in wire_names(ws)
    ws.fail_admin_connection("ready_then_failed", "brokers unreachable")
    doc = api.get("/connections/ready_then_failed").json()
    assert (doc["state"], doc["errorMessage"]) == ("FAILED", "brokers unreachable")
    assert "ready_then_failed" not in wire_names(ws)


def test_the_failure_applies_once(ws: Workspace, api: httpx.Client) -> None:
    ws.fail_admin_connection("once", "first time only")
    create(api, "once")
    assert api.delete("/connections/once").status_code == 202
    assert api.get("/connections/once").status_code == 404
    assert create(api, "once").json()["state"] == "READY"
