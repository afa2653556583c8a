"""The Admin API's port under hostile clients: the wire's limits apply before
authentication (connections, header and body sizes, deadlines), and hostile input gets
Atlas's precise 400s, never an internal error (the conftest fails a test on any ERROR the
emulator logs; the session validates every response against Atlas's OpenAPI document)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from adminapi import V1, bearer_token, http_client
from asp_emulator import Limits, Workspace
from asp_emulator.admin.credentials import MAX_NONCES, REALM, Credentials
from waiting import wait_for

DEADLINE = 0.5
V_SP = "application/vnd.atlas.2024-05-30+json"
V_WITH = "application/vnd.atlas.2025-03-12+json"
V_OPLOG = "application/vnd.atlas.2025-03-12+gzip"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    limits = Limits(max_connections=4, message_timeout=DEADLINE, unauthenticated_idle_timeout=1.0)
    with Workspace(admin_api=True, limits=limits) as workspace:
        yield workspace


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
    with http_client(ws) as http:
        path = f"/api/atlas/v2/groups/{ws.project_id}/streams"
        return http.get(path, headers={"Accept": V1}).status_code == 401


@pytest.fixture
def token(ws: Workspace) -> str:
    return bearer_token(ws)


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
    with http_client(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            headers={"Accept": V1, "X-Padding": "a" * 20_000},
        )
    assert reply.status_code in (400, 431)
    assert _serving(ws)


def test_an_oversized_body_is_refused_413_before_authentication(ws: Workspace) -> None:
    with http_client(ws) as http:
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
    with http_client(ws) as http:
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
    with http_client(ws) as http:
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
    with http_client(ws) as http:
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
    with http_client(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams{path}",
            headers={"Accept": V1, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 404
    assert reply.json()["error"] == 404


def test_unknown_paths_and_methods_get_error_documents(ws: Workspace, token: str) -> None:
    headers = {"Accept": V1, "Authorization": f"Bearer {token}"}
    with http_client(ws) as http:
        unknown = http.get(f"/api/atlas/v2/groups/{ws.project_id}/clusters", headers=headers)
        method = http.put(f"/api/atlas/v2/groups/{ws.project_id}/streams", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errorCode"] == "RESOURCE_NOT_FOUND"
    assert method.status_code == 405
    assert method.json()["errorCode"] == "METHOD_NOT_ALLOWED"


# -- hostile input that used to be internal errors (500 and an ERROR line) -----------------
@pytest.mark.parametrize(
    "header", ["Digest foo", "Digest a=b, c", 'Digest username="x", uri', "Digest ,,="]
)
def test_a_malformed_digest_header_is_a_401(ws: Workspace, header: str) -> None:
    with http_client(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams",
            headers={"Accept": V1, "Authorization": header},
        )
    assert reply.status_code == 401
    assert reply.json()["errorCode"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "query",
    [{"endDate": "1" + "0" * 400}, {"startDate": "-1" + "0" * 400}, {"endDate": str(2**63)}],
    ids=["huge-end", "huge-negative-start", "past-int64"],
)
def test_absurd_log_dates_get_a_400(ws: Workspace, token: str, query: dict[str, str]) -> None:
    with http_client(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams/{ws.workspace_name}"
            ":downloadOperationalLogs",
            params=query,
            headers={"Accept": V_OPLOG, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "INVALID_QUERY_PARAMETER"


BAD_EXTENDED_JSON = [
    {"$oid": "zz"},
    {"$numberLong": "x"},
    {"$date": "garbage"},
    {"$date": {"$numberLong": "x"}},
    {"$binary": 5},
    {"$timestamp": "x"},
    {"$numberDecimal": []},
]


@pytest.mark.parametrize("value", BAD_EXTENDED_JSON, ids=lambda v: next(iter(v)))
def test_a_pipeline_with_bad_extended_json_gets_a_400(
    ws: Workspace, token: str, value: dict[str, Any]
) -> None:
    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$match": {"a": value}},
        {"$emit": {"connectionName": "__testLog", "topic": "t"}},
    ]
    base = f"/api/atlas/v2/groups/{ws.project_id}/streams/{ws.workspace_name}"
    headers = {"Accept": V_SP, "Content-Type": V_SP, "Authorization": f"Bearer {token}"}
    with http_client(ws, headers=headers) as http:
        created = http.post(f"{base}/processor", json={"name": "ejson", "pipeline": pipeline})
        assert created.status_code == 400
        assert created.json()["parameters"] == ["pipeline"]
        good = http.post(f"{base}/processor", json={"name": "ejson", "pipeline": pipeline[::2]})
        assert good.status_code == 200
        try:
            modified = http.patch(f"{base}/processor/ejson", json={"pipeline": pipeline})
            assert modified.status_code == 400
        finally:
            http.delete(f"{base}/processor/ejson")


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1960-01-01T00:00:00Z"]
)
def test_a_start_time_outside_the_wires_range_gets_a_400(
    ws: Workspace, token: str, when: str
) -> None:
    base = f"/api/atlas/v2/groups/{ws.project_id}/streams/{ws.workspace_name}"
    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$emit": {"connectionName": "__testLog", "topic": "t"}},
    ]
    with http_client(ws, headers={"Authorization": f"Bearer {token}"}) as http:
        http.post(
            f"{base}/processor",
            json={"name": "when", "pipeline": pipeline},
            headers={"Accept": V_SP, "Content-Type": V_SP},
        )
        try:
            reply = http.post(
                f"{base}/processor/when:startWith",
                json={"startAtOperationTime": when},
                headers={"Accept": V_WITH, "Content-Type": V_WITH},
            )
            assert reply.status_code == 400
            assert "startAtOperationTime" in reply.json()["detail"]
        finally:
            http.delete(f"{base}/processor/when", headers={"Accept": V_SP})


# -- secrets in requests aiohttp cannot parse ------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SEKRET-TOKEN\x01\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic SEKRET-" + b"A" * 9000 + b"\r\n\r\n",
    ],
    ids=["bad-char", "too-long"],
)
def test_a_malformed_request_is_neither_logged_nor_echoed_with_its_bytes(
    ws: Workspace, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    # aiohttp quotes the offending header line in its 400 and in the emulator's INFO line:
    # an Authorization header with a bad byte (or too long) went to the log whole
    sock = _raw(ws)
    with caplog.at_level(logging.DEBUG):
        try:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        finally:
            sock.close()
        wait_for(lambda: "refused a malformed request" in caplog.text)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n")[0]
    assert json.loads(body)["errorCode"] == "INVALID_REQUEST"
    assert b"SEKRET" not in answer
    assert "SEKRET" not in caplog.text


def test_digest_nonces_are_bounded() -> None:
    # each unauthenticated request got a nonce kept forever: memory grew without bound
    # before any authentication
    credentials = Credentials(3600)
    key = credentials.new("key", "GROUP_OWNER")
    first = _nonce(credentials.challenge())
    for _ in range(MAX_NONCES):
        credentials.challenge()
    assert len(credentials._nonces) == MAX_NONCES
    assert credentials.digest("GET", "/x", _digest(key.id, key.secret, first, "/x")) is None
    newest = _nonce(credentials.challenge())
    assert credentials.digest("GET", "/x", _digest(key.id, key.secret, newest, "/x")) == key


def _nonce(challenge: str) -> str:
    return challenge.split('nonce="', 1)[1].split('"', 1)[0]


def _digest(user: str, secret: str, nonce: str, uri: str) -> str:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1, ha2 = md5(f"{user}:{REALM}:{secret}"), md5(f"GET:{uri}")
    response = md5(f"{ha1}:{nonce}:00000001:c:auth:{ha2}")
    return (
        f'username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", qop=auth, '
        f'nc=00000001, cnonce="c", response="{response}"'
    )


@pytest.mark.parametrize("processor", ["a\r\nX-Evil: 1", "a\x00b", 'a"b', "é/../x"])
def test_any_processor_name_in_a_log_query_gets_a_clean_file_name(
    ws: Workspace, token: str, processor: str
) -> None:
    # spName went into Content-Disposition as given: a CR, LF or NUL made aiohttp refuse
    # the response (an unhandled exception, the connection dropped)
    with http_client(ws) as http:
        reply = http.get(
            f"/api/atlas/v2/groups/{ws.project_id}/streams/{ws.workspace_name}"
            ":downloadOperationalLogs",
            params={"spName": processor},
            headers={"Accept": V_OPLOG, "Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 200
    disposition = reply.headers["Content-Disposition"]
    name = disposition.removeprefix('attachment; filename="').removesuffix('"')
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name), disposition
