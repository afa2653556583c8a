"""The protocol module's parsers and reply builders, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from asp_emulator import protocol
from asp_emulator.commands import ASP_COMMANDS, COMMANDS
from asp_emulator.errors import CommandError
from bson.int64 import Int64


def error_of(parse: Any, command: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(CommandError) as info:
        parse(command)
    return info.value.code, info.value.message


def test_the_table_marks_the_thirteen_asp_commands_as_needing_auth() -> None:
    assert len(ASP_COMMANDS) == 13
    assert {"listStreamConnections", "listWorkspaceDefaults", "processStreamProcessor"} < (
        ASP_COMMANDS
    )
    assert not COMMANDS["hello"].auth
    assert COMMANDS["listWorkspaceDefaults"].auth


def test_options_are_read_at_the_top_level_or_under_options() -> None:
    top = protocol.parse_start({"startStreamProcessor": "p", "workers": 2.0, "tier": "SP5"})
    nested = protocol.parse_start(
        {"startStreamProcessor": "p", "options": {"workers": 2, "tier": "SP5"}}
    )
    assert top == nested == protocol.Start("p", 2, "SP5", False, False, None, None)


@pytest.mark.parametrize(
    ("parse", "command", "expected"),
    [
        (protocol.parse_named, {"getStreamProcessor": " "}, 9),
        (protocol.parse_create, {"createStreamProcessor": "p"}, 9),
        (protocol.parse_create, {"createStreamProcessor": "p", "pipeline": [], "options": 1}, 420),
        (protocol.parse_start, {"startStreamProcessor": "p", "tier": "SP9"}, 420),
        (protocol.parse_start, {"startStreamProcessor": "p", "clearCheckpoints": 1}, 420),
        (protocol.parse_stats, {"getStreamProcessorStats": "p", "scale": 0}, 420),
        (protocol.parse_get_more_sample, {"getMoreSampleStreamProcessor": "p"}, 9),
        (protocol.parse_listing, {"listStreamProcessors": 1, "filter": []}, 9),
        (protocol.parse_modify, {"modifyStreamProcessor": "p"}, 9),
        (protocol.parse_process, {"processStreamProcessor": [], "options": {"dlq": 1}}, 420),
    ],
)
def test_what_a_document_gets_wrong_is_refused_by_its_parser(
    parse: Any, command: dict[str, Any], expected: int
) -> None:
    assert error_of(parse, command)[0] == expected


def test_start_after_and_start_at_operation_time_exclude_each_other() -> None:
    from bson.timestamp import Timestamp

    command = {
        "startStreamProcessor": "p",
        "startAfter": {},
        "startAtOperationTime": Timestamp(1, 1),
    }
    assert error_of(protocol.parse_start, command) == (
        420,
        "startAfter and startAtOperationTime are mutually exclusive",
    )


def test_modify_resumes_from_its_checkpoint_unless_told_not_to() -> None:
    assert protocol.parse_modify(
        {"modifyStreamProcessor": "p", "tier": "SP5"}
    ).resume_from_checkpoint
    request = protocol.parse_modify(
        {"modifyStreamProcessor": "p", "options": {"resumeFromCheckpoint": False, "dlq": {}}}
    )
    assert request == protocol.Modify("p", None, False, None, True, None, None)


def test_a_cursor_id_may_be_a_double_or_spelled_the_old_way() -> None:
    parse = protocol.parse_get_more_sample
    assert parse({"getMoreSampleStreamProcessor": "p", "cursorId": 7.0}).cursor_id == 7
    assert parse({"getMoreSampleStreamProcessor": "p", "cursorID": Int64(7)}).cursor_id == 7


def test_the_reply_shapes_differ_in_info_and_batches() -> None:
    assert protocol.info_reply({"name": "p"}, "live") == {"ok": 1.0, "result": {"name": "p"}}
    assert protocol.info_reply({"name": "p"}, "spec") == {"name": "p", "ok": 1.0}
    live = protocol.batch_reply([{"a": 1}], 0, "live")
    assert live == {"ok": 1.0, "cursorId": 0, "messages": [{"a": 1}]}
    assert isinstance(live["cursorId"], Int64)
    assert list(protocol.batch_reply([], 5, "spec")) == ["ok", "cursorId", "nextBatch"]


def test_a_reply_too_large_names_the_size_the_excess_and_a_remedy() -> None:
    reply = protocol.reply_too_large("listStreamProcessors", 50_000_000, 48_000_000)
    assert reply["code"] == 10334
    assert reply["codeName"] == "BSONObjectTooLarge"
    assert reply["errmsg"].startswith(
        "listStreamProcessors: the reply would be 50,000,000 bytes, 2,000,000 over the message "
        "limit of 48,000,000 bytes"
    )
    assert "filter" in reply["errmsg"]
