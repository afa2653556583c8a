"""Pipeline parsing and validation: ``compile_pipeline`` turns stages into operators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asp_emulator.engine.connections import Connections
from asp_emulator.engine.errors import PipelineError, stage_error
from asp_emulator.engine.sinks import SINK_STAGES, Sink, build_sink
from asp_emulator.engine.sources import SourceSpec, parse_source
from asp_emulator.engine.stages import DocumentOperator, build_document_operator
from asp_emulator.engine.windows import WINDOW_STAGES, WindowOperator
from asp_emulator.limits import DEFAULT_LIMITS, Limits

DOCUMENT_STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$replaceRoot",
        "$replaceWith",
        "$validate",
        "$unwind",
    }
)
WINDOW_ONLY_STAGES = frozenset(
    {"$group", "$sort", "$limit", "$skip", "$count", "$bucket", "$bucketAuto", "$sortByCount"}
)
UNSUPPORTED_STAGES = frozenset(
    {
        "$lookup",
        "$cachedLookup",
        "$https",
        "$externalFunction",
        "$function",
        "$sessionWindow",
        "$setStreamMeta",
        "$throttle",
        "$vectorSearch",
        "$redact",
        "$facet",
        "$out",
    }
)
"""Stages Atlas Stream Processing has but the emulator does not run."""

Operator = DocumentOperator | WindowOperator | Sink


@dataclass(frozen=True)
class Pipeline:
    """The immutable result of :func:`compile_pipeline`."""

    stages: list[Any]
    """The original stages, as given."""
    source: SourceSpec | None
    operators: tuple[Operator, ...]
    """Everything after ``$source``, in order (per-document stages, window, sink)."""
    window: WindowOperator | None = None
    sink: Sink | None = None


def _stage_name(index: int, stage: Any) -> tuple[str, Any]:
    if not isinstance(stage, Mapping) or len(stage) != 1:
        raise stage_error(index, "a pipeline stage must be a document with exactly one field")
    ((name, spec),) = stage.items()
    if not isinstance(name, str) or not name.startswith("$"):
        raise stage_error(index, f"unknown stage {name!r}")
    return name, spec


def compile_pipeline(
    stages: object, connections: Connections, limits: Limits = DEFAULT_LIMITS
) -> Pipeline:
    """Validate a stream processing pipeline and compile its stages.

    Raises :class:`PipelineError` (code 9, FailedToParse) naming the stage index and the
    problem. An empty pipeline is accepted and produces nothing. A window that would put
    one document in more than ``limits.max_windows_per_document`` windows is refused.
    """
    if not isinstance(stages, (list, tuple)):
        raise PipelineError("pipeline must be an array of stage documents")
    stages = list(stages)
    if not stages:
        return Pipeline(stages=stages, source=None, operators=())
    operators: list[Operator] = []
    source: SourceSpec | None = None
    window: WindowOperator | None = None
    sink: Sink | None = None
    for index, stage in enumerate(stages):
        name, spec = _stage_name(index, stage)
        if name == "$source":
            if index != 0:
                raise stage_error(index, "$source is only allowed once, as the first stage")
        elif index == 0:
            raise stage_error(0, f"the first stage must be $source, got {name!r}")
        if sink is not None:
            if name in SINK_STAGES:
                raise stage_error(
                    index, "a pipeline can have only one sink stage ($emit or $merge)"
                )
            raise stage_error(
                index,
                f"{name!r} cannot follow the sink stage {sink.stage!r} "
                f"(stage {sink.index}); the sink must be the last stage",
            )
        try:
            if name == "$source":
                source = parse_source(spec, connections)
            elif name in DOCUMENT_STAGES:
                operators.append(
                    build_document_operator(
                        index, name, spec, max_outputs=limits.max_documents_per_input
                    )
                )
            elif name in WINDOW_STAGES:
                if window is not None:
                    raise ValueError(
                        f"only one window stage is allowed (already one at stage {window.index})"
                    )
                window = WindowOperator(
                    index, name, spec, max_windows_per_document=limits.max_windows_per_document
                )
                operators.append(window)
            elif name in SINK_STAGES:
                sink = build_sink(index, name, spec, connections)
                operators.append(sink)
            elif name in WINDOW_ONLY_STAGES:
                raise ValueError(f"{name} is only allowed inside a window's pipeline")
            elif name in UNSUPPORTED_STAGES:
                raise ValueError(f"stage {name!r} is not supported by the emulator")
            else:
                raise ValueError(f"unknown stage {name!r}")
        except ValueError as exc:
            raise stage_error(index, str(exc)) from exc
    return Pipeline(
        stages=stages, source=source, operators=tuple(operators), window=window, sink=sink
    )
