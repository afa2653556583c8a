"""What the three sensors share: their arguments, the workspace resource of a tick, names
watched, the tick's budget and errors told without secrets."""

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import dagster as dg

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.batched_reads import NAMES_PER_COMMAND
from asp_core.errors import AspInputError
from asp_core.stream_processing import StreamProcessorInfo
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import cursors

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
    """The error of a failed read, in plain words and without the password: a failure to
    reach or log in to the workspace in the core's words (as the Airflow triggers say it)."""
    from asp_core.diagnosis import connection_message
    from asp_core.waiting.verdict import describe_error

    text = f"Error {doing}: {describe_error(exc)}"
    with contextlib.suppress(Exception):  # settings that do not check never connected
        settings = resource.settings()
        said = connection_message(exc, settings) or describe_error(exc)
        text = settings.scrub(f"Error {doing}: {said}")
    return AspSensorError(text)


@dataclasses.dataclass(frozen=True)
class TickStart:
    """What a tick of the state or output sensor begins with: its budget, the saved cursor,
    the per-processor memory in it (``"p"``), and the processors as one list read them."""

    budget: rules.TickBudget
    saved: dict[str, Any]
    memory: dict[str, Any]
    listed: dict[str, StreamProcessorInfo]


def start_tick(
    context: dg.SensorEvaluationContext,
    resource: AspWorkspace,
    kind: str,
    names: Optional[Sequence[str]],  # noqa: UP045
    budget_seconds: float,
) -> TickStart:
    """Start the budget, load the cursor, and read the processors (:func:`list_processors`)."""
    budget = start_budget(budget_seconds)
    saved = cursors.load(context.cursor, kind)
    memory: dict[str, Any] = saved.get("p", {}) if isinstance(saved.get("p"), dict) else {}
    try:
        listed = {info.name: info for info in list_processors(resource, names)}
    except Exception as exc:
        raise failed_read(resource, exc, "listing the stream processors") from None
    return TickStart(budget, saved, memory, listed)


def list_processors(
    resource: AspWorkspace,
    names: Optional[Sequence[str]],  # noqa: UP045
) -> list[StreamProcessorInfo]:
    """The processors ``names`` (None: all): one ``listStreamProcessors`` (one per 500 names)."""
    processors = resource.get_client().stream_processors()
    if names is None:
        return processors.list()
    found: list[StreamProcessorInfo] = []
    for chunk in chunks(names, NAMES_PER_COMMAND):
        found.extend(processors.list({"name": {"$in": chunk}}))
    return found


def tag(value: Any) -> str:
    """A run tag's value: a string ('' for None), at most :data:`TAG_VALUE_MAX` characters."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= TAG_VALUE_MAX else text[: TAG_VALUE_MAX - 1] + "…"


def chunks(names: Sequence[str], size: int) -> list[list[str]]:
    return [list(names[i : i + size]) for i in range(0, len(names), size)]
