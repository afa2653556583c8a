"""Uncertain outcomes are resolved by looking, never by guessing: for start, stop, create with
``if_exists="replace"``, modify and deploy, a reply lost after the effect, a reply too late
for the socket timeout, a connection dropped before the effect and a retryable error, during
the act or during the wait, in the worker and deferred (starts and stops take time there, so
the waits really go to the triggerer). Each ends as documented: the operator succeeds, the
processor is there once with what was asked for, and nothing the task started is left
running behind a failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDeployProcessorOperator,
    AspModifyProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from asp_core.errors import AspUncertainOutcomeError
from tests.support.airflow import SOURCE, connection_json, pipeline
from tests.support.operators import arrange, run, wait_until
from tests.support.tasks import run_deferring

GET = "getStreamProcessor"
#: The connection's socket timeout (ms) and a reply later than it (s).
SOCKET_MS, LATE = 400, 1.0
CHANGED = [*pipeline(source=SOURCE)[:1], {"$match": {"x": 1}}, *pipeline(source=SOURCE)[1:]]


@dataclass(frozen=True)
class Scenario:
    """An operator, the processor it starts from, the command a fault hits, and what the
    processor must be afterwards."""

    arrange: str  # CREATED or STARTED
    command: str
    build: Callable[[str, dict[str, Any]], Any]
    state: str
    check: Callable[[dict[str, Any]], bool] = lambda info: True


SCENARIOS = {
    "start": Scenario(
        "CREATED",
        "startStreamProcessor",
        lambda name, kw: AspStartProcessorOperator(task_id="t", processor_name=name, **kw),
        "STARTED",
    ),
    "stop": Scenario(
        "STARTED",
        "stopStreamProcessor",
        lambda name, kw: AspStopProcessorOperator(task_id="t", processor_name=name, **kw),
        "STOPPED",
    ),
    "create_replace": Scenario(
        "STARTED",
        "createStreamProcessor",
        lambda name, kw: AspCreateProcessorOperator(
            task_id="t", processor_name=name, pipeline=CHANGED, if_exists="replace", **kw
        ),
        "CREATED",
        lambda info: info["pipeline"] == CHANGED,
    ),
    "create_replace_drop": Scenario(
        "STARTED",
        "dropStreamProcessor",
        lambda name, kw: AspCreateProcessorOperator(
            task_id="t", processor_name=name, pipeline=CHANGED, if_exists="replace", **kw
        ),
        "CREATED",
        lambda info: info["pipeline"] == CHANGED,
    ),
    "modify": Scenario(
        "STARTED",
        "modifyStreamProcessor",
        lambda name, kw: AspModifyProcessorOperator(
            task_id="t", processor_name=name, tier="SP30", **kw
        ),
        "STARTED",
        lambda info: info["tier"] == "SP30",
    ),
    "deploy": Scenario(
        "STARTED",
        "modifyStreamProcessor",
        lambda name, kw: AspDeployProcessorOperator(
            task_id="t", processor_name=name, pipeline=CHANGED, **kw
        ),
        "STARTED",
        lambda info: info["pipeline"] == CHANGED,
    ),
    "deploy_restart": Scenario(
        "STARTED",
        "startStreamProcessor",
        lambda name, kw: AspDeployProcessorOperator(
            task_id="t", processor_name=name, pipeline=CHANGED, **kw
        ),
        "STARTED",
        lambda info: info["pipeline"] == CHANGED,
    ),
}

#: Faults on the act: (inject_fault keyword arguments).
ACT_FAULTS: dict[str, dict[str, Any]] = {
    "reply_lost_after_the_effect": {"close_connection": True, "after_effect": True},
    "reply_late_after_the_effect": {"delay": LATE, "after_effect": True},
    "dropped_before_the_effect": {"close_connection": True},
    "retryable_error": {"code": 91, "error_labels": ("RetryableWriteError",)},
}


@pytest.fixture
def fast_conn(workspace: Any, add_connection: Callable[[str, str], str]) -> str:
    return add_connection(
        "asp_lossy", connection_json(workspace, extra={"socket_timeout_ms": SOCKET_MS})
    )


@pytest.fixture(params=["worker", "deferred"])
def mode(request: pytest.FixtureRequest, workspace: Any) -> Iterator[str]:
    """In the worker, or deferred with starts and stops that take 0.5 s (so they defer)."""
    if request.param == "deferred":
        workspace.set_transition_delay(0.5)
    yield request.param
    workspace.set_transition_delay(0.0)
    workspace.clear_faults()


def prepare(workspace: Any, client: Any, name: str, state: str) -> None:
    arrange(client, name, state)
    wait_until(lambda: workspace.processors().get(name) == state, timeout=30)


def execute(op: Any, mode: str) -> Any:
    if mode == "worker":
        return run(op)
    result, _ = run_deferring(op)
    return result


def kwargs(conn_id: str, mode: str) -> dict[str, Any]:
    return {
        "asp_conn_id": conn_id,
        "poll_interval": 0.1,
        "timeout": 60,
        "deferrable": mode == "deferred",
    }


@pytest.mark.parametrize("fault", ACT_FAULTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_fault_on_the_act_is_resolved_by_looking(
    workspace, client, name, fast_conn, mode, scenario, fault
):
    spec = SCENARIOS[scenario]
    prepare(workspace, client, name, spec.arrange)
    sent_before = workspace.command_counts().get(spec.command, 0)
    workspace.inject_fault(spec.command, **ACT_FAULTS[fault])
    result = execute(spec.build(name, kwargs(fast_conn, mode)), mode)
    wait_until(lambda: workspace.processors().get(name) == spec.state, timeout=30)
    info = workspace.processor(name)
    assert spec.check(info), info
    assert list(workspace.processors()).count(name) == 1
    sends = workspace.command_counts().get(spec.command, 0) - sent_before
    assert 1 <= sends <= 2  # the first send, and at most one more after a look
    assert result is not None


@pytest.mark.parametrize("scenario", ["start", "stop", "modify", "deploy"])
def test_a_fault_during_the_wait_costs_a_look(workspace, client, name, fast_conn, mode, scenario):
    spec = SCENARIOS[scenario]
    prepare(workspace, client, name, spec.arrange)
    workspace.inject_fault(GET, times=3, close_connection=True)
    execute(spec.build(name, kwargs(fast_conn, mode)), mode)
    assert workspace.processors()[name] == spec.state
    assert spec.check(workspace.processor(name))


def test_a_start_that_never_gets_an_answer_says_it_may_have_started(
    workspace, client, name, fast_conn
):
    prepare(workspace, client, name, "CREATED")
    workspace.inject_fault(
        "startStreamProcessor", times=-1, code=91, error_labels=("RetryableWriteError",)
    )
    op = SCENARIOS["start"].build(name, kwargs(fast_conn, "worker"))
    try:
        with pytest.raises(AspUncertainOutcomeError) as raised:
            run(op)
    finally:
        workspace.clear_faults()
    message = str(raised.value)
    assert "startStreamProcessor of stream processor" in message
    assert "last known state is CREATED" in message
    assert "It may still take effect" in message
    assert workspace.processors()[name] == "CREATED"  # nothing left running
