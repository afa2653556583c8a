"""The triggers on their own, in an event loop, against the emulator: serialization, one
event then return, errors as events without secrets, pooled clients, cleanup, and the
kill semantics run through the triggerer's own ``TriggerRunner.run_trigger``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from airflow_provider_asp.triggers.asp import (
    AspProcessorSampleTrigger,
    AspProcessorStateTrigger,
    AspProcessorStatsTrigger,
)
from asp_core.client_pool import shared_clients
from tests.support.airflow import PASSWORD, connection_json
from tests.support.operators import arrange
from tests.support.tasks import only_event, rebuilt


def deadline(seconds: float = 5.0) -> float:
    return time.time() + seconds


def state_trigger(name: str, **kwargs: Any) -> AspProcessorStateTrigger:
    return AspProcessorStateTrigger(
        processor_name=name, end_time=deadline(), poll_interval=0.05, **kwargs
    )


TRIGGERS = [
    state_trigger(
        "p",
        target_states=["STOPPED"],
        missing_ok=True,
        ignore_failure_at="2024-01-01T00:00:00+00:00",
        cancel_on_kill=True,
        started_by_task=True,
    ),
    AspProcessorSampleTrigger(
        processor_name="p",
        end_time=1.5e9,
        match={"obs.watts": {"$gt": 100}},
        check_fn="tests.support.checks.is_hit",
        min_documents=3,
        limit=50,
        sample_timeout=2,
    ),
    AspProcessorStatsTrigger(
        processor_name="p", end_time=1.5e9, min_output_messages=5, max_dlq_messages=0
    ),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_serialize_round_trips_through_airflow_serde(trigger):
    classpath, kwargs = trigger.serialize()
    assert classpath == f"airflow_provider_asp.triggers.asp.{type(trigger).__name__}"
    assert rebuilt(trigger).serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON values only
    assert kwargs["asp_conn_id"] == "asp_default"  # the id travels, never a secret


async def test_one_success_event_then_the_generator_returns(client, name):
    arrange(client, name, "STARTED")
    event = await only_event(state_trigger(name))
    assert event.payload["status"] == "success"
    assert event.payload["value"]["state"] == "STARTED"
    assert shared_clients() == {}  # the lease went back, the client is closed


def test_the_first_event_alone_as_dag_test_takes_it_still_releases_the_client(client, name):
    arrange(client, name, "STARTED")
    trigger = state_trigger(name)

    async def first() -> Any:  # what dag.test() runs: no cleanup(), then the loop closes
        return await anext(trigger.run())

    event = asyncio.run(first())
    assert event.payload["status"] == "success"
    assert trigger._lease is None  # the generator's finally gave the share back


async def test_a_timeout_is_an_event_of_its_own(client, name):
    arrange(client, name)
    trigger = AspProcessorStateTrigger(processor_name=name, end_time=deadline(0.3))
    started = time.monotonic()
    event = await only_event(trigger)
    assert time.monotonic() - started < 2
    assert (event.payload["status"], event.payload["reason"]) == ("timeout", "timeout")
    assert f"Stream processor {name!r} is CREATED; waiting for STARTED" in event.payload["message"]


async def test_a_wrong_password_is_an_error_event_without_the_password(
    workspace, name, add_connection, capfd
):
    bad = add_connection("asp_bad", connection_json(workspace, password=PASSWORD + "x"))
    event = await only_event(state_trigger(name, asp_conn_id=bad))
    assert (event.payload["status"], event.payload["reason"]) == ("error", "connection")
    assert "Authentication failed for user 'admin'" in event.payload["message"]
    captured = capfd.readouterr()
    assert PASSWORD not in json.dumps(event.payload) + captured.out + captured.err


async def test_a_missing_connection_is_an_error_event(name):
    event = await only_event(state_trigger(name, asp_conn_id="asp_nowhere"))
    assert event.payload["status"] == "error"
    assert "asp_nowhere" in event.payload["message"]


async def test_triggers_of_one_connection_share_one_client(workspace, client, add_connection):
    names = [f"pool{i}" for i in range(12)]
    for name in names:
        arrange(client, name)
    other = add_connection("asp_other", connection_json(workspace))
    triggers = [state_trigger(name, asp_conn_id="asp_default") for name in names[:10]]
    triggers += [state_trigger(name, asp_conn_id=other) for name in names[10:]]
    accepted = workspace.connections_accepted
    runs = [asyncio.create_task(only_event(trigger)) for trigger in triggers]
    await asyncio.sleep(0.4)  # all waiting: CREATED, not STARTED
    leases = shared_clients()
    assert sorted(leases.values()) == [2, 10]
    assert {key.split(":")[0] for key in leases} == {"asp_default", "asp_other"}
    opened = workspace.connections_accepted - accepted
    for name in names:
        client.stream_processors().get(name).start()
    events = await asyncio.gather(*runs)
    assert {event.payload["status"] for event in events} == {"success"}
    assert shared_clients() == {}
    assert opened < len(triggers)  # pooled: not one connection (or client) per trigger


async def test_transient_errors_while_polling_only_cost_a_look(faults, client, name, looks):
    arrange(client, name)
    armed = []

    def trouble_then_start():
        armed.append(faults.inject_fault("getStreamProcessor", times=2, code=91))
        armed.append(faults.inject_fault("getStreamProcessor", times=2, close_connection=True))
        client.stream_processors().get(name).start()

    looks.at(name, 1, trouble_then_start)
    event = await only_event(state_trigger(name))
    assert event.payload["status"] == "success"
    assert [fault.hits for fault in armed] == [2, 2]


# -- kill semantics, through the triggerer's own run_trigger ----------------------------------


async def run_then_cancel(
    trigger: AspProcessorStateTrigger, looks: Any, *, user_action: bool
) -> None:
    """Run ``trigger`` as the triggerer does until it has looked at the processor (pending:
    it is not STOPPED), then cancel it as a user action (mark failed, clear...) does, or as
    a triggerer shutting down does."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    trigger.task_instance = None
    name = trigger.processor_name
    seen = looks.counts[name]
    task = asyncio.create_task(runner.run_trigger(1, trigger))
    runner.triggers[1] = {"task": task, "name": "t", "events": 0, "is_watcher": False}
    for _ in range(600):  # a look, within 60 s however busy the machine is
        if looks.counts[name] > seen or task.done():
            break
        await asyncio.sleep(0.1)
    assert not task.done(), "the trigger ended before it was cancelled"
    if user_action:
        runner.to_cancel.append(1)
        await runner.cancel_triggers()
    else:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert shared_clients() == {}  # cleanup gave the share back either way


@pytest.mark.parametrize(
    ("cancel_on_kill", "started_by_task", "user_action", "stopped"),
    [
        (True, True, True, True),  # the one case that stops the processor
        (True, True, False, False),  # a triggerer restart or shutdown is not a kill
        (False, True, True, False),
        (True, False, True, False),  # the task did not start it
    ],
)
async def test_a_killed_deferred_task_stops_only_the_processor_it_started(
    workspace, client, name, looks, cancel_on_kill, started_by_task, user_action, stopped
):
    arrange(client, name, "STARTED")
    trigger = AspProcessorStateTrigger(
        processor_name=name,
        end_time=time.time() + 300,
        poll_interval=0.05,
        target_states=["STOPPED"],
        cancel_on_kill=cancel_on_kill,
        started_by_task=started_by_task,
    )
    await run_then_cancel(trigger, looks, user_action=user_action)
    assert workspace.processors()[name] == ("STOPPED" if stopped else "STARTED")


async def test_on_kill_after_the_event_leaves_the_processor_alone(workspace, client, name):
    arrange(client, name, "STARTED")
    trigger = state_trigger(name, cancel_on_kill=True, started_by_task=True)
    assert (await only_event(trigger)).payload["status"] == "success"
    await trigger.on_kill()
    assert workspace.processors()[name] == "STARTED"


HEAVY = ("pymongo", "bson", "mongomock", "airflow_provider_asp.hooks.asp")
PARSE = f"""
import json, sys
from airflow_provider_asp.sensors.asp import AspProcessorSampleSensor
from airflow_provider_asp.triggers.asp import AspProcessorSampleTrigger
AspProcessorSampleSensor(task_id="t", processor_name="p", asp_conn_id="nowhere", match={{"a": 1}})
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def test_parsing_a_dag_with_sensors_loads_no_pymongo_and_no_connection():
    out = subprocess.check_output([sys.executable, "-c", PARSE], text=True, timeout=120)
    assert json.loads(out.splitlines()[-1]) == []
