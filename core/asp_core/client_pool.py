"""Async workspace clients shared inside one event loop (the triggerer's).

A triggerer runs every trigger in one event loop. Triggers of the same connection lease
the same :class:`AsyncStreamProcessingClient` instead of opening one each: its pymongo
connection pool serves them all. A client belongs to the loop it was made in (pymongo's
async client is bound to its first loop), so each loop has its own clients; a loop that
goes away takes them with it. Leases are counted; the last release closes the client.

A pooled client lets at most :data:`MAX_IN_FLIGHT` commands into pymongo at once; the
others queue on an asyncio semaphore. pymongo's asyncio pool lock scans its waiters on each
acquire and removes each from the middle of a deque, so thousands of looks queued inside
pymongo cost time quadratic in their number. Its processors' reads (``get_info``, what
every state look does) are gathered into rounds of one command for many waits
(:mod:`.batched_reads`).

The connection's settings are fetched once for the leases of a loop that come together
(:func:`settings`): thousands of triggers started or resumed at once cost one connection
lookup, not one each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import os
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asp_core.batched_reads import BatchedProcessors, BatchedReads
from asp_core.settings import WorkspaceSettings
from asp_core.stream_processing import AsyncStreamProcessingClient

if TYPE_CHECKING:
    from asp_core.stream_processing import AsyncStreamProcessors
    from asp_core.stream_processing.protocol import Document, Reply

#: Commands a pooled client lets into pymongo at once: below pymongo's maxPoolSize (100), so
#: no command waits inside pymongo's pool; enough for 1,000 looks a second at 50 ms a reply.
MAX_IN_FLIGHT = 50


class PooledClient(AsyncStreamProcessingClient):
    """The asyncio client that leases share: at most :data:`MAX_IN_FLIGHT` commands in
    pymongo at once, the rest waiting their turn in order (``_send`` is the one path of
    every command of the client; each retry takes its own turn). Its processors' reads
    are gathered into rounds (:mod:`.batched_reads`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.reads = BatchedReads(self)

    def stream_processors(self) -> BatchedProcessors:
        """The processors, their ``get_info`` batched with the other leases' reads."""
        return BatchedProcessors(self, self.reads)

    async def close(self) -> None:
        await self.reads.close()
        await super().close()

    async def _send(self, document: Document) -> Reply:
        async with self._slots:
            return await super()._send(document)


@dataclasses.dataclass
class _Shared:
    client: PooledClient
    leases: int = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)


#: Seconds the settings fetched for a connection serve the leases that follow in the same
#: loop: a changed connection reaches new leases within this time.
SETTINGS_TTL = 30.0


@dataclasses.dataclass
class _Lookup:
    task: asyncio.Task[WorkspaceSettings]
    started: float

    def usable(self, now: float) -> bool:
        if now - self.started > SETTINGS_TTL:
            return False
        task = self.task
        return not task.done() or (not task.cancelled() and task.exception() is None)


_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lookup]] = (
    weakref.WeakKeyDictionary()
)


async def settings(
    source: str, fetch: Callable[[], Awaitable[WorkspaceSettings]]
) -> WorkspaceSettings:
    """The settings ``fetch()`` gives for ``source``, shared in the running loop: callers
    that come while a fetch runs wait for it, and those within :data:`SETTINGS_TTL`
    seconds of its start reuse it. A failed fetch is not reused. A caller cancelled while
    it waits does not cancel the fetch of the others."""
    loop = asyncio.get_running_loop()
    lookups = _LOOKUPS.setdefault(loop, {})
    lookup = lookups.get(source)
    now = time.monotonic()
    if lookup is None or not lookup.usable(now):
        lookup = lookups[source] = _Lookup(loop.create_task(_fetch(fetch)), now)
    if lookup.task.done():  # usable: it gave settings
        return lookup.task.result()
    return await asyncio.shield(lookup.task)


async def _fetch(fetch: Callable[[], Awaitable[WorkspaceSettings]]) -> WorkspaceSettings:
    return await fetch()


@dataclasses.dataclass(eq=False)
class ClientLease:
    """One user's share of a pooled client; :meth:`release` it once done (idempotent)."""

    client: PooledClient
    settings: WorkspaceSettings
    key: str
    loop: asyncio.AbstractEventLoop
    released: bool = False

    @property
    def processors(self) -> AsyncStreamProcessors:
        return self.client.stream_processors()

    async def release(self) -> None:
        """Give the share back; the last one closes the client."""
        if self.released:
            return
        self.released = True
        pool = _POOLS.get(self.loop, {})
        shared = pool.get(self.key)
        if shared is None or shared.client is not self.client:
            return
        shared.leases -= 1
        if shared.leases == 0:
            del pool[self.key]
            if not self.loop.is_closed():
                await shared.client.close()


#: Keys of pooled clients are HMACs of the client settings (password included), so that
#: changed settings get a new client, and a key shows nothing.
_POOL_KEY_SECRET = os.urandom(16)
#: Pool keys of the settings objects in use: an entry goes with its settings object, so no
#: password outlives the leases and lookups that hold it.
_POOL_KEYS: weakref.WeakKeyDictionary[WorkspaceSettings, dict[tuple[tuple[str, int], ...], str]]
_POOL_KEYS = weakref.WeakKeyDictionary()


def pool_key(settings: WorkspaceSettings, client_kwargs: dict[str, Any]) -> str:
    """The pooled client's key for these settings and extra client arguments (an HMAC: it
    shows nothing; extra arguments count by identity). Kept while the settings object
    lives: leases that come together share one settings object, and the JSON and HMAC cost
    about 0.1 ms a lease."""
    extra = tuple(sorted((key, id(value)) for key, value in client_kwargs.items()))
    keys = _POOL_KEYS.setdefault(settings, {})
    key = keys.get(extra)
    if key is None:
        payload = json.dumps([settings.client_kwargs(), extra], sort_keys=True, default=str)
        digest = hmac.new(_POOL_KEY_SECRET, payload.encode(), "sha256").hexdigest()[:16]
        key = keys[extra] = f"{settings.source}:{digest}"
    return key


def lease(
    key: str,
    settings: WorkspaceSettings,
    factory: Callable[[], PooledClient],
) -> ClientLease:
    """A lease on this loop's client for ``key``, made with ``factory`` if there is none.

    Synchronous on purpose: nothing else runs between the lookup and the insert. Call it
    from a coroutine (it needs the running loop).
    """
    loop = asyncio.get_running_loop()
    pool = _POOLS.setdefault(loop, {})
    shared = pool.get(key)
    if shared is None:
        shared = pool[key] = _Shared(factory())
    shared.leases += 1
    return ClientLease(shared.client, settings, key, loop)


def shared_clients() -> dict[str, int]:
    """``{key: leases}`` of the running loop's pooled clients (for tests and benchmarks)."""
    pool = _POOLS.get(asyncio.get_running_loop(), {})
    return {key: shared.leases for key, shared in pool.items()}
