"""Carrying a plan out, step by step, with no orchestrator.

:data:`STEP_ACTIONS` is the one table from a step to its action. :class:`PlanRunner` acts,
and after a stop or a start either waits for the state here or, asked to hand waits back,
looks once and returns :class:`MustWait` when the state is not reached yet, so that the
orchestrator waits its own way (Airflow: a deferral) and then runs the rest from the
:class:`~asp_core.plans.progress.PlanProgress` it carried. The end is :class:`Done`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asp_core.plans.plan import STEP_TARGETS, ProcessorDefinition, Step
from asp_core.plans.progress import PlanProgress
from asp_core.waiting import states

if TYPE_CHECKING:
    import datetime

    from asp_core.plans.actions import ProcessorActions
    from asp_core.stream_processing import (
        CreateStreamProcessorOptions,
        StartStreamProcessorOptions,
        StreamProcessorInfo,
    )


@dataclasses.dataclass(frozen=True)
class StepInputs:
    """What the steps are carried out with, from the checked arguments: the ``definition``
    (a create's pipeline; what a modify changes and how its effect shows), the options of a
    create and of a start, a modify's ``new_name`` and ``resume_from_checkpoint``."""

    definition: ProcessorDefinition = dataclasses.field(
        default_factory=lambda: ProcessorDefinition(None)
    )
    create_options: CreateStreamProcessorOptions | None = None
    start_options: StartStreamProcessorOptions | None = None
    new_name: str | None = None
    resume_from_checkpoint: bool | None = None

    def modify_changes(self, name: str, differences: tuple[str, ...]) -> dict[str, Any]:
        """``StreamProcessor.modify`` keyword arguments for ``differences`` of ``name``."""
        changes = self.definition.changes(differences)
        if self.new_name is not None and self.new_name != name:
            changes["new_name"] = self.new_name
        if self.resume_from_checkpoint is not None:
            changes["resume_from_checkpoint"] = self.resume_from_checkpoint
        return changes


@dataclasses.dataclass(frozen=True)
class StepCall:
    """One step about to be carried out: on the processor ``name``, ``before`` it as read
    before the plan's first step (None after), with ``progress`` (its ``remaining`` are the
    steps after this one)."""

    actions: ProcessorActions
    inputs: StepInputs
    name: str
    progress: PlanProgress
    before: StreamProcessorInfo | None


def _create(call: StepCall) -> str:
    pipeline = call.inputs.definition.pipeline or []
    call.actions.create(call.name, pipeline, call.inputs.create_options)
    return call.name


def _stop(call: StepCall) -> str:
    call.actions.stop(call.name)
    return call.name


def _drop(call: StepCall) -> str:
    call.actions.drop(call.name)
    return call.name


def _start(call: StepCall) -> str:
    call.actions.start(call.name, call.before, call.inputs.start_options)
    return call.name


def _modify(call: StepCall) -> str:
    """Send the modify; a refused change restarts a processor that was running (a start
    follows in the plan), with its old definition, before the error is raised."""
    actions, name, definition = call.actions, call.name, call.inputs.definition
    changes = call.inputs.modify_changes(name, call.progress.differences)
    if not changes:
        return name
    try:
        return actions.modify(name, changes, lambda now: not definition.differences(now))
    except Exception:
        if Step.START in call.progress.remaining:
            actions.log.warning("Modify refused: restarting %r as it was.", name)
            try:
                actions.start(name, None, None)
            except Exception as exc:
                actions.log.error("Could not restart stream processor %r: %s", name, exc)
        raise


#: The action of each step; it returns the processor's name afterwards (a modify may rename).
STEP_ACTIONS: dict[Step, Callable[[StepCall], str]] = {
    Step.CREATE: _create,
    Step.STOP: _stop,
    Step.DROP: _drop,
    Step.MODIFY: _modify,
    Step.START: _start,
}


@dataclasses.dataclass(frozen=True)
class Done:
    """The plan is carried out; ``info`` is the processor info dict if the last step read
    it (None: read it if the result needs it)."""

    progress: PlanProgress
    info: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.progress.name


@dataclasses.dataclass(frozen=True)
class MustWait:
    """The processor must be in ``state`` by ``progress.deadline`` before the rest of the
    plan (``progress.remaining``) is carried out; nothing was waited for yet."""

    state: str
    progress: PlanProgress

    @property
    def name(self) -> str:
        return self.progress.name

    @property
    def deadline(self) -> float:
        return self.progress.deadline

    @property
    def ignore_failure_at(self) -> datetime.datetime | None:
        """An old failure the wait for a restart must not take for the restart's own."""
        return self.progress.failed_at if self.state == states.STARTED else None

    @property
    def started_by_plan(self) -> bool:
        """This plan started the processor it waits for."""
        return self.state == states.STARTED and self.progress.started_processor == self.name


class PlanRunner:
    """Carries out the remaining steps of a plan with ``actions``. After a stop or a start
    it waits for the state (bounded by the deadline), except after the last step when not
    ``wait_for_completion``; with ``hand_back_waits`` it looks once instead, and returns
    :class:`MustWait` when the state is not reached yet.

    :attr:`progress` is the record so far, updated before each step (what a task killed
    meanwhile needs: the processor the plan started).
    """

    def __init__(
        self,
        actions: ProcessorActions,
        inputs: StepInputs,
        *,
        wait_for_completion: bool = True,
        hand_back_waits: bool = False,
    ) -> None:
        self.actions = actions
        self.inputs = inputs
        self.wait_for_completion = wait_for_completion
        self.hand_back_waits = hand_back_waits
        self.progress: PlanProgress | None = None

    def run(
        self,
        progress: PlanProgress,
        *,
        before: StreamProcessorInfo | None = None,
        info: dict[str, Any] | None = None,
    ) -> Done | MustWait:
        """Carry out ``progress.remaining``. ``before``: the processor as read before the
        first step; ``info``: the processor info dict as last read, if it was."""
        self.progress = progress
        while progress.remaining:
            step, name = progress.remaining[0], progress.name
            progress = dataclasses.replace(progress, remaining=progress.remaining[1:])
            if step is Step.START and progress.started_processor is None:
                progress = dataclasses.replace(progress, started_processor=name)
            self.progress = progress
            call = StepCall(self.actions, self.inputs, name, progress, before)
            progress = dataclasses.replace(progress, name=STEP_ACTIONS[step](call))
            self.progress = progress
            before = info = None
            target = STEP_TARGETS[step]
            if target is None:
                continue
            wait = self.wait_for_completion or bool(progress.remaining)
            failed_at = progress.failed_at if step is Step.START else None
            if wait and self.hand_back_waits:
                info = self.actions.settle(
                    progress.name, target, wait=False, ignore_failure_at=failed_at
                )
                if states.normalize_state(info["state"]) != target:
                    return MustWait(target, progress)
                continue
            info = self.actions.settle(
                progress.name, target, wait=wait, ignore_failure_at=failed_at
            )
        return Done(progress, info)
