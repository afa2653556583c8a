"""Credentials of the Admin API: service accounts (OAuth 2.0 client credentials, the
recommended method) and API keys (HTTP Digest).

A service account's Bearer token is shared by every client of the process that uses the
same credential and token URL: fetched once, reused until :data:`REFRESH_MARGIN` seconds
before it expires, fetched again by one caller while the others (threads or asyncio tasks)
wait for that fetch's outcome, at most ``wait`` seconds (a fetch that outlasts it, say one
whose event loop stopped, is superseded: the waiter fetches).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

#: Seconds before its expiry a token is no longer used.
REFRESH_MARGIN = 60.0
#: Seconds a caller waits for another's token fetch before it fetches one itself.
FLIGHT_WAIT = 120.0
TOKEN_PATH = "/api/oauth/token"


@dataclass(frozen=True)
class ServiceAccount:
    """A service account's client ID and secret (the secret is never shown by ``repr``)."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class ApiKey:
    """A programmatic API key: public and private key (Digest; the private key is never
    shown by ``repr``)."""

    public_key: str
    private_key: str = field(repr=False)

    def httpx_auth(self) -> httpx.Auth:
        """The Digest auth httpx applies to each request."""
        return httpx.DigestAuth(self.public_key, self.private_key)


Credential = ServiceAccount | ApiKey


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic()


class _Flight:
    """One token fetch under way: its outcome, and who waits for it (threads on ``done``,
    asyncio tasks on futures of their own loops)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: str | None = None
        self.error: BaseException | None = None
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def add_future(self) -> asyncio.Future[None]:
        """A future of the running loop, resolved when the fetch ends (call under the lock)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._futures.append((loop, future))
        return future

    def land(self, value: str | None, error: BaseException | None) -> None:
        """The fetch ended (call under the lock): wake every waiter."""
        self.value, self.error = value, error
        self.done.set()
        for loop, future in self._futures:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there
                loop.call_soon_threadsafe(_resolve, future)
        self._futures.clear()

    def outcome(self) -> str | None:
        """The token it fetched; its error (a copy) raised; None when it ended with neither
        (its fetcher was cancelled: the waiter tries again)."""
        if self.error is not None:
            try:
                error = copy.copy(self.error)  # each waiter raises an instance of its own
            except Exception:
                error = self.error
            raise error from None
        return self.value


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class TokenCache:
    """Bearer tokens by (token URL, client ID, secret digest), shared by the threads and the
    asyncio tasks (of any loop) of the process: at most one fetch per key is under way, and
    whoever needs that key's token meanwhile waits for that fetch's outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held briefly, never across a fetch or an await
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._flights: dict[tuple[str, str, str], _Flight] = {}

    @staticmethod
    def key(token_url: str, account: ServiceAccount) -> tuple[str, str, str]:
        digest = hashlib.sha256(account.client_secret.encode()).hexdigest()
        return (token_url, account.client_id, digest)

    def get(
        self,
        token_url: str,
        account: ServiceAccount,
        fetch: Callable[[], tuple[str, float]],
        *,
        stale: str | None = None,
        wait: float = FLIGHT_WAIT,
    ) -> str:
        """A valid token; ``fetch()`` returns ``(token, expires_in)`` when one is needed.
        ``stale``: a token the server refused (401), not to be returned again. ``wait``:
        the most seconds spent waiting for another caller's fetch."""
        key = self.key(token_url, account)
        while True:
            value, flight, lead = self._claim(key, stale)
            if value is not None:
                return value
            assert flight is not None
            if lead:
                return self._lead(key, flight, fetch)
            if not flight.done.wait(wait):
                self._supersede(key, flight)
                continue
            value = flight.outcome()
            if value is not None and value != stale:
                return value

    async def aget(
        self,
        token_url: str,
        account: ServiceAccount,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        *,
        stale: str | None = None,
        wait: float = FLIGHT_WAIT,
    ) -> str:
        """:meth:`get` for asyncio tasks: ``await fetch()``; waiting never blocks the loop."""
        key = self.key(token_url, account)
        while True:
            value, flight, lead = self._claim(key, stale)
            if value is not None:
                return value
            assert flight is not None
            if lead:
                try:
                    fetched = await fetch()
                except BaseException as exc:
                    self._land(key, flight, None, exc)
                    raise
                return self._land(key, flight, fetched, None)
            with self._lock:
                future = None if flight.done.is_set() else flight.add_future()
            if future is not None:
                try:
                    await asyncio.wait_for(future, wait)
                except asyncio.TimeoutError:
                    self._supersede(key, flight)
                    continue
            value = flight.outcome()
            if value is not None and value != stale:
                return value

    def clear(self) -> None:
        """Forget every token (tests; a process that rotated its secrets)."""
        with self._lock:
            self._tokens.clear()

    # -- one fetch per key ----------------------------------------------------------------------
    def _claim(
        self, key: tuple[str, str, str], stale: str | None
    ) -> tuple[str | None, _Flight | None, bool]:
        """``(token, None, False)`` for a valid token; else the fetch under way and whether
        the caller leads it (starts it) or waits for it."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and token.value != stale and time.monotonic() < token.expires_at:
                return token.value, None, False
            flight = self._flights.get(key)
            if flight is not None:
                return None, flight, False
            flight = self._flights[key] = _Flight()
            return None, flight, True

    def _supersede(self, key: tuple[str, str, str], flight: _Flight) -> None:
        """A fetch outlasted a waiter's ``wait``: the next caller leads a new one (the old
        one, should it land, still stores its token)."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def _lead(
        self, key: tuple[str, str, str], flight: _Flight, fetch: Callable[[], tuple[str, float]]
    ) -> str:
        try:
            fetched = fetch()
        except BaseException as exc:
            self._land(key, flight, None, exc)
            raise
        return self._land(key, flight, fetched, None)

    def _land(
        self,
        key: tuple[str, str, str],
        flight: _Flight,
        fetched: tuple[str, float] | None,
        error: BaseException | None,
    ) -> str:
        """Store a fetched token (or note the failure) and wake the fetch's waiters. A
        cancelled fetch (not an Exception) lands without an outcome: a waiter leads anew."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if fetched is None:
                flight.land(None, error if isinstance(error, Exception) else None)
                return ""
            value, expires_in = fetched
            margin = min(REFRESH_MARGIN, expires_in / 2)
            self._tokens[key] = _Token(value, time.monotonic() + expires_in - margin)
            flight.land(value, None)
            return value


#: The process's tokens.
TOKENS = TokenCache()
