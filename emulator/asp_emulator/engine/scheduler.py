"""The processing scheduler: every running processor's work, in short slices, on one loop.

Processing shares the server's event loop with the commands, so it must never hold the loop
for long. One scheduler task runs the processors that have work, round-robin, for at most
one *slice* (``Limits.slice_seconds``), then yields so the loop reads the network and answers
commands. A processor with nothing to do costs nothing: it is stepped again only when new
input is fed to its source (a wake), or at the time its last step asked for (a generated
source's next document, a window to close on the wall clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

Step = Callable[[float], "float | None"]
"""``step(deadline)`` does work until ``deadline`` (``time.monotonic()``) and returns when it
wants to run again: a time (``<= now``: more work is waiting), or None (when woken)."""


class Job:
    """One processor's work as the scheduler sees it. Created by :meth:`Scheduler.add`."""

    __slots__ = ("_due", "_queued", "active", "name", "on_error", "scheduler", "step")

    def __init__(
        self,
        scheduler: Scheduler,
        name: str,
        step: Step,
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.scheduler = scheduler
        self.name = name
        self.step = step
        self.on_error = on_error
        self.active = True
        self._queued = False
        self._due: float | None = None

    def wake(self) -> None:
        """Run this job's step soon (from the loop's thread)."""
        self.scheduler._wake(self)

    def wake_threadsafe(self) -> None:
        """Run this job's step soon (from any thread; a no-op once the loop is closed)."""
        self.scheduler.call_threadsafe(self.wake)

    def cancel(self) -> None:
        """Never step this job again (idempotent)."""
        self.active = False
        self.scheduler._jobs.discard(self)


class Scheduler:
    """Runs jobs in slices of at most ``slice_seconds``, yielding to the loop between slices."""

    def __init__(self, slice_seconds: float = 0.002) -> None:
        self.slice_seconds = slice_seconds
        self._jobs: set[Job] = set()
        self._ready: deque[Job] = deque()
        self._timers: list[tuple[float, int, Job]] = []
        self._sequence = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.steps = 0
        """Steps run so far (tests use it to show that idle processors cost nothing)."""
        self.slices = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="asp-emulator-scheduler")
        self._task.add_done_callback(_report_crash)

    async def close(self) -> None:
        """Stop the task and forget every job."""
        for job in list(self._jobs):
            job.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def jobs(self) -> frozenset[Job]:
        """The active jobs."""
        return frozenset(self._jobs)

    def call_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop's thread (dropped when the loop is gone)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(callback)

    # -- jobs -----------------------------------------------------------------------------------

    def add(self, name: str, step: Step, on_error: Callable[[BaseException], None]) -> Job:
        """A new job, stepped at once. ``on_error`` gets what a step raised (the job is
        cancelled first)."""
        job = Job(self, name, step, on_error)
        self._jobs.add(job)
        self._wake(job)
        return job

    def _wake(self, job: Job) -> None:
        if not job.active or job._queued:
            return
        job._queued = True
        job._due = None
        self._ready.append(job)
        self._notify()

    def _at(self, job: Job, when: float) -> None:
        if job._due is not None and job._due <= when:
            return  # already due earlier
        job._due = when
        heapq.heappush(self._timers, (when, next(self._sequence), job))
        self._notify()

    def _notify(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _release_due(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, job = heapq.heappop(timers)
            if job._due == when:  # not superseded by an earlier timer or a wake
                job._due = None
                self._wake(job)

    # -- the task -------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            self._release_due(now)
            if not self._ready:
                await self._idle(loop)
                continue
            self._slice(now + self.slice_seconds)
            await self._let_commands_run(loop)

    @staticmethod
    async def _let_commands_run(loop: asyncio.AbstractEventLoop) -> None:
        """Yield for two turns of the loop, not one: a request read in the next turn wakes
        its connection's task for the turn after, which then runs before the next slice."""
        resumed = loop.create_future()
        loop.call_soon(loop.call_soon, _resolve, resumed)
        await resumed

    async def _idle(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter = self._waiter = loop.create_future()
        timer = None
        while self._timers and not self._timers[0][2].active:
            heapq.heappop(self._timers)
        if self._timers:
            timer = loop.call_at(self._timers[0][0], self._notify)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _slice(self, deadline: float) -> None:
        self.slices += 1
        ready = self._ready
        for _ in range(len(ready)):
            job = ready.popleft()
            job._queued = False
            if not job.active:
                continue
            self.steps += 1
            try:
                again = job.step(deadline)
            except Exception as exc:
                job.cancel()
                try:
                    job.on_error(exc)
                except Exception:
                    log.exception("handling the failure of %s failed", job.name)
                continue
            if again is not None and job.active:
                now = time.monotonic()
                if again <= now:
                    self._wake(job)
                else:
                    self._at(job, again)
            if time.monotonic() >= deadline:
                return


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # not cancelled meanwhile
        future.set_result(None)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the processing scheduler stopped", exc_info=task.exception())
