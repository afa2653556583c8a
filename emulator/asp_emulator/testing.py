"""Test knobs on a workspace's processors, kept out of the domain code.

``Workspace.fail_processor``, ``Workspace.fail_processor_on_start`` and
``Workspace.self_check`` call these on the emulator's loop. The wire-level faults
(``Workspace.inject_fault``) are in :mod:`asp_emulator.faults`.
"""

from __future__ import annotations

from dataclasses import dataclass

from asp_emulator.processors import STARTED, Processor, ProcessorRegistry


@dataclass(frozen=True)
class Failure:
    """How a processor fails: its ``errorMsg``, ``errorCode`` and ``errorRetryable``."""

    message: str
    code: int
    retryable: bool = False


class ProcessorKnobs:
    """Failures on demand for the processors of ``registry``, and its self-check."""

    def __init__(self, registry: ProcessorRegistry) -> None:
        self._registry = registry
        self._on_start: dict[str, Failure] = {}
        registry.on_started = self._started

    def fail_on_start(self, name: str, failure: Failure) -> None:
        """``name`` (there or not yet) FAILS as soon as it next starts; once."""
        self._on_start[name] = failure

    def _started(self, processor: Processor) -> None:
        failure = self._on_start.pop(processor.name, None)
        if failure is not None:
            self._fail_now(processor, failure)

    def _fail_now(self, processor: Processor, failure: Failure) -> None:
        self._registry.mark_failed(processor, failure.message, failure.code, failure.retryable)

    def fail(self, name: str, failure: Failure, after_documents: int | None) -> None:
        """Make a running processor fail now or after N more input documents."""
        processor = self._registry.get(name)
        if processor.state != STARTED:
            raise ValueError(f"processor {name} is {processor.state}, not STARTED")
        if after_documents is None:
            self._fail_now(processor, failure)
        else:
            processor.engine.fail_after(
                after_documents, failure.message, failure.code, failure.retryable
            )
            if processor.job is not None:
                processor.job.wake()

    def inconsistencies(self) -> list[str]:
        """What breaks the registry's rules (empty when all is well)."""
        registry = self._registry
        problems = []
        jobs = registry.scheduler.jobs
        owned = {p.job for p in registry.processors.values() if p.job is not None}
        for job in jobs - owned:
            problems.append(f"work of {job.name} runs without a registered processor")
        for processor in registry.processors.values():
            running = processor.job is not None
            if running != (processor.state == STARTED):
                problems.append(f"{processor.name} is {processor.state} but running={running}")
            if processor.job is not None and processor.job not in jobs:
                problems.append(f"{processor.name} holds a cancelled job")
        return problems
