"""The sample cursor against the emulator, sync and async, in both reply shapes."""

from __future__ import annotations

import asyncio
import time

import pytest
from bson.int64 import Int64
from pymongo.errors import InvalidOperation, OperationFailure

from asp_core.stream_processing import (
    AsyncSampleCursor,
    AsyncStreamProcessingClient,
    Backoff,
    GetStreamProcessorSamplesOptions,
    SampleCursorTimeout,
)
from tests.support.client import SOLAR_PIPELINE, call, documents_pipeline, drain

FIVE = [{"a": i} for i in range(5)]
#: A pipeline that never outputs anything: its cursor only ever sees empty batches.
SILENT = documents_pipeline([{"a": 1}], a=999)


async def started(client, name, pipeline):
    sps = client.stream_processors()
    await call(sps.create(name, pipeline))
    proc = sps.get(name)
    await call(proc.start())
    return proc


def get_more(name, cursor_id, batch_size=None):
    command = [("getMoreSampleStreamProcessor", name), ("cursorId", cursor_id)]
    return command + ([("batchSize", batch_size)] if batch_size is not None else [])


async def test_two_phase_protocol_and_exhaustion(client, recorder, name):
    proc = await started(client, name, documents_pipeline(FIVE))
    recorder.clear()
    cursor = proc.sample(limit=3, batch_size=2)
    assert (cursor.cursor_id, cursor.alive, cursor.name) == (None, True, name)
    assert recorder.commands == []  # nothing before the first fetch
    assert await drain(cursor) == FIVE[:3]
    assert (cursor.cursor_id, cursor.alive) == (0, False)
    first = recorder.commands[1]["cursorId"]
    assert type(first) is Int64
    # 1 + ceil(3 / 2) fetches; cursorId 0 came with the last batch: nothing after it
    assert recorder.items() == [
        [("startSampleStreamProcessor", name), ("limit", 3)],
        get_more(name, first, 2),
        get_more(name, first, 2),
    ]
    assert await drain(cursor) == []
    assert len(recorder.commands) == 3
    await call(proc.drop())


async def test_stopping_the_processor_ends_the_cursor(client, recorder, name):
    proc = await started(client, name, documents_pipeline(FIVE))
    cursor = proc.sample()
    assert await call(cursor.to_list(5, timeout=5)) == FIVE
    assert cursor.alive
    await call(proc.stop())
    recorder.clear()
    assert await drain(cursor) == []  # the next poll answers cursorId 0
    assert recorder.names() == ["getMoreSampleStreamProcessor"]
    assert cursor.cursor_id == 0
    await call(proc.drop())


async def test_empty_batches_are_polled_with_backoff_until_the_timeout(client, recorder, name):
    proc = await started(client, name, SILENT)
    recorder.clear()
    cursor = proc.sample(timeout=0.5, backoff=Backoff(initial=0.05, maximum=0.2))
    began = time.monotonic()
    with pytest.raises(SampleCursorTimeout):
        await drain(cursor)
    elapsed = time.monotonic() - began
    assert 0.5 <= elapsed < 1.5
    # start, the immediate getMore, then polls after 0.05, 0.1, 0.2, 0.2 (last one clamped)
    assert recorder.names()[0] == "startSampleStreamProcessor"
    assert 5 <= len(recorder.commands) <= 7
    assert cursor.alive  # a timeout does not close the cursor
    await call(cursor.close())
    assert not cursor.alive
    await call(proc.drop())


async def test_solar_sample_polls_until_the_limit(client, recorder, name):
    proc = await started(client, name, SOLAR_PIPELINE)
    docs = await drain(proc.sample(limit=4, timeout=10))
    assert len(docs) == 4
    assert all(doc["device_id"].startswith("device_") for doc in docs)
    names = recorder.names()
    opened = names.index("startSampleStreamProcessor")
    assert set(names[opened + 1 :]) == {"getMoreSampleStreamProcessor"}
    await call(proc.drop())


async def test_to_list_returns_by_its_timeout_without_raising(client, name):
    proc = await started(client, name, SILENT)
    cursor = proc.sample(timeout=30)
    began = time.monotonic()
    assert await call(cursor.to_list(10, timeout=0.3)) == []
    assert 0.3 <= time.monotonic() - began < 1.0
    solar = await started(client, name + "s", SOLAR_PIPELINE)
    assert len(await call(solar.sample().to_list(2, timeout=10))) == 2
    few = await call(solar.sample().to_list(10_000, timeout=0.3))
    assert 0 < len(few) < 10_000
    await call(proc.drop())
    await call(solar.drop())


async def test_try_next_and_next_batch_never_wait(client, recorder, name):
    proc = await started(client, name, SILENT)
    recorder.clear()
    cursor = proc.sample()
    began = time.monotonic()
    assert await call(cursor.try_next()) is None
    assert await call(cursor.next_batch()) == []
    assert time.monotonic() - began < 0.5
    assert recorder.names() == [
        "startSampleStreamProcessor",
        "getMoreSampleStreamProcessor",
        "getMoreSampleStreamProcessor",
    ]
    await call(proc.drop())
    other = await started(client, name + "x", documents_pipeline(FIVE))
    cursor = other.sample()
    assert await call(cursor.try_next()) == FIVE[0]
    assert await call(cursor.next_batch()) == FIVE[1:]
    await call(other.drop())


async def test_next_hands_out_one_document_at_a_time(client, recorder, name):
    proc = await started(client, name, documents_pipeline(FIVE))
    cursor = proc.sample(limit=3)
    assert await call(cursor.next()) == FIVE[0]
    assert await drain(cursor) == FIVE[1:3]
    if isinstance(cursor, AsyncSampleCursor):
        with pytest.raises(StopAsyncIteration):
            await cursor.next()
    else:
        with pytest.raises(StopIteration):
            next(cursor)
    await call(proc.drop())


async def test_get_stream_processor_samples_tracks_the_cursor_yourself(client, recorder, name):
    proc = await started(client, name, documents_pipeline(FIVE))
    recorder.clear()
    first = await call(
        proc.get_stream_processor_samples(GetStreamProcessorSamplesOptions(limit=4, batch_size=3))
    )
    assert first.documents == FIVE[:3]
    assert first.cursor_id > 0
    assert not first.exhausted
    second = await call(
        proc.get_stream_processor_samples(
            GetStreamProcessorSamplesOptions(cursor_id=first.cursor_id, batch_size=3)
        )
    )
    assert second.documents == [FIVE[3]]
    assert second.exhausted  # the limit of 4 was reached
    assert recorder.items() == [
        [("startSampleStreamProcessor", name), ("limit", 4)],
        get_more(name, first.cursor_id, 3),
        get_more(name, first.cursor_id, 3),
    ]
    recorder.clear()
    with pytest.raises(InvalidOperation, match="cursor_id 0"):
        await call(proc.get_stream_processor_samples(GetStreamProcessorSamplesOptions(cursor_id=0)))
    assert recorder.commands == []
    await call(proc.drop())


async def test_sampling_a_processor_that_is_not_running_fails(client, recorder, name):
    sps = client.stream_processors()
    await call(sps.create(name, documents_pipeline(FIVE)))
    with pytest.raises(OperationFailure) as failure:
        await drain(sps.get(name).sample())
    assert failure.value.code == 125
    assert recorder.names()[-1] == "startSampleStreamProcessor"
    await call(sps.get(name).drop())


async def test_async_backoff_does_not_block_the_event_loop(workspace, name):
    async with AsyncStreamProcessingClient(workspace.uri) as client:
        proc = await started(client, name, SILENT)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        with pytest.raises(SampleCursorTimeout):
            await drain(proc.sample(timeout=0.5, backoff=Backoff(initial=0.2, maximum=0.2)))
        ticker.cancel()
        assert ticks >= 20  # the loop ran while the cursor waited
        await proc.drop()
