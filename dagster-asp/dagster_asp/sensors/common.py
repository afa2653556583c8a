"""What the three sensors share: their arguments, the workspace resource of a tick, names
watched, the tick's budget and errors told without secrets."""

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import dagster as dg

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace

#: Seconds a tick may spend by default: Dagster gives a sensor 60 s (first-party sensors
#: stop at about 40 s and carry the rest over in the cursor).
DEFAULT_BUDGET_SECONDS = 40.0
#: Characters of a tag value at most (an error message can be long).
TAG_VALUE_MAX = 1_000

ProcessorRef = Union[str, AspProcessor]  # noqa: UP007


class AspSensorError(RuntimeError):
    """A tick could not read the workspace (the message carries no secret)."""


def processor_names(processors: Optional[Iterable[ProcessorRef]]) -> Optional[list[str]]:  # noqa: UP045
    """Sorted distinct names (None: every processor of the workspace)."""
    if processors is None:
        return None
    if isinstance(processors, (str, AspProcessor)):
        processors = [processors]
    names = {
        p.name if isinstance(p, AspProcessor) else arguments.processor_name(p, "processor name")
        for p in processors
    }
    if not names:
        raise AspInputError("Give at least one processor (or None for all of them).")
    return sorted(names)


def budget_seconds(value: float) -> float:
    """A tick's budget: positive and below Dagster's 60 s evaluation timeout."""
    seconds = arguments.seconds(value, "budget_seconds")
    if seconds > 55:
        raise AspInputError(f"budget_seconds must stay below Dagster's 60 s limit, not {value}.")
    return seconds


def start_budget(seconds: float) -> rules.TickBudget:
    return rules.TickBudget(seconds, time.monotonic())


def out_of_time(budget: rules.TickBudget) -> bool:
    return budget.spent(time.monotonic())


def workspace(context: dg.SensorEvaluationContext, resource_key: str) -> AspWorkspace:
    """The tick's workspace resource (its clients are closed when the tick ends)."""
    resource = getattr(context.resources, resource_key, None)
    if not isinstance(resource, AspWorkspace):
        raise AspInputError(
            f"The sensor needs an AspWorkspace resource under {resource_key!r}, "
            f"not {type(resource).__name__}."
        )
    return resource


def failed_read(resource: AspWorkspace, exc: BaseException, doing: str) -> AspSensorError:
    """The error of a failed read, in plain words and without the password."""
    from asp_core.waiting.verdict import describe_error

    text = f"Error {doing}: {describe_error(exc)}"
    with contextlib.suppress(Exception):  # settings that do not check never connected
        text = resource.settings().scrub(text)
    return AspSensorError(text)


def tag(value: Any) -> str:
    """A run tag's value: a string ('' for None), at most :data:`TAG_VALUE_MAX` characters."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= TAG_VALUE_MAX else text[: TAG_VALUE_MAX - 1] + "…"


def chunks(names: Sequence[str], size: int) -> list[list[str]]:
    return [list(names[i : i + size]) for i in range(0, len(names), size)]
