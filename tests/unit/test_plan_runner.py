"""The core's plan runner and the progress record that crosses a pause, as pure code: the
runner drives a small fake of :class:`~asp_core.plans.actions.ProcessorActions` (what each
act does to a processor is the emulator's business, in the integration tests)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from typing import Any

import pytest

from asp_core.errors import AspError
from asp_core.plans.plan import Plan, ProcessorDefinition, Step
from asp_core.plans.progress import PlanProgress
from asp_core.plans.runner import STEP_ACTIONS, Done, MustWait, PlanRunner, StepInputs

FAILED_AT = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


class FakeActions:
    """Records each act; a stop or start takes effect at once, or only after ``lag`` looks
    without waiting (``settle(wait=False)``)."""

    def __init__(self, state: str = "STARTED", *, lag: int = 0, refuse_modify: bool = False):
        self.state = state
        self.lag = lag
        self.refuse_modify = refuse_modify
        self.calls: list[tuple[Any, ...]] = []
        self.log = logging.getLogger("fake")
        self._pending: str | None = None

    def create(self, name: str, pipeline: Any, options: Any = None) -> None:
        self.calls.append(("create", name, pipeline, options))
        self.state = "CREATED"

    def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        self._pending = "STOPPED"

    def drop(self, name: str) -> None:
        self.calls.append(("drop", name))

    def start(self, name: str, before: Any, options: Any) -> None:
        self.calls.append(("start", name, before, options))
        self._pending = "STARTED"

    def modify(self, name: str, changes: dict[str, Any], shows_change: Any) -> str:
        self.calls.append(("modify", name, changes))
        if self.refuse_modify:
            raise AspError("modify refused")
        return changes.get("new_name") or name

    def settle(self, name: str, target: str, *, wait: bool, ignore_failure_at: Any = None):
        self.calls.append(("settle", name, target, wait, ignore_failure_at))
        if self._pending is not None and (wait or self.lag == 0):
            self.state, self._pending = self._pending, None
        return {"name": name, "state": self.state}


def begin(*steps: Step, differences: tuple[str, ...] = (), failed_at: Any = None) -> PlanProgress:
    progress = PlanProgress.begin("p", Plan(steps, differences), 1000.0, None)
    return dataclasses.replace(progress, failed_at=failed_at)


def acts(actions: FakeActions) -> list[str]:
    return [call[0] for call in actions.calls]


def test_every_step_has_its_one_action():
    assert set(STEP_ACTIONS) == set(Step)


def test_progress_crosses_a_pause_as_json_and_back():
    progress = dataclasses.replace(
        begin(Step.STOP, Step.MODIFY, Step.START, differences=("pipeline",)),
        remaining=(Step.MODIFY, Step.START),
        started_processor="p",
        failed_at=FAILED_AT,
    )
    sent = json.loads(json.dumps(progress.to_json()))
    assert PlanProgress.from_json(sent) == progress
    assert progress.plan == Plan((Step.STOP, Step.MODIFY, Step.START), ("pipeline",))


@pytest.mark.parametrize("value", [None, {}, {"name": "p"}, {"name": "p", "steps": ["jump"]}])
def test_anything_but_a_progress_record_is_refused(value):
    with pytest.raises(AspError, match="Not a plan's progress"):
        PlanProgress.from_json(value)


def test_in_the_worker_each_stop_and_start_is_waited_for():
    actions = FakeActions()
    inputs = StepInputs(ProcessorDefinition([{"$a": 1}]), resume_from_checkpoint=False)
    done = PlanRunner(actions, inputs).run(  # type: ignore[arg-type]
        begin(Step.STOP, Step.MODIFY, Step.START, differences=("pipeline",))
    )
    assert isinstance(done, Done)
    assert actions.calls == [
        ("stop", "p"),
        ("settle", "p", "STOPPED", True, None),
        ("modify", "p", {"pipeline": [{"$a": 1}], "resume_from_checkpoint": False}),
        ("start", "p", None, None),
        ("settle", "p", "STARTED", True, None),
    ]
    assert (done.name, done.info, done.progress.remaining) == (
        "p",
        {"name": "p", "state": "STARTED"},
        (),
    )
    assert done.progress.started_processor == "p"


def test_without_wait_for_completion_the_last_step_is_looked_at_once():
    actions = FakeActions("STOPPED")
    PlanRunner(actions, StepInputs(), wait_for_completion=False).run(begin(Step.START))  # type: ignore[arg-type]
    assert actions.calls[-1] == ("settle", "p", "STARTED", False, None)


def test_a_handed_back_wait_resumes_from_the_record_alone():
    actions = FakeActions(lag=1)
    inputs = StepInputs(ProcessorDefinition(None, tier="SP30"))
    plan = begin(Step.STOP, Step.MODIFY, Step.START, differences=("tier",))
    first = PlanRunner(actions, inputs, hand_back_waits=True).run(plan)  # type: ignore[arg-type]
    assert isinstance(first, MustWait)
    assert (first.state, first.name, first.progress.remaining) == (
        "STOPPED",
        "p",
        (Step.MODIFY, Step.START),
    )
    assert not first.started_by_plan
    actions.state, actions._pending = "STOPPED", None  # the wait happened elsewhere
    progress = PlanProgress.from_json(json.loads(json.dumps(first.progress.to_json())))
    second = PlanRunner(actions, inputs, hand_back_waits=True).run(progress)  # type: ignore[arg-type]
    assert isinstance(second, MustWait)
    assert (second.state, second.progress.remaining, second.started_by_plan) == (
        "STARTED",
        (),
        True,
    )
    third = PlanRunner(actions, inputs, hand_back_waits=True).run(  # type: ignore[arg-type]
        second.progress, info={"state": "STARTED"}
    )
    assert third == Done(second.progress, {"state": "STARTED"})
    assert acts(actions) == ["stop", "settle", "modify", "start", "settle"]


def test_a_state_reached_at_the_one_look_needs_no_pause():
    actions = FakeActions("STOPPED")
    done = PlanRunner(actions, StepInputs(), hand_back_waits=True).run(begin(Step.START))  # type: ignore[arg-type]
    assert isinstance(done, Done)
    assert done.info == {"name": "p", "state": "STARTED"}


def test_a_rename_carries_the_new_name_to_the_next_steps():
    actions = FakeActions()
    inputs = StepInputs(new_name="p2")
    done = PlanRunner(actions, inputs).run(begin(Step.STOP, Step.MODIFY, Step.START))  # type: ignore[arg-type]
    assert ("modify", "p", {"new_name": "p2"}) in actions.calls
    assert actions.calls[-2:] == [
        ("start", "p2", None, None),
        ("settle", "p2", "STARTED", True, None),
    ]
    assert done.name == "p2"


def test_a_refused_modify_restarts_a_processor_that_was_running_then_raises():
    actions = FakeActions(refuse_modify=True)
    inputs = StepInputs(ProcessorDefinition(None, tier="SP30"))
    runner = PlanRunner(actions, inputs)  # type: ignore[arg-type]
    with pytest.raises(AspError, match="modify refused"):
        runner.run(begin(Step.STOP, Step.MODIFY, Step.START, differences=("tier",)))
    assert acts(actions) == ["stop", "settle", "modify", "start"]
    with pytest.raises(AspError, match="modify refused"):  # it was not running: left stopped
        PlanRunner(actions, inputs).run(begin(Step.MODIFY, differences=("tier",)))  # type: ignore[arg-type]
    assert acts(actions)[-1] == "modify"


def test_an_old_failure_is_ignored_only_by_the_wait_for_a_restart():
    actions = FakeActions("FAILED", lag=1)
    progress = begin(Step.STOP, Step.START, failed_at=FAILED_AT)
    first = PlanRunner(actions, StepInputs(), hand_back_waits=True).run(progress)  # type: ignore[arg-type]
    assert isinstance(first, MustWait)
    assert first.ignore_failure_at is None  # the stop's wait
    second = PlanRunner(actions, StepInputs(), hand_back_waits=True).run(first.progress)  # type: ignore[arg-type]
    assert isinstance(second, MustWait)
    assert second.ignore_failure_at == FAILED_AT
    assert actions.calls[-1] == ("settle", "p", "STARTED", False, FAILED_AT)


def test_steps_get_what_they_need_from_the_inputs():
    actions = FakeActions()
    options = object()
    before = object()
    inputs = StepInputs(ProcessorDefinition([{"$a": 1}]), create_options=options)  # type: ignore[arg-type]
    PlanRunner(actions, inputs).run(begin(Step.DROP, Step.CREATE))  # type: ignore[arg-type]
    assert actions.calls == [("drop", "p"), ("create", "p", [{"$a": 1}], options)]
    started = StepInputs(start_options=options)  # type: ignore[arg-type]
    PlanRunner(actions, started).run(begin(Step.START), before=before)  # type: ignore[arg-type]
    assert actions.calls[2] == ("start", "p", before, options)
