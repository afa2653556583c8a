"""Sensors for Atlas Stream Processing: wait for a processor's state, for documents in its
sample, or for its stats.

Each works in poke, reschedule and deferrable mode with the same outcome for the same
inputs (see :mod:`airflow_provider_asp.sensors.base`). A FAILED processor fails the task
at once with its ``errorMsg`` and ``errorCode`` (``AirflowFailException``: no retries, no
waiting for the timeout). Arguments are checked in ``execute()``, after templating.
Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from airflow_provider_asp.sensors.base import AspBaseSensor
from airflow_provider_asp.triggers.asp import (
    AspProcessorSampleTrigger,
    AspProcessorStateTrigger,
    AspProcessorStatsTrigger,
)
from asp_core import arguments
from asp_core.errors import AspInputError
from asp_core.waiting import conditions, matching, states
from asp_core.waiting.matching import CheckFn

__all__ = ["AspProcessorSampleSensor", "AspProcessorStateSensor", "AspProcessorStatsSensor"]

#: Seconds the sample sensor's look before deferring reads the cursor at most.
QUICK_LOOK = 1.0


def _check_fn(sensor: AspBaseSensor, value: Any) -> CheckFn | None:
    """The check function as given, once checked: callable or importable; in deferrable
    mode, with a dotted path the triggerer can import."""
    if value is not None:
        matching.resolve_callable(value)
        if sensor.deferrable:
            matching.callable_path(value)
    return value


class AspProcessorStateSensor(AspBaseSensor):
    """Wait until a stream processor is in one of ``target_states``; returns its info.

    :param target_states: the awaited state(s) (templated). States are open strings;
        ``RUNNING`` and ``STARTED`` are the same state, in both directions.
    :param failure_states: states that fail the task at once (templated).
    :param missing_ok: wait for a missing processor to appear instead of failing.
    """

    template_fields: Sequence[str] = (
        *AspBaseSensor.template_fields,
        "target_states",
        "failure_states",
    )
    trigger_class = AspProcessorStateTrigger

    def __init__(
        self,
        *,
        target_states: Sequence[str] | str = (states.STARTED,),
        failure_states: Sequence[str] | str = (states.FAILED,),
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target_states = target_states
        self.failure_states = failure_states
        self.missing_ok = missing_ok

    def build_condition(self, name: str) -> conditions.StateCondition:
        targets = arguments.states(self.target_states, "target_states")
        failures = arguments.states(self.failure_states, "failure_states", allow_empty=True)
        if targets & failures:
            both = ", ".join(sorted(targets & failures))
            raise AspInputError(f"{both} cannot be both a target and a failure state.")
        return conditions.StateCondition(name, targets, failures, self.missing_ok)


class AspProcessorSampleSensor(AspBaseSensor):
    """Wait until ``min_documents`` documents of a processor's sample satisfy ``match``
    and ``check_fn``; returns those documents (JSON: they land in XCom).

    Each look opens a sample cursor and reads up to ``limit`` documents for up to
    ``sample_timeout`` seconds (the look before deferring: 1 s at most), stopping at the
    ``min_documents``-th match. The processor
    must be STARTED: any other state fails the task with that state (and a FAILED
    processor's error).

    :param min_documents: matching documents needed.
    :param match: a MongoDB query document (or its JSON) the documents must satisfy
        (templated), evaluated with mongoquery (the operators of
        :data:`~asp_core.waiting.matching.SUPPORTED_OPERATORS`).
    :param check_fn: ``fn(document) -> bool``, a callable or a dotted path; deferrable
        mode needs a dotted path or a top-level function of an importable module.
    :param limit: most documents one look reads.
    :param sample_timeout: seconds one look reads the cursor.
    """

    template_fields: Sequence[str] = (*AspBaseSensor.template_fields, "match")
    template_fields_renderers = {"match": "json"}
    trigger_class = AspProcessorSampleTrigger

    def __init__(
        self,
        *,
        min_documents: int = 1,
        match: dict[str, Any] | str | None = None,
        check_fn: CheckFn | None = None,
        limit: int = 100,
        sample_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_documents = min_documents
        self.match = match
        self.check_fn = check_fn
        self.limit = limit
        self.sample_timeout = sample_timeout

    def build_condition(self, name: str) -> conditions.SampleCondition:
        min_documents = arguments.integer(self.min_documents, "min_documents")
        limit = arguments.integer(self.limit, "limit")
        if limit < min_documents:
            raise AspInputError(f"limit ({limit}) must be at least min_documents.")
        query = arguments.document(self.match, "match")
        if query is not None:
            matching.check_query(query)
        return conditions.SampleCondition(
            name,
            min_documents,
            query,
            _check_fn(self, self.check_fn),
            limit,
            arguments.seconds(self.sample_timeout, "sample_timeout"),
        )

    def before_deferring(self, condition: Any) -> Any:
        """Before deferring, read the sample for at most :data:`QUICK_LOOK` seconds."""
        quick = min(condition.sample_timeout, QUICK_LOOK)
        return dataclasses.replace(condition, sample_timeout=quick)


class AspProcessorStatsSensor(AspBaseSensor):
    """Wait until a processor's stats meet the thresholds; returns the stats.

    More than ``max_dlq_messages`` dead-lettered messages fail the task at once, as does
    a FAILED processor.

    :param min_output_messages: output messages needed.
    :param min_input_messages: input messages needed.
    :param max_dlq_messages: most dead-lettered messages allowed.
    :param check_fn: ``fn(stats) -> bool`` on the stats document, a callable or a dotted
        path (deferrable mode: as for :class:`AspProcessorSampleSensor`).
    """

    trigger_class = AspProcessorStatsTrigger

    def __init__(
        self,
        *,
        min_output_messages: int | None = None,
        min_input_messages: int | None = None,
        max_dlq_messages: int | None = None,
        check_fn: CheckFn | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_output_messages = min_output_messages
        self.min_input_messages = min_input_messages
        self.max_dlq_messages = max_dlq_messages
        self.check_fn = check_fn

    def build_condition(self, name: str) -> conditions.StatsCondition:
        limits = {
            label: arguments.integer(getattr(self, label), label, minimum=0, allow_none=True)
            for label in ("min_output_messages", "min_input_messages", "max_dlq_messages")
        }
        if self.check_fn is None and all(value is None for value in limits.values()):
            raise AspInputError(
                "Give at least one of min_output_messages, min_input_messages, "
                "max_dlq_messages or check_fn."
            )
        return conditions.StatsCondition(name, **limits, check_fn=_check_fn(self, self.check_fn))
