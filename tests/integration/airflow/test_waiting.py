"""The one waiting model against the emulator: the same ``look`` and ``wait`` serve the
operators' waits in the worker, the sensors' pokes and (generated from the same source) the
triggers. A transient error costs a look, FAILED ends the wait at once, the deadline bounds
every command."""

from __future__ import annotations

import asyncio
import time

import pytest

from asp_core.stream_processing import AsyncStreamProcessingClient
from asp_core.waiting import asynchronous, synchronous
from asp_core.waiting.conditions import StateCondition
from asp_core.waiting.verdict import Outcome, Reason, Verdict
from tests.support.operators import arrange

GET = "getStreamProcessor"


def started(name: str) -> StateCondition:
    return StateCondition(name, frozenset({"STARTED"}))


def test_wait_is_bounded_by_its_deadline(client, name):
    arrange(client, name, "STOPPED")
    pending: list[Verdict] = []
    verdict = synchronous.wait(
        started(name),
        client.stream_processors(),
        deadline=time.time() + 0.4,
        poll_interval=0.1,
        on_pending=pending.append,
    )
    assert (verdict.outcome, verdict.reason) == (Outcome.FAILURE, Reason.TIMEOUT)
    assert "is STOPPED; waiting for STARTED" in verdict.message
    assert len(pending) == 1  # the same message is reported once


def test_a_failed_processor_ends_the_wait_at_once(workspace, client, name, looks):
    arrange(client, name, "STARTED")
    looks.at(name, 2, lambda: workspace.fail_processor(name, "disk full", 61))
    verdict = synchronous.wait(
        StateCondition(name, frozenset({"STOPPED"})),
        client.stream_processors(),
        deadline=time.time() + 60,
        poll_interval=0.05,
    )
    assert verdict.reason is Reason.PROCESSOR_FAILED
    assert (verdict.error_msg, verdict.error_code) == ("disk full", 61)


@pytest.mark.parametrize("fault", [{"close_connection": True}, {"code": 91}, {"code": 11600}])
def test_a_transient_error_costs_one_look(faults, client, name, fault):
    arrange(client, name, "STARTED")
    faults.inject_fault(GET, times=2, **fault)  # the look and its one retry both fail
    pending: list[Verdict] = []
    verdict = synchronous.wait(
        started(name),
        client.stream_processors(),
        deadline=time.time() + 60,
        poll_interval=0.05,
        on_pending=pending.append,
    )
    assert verdict.outcome is Outcome.SUCCESS
    assert [p.message.split(":")[0] for p in pending] == ["Transient error, still waiting"]


def test_a_silent_server_costs_the_deadline_not_the_socket_timeout(faults, client, name):
    """The client's socket timeout is 60 s; the deadline (2 s) bounds each command."""
    arrange(client, name, "STARTED")
    faults.inject_fault(GET, times=-1, delay=30)
    begun = time.monotonic()
    verdict = synchronous.wait(
        started(name), client.stream_processors(), deadline=time.time() + 2, poll_interval=0.1
    )
    elapsed = time.monotonic() - begun
    assert verdict.reason is Reason.TIMEOUT
    assert elapsed < 2 + 3  # the bound plus about a second, with room for a busy machine


def test_the_async_wait_judges_alike(workspace, faults, name, client):
    arrange(client, name, "STARTED")
    faults.inject_fault(GET, times=2, close_connection=True)

    async def run():
        async with AsyncStreamProcessingClient(workspace.uri) as aclient:
            return await asynchronous.wait(
                started(name),
                aclient.stream_processors(),
                deadline=time.time() + 60,
                poll_interval=0.05,
            )

    verdict = asyncio.run(run())
    assert verdict.outcome is Outcome.SUCCESS
    assert verdict.value["state"] == "STARTED"
