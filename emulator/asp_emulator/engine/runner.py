"""``ProcessorEngine``: runs one processor's pipeline while it is STARTED."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson.objectid import ObjectId

from asp_emulator.engine.compile import Pipeline
from asp_emulator.engine.connections import Connections
from asp_emulator.engine.errors import DocumentError, ProcessorFailure
from asp_emulator.engine.expressions import from_ms
from asp_emulator.engine.sinks import DlqWriter, Sink, encode
from asp_emulator.engine.sources import make_reader
from asp_emulator.engine.stages import DocumentOperator
from asp_emulator.engine.stats import (
    Counters,
    Latency,
    OperatorStats,
    stats_document,
    utc_now,
)
from asp_emulator.engine.windows import LATE_REASON, WindowOperator, WindowState
from asp_emulator.errors import EXCEEDED_MEMORY_LIMIT
from asp_emulator.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)

Doc = dict[str, Any]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _wall_us() -> int:
    return time.time_ns() // 1_000


@dataclass(slots=True)
class Record:
    """A document in flight, with what the engine knows about it."""

    doc: Doc
    size: int
    event_ms: int
    ingest_us: int
    topic: str | None = None
    window: tuple[int, int] | None = None


@dataclass
class _Fault:
    remaining: int
    message: str
    code: int
    retryable: bool


class ProcessorEngine:
    """One processor's runtime state, kept across stop/start.

    The checkpoint is the source position, the open windows and the watermark; the
    statistics count everything since the processor was created. While the processor is
    STARTED, the workspace's scheduler calls :meth:`step` whenever there is work.
    """

    def __init__(
        self,
        name: str,
        pipeline: Pipeline,
        connections: Connections,
        *,
        dlq: Mapping[str, Any] | None = None,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
        poll_interval: float = 0.015,
        idle_timeout: float = 0.1,
        batch_size: int = 8,
        recent_outputs_size: int = 1000,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.name = name
        self.pipeline = pipeline
        self.connections = connections
        self.on_sample = on_sample
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self.batch_size = max(1, batch_size)
        self.processor_id = str(ObjectId())
        self._dlq = DlqWriter(dlq, connections) if dlq else None
        source = pipeline.source
        self._source_type = source.source_type if source is not None else "inmemory"
        self._reader = make_reader(source, connections, name)
        self._window: WindowOperator | None = pipeline.window
        self._window_state = WindowState()
        self._window_pos = next(
            (i for i, op in enumerate(pipeline.operators) if op is pipeline.window), -1
        )
        self._watermark: int | None = None
        self._totals = Counters()
        self._op_stats = [OperatorStats(name="SourceOperator")] + [
            OperatorStats(name=op.stats_name) for op in pipeline.operators
        ]
        self._latency = Latency()
        self._recent_outputs: deque[dict[str, Any]] = deque(maxlen=recent_outputs_size)
        self._fault: _Fault | None = None
        self._last_input = time.monotonic()
        self.limits = limits

    # -- control ----------------------------------------------------------------------------

    def clear_checkpoints(self) -> None:
        """Re-read sources from the beginning and drop open windows (stats are kept)."""
        self._reader.reset()
        self._window_state.clear()
        self._watermark = None

    def adopt_checkpoint(self, previous: ProcessorEngine) -> None:
        """Continue from ``previous`` (``modify`` with ``resumeFromCheckpoint``).

        Keeps the summary stats and the processor id; keeps the source position when the
        ``$source`` is unchanged, and the open windows when the window has the same type,
        size, hop and offset (their inner pipeline runs with the new definition).
        """
        self.processor_id = previous.processor_id
        self._totals.copy_from(previous._totals)
        same_source = (
            self.pipeline.source is not None
            and previous.pipeline.source is not None
            and self.pipeline.source.spec == previous.pipeline.source.spec
        )
        if same_source:
            self._reader.adopt(previous._reader)
            self._watermark = previous._watermark
        if (
            self._window is not None
            and previous._window is not None
            and self._window.same_shape(previous._window)
        ):
            self._window_state = previous._window_state
            previous._window_state = WindowState()

    def fail_after(self, documents: int, message: str, code: int, retryable: bool = False) -> None:
        """Test fault: ``run()`` raises ``ProcessorFailure`` after ``documents`` more inputs."""
        self._fault = _Fault(max(0, documents), message, code, retryable)

    def recent_outputs(self) -> list[dict[str, Any]]:
        """The most recent sample documents (outputs and ``_dlqMessage``s), oldest first."""
        return list(self._recent_outputs)

    # -- running --------------------------------------------------------------------------------

    def _check_fault(self) -> None:
        fault = self._fault
        if fault is not None and fault.remaining <= 0:
            self._fault = None
            raise ProcessorFailure(fault.message, fault.code, fault.retryable)

    def _idle_timeout_s(self) -> float:
        if self._window is not None and self._window.idle_timeout_ms is not None:
            return max(self.idle_timeout, self._window.idle_timeout_ms / 1000)
        return self.idle_timeout

    def start(self) -> None:
        """The processor starts (or restarts) running: call before the first :meth:`step`."""
        self._reader.resume()
        self._last_input = time.monotonic()

    def watch_sources(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when input is fed to the source; returns the unwatch function."""
        return self._reader.watch(callback)

    def step(self, deadline: float) -> float | None:
        """Process the input available now until ``deadline`` (``time.monotonic()``).

        Returns when to step again: a time (at or before now: more input is waiting), or
        None: only when input is fed. Raises ``ProcessorFailure`` when the processor fails.
        """
        while True:
            self._check_fault()
            limit = self.batch_size
            if self._fault is not None:
                limit = min(limit, self._fault.remaining)
            items = self._reader.read(limit)
            if not items:
                break
            for doc, size, topic in items:
                self._ingest(doc, size, topic)
            if self._fault is not None:
                self._fault.remaining -= len(items)
            now = time.monotonic()
            self._last_input = now
            if now >= deadline:
                return now
        now = time.monotonic()
        idle_at = self._last_input + self._idle_timeout_s()
        if now >= idle_at:
            self._on_idle()
        return self._next_step(now, idle_at)

    def _next_step(self, now: float, idle_at: float) -> float | None:
        """The earliest of: the source's next document, the next window to close idle."""
        due = self._reader.next_due(now)
        if self._window is not None and self._window_state.open:
            if now < idle_at:
                wake = idle_at
            else:
                first_close = self._window.close_time(min(self._window_state.open))
                wake = max(idle_at, now + (first_close - _wall_ms()) / 1000)
            due = wake if due is None else min(due, wake)
        if self._fault is not None and self._fault.remaining <= 0:
            due = now
        return due

    async def run(self) -> None:
        """Run on its own until cancelled, polling fed sources every ``poll_interval``
        (engine tests; the workspace uses the scheduler). Raises ``ProcessorFailure`` when
        the processor fails."""
        poll = self.poll_interval
        self.start()
        while True:
            again = self.step(time.monotonic() + 0.005)
            now = time.monotonic()
            if again is not None and again <= now:
                await asyncio.sleep(0)
                continue
            wait = poll if again is None else min(poll, again - now)
            await asyncio.sleep(wait)

    def _ingest(self, doc: Doc, size: int, topic: str | None) -> None:
        ingest_us = _wall_us()
        self._totals.input_count += 1
        self._totals.input_size += size
        stats = self._op_stats[0]
        stats.input_count += 1
        stats.input_size += size
        source = self.pipeline.source
        event_ms = ingest_us // 1000
        if source is not None and source.time_field is not None:
            window = self._window
            if window is None or window.boundary == "eventTime":
                try:
                    event_ms = source.time_field(doc)
                except DocumentError as exc:
                    self._dead_letter(doc, "$source", exc.reason, stats)
                    return
        if source is not None and source.ts_field_name:
            doc[source.ts_field_name] = from_ms(event_ms)
        stats.output_count += 1
        stats.output_size += size
        if self._watermark is None or event_ms > self._watermark:
            self._watermark = event_ms
            self._close_windows()
        self._push([Record(doc, size, event_ms, ingest_us, topic)], 0)

    def _meta(self, record: Record) -> dict[str, Any]:
        source: dict[str, Any] = {
            "type": self._source_type,
            "ts": from_ms(record.ingest_us // 1000),
        }
        if record.topic is not None:
            source["topic"] = record.topic
        meta: dict[str, Any] = {"source": source}
        if record.window is not None:
            meta["window"] = {"start": from_ms(record.window[0]), "end": from_ms(record.window[1])}
        return meta

    def _push(self, records: list[Record], start: int) -> None:
        """Run ``records`` through the operators from position ``start`` to the end."""
        operators = self.pipeline.operators
        for position in range(start, len(operators)):
            operator = operators[position]
            stats = self._op_stats[position + 1]
            if isinstance(operator, WindowOperator):
                for record in records:
                    self._window_add(operator, record, stats)
                return
            records = self._apply(operator, records, stats)
            if not records:
                return
        for record in records:
            self._output(record)

    def _apply(
        self, operator: DocumentOperator | Sink, records: list[Record], stats: OperatorStats
    ) -> list[Record]:
        out: list[Record] = []
        for record in records:
            stats.input_count += 1
            stats.input_size += record.size
            started = time.perf_counter_ns()
            try:
                if isinstance(operator, Sink):
                    operator.write(record.doc)
                    results = [record]
                else:
                    meta = self._meta(record) if operator.uses_meta else None
                    docs = operator.apply(record.doc, meta)
                    results = [
                        record
                        if doc is record.doc
                        else Record(
                            doc,
                            len(encode(doc)),
                            record.event_ms,
                            record.ingest_us,
                            record.topic,
                            record.window,
                        )
                        for doc in docs
                    ]
            except DocumentError as exc:
                stats.execution_ns += time.perf_counter_ns() - started
                self._dead_letter(record.doc, operator.stage, exc.reason, stats)
                continue
            stats.execution_ns += time.perf_counter_ns() - started
            for result in results:
                stats.output_count += 1
                stats.output_size += result.size
            out.extend(results)
        return out

    def _window_add(self, operator: WindowOperator, record: Record, stats: OperatorStats) -> None:
        stats.input_count += 1
        stats.input_size += record.size
        watermark = self._watermark if self._watermark is not None else record.event_ms
        starts = [s for s in operator.starts(record.event_ms) if operator.close_time(s) > watermark]
        if not starts:
            self._dead_letter(record.doc, operator.stage, LATE_REASON, stats)
            return
        try:
            raw = encode(record.doc)
        except DocumentError as exc:
            self._dead_letter(record.doc, operator.stage, exc.reason, stats)
            return
        state = self._window_state
        state.add(starts, raw, record.ingest_us)
        stats.state_size = state.size
        stats.max_memory = max(stats.max_memory, stats.state_size)
        if len(state.open) > self.limits.max_open_windows:
            raise self._out_of_memory(f"{len(state.open):,} open windows", "max_open_windows")
        if state.entries > self.limits.max_buffered_documents:
            raise self._out_of_memory(
                f"{state.entries:,} documents buffered in open windows", "max_buffered_documents"
            )

    def _out_of_memory(self, what: str, limit: str) -> ProcessorFailure:
        bound = getattr(self.limits, limit)
        return ProcessorFailure(
            f"processor {self.name} ran out of memory: {what}, more than the emulator's "
            f"limit of {bound:,} (Limits.{limit})",
            EXCEEDED_MEMORY_LIMIT[0],
        )

    def _close_windows(self) -> None:
        operator = self._window
        if operator is None or self._watermark is None or not self._window_state.open:
            return
        stats = self._op_stats[self._window_pos + 1]
        for start, bucket in self._window_state.pop_due(operator, self._watermark):
            end = start + operator.size_ms
            started = time.perf_counter_ns()
            try:
                docs = operator.compute(start, bucket.docs, self._source_type)
                records = [
                    Record(doc, len(encode(doc)), start, bucket.last_ingest_us, None, (start, end))
                    for doc in docs
                ]
            except DocumentError as exc:
                window = {"start": from_ms(start), "end": from_ms(end)}
                self._dead_letter(
                    {"_stream_meta": {"window": window}}, operator.stage, exc.reason, stats
                )
                continue
            finally:
                stats.execution_ns += time.perf_counter_ns() - started
            for record in records:
                stats.output_count += 1
                stats.output_size += record.size
            self._push(records, self._window_pos + 1)
        stats.state_size = self._window_state.size

    def _on_idle(self) -> None:
        """The source is idle: close windows whose end (plus lateness) is past in wall time."""
        if self._window is None:
            return
        target = self._window_state.idle_target(self._window, _wall_ms())
        if target is not None and (self._watermark is None or target > self._watermark):
            self._watermark = target
            self._close_windows()

    def _output(self, record: Record) -> None:
        self._totals.output_count += 1
        self._totals.output_size += record.size
        now_us = _wall_us()
        self._latency.record(now_us - record.ingest_us, now_us // 1000)
        self._sample(record.doc)

    def _sample(self, doc: dict[str, Any]) -> None:
        self._recent_outputs.append(doc)
        if self.on_sample is not None:
            try:
                self.on_sample(doc)
            except Exception:
                log.exception("on_sample callback of processor %s failed", self.name)

    def _dead_letter(self, doc: Doc, operator: str, reason: str, stats: OperatorStats) -> None:
        message: dict[str, Any] = {
            "_stream_meta": {"source": {"type": self._source_type}},
            "errInfo": {"reason": reason},
            "doc": doc,
            "processorName": self.name,
            "dlqTime": utc_now(),
            "operatorName": operator,
        }
        try:
            raw = bson.encode(message)
        except Exception:
            message["doc"] = {"_unencodable": repr(doc)}
            raw = bson.encode(message)
        size = len(raw)
        self._totals.dlq_count += 1
        self._totals.dlq_size += size
        stats.dlq_count += 1
        stats.dlq_size += size
        if self._dlq is not None:
            try:
                self._dlq.write(raw)
            except Exception:
                log.exception("processor %s could not write to its dead letter queue", self.name)
        sample = bson.decode(raw)
        del sample["operatorName"]
        self._sample({"_dlqMessage": sample})

    # -- stats ----------------------------------------------------------------------------------

    def stats(self, *, scale: int = 1, verbose: bool = False) -> dict[str, Any]:
        """The ``stats`` sub-document of ``getStreamProcessorStats`` (§8.1 field names)."""
        if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
            raise ValueError("scale must be a positive integer")
        open_starts = list(self._window_state.open)
        window_starts = (min(open_starts), max(open_starts)) if open_starts else None
        return stats_document(
            name=self.name,
            processor_id=self.processor_id,
            scale=scale,
            totals=self._totals,
            state_size=self._window_state.size,
            watermark=self._watermark,
            operators=self._op_stats if verbose else None,
            latency=self._latency if verbose else None,
            window_starts=window_starts,
        )
