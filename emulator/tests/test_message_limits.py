"""Size limits: a reply over the message limit is refused with an error, not a broken
socket; a processor definition over its limit is refused at create and modify."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asp_emulator import Limits, Workspace
from pymongo import MongoClient
from pymongo.errors import OperationFailure

BSON_OBJECT_TOO_LARGE = 10334
EMIT = {"$emit": {"connectionName": "__testLog"}}


def heavy(size: int) -> list[dict[str, Any]]:
    """A valid pipeline of about ``size`` bytes."""
    return [{"$source": {"documents": []}}, {"$addFields": {"pad": "x" * size}}, EMIT]


def refused(db: Any, command: dict[str, Any]) -> OperationFailure:
    with pytest.raises(OperationFailure) as info:
        db.command(command)
    return info.value


@pytest.fixture
def small_messages(
    connect: Callable[..., MongoClient[dict[str, Any]]],
) -> Iterator[tuple[Workspace, Any]]:
    """A workspace whose messages are at most 1 MB, and the admin database of a client
    with one connection (so each command runs on the same socket)."""
    with Workspace(limits=Limits(max_message_bytes=1_000_000)) as ws:
        yield ws, connect(ws, maxPoolSize=1).admin


def connection_id(db: Any) -> int:
    """The server's id of the connection the client's next command runs on."""
    return int(db.command("hello")["connectionId"])


def test_hello_advertises_the_message_limit(small_messages: tuple[Workspace, Any]) -> None:
    _, db = small_messages
    assert db.command("hello")["maxMessageSizeBytes"] == 1_000_000


def test_a_reply_over_the_message_limit_is_refused_and_the_connection_stays(
    small_messages: tuple[Workspace, Any],
) -> None:
    ws, db = small_messages
    for index in range(4):
        db.command({"createStreamProcessor": f"p{index}", "pipeline": heavy(300_000)})
    before = connection_id(db)
    error = refused(db, {"listStreamProcessors": 1})
    assert error.code == BSON_OBJECT_TOO_LARGE
    assert error.details is not None
    assert error.details["codeName"] == "BSONObjectTooLarge"
    match = re.fullmatch(
        r"listStreamProcessors: the reply would be ([\d,]+) bytes, ([\d,]+) over the message "
        r"limit of 1,000,000 bytes \(Limits.max_message_bytes\); ask for less, e.g. "
        r"listStreamProcessors with a filter that selects fewer processors",
        str(error.details["errmsg"]),
    )
    assert match, error.details["errmsg"]
    size, over = (int(group.replace(",", "")) for group in match.groups())
    assert size > 1_200_000
    assert size - over == 1_000_000
    # the same connection answers what follows: a filtered list fits
    listed = db.command({"listStreamProcessors": 1, "filter": {"name": "p0"}})
    assert [p["name"] for p in listed["streamProcessors"]] == ["p0"]
    assert connection_id(db) == before
    assert ws.self_check() == []


def test_the_default_limit_protects_the_socket(
    connect: Callable[..., MongoClient[dict[str, Any]]],
) -> None:
    """Four processors of 12.5 MB: their list would be about 50 MB, over the real 48 MB."""
    with Workspace() as ws:
        db = connect(ws, maxPoolSize=1).admin
        for index in range(4):
            db.command({"createStreamProcessor": f"big{index}", "pipeline": heavy(12_500_000)})
        before = connection_id(db)
        error = refused(db, {"listStreamProcessors": 1})
        assert error.code == BSON_OBJECT_TOO_LARGE
        assert "over the message limit of 48,000,000 bytes" in str(error)
        assert db.command("ping")["ok"] == 1.0
        assert connection_id(db) == before


def test_a_definition_over_its_limit_is_refused_at_create(admin: Any, name: str) -> None:
    """The real default (16 MiB less 64 KiB): a pipeline pymongo still sends (a command
    may be 16 MiB + 16 KiB) but whose replies could not carry it with room to spare."""
    limit = Limits().max_definition_bytes
    assert limit == 16 * 1024 * 1024 - 64 * 1024
    error = refused(admin, {"createStreamProcessor": name, "pipeline": heavy(limit)})
    assert error.code == BSON_OBJECT_TOO_LARGE
    assert re.fullmatch(
        r"createStreamProcessor: the processor's definition \(name, pipeline and options\) is "
        r"[\d,]+ bytes, over the limit of 16,711,680 bytes \(Limits.max_definition_bytes\)",
        str(error.details["errmsg"] if error.details else ""),
    )
    listed = admin.command("listStreamProcessors")["streamProcessors"]
    assert name not in [p["name"] for p in listed]


def test_a_definition_over_its_limit_is_refused_at_modify(
    connect: Callable[..., MongoClient[dict[str, Any]]],
) -> None:
    with Workspace(limits=Limits(max_definition_bytes=100_000)) as ws:
        db = connect(ws).admin
        db.command({"createStreamProcessor": "p", "pipeline": heavy(90_000)})
        assert refused(db, {"createStreamProcessor": "q", "pipeline": heavy(100_000)}).code == (
            BSON_OBJECT_TOO_LARGE
        )
        error = refused(db, {"modifyStreamProcessor": "p", "pipeline": heavy(100_000)})
        assert error.code == BSON_OBJECT_TOO_LARGE
        assert "modifyStreamProcessor: the processor's definition" in str(error)
        assert "over the limit of 100,000 bytes" in str(error)
        # a longer name counts too; the processor is unchanged
        assert refused(db, {"modifyStreamProcessor": "p", "name": "p" * 20_000}).code == (
            BSON_OBJECT_TOO_LARGE
        )
        info = ws.processor("p")
        assert info["pipelineVersion"] == 1
        assert len(info["pipeline"][1]["$addFields"]["pad"]) == 90_000
