"""Same inputs, same outcome, in every mode: one table of scenarios run (1) directly, poke
against the trigger's event resumed through ``resume_execution``, and (2) as one DAG of
scenario x {poke, reschedule, deferrable} tasks under ``dag.test()``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_provider_asp.sensors import asp as sensors
from asp_core.stream_processing import CreateStreamProcessorOptions
from tests.support.airflow import pipeline
from tests.support.operators import arrange, wait_until
from tests.support.tasks import only_event, rebuilt


def _started(ws, client, name):
    arrange(client, name, "STARTED")


def _created(ws, client, name):
    arrange(client, name)


def _stopped(ws, client, name):
    arrange(client, name, "STOPPED")


def _failed(ws, client, name):
    arrange(client, name, "STARTED")
    ws.fail_processor(name, "parity failure", 99)
    wait_until(lambda: ws.processors()[name] == "FAILED")


def _with_output(ws, client, name):
    feed = f"feed_{name}"
    ws.add_connection(feed)
    arrange(client, name, "STARTED", stages=pipeline(source=feed))
    ws.feed(feed, [{"v": 1}, {"v": 2}, {"v": 3}])
    wait_until(lambda: ws.stats(name)["outputMessageCount"] == 3)


def _dead_lettered(ws, client, name):
    feed = f"feed_{name}"
    ws.add_connection(feed)
    stages = [
        {"$source": {"connectionName": feed}},
        {"$validate": {"validator": {"v": {"$type": "number"}}, "validationAction": "dlq"}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    dlq = {"connectionName": "__testLog", "db": "dead", "coll": name}
    client.stream_processors().create(name, stages, CreateStreamProcessorOptions(dlq=dlq))
    client.stream_processors().get(name).start()
    ws.feed(feed, [{"v": "x"}])
    wait_until(lambda: ws.stats(name)["dlqMessageCount"] == 1)


def _nothing(ws, client, name):
    pass


@dataclass
class Scenario:
    setup: Callable[[Any, Any, str], None]
    sensor: str
    kwargs: dict[str, Any]
    state: str  # the task's final state, in every mode
    value: Callable[[Any], Any] = lambda value: value  # the part of XCom compared
    timeout: float = 30


STATE, SAMPLE, STATS = (
    "AspProcessorStateSensor",
    "AspProcessorSampleSensor",
    "AspProcessorStatsSensor",
)
SCENARIOS = {
    "started": Scenario(
        _started, STATE, {"target_states": "RUNNING"}, "success", lambda v: v["state"]
    ),
    "failed": Scenario(_failed, STATE, {}, "failed"),
    "failed_soft": Scenario(_failed, STATE, {"soft_fail": True}, "skipped"),
    "missing": Scenario(_nothing, STATE, {}, "failed"),
    "timeout": Scenario(_created, STATE, {}, "failed", timeout=0.5),
    "timeout_soft": Scenario(_created, STATE, {"soft_fail": True}, "skipped", timeout=0.5),
    "sample": Scenario(
        _with_output, SAMPLE, {"match": {"v": {"$gte": 2}}, "min_documents": 2}, "success"
    ),
    "sample_stopped": Scenario(_stopped, SAMPLE, {}, "failed"),
    "stats": Scenario(
        _with_output,
        STATS,
        {"min_output_messages": 3, "check_fn": "tests.support.checks.has_output"},
        "success",
        lambda v: (v["inputMessageCount"], v["outputMessageCount"]),
    ),
    "stats_dlq": Scenario(_dead_lettered, STATS, {"max_dlq_messages": 0}, "failed"),
    "bad_arguments": Scenario(_nothing, SAMPLE, {"min_documents": 0}, "failed"),
}
MODES = {"poke": {}, "reschedule": {"mode": "reschedule"}, "deferrable": {"deferrable": True}}


def make(scenario: Scenario, name: str, **mode: Any) -> Any:
    sample = {"sample_timeout": 0.5} if scenario.sensor == SAMPLE else {}
    return getattr(sensors, scenario.sensor)(
        task_id="t",
        processor_name=name,
        poke_interval=0.2,
        timeout=scenario.timeout,
        **scenario.kwargs,
        **sample,
        **mode,
    )


def outcome(run: Callable[[], Any], scenario: Scenario) -> tuple[str, Any]:
    """("value", compared part) or (exception type, message). Timeouts and skips carry
    Airflow's own messages, which differ between its poke loop and its resume path: only
    their type is compared."""
    try:
        return "value", scenario.value(run())
    except (Exception, TaskDeferred) as exc:
        airflows = isinstance(exc, (AirflowSensorTimeout, AirflowSkipException))
        detail = None if airflows else str(exc)
        return type(exc).__name__, detail


def through_trigger(sensor: Any) -> Any:
    """The sensor's trigger (as deferring builds it) run to its event, then resumed."""
    sensor.deferrable = True
    trigger = sensor.trigger(sensor.build_condition(sensor.processor_name))
    event = asyncio.run(only_event(rebuilt(trigger)))
    return sensor.resume_execution("execute_complete", {"event": event.payload}, {})


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "bad_arguments"])
def test_poke_first_look_and_trigger_give_the_same_outcome(workspace, client, name, scenario):
    spec = SCENARIOS[scenario]
    spec.setup(workspace, client, name)
    poke = outcome(lambda: make(spec, name).execute({}), spec)
    deferrable = outcome(lambda: make(spec, name, deferrable=True).execute({}), spec)
    trigger = outcome(lambda: through_trigger(make(spec, name)), spec)
    assert poke == trigger
    if scenario.startswith("timeout"):  # pending at first: it defers instead
        assert deferrable == ("TaskDeferred", str(deferrable[1]))
    else:
        assert deferrable == poke


DAG_BODY = """
from airflow_provider_asp.sensors import asp as sensors

SCENARIOS = json.loads({scenarios!r})
MODES = json.loads({modes!r})

with DAG("{{dag_id}}", schedule=None, start_date=START, catchup=False) as dag:
    for scenario, spec in SCENARIOS.items():
        for mode, extra in MODES.items():
            is_sample = spec["sensor"] == "AspProcessorSampleSensor"
            sample = {{"sample_timeout": 0.5}} if is_sample else {{}}
            getattr(sensors, spec["sensor"])(
                task_id=f"{{scenario}}__{{mode}}",
                processor_name=f"par_{{scenario}}_{{mode}}",
                poke_interval=0.2,
                timeout=spec["timeout"],
                **spec["kwargs"],
                **sample,
                **extra,
            )
"""


def test_every_mode_ends_every_scenario_alike_under_dag_test(workspace, client, run_dag):
    for scenario, spec in SCENARIOS.items():
        for mode in MODES:
            spec.setup(workspace, client, f"par_{scenario}_{mode}")
    table = {
        scenario: {"sensor": spec.sensor, "kwargs": spec.kwargs, "timeout": spec.timeout}
        for scenario, spec in SCENARIOS.items()
    }
    body = DAG_BODY.format(scenarios=json.dumps(table), modes=json.dumps(MODES))
    result = run_dag("import json\n" + body)
    for scenario, spec in SCENARIOS.items():
        states = {mode: result.states[f"{scenario}__{mode}"] for mode in MODES}
        assert set(states.values()) == {spec.state}, (scenario, states)
        if spec.state == "success":
            values = {
                mode: spec.value(_xcom(result.xcoms[(f"{scenario}__{mode}", "return_value")]))
                for mode in MODES
            }
            assert len({json.dumps(v) for v in values.values()}) == 1, (scenario, values)


def _xcom(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else raw
