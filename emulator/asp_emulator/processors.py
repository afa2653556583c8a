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

import bson
from bson import ObjectId

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
    BSON_OBJECT_TOO_LARGE,
    COMMAND_FAILED,
    CURSOR_NOT_FOUND,
    FAILED_TO_PARSE,
    INTERNAL_ERROR,
    PROCESSOR_ALREADY_EXISTS,
    PROCESSOR_DOES_NOT_EXIST,
    PROCESSOR_INVALID_OPTIONS,
    CommandError,
)
from asp_emulator.journal import Journal
from asp_emulator.limits import DEFAULT_LIMITS, Limits
from asp_emulator.options import WorkspaceDefaults, now
from asp_emulator.protocol import (
    Create,
    GetMoreSample,
    Modify,
    Process,
    Start,
    StartSample,
    Stats,
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
        self.on_state: Callable[[Processor, str], None] | None = None
        """Called after each change of state, with the state before (the journal)."""

    def set_state(self, state: str) -> None:
        """Move to ``state`` and stamp the change."""
        before, self.state = self.state, state
        self.last_state_change = now()
        if self.on_state is not None and before != state:
            self.on_state(self, before)

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
        self.on_started: Callable[[Processor], None] | None = None
        """Called when a processor has started running (the test knobs watch starts)."""
        self.samples = SampleBuffers()
        self.scheduler = Scheduler(limits.slice_seconds)
        self._ephemeral_ids = itertools.count(1)
        self.journal = Journal()
        """The workspace's operational log (what processors did) and audit log."""

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
    def _compile(self, stages: Any) -> Pipeline:
        try:
            return compile_pipeline(stages, self.connections, self.limits)
        except PipelineError as exc:
            raise CommandError((exc.code, exc.code_name), str(exc)) from exc

    def _check_dlq(self, dlq: dict[str, Any] | None) -> dict[str, Any] | None:
        if dlq is not None and not self.connections.exists(dlq["connectionName"]):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"dlq connection {dlq['connectionName']!r} does not exist",
            )
        return dlq

    def _check_weight(self, command: str, name: str, stages: Any, options: Any) -> None:
        """Refuse a definition heavier than ``Limits.max_definition_bytes``: replies carry it
        (one in ``getStreamProcessor``, every one in ``listStreamProcessors``)."""
        size = len(bson.encode({"name": name, "pipeline": stages, "options": options}))
        limit = self.limits.max_definition_bytes
        if size > limit:
            raise CommandError(
                BSON_OBJECT_TOO_LARGE,
                f"{command}: the processor's definition (name, pipeline and options) is "
                f"{size:,} bytes, over the limit of {limit:,} bytes "
                "(Limits.max_definition_bytes)",
            )

    def _engine(
        self, name: str, pipeline: Pipeline, dlq: Mapping[str, Any] | None
    ) -> ProcessorEngine:
        return ProcessorEngine(name, pipeline, self.connections, dlq=dlq, limits=self.limits)

    def create(self, request: Create, owner: str) -> None:
        """``createStreamProcessor``."""
        name = request.name
        options: dict[str, Any] = {}
        if request.dlq:
            options["dlq"] = request.dlq
        if request.tier:
            options["tier"] = request.tier
        if request.stream_meta_field_name:
            options["streamMetaFieldName"] = request.stream_meta_field_name
        if request.failover is not None:
            options["failover"] = request.failover
        self._check_weight("createStreamProcessor", name, request.pipeline, options)
        pipeline = self._compile(request.pipeline)
        self._check_dlq(request.dlq)
        self.defaults.check_tier(request.tier)
        if name in self.processors:
            raise CommandError(PROCESSOR_ALREADY_EXISTS, f"stream processor already exists: {name}")
        processor = self.processors[name] = Processor(
            name,
            list(request.pipeline),
            self._engine(name, pipeline, request.dlq),
            options=options,
            owner=owner,
        )
        processor.on_state = self._state_changed
        self.journal.operational(name, "created", state=CREATED, stages=len(request.pipeline))

    def _state_changed(self, processor: Processor, before: str) -> None:
        fields: dict[str, Any] = {"from": before, "state": processor.state}
        message, code, _ = processor.error
        if processor.state == FAILED and message:
            fields.update(error=message, code=code)
        self.journal.operational(processor.name, f"{before} -> {processor.state}", **fields)

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
        if self.on_started is not None:
            self.on_started(processor)

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
    def start(self, request: Start) -> None:
        """``startStreamProcessor``: CREATED, STOPPED or FAILED to STARTED.

        During a pending start it changes nothing; during a pending stop it cancels the
        stop (the processor keeps running).
        """
        name = request.name
        processor = self.get(name)
        tier = self.defaults.check_tier(request.tier)
        if processor.pending is not None:
            if processor.pending.kind == "stop":
                self._cancel_transition(processor)
            return
        if processor.state == STARTED:
            raise CommandError(
                PROCESSOR_ALREADY_EXISTS, f"stream processor {name} is already running"
            )
        if request.clear_checkpoints:
            processor.engine.clear_checkpoints()
        if tier:
            processor.tier = tier
        processor.workers = request.workers
        processor.enable_auto_scaling = request.enable_auto_scaling
        if self.transition_delay > 0:
            self._begin_transition(processor, "start")
        else:
            self._activate(processor)

    def stop(self, name: str) -> None:
        """``stopStreamProcessor``: STARTED to STOPPED.

        During a pending start it cancels the start: the processor, which never ran, is
        STOPPED at once. During a pending stop it changes nothing.
        """
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

    def drop(self, name: str) -> None:
        """``dropStreamProcessor``: from any state, at once, cancelling a pending transition
        and stopping it first. Its open sample buffers still deliver what they hold."""
        self._remove(self.get(name))

    def _remove(self, processor: Processor) -> None:
        self._cancel_transition(processor)
        self._deactivate(processor)
        if processor.expiry is not None:
            processor.expiry.cancel()
            processor.expiry = None
        if self.processors.get(processor.name) is processor:
            del self.processors[processor.name]
            if not processor.ephemeral:
                self.journal.operational(processor.name, "dropped", state=processor.state)

    def modify(self, request: Modify, owner: str) -> None:
        """``modifyStreamProcessor``: change a processor that is not running."""
        name = request.name
        processor = self.get(name)
        if processor.state == STARTED:
            raise CommandError(
                COMMAND_FAILED, f"stream processor {name} must be stopped before it is modified"
            )
        if processor.pending is not None:
            raise CommandError(
                COMMAND_FAILED, f"stream processor {name} is starting and cannot be modified"
            )
        tier = self.defaults.check_tier(request.tier)
        dlq = self._check_dlq(request.dlq) if request.dlq_given else processor.options.get("dlq")
        new_name = request.new_name
        if (
            new_name is not None
            and (not new_name.strip() or new_name in self.processors)
            and new_name != name
        ):
            raise CommandError(
                PROCESSOR_ALREADY_EXISTS if new_name.strip() else FAILED_TO_PARSE,
                f"cannot rename {name} to {new_name!r}",
            )
        final_name = new_name or name
        options = dict(processor.options)
        if request.dlq_given:
            if dlq:
                options["dlq"] = dlq
            else:
                options.pop("dlq", None)
        given = request.pipeline
        self._check_weight(
            "modifyStreamProcessor",
            final_name,
            processor.stages if given is None else given,
            options,
        )
        pipeline = self._compile(processor.stages if given is None else given)
        new_stages = list(pipeline.stages)
        resume = request.resume_from_checkpoint
        if resume and given is not None and new_stages[:1] != processor.stages[:1]:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                "the $source stage cannot change when resumeFromCheckpoint is true",
            )
        engine = self._engine(final_name, pipeline, dlq)
        if resume:
            engine.adopt_checkpoint(processor.engine)
        processor.replace_engine(engine)
        processor.stages = new_stages
        processor.options = options
        if tier:
            processor.tier = tier
        if given is not None:
            processor.pipeline_version += 1
        processor.last_modified_at = now()
        processor.modified_by = owner
        if final_name != name:
            del self.processors[name]
            processor.name = final_name
            self.processors[final_name] = processor
        changed = {"renamedFrom": name} if final_name != name else {}
        self.journal.operational(
            final_name, "modified", pipelineVersion=processor.pipeline_version, **changed
        )

    # -- stats --------------------------------------------------------------------------
    def stats(self, request: Stats) -> tuple[Processor, dict[str, Any]]:
        """``getStreamProcessorStats``, in any state: the processor and its stats document."""
        processor = self.get(request.name)
        stats = processor.engine.stats(scale=request.scale, verbose=request.verbose)
        stats["name"] = request.name
        stats["processorId"] = processor.id
        stats["status"] = processor.status
        return processor, stats

    # -- samples ------------------------------------------------------------------------
    def _open_buffer(self, processor: Processor, limit: int | None) -> SampleBuffer:
        for stale in self.samples.expire():
            owner = self.processors.get(stale.processor)
            if owner is not None:
                owner.buffers.pop(stale.id, None)
        buffer = self.samples.open(processor.name, limit, processor.engine.recent_outputs())
        processor.buffers[buffer.id] = buffer
        return buffer

    def start_sample(self, request: StartSample) -> int:
        """``startSampleStreamProcessor``: open a sample buffer on a running processor; its id."""
        name = request.name
        processor = self.get(name)
        if processor.state != STARTED:
            raise CommandError(
                COMMAND_FAILED,
                f"stream processor {name} must be STARTED to be sampled, it is {processor.state}",
            )
        return self._open_buffer(processor, request.limit).id

    def get_more(self, request: GetMoreSample) -> tuple[list[dict[str, Any]], int]:
        """``getMoreSampleStreamProcessor``: the next batch of a sample buffer and the cursor
        id, 0 once the buffer is done.

        A buffer whose processor stopped, failed or was dropped delivers what it holds,
        then ``cursorId: 0``.
        """
        name = request.name
        buffer = self.samples.get(request.cursor_id)
        if buffer is None or buffer.processor != name:
            if name not in self.processors:
                raise CommandError(
                    PROCESSOR_DOES_NOT_EXIST, f"stream processor does not exist: {name}"
                )
            raise CommandError(
                CURSOR_NOT_FOUND, f"sample cursor {request.cursor_id} not found for {name}"
            )
        batch, exhausted = buffer.take(request.batch_size)
        if exhausted:
            self.samples.close(buffer)
            owner = self.processors.get(name)
            if owner is not None:
                owner.buffers.pop(buffer.id, None)
                if owner.ephemeral:
                    self._remove(owner)
        return batch, 0 if exhausted else buffer.id

    def process(self, request: Process, owner: str) -> tuple[str, int]:
        """``processStreamProcessor``: an ephemeral processor, read through the sample
        protocol; its name and its sample buffer's id.

        It starts at once (no transition delay) and is dropped when its buffer is read to
        its end or after ``process_ttl`` seconds.
        """
        pipeline = self._compile(request.pipeline)
        dlq = self._check_dlq(request.dlq)
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
        buffer = self._open_buffer(processor, request.limit)
        processor.expiry = asyncio.get_running_loop().call_later(
            self.process_ttl, self._remove, processor
        )
        return name, buffer.id

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
