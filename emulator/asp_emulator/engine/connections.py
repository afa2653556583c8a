"""The workspace connection registry and the in-memory data behind it."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import bson
import mongomock

SOLAR = "sample_stream_solar"
"""Built-in endless generator of solar-panel readings (type ``inmemory``)."""
TEST_LOG = "__testLog"
"""Built-in ``$emit`` log sink (type ``testLog``)."""

_T = TypeVar("_T")


def log_key(topic: str | None = None, db: str | None = None, coll: str | None = None) -> str | None:
    """The key of one log of a connection: the topic, ``"db.coll"``, ``"db"`` or ``None``."""
    if topic is not None:
        return topic
    if db is not None:
        return f"{db}.{coll}" if coll is not None else db
    return None


class Connections:
    """The workspace's connection registry and the in-memory data behind it.

    Thread-safe: tests call :meth:`feed`, :meth:`emitted` and :meth:`collection` from
    other threads while processors run in the emulator's event-loop thread.

    Each connection has logs keyed by topic (``None`` for "no topic"): :meth:`feed`
    appends to the *input* log a ``$source`` reads, ``$emit`` appends to a separate
    *emitted* log read with :meth:`emitted`. ``$merge`` targets and dead letter queues
    are mongomock collections read with :meth:`collection`. Documents are stored
    BSON-encoded, so every read returns fresh copies.
    """

    def __init__(self, *, solar_rate: float = 20.0) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, str] = {SOLAR: "inmemory", TEST_LOG: "testLog"}
        self._logs: dict[tuple[str, str | None], builtins.list[bytes]] = {}
        self._emitted: dict[tuple[str, str | None], builtins.list[bytes]] = {}
        self._clients: dict[str, Any] = {}
        self._watchers: dict[tuple[str, str | None], builtins.list[Callable[[], None]]] = {}
        self.solar_rate = solar_rate
        """Documents per second produced by ``sample_stream_solar``; settable at any time."""

    # -- registry ---------------------------------------------------------------------------

    def add(self, name: str, type: str = "inmemory") -> None:
        """Register a named connection tests can feed; adding the same name twice is a no-op."""
        if not isinstance(name, str) or not name:
            raise ValueError("connection name must be a non-empty string")
        with self._lock:
            existing = self._types.get(name)
            if existing is None:
                self._types[name] = type
            elif existing != type:
                raise ValueError(f"connection {name!r} already exists with type {existing!r}")

    def remove(self, name: str) -> bool:
        """Unregister a connection and drop its data (the built-ins stay); whether it was
        there. Processors already reading it keep what they hold."""
        if name in (SOLAR, TEST_LOG):
            raise ValueError(f"connection {name!r} is built in")
        with self._lock:
            if self._types.pop(name, None) is None:
                return False
            for logs in (self._logs, self._emitted):
                for key in [k for k in logs if k[0] == name]:
                    del logs[key]
            self._clients.pop(name, None)
            return True

    def list(self) -> builtins.list[dict[str, str]]:
        """``[{"name": ..., "type": ...}]`` in insertion order."""
        with self._lock:
            return [{"name": n, "type": t} for n, t in self._types.items()]

    def exists(self, name: str) -> bool:
        """Whether a connection with this name is registered."""
        with self._lock:
            return name in self._types

    def type_of(self, name: str) -> str | None:
        """The connection's type, or ``None`` when it does not exist."""
        with self._lock:
            return self._types.get(name)

    # -- test data in / out -------------------------------------------------------------------

    def feed(self, name: str, docs: Iterable[Mapping[str, Any]], topic: str | None = None) -> None:
        """Append documents to a connection's (topic's) input log.

        All documents are BSON-encoded first, so an invalid one appends nothing.
        """
        encoded = [bson.encode(doc) for doc in docs]
        with self._lock:
            kind = self._types.get(name)
            if kind is None:
                raise ValueError(f"unknown connection {name!r}")
            if name in (SOLAR, TEST_LOG):
                raise ValueError(f"connection {name!r} cannot be fed")
            self._logs.setdefault((name, topic), []).extend(encoded)
            watchers = builtins.list(self._watchers.get((name, topic), ()))
        for watcher in watchers:
            watcher()

    def watch(
        self, name: str, keys: Iterable[str | None], callback: Callable[[], None]
    ) -> Callable[[], None]:
        """Call ``callback`` (in the feeding thread) whenever documents are fed to one of
        the connection's logs ``keys``; returns the function that stops watching."""
        watched = [(name, key) for key in keys]
        with self._lock:
            for item in watched:
                self._watchers.setdefault(item, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                for item in watched:
                    callbacks = self._watchers.get(item, [])
                    if callback in callbacks:
                        callbacks.remove(callback)
                    if not callbacks:
                        self._watchers.pop(item, None)

        return unwatch

    def emitted(self, name: str, topic: str | None = None) -> builtins.list[dict[str, Any]]:
        """Copies of what ``$emit`` wrote to this connection (and topic), oldest first."""
        with self._lock:
            if name not in self._types:
                raise ValueError(f"unknown connection {name!r}")
            raw = builtins.list(self._emitted.get((name, topic), ()))
        return [bson.decode(item) for item in raw]

    def collection(self, name: str, db: str, coll: str) -> builtins.list[dict[str, Any]]:
        """Copies of the documents of a ``$merge`` or dead letter queue target, oldest first."""
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                return []
            return builtins.list(client[db][coll].find({}))

    # -- engine side ------------------------------------------------------------------------------

    def read_log(self, name: str, key: str | None, offset: int, limit: int) -> builtins.list[bytes]:
        """Up to ``limit`` encoded documents of an input log, starting at ``offset``."""
        with self._lock:
            log = self._logs.get((name, key))
            if not log or offset >= len(log):
                return []
            return log[offset : offset + limit]

    def append_emitted(self, name: str, key: str | None, raw: bytes) -> None:
        """Append one encoded document to a connection's emitted log."""
        with self._lock:
            self._emitted.setdefault((name, key), []).append(raw)

    def with_collection(self, name: str, db: str, coll: str, action: Callable[[Any], _T]) -> _T:
        """Run ``action(collection)`` on a mongomock collection, holding the registry lock."""
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = mongomock.MongoClient()
            return action(client[db][coll])
