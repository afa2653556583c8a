"""The start and stop operators' deferrable mode: look, act, read once, and defer only if
the state is not reached yet; the state trigger's event resumes them into the same result
or error as the wait in the worker.

The emulator reaches STARTED and STOPPED at once, so a read that finds the state pending
is staged for real: once the action's reply arrives, the next ``getStreamProcessor`` is
held back by the emulator (a delay fault) while another client moves the processor."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from pymongo import monitoring

from airflow_provider_asp.hooks.asp import AspHook
from airflow_provider_asp.operators.asp import (
    AspDeployProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
from asp_core.errors import (
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspWaitTimeoutError,
    Unretryable,
)
from asp_emulator.monitoring import DRIVER_COMMANDS
from tests.support.airflow import SOURCE, pipeline
from tests.support.operators import arrange
from tests.support.tasks import only_event, rebuilt, run_task

GET, START, STOP = "getStreamProcessor", "startStreamProcessor", "stopStreamProcessor"
FAST: dict[str, Any] = {"poll_interval": 0.05, "timeout": 5, "deferrable": True}


class AfterReply(monitoring.CommandListener):
    """Once ``command`` has succeeded: hold the next getStreamProcessor back for 0.5 s
    in the emulator while ``meanwhile`` runs on another client."""

    def __init__(self, workspace: Any, command: str, meanwhile: Callable[[], Any]) -> None:
        self.workspace, self.command, self.meanwhile = workspace, command, meanwhile
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in DRIVER_COMMANDS:
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == self.command:
            self.workspace.inject_fault(GET, delay=0.5)
            threading.Timer(0.1, self.meanwhile).start()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def staged(operator: Any, listener: AfterReply) -> Any:
    operator.hook = AspHook(operator.asp_conn_id, event_listeners=[listener])
    return operator


def deferred_by(operator: Any) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    return deferred.value


def resumed(operator: Any, deferral: TaskDeferred, payload: Any) -> Any:
    """Resume ``operator`` after ``deferral`` with the event ``payload`` (as the task runner)."""
    kwargs = {**(deferral.kwargs or {}), "event": payload}
    return operator.resume_execution(deferral.method_name, kwargs, {})


def test_start_defers_when_started_is_not_reached_yet(faults, client, name):
    arrange(client, name)
    listener = AfterReply(faults, START, lambda: client.stream_processors().get(name).stop())
    op = staged(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST), listener)
    started = time.monotonic()
    deferral = deferred_by(op)
    assert listener.commands[:3] == [GET, START, GET]  # looked, acted, read once: no wait
    trigger = deferral.trigger
    assert isinstance(trigger, AspProcessorStateTrigger)
    kwargs = trigger.serialize()[1]
    assert (kwargs["target_states"], kwargs["cancel_on_kill"], kwargs["started_by_task"]) == (
        ["STARTED"],
        True,
        True,
    )
    assert deferral.timeout is not None
    assert deferral.timeout.total_seconds() == pytest.approx(65, abs=1)
    assert trigger.end_time - time.time() == pytest.approx(5 - (time.monotonic() - started), abs=1)
    client.stream_processors().get(name).start()
    event = asyncio.run(only_event(rebuilt(trigger)))
    info = resumed(op, deferral, event.payload)
    assert (info["name"], info["state"]) == (name, "STARTED")
    assert op.atlas_ui_url == "https://cloud.mongodb.com/v2/proj0123#/streamProcessing/ws-test"


def test_a_processor_failing_before_the_deferral_fails_the_task_without_deferring(
    faults, client, name
):
    arrange(client, name, "STOPPED")
    listener = AfterReply(faults, START, lambda: faults.fail_processor(name, "bad sink", 31))
    op = staged(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST), listener)
    with pytest.raises(AspProcessorFailedFatalError, match="bad sink"):
        op.execute({})  # raises, not TaskDeferred


def test_start_without_anything_to_wait_for_does_not_defer(client, name):
    arrange(client, name)
    op = AspStartProcessorOperator(task_id="s", processor_name=name, **FAST)
    assert run_task(op, defers=False)["state"] == "STARTED"
    assert run_task(op, defers=False)["state"] == "STARTED"  # already running


def test_stop_defers_until_stopped(faults, client, name):
    arrange(client, name, "STARTED")
    listener = AfterReply(faults, STOP, lambda: client.stream_processors().get(name).start())
    op = staged(AspStopProcessorOperator(task_id="t", processor_name=name, **FAST), listener)
    deferral = deferred_by(op)
    kwargs = deferral.trigger.serialize()[1]
    assert (kwargs["target_states"], kwargs["cancel_on_kill"]) == (["STOPPED"], False)
    client.stream_processors().get(name).stop()
    event = asyncio.run(only_event(rebuilt(deferral.trigger)))
    assert resumed(op, deferral, event.payload)["state"] == "STOPPED"


def test_a_deferred_wait_times_out_as_the_wait_in_the_worker(faults, client, name):
    arrange(client, name)
    listener = AfterReply(faults, START, lambda: client.stream_processors().get(name).stop())
    op = AspStartProcessorOperator(task_id="s", processor_name=name, **{**FAST, "timeout": 1})
    deferral = deferred_by(staged(op, listener))
    event = asyncio.run(only_event(rebuilt(deferral.trigger)))
    with pytest.raises(AspWaitTimeoutError, match="STOPPED; waiting for STARTED"):
        resumed(op, deferral, event.payload)


def event(status: str, reason: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "processor_name": "p", "reason": reason, "message": "m", **fields}


FAILED = {"error_msg": "sink down", "error_code": 7}


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (
            event("failed", "processor_failed", **FAILED, error_retryable=True),
            AspProcessorFailedError,
            "sink",
        ),
        (event("failed", "processor_failed", **FAILED), AspProcessorFailedFatalError, "sink down"),
        (event("failed", "missing"), AspProcessorNotFoundError, "'p' does not exist"),
        (event("timeout", "timeout", message="late"), AspWaitTimeoutError, "late"),
        (event("error", "error", message="boom"), RuntimeError, "boom"),
        ({"status": "success", "surprise": 1}, RuntimeError, "Unexpected trigger event"),
        ({"status": "weird"}, RuntimeError, "Unexpected trigger event"),
        (None, RuntimeError, "Unexpected trigger event"),
    ],
)
def test_resume_raises_on_every_non_success_event(payload, error, message):
    op = AspStartProcessorOperator(task_id="s", processor_name="p", **FAST)
    with pytest.raises(error, match=message) as raised:
        op.resume({}, event=payload)
    # retryable stays retryable (same as the sync wait); unretryable fails the task at once
    assert isinstance(raised.value, AirflowFailException) == issubclass(error, Unretryable)


def test_deploy_with_nothing_to_wait_for_does_not_defer(client, name, capfd):
    op = AspDeployProcessorOperator(
        task_id="d", processor_name=name, pipeline=pipeline(source=SOURCE), **FAST
    )
    assert run_task(op, defers=False)["state"] == "STARTED"  # started at once: no deferral
    assert "Deferring" not in capfd.readouterr().out
