"""Counters behind ``getStreamProcessorStats`` (summary, per operator, latency)."""

from __future__ import annotations

import datetime
from collections import deque
from dataclasses import dataclass
from typing import Any

from bson.int64 import Int64

from asp_emulator.engine.expressions import from_ms


@dataclass
class Counters:
    """Message counts and byte sizes."""

    input_count: int = 0
    input_size: int = 0
    output_count: int = 0
    output_size: int = 0
    dlq_count: int = 0
    dlq_size: int = 0

    def copy_from(self, other: Counters) -> None:
        """Take over another set of counters (``modify`` with ``resumeFromCheckpoint``)."""
        self.__dict__.update(other.__dict__)

    def to_doc(self, scale: int) -> dict[str, Any]:
        """The §8.1 count/size fields; sizes divided by ``scale``."""
        return {
            "inputMessageCount": Int64(self.input_count),
            "inputMessageSize": self.input_size / scale,
            "outputMessageCount": Int64(self.output_count),
            "outputMessageSize": self.output_size / scale,
            "dlqMessageCount": Int64(self.dlq_count),
            "dlqMessageSize": self.dlq_size / scale,
        }


@dataclass
class OperatorStats(Counters):
    """Counters of one pipeline stage, plus its time and memory."""

    name: str = ""
    execution_ns: int = 0
    state_size: int = 0
    max_memory: int = 0

    def to_operator_doc(self, scale: int) -> dict[str, Any]:
        """One ``operatorStats`` entry."""
        return {
            "name": self.name,
            **self.to_doc(scale),
            "stateSize": self.state_size / scale,
            "maxMemoryUsage": self.max_memory / scale,
            "executionTimeMillis": Int64(self.execution_ns // 1_000_000),
        }


class Latency:
    """End-to-end latency (ingestion to output) of the most recent outputs, in microseconds."""

    def __init__(self, window: int = 1024) -> None:
        self.samples: deque[int] = deque(maxlen=window)
        self.count = 0
        self.total = 0
        self.start_ms: int | None = None
        self.end_ms: int | None = None

    def record(self, micros: int, now_ms: int) -> None:
        """Record one output's latency."""
        micros = max(0, micros)
        self.samples.append(micros)
        self.count += 1
        self.total += micros
        if self.start_ms is None:
            self.start_ms = now_ms
        self.end_ms = now_ms

    def _percentile(self, p: float) -> int:
        ordered = sorted(self.samples)
        if not ordered:
            return 0
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    def to_doc(self) -> dict[str, Any]:
        """The verbose ``latency`` document."""
        doc: dict[str, Any] = {
            "p50": Int64(self._percentile(0.50)),
            "p99": Int64(self._percentile(0.99)),
        }
        if self.start_ms is not None and self.end_ms is not None:
            doc["start"] = from_ms(self.start_ms)
            doc["end"] = from_ms(self.end_ms)
        doc.update({"unit": "microseconds", "count": Int64(self.count), "sum": Int64(self.total)})
        return doc


def stats_document(
    *,
    name: str,
    processor_id: str,
    scale: int,
    totals: Counters,
    state_size: int,
    watermark: int | None,
    operators: list[OperatorStats] | None,
    latency: Latency | None,
    window_starts: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Assemble the ``stats`` sub-document (verbose parts only when ``operators`` is given)."""
    doc: dict[str, Any] = {
        "name": name,
        "processorId": processor_id,
        "status": "running",
        "scaleFactor": Int64(scale),
        **totals.to_doc(scale),
        "stateSize": state_size / scale,
        "memoryTrackerBytes": state_size / scale,
    }
    if watermark is not None:
        doc["watermark"] = from_ms(watermark)
    doc["ok"] = 1
    if operators is not None:
        entries = [op.to_operator_doc(scale) for op in operators]
        if window_starts is not None:
            for op, entry in zip(operators, entries, strict=True):
                if op.name.endswith("WindowOperator"):
                    entry["minOpenWindowStartTime"] = from_ms(window_starts[0])
                    entry["maxOpenWindowStartTime"] = from_ms(window_starts[1])
        doc["operatorStats"] = entries
        doc["latency"] = (latency or Latency()).to_doc()
    return doc


def utc_now() -> datetime.datetime:
    """Now as a naive UTC datetime with millisecond precision (what BSON stores)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
