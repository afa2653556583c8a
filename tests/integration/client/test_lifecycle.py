"""Create, start, stop, drop, get_info and stats against the emulator, sync and async, in
both reply shapes: exact command documents, parsed replies, server errors and retries."""

from __future__ import annotations

import pytest
from bson.timestamp import Timestamp
from pymongo.errors import AutoReconnect, OperationFailure

from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    CreateStreamProcessorOptions,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessingClient,
    StreamProcessorInfo,
)
from tests.support.client import Recorder, call, documents_pipeline

PIPELINE = documents_pipeline([{"a": 1}, {"a": 2}])


async def test_lifecycle_sends_exactly_one_command_per_operation(client, recorder, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    proc = sps.get(name)
    assert proc.name == name
    assert recorder.names() == ["createStreamProcessor"]  # get() sends nothing
    assert (await call(sps.get_info(name))).state == "CREATED"
    assert await call(proc.start()) is None
    assert workspace.processors()[name] == "STARTED"
    stats = await call(proc.stats())
    assert stats["state"] == "STARTED"
    await call(proc.stop())
    assert workspace.processors()[name] == "STOPPED"
    await call(proc.drop())
    assert name not in workspace.processors()
    assert recorder.items() == [
        [("createStreamProcessor", name), ("pipeline", PIPELINE)],
        [("getStreamProcessor", name)],
        [("startStreamProcessor", name)],
        [("getStreamProcessorStats", name)],
        [("stopStreamProcessor", name)],
        [("dropStreamProcessor", name)],
    ]


async def test_create_and_start_with_options(client, recorder, workspace, name):
    sps = client.stream_processors()
    dlq = {"connectionName": "__testLog", "db": "dlq", "coll": name}
    create_options = CreateStreamProcessorOptions(
        dlq=dlq, stream_meta_field_name="_meta", tier="SP5", failover=False
    )
    await call(sps.create(name, PIPELINE, create_options))
    proc = sps.get(name)
    start_options = StartStreamProcessorOptions(
        workers=2, clear_checkpoints=True, tier="SP30", enable_auto_scaling=True
    )
    await call(proc.start(start_options))
    await call(proc.stop())
    await call(proc.start(StartStreamProcessorOptions(start_at_operation_time=Timestamp(5, 1))))
    info = await call(sps.get_info(name))
    assert (info.tier, info.dlq, info.stream_meta_field_name) == ("SP30", dlq, "_meta")
    assert info.enable_auto_scaling is False  # the second start did not ask for it
    assert recorder.items()[0] == [
        ("createStreamProcessor", name),
        ("pipeline", PIPELINE),
        (
            "options",
            {"dlq": dlq, "streamMetaFieldName": "_meta", "tier": "SP5", "failover": False},
        ),
    ]
    assert recorder.items()[1] == [
        ("startStreamProcessor", name),
        ("workers", 2),
        ("options", {"clearCheckpoints": True, "tier": "SP30", "enableAutoScaling": True}),
    ]
    assert recorder.items()[3] == [
        ("startStreamProcessor", name),
        ("options", {"startAtOperationTime": Timestamp(5, 1)}),
    ]
    await call(proc.drop())


async def test_get_info_parses_both_reply_shapes(client, recorder, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    info = await call(sps.get_info(name))
    assert isinstance(info, StreamProcessorInfo)
    server_doc = workspace.processor(name)
    assert info.id == server_doc["id"]
    assert (info.name, info.state, info.pipeline) == (name, "CREATED", PIPELINE)
    assert info.pipeline_version == 1
    assert info.has_started is False
    assert info.error_msg == ""
    assert info.last_state_change is not None
    # the internal tenant id is kept in raw, never in a typed field
    assert info.raw["tenantID"] == server_doc["tenantID"]
    assert server_doc["tenantID"] not in (info.id, info.name, info.modified_by)
    # raw is the processor document: the reply itself (flat) or its "result" (live)
    assert ("ok" in info.raw) == (workspace.reply_shape == "spec")
    await call(sps.get(name).drop())


async def test_stats_returns_the_raw_reply(client, recorder, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    proc = sps.get(name)
    await call(proc.start())
    stats = await call(proc.stats(GetStreamProcessorStatsOptions(scale=1024, verbose=True)))
    assert stats["ok"] == 1.0
    assert stats["ns"].endswith(name)  # a field no type models: kept
    assert stats["stats"]["scaleFactor"] == 1024
    assert "operatorStats" in stats["stats"]
    assert recorder.items()[-1] == [
        ("getStreamProcessorStats", name),
        ("options", {"scale": 1024, "verbose": True}),
    ]
    await call(proc.drop())


async def test_server_errors_reach_the_caller_unchanged(client, recorder, workspace, name):
    sps = client.stream_processors()
    with pytest.raises(OperationFailure) as missing:
        await call(sps.get_info(name))
    assert missing.value.code == 415
    assert f"stream processor does not exist: {name}" in str(missing.value)
    assert (missing.value.details or {})["codeName"] == "StreamProcessorDoesNotExist"
    await call(sps.create(name, PIPELINE))
    with pytest.raises(OperationFailure) as duplicate:
        await call(sps.create(name, PIPELINE))
    assert duplicate.value.code == 416
    workspace.inject_fault(
        "startStreamProcessor", code=125, message="boom", error_labels=["RetryableError"]
    )
    with pytest.raises(OperationFailure) as boom:
        await call(sps.get(name).start())
    assert (boom.value.code, (boom.value.details or {})["errmsg"]) == (125, "boom")
    assert boom.value.has_error_label("RetryableError")
    # every failure was sent exactly once: only reads are retried
    assert recorder.names() == [
        "getStreamProcessor",
        "createStreamProcessor",
        "createStreamProcessor",
        "startStreamProcessor",
    ]
    await call(sps.get(name).drop())


async def test_failed_processor_info(client, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, documents_pipeline([{"a": 1}])))
    await call(sps.get(name).start())
    workspace.fail_processor(name, "kafka is down", code=419, retryable=True)
    info = await call(sps.get_info(name))
    assert (info.state, info.error_msg, info.error_code, info.error_retryable) == (
        "FAILED",
        "kafka is down",
        419,
        True,
    )
    await call(sps.get(name).drop())


# 91/11600 and network errors also make pymongo re-check the server (about 0.5 s each):
# the classification of every code is unit-tested in test_protocol.py.
RETRYABLE_FAULTS = [
    pytest.param({"code": 262}, id="ExceededTimeLimit"),
    pytest.param({"code": 91}, id="ShutdownInProgress"),
    pytest.param({"code": 125, "error_labels": ["RetryableError"]}, id="RetryableError-label"),
    pytest.param({"code": 125, "error_labels": ["RetryableReadError"]}, id="RetryableReadError"),
    pytest.param({"close_connection": True}, id="network-error"),
]
READS = ["getStreamProcessor", "getStreamProcessorStats"]


def _read(sps, command, name):
    if command == "getStreamProcessor":
        return sps.get_info(name)
    return sps.get(name).stats()


@pytest.mark.parametrize("command", READS)
@pytest.mark.parametrize("fault", RETRYABLE_FAULTS)
async def test_reads_are_retried_once(client, recorder, workspace, name, command, fault):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    recorder.clear()
    workspace.inject_fault(command, times=1, **fault)
    result = await call(_read(sps, command, name))
    assert result is not None
    assert recorder.items() == [[(command, name)], [(command, name)]]
    await call(sps.get(name).drop())


@pytest.mark.parametrize("command", READS)
@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        pytest.param({"times": 2, "code": 262}, 2, id="second-failure-after-one-retry"),
        pytest.param({"code": 125, "error_labels": ["RetryableWriteError"]}, 1, id="not-retryable"),
    ],
)
async def test_read_errors_reach_the_caller(
    client, recorder, workspace, name, command, fault, attempts
):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    recorder.clear()
    workspace.inject_fault(command, message="read failed", **fault)
    with pytest.raises(OperationFailure) as failure:
        await call(_read(sps, command, name))
    assert failure.value.code == fault["code"]
    assert (failure.value.details or {})["errmsg"] == "read failed"
    assert recorder.names() == [command] * attempts
    await call(sps.get(name).drop())


async def test_retry_reads_false_turns_the_retry_off(workspace, name):
    recorder = Recorder()
    with StreamProcessingClient(
        workspace.uri, retryReads=False, event_listeners=[recorder]
    ) as client:
        sps = client.stream_processors()
        sps.create(name, PIPELINE)
        workspace.inject_fault("getStreamProcessor", code=262)
        with pytest.raises(OperationFailure):
            sps.get_info(name)
        assert recorder.names() == ["createStreamProcessor", "getStreamProcessor"]
        sps.get(name).drop()
    async with AsyncStreamProcessingClient(workspace.uri, retryReads=False) as aclient:
        workspace.inject_fault("getStreamProcessor", code=262)
        with pytest.raises(OperationFailure) as failure:
            await aclient.stream_processors().get_info(name)
    assert failure.value.code == 262  # a retry would have answered 415 (dropped)
    workspace.clear_faults()


async def test_other_commands_are_sent_once_on_network_errors(client, recorder, workspace, name):
    sps = client.stream_processors()
    workspace.inject_fault("createStreamProcessor", close_connection=True)
    with pytest.raises(AutoReconnect):
        await call(sps.create(name, PIPELINE))
    assert recorder.names() == ["createStreamProcessor"]
    await call(sps.create(name, PIPELINE))
    recorder.clear()
    workspace.inject_fault("startStreamProcessor", close_connection=True)
    with pytest.raises(AutoReconnect):
        await call(sps.get(name).start())
    assert recorder.names() == ["startStreamProcessor"]
    await call(sps.get(name).drop())
