"""The three sensors in poke and deferrable mode (``execute()``; on deferral the real
trigger runs to its event and the sensor resumes), against the emulator: the condition
reached mid-wait, FAILED or dropped mid-wait, timeouts, transient faults and dropped
connections, bad arguments. Reschedule mode runs through ``dag.test()`` in test_parity."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_asp.sensors.asp import (
    AspProcessorSampleSensor,
    AspProcessorStateSensor,
    AspProcessorStatsSensor,
)
from asp_core.errors import (
    AspDlqLimitError,
    AspInputError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
)
from asp_core.stream_processing import CreateStreamProcessorOptions
from tests.support.airflow import pipeline
from tests.support.operators import arrange
from tests.support.tasks import FAST, MODES, in_mode, run_task

GET, STATS = "getStreamProcessor", "getStreamProcessorStats"
GET_MORE = "getMoreSampleStreamProcessor"


def fed(workspace, client, name, state="STARTED", stages=None):
    """A processor in ``state`` reading a connection of its own; returns the connection."""
    feed = f"feed_{name}"
    workspace.add_connection(feed)
    arrange(client, name, state, stages=stages or pipeline(source=feed))
    return feed


@dataclass
class Kind:
    """A sensor pending on a STARTED processor, the action that satisfies it, and the
    commands it looks with."""

    make: Callable[..., Any]
    reach: Callable[[Any, Any, str, str], None]
    commands: tuple[str, ...]


def _stop(workspace, client, name, feed):
    client.stream_processors().get(name).stop()


def _feed_hit(workspace, client, name, feed):
    workspace.feed(feed, [{"hit": 0}, {"hit": 1}])


KINDS = {
    "state": Kind(
        lambda name, **kw: AspProcessorStateSensor(
            task_id="w", processor_name=name, target_states=["STOPPED"], **kw
        ),
        _stop,
        (GET,),
    ),
    "sample": Kind(
        lambda name, **kw: AspProcessorSampleSensor(
            task_id="w", processor_name=name, match={"hit": 1}, sample_timeout=0.2, **kw
        ),
        _feed_hit,
        (GET, GET_MORE),
    ),
    "stats": Kind(
        lambda name, **kw: AspProcessorStatsSensor(
            task_id="w",
            processor_name=name,
            min_output_messages=2,
            check_fn="tests.support.checks.has_output",
            **kw,
        ),
        _feed_hit,
        (STATS,),
    ),
}


# -- every sensor, both modes ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_condition_met_mid_wait_despite_transient_errors_and_dropped_connections(
    faults, client, name, looks, kind, mode
):
    spec = KINDS[kind]
    feed = fed(faults, client, name)
    armed = []

    def trouble_then_reach():
        for command in spec.commands:
            armed.append(faults.inject_fault(command, times=3, code=6, error_labels=["Retry"]))
            armed.append(faults.inject_fault(command, times=2, close_connection=True))
        spec.reach(faults, client, name, feed)

    looks.at(name, 2, trouble_then_reach)
    result = run_task(spec.make(name, **in_mode(mode)), defers=mode == "deferrable")
    assert [fault.hits for fault in armed] == [fault.times for fault in armed]
    if kind == "state":
        assert result["state"] == "STOPPED"
    elif kind == "sample":
        assert result == [{"hit": 1}]
    else:
        assert result["outputMessageCount"] == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_processor_failing_mid_wait_fails_the_task_at_once(
    workspace, client, name, looks, kind, mode
):
    fed(workspace, client, name)
    looks.at(
        name, 2, lambda: workspace.fail_processor(name, "sink unreachable", 4242, retryable=True)
    )
    sensor = KINDS[kind].make(name, deferrable=mode == "deferrable", poke_interval=0.05, timeout=30)
    started = time.monotonic()
    with pytest.raises(AspProcessorFailedFatalError, match="sink unreachable") as failed:
        run_task(sensor, defers=mode == "deferrable")
    assert time.monotonic() - started < 5
    assert isinstance(failed.value, AirflowFailException)  # no retries, even if "retryable"
    assert (failed.value.error_msg, failed.value.error_code) == ("sink unreachable", 4242)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_processor_dropped_mid_wait_fails_the_task(workspace, client, name, looks, kind, mode):
    fed(workspace, client, name)
    looks.at(name, 2, lambda: client.stream_processors().get(name).drop())
    with pytest.raises(AspProcessorNotFoundError, match=name):
        run_task(
            KINDS[kind].make(name, deferrable=mode == "deferrable", poke_interval=0.05),
            defers=mode == "deferrable",
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_condition_never_met_times_out(workspace, client, name, kind, mode):
    fed(workspace, client, name)
    sensor = KINDS[kind].make(
        name, deferrable=mode == "deferrable", poke_interval=0.05, timeout=0.6
    )
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        run_task(sensor, defers=mode == "deferrable")
    assert 0.6 <= time.monotonic() - started < 4


# -- what each sensor adds -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_state_sensor_waits_for_running_and_returns_the_info(client, name, looks, mode):
    arrange(client, name)
    looks.at(name, 2, lambda: client.stream_processors().get(name).start())
    sensor = AspProcessorStateSensor(
        task_id="w", processor_name=name, target_states="running", **in_mode(mode)
    )
    info = run_task(sensor, defers=mode == "deferrable")
    assert (info["name"], info["state"]) == (name, "STARTED")


@pytest.mark.parametrize("mode", MODES)
def test_state_sensor_missing_ok_waits_for_the_processor_to_appear(client, name, looks, mode):
    looks.at(name, 2, lambda: arrange(client, name, "STARTED"))
    sensor = AspProcessorStateSensor(
        task_id="w", processor_name=name, missing_ok=True, **in_mode(mode)
    )
    assert run_task(sensor, defers=mode == "deferrable")["state"] == "STARTED"


@pytest.mark.parametrize("mode", MODES)
def test_state_sensor_custom_failure_state(client, name, mode):
    arrange(client, name, "STOPPED")
    sensor = AspProcessorStateSensor(
        task_id="w", processor_name=name, failure_states=["FAILED", "stopped"], **in_mode(mode)
    )
    with pytest.raises(AspProcessorStateError, match="is STOPPED, a failure state"):
        run_task(sensor)


@pytest.mark.parametrize("mode", MODES)
def test_sample_sensor_returns_json_documents_matching_query_and_check_fn(
    workspace, client, name, looks, mode
):
    feed = fed(workspace, client, name)
    at = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    looks.at(name, 2, lambda: workspace.feed(feed, [{"t": 30, "hit": 0}, {"t": 10, "hit": 1}]))
    looks.at(name, 3, lambda: workspace.feed(feed, [{"t": 40, "hit": 1, "at": at}]))
    sensor = AspProcessorSampleSensor(
        task_id="w",
        processor_name=name,
        match='{"t": {"$gte": 25}}',
        check_fn="tests.support.checks.is_hit",
        sample_timeout=0.2,
        **in_mode(mode),
    )
    assert run_task(sensor, defers=mode == "deferrable") == [
        {"t": 40, "hit": 1, "at": "2024-01-01T00:00:00+00:00"}
    ]


@pytest.mark.parametrize("mode", MODES)
def test_sample_sensor_fails_when_the_processor_leaves_started(client, name, looks, mode):
    arrange(client, name, "STARTED")
    looks.at(name, 2, lambda: client.stream_processors().get(name).stop())
    sensor = AspProcessorSampleSensor(
        task_id="w", processor_name=name, min_documents=5, sample_timeout=0.2, **in_mode(mode)
    )
    with pytest.raises(AspProcessorStateError, match="is STOPPED: sampling needs it STARTED"):
        run_task(sensor, defers=mode == "deferrable")


def test_sample_sensor_defers_after_a_quick_first_look(client, name):
    arrange(client, name, "STARTED")
    sensor = AspProcessorSampleSensor(
        task_id="w", processor_name=name, sample_timeout=30, deferrable=True, timeout=60
    )
    started = time.monotonic()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert time.monotonic() - started < 3  # the worker does not hold the 30 s window
    assert deferred.value.trigger.serialize()[1]["sample_timeout"] == 30


def test_sample_sensor_takes_a_callable_check_fn_in_poke_mode(workspace, client, name):
    feed = fed(workspace, client, name)
    workspace.feed(feed, [{"n": 1}, {"n": 2}, {"n": 3}])
    sensor = AspProcessorSampleSensor(
        task_id="w", processor_name=name, min_documents=2, check_fn=lambda d: d["n"] > 1, **FAST
    )
    assert run_task(sensor) == [{"n": 2}, {"n": 3}]


@pytest.mark.parametrize("mode", MODES)
def test_stats_sensor_fails_past_max_dlq_messages(workspace, client, name, looks, mode):
    feed = f"feed_{name}"
    workspace.add_connection(feed)
    dlq = {"connectionName": "__testLog", "db": "dead", "coll": name}
    stages = [
        {"$source": {"connectionName": feed}},
        {"$validate": {"validator": {"t": {"$type": "number"}}, "validationAction": "dlq"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    client.stream_processors().create(name, stages, CreateStreamProcessorOptions(dlq=dlq))
    client.stream_processors().get(name).start()
    looks.at(name, 2, lambda: workspace.feed(feed, [{"t": 1}, {"t": "hot"}]))
    sensor = AspProcessorStatsSensor(
        task_id="w",
        processor_name=name,
        min_output_messages=99,
        max_dlq_messages=0,
        **in_mode(mode),
    )
    with pytest.raises(AspDlqLimitError, match=r"1 message.*more than max_dlq_messages=0"):
        run_task(sensor, defers=mode == "deferrable")


# -- arguments are checked in execute(), before any command ----------------------------------

STATE, SAMPLE, STATS_ = AspProcessorStateSensor, AspProcessorSampleSensor, AspProcessorStatsSensor


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (STATE, {"processor_name": " "}, "processor_name must be a non-empty string"),
        (STATE, {"target_states": []}, "target_states must be a state or a list"),
        (STATE, {"target_states": [5]}, "target_states must be a state or a list"),
        (STATE, {"target_states": ["FAILED"]}, "FAILED cannot be both a target and a failure"),
        (STATE, {"failure_states": "running"}, "STARTED cannot be both"),
        (STATE, {"deferrable": True, "poke_interval": 0}, "poll_interval must be a positive"),
        (SAMPLE, {"min_documents": 0}, "min_documents must be a positive integer"),
        (SAMPLE, {"min_documents": 5, "limit": 2}, r"limit \(2\) must be at least"),
        (SAMPLE, {"match": "{oops"}, "match is not valid JSON"),
        (SAMPLE, {"match": {"a": {"$near": 1}}}, "match is not a valid query"),
        (SAMPLE, {"match": ["a"]}, "match must be a document"),
        (SAMPLE, {"check_fn": "no_such_module.fn"}, "cannot be imported"),
        (SAMPLE, {"check_fn": 5}, "must be a callable or a dotted path"),
        (SAMPLE, {"check_fn": lambda d: True, "deferrable": True}, "cannot travel to the trigg"),
        (SAMPLE, {"sample_timeout": -1}, "sample_timeout must be a positive number"),
        (STATS_, {}, "Give at least one of"),
        (STATS_, {"min_output_messages": -1}, "min_output_messages must be a non-negative"),
        (STATS_, {"max_dlq_messages": True}, "max_dlq_messages must be a non-negative"),
    ],
)
def test_bad_arguments_fail_in_execute_before_any_command(name, looks, cls, kwargs, message):
    sensor = cls(task_id="w", **{"processor_name": name, **kwargs})  # parse time: accepted
    with pytest.raises(AspInputError, match=message):
        sensor.execute({})
    assert looks.counts[name] == 0


# -- the same, through real Airflow: dag.test(), reschedule mode included ---------------------

KIND_ARGUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "state": ("AspProcessorStateSensor", {"target_states": ["STOPPED"]}),
    "sample": ("AspProcessorSampleSensor", {"match": {"hit": 1}, "sample_timeout": 0.2}),
    "stats": (
        "AspProcessorStatsSensor",
        {"min_output_messages": 2, "check_fn": "tests.support.checks.has_output"},
    ),
}
DAG_MODES: dict[str, dict[str, Any]] = {
    "poke": {},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
}
MID_WAIT_DAG = """
import json
from airflow_provider_asp.sensors import asp as sensors

TASKS = json.loads({tasks!r})

with DAG("{{dag_id}}", schedule=None, start_date=START, catchup=False) as dag:
    for task_id, (cls, kwargs) in TASKS.items():
        getattr(sensors, cls)(
            task_id=task_id, processor_name=task_id, poke_interval=0.1, timeout=60, **kwargs
        )
"""


def test_every_sensor_in_every_mode_under_dag_test(faults, client, looks, run_dag):
    """Reached despite faults, FAILED mid-wait, dropped mid-wait: 3 sensors x 3 modes."""
    tasks: dict[str, Any] = {}
    armed: list[Any] = []
    for kind, (cls, kwargs) in KIND_ARGUMENTS.items():
        spec = KINDS[kind]
        for mode, extra in DAG_MODES.items():
            for scenario in ("reached", "failed", "dropped"):
                name = f"{kind}_{scenario}_{mode}"
                tasks[name] = (cls, {**kwargs, **extra})
                feed = fed(faults, client, name)

                def act(scenario=scenario, name=name, feed=feed, spec=spec):
                    if scenario == "failed":
                        faults.fail_processor(name, "mid-wait failure", 77)
                    elif scenario == "dropped":
                        client.stream_processors().get(name).drop()
                    else:
                        for command in spec.commands:
                            armed.append(faults.inject_fault(command, code=6, error_labels=["R"]))
                            armed.append(faults.inject_fault(command, close_connection=True))
                        spec.reach(faults, client, name, feed)

                looks.at(name, 2, act)
    result = run_dag(MID_WAIT_DAG.format(tasks=json.dumps(tasks)))
    expected = {name: "failed" if "_reached_" not in name else "success" for name in tasks}
    assert result.states == expected
    assert all(fault.hits == fault.times for fault in armed)
    for mode in DAG_MODES:
        sample = result.xcoms[(f"sample_reached_{mode}", "return_value")]
        assert (json.loads(sample) if isinstance(sample, str) else sample) == [{"hit": 1}]
