"""The Admin API's port under hostile clients: the wire's limits apply before
authentication (connections, header and body sizes, deadlines), and hostile input gets
Atlas's precise 400s, never an internal error (the conftest fails a test on any ERROR the
emulator logs; the session validates every response against Atlas's OpenAPI document)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asp_emulator import Limits, Workspace
from waiting import wait_for

V1 = "application/vnd.atlas.2023-02-01+json"
DEADLINE = 0.5


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    limits = Limits(max_connections=4, message_timeout=DEADLINE, unauthenticated_idle_timeout=1.0)
    with Workspace(admin_api=True, limits=limits) as workspace:
        yield workspace


def _http(ws: Workspace, **kwargs: Any) -> httpx.Client:
    return httpx.Client(
        base_url=ws.admin_url,
        verify=ssl.create_default_context(cafile=ws.ca_file),
        timeout=10,
        **kwargs,
    )


def _raw(ws: Workspace) -> ssl.SSLSocket:
    """A TLS connection to the Admin API port that trusts the workspace's CA."""
    context = ssl.create_default_context(cafile=ws.ca_file)
    raw = socket.create_connection(("127.0.0.1", ws.admin_port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _closed(sock: ssl.SSLSocket) -> bool:
    """Whether the server closed the connection (recv sees the end, or a reset)."""
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True


def _serving(ws: Workspace) -> bool:
    with _http(ws) as http:
        path = f"/api/atlas/v2/groups/{ws.project_id}/streams"
        return http.get(path, headers={"Accept": V1}).status_code == 401


@pytest.fixture
def token(ws: Workspace) -> str:
    client_id, secret = ws.service_account()
    with _http(ws) as http:
        reply = http.post(
            "/api/oauth/token", auth=(client_id, secret), data={"grant_type": "client_credentials"}
        )
    return str(reply.json()["access_token"])


# -- connections, sizes, deadlines ---------------------------------------------------------
def test_connections_over_the_cap_are_closed_before_tls(ws: Workspace) -> None:
    wait_for(lambda: ws.admin_connection_counts()["open"] == 0)
    held = [_raw(ws) for _ in range(4)]
    try:
        wait_for(lambda: ws.admin_connection_counts()["open"] == 4)
        refused_before = ws.admin_connection_counts()["refused"]
        with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
            _raw(ws)  # the server closes it at accept: the handshake fails
        assert ws.admin_connection_counts()["refused"] == refused_before + 1
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: ws.admin_connection_counts()["open"] == 0)
    assert _serving(ws)


def test_a_huge_header_is_refused_before_authentication(ws: Workspace) -> None:
    with _http(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            headers={"Accept": V1, "X-Padding": "a" * 20_000},
        )
    assert reply.status_code in (400, 431)
    assert _serving(ws)


def test_an_oversized_body_is_refused_413_before_authentication(ws: Workspace) -> None:
    with _http(ws) as http:
        reply = http.post(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            headers={"Accept": V1, "Content-Type": V1},
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        )
    assert reply.status_code == 413
    assert reply.json()["errorCode"] == "REQUEST_TOO_LARGE"
    assert _serving(ws)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # silent after the TLS handshake
        b"GET /api/atlas/v2/groups/x/streams HTTP/1.1\r\nHost: x\r\n",  # half the headers
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ngrant",
    ],
    ids=["silent", "half-headers", "half-body"],
)
def test_a_stalled_client_is_disconnected_within_its_deadline(ws: Workspace, sent: bytes) -> None:
    timed_out = ws.admin_connection_counts()["timed_out"]
    sock = _raw(ws)
    try:
        sock.sendall(sent)
        started = time.monotonic()
        assert _closed(sock)  # recv blocks until the server closes (10 s socket timeout)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert elapsed < 5.0
    assert ws.admin_connection_counts()["timed_out"] == timed_out + 1
    assert _serving(ws)


# -- hostile input: precise 400s -----------------------------------------------------------
def _post(ws: Workspace, token: str, suffix: str, content: bytes) -> httpx.Response:
    with _http(ws) as http:
        return http.post(
            f"/api/atlas/v2/groups/{ws.project_id}/streams{suffix}",
            headers={"Accept": V1, "Content-Type": V1, "Authorization": f"Bearer {token}"},
            content=content,
        )


@pytest.mark.parametrize(
    ("content", "code", "parameter"),
    [
        (b"{", "INVALID_JSON", None),
        (b"\xff\xfe{}", "INVALID_JSON", None),
        (b"[" * 100_000 + b"]" * 100_000, "INVALID_JSON", None),
        (b'{"name": NaN}', "INVALID_JSON", None),
        (b'"a string"', "INVALID_JSON", None),
        (json.dumps({"name": 5, "type": "Https"}).encode(), "INVALID_JSON_ATTRIBUTE", "name"),
        (
            json.dumps({"name": "c", "type": "Https", "headers": {"a": 1}}).encode(),
            "INVALID_JSON_ATTRIBUTE",
            "headers",
        ),
        (
            json.dumps({"name": "c", "type": "Https", "surprise": 1}).encode(),
            "INVALID_ATTRIBUTE",
            "surprise",
        ),
        (
            json.dumps({"name": "c", "type": "Https", "authentication": {"x": 1}}).encode(),
            "INVALID_ATTRIBUTE",
            "authentication.x",
        ),
        (
            json.dumps({"name": "c", "type": "Https", "bootstrapServers": "b:9092"}).encode(),
            "INVALID_ATTRIBUTE",
            "bootstrapServers",
        ),
        (json.dumps({"name": "c", "type": "Pigeon"}).encode(), "INVALID_ENUM_VALUE", "type"),
        (json.dumps({"type": "Https"}).encode(), "MISSING_ATTRIBUTE", "name"),
        (json.dumps({"name": "a/b", "type": "Https"}).encode(), "INVALID_ATTRIBUTE", "name"),
        (json.dumps({"name": "ünï", "type": "Https"}).encode(), "INVALID_ATTRIBUTE", "name"),
        (json.dumps({"name": "n" * 65, "type": "Https"}).encode(), "INVALID_ATTRIBUTE", "name"),
        (
            json.dumps({"name": "sr", "type": "SchemaRegistry", "provider": "CONFLUENT"}).encode(),
            "MISSING_ATTRIBUTE",
            "schemaRegistryAuthentication",
        ),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "deep",
        "nan",
        "not-an-object",
        "name-type",
        "map-values",
        "unknown-field",
        "unknown-nested",
        "other-type-field",
        "unknown-type",
        "no-name",
        "slash",
        "unicode",
        "too-long",
        "required-by-type",
    ],
)
def test_hostile_connection_bodies_get_precise_400s(
    ws: Workspace, token: str, content: bytes, code: str, parameter: str | None
) -> None:
    reply = _post(ws, token, f"/{ws.workspace_name}/connections", content)
    assert reply.status_code == 400
    doc = reply.json()
    assert doc["errorCode"] == code
    if parameter is not None:
        assert doc["parameters"] == [parameter]
        assert parameter in doc["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "w1"}, "MISSING_ATTRIBUTE"),
        (
            {"name": "w1", "dataProcessRegion": {"cloudProvider": "IBM", "region": "X"}},
            "INVALID_ENUM_VALUE",
        ),
        ({"name": "w1", "dataProcessRegion": "VIRGINIA_USA"}, "INVALID_JSON_ATTRIBUTE"),
        (
            {
                "name": "w1",
                "dataProcessRegion": {"cloudProvider": "AWS", "region": "V"},
                "streamConfig": {"tier": "SP1000"},
            },
            "INVALID_ENUM_VALUE",
        ),
        (
            {
                "name": "w1",
                "dataProcessRegion": {"cloudProvider": "AWS", "region": "V"},
                "streamConfig": {"tier": "SP50", "maxTierSize": "SP10"},
            },
            "INVALID_ATTRIBUTE",
        ),
        (
            {
                "name": "w1",
                "dataProcessRegion": {"cloudProvider": "AWS", "region": "V"},
                "failoverRegions": [{"cloudProvider": "AWS", "region": "A"}] * 3,
            },
            "INVALID_ATTRIBUTE",
        ),
        ({"name": "w1", "sampleConnections": {"solar": "yes"}}, "INVALID_JSON_ATTRIBUTE"),
    ],
    ids=["no-region", "provider", "region-type", "tier", "tier-over-max", "failovers", "flag"],
)
def test_hostile_workspace_bodies_get_precise_400s(
    ws: Workspace, token: str, body: dict[str, Any], code: str
) -> None:
    reply = _post(ws, token, "", json.dumps(body).encode())
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == code


@pytest.mark.parametrize(
    "query",
    [
        {"itemsPerPage": "0"},
        {"itemsPerPage": "-1"},
        {"itemsPerPage": "10000"},
        {"itemsPerPage": "ten"},
        {"pageNum": "0"},
        {"pageNum": str(10**40)},
        {"includeCount": "maybe"},
    ],
    ids=["zero", "negative", "huge", "word", "page-zero", "page-absurd", "count-flag"],
)
def test_absurd_pagination_gets_invalid_query_parameter(
    ws: Workspace, token: str, query: dict[str, str]
) -> None:
    with _http(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            params=query,
            headers={"Accept": V1, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 400
    doc = reply.json()
    assert doc["errorCode"] == "INVALID_QUERY_PARAMETER"
    assert doc["parameters"] == list(query)


def test_a_page_far_past_the_end_is_empty(ws: Workspace, token: str) -> None:
    with _http(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            params={"pageNum": 2**31 - 1, "itemsPerPage": 500},
            headers={"Accept": V1, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 200
    assert reply.json()["results"] == []
    assert reply.json()["totalCount"] >= 1


@pytest.mark.parametrize(
    "path",
    ["/nope%2Fmore", "/%C3%BCn%C3%AF/connections", "/" + "x" * 2000, "/emulator/connections/%00"],
    ids=["encoded-slash", "unicode", "long", "nul"],
)
def test_odd_names_in_paths_are_not_found(ws: Workspace, token: str, path: str) -> None:
    with _http(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams{path}",
            headers={"Accept": V1, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 404
    assert reply.json()["error"] == 404


def test_unknown_paths_and_methods_get_error_documents(ws: Workspace, token: str) -> None:
    headers = {"Accept": V1, "Authorization": f"Bearer {token}"}
    with _http(ws) as http:
        unknown = http.get(f"/api/atlas/v2/groups/{ws.project_id}/clusters", headers=headers)
        method = http.put(f"/api/atlas/v2/groups/{ws.project_id}/streams", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errorCode"] == "RESOURCE_NOT_FOUND"
    assert method.status_code == 405
    assert method.json()["errorCode"] == "METHOD_NOT_ALLOWED"
