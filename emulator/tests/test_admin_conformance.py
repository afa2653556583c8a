"""Conformance of the emulated Admin API with Atlas's published OpenAPI document.

The session validates every Admin API response against the document (the ini option
``asp_admin_openapi``; ``asp_emulator.admin.conformance``). Here: the check is on, it
rejects what breaks the document, and a table of requests, one per status, with a raw
HTTP client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from adminapi import V1, bearer_token, http_client
from asp_emulator import Workspace
from asp_emulator.admin.conformance import Conformance
from asp_emulator.admin.exchanges import Exchange
from asp_emulator.pytest_plugin import AdminConformance

SPEC = Path(__file__).parent / "openapi" / "atlas-api-transformed.yaml.gz"
V_PROC = "application/vnd.atlas.2024-05-30+json"
GROUP = "/api/atlas/v2/groups/0123456789abcdef01234567/streams"
SECRET = "never-returned-secret"


@pytest.fixture(scope="module")
def checker() -> Conformance:
    return Conformance(SPEC)


def _exchange(
    method: str, path: str, status: int, body: Any, media: str = V1, **headers: str
) -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange(method, path, (), {}, status, {"Content-Type": media, **headers}, raw)


def _error(status: int, **extra: Any) -> dict[str, Any]:
    return {"error": status, "errorCode": "X", "detail": "d", "parameters": [], **extra}


# -- the check bites -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exchange", "problem"),
    [
        (
            _exchange(
                "GET",
                f"{GROUP}/w/connections/k",
                200,
                {
                    "name": "k",
                    "type": "Kafka",
                    "authentication": {"username": "u", "password": SECRET},
                },
            ),
            "write-only",
        ),
        (_exchange("GET", f"{GROUP}/w", 200, {"name": "w", "tier": "SP10"}), "tier"),
        (_exchange("DELETE", f"{GROUP}/w", 200, {}), "status 200 is not declared"),
        (_exchange("POST", GROUP, 201, {"name": "w"}), "status 201 is not declared"),
        (_exchange("GET", f"{GROUP}/w", 200, {"name": "w"}, "application/json"), "mimetype"),
        (_exchange("GET", f"{GROUP}/w/processor/p", 200, {"name": "p"}, V_PROC), "'_id'"),
        (_exchange("GET", f"{GROUP}/w", 200, {"name": 5}), "not of type 'string'"),
        (_exchange("GET", GROUP, 200, {"totalCount": 1}), "'results' is a required"),
        (_exchange("GET", f"{GROUP}/w", 404, {"error": 404}, "application/json"), "errorCode"),
        (_exchange("GET", f"{GROUP}/w", 406, _error(400), "application/json"), "error=400"),
        (_exchange("GET", f"{GROUP}/w", 406, _error(406), V1), "must be application/json"),
        (_exchange("GET", f"{GROUP}/w", 418, _error(418), "application/json"), "not declared"),
        (_exchange("GET", "/api/atlas/v2/nope", 200, {}, "application/json"), "404 or 405"),
        (_exchange("PUT", GROUP, 200, {}, "application/json"), "expected 405"),
        (
            _exchange(
                "GET",
                f"{GROUP}/w:downloadOperationalLogs",
                200,
                b"text",
                "application/vnd.atlas.2025-03-12+gzip",
            ),
            "not gzip",
        ),
        (
            _exchange("POST", "/api/oauth/token", 200, {"access_token": "t"}, "application/json"),
            "token_type",
        ),
    ],
    ids=[
        "secret",
        "unknown-field",
        "delete-200",
        "create-201",
        "media-type",
        "processor-required",
        "type",
        "page-results",
        "error-code",
        "error-status",
        "error-media",
        "teapot",
        "unknown-path",
        "unknown-method",
        "gzip",
        "token",
    ],
)
def test_the_check_rejects_what_breaks_the_document(
    checker: Conformance, exchange: Exchange, problem: str
) -> None:
    problems = checker.check(exchange)
    assert problems, f"{exchange} passed"
    assert problem in " ".join(problems)


@pytest.mark.parametrize(
    "exchange",
    [
        _exchange(
            "GET",
            f"{GROUP}/w/connections/k",
            200,
            {
                "name": "k",
                "type": "Kafka",
                "authentication": {"mechanism": "PLAIN", "username": "u"},
                "state": "READY",
            },
        ),
        _exchange("DELETE", f"{GROUP}/w", 202, {}),
        _exchange("GET", GROUP, 200, {"links": [], "results": [], "totalCount": 0}),
        _exchange("GET", f"{GROUP}/w", 406, _error(406), "application/json; charset=utf-8"),
        _exchange(
            "GET", f"{GROUP}/w", 429, _error(429), "application/json", **{"Retry-After": "3"}
        ),
    ],
    ids=["connection", "delete-202", "page", "undeclared-406", "declared-429"],
)
def test_the_check_accepts_what_the_document_allows(
    checker: Conformance, exchange: Exchange
) -> None:
    assert checker.check(exchange) == []


def test_paths_match_the_most_literal_template(checker: Conformance) -> None:
    found = {
        path: checker.match(GROUP + path)[0].text.removeprefix(  # type: ignore[index]
            "/api/atlas/v2/groups/{groupId}/streams"
        )
        for path in ("/accountDetails", "/w:downloadOperationalLogs", "/w/processor/p:start", "/w")
    }
    assert found == {
        "/accountDetails": "/accountDetails",
        "/w:downloadOperationalLogs": "/{tenantName}:downloadOperationalLogs",
        "/w/processor/p:start": "/{tenantName}/processor/{processorName}:start",
        "/w": "/{tenantName}",
    }


def test_the_session_checks_every_admin_api_response(
    asp_admin_conformance: AdminConformance | None,
) -> None:
    assert asp_admin_conformance is not None  # the repository's ini option names the document
    before = asp_admin_conformance.checker.checked
    with Workspace(admin_api=True) as ws, _client(ws) as http:
        assert http.get(f"/api/atlas/v2/groups/{ws.project_id}/streams").status_code == 401
        problems = asp_admin_conformance.problems()
    assert problems == []
    assert asp_admin_conformance.checker.checked == before + 1


# -- one request per status, with a raw client -------------------------------------------------
@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True) as workspace:
        yield workspace


def _client(ws: Workspace, token: str | None = None) -> httpx.Client:
    headers = {"Accept": V1}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http_client(ws, headers=headers)


Call = Callable[[httpx.Client, str, Workspace], httpx.Response]


def _json(http: httpx.Client, method: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return http.request(
        method, path, content=json.dumps(body), headers={"Content-Type": V1, **headers}
    )


KAFKA = {
    "name": "table_kafka",
    "type": "Kafka",
    "bootstrapServers": "b:9092",
    "authentication": {"mechanism": "PLAIN", "username": "u", "password": SECRET},
}
ROWS: list[tuple[int, str, str, Call]] = [
    (200, "GROUP_OWNER", "list workspaces", lambda h, p, ws: h.get(p)),
    (
        200,
        "GROUP_OWNER",
        "create a connection",
        lambda h, p, ws: _json(h, "POST", f"{p}/{ws.workspace_name}/connections", KAFKA),
    ),
    (
        200,
        "GROUP_OWNER",
        "read it back",
        lambda h, p, ws: h.get(f"{p}/{ws.workspace_name}/connections/table_kafka"),
    ),
    (
        409,
        "GROUP_OWNER",
        "create it again",
        lambda h, p, ws: _json(h, "POST", f"{p}/{ws.workspace_name}/connections", KAFKA),
    ),
    (
        202,
        "GROUP_OWNER",
        "delete it",
        lambda h, p, ws: h.delete(f"{p}/{ws.workspace_name}/connections/table_kafka"),
    ),
    (
        400,
        "GROUP_OWNER",
        "a malformed body",
        lambda h, p, ws: h.post(
            f"{p}/{ws.workspace_name}/connections", content=b"{", headers={"Content-Type": V1}
        ),
    ),
    (401, "", "no credentials", lambda h, p, ws: h.get(p)),
    (
        403,
        "GROUP_READ_ONLY",
        "a read-only role writes",
        lambda h, p, ws: _json(h, "POST", f"{p}/{ws.workspace_name}/connections", KAFKA),
    ),
    (404, "GROUP_OWNER", "an unknown workspace", lambda h, p, ws: h.get(f"{p}/nowhere")),
    (
        406,
        "GROUP_OWNER",
        "an unserved version",
        lambda h, p, ws: h.get(p, headers={"Accept": "application/vnd.atlas.2099-01-01+json"}),
    ),
    (
        413,
        "",
        "a body over 1 MiB, before authentication",
        lambda h, p, ws: h.post(p, content=b" " * (1024 * 1024 + 1), headers={"Content-Type": V1}),
    ),
    (
        415,
        "GROUP_OWNER",
        "a body in another media type",
        lambda h, p, ws: _json(h, "POST", p, {"name": "x"}, **{"Content-Type": "text/plain"}),
    ),
    (429, "GROUP_OWNER", "rate limited (a fault)", lambda h, p, ws: h.get(f"{p}?limited=1")),
    (500, "GROUP_OWNER", "a server error (a fault)", lambda h, p, ws: h.get(f"{p}?broken=1")),
]


@pytest.mark.parametrize(
    ("status", "role", "call"),
    [(status, role, call) for status, role, _, call in ROWS],
    ids=[f"{status}-{what.replace(' ', '-')}" for status, _, what, _ in ROWS],
)
def test_conformance_table(ws: Workspace, status: int, role: str, call: Call) -> None:
    ws.clear_admin_faults()
    if status in (429, 500):
        ws.inject_admin_fault("GET", "*/streams", status=status, retry_after=2)
    path = f"/api/atlas/v2/groups/{ws.project_id}/streams"
    with _client(ws, bearer_token(ws, role) if role else None) as http:
        reply = call(http, path, ws)
    assert reply.status_code == status
    media = reply.headers["Content-Type"].split(";")[0]
    assert media == (V1 if status < 300 else "application/json")
    assert SECRET not in reply.text
    assert "password" not in reply.text
    if status >= 400:
        assert reply.json()["error"] == status
    if status == 401:
        assert reply.headers["WWW-Authenticate"].startswith("Digest ")
    if status == 406:
        assert V1 in reply.json()["detail"]
    if status == 429:
        assert reply.headers["Retry-After"] == "2"
    ws.clear_admin_faults()
