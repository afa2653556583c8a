"""timeouts: the caller's pymongo.timeout() deadline as the client reads it, and how one
command of a sample cursor is bounded (no server)."""

from __future__ import annotations

import asyncio
import time

import pymongo
import pytest
from pymongo import _csot
from pymongo.errors import AutoReconnect, ExecutionTimeout, NetworkTimeout

from asp_core.stream_processing import SampleCursorTimeout
from asp_core.stream_processing.timeouts import CommandBound, caller_deadline, pause


def test_caller_deadline_follows_pymongo_timeout_blocks():
    assert caller_deadline() is None
    before = time.monotonic()
    with pymongo.timeout(10):
        outer = caller_deadline()
        assert outer is not None
        assert before + 10 <= outer <= time.monotonic() + 10
        with pymongo.timeout(60):  # an inner block cannot extend the deadline
            assert caller_deadline() == outer
        with pymongo.timeout(1):
            inner = caller_deadline()
            assert inner is not None
            assert inner < outer
        assert caller_deadline() == outer
    assert caller_deadline() is None


def test_blocks_pymongo_runs_unbounded_have_no_deadline():
    with pymongo.timeout(None):
        assert caller_deadline() is None
    with pymongo.timeout(0):
        assert caller_deadline() is None
    with pymongo.timeout(5), pymongo.timeout(None):  # pymongo: None lifts the bound
        assert caller_deadline() is None
        assert _csot.remaining() is None


async def test_the_deadline_reaches_tasks_through_contextvars():
    async def read() -> float | None:
        await asyncio.sleep(0)
        return caller_deadline()

    with pymongo.timeout(10):
        expected = caller_deadline()
        assert expected is not None
        assert await asyncio.create_task(read()) == expected
    assert await asyncio.create_task(read()) is None


def test_pause_ends_at_the_callers_deadline():
    assert pause(5.0, time.monotonic()) == 5.0
    with pymongo.timeout(1):
        now = time.monotonic()
        assert 0.9 < pause(5.0, now) <= 1.0
        assert pause(0.2, now) == 0.2
        assert pause(5.0, now + 2) == 0.0


def test_a_cursor_without_a_deadline_leaves_the_command_to_the_caller():
    bound = CommandBound.at(None, 100.0)
    assert bound == CommandBound()
    assert not bound.expired
    assert not bound.ran_out(NetworkTimeout("x"))
    with bound.scope():
        assert caller_deadline() is None


def test_the_cursors_deadline_bounds_the_command_when_nearest():
    now = time.monotonic()
    bound = CommandBound.at(now + 2, now)
    assert bound.remaining == pytest.approx(2)
    with bound.scope():
        deadline = caller_deadline()
        assert deadline is not None
        assert now + 2 <= deadline <= time.monotonic() + 2
    assert bound.ran_out(NetworkTimeout("x"))
    assert bound.ran_out(ExecutionTimeout("x", 50))
    assert not bound.ran_out(AutoReconnect("x"))  # not a timeout: raised as it is
    with pymongo.timeout(60):
        assert CommandBound.at(now + 2, now).remaining == pytest.approx(2)


def test_a_nearer_caller_deadline_or_timeout_ms_bounds_the_command_instead():
    now = time.monotonic()
    with pymongo.timeout(1):
        assert CommandBound.at(now + 30, now) == CommandBound()
    assert CommandBound.at(now + 30, now, operation_timeout=5) == CommandBound()
    assert CommandBound.at(now + 3, now, operation_timeout=5).remaining == pytest.approx(3)
    with pymongo.timeout(60):  # a caller's block overrides timeoutMS, as in pymongo
        assert CommandBound.at(now + 30, now, operation_timeout=5).remaining == pytest.approx(30)


def test_a_passed_deadline_sends_nothing_and_never_means_unbounded():
    bound = CommandBound.at(100.0, 100.0)
    assert bound.expired
    with bound.scope():  # entered anyway: pymongo would refuse to send, not wait forever
        assert caller_deadline() is not None
    assert CommandBound.at(99.0, 100.0).expired


def test_sample_cursor_timeout_is_a_timeout_error():
    assert SampleCursorTimeout("x").timeout
