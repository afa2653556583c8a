"""The steps from what the workspace holds to what an operator was asked for. Pure: no pymongo.

Every lifecycle operator computes a :class:`Plan` (create, stop, drop, modify, start, in
order) from one look at the processor, logs it, and carries it out step by step
(:mod:`airflow_provider_asp.operators.base`); nothing else decides. A processor's desired
definition is a :class:`ProcessorDefinition`; pipelines are compared with their key order
(``$sort`` and ``$project`` depend on it), never through sorted-key JSON. Only what
``modifyStreamProcessor`` can change is compared (pipeline, dlq, tier); options set at
creation only (``streamMetaFieldName``, failover) are not, since a workspace need not report
them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asp_core.errors import AspDefinitionConflictError
from asp_core.waiting import states

if TYPE_CHECKING:
    from asp_core.stream_processing import StreamProcessorInfo


class Step(str, enum.Enum):
    """One command of a plan; STOP and START are followed by a wait for their state."""

    CREATE = "create"
    STOP = "stop"
    DROP = "drop"
    MODIFY = "modify"
    START = "start"


#: The state each step leaves the processor in once it took effect (None: no wait).
STEP_TARGETS: dict[Step, str | None] = {
    Step.CREATE: None,
    Step.STOP: states.STOPPED,
    Step.DROP: None,
    Step.MODIFY: None,
    Step.START: states.STARTED,
}
#: ``if_exists`` policies of the create operator.
IF_EXISTS_POLICIES: tuple[str, ...] = ("error", "skip", "replace", "modify")


def same_document(left: Any, right: Any) -> bool:
    """Equal values, with mapping keys in the same order at every level."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return list(left) == list(right) and all(
            same_document(left[key], right[key]) for key in left
        )
    if isinstance(left, Sequence) and not isinstance(left, str):
        if not isinstance(right, Sequence) or isinstance(right, str) or len(left) != len(right):
            return False
        return all(same_document(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


@dataclasses.dataclass(frozen=True)
class ProcessorDefinition:
    """What a processor should be, as far as the caller manages it: None leaves a field
    alone, and ``dlq={}`` means "no dead letter queue"."""

    pipeline: list[dict[str, Any]] | None
    dlq: dict[str, Any] | None = None
    tier: str | None = None

    def differences(self, info: StreamProcessorInfo) -> list[str]:
        """The fields of this definition that the processor ``info`` does not match."""
        found = []
        if self.pipeline is not None and not same_document(self.pipeline, info.pipeline):
            found.append("pipeline")
        if self.dlq is not None and (self.dlq or None) != (info.dlq or None):
            found.append("dlq")
        if self.tier is not None and self.tier != info.tier:
            found.append("tier")
        return found

    def changes(self, differences: Sequence[str]) -> dict[str, Any]:
        """Keyword arguments of ``StreamProcessor.modify`` for these differences."""
        return {field: getattr(self, field) for field in differences}


@dataclasses.dataclass(frozen=True)
class Plan:
    """``steps`` in order, the definition fields that differ (what a modify changes), and
    the processor's name when it is not the one asked for (renamed on an earlier try)."""

    steps: tuple[Step, ...]
    differences: tuple[str, ...] = ()
    name: str | None = None

    def describe(self, name: str, current: StreamProcessorInfo | None) -> str:
        """The plan in one sentence, for the task log."""
        if not self.steps:
            state = current.state if current is not None else "absent"
            return f"Stream processor {name!r} is {state}: nothing to do."
        changed = f" (different {', '.join(self.differences)})" if self.differences else ""
        return f"Plan for stream processor {name!r}{changed}: {', '.join(self.step_names)}."

    @property
    def step_names(self) -> list[str]:
        return [step.value for step in self.steps]


def _running(current: StreamProcessorInfo | None) -> bool:
    return current is not None and states.is_running(current.state)


def start_plan(current: StreamProcessorInfo) -> Plan:
    """Start unless it runs already."""
    return Plan(() if _running(current) else (Step.START,))


def stop_plan(current: StreamProcessorInfo) -> Plan:
    """Stop if it runs; a processor not running is left as it is."""
    return Plan((Step.STOP,) if _running(current) else ())


def drop_plan(current: StreamProcessorInfo | None) -> Plan:
    """Drop it if it exists (the server stops a running one first)."""
    return Plan(() if current is None else (Step.DROP,))


def modify_plan(
    current: StreamProcessorInfo, differences: Sequence[str], *, changes: bool, restart: bool
) -> Plan:
    """Stop a running processor, modify it, and start it again if it was running and
    ``restart``; nothing when there are no ``changes``."""
    if not changes:
        return Plan((), tuple(differences))
    running = _running(current)
    stop = (Step.STOP,) if running else ()
    start = (Step.START,) if running and restart else ()
    return Plan((*stop, Step.MODIFY, *start), tuple(differences))


def create_plan(
    name: str,
    current: StreamProcessorInfo | None,
    definition: ProcessorDefinition,
    if_exists: str,
) -> Plan:
    """Create it, or for an existing processor whose definition differs, what ``if_exists``
    says: ``error`` (AspDefinitionConflictError), ``skip`` (nothing), ``modify`` (in place,
    restoring its running state), ``replace`` (stop, drop, create). An identical processor
    needs nothing, whatever the policy (a retry after a lost reply passes)."""
    if current is None:
        return Plan((Step.CREATE,))
    differences = tuple(definition.differences(current))
    if not differences or if_exists == "skip":
        return Plan((), differences)
    if if_exists == "error":
        raise AspDefinitionConflictError(
            f"Stream processor {name!r} exists with a different {', '.join(differences)}; set "
            "if_exists to 'skip', 'modify' or 'replace' to accept that."
        )
    if if_exists == "modify":
        return modify_plan(current, differences, changes=True, restart=True)
    stop = (Step.STOP,) if _running(current) else ()
    return Plan((*stop, Step.DROP, Step.CREATE), differences)


def deploy_plan(
    current: StreamProcessorInfo | None, definition: ProcessorDefinition, desired_state: str
) -> Plan:
    """The fewest steps so the processor has ``definition`` and is in ``desired_state``
    (STARTED, or STOPPED: any state that is not running)."""
    start = (Step.START,) if desired_state == states.STARTED else ()
    if current is None:
        return Plan((Step.CREATE, *start))
    running = _running(current)
    differences = tuple(definition.differences(current))
    if differences:
        stop = (Step.STOP,) if running else ()
        return Plan((*stop, Step.MODIFY, *start), differences)
    if start and not running:
        return Plan(start)
    if not start and running:
        return Plan((Step.STOP,))
    return Plan(())
