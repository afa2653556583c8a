"""Deferrable means deferred, for every lifecycle operator: with start and stop taking time
(the emulator's ``transition_delay``), each wait of a plan goes to the triggerer and the task
resumes at the next step; with nothing to wait for, nothing defers. Run as Airflow runs them:
``execute()``, each trigger rebuilt from its serialized kwargs and run to its event, the task
resumed with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDeployProcessorOperator,
    AspModifyProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
from asp_core.plans.plan import Step
from asp_core.plans.progress import PlanProgress
from tests.support.airflow import SOURCE, pipeline
from tests.support.operators import arrange, wait_until
from tests.support.tasks import run_deferring

DEFERRABLE: dict[str, Any] = {"poll_interval": 0.1, "timeout": 60, "deferrable": True}
#: Seconds a start or stop takes in the emulator for these tests.
DELAY = 0.5


@pytest.fixture
def slow(workspace: Any) -> Iterator[Any]:
    """The workspace with starts and stops that take :data:`DELAY` seconds."""
    workspace.set_transition_delay(DELAY)
    yield workspace
    workspace.set_transition_delay(0.0)


def running(workspace: Any, client: Any, name: str) -> None:
    """``name`` created and STARTED (once the delayed start took effect)."""
    arrange(client, name, "STARTED")
    wait_until(lambda: workspace.processors()[name] == "STARTED", timeout=30)


def targets(deferrals: list[Any]) -> list[list[str]]:
    """What each deferral waited for."""
    found = []
    for deferral in deferrals:
        assert isinstance(deferral.trigger, AspProcessorStateTrigger)
        found.append(deferral.trigger.serialize()[1]["target_states"])
    return found


def test_start_and_stop_defer_when_the_state_takes_time(slow, client, name):
    arrange(client, name)
    info, deferrals = run_deferring(
        AspStartProcessorOperator(task_id="s", processor_name=name, **DEFERRABLE)
    )
    assert info["state"] == "STARTED"
    assert targets(deferrals) == [["STARTED"]]
    info, deferrals = run_deferring(
        AspStopProcessorOperator(task_id="t", processor_name=name, **DEFERRABLE)
    )
    assert info["state"] == "STOPPED"
    assert targets(deferrals) == [["STOPPED"]]


def test_deploy_of_a_change_defers_at_the_stop_and_at_the_start(slow, client, name):
    running(slow, client, name)
    changed = [*pipeline(source=SOURCE)[:1], {"$match": {"x": 1}}, *pipeline(source=SOURCE)[1:]]
    op = AspDeployProcessorOperator(
        task_id="d", processor_name=name, pipeline=changed, **DEFERRABLE
    )
    result, deferrals = run_deferring(op)
    assert result == {
        "processor_name": name,
        "actions": ["stop", "modify", "start"],
        "changed": ["pipeline"],
        "state": "STARTED",
    }
    assert targets(deferrals) == [["STOPPED"], ["STARTED"]]
    assert slow.processor(name)["pipeline"] == changed


def test_modify_with_restart_defers_and_resumes_at_the_next_step(slow, client, name):
    running(slow, client, name)
    op = AspModifyProcessorOperator(task_id="m", processor_name=name, tier="SP30", **DEFERRABLE)
    info, deferrals = run_deferring(op)
    assert (info["state"], info["tier"]) == ("STARTED", "SP30")
    assert targets(deferrals) == [["STOPPED"], ["STARTED"]]


def test_modify_rename_resumes_with_the_new_name(slow, client, name):
    running(slow, client, name)
    op = AspModifyProcessorOperator(
        task_id="m", processor_name=name, new_name=f"{name}_v2", **DEFERRABLE
    )
    info, deferrals = run_deferring(op)
    assert (info["name"], info["state"]) == (f"{name}_v2", "STARTED")
    assert [d.trigger.processor_name for d in deferrals] == [name, f"{name}_v2"]
    assert name not in slow.processors()


def test_create_replace_defers_at_the_stop_then_drops_and_creates(slow, client, name):
    running(slow, client, name)
    op = AspCreateProcessorOperator(
        task_id="c", processor_name=name, pipeline=pipeline({"a": 1}), if_exists="replace",
        **DEFERRABLE,
    )  # fmt: skip
    info, deferrals = run_deferring(op)
    assert (info["state"], info["pipeline"]) == ("CREATED", pipeline({"a": 1}))
    assert targets(deferrals) == [["STOPPED"]]
    assert list(slow.processors()).count(name) == 1


def test_nothing_to_wait_for_never_defers(slow, client, name):
    arrange(client, name, "STOPPED")
    op = AspDeployProcessorOperator(
        task_id="d", processor_name=name, pipeline=pipeline(source=SOURCE),
        desired_state="STOPPED", **DEFERRABLE,
    )  # fmt: skip
    result, deferrals = run_deferring(op)
    assert (result["actions"], deferrals) == ([], [])
    create = AspCreateProcessorOperator(
        task_id="c", processor_name=f"{name}_new", pipeline=pipeline({"a": 1}), **DEFERRABLE
    )
    info, deferrals = run_deferring(create)
    assert (info["state"], deferrals) == ("CREATED", [])


def test_the_progress_travels_once_in_the_event_as_dag_test_hands_it(slow, client, name):
    """``dag.test()`` resumes a task with ``{"event": payload}`` only: the deferral has no
    kwargs, and the plan's progress travels in the trigger's event alone."""
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from tests.support.tasks import only_event, rebuilt

    running(slow, client, name)
    op = AspModifyProcessorOperator(task_id="m", processor_name=name, tier="SP50", **DEFERRABLE)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert not deferred.value.kwargs
    event = asyncio.run(only_event(rebuilt(deferred.value.trigger)))
    progress = PlanProgress.from_json(event.payload["resume"])
    assert (progress.name, progress.remaining) == (name, (Step.MODIFY, Step.START))
    with pytest.raises(TaskDeferred) as again:  # resumed at the modify, then the start waits
        op.resume_execution(deferred.value.method_name, {"event": event.payload}, {})
    event = asyncio.run(only_event(rebuilt(again.value.trigger)))
    info = op.resume_execution(again.value.method_name, {"event": event.payload}, {})
    assert (info["state"], info["tier"]) == ("STARTED", "SP50")


PLANS_DAG = """
from tests.support.airflow import SOURCE, pipeline

WAITS = dict(poll_interval=0.1, timeout=60, deferrable=True)
with DAG("{dag_id}", schedule=None, start_date=START) as dag:
    replace = AspCreateProcessorOperator(
        task_id="replace", processor_name="%(name)s_r", pipeline=pipeline({"a": 1}),
        if_exists="replace", **WAITS,
    )
    modify = AspModifyProcessorOperator(
        task_id="modify", processor_name="%(name)s_m", tier="SP30", **WAITS
    )
    deploy = AspDeployProcessorOperator(
        task_id="deploy", processor_name="%(name)s_d",
        pipeline=[*pipeline(source=SOURCE)[:1], {"$match": {"x": 1}}, *pipeline(source=SOURCE)[1:]],
        **WAITS,
    )
    replace >> modify >> deploy
"""


def test_deferred_plans_resume_under_dag_test(slow, client, name, run_dag, caplog):
    """Under ``dag.test()`` (triggers run inline, each task resumed with the event alone) a
    replace, a modify with restart and a deploy each defer and resume to the end."""
    for suffix in ("r", "m", "d"):
        running(slow, client, f"{name}_{suffix}")
    with caplog.at_level("INFO", logger="airflow.sdk.definitions.dag"):
        result = run_dag(PLANS_DAG % {"name": name})
    assert result.states == {"replace": "success", "modify": "success", "deploy": "success"}
    inline = [r for r in caplog.records if "running trigger in line" in r.getMessage()]
    assert len(inline) == 5  # replace: the stop; modify and deploy: the stop and the start
    modified = slow.processor(f"{name}_m")
    assert (slow.processors()[f"{name}_m"], modified["tier"]) == ("STARTED", "SP30")
    deploy = result.xcoms[("deploy", "return_value")]
    deploy = json.loads(deploy) if isinstance(deploy, str) else deploy
    assert deploy["actions"] == ["stop", "modify", "start"]
    assert deploy["state"] == "STARTED"
    assert slow.processor(f"{name}_r")["pipeline"] == pipeline({"a": 1})
