"""Processors and logs through ``asp_core.admin`` against the emulated Admin API: the HTTP
and wire forms share one engine (real pymongo on the wire), refusals match, lost answers
are resolved by looking (no duplicate), logs are the workspace's real lines."""

from __future__ import annotations

import datetime
import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from asp_core.admin import (
    AdminClient,
    AdminDownloadTooLargeError,
    AdminForbiddenError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminTimeoutError,
    ApiKey,
    AsyncAdminClient,
    ServiceAccount,
    TokenCache,
)
from asp_emulator import Workspace
from tests.support.admin_client import unique, wait_until

Mongo = MongoClient[dict[str, Any]]


def _pipeline(source: str, topic: str) -> list[dict[str, Any]]:
    return [
        {"$source": {"connectionName": source, "topic": "in"}},
        {"$match": {"n": {"$gte": 0}}},
        {"$emit": {"connectionName": "__testLog", "topic": topic}},
    ]


@pytest.fixture(scope="module")
def mongo(ws: Workspace) -> Iterator[Mongo]:
    client: Mongo
    with MongoClient(ws.uri) as client:
        yield client


@pytest.fixture
def source(ws: Workspace) -> str:
    name = unique("src")
    ws.add_connection(name)
    return name


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]


def test_http_and_wire_share_the_processors(
    ws: Workspace, client: AdminClient, mongo: Mongo, source: str
) -> None:
    name, topic = unique("http"), unique("t")
    created = client.create_processor(ws.workspace_name, name, _pipeline(source, topic))
    assert created["name"] == name
    assert client.get_processor(ws.workspace_name, name)["state"] == "CREATED"
    listed = mongo.admin.command({"listStreamProcessors": 1, "filter": {"name": name}})
    assert [p["state"] for p in listed["streamProcessors"]] == ["CREATED"]

    client.start_processor(ws.workspace_name, name)
    assert mongo.admin.command({"getStreamProcessor": name})["result"]["state"] == "STARTED"
    ws.feed(source, [{"n": 1}, {"n": 2}], topic="in")
    wait_until(lambda: len(ws.emitted(topic=topic)) == 2)
    doc = wait_until(
        lambda: (
            (d := client.get_processor(ws.workspace_name, name))["stats"]["inputMessageCount"] == 2
            and d
        )
    )
    assert doc["stats"]["outputMessageCount"] == 2

    mongo.admin.command({"stopStreamProcessor": name})  # the wire stops it
    assert client.get_processor(ws.workspace_name, name)["state"] == "STOPPED"
    changed = client.modify_processor(
        ws.workspace_name,
        name,
        {"pipeline": _pipeline(source, topic)[:1] + _pipeline(source, topic)[2:]},
    )
    assert len(changed["pipeline"]) == 2
    wire = mongo.admin.command({"getStreamProcessor": name})["result"]
    assert [next(iter(stage)) for stage in wire["pipeline"]] == ["$source", "$emit"]

    client.delete_processor(ws.workspace_name, name)
    assert not mongo.admin.command({"listStreamProcessors": 1, "filter": {"name": name}})[
        "streamProcessors"
    ]
    client.delete_processor(ws.workspace_name, name)  # absent: success


def test_a_processor_made_on_the_wire_is_read_and_run_over_http(
    ws: Workspace, client: AdminClient, mongo: Mongo, source: str
) -> None:
    name = unique("wire")
    mongo.admin.command({"createStreamProcessor": name, "pipeline": _pipeline(source, name)})
    got = client.get_processor(ws.workspace_name, name)
    assert got["state"] == "CREATED"
    assert got["pipeline"] == _pipeline(source, name)
    assert name in [p["name"] for p in client.list_processors(ws.workspace_name, items_per_page=1)]
    client.start_processor(ws.workspace_name, name, resume_from_checkpoint=False, tier="SP10")
    assert ws.processors()[name] == "STARTED"
    client.stop_processor(ws.workspace_name, name)
    assert ws.processors()[name] == "STOPPED"
    mongo.admin.command({"dropStreamProcessor": name})
    with pytest.raises(AdminNotFoundError):
        client.get_processor(ws.workspace_name, name)


def test_refusals_are_the_wires(
    ws: Workspace, client: AdminClient, mongo: Mongo, source: str
) -> None:
    name = unique("refused")
    client.create_processor(ws.workspace_name, name, _pipeline(source, name))
    with pytest.raises(AdminRequestError, match="409"):
        client.create_processor(ws.workspace_name, name, _pipeline(source, "other"))
    client.start_processor(ws.workspace_name, name)
    with pytest.raises(AdminRequestError, match="already running"):
        client.start_processor(ws.workspace_name, name)
    with pytest.raises(OperationFailure, match="already running"):
        mongo.admin.command({"startStreamProcessor": name})
    with pytest.raises(AdminRequestError, match="must be stopped before it is modified"):
        client.modify_processor(ws.workspace_name, name, {"tier": "SP10"})
    bad = [{"$source": {"connectionName": "nowhere"}}]
    with pytest.raises(OperationFailure) as on_wire:
        mongo.admin.command({"createStreamProcessor": unique("bad"), "pipeline": bad})
    with pytest.raises(AdminRequestError, match="400") as over_http:
        client.create_processor(ws.workspace_name, unique("bad"), bad)
    assert on_wire.value.details is not None
    assert str(on_wire.value.details["errmsg"]) in str(over_http.value)
    client.delete_processor(ws.workspace_name, name)  # in any state
    with pytest.raises(AdminNotFoundError):
        client.stop_processor(ws.workspace_name, name)


def test_start_with_options(ws: Workspace, client: AdminClient, source: str) -> None:
    name = unique("with")
    client.create_processor(ws.workspace_name, name, _pipeline(source, name))
    before = ws.admin_request_counts()
    region = client.get_workspace(ws.workspace_name)["dataProcessRegion"]["region"]
    client.start_processor(ws.workspace_name, name, failover={"region": region, "dryRun": True})
    assert ws.processors()[name] == "CREATED"  # a dry run starts nothing
    with pytest.raises(AdminRequestError, match=r"failover\.region"):
        client.start_processor(ws.workspace_name, name, failover={"region": "MARS"})
    at = datetime.datetime.now(datetime.timezone.utc)
    client.start_processor(ws.workspace_name, name, start_at_operation_time=at, tier="SP10")
    processor = client.get_processor(ws.workspace_name, name)
    assert (processor["state"], processor["tier"]) == ("STARTED", "SP10")
    after = ws.admin_request_counts()
    assert after["POST processor_start_with"] == before.get("POST processor_start_with", 0) + 3
    assert after.get("POST processor_start") == before.get("POST processor_start")
    client.delete_processor(ws.workspace_name, name)


def test_a_lost_answer_on_create_or_start_is_not_resent(
    ws: Workspace, make_client: Callable[..., AdminClient], source: str
) -> None:
    client = make_client()
    name = unique("lost")
    before = ws.admin_request_counts()
    ws.inject_admin_fault("POST", "*/processor", status=500, after_effect=True)
    created = client.create_processor(ws.workspace_name, name, _pipeline(source, name))
    assert created["name"] == name
    ws.inject_admin_fault("POST", "*:start", status=500, after_effect=True)
    client.start_processor(ws.workspace_name, name)
    after = ws.admin_request_counts()
    for route in ("POST processor_create", "POST processor_start"):
        assert after[route] == before.get(route, 0) + 1, route  # no resend
    assert [p["name"] for p in client.list_processors(ws.workspace_name)].count(name) == 1
    assert ws.processors()[name] == "STARTED"
    client.delete_processor(ws.workspace_name, name)


def test_a_500_before_the_start_is_resent_after_looking(
    ws: Workspace, make_client: Callable[..., AdminClient], source: str
) -> None:
    client = make_client()
    name = unique("resent")
    client.create_processor(ws.workspace_name, name, _pipeline(source, name))
    before = ws.admin_request_counts().get("POST processor_stop", 0)
    client.start_processor(ws.workspace_name, name)
    ws.inject_admin_fault("POST", "*:stop", status=503)
    client.stop_processor(ws.workspace_name, name)
    assert ws.admin_request_counts()["POST processor_stop"] == before + 2
    assert ws.processors()[name] == "STOPPED"
    client.delete_processor(ws.workspace_name, name)


def test_429_and_silence_on_processors(
    ws: Workspace, make_client: Callable[..., AdminClient]
) -> None:
    client = make_client(attempts=2, timeout=0.5)
    client.list_processors(ws.workspace_name)  # the token first
    ws.inject_admin_fault("GET", "*/processors", status=429, retry_after=1)
    started = time.monotonic()
    client.list_processors(ws.workspace_name)
    assert time.monotonic() - started >= 1.0
    ws.inject_admin_fault("GET", "*/processors", status=429, times=-1)
    with pytest.raises(AdminRateLimitedError):
        client.list_processors(ws.workspace_name)
    ws.clear_admin_faults()
    ws.inject_admin_fault("GET", "*/processor/*", silent=True, times=2)
    started = time.monotonic()
    with pytest.raises(AdminTimeoutError):
        client.get_processor(ws.workspace_name, "any")
    assert time.monotonic() - started < 10.0


def test_logs_are_the_workspaces_own_lines(
    ws: Workspace, client: AdminClient, mongo: Mongo, source: str, tmp_path: Path
) -> None:
    name = unique("logged")
    since = time.time() - 1
    client.create_processor(ws.workspace_name, name, _pipeline(source, name))
    mongo.admin.command({"startStreamProcessor": name})
    ws.fail_processor(name, "sink unreachable: broker:9092")
    operational = _lines(client.download_logs(ws.workspace_name, processor=name, start=since))
    assert [line["msg"] for line in operational] == [
        "created",
        "CREATED -> STARTED",
        "STARTED -> FAILED",
    ]
    assert operational[-1]["error"] == "sink unreachable: broker:9092"
    assert {line["processor"] for line in operational} == {name}

    audit = _lines(client.download_logs(ws.workspace_name, "audit", start=since))
    actions = [(line["actor"], line["action"], line.get("processor")) for line in audit]
    assert (ws.username, "startStreamProcessor", name) in actions  # on the wire
    assert any(a[1] == "POST processor_create" and a[2] == name for a in actions)  # over HTTP
    assert ws.password not in json.dumps(audit)

    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    later = future + datetime.timedelta(hours=1)
    assert _lines(client.download_logs(ws.workspace_name, start=future, end=later)) == []
    with pytest.raises(AdminRequestError, match="startDate is after endDate"):
        client.download_logs(ws.workspace_name, start=later, end=future)

    target = tmp_path / "operational.log.gz"
    target.write_bytes(b"left over from before")
    ws.inject_admin_fault("GET", "*:downloadOperationalLogs", status=503)  # then a retry
    written = client.save_logs(ws.workspace_name, target, processor=name, start=since)
    assert written == target.stat().st_size
    assert _lines(target.read_bytes()) == operational
    with pytest.raises(AdminDownloadTooLargeError):
        client.download_logs(ws.workspace_name, max_bytes=10)
    client.delete_processor(ws.workspace_name, name)


def test_read_only_roles_read_processors_and_logs(
    ws: Workspace, make_client: Callable[..., AdminClient], source: str
) -> None:
    reader = make_client(ApiKey(*ws.api_key(role="GROUP_READ_ONLY")))
    assert isinstance(reader.list_processors(ws.workspace_name), list)
    assert isinstance(_lines(reader.download_logs(ws.workspace_name, "audit")), list)
    with pytest.raises(AdminForbiddenError, match="Project Stream Processing Owner"):
        reader.create_processor(ws.workspace_name, unique("ro"), _pipeline(source, "x"))


async def test_the_async_client_does_the_same(ws: Workspace, source: str) -> None:
    account = ServiceAccount(*ws.service_account())
    async with AsyncAdminClient(
        ws.project_id, account, base_url=ws.admin_url, ca_file=ws.ca_file, token_cache=TokenCache()
    ) as client:
        name = unique("async")
        await client.create_processor(ws.workspace_name, name, _pipeline(source, name))
        await client.start_processor(ws.workspace_name, name, resume_from_checkpoint=False)
        assert (await client.get_processor(ws.workspace_name, name))["state"] == "STARTED"
        await client.stop_processor(ws.workspace_name, name)
        renamed = await client.modify_processor(ws.workspace_name, name, {"name": f"{name}-2"})
        assert renamed["name"] == f"{name}-2"
        ws.expire_admin_tokens()  # the download's 401 fetches a new token once
        tokens = ws.admin_tokens_issued
        lines = _lines(await client.download_logs(ws.workspace_name, processor=f"{name}-2"))
        assert ws.admin_tokens_issued == tokens + 1
        assert lines[-1]["renamedFrom"] == name
        await client.delete_processor(ws.workspace_name, f"{name}-2")
        assert f"{name}-2" not in ws.processors()


def test_a_workspace_created_over_http_runs_processors_on_its_own_wire(
    ws: Workspace, client: AdminClient
) -> None:
    workspace = unique("made")
    (hostname,) = client.create_workspace(workspace)["hostnames"]
    query = urlencode({"tls": "true", "tlsCAFile": ws.ca_file, "authSource": "admin"})
    own: Mongo
    with MongoClient(f"mongodb://{ws.username}:{ws.password}@{hostname}/?{query}") as own:
        pipeline = [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$emit": {"connectionName": "__testLog", "topic": "solar"}},
        ]
        client.create_processor(workspace, "solar", pipeline)
        client.start_processor(workspace, "solar")
        listed = own.admin.command({"listStreamProcessors": 1})["streamProcessors"]
        assert [(p["name"], p["state"]) for p in listed] == [("solar", "STARTED")]
        assert "solar" not in ws.processors()  # not the emulator's own workspace's
        wait_until(
            lambda: client.get_processor(workspace, "solar")["stats"]["outputMessageCount"] > 0
        )
        lines = _lines(client.download_logs(workspace, processor="solar"))
        assert [line["msg"] for line in lines] == ["created", "CREATED -> STARTED"]
        assert {line["workspace"] for line in lines} == {workspace}
    client.delete_workspace(workspace)
