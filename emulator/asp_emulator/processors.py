"""Stream processors of a workspace: the state machine, options, sample cursors.

Everything here runs on the emulator's event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId
from bson.int64 import Int64
from bson.timestamp import Timestamp

from asp_emulator.engine import (
    Connections,
    PipelineError,
    ProcessorEngine,
    ProcessorFailure,
    compile_pipeline,
)
from asp_emulator.errors import (
    COMMAND_FAILED,
    CURSOR_NOT_FOUND,
    FAILED_TO_PARSE,
    INTERNAL_ERROR,
    PROCESSOR_ALREADY_EXISTS,
    PROCESSOR_DOES_NOT_EXIST,
    PROCESSOR_INVALID_OPTIONS,
    CommandError,
)

log = logging.getLogger(__name__)

CREATED, STARTED, STOPPED, FAILED = "CREATED", "STARTED", "STOPPED", "FAILED"
TIERS = ("SP2", "SP5", "SP10", "SP30", "SP50")
_STATUS = {CREATED: "created", STARTED: "running", STOPPED: "stopped", FAILED: "error"}

CURSOR_BUFFER = 10_000  # documents a sample cursor holds for its reader; older ones are dropped
CURSOR_IDLE_SECONDS = 600.0  # a sample cursor nobody reads for this long is forgotten
DEFAULT_BATCH = 1_000  # documents per getMore reply when the client gives no batchSize


def now() -> datetime:
    """The current time, UTC, at millisecond precision (what BSON keeps)."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def processor_name(command: Mapping[str, Any], key: str) -> str:
    """The processor name that is the value of the command ``key``."""
    name = command.get(key)
    if not isinstance(name, str) or not name.strip():
        raise CommandError(FAILED_TO_PARSE, f"{key}: the processor name must be a non-empty string")
    return name


def _option(command: Mapping[str, Any], key: str) -> Any:
    """An option given at the top level or under ``options`` (clients disagree on placement)."""
    options = command.get("options")
    if isinstance(options, Mapping) and key in options:
        return options[key]
    return command.get(key)


def _check_type(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if value is not None and (
        not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
    ):
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {what}")
    return value


def _positive_int(key: str, value: Any, *, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        bound = "a non-negative integer" if allow_zero else "a positive integer"
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {bound}")
    return int(value)


@dataclass
class WorkspaceDefaults:
    """The workspace's tier settings (``listWorkspaceDefaults``)."""

    default_tier: str = "SP10"
    max_tier: str = "SP50"

    def check_tier(self, value: Any) -> str | None:
        """Validate a tier option: one of SP2..SP50 and not above the workspace maximum."""
        if value is None:
            return None
        if value not in TIERS:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"invalid tier {value!r}: expected one of {', '.join(TIERS)}",
            )
        if TIERS.index(value) > TIERS.index(self.max_tier):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"tier {value} exceeds the workspace's maximum tier {self.max_tier}",
            )
        return str(value)


@dataclass
class SampleCursor:
    """A tap on a processor's output, read with ``getMoreSampleStreamProcessor``."""

    id: int
    processor: str
    limit: int | None
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=CURSOR_BUFFER))
    delivered: int = 0
    ended: bool = False
    last_read: float = field(default_factory=time.monotonic)

    def push(self, doc: dict[str, Any]) -> None:
        """A document came out of the processor."""
        if not self.ended and (
            self.limit is None or self.delivered + len(self.buffer) < self.limit
        ):
            self.buffer.append(doc)

    def take(self, batch_size: int | None) -> tuple[list[dict[str, Any]], bool]:
        """The next batch, and whether the cursor is exhausted after it."""
        self.last_read = time.monotonic()
        size = batch_size or DEFAULT_BATCH
        if self.limit is not None:
            size = min(size, self.limit - self.delivered)
        batch = [self.buffer.popleft() for _ in range(min(size, len(self.buffer)))]
        self.delivered += len(batch)
        limit_reached = self.limit is not None and self.delivered >= self.limit
        return batch, limit_reached or (self.ended and not self.buffer)


class Processor:
    """One stream processor: its definition, state and running engine."""

    def __init__(
        self,
        name: str,
        stages: list[Any],
        engine: ProcessorEngine,
        *,
        options: dict[str, Any],
        owner: str,
        ephemeral: bool = False,
    ) -> None:
        self.id = str(ObjectId())
        self.name = name
        self.stages = stages
        self.engine = engine
        self.options = options
        self.ephemeral = ephemeral
        self.state = CREATED
        self.task: asyncio.Task[None] | None = None
        self.cursors: dict[int, SampleCursor] = {}
        self.pipeline_version = 1
        self.created_at = self.last_modified_at = self.last_state_change = now()
        self.modified_by = owner
        self.has_started = False
        self.workers: int | None = None
        self.enable_auto_scaling = False
        self.tier: str | None = options.get("tier")
        self.error: tuple[str, int, bool] = ("", 0, False)

    def set_state(self, state: str) -> None:
        """Move to ``state`` and stamp the change."""
        self.state = state
        self.last_state_change = now()

    def on_sample(self, doc: dict[str, Any]) -> None:
        """Fan an output document out to the open sample cursors."""
        for cursor in self.cursors.values():
            cursor.push(doc)

    def end_cursors(self) -> None:
        """Stopped, failed or dropped: cursors deliver what they hold, then report exhaustion."""
        for cursor in self.cursors.values():
            cursor.ended = True

    def info(self, tier_default: str) -> dict[str, Any]:
        """The ``getStreamProcessor`` document (plus an internal field drivers must hide)."""
        message, code, retryable = self.error
        stats = self.engine.stats()
        doc: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "pipeline": self.stages,
            "pipelineVersion": self.pipeline_version,
            "tier": self.tier or tier_default,
            "enableAutoScaling": self.enable_auto_scaling,
            "failoverEnabled": bool(self.options.get("failover", False)),
            "lastModifiedAt": self.last_modified_at,
            "modifiedBy": self.modified_by,
            "lastStateChange": self.last_state_change,
            "hasStarted": self.has_started,
            "stats": {
                key: stats[key]
                for key in ("inputMessageCount", "outputMessageCount", "dlqMessageCount")
                if key in stats
            },
            "errorMsg": message,
            "errorCode": code,
            "errorRetryable": retryable,
            "tenantID": "emulator-tenant",
        }
        for key in ("dlq", "streamMetaFieldName"):
            if key in self.options:
                doc[key] = self.options[key]
        return doc

    def list_item(self, tier_default: str) -> dict[str, Any]:
        """The ``listStreamProcessors`` item (the shape of the mongosh fixture)."""
        return {
            "id": self.id,
            "name": self.name,
            "pipeline": self.stages,
            "state": self.state,
            "tier": self.tier or tier_default,
            "errorMsg": self.error[0],
            "lastModified": self.last_modified_at,
            "lastStateChange": self.last_state_change,
            "options": {k: v for k, v in self.options.items() if k != "tier"},
        }


class ProcessorRegistry:
    """The processors of one workspace and the commands that change them."""

    def __init__(
        self,
        connections: Connections,
        defaults: WorkspaceDefaults,
        *,
        process_ttl: float = 600.0,
    ) -> None:
        self.connections = connections
        self.defaults = defaults
        self.process_ttl = process_ttl
        self.processors: dict[str, Processor] = {}
        self.cursors: dict[int, SampleCursor] = {}
        self._ephemeral_ids = itertools.count(1)

    # -- lookup -------------------------------------------------------------------------
    def get(self, name: str) -> Processor:
        """The processor, or StreamProcessorDoesNotExist."""
        processor = self.processors.get(name)
        if processor is None:
            raise CommandError(PROCESSOR_DOES_NOT_EXIST, f"stream processor does not exist: {name}")
        return processor

    def visible(self) -> list[Processor]:
        """Persistent processors, in creation order (ephemeral ``process`` ones are not listed)."""
        return [p for p in self.processors.values() if not p.ephemeral]

    # -- definitions --------------------------------------------------------------------
    def _compile(self, stages: Any) -> Any:
        try:
            return compile_pipeline(stages, self.connections)
        except PipelineError as exc:
            raise CommandError((exc.code, exc.code_name), str(exc)) from exc

    def _check_dlq(self, dlq: Any) -> dict[str, Any] | None:
        if dlq is None or dlq == {}:
            return None
        if not isinstance(dlq, Mapping) or not all(
            isinstance(dlq.get(k), str) and dlq.get(k) for k in ("connectionName", "db", "coll")
        ):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS, "option dlq must be {connectionName, db, coll}"
            )
        if not self.connections.exists(dlq["connectionName"]):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"dlq connection {dlq['connectionName']!r} does not exist",
            )
        return dict(dlq)

    def create(self, command: Mapping[str, Any], owner: str) -> None:
        """``createStreamProcessor``."""
        name = processor_name(command, "createStreamProcessor")
        if "pipeline" not in command:
            raise CommandError(FAILED_TO_PARSE, "createStreamProcessor requires a pipeline")
        pipeline = self._compile(command["pipeline"])
        options_doc = command.get("options") or {}
        if not isinstance(options_doc, Mapping):
            raise CommandError(PROCESSOR_INVALID_OPTIONS, "options must be a document")
        options: dict[str, Any] = {}
        dlq = self._check_dlq(options_doc.get("dlq"))
        if dlq:
            options["dlq"] = dlq
        tier = self.defaults.check_tier(options_doc.get("tier"))
        if tier:
            options["tier"] = tier
        meta = _check_type(
            "streamMetaFieldName", options_doc.get("streamMetaFieldName"), str, "a string"
        )
        if meta:
            options["streamMetaFieldName"] = meta
        failover = _check_type("failover", options_doc.get("failover"), bool, "a boolean")
        if failover is not None:
            options["failover"] = failover
        if name in self.processors:
            raise CommandError(PROCESSOR_ALREADY_EXISTS, f"stream processor already exists: {name}")
        processor = Processor(
            name,
            list(command["pipeline"]),
            self._engine(name, pipeline, dlq),
            options=options,
            owner=owner,
        )
        self.processors[name] = processor

    def _engine(self, name: str, pipeline: Any, dlq: Mapping[str, Any] | None) -> ProcessorEngine:
        def on_sample(doc: dict[str, Any]) -> None:
            processor = self.processors.get(name)
            if processor is not None:
                processor.on_sample(doc)

        return ProcessorEngine(name, pipeline, self.connections, dlq=dlq, on_sample=on_sample)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, command: Mapping[str, Any]) -> None:
        """``startStreamProcessor``: CREATED, STOPPED or FAILED to STARTED."""
        name = processor_name(command, "startStreamProcessor")
        processor = self.get(name)
        workers = _positive_int("workers", _option(command, "workers"))
        tier = self.defaults.check_tier(_option(command, "tier"))
        clear = _check_type(
            "clearCheckpoints", _option(command, "clearCheckpoints"), bool, "a boolean"
        )
        auto = _check_type(
            "enableAutoScaling", _option(command, "enableAutoScaling"), bool, "a boolean"
        )
        at_time = _check_type(
            "startAtOperationTime",
            _option(command, "startAtOperationTime"),
            Timestamp,
            "a Timestamp",
        )
        after = _check_type("startAfter", _option(command, "startAfter"), Mapping, "a document")
        if at_time is not None and after is not None:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                "startAfter and startAtOperationTime are mutually exclusive",
            )
        if processor.state == STARTED:
            raise CommandError(
                PROCESSOR_ALREADY_EXISTS, f"stream processor {name} is already running"
            )
        if clear:
            processor.engine.clear_checkpoints()
        if tier:
            processor.tier = tier
        processor.workers = workers
        processor.enable_auto_scaling = bool(auto)
        self._run(processor)

    def _run(self, processor: Processor) -> None:
        processor.error = ("", 0, False)
        processor.has_started = True
        processor.set_state(STARTED)
        processor.task = asyncio.get_running_loop().create_task(
            self._supervise(processor), name=f"processor:{processor.name}"
        )

    async def _supervise(self, processor: Processor) -> None:
        try:
            await processor.engine.run()
        except asyncio.CancelledError:
            raise
        except ProcessorFailure as failure:
            self.mark_failed(processor, str(failure), failure.code, failure.retryable)
        except Exception as exc:  # a bug in a stage must fail the processor, not the server
            log.exception("processor %s crashed", processor.name)
            self.mark_failed(processor, f"internal error: {exc}", INTERNAL_ERROR[0], False)

    def mark_failed(self, processor: Processor, message: str, code: int, retryable: bool) -> None:
        """The processor failed at runtime."""
        processor.error = (message, code, retryable)
        processor.set_state(FAILED)
        processor.task = None
        processor.end_cursors()

    async def _halt(self, processor: Processor) -> None:
        task, processor.task = processor.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        processor.end_cursors()

    async def stop(self, command: Mapping[str, Any]) -> None:
        """``stopStreamProcessor``: STARTED to STOPPED."""
        name = processor_name(command, "stopStreamProcessor")
        processor = self.get(name)
        if processor.state != STARTED:
            raise CommandError(
                COMMAND_FAILED,
                f"stream processor {name} must be STARTED to be stopped, it is {processor.state}",
            )
        await self._halt(processor)
        processor.set_state(STOPPED)

    async def drop(self, command: Mapping[str, Any]) -> None:
        """``dropStreamProcessor``: from any state, stopping it first."""
        name = processor_name(command, "dropStreamProcessor")
        processor = self.get(name)
        await self._halt(processor)
        del self.processors[name]
        for cursor_id in list(processor.cursors):
            self.cursors.pop(cursor_id, None)

    async def fail(
        self, name: str, message: str, code: int, retryable: bool, after_documents: int | None
    ) -> None:
        """Test hook: make a running processor fail now or after N more input documents."""
        processor = self.get(name)
        if processor.state != STARTED:
            raise ValueError(f"processor {name} is {processor.state}, not STARTED")
        if after_documents is None:
            await self._halt(processor)
            self.mark_failed(processor, message, code, retryable)
        else:
            processor.engine.fail_after(after_documents, message, code, retryable)

    def modify(self, command: Mapping[str, Any], owner: str) -> None:
        """``modifyStreamProcessor``: change a processor that is not running."""
        name = processor_name(command, "modifyStreamProcessor")
        processor = self.get(name)
        if processor.state == STARTED:
            raise CommandError(
                COMMAND_FAILED, f"stream processor {name} must be stopped before it is modified"
            )
        new_name = _check_type("name", _option(command, "name"), str, "a string")
        resume_given = _check_type(
            "resumeFromCheckpoint", _option(command, "resumeFromCheckpoint"), bool, "a boolean"
        )
        resume = True if resume_given is None else resume_given
        tier = self.defaults.check_tier(_option(command, "tier"))
        dlq_given = _option(command, "dlq") is not None
        dlq = (
            self._check_dlq(_option(command, "dlq")) if dlq_given else processor.options.get("dlq")
        )
        stages = _option(command, "pipeline")
        if stages is None and resume_given is None and not (new_name or tier or dlq_given):
            raise CommandError(FAILED_TO_PARSE, "modifyStreamProcessor: nothing to modify")
        if (
            new_name is not None
            and (not new_name.strip() or new_name in self.processors)
            and new_name != name
        ):
            raise CommandError(
                PROCESSOR_ALREADY_EXISTS if new_name.strip() else FAILED_TO_PARSE,
                f"cannot rename {name} to {new_name!r}",
            )
        pipeline = self._compile(stages if stages is not None else processor.stages)
        new_stages = list(pipeline.stages)
        if resume and stages is not None and new_stages[:1] != processor.stages[:1]:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                "the $source stage cannot change when resumeFromCheckpoint is true",
            )
        final_name = new_name or name
        engine = self._engine(final_name, pipeline, dlq)
        if resume:
            engine.adopt_checkpoint(processor.engine)
        processor.engine = engine
        processor.stages = new_stages
        if dlq_given:
            if dlq:
                processor.options["dlq"] = dlq
            else:
                processor.options.pop("dlq", None)
        if tier:
            processor.tier = tier
        if stages is not None:
            processor.pipeline_version += 1
        processor.last_modified_at = now()
        processor.modified_by = owner
        if final_name != name:
            del self.processors[name]
            processor.name = final_name
            self.processors[final_name] = processor

    # -- stats --------------------------------------------------------------------------
    def stats(self, command: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        """``getStreamProcessorStats``, in any state (the state is part of the reply)."""
        name = processor_name(command, "getStreamProcessorStats")
        processor = self.get(name)
        scale = _positive_int("scale", _option(command, "scale")) or 1
        verbose = _check_type("verbose", _option(command, "verbose"), bool, "a boolean")
        stats = processor.engine.stats(scale=scale, verbose=bool(verbose))
        stats["name"] = name
        stats["processorId"] = processor.id
        stats["status"] = _STATUS.get(processor.state, processor.state.lower())
        return {
            "ok": 1.0,
            "ns": f"{namespace}.{name}",
            "name": name,
            "state": processor.state,
            "stats": stats,
            "pipeline": processor.stages,
        }

    # -- samples ------------------------------------------------------------------------
    def _new_cursor(self, processor: Processor, limit: int | None) -> SampleCursor:
        self._expire_cursors()
        cursor_id = secrets.randbits(52) or 1  # exact as a double, for JavaScript clients
        cursor = SampleCursor(cursor_id, processor.name, limit or None)
        for doc in processor.engine.recent_outputs():
            cursor.push(doc)
        processor.cursors[cursor_id] = cursor
        self.cursors[cursor_id] = cursor
        return cursor

    def _expire_cursors(self) -> None:
        deadline = time.monotonic() - CURSOR_IDLE_SECONDS
        for cursor_id, cursor in list(self.cursors.items()):
            if cursor.last_read < deadline:
                del self.cursors[cursor_id]
                owner = self.processors.get(cursor.processor)
                if owner is not None:
                    owner.cursors.pop(cursor_id, None)

    def start_sample(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """``startSampleStreamProcessor``: open a cursor on a running processor."""
        name = processor_name(command, "startSampleStreamProcessor")
        processor = self.get(name)
        limit = _positive_int("limit", _option(command, "limit"), allow_zero=True)
        if processor.state != STARTED:
            raise CommandError(
                COMMAND_FAILED,
                f"stream processor {name} must be STARTED to be sampled, it is {processor.state}",
            )
        cursor = self._new_cursor(processor, limit)
        return {"ok": 1.0, "cursorId": Int64(cursor.id)}

    def get_more(self, command: Mapping[str, Any], batch_key: str) -> dict[str, Any]:
        """``getMoreSampleStreamProcessor``: the next batch of a sample cursor."""
        name = processor_name(command, "getMoreSampleStreamProcessor")
        raw_id = command.get("cursorId", command.get("cursorID"))
        if isinstance(raw_id, float) and raw_id.is_integer():
            raw_id = int(raw_id)
        if not isinstance(raw_id, int) or isinstance(raw_id, bool) or raw_id <= 0:
            raise CommandError(
                FAILED_TO_PARSE, "getMoreSampleStreamProcessor requires a positive cursorId"
            )
        batch_size = _positive_int("batchSize", command.get("batchSize"), allow_zero=True)
        cursor = self.cursors.get(int(raw_id))
        if cursor is None or cursor.processor != name:
            if name not in self.processors:
                raise CommandError(
                    PROCESSOR_DOES_NOT_EXIST, f"stream processor does not exist: {name}"
                )
            raise CommandError(CURSOR_NOT_FOUND, f"sample cursor {raw_id} not found for {name}")
        batch, exhausted = cursor.take(batch_size)
        if exhausted:
            self.cursors.pop(cursor.id, None)
            owner = self.processors.get(name)
            if owner is not None:
                owner.cursors.pop(cursor.id, None)
                if owner.ephemeral:
                    asyncio.get_running_loop().create_task(self._drop_quietly(name))
        return {"ok": 1.0, "cursorId": Int64(0 if exhausted else cursor.id), batch_key: batch}

    async def _drop_quietly(self, name: str) -> None:
        with contextlib.suppress(CommandError):
            await self.drop({"dropStreamProcessor": name})

    def process(self, command: Mapping[str, Any], owner: str) -> dict[str, Any]:
        """``processStreamProcessor``: an ephemeral processor, read through the sample protocol."""
        stages = command.get("processStreamProcessor")
        pipeline = self._compile(stages)
        options = command.get("options") or {}
        if not isinstance(options, Mapping):
            raise CommandError(PROCESSOR_INVALID_OPTIONS, "options must be a document")
        limit = _positive_int("limit", options.get("limit"), allow_zero=True)
        dlq = self._check_dlq(options.get("dlq"))
        name = f"__process_{next(self._ephemeral_ids)}_{secrets.token_hex(4)}"
        processor = Processor(
            name,
            list(pipeline.stages),
            self._engine(name, pipeline, dlq),
            options={},
            owner=owner,
            ephemeral=True,
        )
        self.processors[name] = processor
        self._run(processor)
        cursor = self._new_cursor(processor, limit)
        asyncio.get_running_loop().call_later(
            self.process_ttl, lambda: asyncio.ensure_future(self._drop_quietly(name))
        )
        return {"ok": 1.0, "name": name, "cursorId": Int64(cursor.id)}

    async def shutdown(self) -> None:
        """Stop every running processor (server shutdown)."""
        for processor in list(self.processors.values()):
            await self._halt(processor)
