"""The emulated Admin API against a raw HTTP client (httpx, real TLS): paths, methods,
media types, status codes, pagination, roles, secrets, faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from adminapi import V1, Api, http_client
from asp_emulator import Workspace
from waiting import wait_for

V_SAMPLE = "application/vnd.atlas.2024-08-05+json"
SECRET = "kafka-password-never-returned"
REGION = {"cloudProvider": "AWS", "region": "VIRGINIA_USA"}


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def slow_ws() -> Iterator[Workspace]:
    """Connections stay PENDING and deletions DELETING until finish_admin_transitions()."""
    with Workspace(admin_api=True, admin_ready_delay=3600, admin_delete_delay=3600) as workspace:
        yield workspace


@pytest.fixture
def api(ws: Workspace) -> Iterator[Api]:
    client = Api(ws)
    yield client
    client.close()
    ws.clear_admin_faults()


def test_the_own_workspace_is_listed_with_its_wire_hostname(ws: Workspace, api: Api) -> None:
    reply = api("GET")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith(V1)
    doc = reply.json()
    assert doc["totalCount"] >= 1
    own = next(w for w in doc["results"] if w["name"] == ws.workspace_name)
    assert own["hostnames"] == [f"{ws.host}:{ws.port}"]
    assert own["groupId"] == ws.project_id
    assert api("GET", f"/{ws.workspace_name}").json()["name"] == ws.workspace_name


def test_workspace_create_update_delete(api: Api) -> None:
    body = {"name": "wsA", "dataProcessRegion": {"cloudProvider": "AWS", "region": "VIRGINIA_USA"}}
    created = api("POST", body=body)
    assert created.status_code == 200
    assert created.json()["name"] == "wsA"
    assert api("POST", body=body).status_code == 409
    patched = api("PATCH", "/wsA", {"streamConfig": {"tier": "SP50"}})
    assert patched.status_code == 200
    assert patched.json()["streamConfig"]["tier"] == "SP50"
    assert api("PATCH", "/wsA", {"name": "other"}).status_code == 400
    assert api("DELETE", "/wsA").status_code == 202
    assert api("GET", "/wsA").status_code == 404
    assert api("POST", body={"name": "x"}).status_code == 400


def test_with_sample_connections_serves_its_own_version(api: Api) -> None:
    body = {
        "name": "wsSample",
        "dataProcessRegion": {"cloudProvider": "AWS", "region": "VIRGINIA_USA"},
        "sampleConnections": {"solar": True},
    }
    refused = api("POST", ":withSampleConnections", body)
    assert refused.status_code == 406
    assert V_SAMPLE in refused.json()["detail"]
    assert api("POST", ":withSampleConnections", body, media=V_SAMPLE).status_code == 200
    names = [c["name"] for c in api("GET", "/wsSample/connections").json()["results"]]
    assert names == ["sample_stream_solar"]
    assert api("DELETE", "/wsSample").status_code == 202


def test_an_unknown_version_is_refused_naming_the_served_ones(api: Api) -> None:
    reply = api("GET", media="application/vnd.atlas.2099-01-01+json")
    assert reply.status_code == 406
    assert "2099-01-01" in reply.json()["detail"]
    assert V1 in reply.json()["detail"]
    assert api("GET", media="application/json").status_code == 406


def test_a_body_in_another_media_type_is_refused(ws: Workspace, api: Api) -> None:
    reply = api.http.post(
        api.base + f"/{ws.workspace_name}/connections",
        headers={"Accept": V1, "Content-Type": "application/json"},
        content=json.dumps({"name": "c", "type": "Https", "url": "https://example.com"}),
    )
    assert reply.status_code == 415


def test_connection_lifecycle_and_the_wire_registry(ws: Workspace, api: Api) -> None:
    path = f"/{ws.workspace_name}/connections"
    created = api("POST", path, {"name": "hooks", "type": "Https", "url": "https://example.com"})
    assert created.status_code == 200
    assert created.json()["state"] == "READY"
    assert ws.connections.exists("hooks")
    assert api("POST", path, {"name": "hooks", "type": "Https"}).status_code == 409
    assert api("POST", path, {"name": "bad", "type": "Carrier pigeon"}).status_code == 400
    assert api("POST", path, [1]).status_code == 400
    patched = api("PATCH", f"{path}/hooks", {"url": "https://example.org"})
    assert patched.status_code == 200
    assert patched.json()["url"] == "https://example.org"
    assert api("PATCH", f"{path}/hooks", {"type": "Kafka"}).status_code == 400
    assert api("GET", f"{path}/nope").status_code == 404
    assert api("DELETE", f"{path}/hooks").status_code == 202
    assert api("GET", f"{path}/hooks").status_code == 404
    assert not ws.connections.exists("hooks")
    assert api("DELETE", f"{path}/hooks").status_code == 404
    assert api("GET", "/nope/connections").status_code == 404


def test_networking_cannot_change_in_place(ws: Workspace, api: Api) -> None:
    path = f"/{ws.workspace_name}/connections"
    body = {"name": "net", "type": "Kafka", "networking": {"access": {"type": "PUBLIC"}}}
    assert api("POST", path, body).status_code == 200
    changed = api("PATCH", f"{path}/net", {"networking": {"access": {"type": "VPC"}}})
    assert changed.status_code == 400
    assert "networking" in changed.json()["detail"]
    assert api("DELETE", f"{path}/net").status_code == 202


def test_secrets_are_write_only(ws: Workspace, api: Api) -> None:
    path = f"/{ws.workspace_name}/connections"
    body = {
        "name": "kafka1",
        "type": "Kafka",
        "bootstrapServers": "broker:9092",
        "authentication": {"mechanism": "PLAIN", "username": "u", "password": SECRET},
        "security": {"protocol": "SASL_SSL"},
    }
    replies = [
        api("POST", path, body),
        api("GET", f"{path}/kafka1"),
        api("GET", path),
        api("GET", f"/{ws.workspace_name}", includeConnections="true"),
        api("PATCH", f"{path}/kafka1", {"authentication": {"password": SECRET + "2"}}),
    ]
    for reply in replies:
        assert reply.status_code == 200
        assert SECRET not in reply.text
        assert "password" not in reply.text
    assert replies[1].json()["authentication"] == {"mechanism": "PLAIN", "username": "u"}
    assert api("DELETE", f"{path}/kafka1").status_code == 202


def test_pagination(api: Api) -> None:
    region = {"cloudProvider": "AWS", "region": "VIRGINIA_USA"}
    assert api("POST", body={"name": "paged", "dataProcessRegion": region}).status_code == 200
    for i in range(7):
        body = {"name": f"c{i}", "type": "Https", "url": "https://example.com"}
        assert api("POST", "/paged/connections", body).status_code == 200
    pages = [
        api("GET", "/paged/connections", itemsPerPage=3, pageNum=n).json() for n in (1, 2, 3, 4)
    ]
    assert [len(p["results"]) for p in pages] == [3, 3, 1, 0]
    assert {p["totalCount"] for p in pages} == {7}
    assert [c["name"] for p in pages for c in p["results"]] == [f"c{i}" for i in range(7)]
    assert api("GET", "/paged/connections", itemsPerPage=501).status_code == 400
    assert api("GET", "/paged/connections", pageNum=0).status_code == 400
    assert api("DELETE", "/paged").status_code == 202


def test_authentication(ws: Workspace) -> None:
    with http_client(ws) as http:
        path = f"/api/atlas/v2/groups/{ws.project_id}/streams"
        anonymous = http.get(path, headers={"Accept": V1})
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Digest ")
        wrong = http.get(path, headers={"Accept": V1, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        client_id, secret = ws.service_account()
        token = http.post(
            "/api/oauth/token", auth=(client_id, "wrong"), data={"grant_type": "client_credentials"}
        )
        assert token.status_code == 401
        assert secret not in token.text
        issued = http.post(
            "/api/oauth/token", auth=(client_id, secret), data={"grant_type": "client_credentials"}
        ).json()
        assert (issued["token_type"], issued["expires_in"]) == ("Bearer", 3600)
    public, private = ws.api_key(role="GROUP_STREAM_PROCESSING_OWNER")
    with http_client(ws, httpx.DigestAuth(public, private)) as http:
        assert http.get(path, headers={"Accept": V1}).status_code == 200
    with http_client(ws, httpx.DigestAuth(public, "wrong")) as http:
        assert http.get(path, headers={"Accept": V1}).status_code == 401


def test_an_expired_token_is_refused(ws: Workspace) -> None:
    api = Api(ws)
    try:
        assert api("GET").status_code == 200
        ws.expire_admin_tokens()
        assert api("GET").status_code == 401
    finally:
        api.http.close()


def test_read_only_roles_cannot_write(ws: Workspace) -> None:
    reader = Api(ws, role="GROUP_READ_ONLY")
    try:
        assert reader("GET").status_code == 200
        body = {"name": "ro", "type": "Https", "url": "https://example.com"}
        refused = reader("POST", f"/{ws.workspace_name}/connections", body)
        assert refused.status_code == 403
        assert "Project Stream Processing Owner" in refused.json()["detail"]
        assert reader("DELETE", f"/{ws.workspace_name}").status_code == 403
    finally:
        reader.http.close()
    with pytest.raises(ValueError, match="role must be one of"):
        ws.service_account(role="ORG_OWNER")


def test_faults_on_demand(ws: Workspace, api: Api) -> None:
    ws.inject_admin_fault("GET", "*/streams", status=429, retry_after=7)
    limited = api("GET")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["errorCode"] == "RATE_LIMITED"
    ws.inject_admin_fault("GET", "*/streams", status=429)
    assert "Retry-After" not in api("GET").headers
    ws.inject_admin_fault("GET", "*/streams", status=503)
    assert api("GET").status_code == 503
    assert api("GET").status_code == 200
    path = f"/{ws.workspace_name}/connections"
    ws.inject_admin_fault("POST", f"*{path}", status=500, after_effect=True)
    body = {"name": "after", "type": "Https", "url": "https://example.com"}
    assert api("POST", path, body).status_code == 500
    assert api("GET", f"{path}/after").status_code == 200
    assert api("DELETE", f"{path}/after").status_code == 202


def test_pending_connections_become_ready_and_deletions_finish(slow_ws: Workspace) -> None:
    api = Api(slow_ws)
    path = f"/{slow_ws.workspace_name}/connections"
    try:
        created = api("POST", path, {"name": "slow", "type": "Kafka"})
        assert created.json()["state"] == "PENDING"
        assert not slow_ws.connections.exists("slow")
        slow_ws.finish_admin_transitions()
        assert api("GET", f"{path}/slow").json()["state"] == "READY"
        assert slow_ws.connections.exists("slow")
        assert api("DELETE", f"{path}/slow").status_code == 202
        assert api("GET", f"{path}/slow").json()["state"] == "DELETING"
        slow_ws.finish_admin_transitions()
        assert api("GET", f"{path}/slow").status_code == 404
        wait_for(lambda: not slow_ws.connections.exists("slow"))
    finally:
        api.http.close()


def test_a_kafka_connection_deploying_refuses_its_delete(slow_ws: Workspace) -> None:
    # Atlas: 409 STREAM_KAFKA_CONNECTION_IS_DEPLOYING until READY or FAILED (Kafka only)
    api = Api(slow_ws)
    path = f"/{slow_ws.workspace_name}/connections"
    try:
        for name in ("deploying", "failing"):
            assert api("POST", path, {"name": name, "type": "Kafka"}).status_code == 200
            refused = api("DELETE", f"{path}/{name}")
            assert refused.status_code == 409
            assert refused.json() == {
                "detail": f"Stream Kafka connection {name} is currently deploying. "
                "Please retry the request later.",
                "error": 409,
                "errorCode": "STREAM_KAFKA_CONNECTION_IS_DEPLOYING",
                "parameters": [name],
                "reason": "Conflict",
            }
            assert api("GET", f"{path}/{name}").json()["state"] == "PENDING"  # untouched
        slow_ws.fail_admin_connection("failing", "broker unreachable")
        assert api("DELETE", f"{path}/failing").status_code == 202
        slow_ws.finish_admin_transitions()  # "deploying" READY, "failing" gone
        assert api("DELETE", f"{path}/deploying").status_code == 202
        assert api("GET", f"{path}/deploying").json()["state"] == "DELETING"
        other = api("POST", path, {"name": "hooks2", "type": "Https", "url": "https://x.example"})
        assert other.json()["state"] == "PENDING"
        assert api("DELETE", f"{path}/hooks2").status_code == 202  # not Kafka: no refusal
        slow_ws.finish_admin_transitions()
        assert api("GET", f"{path}/deploying").status_code == 404
    finally:
        api.http.close()


def test_only_with_admin_api() -> None:
    ws = Workspace()
    with pytest.raises(RuntimeError, match="admin_api=True"):
        ws.service_account()


def _at_once(clients: list[Api], suffix: str, body: dict[str, Any]) -> list[int]:
    """The statuses of one POST by each client, sent at the same moment."""
    start, statuses = threading.Barrier(len(clients)), []

    def create(api: Api) -> None:
        start.wait(10)
        statuses.append(api("POST", suffix, body).status_code)

    threads = [threading.Thread(target=create, args=(api,)) for api in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return sorted(statuses)


@pytest.mark.parametrize("kind", ["workspace", "connection", "processor"])
def test_two_clients_creating_one_name_at_once_get_one_200_and_one_409(
    ws: Workspace, kind: str
) -> None:
    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$emit": {"connectionName": "__testLog", "topic": "race"}},
    ]
    own, media = f"/{ws.workspace_name}", "application/vnd.atlas.2024-05-30+json"
    clients = [
        Api(ws, base="" if kind == "workspace" else own, media=media if kind == "processor" else V1)
        for _ in range(2)
    ]
    try:
        for round_ in range(5):
            name = f"race-{kind}-{round_}"
            cases: dict[str, tuple[str, dict[str, Any], str]] = {
                "workspace": ("", {"name": name, "dataProcessRegion": REGION}, f"/{name}"),
                "connection": (
                    "/connections",
                    {"name": name, "type": "Sample"},
                    f"/connections/{name}",
                ),
                "processor": (
                    "/processor",
                    {"name": name, "pipeline": pipeline},
                    f"/processor/{name}",
                ),
            }
            suffix, body, path = cases[kind]
            assert _at_once(clients, suffix, body) == [200, 409], name
            clients[0]("DELETE", path)
    finally:
        for api in clients:
            api.close()
