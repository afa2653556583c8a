"""How far a plan got: the one record that crosses a pause (a deferral), as JSON. Pure.

A :class:`PlanProgress` says everything the rest of a plan needs that the task's arguments
do not: the processor's name now (a modify may have renamed it), the plan, the steps left,
the deadline of the try, the processor this plan started, and when an old failure happened
(a FAILED with that ``lastStateChange`` is not the restart's). What the steps are carried out
with (definition, options) comes from the arguments, checked again on resume.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

from asp_core.errors import AspError
from asp_core.plans.plan import Plan, Step
from asp_core.waiting import states

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo


@dataclasses.dataclass(frozen=True)
class PlanProgress:
    """The plan's ``steps`` and ``differences``, the ``remaining`` steps, the processor's
    ``name`` now, the try's ``deadline`` (seconds since the epoch), the processor this plan
    started (``cancel_on_kill`` stops only that one) and ``failed_at``, when the processor had
    FAILED before this plan restarts it."""

    name: str
    steps: tuple[Step, ...]
    remaining: tuple[Step, ...]
    deadline: float
    differences: tuple[str, ...] = ()
    started_processor: str | None = None
    failed_at: datetime.datetime | None = None

    @classmethod
    def begin(
        cls, name: str, plan: Plan, deadline: float, current: StreamProcessorInfo | None
    ) -> PlanProgress:
        """A plan about to be carried out on ``current`` (None: missing), named ``name``."""
        failed = current is not None and states.is_failed(current.state)
        return cls(
            name=name,
            steps=plan.steps,
            remaining=plan.steps,
            deadline=deadline,
            differences=plan.differences,
            failed_at=current.last_state_change if failed and current is not None else None,
        )

    @property
    def plan(self) -> Plan:
        return Plan(self.steps, self.differences)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (what a deferral carries)."""
        return {
            "name": self.name,
            "steps": [step.value for step in self.steps],
            "remaining": [step.value for step in self.remaining],
            "deadline": self.deadline,
            "differences": list(self.differences),
            "started_processor": self.started_processor,
            "failed_at": None if self.failed_at is None else self.failed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Any) -> PlanProgress:
        """The record :meth:`to_json` gave; anything else is an :class:`AspError`."""
        try:
            failed_at = value.get("failed_at")
            return cls(
                name=str(value["name"]),
                steps=tuple(Step(step) for step in value["steps"]),
                remaining=tuple(Step(step) for step in value["remaining"]),
                deadline=float(value["deadline"]),
                differences=tuple(str(field) for field in value.get("differences", ())),
                started_processor=value.get("started_processor"),
                failed_at=None if failed_at is None else datetime.datetime.fromisoformat(failed_at),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise AspError(f"Not a plan's progress: {value!r} ({exc!r}).") from None
