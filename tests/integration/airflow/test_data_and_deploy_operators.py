"""Sample, stats and deploy operators, run with ``execute()`` against the emulator."""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from bson import Decimal128, ObjectId
from pymongo import monitoring

from airflow_provider_asp.hooks.asp import AspHook
from airflow_provider_asp.operators.asp import (
    AspDeployProcessorOperator,
    AspGetProcessorStatsOperator,
    AspSampleProcessorOperator,
)
from asp_core.errors import (
    AspInputError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
)
from tests.support.airflow import SOURCE, pipeline
from tests.support.operators import FAST, arrange, run, wait_until

GET = "getStreamProcessor"


def test_sample_returns_json_safe_documents(workspace, client, name):
    oid = ObjectId()
    docs = [
        {"n": i, "oid": oid, "at": datetime.datetime(2026, 1, 2, 3, 4, 5), "d": Decimal128("1.10")}
        for i in range(5)
    ]
    arrange(client, name, "STARTED", stages=pipeline(*docs))
    wait_until(lambda: len(workspace.emitted("__testLog")) >= 5)
    sampled = run(AspSampleProcessorOperator(task_id="s", processor_name=name, limit=3, timeout=5))
    assert [doc["n"] for doc in sampled] == [0, 1, 2]
    assert sampled[0]["oid"] == str(oid)
    assert sampled[0]["at"] == "2026-01-02T03:04:05+00:00"
    assert sampled[0]["d"] == "1.10"
    assert json.loads(json.dumps(sampled)) == sampled


def test_sample_returns_what_arrived_within_its_timeout(client, name):
    arrange(client, name, "STARTED")  # reads the idle feed: no output
    started = time.monotonic()
    assert run(AspSampleProcessorOperator(task_id="s", processor_name=name, timeout=0.5)) == []
    assert 0.4 < time.monotonic() - started < 3


def test_sample_needs_a_running_processor(workspace, client, name):
    arrange(client, name, "STOPPED")
    with pytest.raises(AspProcessorStateError, match="is STOPPED: sampling needs it STARTED"):
        run(AspSampleProcessorOperator(task_id="s", processor_name=name))
    client.stream_processors().get(name).start()
    workspace.fail_processor(name, "bad input", code=9)
    with pytest.raises(AspProcessorFailedFatalError, match="bad input"):
        run(AspSampleProcessorOperator(task_id="s", processor_name=name))


class OnceSampling(monitoring.CommandListener):
    """Runs ``action`` (in a thread) once the sample cursor is open on the server."""

    def __init__(self, action: Callable[[], Any]) -> None:
        self.action, self.thread = action, threading.Thread(target=action, daemon=True)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "startSampleStreamProcessor" and not self.thread.is_alive():
            self.thread.start()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_sample_fails_when_the_processor_fails_while_sampled(workspace, client, name):
    """The cursor ends (cursorId 0) as the processor FAILS: a short sample is not a success."""
    feed = f"feed_{name}"
    workspace.add_connection(feed)
    arrange(client, name, "STARTED", stages=pipeline(source=feed))

    def fail_mid_sample() -> None:
        workspace.fail_processor(name, "partition lost", code=419, after_documents=1)
        workspace.feed(feed, [{"n": 1}, {"n": 2}])

    listener = OnceSampling(fail_mid_sample)
    op = AspSampleProcessorOperator(task_id="s", processor_name=name, limit=10, timeout=60)
    op.hook = AspHook(op.asp_conn_id, event_listeners=[listener])
    started = time.monotonic()
    with pytest.raises(AspProcessorFailedFatalError, match="partition lost"):
        run(op)
    listener.thread.join(10)
    assert time.monotonic() - started < 30  # ended by the failure, not by the timeout


def test_sample_refuses_a_zero_limit(client, name, monitored, commands):
    with pytest.raises(AspInputError, match="limit must be a positive integer"):
        run(monitored(AspSampleProcessorOperator(task_id="s", processor_name=name, limit=0)))
    assert commands.take() == []


def test_stats_in_one_command(workspace, client, name, monitored, commands):
    arrange(client, name, "STARTED", stages=pipeline({"a": 1}, {"a": 2}))
    wait_until(lambda: workspace.stats(name)["inputMessageCount"] == 2)
    stats = run(
        monitored(
            AspGetProcessorStatsOperator(task_id="s", processor_name=name, verbose=True, scale=1)
        )
    )
    assert commands.take() == ["getStreamProcessorStats"]
    assert (stats["name"], stats["state"]) == (name, "STARTED")
    assert stats["stats"]["inputMessageCount"] == 2
    assert "ok" not in stats
    assert json.loads(json.dumps(stats)) == stats


def test_stats_of_a_missing_processor_and_bad_scale(name, monitored, commands):
    with pytest.raises(AspProcessorNotFoundError):
        run(AspGetProcessorStatsOperator(task_id="s", processor_name=name))
    with pytest.raises(AspInputError, match="scale must be positive"):
        run(monitored(AspGetProcessorStatsOperator(task_id="s", processor_name=name, scale=0)))
    assert commands.take() == []


# -- deploy ---------------------------------------------------------------------------------


def deploy(name, stages, monitored, **kwargs):
    return run(
        monitored(
            AspDeployProcessorOperator(
                task_id="d", processor_name=name, pipeline=stages, **FAST, **kwargs
            )
        )
    )


def test_deploy_twice_changes_nothing_the_second_time(workspace, name, monitored, commands):
    stages = pipeline(source=SOURCE)
    first = deploy(name, stages, monitored, tier="SP5")
    assert first == {
        "processor_name": name,
        "actions": ["create", "start"],
        "changed": [],
        "state": "STARTED",
    }
    assert commands.take() == [GET, "createStreamProcessor", "startStreamProcessor", GET]
    changed = workspace.processor(name)["lastStateChange"]
    second = deploy(name, stages, monitored, tier="SP5")
    assert second == {"processor_name": name, "actions": [], "changed": [], "state": "STARTED"}
    assert commands.take() == [GET]
    assert workspace.processor(name)["lastStateChange"] == changed


def test_deploy_a_new_pipeline_to_a_running_processor(workspace, client, name, monitored, commands):
    arrange(client, name, "STARTED")
    stages = pipeline(source=SOURCE)
    new = [stages[0], {"$match": {"k": 1}}, stages[1]]
    result = deploy(
        name, new, monitored, dlq={"connectionName": "__testLog", "db": "d", "coll": "q"}
    )
    assert result["actions"] == ["stop", "modify", "start"]
    assert result["changed"] == ["pipeline", "dlq"]
    assert result["state"] == "STARTED"
    assert workspace.processor(name)["pipeline"] == new
    assert commands.take() == [
        GET,
        "stopStreamProcessor",
        GET,
        "modifyStreamProcessor",
        "startStreamProcessor",
        GET,
    ]


def test_deploy_to_stopped(workspace, client, name, monitored, commands):
    arrange(client, name, "STARTED")
    result = deploy(name, pipeline(source=SOURCE), monitored, desired_state="STOPPED")
    assert (result["actions"], result["state"]) == (["stop"], "STOPPED")
    assert (
        deploy(name, pipeline(source=SOURCE), monitored, desired_state="STOPPED")["actions"] == []
    )


def test_deploy_restarts_a_failed_processor(workspace, client, name, monitored):
    arrange(client, name, "STARTED")
    workspace.fail_processor(name, "lost", code=1)
    result = deploy(name, pipeline(source=SOURCE), monitored)
    assert (result["actions"], result["state"]) == (["start"], "STARTED")


def test_deploy_refuses_an_unknown_state(name, monitored, commands):
    with pytest.raises(AspInputError, match="desired_state must be one of STARTED, STOPPED"):
        deploy(name, pipeline({"a": 1}), monitored, desired_state="RUNNING")
    assert commands.take() == []
