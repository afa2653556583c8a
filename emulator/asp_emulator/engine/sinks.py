"""Sinks (``$emit``, ``$merge``) and the dead letter queue writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson

from asp_emulator.engine.connections import SOLAR, Connections, log_key
from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.expressions import evaluate
from asp_emulator.engine.stages import describe, operator_name

Doc = dict[str, Any]
SINK_STAGES = frozenset({"$emit", "$merge"})
WHEN_MATCHED = ("replace", "merge", "keepExisting", "fail")
WHEN_NOT_MATCHED = ("insert", "discard", "fail")


class Name:
    """A database/collection/topic name: a constant string or a per-document expression."""

    def __init__(self, value: Any, where: str) -> None:
        if isinstance(value, str) and value and not value.startswith("$"):
            self.constant: str | None = value
        elif (isinstance(value, str) and value.startswith("$") and len(value) > 1) or (
            isinstance(value, Mapping) and value
        ):
            self.constant = None
        else:
            raise ValueError(f"{where} must be a non-empty string or an expression")
        self.value = value
        self.where = where

    def resolve(self, doc: Doc) -> str:
        """The name for ``doc``; ``DocumentError`` if the expression gives no string."""
        if self.constant is not None:
            return self.constant
        try:
            result = evaluate(self.value, doc)
        except Exception as exc:
            raise DocumentError(f"{self.where} failed: {describe(exc)}") from exc
        if not isinstance(result, str) or not result:
            raise DocumentError(f"{self.where} must evaluate to a non-empty string, got {result!r}")
        return result


def _sink_connection(name: Any, stage: str, connections: Connections) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{stage} requires a 'connectionName' string")
    if not connections.exists(name):
        raise ValueError(f"unknown connection {name!r} in {stage}")
    if name == SOLAR:
        raise ValueError(f"connection {name!r} is a source and cannot be used in {stage}")
    return name


class Sink:
    """Base class of ``$emit``/``$merge``: writes one final document."""

    kind = "sink"
    uses_meta = False

    def __init__(self, index: int, stage: str, connections: Connections) -> None:
        self.index = index
        self.stage = stage
        self.stats_name = operator_name(stage)
        self.connections = connections

    def write(self, doc: Doc) -> None:
        """Write ``doc``; ``DocumentError`` if it cannot be written."""
        raise NotImplementedError


class EmitSink(Sink):
    """``$emit``: append to a connection's emitted log (``Connections.emitted``)."""

    def __init__(self, index: int, spec: Any, connections: Connections) -> None:
        super().__init__(index, "$emit", connections)
        if not isinstance(spec, Mapping):
            raise ValueError("$emit must be a document")
        self.connection = _sink_connection(spec.get("connectionName"), "$emit", connections)
        if "topic" in spec and ("db" in spec or "coll" in spec):
            raise ValueError("$emit cannot have both 'topic' and 'db'/'coll'")
        self.topic = Name(spec["topic"], "$emit.topic") if "topic" in spec else None
        self.db = self.coll = None
        if "db" in spec or "coll" in spec:
            if "db" not in spec or "coll" not in spec:
                raise ValueError("$emit needs both 'db' and 'coll'")
            self.db, self.coll = Name(spec["db"], "$emit.db"), Name(spec["coll"], "$emit.coll")

    def write(self, doc: Doc) -> None:
        if self.topic is not None:
            key = log_key(topic=self.topic.resolve(doc))
        elif self.db is not None and self.coll is not None:
            key = log_key(db=self.db.resolve(doc), coll=self.coll.resolve(doc))
        else:
            key = None
        self.connections.append_emitted(self.connection, key, encode(doc))


class MergeSink(Sink):
    """``$merge``: upsert into a mongomock collection (``Connections.collection``)."""

    def __init__(self, index: int, spec: Any, connections: Connections) -> None:
        super().__init__(index, "$merge", connections)
        if not isinstance(spec, Mapping):
            raise ValueError("$merge must be a document")
        unknown = set(spec) - {"into", "on", "whenMatched", "whenNotMatched", "let", "parallelism"}
        if unknown:
            raise ValueError(f"$merge: unknown field {sorted(unknown)[0]!r}")
        into = spec.get("into")
        if not isinstance(into, Mapping):
            raise ValueError("$merge requires 'into': {connectionName, db, coll}")
        self.connection = _sink_connection(into.get("connectionName"), "$merge.into", connections)
        if "db" not in into or "coll" not in into:
            raise ValueError("$merge.into requires 'db' and 'coll'")
        self.db = Name(into["db"], "$merge.into.db")
        self.coll = Name(into["coll"], "$merge.into.coll")
        on = spec.get("on", "_id")
        fields = [on] if isinstance(on, str) else on
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) and f for f in fields)
        ):
            raise ValueError("$merge.on must be a field name or a non-empty array of field names")
        self.on: list[str] = fields
        self.when_matched = spec.get("whenMatched", "merge")
        if isinstance(self.when_matched, list):
            raise ValueError("$merge.whenMatched pipelines are not supported by the emulator")
        if self.when_matched not in WHEN_MATCHED:
            raise ValueError(
                f"$merge.whenMatched must be one of {', '.join(WHEN_MATCHED)}, "
                f"got {self.when_matched!r}"
            )
        self.when_not_matched = spec.get("whenNotMatched", "insert")
        if self.when_not_matched not in WHEN_NOT_MATCHED:
            raise ValueError(
                f"$merge.whenNotMatched must be one of {', '.join(WHEN_NOT_MATCHED)}, "
                f"got {self.when_not_matched!r}"
            )

    def _filter(self, doc: Doc) -> dict[str, Any] | None:
        if self.on == ["_id"] and "_id" not in doc:
            return None  # a new document: $merge generates an _id
        query: dict[str, Any] = {}
        for name in self.on:
            value: Any = doc
            for part in name.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    raise DocumentError(
                        f"$merge write error: the 'on' field {name!r} is missing from the document"
                    )
                value = value[part]
            query[name] = value
        return query

    def write(self, doc: Doc) -> None:
        db, coll = self.db.resolve(doc), self.coll.resolve(doc)
        query = self._filter(doc)
        error = self.connections.with_collection(
            self.connection, db, coll, lambda c: self._upsert(c, doc, query)
        )
        if error:
            raise DocumentError(error)

    def _upsert(self, collection: Any, doc: Doc, query: dict[str, Any] | None) -> str | None:
        try:
            existing = collection.find_one(query) if query is not None else None
            if existing is None:
                if self.when_not_matched == "insert":
                    collection.insert_one(dict(doc))
                elif self.when_not_matched == "fail":
                    return "$merge write error: no document matched (whenNotMatched: 'fail')"
                return None
            if self.when_matched == "replace":
                if "_id" in doc and doc["_id"] != existing["_id"]:
                    return "$merge write error: replacing a document cannot change its _id"
                collection.replace_one({"_id": existing["_id"]}, {**doc, "_id": existing["_id"]})
            elif self.when_matched == "merge":
                fields = {k: v for k, v in doc.items() if k != "_id"}
                if fields:
                    collection.update_one({"_id": existing["_id"]}, {"$set": fields})
            elif self.when_matched == "fail":
                return "$merge write error: a document matched (whenMatched: 'fail')"
        except Exception as exc:
            return f"$merge write error: {describe(exc)}"
        return None


def build_sink(index: int, stage: str, spec: Any, connections: Connections) -> Sink:
    """The sink for ``$emit``/``$merge``; ``ValueError`` when the spec is malformed."""
    if stage == "$emit":
        return EmitSink(index, spec, connections)
    return MergeSink(index, spec, connections)


def encode(doc: Mapping[str, Any]) -> bytes:
    """BSON-encode a document; ``DocumentError`` if it is not valid BSON."""
    try:
        return bson.encode(doc)
    except Exception as exc:
        raise DocumentError(f"document is not valid BSON: {describe(exc)}") from exc


class DlqWriter:
    """Writes dead-letter documents to ``{connectionName, db, coll}``."""

    def __init__(self, dlq: Mapping[str, Any], connections: Connections) -> None:
        names = [dlq.get(k) for k in ("connectionName", "db", "coll")]
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError("dlq must be {connectionName, db, coll} with non-empty strings")
        self.connection, self.db, self.coll = (str(n) for n in names)
        if not connections.exists(self.connection):
            raise ValueError(f"unknown connection {self.connection!r} in dlq")
        self.connections = connections

    def write(self, raw: bytes) -> None:
        """Insert one encoded dead-letter document."""
        self.connections.with_collection(
            self.connection, self.db, self.coll, lambda c: c.insert_one(bson.decode(raw))
        )
