"""Helpers for engine tests: fast engines, running them as tasks and bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from asp_emulator.engine import Connections, ProcessorEngine, compile_pipeline

FAST: dict[str, Any] = {"poll_interval": 0.005, "idle_timeout": 0.03}
EMIT = {"$emit": {"connectionName": "__testLog"}}


def make_engine(
    stages: list[Any],
    connections: Connections | None = None,
    *,
    name: str = "proc",
    dlq: Mapping[str, Any] | None = None,
    samples: list[dict[str, Any]] | None = None,
    **options: Any,
) -> ProcessorEngine:
    """An engine with test-speed timings; ``samples`` collects what ``on_sample`` receives."""
    connections = connections if connections is not None else Connections()
    pipeline = compile_pipeline(stages, connections)
    return ProcessorEngine(
        name,
        pipeline,
        connections,
        dlq=dlq,
        on_sample=samples.append if samples is not None else None,
        **{**FAST, **options},
    )


@contextlib.asynccontextmanager
async def running(engine: ProcessorEngine) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``engine.run()`` as a task for the duration of the block, then cancel it."""
    task = asyncio.create_task(engine.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(condition: Callable[[], object], timeout: float = 3.0) -> None:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


async def settle(seconds: float = 0.05) -> None:
    """Let running engines do a few more loop turns (to show that nothing else happens)."""
    await asyncio.sleep(seconds)
