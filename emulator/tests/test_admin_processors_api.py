"""The emulated Admin API's processor and log endpoints against a raw HTTP client (httpx,
real TLS): paths, methods, media types, statuses, the fields Atlas requires, roles, and
one engine shared with the wire (real pymongo)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from adminapi import V1, Api
from asp_emulator import Workspace
from pymongo import MongoClient
from pymongo.errors import OperationFailure

V_SP = "application/vnd.atlas.2024-05-30+json"
V_WITH = "application/vnd.atlas.2025-03-12+json"
V_OPLOG = "application/vnd.atlas.2025-03-12+gzip"
V_AUDIT = "application/vnd.atlas.2023-02-01+gzip"
SECRET = "kafka-password-never-returned"
#: ``StreamsProcessorWithStats``'s required fields (Atlas's OpenAPI document).
REQUIRED = {"_id", "name", "pipeline", "state"}


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True, connections=["orders"]) as workspace:
        yield workspace


@pytest.fixture
def api(ws: Workspace) -> Iterator[Api]:
    client = Api(ws, base=f"/{ws.workspace_name}", media=V_SP)
    yield client
    client.close()
    ws.clear_admin_faults()


@pytest.fixture(scope="module")
def mongo(ws: Workspace) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]]
    with MongoClient(ws.uri) as client:
        yield client


def _pipeline(topic: str = "out") -> list[dict[str, Any]]:
    return [
        {"$source": {"connectionName": "orders"}},
        {"$emit": {"connectionName": "__testLog", "topic": topic}},
    ]


def _required(doc: dict[str, Any]) -> None:
    assert doc.keys() >= REQUIRED
    assert re.fullmatch(r"[a-f0-9]{24}", doc["_id"])
    assert isinstance(doc["stats"], dict)


def test_processor_lifecycle(api: Api) -> None:
    created = api("POST", "/processor", {"name": "p1", "pipeline": _pipeline(), "tier": "SP10"})
    assert created.status_code == 200
    assert created.headers["Content-Type"].startswith(V_SP)
    assert created.json()["name"] == "p1"  # a StreamsProcessor: the definition, no state
    assert re.fullmatch(r"[a-f0-9]{24}", created.json()["_id"])
    _required(api("GET", "/processor/p1").json())
    assert api("GET", "/processor/p1").json()["state"] == "CREATED"
    assert api("POST", "/processor", {"name": "p1", "pipeline": _pipeline()}).status_code == 409

    got = api("GET", "/processor/p1")
    assert got.status_code == 200
    assert got.json()["pipeline"] == _pipeline()
    assert got.json()["tier"] == "SP10"

    started = api("POST", "/processor/p1:start")
    assert started.status_code == 200
    assert started.headers["Content-Type"].startswith(V_SP)
    assert api("GET", "/processor/p1").json()["state"] == "STARTED"
    assert api("POST", "/processor/p1:start").json()["errorCode"] == (
        "STREAM_PROCESSOR_ALREADY_STARTED"
    )
    refused = api("PATCH", "/processor/p1", {"tier": "SP5"})
    assert (refused.status_code, refused.json()["errorCode"]) == (
        400,
        "STREAM_PROCESSOR_INVALID_STATE",
    )
    assert api("POST", "/processor/p1:stop").status_code == 200
    assert api("GET", "/processor/p1").json()["state"] == "STOPPED"

    changes = {
        "name": "p2",
        "pipeline": _pipeline("elsewhere"),
        "options": {"dlq": {"connectionName": "orders", "db": "d", "coll": "c"}},
    }
    modified = api("PATCH", "/processor/p1", changes)
    assert modified.status_code == 200, modified.text
    _required(modified.json())
    assert modified.json()["options"]["dlq"]["coll"] == "c"
    assert api("GET", "/processor/p1").status_code == 404

    with_options = {"resumeFromCheckpoint": False, "startAtOperationTime": "2026-01-01T00:00:00Z"}
    assert api("POST", "/processor/p2:startWith", with_options, media=V_WITH).status_code == 200
    assert api("GET", "/processor/p2").json()["state"] == "STARTED"

    deleted = api("DELETE", "/processor/p2")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api("DELETE", "/processor/p2").status_code == 404
    assert api("GET", "/processor/p2").json()["errorCode"] == "STREAM_PROCESSOR_NOT_FOUND"


def test_each_endpoint_serves_its_own_version(api: Api) -> None:
    assert api("POST", "/processor", {"name": "v", "pipeline": _pipeline()}).status_code == 200
    wrong = api("POST", "/processor/v:startWith", {"tier": "SP10"})  # 2024-05-30: not served
    assert wrong.status_code == 406
    assert V_WITH in wrong.json()["detail"]
    assert api("GET", "/processors", media=V1).status_code == 406
    assert api("GET", ":downloadOperationalLogs", media=V_WITH).status_code == 406
    assert api("GET", "/auditLogs", media=V_OPLOG).status_code == 406
    another_type = api.http.patch(
        f"{api.base}/processor/v",
        headers={"Accept": V_SP, "Content-Type": V1},
        content=json.dumps({"tier": "SP5"}),
    )
    assert another_type.status_code == 415
    assert api("PATCH", "/processor/v", {"tier": "SP5"}).json()["tier"] == "SP5"
    assert api("PUT", "/processor/v").status_code == 405
    assert api("DELETE", "/processor/v").status_code == 204


def test_bad_bodies_are_refused(api: Api) -> None:
    for body in (
        {"name": "b"},
        {"name": "", "pipeline": _pipeline()},
        {"name": "b", "pipeline": _pipeline(), "unknown": 1},
        {"name": "b", "pipeline": _pipeline(), "options": {"checkpoint": 1}},
        {"name": "b", "pipeline": [{"$source": {"connectionName": "nowhere"}}]},
    ):
        refused = api("POST", "/processor", body)
        assert refused.status_code == 400, body
        assert refused.json()["detail"]
    assert api("POST", "/processor", {"name": "b", "pipeline": _pipeline()}).status_code == 200
    failover = {"failover": {"region": "MARS"}}
    assert api("POST", "/processor/b:startWith", failover, media=V_WITH).status_code == 400
    late = {"startAtOperationTime": "yesterday"}
    assert api("POST", "/processor/b:startWith", late, media=V_WITH).status_code == 400
    assert api("DELETE", "/processor/b").status_code == 204


def test_listing_is_paged(api: Api) -> None:
    for i in range(3):
        api("POST", "/processor", {"name": f"page{i}", "pipeline": _pipeline()})
    first = api("GET", "/processors", itemsPerPage=2, pageNum=1).json()
    second = api("GET", "/processors", itemsPerPage=2, pageNum=2).json()
    assert first["totalCount"] == second["totalCount"] >= 3
    assert len(first["results"]) == 2
    for doc in first["results"] + second["results"]:
        _required(doc)
    assert "totalCount" not in api("GET", "/processors", includeCount="false").json()
    assert api("GET", "/processors", itemsPerPage=501).status_code == 400
    for i in range(3):
        assert api("DELETE", f"/processor/page{i}").status_code == 204


def test_http_and_wire_share_one_engine(
    ws: Workspace, api: Api, mongo: MongoClient[dict[str, Any]]
) -> None:
    api("POST", "/processor", {"name": "shared", "pipeline": _pipeline("shared")})
    listed = mongo.admin.command({"listStreamProcessors": 1})["streamProcessors"]
    assert [p["state"] for p in listed if p["name"] == "shared"] == ["CREATED"]
    mongo.admin.command({"startStreamProcessor": "shared"})
    assert api("GET", "/processor/shared").json()["state"] == "STARTED"
    mongo.admin.command({"createStreamProcessor": "wired", "pipeline": _pipeline("wired")})
    names = [p["name"] for p in api("GET", "/processors").json()["results"]]
    assert {"shared", "wired"} <= set(names)
    assert api("DELETE", "/processor/wired").status_code == 204
    assert "wired" not in ws.processors()
    mongo.admin.command({"dropStreamProcessor": "shared"})
    assert api("GET", "/processor/shared").status_code == 404


def test_logs_are_gzip_of_the_workspaces_lines(
    ws: Workspace, api: Api, mongo: MongoClient[dict[str, Any]]
) -> None:
    connection = {
        "name": "secretive",
        "type": "Kafka",
        "authentication": {"mechanism": "PLAIN", "username": "u", "password": SECRET},
    }
    assert api("POST", "/connections", connection, media=V1).status_code == 200
    api("POST", "/processor", {"name": "logged", "pipeline": _pipeline("logged")})
    mongo.admin.command({"startStreamProcessor": "logged"})
    api("POST", "/processor/logged:stop")

    reply = api("GET", ":downloadOperationalLogs", media=V_OPLOG, spName="logged")
    assert (reply.status_code, reply.headers["Content-Type"]) == (200, V_OPLOG)
    assert reply.headers["Content-Disposition"].startswith("attachment")
    lines = [json.loads(line) for line in gzip.decompress(reply.content).splitlines()]
    assert [line["msg"] for line in lines] == [
        "created",
        "CREATED -> STARTED",
        "STARTED -> STOPPED",
    ]

    audit = api("GET", "/auditLogs", media=V_AUDIT)
    assert audit.headers["Content-Type"] == V_AUDIT
    text = gzip.decompress(audit.content).decode()
    assert '"action": "startStreamProcessor"' in text
    assert '"action": "POST processor_stop"' in text
    for secret in (SECRET, ws.password):
        assert secret not in text
    assert api("GET", "/auditLogs", media=V_AUDIT, startDate="soon").status_code == 400
    intruder: MongoClient[dict[str, Any]]
    with (
        MongoClient(ws.uri_for(ws.username, "wrong"), serverSelectionTimeoutMS=5000) as intruder,
        pytest.raises(OperationFailure),
    ):
        intruder.admin.command({"listStreamProcessors": 1})
    audit = api("GET", "/auditLogs", media=V_AUDIT)
    failed = [
        doc
        for doc in map(json.loads, gzip.decompress(audit.content).splitlines())
        if doc["action"] == "authenticate" and doc["outcome"] != "ok"
    ]
    assert failed
    assert failed[-1]["via"] == "wire"
    assert api("DELETE", "/processor/logged").status_code == 204
    assert api("DELETE", "/connections/secretive", media=V1).status_code == 202


def test_roles_and_workspaces(ws: Workspace) -> None:
    reader = Api(ws, role="GROUP_READ_ONLY", base=f"/{ws.workspace_name}", media=V_SP)
    try:
        assert reader("GET", "/processors").status_code == 200
        assert reader("GET", ":downloadOperationalLogs", media=V_OPLOG).status_code == 200
        refused = reader("POST", "/processor", {"name": "ro", "pipeline": _pipeline()})
        assert refused.status_code == 403
        reader.base = reader.base.rsplit("/", 1)[0] + "/nowhere"
        assert reader("GET", "/processors").json()["errorCode"] == (
            "STREAM_TENANT_NOT_FOUND_FOR_NAME"
        )
    finally:
        reader.http.close()


def test_faults_apply_to_processors(ws: Workspace, api: Api) -> None:
    ws.inject_admin_fault("POST", "*/processor", status=500, after_effect=True)
    assert api("POST", "/processor", {"name": "lost", "pipeline": _pipeline()}).status_code == 500
    assert api("GET", "/processor/lost").status_code == 200  # the effect is there
    ws.inject_admin_fault("GET", "*/processors", status=429, retry_after=3)
    limited = api("GET", "/processors")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert api("DELETE", "/processor/lost").status_code == 204
