"""Connections: the registry, fed logs, emitted logs and collections (thread-safe)."""

from __future__ import annotations

import threading

import bson
import pytest
from asp_emulator.engine import Connections
from bson.errors import InvalidDocument


def test_builtins_are_listed_first_in_insertion_order() -> None:
    conns = Connections()
    conns.add("kafka1", "kafka")
    conns.add("cluster")
    assert conns.list() == [
        {"name": "sample_stream_solar", "type": "inmemory"},
        {"name": "__testLog", "type": "testLog"},
        {"name": "kafka1", "type": "kafka"},
        {"name": "cluster", "type": "inmemory"},
    ]
    assert conns.exists("kafka1")
    assert not conns.exists("nope")
    assert conns.type_of("kafka1") == "kafka"


def test_add_is_idempotent_but_refuses_a_type_change() -> None:
    conns = Connections()
    conns.add("k", "kafka")
    conns.add("k", "kafka")
    assert [c["name"] for c in conns.list()].count("k") == 1
    with pytest.raises(ValueError, match="already exists with type 'kafka'"):
        conns.add("k", "atlas")
    with pytest.raises(ValueError, match="non-empty string"):
        conns.add("")


def test_solar_rate_is_settable() -> None:
    conns = Connections(solar_rate=5.0)
    assert conns.solar_rate == 5.0
    conns.solar_rate = 50.0
    assert conns.solar_rate == 50.0


def test_feed_appends_per_topic_and_read_log_pages() -> None:
    conns = Connections()
    conns.add("k")
    conns.feed("k", [{"i": 0}, {"i": 1}])
    conns.feed("k", [{"i": 2}])
    conns.feed("k", [{"t": 1}], topic="t")
    assert len(conns.read_log("k", None, 0, 10)) == 3
    assert len(conns.read_log("k", None, 1, 1)) == 1
    assert conns.read_log("k", None, 3, 10) == []
    assert len(conns.read_log("k", "t", 0, 10)) == 1
    assert conns.read_log("k", "other", 0, 10) == []


def test_feed_is_all_or_nothing_and_refuses_unknown_or_builtin_connections() -> None:
    conns = Connections()
    conns.add("k")
    with pytest.raises(InvalidDocument):
        conns.feed("k", [{"ok": 1}, {"bad": object()}])
    assert conns.read_log("k", None, 0, 10) == []
    with pytest.raises(ValueError, match="unknown connection 'nope'"):
        conns.feed("nope", [{}])
    with pytest.raises(ValueError, match="cannot be fed"):
        conns.feed("sample_stream_solar", [{}])


def test_emitted_returns_fresh_copies() -> None:
    conns = Connections()
    conns.append_emitted("__testLog", None, bson.encode({"a": 1}))
    first = conns.emitted("__testLog")
    assert first == [{"a": 1}]
    first[0]["a"] = 99
    assert conns.emitted("__testLog") == [{"a": 1}]
    assert conns.emitted("__testLog", "topic") == []
    with pytest.raises(ValueError, match="unknown connection"):
        conns.emitted("nope")


def test_collections_are_per_connection_and_copied() -> None:
    conns = Connections()
    conns.add("a")
    conns.add("b")
    conns.with_collection("a", "db", "c", lambda c: c.insert_one({"_id": 1, "x": 1}))
    docs = conns.collection("a", "db", "c")
    assert docs == [{"_id": 1, "x": 1}]
    docs[0]["x"] = 2
    assert conns.collection("a", "db", "c") == [{"_id": 1, "x": 1}]
    assert conns.collection("b", "db", "c") == []
    assert conns.collection("a", "db", "other") == []


def test_feed_from_many_threads_loses_nothing() -> None:
    conns = Connections()
    conns.add("k")

    def feeder(n: int) -> None:
        for i in range(200):
            conns.feed("k", [{"n": n, "i": i}])

    threads = [threading.Thread(target=feeder, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(conns.read_log("k", None, 0, 10_000)) == 800
