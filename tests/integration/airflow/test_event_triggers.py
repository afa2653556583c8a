"""The event triggers in an event loop against the emulator, as the triggerer runs them: their
kwargs, batches of output documents, transitions, counter crossings, and everything they
watch through without ending (missing, stopped and dropped processors, network errors,
refused logins). Each waits for conditions, never for time."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_asp.triggers.events import (
    AspProcessorOutputEventTrigger,
    AspProcessorStateEventTrigger,
    AspProcessorStatsEventTrigger,
    AspWatcherArgumentError,
    watcher,
)
from airflow_provider_asp.triggers.events import output as output_trigger
from asp_core.client_pool import shared_clients
from asp_core.errors import AspInputError
from tests.support.airflow import PASSWORD, connection_json, pipeline
from tests.support.operators import arrange
from tests.support.tasks import rebuilt


class Logs:
    """What the triggers logged (Airflow logs to the process's output, read with capfd)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self._capfd = capfd
        self._seen = ""

    @property
    def text(self) -> str:
        captured = self._capfd.readouterr()
        self._seen += captured.out + captured.err
        return self._seen

    def clear(self) -> None:
        self._seen = ""
        self._capfd.readouterr()


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Logs:
    return Logs(capfd)


class Running:
    """A trigger's ``run()`` pumped into a queue by a task of its own, as the triggerer
    does; stopped (cancelled, then ``cleanup()``) on exit."""

    def __init__(self, trigger: BaseEventTrigger) -> None:
        self.trigger = trigger
        self.events: asyncio.Queue[TriggerEvent] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        async def pump() -> None:
            async for event in self.trigger.run():
                await self.events.put(event)

        self.task = asyncio.create_task(pump())
        return self

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        event = await asyncio.wait_for(self.events.get(), timeout)
        return dict(event.payload)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.trigger.cleanup()


async def until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return value


def count(workspace, command: str) -> int:
    return workspace.command_counts().get(command, 0)


async def cursor_opened(workspace, before: int) -> None:
    await until(lambda: count(workspace, "startSampleStreamProcessor") > before, what="a cursor")


@pytest.fixture
def feed(workspace, client, name) -> str:
    """A STARTED processor ``name`` reading a connection of its own; returns the connection."""
    source = f"feed_{name}"
    workspace.add_connection(source)
    arrange(client, name, "STARTED", stages=pipeline(source=source))
    return source


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short pauses: between looks at a processor that does not run, and after errors."""
    monkeypatch.setattr(output_trigger, "STATE_LOOK_INTERVAL", 0.05)
    monkeypatch.setattr(watcher, "ERROR_PAUSE", (0.05, 0.2))


def output(name: str, **kwargs: Any) -> AspProcessorOutputEventTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return AspProcessorOutputEventTrigger(processor_name=name, **kwargs)


# -- kwargs ------------------------------------------------------------------------------------
TRIGGERS = [
    AspProcessorOutputEventTrigger(
        processor_name="p",
        match={"obs.watts": {"$gte": 400}, "device_id": {"$in": ["a", "b"]}},
        check_fn="tests.support.checks.is_hit",
        max_batch=50,
        max_wait=2,
        max_payload_bytes=4096,
        include_dlq=True,
    ),
    AspProcessorStateEventTrigger(processor_name="p", states=["stopped", "FAILED"]),
    AspProcessorStatsEventTrigger(processor_name="p", counter="dlqMessageCount", step=100),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_kwargs_are_plain_json_and_hash_the_same_on_every_parse(trigger):
    classpath, kwargs = trigger.serialize()
    # the public path, whichever module of the package holds the class: a stored watcher
    # keeps its classpath and hash when the class moves
    assert classpath == f"airflow_provider_asp.triggers.events.{type(trigger).__name__}"
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = rebuilt(trigger)  # as the triggerer builds it
    assert again.serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*again.serialize())
    assert kwargs["asp_conn_id"] == "asp_default"
    asset = Asset("asp_events", watchers=[AssetWatcher(name="w", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


def test_what_is_watched_changes_the_hash():
    one = output("p", match={"a": 1}).serialize()
    two = output("p", match={"a": 2}).serialize()
    assert BaseEventTrigger.hash(*one) != BaseEventTrigger.hash(*two)
    states = AspProcessorStateEventTrigger(processor_name="p", states=["FAILED", "STOPPED"])
    same = AspProcessorStateEventTrigger(processor_name="p", states=["stopped", "failed"])
    assert BaseEventTrigger.hash(*states.serialize()) == BaseEventTrigger.hash(*same.serialize())
    # kept sorted, unique and normalized, so the kwargs (and the hash) are stable
    again = AspProcessorStateEventTrigger(
        processor_name="p", states=["STOPPED", "failed", "FAILED"]
    )
    assert again.serialize()[1]["states"] == ["FAILED", "STOPPED"]
    running = AspProcessorStateEventTrigger(processor_name="p", states="running")
    assert running.serialize()[1]["states"] == ["STARTED"]


def _lambda_check(doc: Any) -> bool:
    return True


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: output(""), "processor_name must be a non-empty string"),
        (lambda: output("p", asp_conn_id=""), "asp_conn_id must be a non-empty string"),
        (lambda: output("p", poll_interval=0), "poll_interval must be a positive number"),
        (lambda: output("p", match={"$where": "1"}), r"\$where is not supported"),
        (lambda: output("p", match={"t": datetime.datetime(2026, 1, 1)}), "JSON values"),
        (lambda: output("p", match=[1]), "match must be a document"),
        (lambda: output("p", check_fn=lambda doc: True), "cannot travel to the triggerer"),
        (lambda: output("p", check_fn="no.such.module.fn"), "cannot be imported"),
        (lambda: output("p", max_batch=0), "max_batch must be an integer of at least 1"),
        (lambda: output("p", max_batch=20_000), "at most 10,000"),
        (lambda: output("p", max_wait=-1), "max_wait must be a positive number"),
        (lambda: output("p", max_payload_bytes=100), "max_payload_bytes must be an integer"),
        (lambda: output("p", include_dlq="yes"), "include_dlq must be True or False"),
        (lambda: AspProcessorStateEventTrigger(processor_name="p", states=[]), "states must be"),
        (lambda: AspProcessorStatsEventTrigger(processor_name="p"), "Give threshold, step"),
        (lambda: AspProcessorStatsEventTrigger(processor_name="p", step=0), "step must be"),
        (lambda: AspProcessorStatsEventTrigger(processor_name="p", counter="", step=1), "counter"),
    ],
)
def test_bad_arguments_are_refused_when_the_trigger_is_built(make, message):
    with pytest.raises(AspWatcherArgumentError, match=message) as caught:
        make()
    # The DAG file's import error carries the message; the triggerer, which only survives
    # TypeErrors when it builds a trigger, reports it as failed to inflate.
    assert isinstance(caught.value, AspInputError)
    assert isinstance(caught.value, TypeError)


# -- output ------------------------------------------------------------------------------------
async def test_matching_documents_go_out_in_batches(workspace, name, feed):
    before = count(workspace, "startSampleStreamProcessor")
    trigger = output(name, match={"hot": True}, max_batch=3, max_wait=0.3)
    async with Running(trigger) as running:
        await cursor_opened(workspace, before)
        when = datetime.datetime(2026, 5, 1, 12, tzinfo=datetime.timezone.utc)
        docs = [{"n": i, "hot": i % 2 == 0, "at": when} for i in range(14)]
        workspace.feed(feed, docs)
        first, second, third = [await running.next() for _ in range(3)]
        assert running.events.empty()
        assert running.alive
    assert [[d["n"] for d in e["documents"]] for e in (first, second, third)] == [
        [0, 2, 4],
        [6, 8, 10],
        [12],  # the rest, max_wait after it came
    ]
    assert first["documents"][0] == {"n": 0, "hot": True, "at": "2026-05-01T12:00:00+00:00"}
    assert {key: first[key] for key in ("kind", "processor_name", "count", "oversized")} == {
        "kind": "output",
        "processor_name": name,
        "count": 3,
        "oversized": 0,
    }
    assert datetime.datetime.fromisoformat(first["sent_at"]).tzinfo is not None
    assert shared_clients() == {}  # the lease went back


async def test_check_fn_and_the_dead_letter_queue(workspace, client, name):
    source = f"feed_{name}"
    workspace.add_connection(source)
    stages = [
        {"$source": {"connectionName": source}},
        {"$validate": {"validator": {"x": {"$gte": 0}}, "validationAction": "dlq"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    arrange(client, name, "STARTED", stages=stages)
    before = count(workspace, "startSampleStreamProcessor")
    hits = output(name, check_fn="tests.support.checks.is_hit", max_batch=2, max_wait=5)
    dead = output(name, match={"_dlqMessage": {"$exists": True}}, include_dlq=True, max_batch=1)
    async with Running(hits) as running_hits, Running(dead) as running_dead:
        await until(lambda: count(workspace, "startSampleStreamProcessor") >= before + 2)
        workspace.feed(source, [{"x": 1, "hit": True}, {"x": -1, "hit": True}, {"x": 2}])
        workspace.feed(source, [{"x": 3, "hit": True}])
        hit = await running_hits.next()
        dlq = await running_dead.next()
    assert [doc["x"] for doc in hit["documents"]] == [1, 3]  # the refused x=-1 is no output
    (message,) = dlq["documents"]
    assert message["_dlqMessage"]["doc"] == {"x": -1, "hit": True}


async def test_a_document_too_large_for_the_payload_is_counted_not_carried(workspace, name, feed):
    before = count(workspace, "startSampleStreamProcessor")
    trigger = output(name, max_payload_bytes=1_024, max_wait=0.2)
    async with Running(trigger) as running:
        await cursor_opened(workspace, before)
        workspace.feed(feed, [{"big": "x" * 2_000}, {"small": 1}])
        event = await running.next()
    assert (event["documents"], event["oversized"]) == ([{"small": 1}], 1)
    assert len(json.dumps(event)) <= 1_024


async def test_a_restarted_processor_is_followed_again_without_duplicates(
    workspace, client, name, feed, logs
):
    before = count(workspace, "startSampleStreamProcessor")
    trigger = output(name, max_batch=2, max_wait=5)
    async with Running(trigger) as running:
        await cursor_opened(workspace, before)
        workspace.feed(feed, [{"n": 1}, {"n": 2}])
        assert [d["n"] for d in (await running.next())["documents"]] == [1, 2]
        processor = client.stream_processors().get(name)
        processor.stop()
        await until(lambda: "is STOPPED; still watching its output" in logs.text)
        reopened = count(workspace, "startSampleStreamProcessor")
        processor.start()
        await cursor_opened(workspace, reopened)
        workspace.feed(feed, [{"n": 3}, {"n": 4}])
        # The emulator hands a new cursor its recent outputs (n=1, n=2) again: skipped.
        assert [d["n"] for d in (await running.next())["documents"]] == [3, 4]
    assert "Skipped 2 document(s) the new sample cursor handed out again." in logs.text


async def test_a_missing_then_dropped_processor_is_watched_through(workspace, client, name, logs):
    source = f"feed_{name}"
    workspace.add_connection(source)
    trigger = output(name, max_batch=1)
    async with Running(trigger) as running:
        await until(lambda: "does not exist (not created yet, or dropped)" in logs.text)
        before = count(workspace, "startSampleStreamProcessor")
        arrange(client, name, "STARTED", stages=pipeline(source=source))
        await cursor_opened(workspace, before)
        workspace.feed(source, [{"n": 1}])
        assert (await running.next())["documents"] == [{"n": 1}]
        logs.clear()
        client.stream_processors().get(name).drop()
        await until(lambda: "does not exist" in logs.text, what="the drop to be seen")
        assert running.alive
        before = count(workspace, "startSampleStreamProcessor")
        arrange(client, name, "STARTED", stages=pipeline(source=source))
        await cursor_opened(workspace, before)
        workspace.feed(source, [{"n": 2}])
        assert (await running.next())["documents"] == [{"n": 2}]


async def test_network_errors_and_refused_reads_do_not_end_the_trigger(faults, name, feed, logs):
    before = count(faults, "startSampleStreamProcessor")
    trigger = output(name, max_batch=1)
    async with Running(trigger) as running:
        await cursor_opened(faults, before)
        faults.inject_fault("getMoreSampleStreamProcessor", times=2, close_connection=True)
        faults.inject_fault("getMoreSampleStreamProcessor", times=2, code=91)  # retryable
        await until(lambda: logs.text.count("Transient error reading the sample") >= 3)
        faults.feed(feed, [{"n": 1}])
        assert (await running.next())["documents"] == [{"n": 1}]
        reopened = count(faults, "startSampleStreamProcessor")
        faults.inject_fault("getMoreSampleStreamProcessor", times=1, code=2)  # not transient
        await cursor_opened(faults, reopened)
        faults.feed(feed, [{"n": 2}])
        assert (await running.next())["documents"] == [{"n": 2}]
        assert running.alive
    assert "Error reading the sample: OperationFailure" in logs.text


async def test_a_refused_login_is_logged_without_the_password_and_watched_through(
    workspace, name, add_connection, logs
):
    bad = add_connection("asp_bad_events", connection_json(workspace, password=PASSWORD + "x"))
    trigger = output(name, asp_conn_id=bad)
    async with Running(trigger) as running:
        await until(lambda: logs.text.count("Authentication failed for user 'admin'") >= 3)
        assert running.alive
        assert running.events.empty()
    missing = output(name, asp_conn_id="asp_nowhere")
    async with Running(missing) as running:
        await until(lambda: logs.text.count("asp_nowhere") >= 3)
        assert running.alive
    assert PASSWORD not in logs.text


async def test_triggers_of_one_connection_share_one_client(workspace, name, feed):
    before = count(workspace, "startSampleStreamProcessor")
    triggers: list[BaseEventTrigger] = [output(name, match={"n": n}) for n in range(3)]
    triggers.append(AspProcessorStateEventTrigger(processor_name=name, poll_interval=0.05))
    async with contextlib.AsyncExitStack() as stack:
        for trigger in triggers:
            await stack.enter_async_context(Running(trigger))
        await until(lambda: count(workspace, "startSampleStreamProcessor") >= before + 3)
        assert list(shared_clients().values()) == [4]
    assert shared_clients() == {}


# -- state -------------------------------------------------------------------------------------
async def test_a_failure_is_one_event_however_often_it_is_looked_at(
    workspace, client, name, feed, looks
):
    trigger = AspProcessorStateEventTrigger(processor_name=name, poll_interval=0.05)
    async with Running(trigger) as running:
        await until(lambda: looks.counts[name] >= 2)  # seen STARTED: no event
        assert running.events.empty()
        workspace.fail_processor(name, "sink unreachable", code=4242)
        failed = await running.next()
        seen = looks.counts[name]
        await until(lambda: looks.counts[name] >= seen + 5)  # looked at FAILED five times more
        assert running.events.empty()
        client.stream_processors().get(name).start()
        workspace.fail_processor(name, "sink unreachable again", code=4243, retryable=True)
        again = await running.next()
    assert {k: v for k, v in failed.items() if k not in ("last_state_change", "sent_at")} == {
        "kind": "state",
        "processor_name": name,
        "state": "FAILED",
        "previous_state": "STARTED",
        "error_msg": "sink unreachable",
        "error_code": 4242,
        "error_retryable": False,
    }
    assert (again["error_code"], again["error_retryable"]) == (4243, True)
    assert again["last_state_change"] != failed["last_state_change"]


async def test_a_processor_failed_before_the_trigger_started_is_told_once(
    workspace, name, feed, looks
):
    workspace.fail_processor(name, "boom")
    trigger = AspProcessorStateEventTrigger(processor_name=name, poll_interval=0.05)
    async with Running(trigger) as running:
        assert (await running.next())["state"] == "FAILED"
        seen = looks.counts[name]
        await until(lambda: looks.counts[name] >= seen + 3)
        assert running.events.empty()


# -- stats -------------------------------------------------------------------------------------
async def test_a_dead_letter_counter_crosses_a_threshold_and_steps(workspace, client, name, looks):
    source = f"feed_{name}"
    workspace.add_connection(source)
    stages = [
        {"$source": {"connectionName": source}},
        {"$validate": {"validator": {"x": {"$gte": 0}}, "validationAction": "dlq"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    arrange(client, name, "STARTED", stages=stages)
    trigger = AspProcessorStatsEventTrigger(
        processor_name=name, counter="dlqMessageCount", threshold=3, step=4, poll_interval=0.05
    )
    async with Running(trigger) as running:
        await until(lambda: looks.counts[name] >= 2)  # the base: 0
        workspace.feed(source, [{"x": -1}] * 3)
        reached = await running.next()
        workspace.feed(source, [{"x": -1}] * 2 + [{"x": 1}])
        stepped = await running.next()
        seen = looks.counts[name]
        await until(lambda: looks.counts[name] >= seen + 3)
        assert running.events.empty()
    assert {k: reached[k] for k in ("reason", "value", "mark", "crossed")} == {
        "reason": "threshold",
        "value": 3,
        "mark": 3,
        "crossed": 1,
    }
    assert {k: stepped[k] for k in ("reason", "value", "mark", "crossed")} == {
        "reason": "step",
        "value": 5,
        "mark": 4,
        "crossed": 1,
    }
    assert stepped["stats"]["dlqMessageCount"] == 5
    assert stepped["stats"]["outputMessageCount"] == 1
