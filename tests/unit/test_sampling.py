"""The sample cursor state machine (pure; canned replies, a fake clock, no server)."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from bson.int64 import Int64
from pymongo.errors import InvalidOperation, ProtocolError

from asp_core.stream_processing import (
    Backoff,
    GetStreamProcessorSamplesOptions,
    SampleCursorTimeout,
)
from asp_core.stream_processing.sampling import NEXT, POLL, Round, SampleState

PIPELINE: list[dict[str, Any]] = [
    {"$source": {"documents": [{"a": 1}]}},
    {"$emit": {"connectionName": "__testLog"}},
]


class Driver:
    """Plays one round at a time like an executor: records (wait, command) and answers each
    command with the next canned reply; the clock advances by each wait."""

    def __init__(self, state, replies, now=100.0):
        self.state = state
        self.replies = deque(replies)
        self.now = now
        self.sent: list[tuple[float, dict]] = []

    def round(self, goal=NEXT):
        sent = False
        while step := self.state.next_send(self.now, goal, sent):
            self.now += step.wait
            self.sent.append((step.wait, dict(step.command.document)))
            step.command.parse(self.replies.popleft())
            sent = True
        return self.sent

    def names(self):
        return [next(iter(document)) for _, document in self.sent]


def start(name="p", limit=None):
    document = {"startSampleStreamProcessor": name}
    if limit is not None:
        document["limit"] = limit
    return document


def get_more(cursor_id, name="p", batch_size=None):
    document = {"getMoreSampleStreamProcessor": name, "cursorId": Int64(cursor_id)}
    if batch_size is not None:
        document["batchSize"] = batch_size
    return document


def test_first_fetch_is_start_then_get_more():
    driver = Driver(
        SampleState.sample("p", limit=3, batch_size=2),
        [{"ok": 1, "cursorId": Int64(7)}, {"ok": 1, "cursorId": Int64(7), "messages": [{"i": 0}]}],
    )
    assert driver.round() == [(0.0, start(limit=3)), (0.0, get_more(7, batch_size=2))]
    assert driver.state.cursor_id == 7
    assert driver.state.pop() == {"i": 0}
    assert driver.state.alive


def test_opening_batch_is_delivered_without_an_immediate_get_more():
    for key in ("messages", "firstBatch"):
        state = SampleState.sample("p")
        driver = Driver(state, [{"ok": 1, "cursorId": Int64(7), key: [{"i": 0}, {"i": 1}]}])
        assert driver.round() == [(0.0, start())]
        assert state.take() == [{"i": 0}, {"i": 1}]


def test_cursor_id_zero_ends_without_another_command():
    state = SampleState.sample("p")
    driver = Driver(state, [{"ok": 1, "cursorId": Int64(0), "messages": [{"i": 0}]}])
    driver.round()
    assert state.alive  # one buffered document left
    assert state.pop() == {"i": 0}
    assert not state.alive
    assert state.cursor_id == 0
    assert driver.round() == [(0.0, start())]  # nothing more is sent


def test_batches_from_next_batch_and_messages_then_exhaustion():
    state = SampleState.sample("p")
    driver = Driver(
        state,
        [
            {"ok": 1, "cursorId": Int64(5)},
            {"ok": 1, "cursorId": Int64(5), "nextBatch": [{"i": 0}]},
            {"ok": 1, "cursorId": Int64(5), "messages": [{"i": 1}], "nextBatch": [{"i": 1}]},
            {"ok": 1, "cursorId": Int64(0), "messages": []},
        ],
    )
    documents = []
    while True:
        driver.round()
        document = state.pop()
        if document is None:
            break
        documents.append(document)
    assert documents == [{"i": 0}, {"i": 1}]
    assert driver.names() == ["startSampleStreamProcessor"] + 3 * ["getMoreSampleStreamProcessor"]
    assert not state.alive


def test_empty_batches_back_off_then_reset():
    backoff = Backoff(initial=0.05, maximum=0.3, factor=2)
    empty = {"ok": 1, "cursorId": Int64(5), "messages": []}
    state = SampleState.sample("p", backoff=backoff)
    driver = Driver(
        state,
        [
            {"ok": 1, "cursorId": Int64(5)},
            *[empty] * 5,
            {"ok": 1, "cursorId": Int64(5), "messages": [{"i": 0}]},
            empty,
            {"ok": 1, "cursorId": Int64(0)},
        ],
    )
    driver.round()
    assert [wait for wait, _ in driver.sent] == [0.0, 0.0, 0.05, 0.1, 0.2, 0.3, 0.3]
    assert state.pop() == {"i": 0}
    driver.round()
    assert [wait for wait, _ in driver.sent][7:] == [0.0, 0.05]


def test_backoff_validation_and_delays():
    assert [Backoff().delay(n) for n in range(7)] == [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    with pytest.raises(InvalidOperation):
        Backoff(initial=2, maximum=1)
    with pytest.raises(InvalidOperation):
        Backoff(factor=0.5)
    with pytest.raises(InvalidOperation):
        Backoff(initial=-1)


def test_limit_caps_delivery_client_side():
    state = SampleState.sample("p", limit=3)
    driver = Driver(
        state,
        [
            {"ok": 1, "cursorId": Int64(5)},
            {"ok": 1, "cursorId": Int64(5), "messages": [{"i": 0}, {"i": 1}]},
            {"ok": 1, "cursorId": Int64(5), "messages": [{"i": 2}, {"i": 3}]},
        ],
    )
    driver.round(Round(want=None))
    assert state.take() == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert not state.alive
    assert state.cursor_id == 5  # the server's id; the cursor is done client-side
    assert len(driver.sent) == 3


def test_limit_zero_is_sent_but_does_not_cap():
    state = SampleState.sample("p", limit=0)
    driver = Driver(
        state, [{"ok": 1, "cursorId": Int64(5), "messages": [{"i": 0}]}, {"ok": 1, "cursorId": 0}]
    )
    driver.round(Round(want=None))
    assert driver.sent[0] == (0.0, start(limit=0))
    assert state.take() == [{"i": 0}]


def test_timeout_raises_on_iteration_and_ends_to_list():
    empty = {"ok": 1, "cursorId": Int64(5)}
    state = SampleState.sample("p", timeout=0.25, backoff=Backoff(0.1, 0.1))
    driver = Driver(state, [empty] * 10)
    with pytest.raises(SampleCursorTimeout, match=r"0\.25 s timeout") as caught:
        driver.round()
    assert caught.value.timeout
    # start + get_more at t=0, then polls at 0.1, 0.2 and a last one clamped to 0.25
    assert [round(wait, 6) for wait, _ in driver.sent] == [0.0, 0.0, 0.1, 0.1, 0.05]
    assert state.alive  # the cursor is still open; a new wait raises again at once
    with pytest.raises(SampleCursorTimeout):
        driver.round()
    assert driver.round(Round(want=None, raise_on_expiry=False)) == driver.sent


def test_caller_deadline_ends_the_round_without_raising():
    empty = {"ok": 1, "cursorId": Int64(5)}
    state = SampleState.sample("p", backoff=Backoff(0.2, 0.2))
    driver = Driver(state, [empty] * 10, now=0.0)
    driver.round(Round.to_list(5, 0.5, now=0.0))
    assert [round(wait, 6) for wait, _ in driver.sent] == [0.0, 0.0, 0.2, 0.2, 0.1]
    assert driver.now == pytest.approx(0.5)
    with pytest.raises(InvalidOperation):
        Round.to_list(-1, None, now=0.0)
    with pytest.raises(InvalidOperation):
        Round.to_list(None, -1, now=0.0)


def test_poll_round_sends_at_most_one_empty_poll_and_never_waits():
    empty = {"ok": 1, "cursorId": Int64(5)}
    state = SampleState.sample("p")
    driver = Driver(state, [empty] * 4)
    driver.round(POLL)
    assert driver.names() == ["startSampleStreamProcessor", "getMoreSampleStreamProcessor"]
    driver.round(POLL)
    driver.round(POLL)
    assert [wait for wait, _ in driver.sent] == [0.0] * 4


def test_want_counts_buffered_documents():
    batch = {"ok": 1, "cursorId": Int64(5), "messages": [{"i": 0}, {"i": 1}]}
    state = SampleState.sample("p")
    driver = Driver(state, [{"ok": 1, "cursorId": Int64(5)}, batch, batch])
    driver.round(Round(want=3))
    assert len(driver.sent) == 3
    assert state.take(3) == [{"i": 0}, {"i": 1}, {"i": 0}]
    assert state.take() == [{"i": 1}]
    driver.round(Round(want=0))
    assert len(driver.sent) == 3


def test_close_discards_buffer_and_stops_sending():
    state = SampleState.sample("p")
    driver = Driver(state, [{"ok": 1, "cursorId": Int64(5), "messages": [{"i": 0}]}])
    driver.round()
    assert state.close() is None  # a sample cursor closes locally
    assert not state.alive
    assert state.pop() is None
    assert driver.round() == [(0.0, start())]


def test_process_cursor_learns_name_and_drops_once():
    state = SampleState.process(PIPELINE, limit=2, dlq=None, batch_size=10)
    assert state.name is None
    assert state.release() is None  # nothing to drop before the server named it
    driver = Driver(
        state,
        [
            {"ok": 1, "name": "gen-1", "cursorId": Int64(8)},
            {"ok": 1, "cursorId": Int64(8), "messages": [{"a": 1}]},
            {"ok": 1, "cursorId": Int64(0), "messages": [{"a": 2}]},
        ],
    )
    driver.round(Round(want=None))
    assert driver.sent == [
        (0.0, {"processStreamProcessor": PIPELINE, "options": {"limit": 2}}),
        (0.0, get_more(8, name="gen-1", batch_size=10)),
        (0.0, get_more(8, name="gen-1", batch_size=10)),
    ]
    assert state.name == "gen-1"
    drop = state.release()
    assert drop is not None
    assert list(drop.document.items()) == [("dropStreamProcessor", "gen-1")]
    assert state.release() is None
    assert state.take() == [{"a": 1}, {"a": 2}]
    assert state.close() is None  # already dropped


def test_process_close_before_exhaustion_drops():
    state = SampleState.process(PIPELINE)
    replies = [{"ok": 1, "name": "gen-2", "cursorId": Int64(3)}, {"ok": 1, "cursorId": 3}]
    Driver(state, replies).round(POLL)
    assert state.release() is None  # alive: not yet
    drop = state.close()
    assert drop is not None
    assert drop.document == {"dropStreamProcessor": "gen-2"}


def test_process_reply_without_name_is_a_protocol_error():
    state = SampleState.process(PIPELINE)
    with pytest.raises(ProtocolError):
        Driver(state, [{"ok": 1, "cursorId": Int64(3)}]).round()


def test_fetch_states():
    with pytest.raises(InvalidOperation, match="cursor_id 0"):
        SampleState.fetch("p", GetStreamProcessorSamplesOptions(cursor_id=0))
    with pytest.raises(InvalidOperation, match="non-empty string"):
        SampleState.fetch(" ", None)
    state = SampleState.fetch("p", GetStreamProcessorSamplesOptions(cursor_id=12, batch_size=4))
    driver = Driver(state, [{"ok": 1, "cursorId": Int64(12)}])
    driver.round(POLL)
    assert driver.sent == [(0.0, get_more(12, batch_size=4))]
    opening = SampleState.fetch("p", GetStreamProcessorSamplesOptions(limit=5, batch_size=4))
    driver = Driver(opening, [{"ok": 1, "cursorId": Int64(3)}, {"ok": 1, "cursorId": Int64(3)}])
    driver.round(POLL)
    assert driver.sent == [(0.0, start(limit=5)), (0.0, get_more(3, batch_size=4))]


def test_constructor_checks():
    with pytest.raises(InvalidOperation, match="batch_size"):
        SampleState.sample("p", batch_size=-1)
    with pytest.raises(InvalidOperation, match="limit"):
        SampleState.sample("p", limit=-1)
    with pytest.raises(InvalidOperation, match="timeout"):
        SampleState.sample("p", timeout=-1)
    with pytest.raises(InvalidOperation, match="pipeline"):
        SampleState.process([])


def test_every_send_carries_the_nearest_deadline():
    empty = {"ok": 1, "cursorId": Int64(5)}
    state = SampleState.sample("p", timeout=10, backoff=Backoff(0.1, 0.1))
    opening = state.next_send(100.0)
    assert opening is not None
    assert opening.deadline == 110.0  # counted from the first fetch
    opening.command.parse(empty)
    poll = state.next_send(101.0)
    assert poll is not None
    assert (poll.wait, poll.deadline) == (0.0, 110.0)
    listing = state.next_send(101.0, Round.to_list(None, 2, now=101.0))
    assert listing is not None
    assert listing.deadline == 103.0
    unbounded = SampleState.sample("p").next_send(0.0)
    assert unbounded is not None
    assert unbounded.deadline is None


def test_a_passed_deadline_sends_not_even_the_opening():
    state = SampleState.sample("p", timeout=0)
    with pytest.raises(SampleCursorTimeout):
        state.next_send(100.0)
    assert state.next_send(100.0, Round.to_list(None, 5, now=100.0)) is None
    fresh = SampleState.sample("p")
    assert fresh.next_send(100.0, Round.to_list(None, 0, now=100.0)) is None
    assert fresh.next_send(100.0) is not None  # a later round without a deadline opens


def test_expire_raises_for_waits_and_ends_to_list():
    state = SampleState.sample("p", timeout=1.5)
    cause = TimeoutError("no reply")
    with pytest.raises(SampleCursorTimeout, match=r"1\.5 s timeout") as raised:
        state.expire(NEXT, cause)
    assert raised.value.__cause__ is cause
    with pytest.raises(SampleCursorTimeout):
        state.expire(POLL)
    state.expire(Round.to_list(3, 1, now=0.0), cause)  # returns: the round ends
    assert state.alive  # the cursor stays open: a later round sends again


def test_backoff_stays_at_its_maximum_however_long_the_cursor_waits():
    backoff = Backoff(initial=0.05, maximum=1.0, factor=2.0)
    assert backoff.delay(2_000) == 1.0  # 0.05 * 2 ** 1999 would overflow a float
    assert backoff.delay(10**6) == 1.0
