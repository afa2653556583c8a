"""Stream processors of a workspace: the state machine, transitions, sample buffers.

Everything here runs on the emulator's event loop, and no method awaits: a command on a
processor runs to its end before any other command, transition or processing step runs.
Commands on one processor are therefore serialised and never see it half-changed (half
dropped, half started). A processor's work in the scheduler (its *job*) is added and
cancelled only inside those commands, so no work outlives the processor's registry entry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bson import ObjectId
from bson.int64 import Int64
from bson.timestamp import Timestamp

from asp_emulator.engine import (
    Connections,
    Pipeline,
    PipelineError,
    ProcessorEngine,
    ProcessorFailure,
    compile_pipeline,
)
from asp_emulator.engine.scheduler import Job, Scheduler
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
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.options import (
    WorkspaceDefaults,
    check_type,
    now,
    option,
    positive_int,
    processor_name,
)
from asp_emulator.samples import SampleBuffer, SampleBuffers

log = logging.getLogger(__name__)

CREATED, STARTED, STOPPED, FAILED = "CREATED", "STARTED", "STOPPED", "FAILED"
_STATUS = {CREATED: "created", STARTED: "running", STOPPED: "stopped", FAILED: "error"}

TransitionKind = Literal["start", "stop"]


@dataclass
class Transition:
    """A start or stop that was acknowledged and takes effect when ``handle`` fires."""

    kind: TransitionKind
    handle: asyncio.TimerHandle | None = field(default=None, repr=False)

    def cancel(self) -> None:
        """It will not take effect."""
        if self.handle is not None:
            self.handle.cancel()


class Processor:
    """One stream processor: its definition, state, engine and, while it runs, its job."""

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
        engine.on_sample = self.on_sample
        self.options = options
        self.ephemeral = ephemeral
        self.state = CREATED
        self.job: Job | None = None
        self.unwatch: Callable[[], None] | None = None
        self.pending: Transition | None = None
        self.expiry: asyncio.TimerHandle | None = None
        self.buffers: dict[int, SampleBuffer] = {}
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

    @property
    def status(self) -> str:
        """The stats ``status``: ``starting``/``stopping`` while a transition is pending."""
        if self.pending is not None:
            return "starting" if self.pending.kind == "start" else "stopping"
        return _STATUS.get(self.state, self.state.lower())

    def replace_engine(self, engine: ProcessorEngine) -> None:
        """Use ``engine`` from now on (``modify``)."""
        self.engine = engine
        engine.on_sample = self.on_sample

    def on_sample(self, doc: dict[str, Any]) -> None:
        """Fan an output document out to the open sample buffers."""
        for buffer in self.buffers.values():
            buffer.push(doc)

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
    """The processors of one workspace and the commands that change them.

    ``transition_delay`` (seconds, settable at any time) makes start and stop take effect
    that long after they are acknowledged; 0 makes them take effect before the reply.
    """

    def __init__(
        self,
        connections: Connections,
        defaults: WorkspaceDefaults,
        *,
        process_ttl: float = 600.0,
        limits: Limits = DEFAULT_LIMITS,
        transition_delay: float = 0.0,
    ) -> None:
        self.connections = connections
        self.defaults = defaults
        self.process_ttl = process_ttl
        self.limits = limits
        self.transition_delay = transition_delay
        self.processors: dict[str, Processor] = {}
        #: ``{name: (errorMsg, errorCode, errorRetryable)}``: fails when it next starts.
        self.failures_on_start: dict[str, tuple[str, int, bool]] = {}
        self.samples = SampleBuffers()
        self.scheduler = Scheduler(limits.slice_seconds)
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

    def inconsistencies(self) -> list[str]:
        """What breaks the registry's rules (empty when all is well; for tests)."""
        problems = []
        jobs = self.scheduler.jobs
        owned = {p.job for p in self.processors.values() if p.job is not None}
        for job in jobs - owned:
            problems.append(f"work of {job.name} runs without a registered processor")
        for processor in self.processors.values():
            running = processor.job is not None
            if running != (processor.state == STARTED):
                problems.append(f"{processor.name} is {processor.state} but running={running}")
            if processor.job is not None and processor.job not in jobs:
                problems.append(f"{processor.name} holds a cancelled job")
        return problems

    # -- definitions --------------------------------------------------------------------
    def _compile(self, stages: Any) -> Pipeline:
        try:
            return compile_pipeline(stages, self.connections, self.limits)
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

    def _engine(
        self, name: str, pipeline: Pipeline, dlq: Mapping[str, Any] | None
    ) -> ProcessorEngine:
        return ProcessorEngine(name, pipeline, self.connections, dlq=dlq, limits=self.limits)

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
        meta = check_type(
            "streamMetaFieldName", options_doc.get("streamMetaFieldName"), str, "a string"
        )
        if meta:
            options["streamMetaFieldName"] = meta
        failover = check_type("failover", options_doc.get("failover"), bool, "a boolean")
        if failover is not None:
            options["failover"] = failover
        if name in self.processors:
            raise CommandError(PROCESSOR_ALREADY_EXISTS, f"stream processor already exists: {name}")
        self.processors[name] = Processor(
            name,
            list(command["pipeline"]),
            self._engine(name, pipeline, dlq),
            options=options,
            owner=owner,
        )

    # -- running and not running ----------------------------------------------------------
    def _activate(self, processor: Processor) -> None:
        """STARTED: its engine's work joins the scheduler."""
        processor.error = ("", 0, False)
        processor.has_started = True
        processor.set_state(STARTED)
        engine = processor.engine
        engine.start()

        def failed(exc: BaseException) -> None:
            self._engine_failed(processor, job, exc)

        job = self.scheduler.add(processor.name, engine.step, failed)
        processor.job = job
        processor.unwatch = engine.watch_sources(job.wake_threadsafe)
        armed = self.failures_on_start.pop(processor.name, None)
        if armed is not None:
            self.mark_failed(processor, *armed)

    def _deactivate(self, processor: Processor) -> None:
        """Not running any more: its work leaves the scheduler, its sample buffers end."""
        if processor.job is not None:
            processor.job.cancel()
            processor.job = None
        if processor.unwatch is not None:
            processor.unwatch()
            processor.unwatch = None
        for buffer in processor.buffers.values():
            buffer.ended = True  # still delivers what it holds, then cursorId 0
        processor.buffers.clear()

    def _engine_failed(self, processor: Processor, job: Job, exc: BaseException) -> None:
        if processor.job is not job:
            return  # stopped or dropped meanwhile
        if isinstance(exc, ProcessorFailure):
            self.mark_failed(processor, str(exc), exc.code, exc.retryable)
            return
        log.error("processor %s crashed", processor.name, exc_info=exc)
        self.mark_failed(processor, f"internal error: {exc}", INTERNAL_ERROR[0], False)

    def mark_failed(self, processor: Processor, message: str, code: int, retryable: bool) -> None:
        """The processor failed at runtime."""
        self._cancel_transition(processor)
        self._deactivate(processor)
        processor.error = (message, code, retryable)
        processor.set_state(FAILED)

    # -- transitions ----------------------------------------------------------------------
    def _begin_transition(self, processor: Processor, kind: TransitionKind) -> None:
        transition = Transition(kind)
        transition.handle = asyncio.get_running_loop().call_later(
            self.transition_delay, self._finish_transition, processor, transition
        )
        processor.pending = transition

    def _finish_transition(self, processor: Processor, transition: Transition) -> None:
        if processor.pending is not transition or self.processors.get(processor.name) is not (
            processor
        ):
            return
        processor.pending = None
        try:
            if transition.kind == "start":
                self._activate(processor)
            else:
                self._deactivate(processor)
                processor.set_state(STOPPED)
        except Exception:
            log.exception("the %s of processor %s failed", transition.kind, processor.name)

    def _cancel_transition(self, processor: Processor) -> None:
        if processor.pending is not None:
            processor.pending.cancel()
            processor.pending = None

    # -- lifecycle commands ---------------------------------------------------------------
    def start(self, command: Mapping[str, Any]) -> None:
        """``startStreamProcessor``: CREATED, STOPPED or FAILED to STARTED.

        During a pending start it changes nothing; during a pending stop it cancels the
        stop (the processor keeps running).
        """
        name = processor_name(command, "startStreamProcessor")
        processor = self.get(name)
        workers = positive_int("workers", option(command, "workers"))
        tier = self.defaults.check_tier(option(command, "tier"))
        clear = check_type(
            "clearCheckpoints", option(command, "clearCheckpoints"), bool, "a boolean"
        )
        auto = check_type(
            "enableAutoScaling", option(command, "enableAutoScaling"), bool, "a boolean"
        )
        at_time = check_type(
            "startAtOperationTime",
            option(command, "startAtOperationTime"),
            Timestamp,
            "a Timestamp",
        )
        after = check_type("startAfter", option(command, "startAfter"), Mapping, "a document")
        if at_time is not None and after is not None:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                "startAfter and startAtOperationTime are mutually exclusive",
            )
        if processor.pending is not None:
            if processor.pending.kind == "stop":
                self._cancel_transition(processor)
            return
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
        if self.transition_delay > 0:
            self._begin_transition(processor, "start")
        else:
            self._activate(processor)

    def stop(self, command: Mapping[str, Any]) -> None:
        """``stopStreamProcessor``: STARTED to STOPPED.

        During a pending start it cancels the start: the processor, which never ran, is
        STOPPED at once. During a pending stop it changes nothing.
        """
        name = processor_name(command, "stopStreamProcessor")
        processor = self.get(name)
        if processor.pending is not None:
            if processor.pending.kind == "start":
                self._cancel_transition(processor)
                processor.error = ("", 0, False)
                processor.set_state(STOPPED)
            return
        if processor.state != STARTED:
            raise CommandError(
                COMMAND_FAILED,
                f"stream processor {name} must be STARTED to be stopped, it is {processor.state}",
            )
        if self.transition_delay > 0:
            self._begin_transition(processor, "stop")
        else:
            self._deactivate(processor)
            processor.set_state(STOPPED)

    def drop(self, command: Mapping[str, Any]) -> None:
        """``dropStreamProcessor``: from any state, at once, cancelling a pending transition
        and stopping it first. Its open sample buffers still deliver what they hold."""
        self._remove(self.get(processor_name(command, "dropStreamProcessor")))

    def _remove(self, processor: Processor) -> None:
        self._cancel_transition(processor)
        self._deactivate(processor)
        if processor.expiry is not None:
            processor.expiry.cancel()
            processor.expiry = None
        if self.processors.get(processor.name) is processor:
            del self.processors[processor.name]

    def fail_on_start(self, name: str, message: str, code: int, retryable: bool) -> None:
        """Test hook: ``name`` (there or not yet) FAILS as soon as it next starts."""
        self.failures_on_start[name] = (message, code, retryable)

    def fail(
        self, name: str, message: str, code: int, retryable: bool, after_documents: int | None
    ) -> None:
        """Test hook: make a running processor fail now or after N more input documents."""
        processor = self.get(name)
        if processor.state != STARTED:
            raise ValueError(f"processor {name} is {processor.state}, not STARTED")
        if after_documents is None:
            self.mark_failed(processor, message, code, retryable)
        else:
            processor.engine.fail_after(after_documents, message, code, retryable)
            if processor.job is not None:
                processor.job.wake()

    def modify(self, command: Mapping[str, Any], owner: str) -> None:
        """``modifyStreamProcessor``: change a processor that is not running."""
        name = processor_name(command, "modifyStreamProcessor")
        processor = self.get(name)
        if processor.state == STARTED:
            raise CommandError(
                COMMAND_FAILED, f"stream processor {name} must be stopped before it is modified"
            )
        if processor.pending is not None:
            raise CommandError(
                COMMAND_FAILED, f"stream processor {name} is starting and cannot be modified"
            )
        new_name = check_type("name", option(command, "name"), str, "a string")
        resume_given = check_type(
            "resumeFromCheckpoint", option(command, "resumeFromCheckpoint"), bool, "a boolean"
        )
        resume = True if resume_given is None else resume_given
        tier = self.defaults.check_tier(option(command, "tier"))
        dlq_given = option(command, "dlq") is not None
        dlq = self._check_dlq(option(command, "dlq")) if dlq_given else processor.options.get("dlq")
        stages = option(command, "pipeline")
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
        processor.replace_engine(engine)
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
        scale = positive_int("scale", option(command, "scale")) or 1
        verbose = check_type("verbose", option(command, "verbose"), bool, "a boolean")
        stats = processor.engine.stats(scale=scale, verbose=bool(verbose))
        stats["name"] = name
        stats["processorId"] = processor.id
        stats["status"] = processor.status
        return {
            "ok": 1.0,
            "ns": f"{namespace}.{name}",
            "name": name,
            "state": processor.state,
            "stats": stats,
            "pipeline": processor.stages,
        }

    # -- samples ------------------------------------------------------------------------
    def _open_buffer(self, processor: Processor, limit: int | None) -> SampleBuffer:
        for stale in self.samples.expire():
            owner = self.processors.get(stale.processor)
            if owner is not None:
                owner.buffers.pop(stale.id, None)
        buffer = self.samples.open(processor.name, limit, processor.engine.recent_outputs())
        processor.buffers[buffer.id] = buffer
        return buffer

    def start_sample(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """``startSampleStreamProcessor``: open a sample buffer on a running processor."""
        name = processor_name(command, "startSampleStreamProcessor")
        processor = self.get(name)
        limit = positive_int("limit", option(command, "limit"), allow_zero=True)
        if processor.state != STARTED:
            raise CommandError(
                COMMAND_FAILED,
                f"stream processor {name} must be STARTED to be sampled, it is {processor.state}",
            )
        buffer = self._open_buffer(processor, limit)
        return {"ok": 1.0, "cursorId": Int64(buffer.id)}

    def get_more(self, command: Mapping[str, Any], batch_key: str) -> dict[str, Any]:
        """``getMoreSampleStreamProcessor``: the next batch of a sample buffer.

        A buffer whose processor stopped, failed or was dropped delivers what it holds,
        then ``cursorId: 0``.
        """
        name = processor_name(command, "getMoreSampleStreamProcessor")
        raw_id = command.get("cursorId", command.get("cursorID"))
        if isinstance(raw_id, float) and raw_id.is_integer():
            raw_id = int(raw_id)
        if not isinstance(raw_id, int) or isinstance(raw_id, bool) or raw_id <= 0:
            raise CommandError(
                FAILED_TO_PARSE, "getMoreSampleStreamProcessor requires a positive cursorId"
            )
        batch_size = positive_int("batchSize", command.get("batchSize"), allow_zero=True)
        buffer = self.samples.get(int(raw_id))
        if buffer is None or buffer.processor != name:
            if name not in self.processors:
                raise CommandError(
                    PROCESSOR_DOES_NOT_EXIST, f"stream processor does not exist: {name}"
                )
            raise CommandError(CURSOR_NOT_FOUND, f"sample cursor {raw_id} not found for {name}")
        batch, exhausted = buffer.take(batch_size)
        if exhausted:
            self.samples.close(buffer)
            owner = self.processors.get(name)
            if owner is not None:
                owner.buffers.pop(buffer.id, None)
                if owner.ephemeral:
                    self._remove(owner)
        return {"ok": 1.0, "cursorId": Int64(0 if exhausted else buffer.id), batch_key: batch}

    def process(self, command: Mapping[str, Any], owner: str) -> dict[str, Any]:
        """``processStreamProcessor``: an ephemeral processor, read through the sample protocol.

        It starts at once (no transition delay) and is dropped when its buffer is read to
        its end or after ``process_ttl`` seconds.
        """
        stages = command.get("processStreamProcessor")
        pipeline = self._compile(stages)
        options = command.get("options") or {}
        if not isinstance(options, Mapping):
            raise CommandError(PROCESSOR_INVALID_OPTIONS, "options must be a document")
        limit = positive_int("limit", options.get("limit"), allow_zero=True)
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
        self._activate(processor)
        buffer = self._open_buffer(processor, limit)
        processor.expiry = asyncio.get_running_loop().call_later(
            self.process_ttl, self._remove, processor
        )
        return {"ok": 1.0, "name": name, "cursorId": Int64(buffer.id)}

    # -- the workspace's life -------------------------------------------------------------
    def open(self) -> None:
        """Start processing (on the running loop)."""
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stop every processor and the scheduler (server shutdown)."""
        for processor in list(self.processors.values()):
            self._cancel_transition(processor)
            self._deactivate(processor)
            if processor.expiry is not None:
                processor.expiry.cancel()
        await self.scheduler.close()
