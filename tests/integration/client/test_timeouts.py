"""Every timeout is a bound: a silent server against every client method under a deadline,
sync and async (pymongo's client-side operation timeout, CSOT).

The emulator holds the reply of one command back for :data:`SILENCE` seconds (and then
answers with an error, so that the held-back command changes nothing on the server). Each
call must return or raise within its bound plus a generous margin, far below the silence,
and leave the client usable for the next command. Timings are asserted loosely (upper
bounds only); what happened is asserted through the error raised and the commands sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pymongo
import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, PyMongoError

from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    Backoff,
    GetStreamProcessorSamplesOptions,
    SampleCursorTimeout,
    StreamProcessingClient,
)
from tests.support.client import SOLAR_PIPELINE, Recorder, call, documents_pipeline, drain

# One reply shape is enough here: timeouts do not depend on it.
pytestmark = pytest.mark.parametrize("workspace", ["live"], indirect=True)

SILENCE = 10.0  # seconds the server keeps quiet
BOUND = 0.5  # seconds allowed to each call
MARGIN = 3.0  # generous: the assertions are about not waiting for the silent server
CLIENT_TIMEOUT = 2.0  # seconds: a client's timeoutMS, roomy enough for the calls that succeed
#: A pipeline that never outputs anything: its cursor only ever sees empty batches.
NOTHING = documents_pipeline([{"a": 1}], a=999)


def silence(workspace: Any, command: str, times: int = 1) -> None:
    """Hold the next ``times`` replies to ``command`` back for SILENCE seconds, then fail
    them (the client gave up long before), so the command never runs."""
    workspace.inject_fault(command, times=times, delay=SILENCE, code=2, message="too late")


class Clock:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.began


def within(clock: Clock, bound: float = BOUND) -> None:
    """Done within ``bound`` plus the margin, and far from waiting for the silent server."""
    assert clock.elapsed < min(bound + MARGIN, SILENCE / 2)


async def still_usable(client: Any) -> None:
    """The next command, without any bound, is answered at once."""
    clock = Clock()
    assert isinstance(await call(client.stream_processors().list()), list)
    assert clock.elapsed < MARGIN


def _samples(proc: Any) -> Any:
    return proc.get_stream_processor_samples(GetStreamProcessorSamplesOptions(limit=1))


#: method -> (command the server keeps quiet about, the call)
CALLS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "create": (
        "createStreamProcessor",
        lambda sps, name: sps.create(name, documents_pipeline([{"a": 1}])),
    ),
    "get_info": ("getStreamProcessor", lambda sps, name: sps.get_info(name)),
    "list": ("listStreamProcessors", lambda sps, name: sps.list()),
    "list_connections": ("listStreamConnections", lambda sps, name: sps.list_connections()),
    "workspace_defaults": ("listWorkspaceDefaults", lambda sps, name: sps.workspace_defaults()),
    "start": ("startStreamProcessor", lambda sps, name: sps.get(name).start()),
    "stop": ("stopStreamProcessor", lambda sps, name: sps.get(name).stop()),
    "drop": ("dropStreamProcessor", lambda sps, name: sps.get(name).drop()),
    "stats": ("getStreamProcessorStats", lambda sps, name: sps.get(name).stats()),
    "modify": ("modifyStreamProcessor", lambda sps, name: sps.get(name).modify(tier="SP5")),
    "get_stream_processor_samples": (
        "startSampleStreamProcessor",
        lambda sps, name: _samples(sps.get(name)),
    ),
}


@pytest.mark.parametrize("method", CALLS)
async def test_every_method_is_bounded_by_the_callers_pymongo_timeout(
    client, workspace, recorder, name, method
):
    command, run = CALLS[method]
    await still_usable(client)  # a pooled connection: the bound is not spent on a handshake
    recorder.clear()
    silence(workspace, command)
    clock = Clock()
    with pytest.raises(PyMongoError) as raised, pymongo.timeout(BOUND):
        await call(run(client.stream_processors(), name))
    within(clock)
    assert raised.value.timeout, repr(raised.value)
    assert recorder.names() == [command]  # a timed-out read is not sent again
    assert 0 < recorder.max_time_ms[0] <= BOUND * 1000
    await still_usable(client)


async def test_the_clients_timeout_ms_bounds_each_call(workspace, name):
    recorder = Recorder()
    uri = workspace.uri
    timeout_ms = CLIENT_TIMEOUT * 1000
    with StreamProcessingClient(uri, timeoutMS=timeout_ms, event_listeners=[recorder]) as sync:
        silence(workspace, "getStreamProcessor")
        clock = Clock()
        with pytest.raises(NetworkTimeout):
            sync.stream_processors().get_info(name)
        within(clock, CLIENT_TIMEOUT)
    async with AsyncStreamProcessingClient(uri, timeoutMS=timeout_ms) as aio:
        silence(workspace, "getStreamProcessorStats")
        clock = Clock()
        with pytest.raises(NetworkTimeout):
            await aio.stream_processors().get(name).stats()
        within(clock, CLIENT_TIMEOUT)
        await still_usable(aio)
    assert recorder.names() == ["getStreamProcessor"]


async def test_a_retry_stays_within_the_callers_deadline(client, workspace, recorder, name):
    await still_usable(client)
    recorder.clear()
    # the first attempt fails at once with a retryable error; the retry meets silence
    workspace.inject_fault("getStreamProcessor", code=6, message="host unreachable")
    silence(workspace, "getStreamProcessor")
    clock = Clock()
    with pytest.raises(PyMongoError) as raised, pymongo.timeout(BOUND):
        await call(client.stream_processors().get_info(name))
    within(clock)
    assert raised.value.timeout
    assert recorder.names() == ["getStreamProcessor"] * 2
    await still_usable(client)


async def test_a_socket_timeout_is_not_retried(workspace, name):
    recorder = Recorder()
    with StreamProcessingClient(
        workspace.uri, socketTimeoutMS=BOUND * 1000, event_listeners=[recorder]
    ) as client:
        silence(workspace, "getStreamProcessorStats", times=2)
        clock = Clock()
        with pytest.raises(NetworkTimeout):
            client.stream_processors().get(name).stats()
        within(clock)
    workspace.clear_faults()
    assert recorder.names() == ["getStreamProcessorStats"]


async def started(client: Any, name: str, pipeline: list[dict[str, Any]]) -> Any:
    sps = client.stream_processors()
    await call(sps.create(name, pipeline))
    proc = sps.get(name)
    await call(proc.start())
    return proc


async def test_to_list_returns_by_its_deadline_when_a_get_more_never_answers(
    client, workspace, recorder, name
):
    """The case of the brief: ``sample(limit=1000, timeout=2).to_list(timeout=2)`` against
    a getMore that would answer after 10 s."""
    proc = await started(client, name, SOLAR_PIPELINE)
    recorder.clear()
    silence(workspace, "getMoreSampleStreamProcessor")
    clock = Clock()
    documents = await call(proc.sample(limit=1000, timeout=2).to_list(timeout=2))
    within(clock, 2)
    assert documents == []  # what it had: the opening reply carried none
    assert recorder.names() == ["startSampleStreamProcessor", "getMoreSampleStreamProcessor"]
    assert all(0 < bound <= 2000 for bound in recorder.max_time_ms)
    assert recorder.failures == ["getMoreSampleStreamProcessor"]
    # the connection pool is fine, and so is a new cursor on the same processor
    await still_usable(client)
    assert len(await call(proc.sample(limit=3, timeout=10).to_list(timeout=10))) == 3
    await call(proc.drop())


async def test_to_list_keeps_what_it_has_when_a_later_get_more_never_answers(
    client, workspace, name
):
    proc = await started(client, name, SOLAR_PIPELINE)
    cursor = proc.sample(batch_size=2)
    first = await call(cursor.to_list(2, timeout=10))
    assert len(first) == 2
    silence(workspace, "getMoreSampleStreamProcessor")
    clock = Clock()
    assert await call(cursor.to_list(5, timeout=BOUND)) == []
    within(clock)
    assert cursor.alive  # the cursor goes on with its next fetch
    assert len(await call(cursor.to_list(2, timeout=10))) == 2
    await call(proc.drop())


@pytest.mark.parametrize("fetch", ["iterate", "next", "try_next", "next_batch"])
async def test_the_cursors_timeout_raises_sample_cursor_timeout_on_silence(
    client, workspace, name, fetch
):
    proc = await started(client, name, SOLAR_PIPELINE)
    cursor = proc.sample(timeout=BOUND)
    silence(workspace, "startSampleStreamProcessor")
    fetches = {
        "iterate": lambda: drain(cursor),
        "next": cursor.next,
        "try_next": cursor.try_next,
        "next_batch": cursor.next_batch,
    }
    clock = Clock()
    with pytest.raises(SampleCursorTimeout) as raised:
        await call(fetches[fetch]())
    within(clock)
    assert raised.value.timeout
    assert isinstance(raised.value.__cause__, PyMongoError)
    assert raised.value.__cause__.timeout  # pymongo's own timeout error, kept as the cause
    await still_usable(client)
    await call(proc.drop())


async def test_process_cursor_opening_is_bounded(client, workspace, recorder):
    silence(workspace, "processStreamProcessor")
    clock = Clock()
    cursor = client.stream_processors().process(SOLAR_PIPELINE, timeout=BOUND)
    assert await call(cursor.to_list(10)) == []
    within(clock)
    assert cursor.name is None  # the server never named it: nothing to drop
    await call(cursor.close())
    assert recorder.names() == ["processStreamProcessor"]


async def test_the_callers_deadline_bounds_a_cursor_and_its_back_off(client, workspace, name):
    """A ``pymongo.timeout`` block nearer than the cursor's own timeout raises pymongo's
    timeout error (not SampleCursorTimeout), also when the cursor is in a back-off pause."""
    proc = await started(client, name, NOTHING)
    slow = Backoff(initial=SILENCE, maximum=SILENCE)
    clock = Clock()
    with pytest.raises(PyMongoError) as raised, pymongo.timeout(BOUND):
        await call(proc.sample(timeout=60, backoff=slow).to_list(10))
    within(clock)
    assert raised.value.timeout
    assert not isinstance(raised.value, SampleCursorTimeout)
    solar = await started(client, name + "s", SOLAR_PIPELINE)
    silence(workspace, "getMoreSampleStreamProcessor")
    clock = Clock()
    with pytest.raises(PyMongoError) as raised, pymongo.timeout(BOUND):
        await drain(solar.sample(timeout=60))
    within(clock)
    assert raised.value.timeout
    assert not isinstance(raised.value, SampleCursorTimeout)
    await still_usable(client)
    await call(proc.drop())
    await call(solar.drop())


async def test_the_cursors_own_deadline_wins_when_nearer_than_the_callers(client, workspace, name):
    proc = await started(client, name, SOLAR_PIPELINE)
    silence(workspace, "getMoreSampleStreamProcessor")
    clock = Clock()
    with pymongo.timeout(60):
        assert await call(proc.sample(timeout=BOUND).to_list(10)) == []
    within(clock)
    await call(proc.drop())


async def test_a_cursor_under_the_clients_timeout_ms(workspace, name):
    """The client's ``timeoutMS``, nearer than the cursor's timeout, bounds each command and
    is raised as pymongo's error; the cursor's own timeout, nearer, ends ``to_list``."""
    timeout_ms = CLIENT_TIMEOUT * 1000
    async with AsyncStreamProcessingClient(workspace.uri, timeoutMS=timeout_ms) as client:
        proc = await started(client, name, SOLAR_PIPELINE)
        silence(workspace, "getMoreSampleStreamProcessor")
        clock = Clock()
        with pytest.raises(NetworkTimeout):
            await proc.sample(timeout=60).to_list(10)
        within(clock, CLIENT_TIMEOUT)
        silence(workspace, "getMoreSampleStreamProcessor")
        clock = Clock()
        assert await proc.sample(timeout=BOUND).to_list(10) == []
        within(clock)
        await proc.drop()


async def test_network_errors_keep_their_class(client, workspace, recorder, name):
    """A dropped connection is raised as pymongo raised it, from plain calls (after the one
    retry of a read) and from cursors, deadline or not."""
    proc = await started(client, name, SOLAR_PIPELINE)
    recorder.clear()
    workspace.inject_fault("getStreamProcessor", times=2, close_connection=True)
    with pytest.raises(AutoReconnect) as raised, pymongo.timeout(30):
        await call(client.stream_processors().get_info(name))
    assert not raised.value.timeout
    assert recorder.names() == ["getStreamProcessor"] * 2
    workspace.inject_fault("getMoreSampleStreamProcessor", close_connection=True)
    with pytest.raises(AutoReconnect):
        await call(proc.sample(timeout=30).to_list(5, timeout=30))
    workspace.inject_fault("getMoreSampleStreamProcessor", close_connection=True)
    with pytest.raises(AutoReconnect):
        await drain(proc.sample(timeout=30))
    await still_usable(client)
    await call(proc.drop())
