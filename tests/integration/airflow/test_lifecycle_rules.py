"""The shared lifecycle rules: the bounded wait against the emulator, the wait condition,
deploy plans, BSON to JSON, links and version flags."""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid

import pytest
from bson import Binary, Int64, Regex, Timestamp

from airflow_provider_asp import lifecycle
from airflow_provider_asp.deploy_plan import deploy_plan
from airflow_provider_asp.exceptions import AspProcessorFailedFatalError, AspWaitTimeoutError
from airflow_provider_asp.links.asp import atlas_workspace_url
from airflow_provider_asp.processor_definition import ProcessorDefinition
from airflow_provider_asp.serialization import to_jsonable
from airflow_provider_asp.stream_processing import StreamProcessorInfo
from airflow_provider_asp.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support.airflow import pipeline
from tests.support.operators import arrange


def test_wait_is_bounded(client, name):
    arrange(client, name, "STOPPED")
    reads = []

    def read():
        reads.append(time.monotonic())
        return client.stream_processors().get_info(name)

    started = time.monotonic()
    with pytest.raises(AspWaitTimeoutError, match=r"is STOPPED, not STARTED, after waiting 0\.4 s"):
        lifecycle.wait_for_state(read, lifecycle.STARTED, timeout=0.4, poll_interval=0.1)
    assert 0.4 <= time.monotonic() - started < 1.5
    assert 4 <= len(reads) <= 7


def test_wait_fails_at_once_when_the_processor_fails(workspace, client, name):
    arrange(client, name, "STARTED")
    threading.Timer(0.3, workspace.fail_processor, (name, "disk full", 61)).start()
    started = time.monotonic()
    with pytest.raises(AspProcessorFailedFatalError, match="disk full"):
        lifecycle.wait_for_state(
            lambda: client.stream_processors().get_info(name),
            lifecycle.STOPPED,
            timeout=30,
            poll_interval=0.05,
        )
    assert time.monotonic() - started < 2


def info(state, changed=None, **fields):
    return StreamProcessorInfo.from_response(
        {"name": "p", "state": state, "lastStateChange": changed, **fields}
    )


def test_wait_condition():
    t1, t2 = datetime.datetime(2026, 1, 1), datetime.datetime(2026, 1, 2)
    assert lifecycle.evaluate(info("STARTED"), "STARTED") is lifecycle.Outcome.REACHED
    assert lifecycle.evaluate(info("running"), "STARTED") is lifecycle.Outcome.REACHED
    assert lifecycle.evaluate(info("STOPPED"), "STARTED") is lifecycle.Outcome.PENDING
    assert lifecycle.evaluate(info("FAILED", t1), "STARTED") is lifecycle.Outcome.FAILED
    assert lifecycle.evaluate(info("ERROR", t1), "STOPPED") is lifecycle.Outcome.FAILED
    # the failure seen before the start, not yet replaced: keep waiting
    assert lifecycle.evaluate(info("FAILED", t1), "STARTED", t1) is lifecycle.Outcome.PENDING
    assert lifecycle.evaluate(info("FAILED", t2), "STARTED", t1) is lifecycle.Outcome.FAILED
    assert lifecycle.evaluate(info("SOME_NEW_STATE"), "STARTED") is lifecycle.Outcome.PENDING


def test_not_found_errors():
    from pymongo.errors import OperationFailure

    assert lifecycle.is_not_found(OperationFailure("x", code=415))
    assert lifecycle.is_not_found(OperationFailure("stream processor does not exist: p", code=1))
    assert not lifecycle.is_not_found(OperationFailure("already exists", code=416))


@pytest.mark.parametrize(
    ("state", "definition", "desired", "steps"),
    [
        (None, ProcessorDefinition(pipeline({"a": 1})), "STARTED", ("create", "start")),
        (None, ProcessorDefinition(pipeline({"a": 1})), "STOPPED", ("create",)),
        ("STARTED", ProcessorDefinition(pipeline({"a": 1})), "STARTED", ()),
        ("CREATED", ProcessorDefinition(pipeline({"a": 1})), "STOPPED", ()),
        ("STOPPED", ProcessorDefinition(pipeline({"a": 1})), "STARTED", ("start",)),
        ("STARTED", ProcessorDefinition(pipeline({"a": 1})), "STOPPED", ("stop",)),
        ("FAILED", ProcessorDefinition(pipeline({"a": 1})), "STOPPED", ()),
        (
            "STARTED",
            ProcessorDefinition(pipeline({"b": 1})),
            "STARTED",
            ("stop", "modify", "start"),
        ),
        ("STOPPED", ProcessorDefinition(pipeline({"a": 1}), tier="SP30"), "STOPPED", ("modify",)),
        ("STOPPED", ProcessorDefinition(pipeline({"a": 1}), dlq={}), "STOPPED", ()),
    ],
)
def test_deploy_plans(state, definition, desired, steps):
    current = None if state is None else info(state, pipeline=pipeline({"a": 1}), tier="SP10")
    assert deploy_plan(current, definition, desired).steps == steps


def test_bson_values_become_json():
    value = {
        "ts": Timestamp(1700000000, 3),
        "i64": Int64(2**40),
        "bin": Binary(b"\x00\x01"),
        "uuid": uuid.UUID(int=1),
        "re": Regex("^a", "i"),
        "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "nested": [({"t": (1, 2)},)],
    }
    converted = to_jsonable(value)
    assert converted["ts"] == {"t": 1700000000, "i": 3}
    assert converted["i64"] == 2**40
    assert type(converted["i64"]) is int
    assert converted["bin"] == "AAE="
    assert converted["uuid"] == "00000000-0000-0000-0000-000000000001"
    assert converted["re"] == {"$regularExpression": {"pattern": "^a", "options": "i"}}
    assert converted["when"] == "2026-01-01T00:00:00+00:00"
    assert converted["nested"] == [[{"t": [1, 2]}]]
    assert json.loads(json.dumps(converted)) == converted


def test_atlas_link():
    assert atlas_workspace_url("p1", "my ws") == (
        "https://cloud.mongodb.com/v2/p1#/streamProcessing/my%20ws"
    )
    assert atlas_workspace_url(None, "w") is None
    assert atlas_workspace_url("p", "") is None


def test_version_flags_match_the_installed_airflow():
    import airflow

    assert (
        tuple(int(x) for x in airflow.__version__.split(".")[:2]) >= (3, 3)
    ) == AIRFLOW_V_3_3_PLUS
