"""Transitions that take time: ``transition_delay`` makes start and stop take effect later.

Each test uses a delay long enough (30 s) that nothing takes effect on its own while it
looks, then shortens what it waits for by setting the delay to a tiny one: no test depends
on how fast the machine is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asp_emulator import Workspace
from pymongo.errors import OperationFailure
from waiting import wait_for

LONG = 30.0
SHORT = 0.05
SOLAR = [{"$source": {"connectionName": "sample_stream_solar"}}]


@pytest.fixture(scope="module")
def slow() -> Iterator[Workspace]:
    with Workspace(transition_delay=LONG, solar_rate=200.0) as ws:
        yield ws


@pytest.fixture
def db(slow: Workspace, connect: Any) -> Any:
    slow.set_transition_delay(LONG)
    return connect(slow).admin


def state(db: Any, name: str) -> tuple[str, str]:
    """(state, stats status)."""
    reply = db.command({"getStreamProcessorStats": name})
    return reply["state"], reply["stats"]["status"]


def test_start_takes_effect_after_the_delay(slow: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})
    assert db.command({"startStreamProcessor": name}) == {"ok": 1.0}  # acknowledged at once
    assert state(db, name) == ("CREATED", "starting")
    assert db.command({"startStreamProcessor": name}) == {"ok": 1.0}  # a retry changes nothing
    slow.set_transition_delay(SHORT)
    db.command({"stopStreamProcessor": name})  # cancels the pending start: STOPPED at once
    assert state(db, name) == ("STOPPED", "stopped")
    db.command({"startStreamProcessor": name})
    wait_for(lambda: state(db, name) == ("STARTED", "running"))
    wait_for(lambda: slow.stats(name)["inputMessageCount"] > 0)


def test_stop_takes_effect_after_the_delay(slow: Workspace, db: Any, name: str) -> None:
    slow.set_transition_delay(SHORT)
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})
    db.command({"startStreamProcessor": name})
    wait_for(lambda: state(db, name) == ("STARTED", "running"))
    cursor = db.command({"startSampleStreamProcessor": name})["cursorId"]
    slow.set_transition_delay(LONG)
    db.command({"stopStreamProcessor": name})
    assert state(db, name) == ("STARTED", "stopping")
    seen = slow.stats(name)["inputMessageCount"]
    wait_for(lambda: slow.stats(name)["inputMessageCount"] > seen)  # still running meanwhile
    db.command({"stopStreamProcessor": name})  # a second stop changes nothing
    db.command({"startStreamProcessor": name})  # a start cancels the pending stop
    assert state(db, name) == ("STARTED", "running")
    slow.set_transition_delay(SHORT)
    db.command({"stopStreamProcessor": name})
    wait_for(lambda: state(db, name) == ("STOPPED", "stopped"))
    messages: list[Any] = []

    def drained() -> bool:
        reply = db.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})
        messages.extend(reply["messages"])
        return reply["cursorId"] == 0

    wait_for(drained)
    assert messages  # what the cursor held came out before cursorId 0


def test_drop_during_a_pending_start(slow: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})
    db.command({"startStreamProcessor": name})
    db.command({"dropStreamProcessor": name})  # at once, whatever is pending
    assert name not in slow.processors()
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})  # the name is free again
    assert state(db, name) == ("CREATED", "created")
    assert slow.self_check() == []


def test_modify_and_sample_refused_while_starting(slow: Workspace, db: Any, name: str) -> None:
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})
    db.command({"startStreamProcessor": name})
    for command, code in (
        ({"modifyStreamProcessor": name, "pipeline": SOLAR}, 125),
        ({"startSampleStreamProcessor": name}, 125),
    ):
        with pytest.raises(OperationFailure) as info:
            db.command(command)
        assert info.value.code == code
    with pytest.raises(ValueError, match="not STARTED"):
        slow.fail_processor(name, "boom")
    db.command({"dropStreamProcessor": name})


def test_a_failure_during_a_pending_stop_wins(slow: Workspace, db: Any, name: str) -> None:
    slow.set_transition_delay(SHORT)
    db.command({"createStreamProcessor": name, "pipeline": SOLAR})
    db.command({"startStreamProcessor": name})
    wait_for(lambda: state(db, name)[0] == "STARTED")
    slow.set_transition_delay(LONG)
    db.command({"stopStreamProcessor": name})
    slow.fail_processor(name, "broker gone", 419)
    info = slow.processor(name)
    assert (info["state"], info["errorMsg"], info["errorCode"]) == ("FAILED", "broker gone", 419)
    assert state(db, name) == ("FAILED", "error")
    # restarting a FAILED processor: FAILED (with its error) until the start takes effect
    db.command({"startStreamProcessor": name})
    assert state(db, name) == ("FAILED", "starting")
    slow.set_transition_delay(SHORT)
    db.command({"stopStreamProcessor": name})
    assert slow.processor(name)["errorMsg"] == ""
    assert slow.self_check() == []


def test_the_delay_is_checked() -> None:
    with pytest.raises(ValueError, match="transition_delay"):
        Workspace(transition_delay=-1)
