"""The fewest steps from what the workspace holds to a desired definition and state. Pure."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from airflow_provider_asp import lifecycle

if TYPE_CHECKING:
    from airflow_provider_asp.processor_definition import ProcessorDefinition
    from airflow_provider_asp.stream_processing import StreamProcessorInfo

CREATE, STOP, MODIFY, START = "create", "stop", "modify", "start"


@dataclasses.dataclass(frozen=True)
class DeployPlan:
    """``steps`` in order (create, stop, modify, start), and the fields that differ."""

    steps: tuple[str, ...]
    differences: tuple[str, ...] = ()

    def describe(self, name: str, current: StreamProcessorInfo | None) -> str:
        """The plan in one sentence, for the task log."""
        if not self.steps:
            state = current.state if current is not None else "absent"
            return f"Stream processor {name!r} is {state} with this definition: nothing to do."
        changed = f" (different {', '.join(self.differences)})" if self.differences else ""
        return f"Plan for stream processor {name!r}{changed}: {', '.join(self.steps)}."


def deploy_plan(
    current: StreamProcessorInfo | None, definition: ProcessorDefinition, desired_state: str
) -> DeployPlan:
    """What to do so the processor has ``definition`` and is in ``desired_state``
    (STARTED, or STOPPED: any state that is not running)."""
    start = (START,) if desired_state == lifecycle.STARTED else ()
    if current is None:
        return DeployPlan((CREATE, *start))
    running = lifecycle.is_running(current.state)
    differences = tuple(definition.differences(current))
    if differences:
        stop = (STOP,) if running else ()
        return DeployPlan((*stop, MODIFY, *start), differences)
    if start and not running:
        return DeployPlan(start)
    if not start and running:
        return DeployPlan((STOP,))
    return DeployPlan(())
