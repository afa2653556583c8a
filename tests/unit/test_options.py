"""Option validation and StreamProcessorInfo parsing (pure; no server)."""

from __future__ import annotations

import datetime

import pytest
from bson.objectid import ObjectId
from bson.timestamp import Timestamp
from pymongo.errors import InvalidOperation

from asp_core.stream_processing import (
    VALID_TIERS,
    CreateStreamProcessorOptions,
    GetStreamProcessorSamplesOptions,
    GetStreamProcessorSamplesResult,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
)

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            lambda: StartStreamProcessorOptions(
                start_after={"_data": "x"}, start_at_operation_time=Timestamp(1, 1)
            ),
            "mutually exclusive",
        ),
        (lambda: StartStreamProcessorOptions(tier="SP3"), "tier must be one of"),
        (lambda: StartStreamProcessorOptions(tier="sp10"), "tier must be one of"),
        (lambda: CreateStreamProcessorOptions(tier="SP100"), "tier must be one of"),
        (lambda: StartStreamProcessorOptions(workers=0), "workers must be positive"),
        (lambda: StartStreamProcessorOptions(workers=-2), "workers must be positive"),
        (lambda: StartStreamProcessorOptions(workers=True), "workers must be an integer"),
        (lambda: StartStreamProcessorOptions(start_at_operation_time=5), "Timestamp"),  # type: ignore[arg-type]
        (lambda: StartStreamProcessorOptions(start_after=[1]), "must be a document"),  # type: ignore[arg-type]
        (lambda: CreateStreamProcessorOptions(dlq="conn"), "dlq must be a document"),  # type: ignore[arg-type]
        (lambda: GetStreamProcessorStatsOptions(scale=0), "scale must be positive"),
        (lambda: GetStreamProcessorStatsOptions(scale=-1024), "scale must be positive"),
        (lambda: GetStreamProcessorSamplesOptions(cursor_id=-1), "cursor_id must be non-negative"),
        (lambda: GetStreamProcessorSamplesOptions(limit=-1), "limit must be non-negative"),
        (lambda: GetStreamProcessorSamplesOptions(batch_size=-5), "batch_size must be non"),
        (lambda: GetStreamProcessorSamplesOptions(limit=1.5), "limit must be an integer"),  # type: ignore[arg-type]
    ],
)
def test_invalid_options_raise_at_construction(factory, message):
    with pytest.raises(InvalidOperation, match=message):
        factory()


def test_valid_options_construct():
    for tier in VALID_TIERS:
        assert StartStreamProcessorOptions(tier=tier).tier == tier
        assert CreateStreamProcessorOptions(tier=tier).tier == tier
    assert StartStreamProcessorOptions(workers=1, start_after={"_data": "t"}).workers == 1
    assert StartStreamProcessorOptions(start_at_operation_time=Timestamp(5, 1)).start_after is None
    assert GetStreamProcessorStatsOptions(scale=1024, verbose=True).scale == 1024
    # zero is a valid cursor id at construction; get_stream_processor_samples refuses it
    assert GetStreamProcessorSamplesOptions(cursor_id=0, limit=0, batch_size=0).cursor_id == 0


def test_samples_result_exhausted():
    assert GetStreamProcessorSamplesResult(0).exhausted
    assert GetStreamProcessorSamplesResult(7, [{"a": 1}]).documents == [{"a": 1}]
    assert not GetStreamProcessorSamplesResult(7).exhausted


FULL = {
    "id": "6916541aa9733d72cff41f27",
    "name": "demo",
    "state": "STARTED",
    "pipeline": [{"$source": {"connectionName": "sample_stream_solar"}}],
    "pipelineVersion": 3,
    "tier": "SP10",
    "dlq": {"connectionName": "c", "db": "d", "coll": "x"},
    "streamMetaFieldName": "_meta",
    "enableAutoScaling": True,
    "failoverEnabled": False,
    "activeRegion": "VIRGINIA_USA",
    "workspaceDefaultRegion": "VIRGINIA_USA",
    "lastModifiedAt": NOW,
    "modifiedBy": "admin",
    "lastStateChange": NOW,
    "lastHeartbeat": NOW,
    "hasStarted": True,
    "stats": {"inputMessageCount": 5},
    "errorMsg": "",
    "errorCode": 0,
    "errorRetryable": False,
}


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
def test_info_full_in_both_shapes(shape):
    reply = {**FULL, "ok": 1.0} if shape == "flat" else {"ok": 1.0, "result": dict(FULL)}
    info = StreamProcessorInfo.from_response(reply)
    assert info == StreamProcessorInfo(
        name="demo",
        state="STARTED",
        pipeline=[{"$source": {"connectionName": "sample_stream_solar"}}],
        id="6916541aa9733d72cff41f27",
        pipeline_version=3,
        tier="SP10",
        dlq={"connectionName": "c", "db": "d", "coll": "x"},
        stream_meta_field_name="_meta",
        enable_auto_scaling=True,
        failover_enabled=False,
        active_region="VIRGINIA_USA",
        workspace_default_region="VIRGINIA_USA",
        last_modified_at=NOW,
        modified_by="admin",
        last_state_change=NOW,
        last_heartbeat=NOW,
        has_started=True,
        stats={"inputMessageCount": 5},
        error_msg="",
        error_code=0,
        error_retryable=False,
    )
    assert info.raw["name"] == "demo"
    assert ("ok" in info.raw) == (shape == "flat")


def test_info_minimal_and_internal_fields_hidden():
    reply = {
        "ok": 1,
        "result": {
            "tenantID": "tenant-1",
            "projectId": "p1",
            "processorId": "proc-1",
            "name": "n",
            "state": "CREATED",
            "pipeline": [],
            "errorMsg": "",
        },
    }
    info = StreamProcessorInfo.from_response(reply)
    assert (info.name, info.state, info.pipeline, info.error_msg) == ("n", "CREATED", [], "")
    assert info.id is None  # tenantID / processorId are not the processor id
    assert info.tier is None
    assert info.last_state_change is None
    typed = [value for key, value in vars(info).items() if key != "raw"]
    assert not [value for value in typed if value in ("tenant-1", "p1", "proc-1")]
    assert info.raw["tenantID"] == "tenant-1"
    assert info.raw["processorId"] == "proc-1"


def test_info_open_state_unknown_fields_and_id_fallback():
    oid = ObjectId()
    info = StreamProcessorInfo.from_response(
        {"_id": oid, "name": "n", "state": "FUTURE_UNKNOWN_STATE", "futureField": {"x": 1}}
    )
    assert info.state == "FUTURE_UNKNOWN_STATE"
    assert info.id == str(oid)
    assert info.raw["futureField"] == {"x": 1}
    assert info.pipeline == []


def test_info_ignores_values_of_the_wrong_type():
    info = StreamProcessorInfo.from_response(
        {"name": "n", "state": "S", "pipelineVersion": "3", "hasStarted": "yes", "errorCode": True}
    )
    assert (info.pipeline_version, info.has_started, info.error_code) == (None, None, None)


def test_info_list_item_last_modified_alias():
    info = StreamProcessorInfo.from_response({"name": "n", "state": "S", "lastModified": NOW})
    assert info.last_modified_at == NOW
