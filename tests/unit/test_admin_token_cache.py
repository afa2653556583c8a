"""``asp_core.admin.TokenCache``: one fetch per credential at a time, whoever asks (threads,
asyncio tasks, both at once); a failed fetch is every waiter's error, a cancelled one is
led anew; a refused (stale) token is fetched again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from asp_core.admin import ServiceAccount, TokenCache

URL = "https://atlas.example/api/oauth/token"
ACCOUNT = ServiceAccount("mdb_sa_id_1", "secret")


class Fetches:
    """A token source that counts its fetches; each waits for ``release`` once started."""

    def __init__(self, prefix: str = "token") -> None:
        self.prefix = prefix
        self.count = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.error: Exception | None = None

    def _next(self) -> tuple[str, float]:
        self.count += 1
        if self.error is not None:
            raise self.error
        return f"{self.prefix}-{self.count}", 3600.0

    def blocking(self) -> tuple[str, float]:
        self.started.set()
        assert self.release.wait(10)
        return self._next()

    async def awaiting(self) -> tuple[str, float]:
        self.started.set()
        await asyncio.to_thread(self.release.wait, 10)
        return self._next()


def _threads(target: Callable[[], object], n: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for thread in threads:
        thread.start()
    return threads


def test_threads_share_one_fetch() -> None:
    cache, fetches, got = TokenCache(), Fetches(), []
    threads = _threads(lambda: got.append(cache.get(URL, ACCOUNT, fetches.blocking)), 8)
    assert fetches.started.wait(10)
    fetches.release.set()
    for thread in threads:
        thread.join(10)
    assert got == ["token-1"] * 8
    assert fetches.count == 1
    assert cache.get(URL, ACCOUNT, fetches.blocking) == "token-1"  # reused


async def test_tasks_share_one_fetch_and_a_thread_leads_for_them() -> None:
    cache, fetches = TokenCache(), Fetches()
    thread = _threads(lambda: cache.get(URL, ACCOUNT, fetches.blocking), 1)[0]
    assert await asyncio.to_thread(fetches.started.wait, 10)
    tasks = [asyncio.create_task(cache.aget(URL, ACCOUNT, fetches.awaiting)) for _ in range(8)]
    await asyncio.sleep(0)  # every task now waits for the thread's fetch
    fetches.release.set()
    assert await asyncio.gather(*tasks) == ["token-1"] * 8
    await asyncio.to_thread(thread.join, 10)
    assert fetches.count == 1


async def test_a_task_leads_for_threads() -> None:
    cache, fetches, got = TokenCache(), Fetches(), []
    leader = asyncio.create_task(cache.aget(URL, ACCOUNT, fetches.awaiting))
    assert await asyncio.to_thread(fetches.started.wait, 10)
    threads = _threads(lambda: got.append(cache.get(URL, ACCOUNT, fetches.blocking)), 4)
    fetches.release.set()
    assert await leader == "token-1"
    for thread in threads:
        await asyncio.to_thread(thread.join, 10)
    assert got == ["token-1"] * 4
    assert fetches.count == 1


async def test_a_failed_fetch_is_every_waiters_error() -> None:
    cache, fetches = TokenCache(), Fetches()
    fetches.error = RuntimeError("refused")
    tasks = [asyncio.create_task(cache.aget(URL, ACCOUNT, fetches.awaiting)) for _ in range(5)]
    await asyncio.sleep(0)
    fetches.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "refused" for r in results)
    assert fetches.count == 1


async def test_a_cancelled_fetch_is_led_anew() -> None:
    cache, fetches = TokenCache(), Fetches()
    leader = asyncio.create_task(cache.aget(URL, ACCOUNT, fetches.awaiting))
    assert await asyncio.to_thread(fetches.started.wait, 10)
    waiter = asyncio.create_task(cache.aget(URL, ACCOUNT, fetches.awaiting))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    fetches.release.set()
    # the waiter led a fetch of its own; the cancelled one never counted
    assert await asyncio.wait_for(waiter, 10) == "token-1"
    assert fetches.count == 1


def test_a_stale_token_is_fetched_again_and_credentials_do_not_share() -> None:
    cache, fetches = TokenCache(), Fetches()
    fetches.release.set()
    first = cache.get(URL, ACCOUNT, fetches.blocking)
    assert cache.get(URL, ACCOUNT, fetches.blocking, stale=first) == "token-2"
    assert cache.get(URL, ACCOUNT, fetches.blocking, stale=first) == "token-2"
    other = ServiceAccount(ACCOUNT.client_id, "rotated")
    assert cache.get(URL, other, fetches.blocking) == "token-3"
    assert fetches.count == 3


def test_a_fetch_that_never_ends_is_superseded_after_the_wait() -> None:
    # a waiter used to wait for another's fetch without bound: a fetch whose thread hung, or
    # whose event loop stopped, held every later caller of that credential forever
    cache, hung, fresh = TokenCache(), Fetches("hung"), Fetches()
    fresh.release.set()
    thread = _threads(lambda: cache.get(URL, ACCOUNT, hung.blocking), 1)[0]
    assert hung.started.wait(10)
    assert cache.get(URL, ACCOUNT, fresh.blocking, wait=0.05) == "token-1"
    hung.release.set()  # the old fetch lands at last: its token is stored, nothing breaks
    thread.join(10)
    assert cache.get(URL, ACCOUNT, fresh.blocking) == "hung-1"
    assert (fresh.count, hung.count) == (1, 1)


async def test_a_task_waiting_for_a_fetch_that_never_ends_fetches_itself() -> None:
    cache, hung, fresh = TokenCache(), Fetches("hung"), Fetches()
    fresh.release.set()
    thread = _threads(lambda: cache.get(URL, ACCOUNT, hung.blocking), 1)[0]
    assert await asyncio.to_thread(hung.started.wait, 10)
    assert await cache.aget(URL, ACCOUNT, fresh.awaiting, wait=0.05) == "token-1"
    hung.release.set()
    await asyncio.to_thread(thread.join, 10)
    assert fresh.count == 1
