"""A plan carried out inside a Dagster step: the core's sequence (look, plan, run) with the
resource's client, logged through ``context.log``, bounded by a timeout, and the processor
this run started stopped again if the run is terminated meanwhile (``cancel_on_termination``,
as dagster-airbyte cancels its job)."""

import time
from collections.abc import Callable
from typing import Any, Optional

import dagster as dg

from asp_core import arguments
from asp_core.plans.actions import ProcessorActions
from asp_core.plans.lifecycle import Found, carry_out_plan
from asp_core.plans.plan import Plan
from asp_core.plans.runner import Done, MustWait, PlanRunner, StepInputs
from dagster_asp.errors import dagster_errors
from dagster_asp.resource import AspWorkspace

#: Seconds a deploy, start, stop or drop may take at most, commands and waits together.
DEFAULT_TIMEOUT = 600.0
#: Seconds between two looks while waiting for a state.
DEFAULT_POLL_INTERVAL = 5.0
#: Seconds the stop sent after a termination may take at most.
CANCEL_TIMEOUT = 30.0


def run_plan(
    asp: AspWorkspace,
    log: Any,
    name: str,
    plan_for: Callable[[Found], Plan],
    inputs: StepInputs,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    cancel_on_termination: bool = True,
) -> tuple[ProcessorActions, Done]:
    """Carry out ``plan_for``'s plan for processor ``name`` and wait for its last state,
    all within ``timeout`` seconds; the core's errors as Dagster's
    (:func:`~dagster_asp.errors.dagster_errors`)."""
    settings = asp.settings()
    with dagster_errors(settings, log):
        deadline = time.time() + arguments.seconds(timeout, "timeout")
        actions = ProcessorActions(
            asp.get_client().stream_processors(),
            log,
            deadline=deadline,
            command_timeout=settings.command_timeout,
            poll_interval=arguments.seconds(poll_interval, "poll_interval"),
            where=settings.where,
        )
        runner = PlanRunner(actions, inputs)
        try:
            outcome = carry_out_plan(runner, name, plan_for, deadline)
        except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
            if cancel_on_termination:
                _stop_started(runner, asp, log)
            raise
        if isinstance(outcome, MustWait):  # pragma: no cover - waits are never handed back
            raise AssertionError("the runner handed a wait back")
        return actions, outcome


def _stop_started(runner: PlanRunner, asp: AspWorkspace, log: Any) -> None:
    """Stop the processor this run's plan started, if any (one bounded, repeatable stop)."""
    progress = runner.progress
    name: Optional[str] = None if progress is None else progress.started_processor  # noqa: UP045
    if name is None:
        return
    log.warning("Run terminated: stopping stream processor %r, which this run started.", name)
    settings = asp.settings()
    actions = ProcessorActions(
        asp.get_client().stream_processors(),
        log,
        deadline=time.time() + CANCEL_TIMEOUT,
        command_timeout=settings.command_timeout,
    )
    try:
        actions.stop(name)
    except Exception as exc:
        log.warning("Could not stop stream processor %r: %s", name, settings.scrub(str(exc)))
