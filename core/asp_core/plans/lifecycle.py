"""A lifecycle verb from one look to its end, for every orchestrator: look at the processor,
state the plan, log it, and have the runner carry it out.

:func:`carry_out_plan` is the one sequence (find, plan, describe, begin, run) the Airflow
operators and the Dagster assets and ops share; the plan of each verb is one function here
(:func:`plan_deploy`, :func:`plan_start`, :func:`plan_stop`, :func:`plan_drop`), and
:func:`definition_inputs` checks a whole definition the same way for both. What a deploy
reports is a :class:`Deployed`. Nothing here imports an orchestrator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asp_core import arguments
from asp_core.errors import AspProcessorNotFoundError
from asp_core.plans.plan import (
    Plan,
    ProcessorDefinition,
    deploy_plan,
    drop_plan,
    start_plan,
    stop_plan,
)
from asp_core.plans.progress import PlanProgress
from asp_core.plans.runner import Done, MustWait, PlanRunner, StepInputs
from asp_core.waiting import states
from asp_core.waiting.verdict import info_to_dict

if TYPE_CHECKING:
    from asp_core.plans.actions import ProcessorActions
    from asp_core.stream_processing import StreamProcessorInfo

__all__ = [
    "Deployed",
    "Found",
    "carry_out_plan",
    "definition_inputs",
    "deployed",
    "plan_deploy",
    "plan_drop",
    "plan_start",
    "plan_stop",
]


@dataclasses.dataclass(frozen=True)
class Found:
    """What a plan is stated from: the processor ``name`` asked for, ``current``, the
    processor found under it (None: missing), the checked ``inputs``, and ``actions`` for
    another look."""

    name: str
    current: StreamProcessorInfo | None
    inputs: StepInputs
    actions: ProcessorActions

    def require(self) -> StreamProcessorInfo:
        """The processor found, or :class:`AspProcessorNotFoundError`."""
        if self.current is None:
            raise AspProcessorNotFoundError(self.name, self.actions.where)
        return self.current


def carry_out_plan(
    runner: PlanRunner, name: str, plan_for: Callable[[Found], Plan], deadline: float
) -> Done | MustWait:
    """Look at ``name`` once, state its plan with ``plan_for``, log it in one sentence, and
    have ``runner`` carry it out until ``deadline`` (its :attr:`~PlanRunner.progress` tells
    meanwhile which processor the plan started). A plan with no steps sends nothing more."""
    actions = runner.actions
    current = actions.find(name)
    plan = plan_for(Found(name, current, runner.inputs, actions))
    if plan.name is not None and current is None:
        current = actions.find(plan.name)
    name = plan.name or name
    actions.log.info("%s", plan.describe(name, current))
    info = info_to_dict(current) if current is not None and not plan.steps else None
    progress = PlanProgress.begin(name, plan, deadline, current)
    return runner.run(progress, before=current, info=info)


# -- the plan of each verb ----------------------------------------------------------------
def plan_deploy(found: Found, desired_state: str) -> Plan:
    """Create, modify, start or stop so the processor has the definition and state."""
    return deploy_plan(found.current, found.inputs.definition, desired_state)


def plan_start(found: Found) -> Plan:
    """Start an existing processor unless it runs (a missing one is an error)."""
    current = found.require()
    if states.is_running(current.state):
        found.actions.log.info(
            "Stream processor %r is already %s: not starting it.", found.name, current.state
        )
    return start_plan(current)


def plan_stop(found: Found, *, missing_ok: bool = False) -> Plan:
    """Stop a running processor; one not running is left as it is."""
    if found.current is None and missing_ok:
        return Plan(())
    current = found.require()
    if states.is_failed(current.state):
        found.actions.log.warning(
            "Stream processor %r is FAILED (%s), so not running.", found.name, current.error_msg
        )
    return stop_plan(current)


def plan_drop(found: Found, *, missing_ok: bool = True) -> Plan:
    """Drop the processor if it exists (a missing one is success unless not ``missing_ok``)."""
    return drop_plan(found.current if missing_ok else found.require())


# -- a whole definition -------------------------------------------------------------------
def definition_inputs(
    pipeline: Any,
    *,
    dlq: Any = None,
    tier: str | None = None,
    stream_meta_field_name: str | None = None,
    failover: bool | None = None,
    resume_from_checkpoint: bool | None = None,
) -> StepInputs:
    """The checked definition (a None ``dlq`` or ``tier`` is left alone; ``dlq={}``: none)
    and the options to create it with."""
    from asp_core.stream_processing import CreateStreamProcessorOptions

    definition = ProcessorDefinition(
        arguments.pipeline(pipeline), arguments.document(dlq, "dlq"), tier
    )
    with arguments.client_checks():
        options = CreateStreamProcessorOptions(
            dlq=definition.dlq or None,
            stream_meta_field_name=stream_meta_field_name,
            tier=tier,
            failover=failover,
        )
    return StepInputs(
        definition, create_options=options, resume_from_checkpoint=resume_from_checkpoint
    )


@dataclasses.dataclass(frozen=True)
class Deployed:
    """What a deploy did: the processor's ``name``, the ``steps`` carried out (none: it
    matched already), the definition fields that differed, and the processor ``info`` after
    it (plain JSON, as :func:`~asp_core.waiting.verdict.info_to_dict` gives)."""

    name: str
    steps: list[str]
    differences: list[str]
    info: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    @property
    def state(self) -> str:
        return str(self.info.get("state") or "")

    @property
    def last_state_change(self) -> str | None:
        """ISO 8601, or None when the server gives none."""
        value = self.info.get("last_state_change")
        return None if value is None else str(value)


def deployed(actions: ProcessorActions, done: Done) -> Deployed:
    """The :class:`Deployed` of a finished plan (reads the processor only when the last
    step did not)."""
    info = done.info if done.info is not None else info_to_dict(actions.require(done.name))
    plan = done.progress.plan
    return Deployed(done.name, plan.step_names, list(plan.differences), info)
