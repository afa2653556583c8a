"""Every timeout is a bound: against a server that never answers (a 30 s delay on every read),
each operator, sensor and trigger returns or raises within its own timeout plus about a
second, never the socket timeout (5 s here) times its retries, nor the server's delay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_asp.operators.asp import (
    AspGetProcessorStatsOperator,
    AspSampleProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from airflow_provider_asp.sensors.asp import (
    AspProcessorSampleSensor,
    AspProcessorStateSensor,
    AspProcessorStatsSensor,
)
from airflow_provider_asp.triggers.asp import (
    AspProcessorSampleTrigger,
    AspProcessorStateTrigger,
    AspProcessorStatsTrigger,
)
from asp_core.errors import AspConnectionError
from tests.support.operators import arrange, run
from tests.support.tasks import only_event

BOUND = 2.0
#: What "about a second" may become on a busy 2-core machine; far below the fault's delay.
MARGIN = 3.0
SILENCE = 30.0
GET, GET_MORE, STATS = (
    "getStreamProcessor",
    "getMoreSampleStreamProcessor",
    "getStreamProcessorStats",
)


@pytest.fixture
def silent(workspace: Any) -> Iterator[Callable[[str], None]]:
    """Make a command name silent (its replies come after :data:`SILENCE` seconds)."""

    def mute(command: str) -> None:
        workspace.inject_fault(command, times=-1, delay=SILENCE)

    yield mute
    workspace.clear_faults()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result (or the exception it raised) and the seconds it took."""
    started = time.monotonic()
    try:
        result: Any = call()
    except Exception as exc:
        result = exc
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("operator", "state"),
    [(AspStartProcessorOperator, "CREATED"), (AspStopProcessorOperator, "STARTED")],
)
def test_a_lifecycle_operator_fails_within_its_timeout(client, name, silent, operator, state):
    arrange(client, name, state)
    silent(GET)
    op = operator(task_id="t", processor_name=name, timeout=BOUND, poll_interval=0.1)
    error, took = timed(lambda: run(op))
    assert isinstance(error, AspConnectionError), error
    assert "did not answer in time (getStreamProcessor)" in str(error)
    assert took < BOUND + MARGIN


def test_the_sample_operator_returns_what_it_has_within_its_timeout(client, name, silent):
    arrange(client, name, "STARTED")
    silent(GET_MORE)
    op = AspSampleProcessorOperator(task_id="s", processor_name=name, limit=5, timeout=BOUND)
    documents, took = timed(lambda: run(op))
    assert documents == []
    assert took < BOUND + MARGIN


def test_the_stats_operator_fails_within_its_timeout(client, name, silent):
    arrange(client, name, "STARTED")
    silent(STATS)
    op = AspGetProcessorStatsOperator(task_id="s", processor_name=name, timeout=BOUND)
    error, took = timed(lambda: run(op))
    assert isinstance(error, AspConnectionError), error
    assert took < BOUND + MARGIN


SENSORS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "state": (AspProcessorStateSensor, GET, {"target_states": ["STOPPED"]}),
    "sample": (AspProcessorSampleSensor, GET_MORE, {"sample_timeout": 1}),
    "stats": (AspProcessorStatsSensor, STATS, {"min_output_messages": 1}),
}


@pytest.mark.parametrize("kind", SENSORS)
def test_a_sensor_times_out_within_its_timeout(client, name, silent, kind):
    sensor, command, extra = SENSORS[kind]
    arrange(client, name, "STARTED")
    silent(command)
    op = sensor(task_id="w", processor_name=name, poke_interval=0.1, timeout=BOUND, **extra)
    error, took = timed(lambda: op.execute({}))
    assert isinstance(error, AirflowSensorTimeout), error
    assert took < BOUND + MARGIN


TRIGGERS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "state": (AspProcessorStateTrigger, GET, {"target_states": ["STOPPED"]}),
    "sample": (AspProcessorSampleTrigger, GET_MORE, {"sample_timeout": 1.0}),
    "stats": (AspProcessorStatsTrigger, STATS, {"min_output_messages": 1}),
}


@pytest.mark.parametrize("kind", TRIGGERS)
def test_a_trigger_reports_the_timeout_within_its_deadline(client, name, silent, kind):
    trigger_class, command, extra = TRIGGERS[kind]
    arrange(client, name, "STARTED")
    silent(command)
    trigger = trigger_class(
        processor_name=name, end_time=time.time() + BOUND, poll_interval=0.1, **extra
    )
    event, took = timed(lambda: asyncio.run(only_event(trigger)))
    assert event.payload["status"] == "timeout", event.payload
    assert took < BOUND + MARGIN
