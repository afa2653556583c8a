"""``$source``: parsing and the checkpointed readers behind each kind of source."""

from __future__ import annotations

import datetime
import random
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import bson

from asp_emulator.engine.connections import SOLAR, TEST_LOG, Connections, log_key
from asp_emulator.engine.expressions import compile_time_field

Doc = dict[str, Any]
Item = tuple[Doc, int, "str | None"]
SOLAR_MIN_WAIT = 0.005
"""Seconds between two reads of ``sample_stream_solar`` at least: faster rates come in batches."""
"""A document read from a source: (document, BSON size, topic/log key)."""

_SOURCE_FIELDS = frozenset(
    {
        "connectionName",
        "documents",
        "topic",
        "db",
        "coll",
        "timeField",
        "tsFieldName",
        "partitionIdleTimeout",
        "shardIdleTimeout",
        "config",
        "schemaRegistry",
        "initialSync",
        "readPreference",
        "readPreferenceTags",
        "stream",
        "region",
    }
)


@dataclass(frozen=True)
class SourceSpec:
    """A validated ``$source`` stage."""

    kind: str  # "documents" | "solar" | "connection"
    spec: Mapping[str, Any]
    connection: str | None = None
    keys: tuple[str | None, ...] = (None,)
    documents: tuple[bytes, ...] = ()
    time_field: Callable[[Doc], int] | None = None
    ts_field_name: str | None = None
    source_type: str = "inmemory"


def _names(value: Any, what: str) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"$source.{what} must be a non-empty string or array of strings")
    return names


def parse_source(spec: Any, connections: Connections) -> SourceSpec:
    """Validate a ``$source`` document; ``ValueError`` explains what is wrong."""
    if not isinstance(spec, Mapping):
        raise ValueError("$source must be a document")
    unknown = set(spec) - _SOURCE_FIELDS
    if unknown:
        raise ValueError(f"$source: unknown field {sorted(unknown)[0]!r}")
    if ("connectionName" in spec) == ("documents" in spec):
        raise ValueError("$source needs exactly one of 'connectionName' or 'documents'")
    time_field = None
    if "timeField" in spec:
        time_field = compile_time_field(spec["timeField"])
    ts_field = spec.get("tsFieldName")
    if ts_field is not None and (not isinstance(ts_field, str) or not ts_field):
        raise ValueError("$source.tsFieldName must be a non-empty string")
    common: dict[str, Any] = {
        "spec": dict(spec),
        "time_field": time_field,
        "ts_field_name": ts_field,
    }

    if "documents" in spec:
        docs = spec["documents"]
        if not isinstance(docs, list):
            raise ValueError("$source.documents must be an array of documents")
        encoded = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, Mapping):
                raise ValueError(f"$source.documents[{i}] must be a document")
            try:
                encoded.append(bson.encode(doc))
            except Exception as exc:
                raise ValueError(f"$source.documents[{i}] is not valid BSON: {exc}") from exc
        return SourceSpec("documents", documents=tuple(encoded), **common)

    name = spec["connectionName"]
    if not isinstance(name, str) or not name:
        raise ValueError("$source.connectionName must be a non-empty string")
    kind = connections.type_of(name)
    if kind is None:
        raise ValueError(f"unknown connection {name!r} in $source")
    if name == TEST_LOG or kind == "testLog":
        raise ValueError(f"connection {name!r} is a sink and cannot be used in $source")
    if name == SOLAR:
        return SourceSpec("solar", connection=name, source_type=kind, **common)
    if "topic" in spec and ("db" in spec or "coll" in spec):
        raise ValueError("$source cannot have both 'topic' and 'db'/'coll'")
    keys: list[str | None] = [None]
    if "topic" in spec:
        keys = list(_names(spec["topic"], "topic"))
    elif "db" in spec:
        db = spec["db"]
        if not isinstance(db, str) or not db:
            raise ValueError("$source.db must be a non-empty string")
        keys = (
            [log_key(db=db, coll=c) for c in _names(spec["coll"], "coll")]
            if "coll" in spec
            else [log_key(db=db)]
        )
    elif "coll" in spec:
        raise ValueError("$source.coll requires 'db'")
    return SourceSpec("connection", connection=name, keys=tuple(keys), source_type=kind, **common)


# -- readers ---------------------------------------------------------------------------------


class Reader:
    """Reads documents from a source; its position is part of the processor checkpoint."""

    def read(self, limit: int) -> list[Item]:
        """Up to ``limit`` new documents (empty when nothing is available now)."""
        return []

    def resume(self) -> None:
        """Called each time the processor (re)starts running."""

    def reset(self) -> None:
        """Forget the position: the next read starts from the beginning."""

    def adopt(self, other: Reader) -> None:
        """Take over the position of a reader of the same source."""

    def next_due(self, now: float) -> float | None:
        """When (``time.monotonic()``) new input is due without being fed, or None: only
        a feed (see :meth:`watch`) brings new input."""
        return None

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when input is fed; returns the function that stops watching."""
        return _nothing


def _nothing() -> None:
    pass


class DocumentsReader(Reader):
    """Inline ``$source.documents``: each emitted once, then idle."""

    def __init__(self, docs: tuple[bytes, ...]) -> None:
        self.docs = docs
        self.offset = 0

    def read(self, limit: int) -> list[Item]:
        raw = self.docs[self.offset : self.offset + limit]
        self.offset += len(raw)
        return [(bson.decode(r), len(r), None) for r in raw]

    def reset(self) -> None:
        self.offset = 0

    def adopt(self, other: Reader) -> None:
        if isinstance(other, DocumentsReader):
            self.offset = min(other.offset, len(self.docs))


class ConnectionReader(Reader):
    """A fed connection: reads each topic's log from its checkpointed offset."""

    def __init__(self, connections: Connections, name: str, keys: tuple[str | None, ...]) -> None:
        self.connections = connections
        self.name = name
        self.keys = keys
        self.offsets: dict[str | None, int] = dict.fromkeys(keys, 0)

    def read(self, limit: int) -> list[Item]:
        items: list[Item] = []
        for key in self.keys:
            if len(items) >= limit:
                break
            raw = self.connections.read_log(self.name, key, self.offsets[key], limit - len(items))
            self.offsets[key] += len(raw)
            items.extend((bson.decode(r), len(r), key) for r in raw)
        return items

    def reset(self) -> None:
        self.offsets = dict.fromkeys(self.keys, 0)

    def adopt(self, other: Reader) -> None:
        if isinstance(other, ConnectionReader) and other.name == self.name:
            for key in self.keys:
                self.offsets[key] = other.offsets.get(key, 0)

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self.connections.watch(self.name, self.keys, callback)


class SolarReader(Reader):
    """``sample_stream_solar``: an endless generator at ``connections.solar_rate`` docs/s."""

    def __init__(self, connections: Connections, seed: int) -> None:
        self.connections = connections
        self.rng = random.Random(seed)
        self.generated = 0
        self._credit = 0.0
        self._last = time.monotonic()

    def resume(self) -> None:
        self._last = time.monotonic()
        self._credit = 0.0

    def reset(self) -> None:
        self.generated = 0

    def adopt(self, other: Reader) -> None:
        if isinstance(other, SolarReader):
            self.rng.setstate(other.rng.getstate())
            self.generated = other.generated

    def _rate(self) -> float:
        rate = self.connections.solar_rate
        return float(rate) if isinstance(rate, (int, float)) and rate > 0 else 0.0

    def read(self, limit: int) -> list[Item]:
        now = time.monotonic()
        rate = self._rate()
        # at most one second of backlog: a processor held up does not get a burst
        self._credit = min(self._credit + (now - self._last) * rate, max(rate, 1.0))
        self._last = now
        count = min(int(self._credit), limit)
        self._credit -= count
        items: list[Item] = []
        for _ in range(count):
            doc = self.make_document()
            items.append((doc, len(bson.encode(doc)), None))
        return items

    def make_document(self) -> Doc:
        """One reading, shaped like the Atlas ``sample_stream_solar`` documents."""
        rng = self.rng
        self.generated += 1
        device = rng.randrange(10)
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        return {
            "device_id": f"device_{device}",
            "group_id": rng.randrange(10),
            "timestamp": stamp,
            "max_watts": 450,
            "event_type": 0,
            "obs": {"watts": rng.randint(0, 450), "temp": rng.randint(5, 35)},
        }

    def next_due(self, now: float) -> float | None:
        rate = self._rate()
        if rate <= 0:
            return now + 1.0  # look again: the rate may be raised at run time
        # at least a few milliseconds apart: fast rates come in small batches
        return now + max(SOLAR_MIN_WAIT, (1.0 - self._credit - (now - self._last) * rate) / rate)


def make_reader(source: SourceSpec | None, connections: Connections, name: str) -> Reader:
    """A fresh reader for ``source`` (a do-nothing reader for the empty pipeline)."""
    if source is None:
        return Reader()
    if source.kind == "documents":
        return DocumentsReader(source.documents)
    if source.kind == "solar":
        return SolarReader(connections, zlib.crc32(name.encode()))
    assert source.connection is not None
    return ConnectionReader(connections, source.connection, source.keys)
