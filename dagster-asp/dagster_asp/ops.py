"""Ops that start, stop and drop a processor, for jobs that manage processors outside
assets (each takes an optional ``after`` input to be ordered after another op). Each is
the core's plan for its verb, the same as the Airflow start, stop and drop
operators, with a bounded wait; errors no retry can fix fail the op without retries."""

from typing import Any

import dagster as dg

from asp_core import arguments
from asp_core.plans.lifecycle import deployed, plan_drop, plan_start, plan_stop
from asp_core.plans.runner import StepInputs
from dagster_asp.deploy import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, run_plan
from dagster_asp.errors import dagster_errors
from dagster_asp.resource import AspWorkspace


class AspProcessorOpConfig(dg.Config):
    """Which processor, and how long the op may take (seconds, commands and waits)."""

    processor_name: str
    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL


class AspStartOpConfig(AspProcessorOpConfig):
    """``cancel_on_termination``: stop the processor this op started if the run is
    terminated while waiting."""

    cancel_on_termination: bool = True


class AspMissingOkOpConfig(AspProcessorOpConfig):
    """``missing_ok``: a missing processor is success."""

    missing_ok: bool = False


class AspDropOpConfig(AspProcessorOpConfig):
    """``missing_ok``: a missing processor is success (the default)."""

    missing_ok: bool = True


#: Every op may wait for others: ``asp_drop_processor_op(asp_stop_processor_op())``.
_AFTER = {"after": dg.In(dg.Nothing, description="Run after this op (no value).")}


def _name(context: dg.OpExecutionContext, config: AspProcessorOpConfig) -> str:
    with dagster_errors(log=context.log):
        return arguments.processor_name(config.processor_name)


@dg.op(ins=_AFTER)
def asp_start_processor_op(
    context: dg.OpExecutionContext, config: AspStartOpConfig, asp: AspWorkspace
) -> dict[str, Any]:
    """Start the processor and wait until it is STARTED; returns its info (plain JSON).
    Already running: nothing is sent. FAILED fails at once with the server's words."""
    actions, done = run_plan(
        asp,
        context.log,
        _name(context, config),
        plan_start,
        StepInputs(),
        timeout=config.timeout,
        poll_interval=config.poll_interval,
        cancel_on_termination=config.cancel_on_termination,
    )
    with dagster_errors(asp.settings(), context.log):
        return deployed(actions, done).info


@dg.op(ins=_AFTER)
def asp_stop_processor_op(
    context: dg.OpExecutionContext, config: AspMissingOkOpConfig, asp: AspWorkspace
) -> dict[str, Any]:
    """Stop the processor and wait until it is STOPPED; returns its info (plain JSON;
    ``{}`` when missing and ``missing_ok``). Not running: nothing is sent."""
    actions, done = run_plan(
        asp,
        context.log,
        _name(context, config),
        lambda found: plan_stop(found, missing_ok=config.missing_ok),
        StepInputs(),
        timeout=config.timeout,
        poll_interval=config.poll_interval,
    )
    if done.info is None and not done.progress.steps:
        return {}
    with dagster_errors(asp.settings(), context.log):
        return deployed(actions, done).info


@dg.op(ins=_AFTER)
def asp_drop_processor_op(
    context: dg.OpExecutionContext, config: AspDropOpConfig, asp: AspWorkspace
) -> dict[str, Any]:
    """Drop the processor (the server stops a running one first); returns
    ``{"processor_name", "dropped"}``."""
    _, done = run_plan(
        asp,
        context.log,
        _name(context, config),
        lambda found: plan_drop(found, missing_ok=config.missing_ok),
        StepInputs(),
        timeout=config.timeout,
        poll_interval=config.poll_interval,
    )
    return {"processor_name": done.name, "dropped": bool(done.progress.steps)}
