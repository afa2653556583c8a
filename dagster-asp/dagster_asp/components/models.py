"""The YAML shapes of the component's ``processors:`` and ``sensors:`` blocks.

A processor is checked by :class:`~dagster_asp.AspProcessor` (the core's checks and
messages) when the YAML is loaded; nothing is sent.
"""

from collections.abc import Sequence
from typing import Any, Optional

import dagster as dg

from dagster_asp.processor import AspProcessor


class AspProcessorModel(dg.Model):
    """One processor: ``name``, ``pipeline``, create ``options``, ``desired_state``."""

    name: str
    pipeline: list[dict[str, Any]]
    options: Optional[dict[str, Any]] = None  # noqa: UP045 - Dagster's schema reads Optional
    desired_state: str = "STARTED"


def resolve_processors(
    context: dg.ResolutionContext, models: Sequence[AspProcessorModel]
) -> list[AspProcessor]:
    """The processors, each checked by the core when made."""
    return [
        AspProcessor(
            name=context.resolve_value(model.name, as_type=str),
            pipeline=context.resolve_value(model.pipeline, as_type=list),
            options=context.resolve_value(model.options, as_type=dict) if model.options else None,
            desired_state=context.resolve_value(model.desired_state, as_type=str),
        )
        for model in models
    ]


class StateSensorModel(dg.Model):
    """The state sensor: a run of ``job`` (a job of the code location, by name) or of
    ``assets`` (asset keys, ``a/b/c``) per entry into one of ``states``."""

    name: str = "asp_state_sensor"
    states: list[str] = ["FAILED"]
    processors: Optional[list[str]] = None  # noqa: UP045 - None: the component's processors
    job: Optional[str] = None  # noqa: UP045
    assets: Optional[list[str]] = None  # noqa: UP045
    minimum_interval_seconds: int = 30


class StatsSensorModel(dg.Model):
    """The stats sensor over the component's processors."""

    name: str = "asp_stats_sensor"
    checks: list[str] = ["processor_running", "dlq_not_growing"]
    minimum_interval_seconds: int = 60


class SensorsModel(dg.Model):
    """The sensors asked for (none by default)."""

    state: Optional[StateSensorModel] = None  # noqa: UP045
    stats: Optional[StatsSensorModel] = None  # noqa: UP045
