"""``$tumblingWindow`` and ``$hoppingWindow``: assignment, buffering and closing.

A window's inner pipeline runs with ``mongomock.aggregate.process_pipeline`` over the
window's documents when it closes. mongomock's ``$group`` lacks ``$median``,
``$percentile`` and ``$count``; they are rewritten to ``$push``/``$sum`` and finished here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import bson
from mongomock.aggregate import process_pipeline

from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.expressions import (
    contains_meta,
    from_ms,
    substitute_meta,
)
from asp_emulator.engine.stages import (
    PLACEHOLDER_META,
    check_spec,
    describe,
    operator_name,
    to_mongomock_stage,
)

Doc = dict[str, Any]

UNIT_MS = {"ms": 1, "second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
DEFAULT_ALLOWED_LATENESS_MS = 3_000
"""Atlas default for ``allowedLateness`` (3 seconds)."""

INNER_STAGES = frozenset(
    {
        "$group",
        "$match",
        "$sort",
        "$limit",
        "$skip",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$replaceRoot",
        "$replaceWith",
        "$count",
        "$unwind",
    }
)
WINDOW_STAGES = frozenset({"$tumblingWindow", "$hoppingWindow"})
LATE_REASON = "Input document arrived late."


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_duration(value: Any, where: str, *, allow_zero: bool = False) -> int:
    """Milliseconds of a ``{size, unit}`` document (or the integer 0 when ``allow_zero``)."""
    if allow_zero and _is_int(value) and value == 0:
        return 0
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a document {{size, unit}}")
    unknown = set(value) - {"size", "unit"}
    if unknown:
        raise ValueError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    size, unit = value.get("size"), value.get("unit")
    if not _is_int(size):
        raise ValueError(f"{where}.size must be an integer")
    if size < 0 or (size == 0 and not allow_zero):
        raise ValueError(f"{where}.size must be a positive integer, got {size}")
    if unit not in UNIT_MS:
        raise ValueError(f"{where}.unit must be one of {', '.join(UNIT_MS)}, got {unit!r}")
    return int(size) * UNIT_MS[unit]


def _percentile(values: list[Any], p: float) -> Any:
    """Discrete (nearest-rank) percentile of the numeric values, ``None`` if there are none."""
    numbers = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    if not numbers:
        return None
    return numbers[max(0, math.ceil(p * len(numbers)) - 1)]


def _translate_group(spec: Any) -> tuple[dict[str, Any], list[tuple[str, list[float] | None]]]:
    """Rewrite accumulators mongomock lacks; return the spec and the fields to finish."""
    if not isinstance(spec, Mapping) or "_id" not in spec:
        raise ValueError("$group requires an '_id' expression")
    out: dict[str, Any] = {}
    finish: list[tuple[str, list[float] | None]] = []
    for name, accumulator in spec.items():
        if name == "_id" or not isinstance(accumulator, Mapping) or len(accumulator) != 1:
            out[name] = accumulator
            continue
        ((op, arg),) = accumulator.items()
        if op == "$count":
            out[name] = {"$sum": 1}
        elif op in ("$median", "$percentile"):
            if not isinstance(arg, Mapping) or "input" not in arg:
                raise ValueError(f"{op} requires an 'input' expression")
            ps: list[float] | None = None
            if op == "$percentile":
                raw = arg.get("p")
                if (
                    not isinstance(raw, list)
                    or not raw
                    or not all(isinstance(p, (int, float)) and 0 <= p <= 1 for p in raw)
                ):
                    raise ValueError("$percentile.p must be a non-empty array of numbers in [0, 1]")
                ps = [float(p) for p in raw]
            out[name] = {"$push": arg["input"]}
            finish.append((name, ps))
        else:
            out[name] = accumulator
    return out, finish


def _finisher(fields: list[tuple[str, list[float] | None]]) -> Callable[[list[Doc]], list[Doc]]:
    def finish(docs: list[Doc]) -> list[Doc]:
        for doc in docs:
            for name, ps in fields:
                values = doc.get(name) or []
                if ps is None:
                    doc[name] = _percentile(values, 0.5)
                else:
                    doc[name] = [_percentile(values, p) for p in ps]
        return docs

    return finish


Step = Callable[[list[Doc], Any], list[Doc]]


def _mongomock_step(stages: list[dict[str, Any]]) -> Step:
    def run(docs: list[Doc], spec_meta: Any) -> list[Doc]:
        stages_now = substitute_meta(stages, spec_meta) if spec_meta is not None else stages
        return list(process_pipeline(docs, None, stages_now, None))

    return run


def _finish_step(finish: Callable[[list[Doc]], list[Doc]]) -> Step:
    return lambda docs, _meta: finish(docs)


def compile_inner_pipeline(stages: Any, where: str) -> list[Step]:
    """Validate a window's inner pipeline and turn it into executable steps."""
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{where} must be a non-empty array of stages")
    steps: list[Step] = []
    chunk: list[dict[str, Any]] = []
    has_group = False
    for i, stage in enumerate(stages):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise ValueError(f"{where}[{i}]: a stage must be a document with exactly one field")
        ((name, spec),) = stage.items()
        if name not in INNER_STAGES:
            if isinstance(name, str) and name in WINDOW_STAGES:
                raise ValueError(f"{where}[{i}]: windows cannot be nested")
            raise ValueError(f"{where}[{i}]: unknown or unsupported stage {name!r} in a window")
        if name == "$group":
            has_group = True
            try:
                group, finish = _translate_group(spec)
            except ValueError as exc:
                raise ValueError(f"{where}[{i}]: {exc}") from exc
            chunk.append({"$group": group})
            if finish:
                steps.append(_mongomock_step(chunk))
                steps.append(_finish_step(_finisher(finish)))
                chunk = []
        else:
            chunk.append(to_mongomock_stage(name, spec))
    if chunk:
        steps.append(_mongomock_step(chunk))
    if not has_group:
        raise ValueError(f"{where} must contain a $group stage")
    return steps


@dataclass
class Bucket:
    """One open window: its buffered (BSON-encoded) documents."""

    docs: list[bytes] = field(default_factory=list)
    size: int = 0
    last_ingest_us: int = 0


class WindowOperator:
    """The compiled window stage (immutable); its runtime state is a :class:`WindowState`."""

    kind = "window"
    uses_meta = False

    def __init__(
        self, index: int, stage: str, spec: Any, *, max_windows_per_document: int | None = None
    ) -> None:
        self.index = index
        self.stage = stage
        self.stats_name = operator_name(stage)
        if not isinstance(spec, Mapping):
            raise ValueError(f"{stage} must be a document")
        allowed = {"interval", "pipeline", "allowedLateness", "idleTimeout", "boundary", "offset"}
        if stage == "$hoppingWindow":
            allowed.add("hopSize")
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"{stage}: unknown field {sorted(unknown)[0]!r}")
        required = ["interval", "pipeline"] + (["hopSize"] if stage == "$hoppingWindow" else [])
        for key in required:
            if key not in spec:
                raise ValueError(f"{stage} requires '{key}'")
        self.size_ms = parse_duration(spec["interval"], f"{stage}.interval")
        self.hop_ms = (
            parse_duration(spec["hopSize"], f"{stage}.hopSize")
            if stage == "$hoppingWindow"
            else self.size_ms
        )
        windows = -(-self.size_ms // self.hop_ms)  # ceil: the windows one document is in
        if max_windows_per_document is not None and windows > max_windows_per_document:
            raise ValueError(
                f"{stage}: an interval of {self.size_ms:,} ms with a hopSize of {self.hop_ms:,} ms "
                f"puts each document in {windows:,} windows, more than the emulator's limit of "
                f"{max_windows_per_document:,} (Limits.max_windows_per_document)"
            )
        self.lateness_ms = (
            parse_duration(spec["allowedLateness"], f"{stage}.allowedLateness", allow_zero=True)
            if "allowedLateness" in spec
            else DEFAULT_ALLOWED_LATENESS_MS
        )
        self.idle_timeout_ms = (
            parse_duration(spec["idleTimeout"], f"{stage}.idleTimeout", allow_zero=True)
            if "idleTimeout" in spec
            else None
        )
        self.boundary = spec.get("boundary", "eventTime")
        if self.boundary not in ("eventTime", "processingTime"):
            raise ValueError(
                f"{stage}.boundary must be 'eventTime' or 'processingTime', got {self.boundary!r}"
            )
        self.offset_ms = 0
        if "offset" in spec:
            offset = spec["offset"]
            if not isinstance(offset, Mapping) or not _is_int(offset.get("offsetFromUtc")):
                raise ValueError(f"{stage}.offset must be {{offsetFromUtc: <int>, unit}}")
            if offset.get("unit") not in UNIT_MS or set(offset) - {"offsetFromUtc", "unit"}:
                raise ValueError(f"{stage}.offset.unit must be one of {', '.join(UNIT_MS)}")
            self.offset_ms = offset["offsetFromUtc"] * UNIT_MS[offset["unit"]]
        self.inner_meta = contains_meta(spec["pipeline"])
        self.steps = compile_inner_pipeline(spec["pipeline"], f"{stage}.pipeline")
        check_spec(lambda: self._run_steps([{}], PLACEHOLDER_META))

    def same_shape(self, other: WindowOperator) -> bool:
        """Whether open windows of ``other`` can be carried over to this operator."""
        return (self.stage, self.size_ms, self.hop_ms, self.offset_ms) == (
            other.stage,
            other.size_ms,
            other.hop_ms,
            other.offset_ms,
        )

    def starts(self, event_ms: int) -> list[int]:
        """Start times (epoch ms, ascending) of the windows containing ``event_ms``."""
        last = (event_ms - self.offset_ms) // self.hop_ms * self.hop_ms + self.offset_ms
        starts = []
        start = last
        while start > event_ms - self.size_ms:
            starts.append(start)
            start -= self.hop_ms
        starts.reverse()
        return starts

    def close_time(self, start: int) -> int:
        """Watermark at which the window starting at ``start`` closes."""
        return start + self.size_ms + self.lateness_ms

    def _run_steps(self, docs: list[Doc], meta: Mapping[str, Any]) -> list[Doc]:
        spec_meta = meta if self.inner_meta else None
        for step in self.steps:
            docs = step(docs, spec_meta)
        return docs

    def compute(self, start: int, docs: Iterable[bytes], source_type: str) -> list[Doc]:
        """Run the inner pipeline over a closing window; outputs carry ``_stream_meta``."""
        window = {"start": from_ms(start), "end": from_ms(start + self.size_ms)}
        meta = {"source": {"type": source_type}, "window": window}
        try:
            outputs = self._run_steps([bson.decode(raw) for raw in docs], meta)
        except Exception as exc:
            raise DocumentError(f"{self.stage} pipeline failed: {describe(exc)}") from exc
        for doc in outputs:
            existing = doc.get("_stream_meta")
            stream_meta = dict(existing) if isinstance(existing, Mapping) else {}
            stream_meta.setdefault("source", {"type": source_type})
            stream_meta["window"] = dict(window)
            doc["_stream_meta"] = stream_meta
        return outputs


class WindowState:
    """Open windows of one processor (part of its checkpoint)."""

    def __init__(self) -> None:
        self.open: dict[int, Bucket] = {}
        self.size = 0
        self.entries = 0
        """Documents buffered, counted once per window they are in."""

    def clear(self) -> None:
        """Drop every open window."""
        self.open.clear()
        self.size = 0
        self.entries = 0

    def add(self, starts: Iterable[int], raw: bytes, ingest_us: int) -> None:
        """Buffer one encoded document in the windows starting at ``starts``."""
        for start in starts:
            bucket = self.open.get(start)
            if bucket is None:
                bucket = self.open[start] = Bucket()
            bucket.docs.append(raw)
            bucket.size += len(raw)
            bucket.last_ingest_us = max(bucket.last_ingest_us, ingest_us)
            self.size += len(raw)
            self.entries += 1

    def pop_due(self, operator: WindowOperator, watermark: int) -> list[tuple[int, Bucket]]:
        """Remove and return (ascending) the windows that close at ``watermark``."""
        due = sorted(s for s in self.open if operator.close_time(s) <= watermark)
        popped = [(s, self.open.pop(s)) for s in due]
        self.size -= sum(bucket.size for _, bucket in popped)
        self.entries -= sum(len(bucket.docs) for _, bucket in popped)
        return popped

    def idle_target(self, operator: WindowOperator, now_ms: int) -> int | None:
        """The latest close time of open windows that are already past in wall-clock time."""
        times = [operator.close_time(s) for s in self.open if operator.close_time(s) <= now_ms]
        return max(times) if times else None
