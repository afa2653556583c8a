"""Command documents and reply parsers of protocol.py (pure; no server).

Exact documents are compared as item lists, so key order counts.
"""

from __future__ import annotations

from typing import Any

import pytest
from bson.int64 import Int64
from bson.timestamp import Timestamp
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    InvalidOperation,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from asp_core.stream_processing import (
    CreateStreamProcessorOptions,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
    protocol,
)

PIPELINE: list[dict[str, Any]] = [
    {"$source": {"documents": [{"a": 1}]}},
    {"$emit": {"connectionName": "__testLog"}},
]


def items(document):
    return list(document.items())


def test_create_without_options():
    command = protocol.create("p", PIPELINE, None)
    assert items(command.document) == [("createStreamProcessor", "p"), ("pipeline", PIPELINE)]
    assert command.name == "createStreamProcessor"
    assert not command.retryable
    assert command.parse({"ok": 1}) is None


def test_create_with_every_option():
    options = CreateStreamProcessorOptions(
        dlq={"connectionName": "c", "db": "d", "coll": "x"},
        stream_meta_field_name="_meta",
        tier="SP5",
        failover=True,
    )
    document = protocol.create("p", tuple(PIPELINE), options).document
    assert items(document) == [
        ("createStreamProcessor", "p"),
        ("pipeline", PIPELINE),
        (
            "options",
            {
                "dlq": {"connectionName": "c", "db": "d", "coll": "x"},
                "streamMetaFieldName": "_meta",
                "tier": "SP5",
                "failover": True,
            },
        ),
    ]
    assert list(document["options"]) == ["dlq", "streamMetaFieldName", "tier", "failover"]


def test_create_with_empty_options_sends_no_options_key():
    document = protocol.create("p", PIPELINE, CreateStreamProcessorOptions()).document
    assert "options" not in document


def test_start_documents():
    assert items(protocol.start("p", None).document) == [("startStreamProcessor", "p")]
    ts = Timestamp(1700000000, 1)
    options = StartStreamProcessorOptions(
        workers=2,
        clear_checkpoints=True,
        start_at_operation_time=ts,
        tier="SP30",
        enable_auto_scaling=False,
        failover={"region": "VIRGINIA_USA"},
    )
    document = protocol.start("p", options).document
    assert items(document) == [
        ("startStreamProcessor", "p"),
        ("workers", 2),
        (
            "options",
            {
                "clearCheckpoints": True,
                "startAtOperationTime": ts,
                "tier": "SP30",
                "enableAutoScaling": False,
                "failover": {"region": "VIRGINIA_USA"},
            },
        ),
    ]
    assert list(document["options"])[:2] == ["clearCheckpoints", "startAtOperationTime"]
    after = protocol.start("p", StartStreamProcessorOptions(start_after={"_data": "tok"}))
    assert items(after.document) == [
        ("startStreamProcessor", "p"),
        ("options", {"startAfter": {"_data": "tok"}}),
    ]
    assert items(protocol.start("p", StartStreamProcessorOptions(workers=3)).document) == [
        ("startStreamProcessor", "p"),
        ("workers", 3),
    ]


def test_stop_drop_get_info_stats_documents():
    assert items(protocol.stop("p").document) == [("stopStreamProcessor", "p")]
    assert items(protocol.drop("p").document) == [("dropStreamProcessor", "p")]
    assert items(protocol.get_info("p").document) == [("getStreamProcessor", "p")]
    assert items(protocol.stats("p", None).document) == [("getStreamProcessorStats", "p")]
    stats = protocol.stats("p", GetStreamProcessorStatsOptions(scale=1024, verbose=True))
    assert items(stats.document) == [
        ("getStreamProcessorStats", "p"),
        ("options", {"scale": 1024, "verbose": True}),
    ]
    assert list(stats.document["options"]) == ["scale", "verbose"]
    verbose = protocol.stats("p", GetStreamProcessorStatsOptions(verbose=False))
    assert verbose.document["options"] == {"verbose": False}


def test_only_get_info_and_stats_are_retryable_reads():
    commands: dict[str, protocol.Command[Any]] = {
        "create": protocol.create("p", PIPELINE, None),
        "start": protocol.start("p", None),
        "stop": protocol.stop("p"),
        "drop": protocol.drop("p"),
        "get_info": protocol.get_info("p"),
        "stats": protocol.stats("p", None),
        "modify": protocol.modify("p", PIPELINE),
        "list": protocol.list_processors(),
        "list_connections": protocol.list_connections(),
        "workspace_defaults": protocol.workspace_defaults(),
    }
    assert {name for name, command in commands.items() if command.retryable} == {
        "get_info",
        "stats",
    }


def test_sample_documents():
    assert items(protocol.start_sample("p", None)) == [("startSampleStreamProcessor", "p")]
    assert items(protocol.start_sample("p", 10)) == [
        ("startSampleStreamProcessor", "p"),
        ("limit", 10),
    ]
    get_more = protocol.get_more_sample("p", 42, None)
    assert items(get_more) == [("getMoreSampleStreamProcessor", "p"), ("cursorId", 42)]
    assert type(get_more["cursorId"]) is Int64
    assert items(protocol.get_more_sample("p", 2**40, 5)) == [
        ("getMoreSampleStreamProcessor", "p"),
        ("cursorId", Int64(2**40)),
        ("batchSize", 5),
    ]


def test_process_document():
    assert items(protocol.process(PIPELINE, None, None)) == [("processStreamProcessor", PIPELINE)]
    dlq = {"connectionName": "c", "db": "d", "coll": "x"}
    assert items(protocol.process(PIPELINE, 5, dlq)) == [
        ("processStreamProcessor", PIPELINE),
        ("options", {"limit": 5, "dlq": dlq}),
    ]


def test_modify_documents_and_name_after():
    full = protocol.modify(
        "p", PIPELINE, new_name="q", dlq={}, tier="SP10", resume_from_checkpoint=False
    )
    assert items(full.document) == [
        ("modifyStreamProcessor", "p"),
        ("pipeline", PIPELINE),
        ("name", "q"),
        ("dlq", {}),
        ("resumeFromCheckpoint", False),
        ("tier", "SP10"),
    ]
    assert full.parse({"ok": 1}) == "q"
    only_resume = protocol.modify("p", resume_from_checkpoint=False)
    assert items(only_resume.document) == [
        ("modifyStreamProcessor", "p"),
        ("resumeFromCheckpoint", False),
    ]
    assert only_resume.parse({"ok": 1}) == "p"


def test_list_and_defaults_documents():
    assert items(protocol.list_processors().document) == [("listStreamProcessors", 1)]
    assert items(protocol.list_processors({"state": "STARTED"}).document) == [
        ("listStreamProcessors", 1),
        ("filter", {"state": "STARTED"}),
    ]
    assert items(protocol.list_connections().document) == [("listStreamConnections", 1)]
    assert items(protocol.list_connections({"type": "kafka"}).document) == [
        ("listStreamConnections", 1),
        ("filter", {"type": "kafka"}),
    ]
    assert items(protocol.workspace_defaults().document) == [("listWorkspaceDefaults", 1)]


@pytest.mark.parametrize("name", ["", "   ", None, 5, b"p"])
def test_bad_names_are_refused(name):
    builders = [
        lambda: protocol.create(name, PIPELINE, None),
        lambda: protocol.start(name, None),
        lambda: protocol.stop(name),
        lambda: protocol.drop(name),
        lambda: protocol.get_info(name),
        lambda: protocol.stats(name, None),
        lambda: protocol.start_sample(name, None),
        lambda: protocol.modify(name, PIPELINE),
    ]
    if name is not None:  # for modify, new_name=None means "no rename"
        builders.append(lambda: protocol.modify("p", new_name=name))
    for build in builders:
        with pytest.raises(InvalidOperation, match="non-empty string"):
            build()


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ([], "must not be empty"),
        ((), "must not be empty"),
        ({"$source": {}}, "must be a list"),
        ("[]", "must be a list"),
        (None, "must be a list"),
        ([{"$source": {}}, "oops"], "must be a document"),
    ],
)
def test_bad_pipelines_are_refused(pipeline, message):
    with pytest.raises(InvalidOperation, match=message):
        protocol.create("p", pipeline, None)
    with pytest.raises(InvalidOperation, match=message):
        protocol.process(pipeline, None, None)
    if pipeline is not None:  # for modify, None means "pipeline unchanged"
        with pytest.raises(InvalidOperation, match=message):
            protocol.modify("p", pipeline)


def test_other_refusals():
    with pytest.raises(InvalidOperation, match="modify needs"):
        protocol.modify("p")
    with pytest.raises(InvalidOperation, match="tier must be one of"):
        protocol.modify("p", tier="SP1")
    with pytest.raises(InvalidOperation, match="filter must be a document"):
        protocol.list_processors([("state", "STARTED")])  # type: ignore[arg-type]
    with pytest.raises(InvalidOperation, match="limit must be non-negative"):
        protocol.start_sample("p", -1)
    with pytest.raises(InvalidOperation, match="limit must be non-negative"):
        protocol.process(PIPELINE, -1, None)
    with pytest.raises(InvalidOperation, match="cursor_id must be positive"):
        protocol.get_more_sample("p", 0, None)
    with pytest.raises(InvalidOperation, match="batch_size must be non-negative"):
        protocol.get_more_sample("p", 1, -1)


def test_reply_parsers():
    both = {"messages": [{"a": 1}], "nextBatch": [{"a": 1}]}
    assert protocol.parse_batch(both, protocol.GET_MORE_BATCH_KEYS) == [{"a": 1}]
    assert protocol.parse_batch({"nextBatch": [{"b": 2}]}, protocol.GET_MORE_BATCH_KEYS) == [
        {"b": 2}
    ]
    assert protocol.parse_batch({"firstBatch": [{"c": 3}]}, protocol.OPENING_BATCH_KEYS) == [
        {"c": 3}
    ]
    assert protocol.parse_batch({"ok": 1}, protocol.GET_MORE_BATCH_KEYS) == []
    assert protocol.parse_cursor_id({"cursorId": Int64(9)}) == 9
    assert protocol.parse_cursor_id({"cursorId": 9.0}) == 9
    assert protocol.parse_cursor_id({"ok": 1}) == 0
    stats_reply = {"ok": 1, "stats": {"inputMessageCount": 5}, "futureField": "x"}
    assert protocol.stats("p", None).parse(stats_reply) == stats_reply
    defaults = {"ok": 1.0, "defaultTierSize": "SP2", "maxTierSize": "SP30", "operationTime": 1}
    assert protocol.workspace_defaults().parse(defaults) == {
        "defaultTierSize": "SP2",
        "maxTierSize": "SP30",
    }
    listed = protocol.list_processors().parse(
        {"ok": 1, "streamProcessors": [{"name": "a", "state": "STARTED"}, {"state": "X"}]}
    )
    assert [(info.name, info.state) for info in listed] == [("a", "STARTED")]
    assert protocol.list_processors().parse({"ok": 1}) == []
    connections = protocol.list_connections().parse(
        {"ok": 1, "connections": [{"name": "sample_stream_solar", "type": "inmemory"}]}
    )
    assert connections == [{"name": "sample_stream_solar", "type": "inmemory"}]
    info = protocol.get_info("p").parse({"ok": 1, "result": {"name": "p", "state": "CREATED"}})
    assert isinstance(info, StreamProcessorInfo)
    assert info.state == "CREATED"


def _failure(code=None, labels=()):
    details = {"ok": 0, "errmsg": "x", "code": code, "errorLabels": list(labels)}
    return OperationFailure("x", code, details)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (AutoReconnect("x"), True),
        (ConnectionFailure("x"), True),
        (NetworkTimeout("x"), True),
        (NotPrimaryError("x", {"code": 10107}), True),
        (ServerSelectionTimeoutError("x"), False),
        (_failure(91), True),
        (_failure(11600), True),
        (_failure(262), True),
        (_failure(9001), True),
        (_failure(125, ["RetryableError"]), True),
        (_failure(125, ["RetryableReadError"]), True),
        (_failure(125, ["RetryableWriteError"]), False),
        (_failure(125), False),
        (_failure(9), False),
        (_failure(415), False),
        (_failure(None), False),
        (InvalidOperation("x"), False),
        (ValueError("x"), False),
    ],
)
def test_retryable_read_classification(error, retryable):
    assert protocol.is_retryable_read_error(error) is retryable


@pytest.mark.parametrize(
    ("error", "timeout", "retried"),
    [
        (NetworkTimeout("x"), True, False),  # a socketTimeoutMS or CSOT expiry
        (ExecutionTimeout("x", 50), True, False),  # CSOT: no time left to send
        (WaitQueueTimeoutError("x"), True, False),
        (ServerSelectionTimeoutError("x"), True, False),
        (AutoReconnect("x"), False, True),
        (AutoReconnect(""), False, True),  # an empty message changes nothing
        (_failure(262), False, True),  # ExceededTimeLimit is a server code, not a bound
        (_failure(125), False, False),
        (ValueError("x"), False, False),
    ],
)
def test_timeouts_are_never_retried(error, timeout, retried):
    assert protocol.is_timeout_error(error) is timeout
    assert protocol.is_retried_read_error(error) is retried


def test_retryable_codes_match_pymongo():
    # pymongo's list is private; this guards against drift between releases.
    from pymongo.helpers_shared import _RETRYABLE_ERROR_CODES

    assert frozenset(_RETRYABLE_ERROR_CODES) == protocol.RETRYABLE_READ_CODES
