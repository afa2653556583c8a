"""The looks of many triggers at their processors, shared: one command per round.

In a triggerer, thousands of waits on one connection each read their processor every few
seconds. A pooled client (:mod:`.client_pool`) gathers these reads
(:meth:`BatchedProcessors.get_info`): the reads that come while a round is out join the next
round, which starts as soon as the last one ends. A round of one processor sends
``getStreamProcessor`` as a lone look would; a round of more sends one
``listStreamProcessors`` filtered on their names (``{"name": {"$in": [...]}}``, at most
:data:`NAMES_PER_COMMAND` names per command). So 10,000 waits polling every 5 s cost a few
dozen commands a second instead of 2,000, and their first round twenty.

A list item is not the full description (no error code, no stats), so a processor listed
as FAILED, or not listed at all, is then read alone with ``getStreamProcessor``: a failure
always carries the server's ``errorMsg``, ``errorCode`` and ``errorRetryable``, and a
missing processor gets the server's own "not found" error. What a read waits for is bounded
as a lone command would be: by the ``pymongo.timeout`` it runs under (its share of the
wait's deadline). A round itself runs outside any caller's timeout, bounded by the client's
socket timeout; a round failed by a transient error (network, a retryable code) fails the
reads that joined it with that error, which a look takes as transient; a list the server
refuses (a reply over its size limit, a filter it does not take) sends each read alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from pymongo.errors import AutoReconnect, NetworkTimeout, PyMongoError

from asp_core.stream_processing import AsyncStreamProcessors, timeouts
from asp_core.waiting import states
from asp_core.waiting.verdict import is_transient

if TYPE_CHECKING:
    from asp_core.stream_processing import (
        AsyncStreamProcessingClient,
        StreamProcessorInfo,
    )

#: Names in one ``listStreamProcessors`` filter: a reply of this many items stays far below
#: the 16 MB reply limit with pipelines of a few KB each.
NAMES_PER_COMMAND = 500

#: A read's result: the processor's info (None: not listed) and whether it is the full
#: description (``getStreamProcessor``) or a list item.
_Read = tuple["StreamProcessorInfo | None", bool]
#: A bounded read: (loop time its bound passes, order, its future, name, seconds it had).
_Bound = tuple[float, int, "asyncio.Future[_Read]", str, float]


class BatchedReads:
    """Gathers the reads of one client's processors into rounds (one event loop).

    A bounded read gets no timer of its own (thousands of them would weigh on the event
    loop and the garbage collector): the task running the rounds, alive whenever a read
    waits, fails each read whose bound has passed, at that moment.
    """

    def __init__(self, client: AsyncStreamProcessingClient) -> None:
        self._processors = AsyncStreamProcessors(client)
        self._waiting: dict[str, list[asyncio.Future[_Read]]] = {}
        self._bounds: list[_Bound] = []  # a heap: the earliest bound first
        self._order = itertools.count()
        self._rounds: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # set when an earlier bound comes
        self.requests = self.rounds = 0  # reads asked and rounds run (tests, benchmarks)

    async def read(self, name: str) -> _Read:
        """``name``'s info from the next round, waiting at most what is left of the
        ``pymongo.timeout`` this runs under."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Read] = loop.create_future()
        self.requests += 1
        self._waiting.setdefault(name, []).append(future)
        remaining = timeouts.remaining()
        if remaining is not None:
            bound = (loop.time() + remaining, next(self._order), future, name, remaining)
            heapq.heappush(self._bounds, bound)
            if self._bounds[0] is bound and self._wake is not None and not self._wake.done():
                self._wake.set_result(None)  # the earliest bound now: the rounds' task sees it
        if self._rounds is None or self._rounds.done():
            # An empty context: the round must not inherit this caller's pymongo.timeout.
            self._rounds = contextvars.Context().run(loop.create_task, self._run())
        return await future

    async def close(self) -> None:
        """Stop the rounds; reads still waiting fail as on a lost connection."""
        rounds, self._rounds = self._rounds, None
        if rounds is not None and not rounds.done():
            rounds.cancel()
            await asyncio.gather(rounds, return_exceptions=True)

    async def _run(self) -> None:
        await asyncio.sleep(0)  # the reads of this turn of the loop join the first round
        batch: dict[str, list[asyncio.Future[_Read]]] = {}
        work: asyncio.Future[None] | None = None
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                self.rounds += 1
                work = asyncio.ensure_future(self._round(batch))
                while not work.done():
                    self._wake = asyncio.get_running_loop().create_future()
                    await asyncio.wait(
                        (work, self._wake),
                        timeout=self._until_next_bound(),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    self._expire()
                self._bounds = [bound for bound in self._bounds if not bound[2].done()]
                heapq.heapify(self._bounds)
        finally:
            if work is not None and not work.done():
                work.cancel()
            lost = AutoReconnect("the pooled client closed while the read waited")
            for futures in (*batch.values(), *self._waiting.values()):
                for future in futures:
                    if not future.done():
                        future.set_exception(lost)
            self._bounds.clear()

    async def _round(self, batch: dict[str, list[asyncio.Future[_Read]]]) -> None:
        names = list(batch)
        if len(names) == 1:
            await self._deliver(batch, names, self._one(names[0]))
            return
        chunks = [names[i : i + NAMES_PER_COMMAND] for i in range(0, len(names), NAMES_PER_COMMAND)]
        await asyncio.gather(
            *(self._deliver(batch, chunk, self._listed(chunk)) for chunk in chunks)
        )

    def _until_next_bound(self) -> float | None:
        bounds = self._bounds
        while bounds and bounds[0][2].done():
            heapq.heappop(bounds)
        if not bounds:
            return None
        return max(bounds[0][0] - asyncio.get_running_loop().time(), 0.0)

    def _expire(self) -> None:
        bounds, now = self._bounds, asyncio.get_running_loop().time()
        while bounds and bounds[0][0] <= now:
            _, _, future, name, seconds = heapq.heappop(bounds)
            if not future.done():
                future.set_exception(
                    NetworkTimeout(f"getStreamProcessor {name!r}: no reply within {seconds:.3g} s")
                )

    async def _one(self, name: str) -> dict[str, _Read]:
        return {name: (await self._processors.get_info(name), True)}

    async def _listed(self, names: list[str]) -> dict[str, _Read]:
        try:
            infos = await self._processors.list({"name": {"$in": names}})
        except PyMongoError as exc:
            if is_transient(exc):
                raise
            # Refused (a reply too large, a filter the server does not take): each read
            # then asks alone, as it would without rounds, rather than failing its wait.
            return {}
        return {info.name: (info, False) for info in infos}

    @staticmethod
    async def _deliver(
        batch: dict[str, list[asyncio.Future[_Read]]],
        names: list[str],
        reads: Awaitable[dict[str, _Read]],
    ) -> None:
        try:
            found = await reads
        except Exception as exc:
            for name in names:
                for future in batch[name]:
                    if not future.done():
                        future.set_exception(exc)
            return
        for name in names:
            for future in batch[name]:
                if not future.done():
                    future.set_result(found.get(name, (None, False)))


class BatchedProcessors(AsyncStreamProcessors):
    """A pooled client's processors: :meth:`get_info` joins the client's rounds; every
    other call is the plain client's."""

    def __init__(self, client: AsyncStreamProcessingClient, reads: BatchedReads) -> None:
        super().__init__(client)
        self._reads = reads

    async def get_info(self, name: str) -> StreamProcessorInfo:
        """Describe a processor: from the next round, read alone when it is FAILED (for the
        error's details) or not listed (for the server's "not found")."""
        info, full = await self._reads.read(name)
        if info is not None and (full or not states.is_failed(info.state)):
            return info
        return await super().get_info(name)
